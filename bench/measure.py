"""What the benchmarks share: where the release binaries are, starting the collector, the
generated workload, and the CPU time and peak memory of a process (read from /proc, so a peer is
measured the same way)."""
import glob
import http.client
import os
import subprocess
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# LOGWARDEN_BIN_DIR runs a benchmark on other builds (e.g. a worktree of an older commit built
# with its own CARGO_TARGET_DIR), for a before/after comparison in one run.
BIN = os.environ.get("LOGWARDEN_BIN_DIR") or os.path.join(ROOT, "target", "release")
TICKS = os.sysconf("SC_CLK_TCK")


def start_collector(data_dir, *flags):
    """Starts the release collector on a free loopback port with `data_dir` and extra `flags`,
    and waits until it says it is ready. Returns (process, {"url": ..., "syslog tcp": ...}): the
    addresses it printed (`listening on URL`, `syslog tcp on ADDR`)."""
    p = subprocess.Popen(
        [f"{BIN}/logwarden-collector", "run", "--listen", "127.0.0.1:0", "--data-dir", data_dir,
         *flags],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    said = {}
    for line in p.stdout:
        line = line.strip()
        if "listening on" in line:
            said["url"] = line.rsplit(" ", 1)[1]
        elif "syslog tcp on" in line:
            said["syslog tcp"] = line.rsplit(" ", 1)[1]
        elif line.endswith("ready"):
            return p, said
    raise RuntimeError(f"the collector exited before it was ready ({p.wait()})")


def stat_cpu_seconds(raw):
    """User + system CPU seconds from the text of a /proc stat file (a process's or a thread's)."""
    fields = raw.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def cpu_seconds(pid):
    """User + system CPU seconds of a live process."""
    with open(f"/proc/{pid}/stat") as f:
        return stat_cpu_seconds(f.read())


def thread_cpu_seconds(pid):
    """User + system CPU seconds of a live process per thread name (numbered names such as
    merge_thread_3 counted together)."""
    out = {}
    for path in glob.glob(f"/proc/{pid}/task/*/stat"):
        try:
            with open(path) as f:
                raw = f.read()
        except OSError:
            continue  # the thread ended
        name = raw[raw.index("(") + 1:raw.rindex(")")].rstrip("0123456789-_")
        out[name] = out.get(name, 0.0) + stat_cpu_seconds(raw)
    return out


def peak_rss_mib(pid):
    """Peak resident memory (VmHWM) of a live process, in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_parts_mib(pid):
    """(anonymous, file-backed) resident memory of a live process now, in MiB. VmHWM counts both;
    the file-backed part is mostly page cache of memory-mapped files (tantivy maps its segments)."""
    parts = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("RssAnon:", "RssFile:")):
                parts[line.split(":")[0]] = int(line.split()[1]) / 1024
    return parts.get("RssAnon", float("nan")), parts.get("RssFile", float("nan"))


def write_lines(path, n, width):
    """n syslog-like lines of `width` bytes, each with the word `benchline` and its number."""
    hosts = ["mbox1", "mbox2", "mta1", "ldap1"]
    apps = ["postfix/smtpd[2231]", "sshd[811]", "zmmailboxd[90]", "slapd[77]"]
    with open(path, "w") as f:
        for i in range(n):
            head = f"Nov 29 10:{(i // 60) % 60:02d}:{i % 60:02d} {hosts[i % 4]} {apps[i % 4]}: benchline {i} "
            f.write(head + "x" * max(0, width - len(head) - 1) + "\n")


def post_ndjson(url, ev_path, batch=10000, sample=lambda: None):
    """POSTs the events of `ev_path` (NDJSON) to the collector at `url` in batches of `batch` lines
    over one keep-alive connection, read from the file as they go. A batch answered 429 (the index
    trails by [index] max_backlog_mb) is sent again after 50 ms, as an agent would; `sample()` is
    called every 10 batches and while waiting. Returns how many batches were refused."""
    host, port = urllib.parse.urlparse(url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    refused = 0
    with open(ev_path, "rb") as f:
        i = 0
        while True:
            lines = [line for _, line in zip(range(batch), f)]
            if not lines:
                break
            body = b"".join(lines)
            while True:
                try:
                    conn.request("POST", "/api/v1/ingest", body=body,
                                 headers={"Content-Type": "application/x-ndjson"})
                    r = conn.getresponse()
                    r.read()
                    if r.status != 429:
                        break
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a 429 sent before the body was read closes the connection
                refused += 1
                conn.close()
                sample()
                time.sleep(0.05)
            assert r.status == 200, r.status
            if i % 10 == 0:
                sample()
            i += 1
    conn.close()
    return refused

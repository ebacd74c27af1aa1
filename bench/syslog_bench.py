#!/usr/bin/env python3
"""Syslog TCP intake: the collector beside rsyslog imtcp -> omfile (bench/peers/imtcp-omfile.conf),
the same N messages sent over one TCP connection (LF framing, or octet counting with
`--framing octet`) to each, one after the other.

Collector: from the first byte sent until (a) its syslog counter (/metrics
`logwarden_syslog_messages_total`) reaches N: every message parsed and durable in the WAL (fsynced),
with its CPU at that moment, in total and per thread, and (b) a search counts N: indexed too.
rsyslog: until its output file has N lines (polled as often as the collector's counter, reading only
what was added). CPU seconds (utime+stime) and peak RSS (VmHWM) of
each from /proc.

Usage: bench/syslog_bench.py [--messages 1000000] [--framing lf|octet] [--rounds R]
Build first: cargo build --release --bins. Needs rsyslog (Debian's package).
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from measure import cpu_seconds, peak_rss_mib, start_collector, thread_cpu_seconds

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers",
                    "imtcp-omfile.conf")


def messages(n, framing="lf"):
    """N messages of 128 bytes, LF-terminated, or each preceded by its length (`octet`: RFC 6587
    octet counting, as rsyslog's omfwd sends with `TCP_Framing="octet-counted"`)."""
    hosts = ["mbox1", "mbox2", "mta1", "ldap1"]
    apps = ["postfix/smtpd[2231]", "sshd[811]", "zmmailboxd[90]", "slapd[77]"]
    out = []
    for i in range(n):
        head = f"<22>Nov 29 10:{(i // 60) % 60:02d}:{i % 60:02d} {hosts[i % 4]} {apps[i % 4]}: benchline {i} "
        msg = (head + "x" * max(0, 127 - len(head))).encode()
        out.append(b"%d %s" % (len(msg), msg) if framing == "octet" else msg + b"\n")
    return b"".join(out)


def send(addr, data):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port))) as s:
        s.sendall(data)


def metric(url, name):
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def total(url, q):
    qs = urllib.parse.urlencode({"q": q, "limit": 0})  # a count only: nothing sorted
    with urllib.request.urlopen(f"{url}/api/v1/search?{qs}", timeout=30) as r:
        return json.load(r)["total"]


def collector_run(data, n, tmp, *flags):
    p, said = start_collector(f"{tmp}/c", "--syslog-udp", "off", "--syslog-tcp", "127.0.0.1:0",
                              *flags)
    url, addr = said["url"], said["syslog tcp"]
    cpu0, threads0 = cpu_seconds(p.pid), thread_cpu_seconds(p.pid)
    t0 = time.monotonic()
    send(addr, data)
    while metric(url, "logwarden_syslog_messages_total") < n:
        time.sleep(0.02)
    received = time.monotonic() - t0
    cpu_received = cpu_seconds(p.pid) - cpu0
    threads = {k: round(v - threads0.get(k, 0.0), 2) for k, v in thread_cpu_seconds(p.pid).items()}
    while total(url, "benchline") < n:
        time.sleep(0.05)
    searchable = time.monotonic() - t0
    res = {"received_s": round(received, 2), "msgs_per_s_received": round(n / received),
           "cpu_s_received": round(cpu_received, 2),
           "searchable_s": round(searchable, 2), "msgs_per_s_searchable": round(n / searchable),
           "cpu_s": round(cpu_seconds(p.pid) - cpu0, 2), "peak_rss_mib": round(peak_rss_mib(p.pid)),
           "threads_cpu_s_received": {k: v for k, v in threads.items() if v >= 0.01}}
    p.terminate()
    p.wait()
    return res


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lines:
    """Counts the lines of a file as it grows, reading only what was added since the last call.
    (Reading the whole output file at every 50 ms poll, as this script did before session 11,
    competed with rsyslog for this 2-vCPU machine and saw its end late: its rate came out about
    12 % low, docs/BENCHMARKS.md.)"""

    def __init__(self, path):
        self.path, self.offset, self.count = path, 0, 0

    def __call__(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    self.offset += len(chunk)
                    self.count += chunk.count(b"\n")
        except FileNotFoundError:
            pass  # rsyslog has written nothing yet
        return self.count


def rsyslog_run(data, n, tmp):
    work, out, port = f"{tmp}/rs-work", f"{tmp}/rs-out.log", free_port()
    os.makedirs(work)
    conf = open(PEER).read().replace("WORKDIR", work).replace("PORT", str(port)).replace("OUTFILE", out)
    with open(f"{tmp}/rs.conf", "w") as f:
        f.write(conf)
    p = subprocess.Popen(["rsyslogd", "-n", "-f", f"{tmp}/rs.conf", "-i", f"{tmp}/rs.pid"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            time.sleep(0.05)
    cpu0 = cpu_seconds(p.pid)
    t0 = time.monotonic()
    send(f"127.0.0.1:{port}", data)
    lines = Lines(out)
    while lines() < n:
        time.sleep(0.02)  # as the collector's counter is polled
    wall = time.monotonic() - t0
    res = {"written_s": round(wall, 2), "msgs_per_s": round(n / wall),
           "cpu_s": round(cpu_seconds(p.pid) - cpu0, 2), "peak_rss_mib": round(peak_rss_mib(p.pid))}
    p.terminate()
    p.wait()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--framing", choices=["lf", "octet"], default="lf")
    ap.add_argument("--rounds", type=int, default=1,
                    help="pairs of runs; every other round runs the collector first")
    a = ap.parse_args()
    data = messages(a.messages, a.framing)
    print(json.dumps({"messages": a.messages, "framing": a.framing,
                      "mb": round(len(data) / 1e6, 1)}), flush=True)
    ratios = []
    for r in range(a.rounds):
        # Each run in a fresh directory, and the order turned every other round: a run shares
        # the disk with the write-back of the one before it.
        runs = [("rsyslog_imtcp_omfile", rsyslog_run), ("collector", collector_run)]
        got = {}
        for name, run in runs if r % 2 == 0 else runs[::-1]:
            with tempfile.TemporaryDirectory() as tmp:
                got[name] = run(data, a.messages, tmp)
            print(json.dumps({name: got[name]}), flush=True)
        ratios.append(got["collector"]["msgs_per_s_received"] /
                      got["rsyslog_imtcp_omfile"]["msgs_per_s"])
    if a.rounds > 1:
        print(json.dumps({"ratio_msgs_per_s": [round(x, 2) for x in ratios],
                          "median": round(statistics.median(ratios), 2),
                          "rounds_at_or_above_1": sum(x >= 1 for x in ratios)}), flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Agent vs rsyslog, side by side: lines in a file -> shipped -> acknowledged by a sink.

Writes N syslog-like lines (~B bytes each) to a file, then, alternately in one run:
  - logwarden-agent (release build) tails it and ships to an ingest sink on loopback that
    answers 200 with {"accepted": n, "epoch": 1} without indexing (compression "none");
    the clock stops when the sink has acknowledged N events.
  - rsyslogd (imfile -> omfwd, octet-counted TCP, tuned main_queue dequeueBatchSize=1024, as in
    bench/peers/imfile-omfwd.conf) ships the same file to a TCP sink that counts lines; the
    clock stops when the sink has N lines.
For each: wall time from the shipper's start, lines/s, CPU seconds per million lines (utime +
stime from /proc/PID/stat) and peak RSS (VmHWM), and the sink's own CPU (it must not be the
bottleneck). Prints one line per run and the medians.

Usage: bench/tail_vs_rsyslog.py [--lines 1000000] [--line-bytes 128] [--runs 3]
Build first: cargo build --release --bins; rsyslog: apt-get install -y rsyslog
"""
import argparse
import http.server
import json
import os
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from measure import BIN, ROOT, cpu_seconds, peak_rss_mib, write_lines

SPOOL_DIR = None  # --spool-dir: put the agent's spool elsewhere (e.g. a tmpfs, to see the fsync cost)


# --- sinks (run as subprocesses of this script, so that they have their own CPU accounting) ---

def serve_ingest(count_file):
    """HTTP sink: acknowledges every ingest request, counts events, writes the count to a file."""
    total = [0]
    lock = threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            n = body.count(b"\n")
            with lock:
                total[0] += n
                with open(count_file + ".tmp", "w") as f:
                    f.write(str(total[0]))
                os.replace(count_file + ".tmp", count_file)
            out = json.dumps({"accepted": n, "epoch": 1}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *a):
            pass

    class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    srv = S(("127.0.0.1", 0), H)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


def serve_tcp(count_file):
    """TCP sink: counts newlines on every connection, writes the total to a file."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    print(srv.getsockname()[1], flush=True)
    total = [0]
    lock = threading.Lock()

    def conn(c):
        while True:
            b = c.recv(1 << 20)
            if not b:
                return
            with lock:
                total[0] += b.count(b"\n")
                with open(count_file + ".tmp", "w") as f:
                    f.write(str(total[0]))
                os.replace(count_file + ".tmp", count_file)

    while True:
        c, _ = srv.accept()
        threading.Thread(target=conn, args=(c,), daemon=True).start()


def start_sink(kind, count_file):
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), f"--serve-{kind}", count_file],
                         stdout=subprocess.PIPE, text=True)
    return p, int(p.stdout.readline())


def read_count(path):
    try:
        with open(path) as f:
            return int(f.read() or 0)
    except (OSError, ValueError):
        return 0


def wait_for(proc, sink, count_file, n, t0):
    while read_count(count_file) < n:
        if time.monotonic() - t0 > 600:
            raise SystemExit("timed out after 600 s")
        if proc.poll() is not None:
            raise SystemExit(f"shipper exited with {proc.returncode}")
        time.sleep(0.005)
    return time.monotonic() - t0, cpu_seconds(proc.pid), peak_rss_mib(proc.pid), cpu_seconds(sink.pid)


def run_agent(tmp, log, n):
    count = f"{tmp}/agent.count"
    sink, port = start_sink("ingest", count)
    conf = f"{tmp}/agent.toml"
    with open(conf, "w") as f:
        f.write('[batch]\ncompression = "none"\n[health]\nenabled = false\n')
        if SPOOL_DIR:
            f.write(f'[spool]\ndir = "{SPOOL_DIR}/{os.path.basename(tmp)}"\n')
    t0 = time.monotonic()
    agent = subprocess.Popen(
        [f"{BIN}/logwarden-agent", "run", "--config", conf, "--collector", f"http://127.0.0.1:{port}",
         "--file", log, "--data-dir", f"{tmp}/agent-data"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return wait_for(agent, sink, count, n, t0)
    finally:
        agent.kill()
        agent.wait()
        sink.kill()
        sink.wait()


def run_rsyslog(tmp, log, n):
    count = f"{tmp}/rsyslog.count"
    sink, port = start_sink("tcp", count)
    work = f"{tmp}/rsyslog-work"
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(ROOT, "bench", "peers", "imfile-omfwd.conf")) as f:
        conf = f.read()
    conf = (conf.replace("WORKDIR", work).replace("FILE", log).replace("PORT", str(port))
            .replace('# main_queue(queue.dequeueBatchSize="1024")', 'main_queue(queue.dequeueBatchSize="1024")'))
    path = f"{tmp}/rsyslog.conf"
    with open(path, "w") as f:
        f.write(conf)
    t0 = time.monotonic()
    rs = subprocess.Popen(["rsyslogd", "-n", "-f", path, "-i", f"{tmp}/rsyslog.pid"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return wait_for(rs, sink, count, n, t0)
    finally:
        rs.kill()
        rs.wait()
        sink.kill()
        sink.wait()


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-ingest":
        return serve_ingest(sys.argv[2])
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-tcp":
        return serve_tcp(sys.argv[2])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--line-bytes", type=int, default=128)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=["agent", "rsyslog"])
    ap.add_argument("--spool-dir")
    args = ap.parse_args()
    global SPOOL_DIR
    SPOOL_DIR = args.spool_dir
    n = args.lines
    results = {"agent": [], "rsyslog": []}
    with tempfile.TemporaryDirectory() as tmp:
        log = f"{tmp}/bench.log"
        write_lines(log, n, args.line_bytes)
        for i in range(args.runs):
            for name, fn in (("agent", run_agent), ("rsyslog", run_rsyslog)):
                if args.only and args.only != name:
                    continue
                d = tempfile.mkdtemp(dir=tmp)
                wall, cpu, rss, sink_cpu = fn(d, log, n)
                r = {"lines_per_s": n / wall, "wall_s": wall, "cpu_s_per_M": cpu / n * 1e6,
                     "peak_rss_mib": rss, "sink_cpu_s": sink_cpu}
                results[name].append(r)
                print(f"run {i + 1} {name}: " + ", ".join(f"{k}={v:.2f}" for k, v in r.items()), flush=True)
    for name, rs in results.items():
        if rs:
            print(f"median {name}: " + ", ".join(
                f"{k}={statistics.median(r[k] for r in rs):.2f}" for k in rs[0]))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Collector restart time with a large WAL: how long a SIGKILLed collector takes to answer again
(`ready`: the committer's dedup state is rebuilt before it serves) and until its alert engine has
rebuilt its state (the log line `alert state rebuilt from the WAL`), with its CPU seconds.

1. Fills a fresh data dir: N events POSTed to the release collector (bench/index_bench.py's
   events), waits until all are searchable and a few seconds more, then SIGKILLs it.
2. Restarts a collector binary on that data dir R times, SIGKILLing it each time once the alert
   state is rebuilt; with --peer-binary, alternates with another build (e.g. one from before WAL
   checkpoints: it reads the whole WAL, skipping record kinds it does not know).

With --keep-bytes B, the collector runs with `[wal] keep_bytes = B` and the WAL's size on disk is
sampled during the fill: its peak shows what retention bounds it to under a sustained load.

Usage: bench/restart.py [--events 2000000] [--restarts 3] [--peer-binary PATH] [--keep-bytes B]
Build first: cargo build --release --bins
"""
import argparse
import http.client
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.parse

from index_bench import search, write_events
from measure import BIN, cpu_seconds, start_collector


def wal_bytes(data_dir):
    wal = f"{data_dir}/wal"
    total = 0
    for f in os.listdir(wal):
        try:
            total += os.path.getsize(os.path.join(wal, f))
        except FileNotFoundError:
            pass  # trimmed meanwhile
    return total


def fill(data_dir, ev_path, n, flags):
    """Returns the peak size of the WAL seen while filling, in bytes."""
    collector, said = start_collector(data_dir, "--syslog-udp", "off", "--syslog-tcp", "off", *flags)
    peak = 0
    host, port = urllib.parse.urlparse(said["url"]).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    with open(ev_path, "rb") as f:
        lines = f.readlines()
    for i in range(0, len(lines), 10000):
        peak = max(peak, wal_bytes(data_dir))
        body = b"".join(lines[i:i + 10000])
        while True:
            try:
                conn.request("POST", "/api/v1/ingest", body=body,
                             headers={"Content-Type": "application/x-ndjson"})
                r = conn.getresponse()
                r.read()
                if r.status != 429:
                    break
            except (BrokenPipeError, ConnectionResetError):
                pass
            conn.close()
            time.sleep(0.05)
        assert r.status == 200, r.status
    while search(conn, "*", 0)["total"] < n:
        peak = max(peak, wal_bytes(data_dir))
        time.sleep(0.2)
    # The fleet view's save, the last rules snapshot, a round of retention (every 10 s).
    for _ in range(12):
        peak = max(peak, wal_bytes(data_dir))
        time.sleep(1)
    collector.kill()
    collector.wait()
    return peak


def restart(binary, data_dir, log_path, flags):
    t0 = time.monotonic()
    with open(log_path, "w") as log:
        p = subprocess.Popen(
            [binary, "run", "--listen", "127.0.0.1:0", "--data-dir", data_dir,
             "--syslog-udp", "off", "--syslog-tcp", "off", *flags],
            stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, "NO_COLOR": "1"})
        for line in p.stdout:
            if line.strip().endswith("ready"):
                break
        ready = time.monotonic() - t0
        rules_line = None
        while rules_line is None:
            with open(log_path) as f:
                rules_line = next((l for l in f if "alert state rebuilt" in l), None)
            if rules_line is None:
                if p.poll() is not None:
                    raise RuntimeError(f"{binary} exited ({p.returncode}); see {log_path}")
                time.sleep(0.02)
        rules = time.monotonic() - t0
        cpu = cpu_seconds(p.pid)
        p.kill()
        p.wait()
    with open(log_path) as f:
        text = re.sub(r"\x1b\[[0-9;]*m", "", f.read())
    dedup = re.search(r"deduplication state rebuilt.*", text)
    return {
        "ready_s": round(ready, 2), "alert_state_s": round(rules, 2), "cpu_s": round(cpu, 2),
        "dedup_line": dedup.group(0)[:160] if dedup else None,
        "rules_line": re.sub(r"\x1b\[[0-9;]*m", "", rules_line).strip()[-160:],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--message-bytes", type=int, default=128)
    ap.add_argument("--restarts", type=int, default=3)
    ap.add_argument("--peer-binary")
    ap.add_argument("--keep-bytes", type=int)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lw-restart-") as tmp:
        ev_path, _, raw_bytes = write_events(tmp, args.events, args.message_bytes)
        data = f"{tmp}/c"
        flags = []
        if args.keep_bytes is not None:
            with open(f"{tmp}/collector.toml", "w") as f:
                f.write(f"[wal]\nkeep_bytes = {args.keep_bytes}\n")
            flags = ["--config", f"{tmp}/collector.toml"]
        peak = fill(data, ev_path, args.events, flags)
        wal_mib = wal_bytes(data) / 2**20
        binaries = {"this build": f"{BIN}/logwarden-collector"}
        if args.peer_binary:
            binaries["peer build"] = args.peer_binary
        runs = {name: [] for name in binaries}
        for i in range(args.restarts):
            for name, binary in binaries.items():
                runs[name].append(restart(binary, data, f"{tmp}/restart-{i}.log", flags))
        print(json.dumps({"events": args.events, "keep_bytes": args.keep_bytes,
                          "wal_mib_after_fill": round(wal_mib),
                          "wal_peak_mib_during_fill": round(peak / 2**20),
                          "ndjson_mib_sent": round(os.path.getsize(ev_path) / 2**20),
                          "runs": runs}, indent=1))


if __name__ == "__main__":
    main()

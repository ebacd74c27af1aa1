#!/usr/bin/env python3
"""Two or more collector builds (or configurations) on the same workload, runs alternating, so
that a change is measured against its peer on the same machine in the same minutes: this VM's
speed drifts by 20 % and more within an hour, which separate runs cannot tell from the change.

Workloads (the same code as the benchmarks they come from):
- `ingest`: bench/index_bench.py's ingest to searchable (N events POSTed in batches of 10,000,
  then until a count finds them all).
- `syslog`: bench/syslog_bench.py's collector run (N messages over one TCP connection, until
  all are durable in the WAL, then until all are searchable), plus the collector's CPU at the
  moment all are durable and each thread's share of it.

A peer is a directory holding a release `logwarden-collector` binary (a worktree built with its
own CARGO_TARGET_DIR, for instance), optionally followed by `:CONFIG.toml` for that run's
`--config`. Prints one JSON line per run, then the median of each figure per peer.

Usage: bench/alternate.py ingest|syslog [--events N] [--rounds R] PEER [PEER ...]
Example: bench/alternate.py ingest --events 1000000 --rounds 4 /tmp/base-target/release target/release
"""
import argparse
import glob
import json
import os
import statistics
import tempfile
import time

import index_bench
import measure
import syslog_bench
from measure import cpu_seconds, peak_rss_mib


def thread_cpu(pid):
    """CPU seconds per thread name (numbered names such as merge_thread_3 counted together)."""
    out = {}
    for path in glob.glob(f"/proc/{pid}/task/*/stat"):
        try:
            raw = open(path).read()
        except OSError:
            continue  # the thread ended
        name = raw[raw.index("(") + 1:raw.rindex(")")].rstrip("0123456789-_")
        fields = raw.rsplit(")", 1)[1].split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / measure.TICKS
    return out


def syslog_run(data, n, tmp, flags):
    p, said = measure.start_collector(f"{tmp}/c", "--syslog-udp", "off", "--syslog-tcp",
                                      "127.0.0.1:0", *flags)
    url, addr = said["url"], said["syslog tcp"]
    cpu0, threads0 = cpu_seconds(p.pid), thread_cpu(p.pid)
    t0 = time.monotonic()
    syslog_bench.send(addr, data)
    while syslog_bench.metric(url, "logwarden_syslog_messages_total") < n:
        time.sleep(0.01)
    durable = time.monotonic() - t0
    cpu_durable = cpu_seconds(p.pid) - cpu0
    threads = {k: round(v - threads0.get(k, 0.0), 2) for k, v in thread_cpu(p.pid).items()}
    while syslog_bench.total(url, "benchline") < n:
        time.sleep(0.05)
    res = {"msgs_per_s_durable": round(n / durable), "cpu_s_when_durable": round(cpu_durable, 2),
           "searchable_s": round(time.monotonic() - t0, 2),
           "cpu_s": round(cpu_seconds(p.pid) - cpu0, 2), "peak_rss_mib": round(peak_rss_mib(p.pid)),
           "threads_cpu_s_when_durable": {k: v for k, v in threads.items() if v >= 0.01}}
    p.terminate()
    p.wait()
    return res


def ingest_run(events, n, tmp, flags):
    # index_bench starts the collector itself: hand it this peer's flags.
    start = measure.start_collector
    index_bench.start_collector = lambda d, *f: start(d, *f, *flags)
    try:
        ingest, _ = index_bench.ingest_and_query(events[0], events[1], n, tmp, 5)
    finally:
        index_bench.start_collector = start
    return ingest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workload", choices=["ingest", "syslog"])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("peers", nargs="+")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if a.workload == "ingest":
            path, _, raw_bytes = index_bench.write_events(tmp, a.events, 128)
            work, run = (path, raw_bytes), ingest_run
        else:
            work, run = syslog_bench.messages(a.events), syslog_run
        results = {peer: [] for peer in a.peers}
        for _ in range(a.rounds):
            for peer in a.peers:
                bin_dir, _, config = peer.partition(":")
                measure.BIN = os.path.abspath(bin_dir)
                flags = ["--config", os.path.abspath(config)] if config else []
                run_dir = tempfile.mkdtemp(dir=tmp)  # a fresh data dir: nothing deduplicated
                res = run(work, a.events, run_dir, flags)
                results[peer].append(res)
                print(json.dumps({"peer": peer, **res}), flush=True)
        for peer, runs in results.items():
            medians = {k: statistics.median(r[k] for r in runs) for k, v in runs[0].items()
                       if isinstance(v, (int, float))}
            print(json.dumps({"peer": peer, "runs": len(runs), "median": medians}), flush=True)


if __name__ == "__main__":
    main()

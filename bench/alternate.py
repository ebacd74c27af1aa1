#!/usr/bin/env python3
"""Two or more collector builds (or configurations) on the same workload, runs alternating, so
that a change is measured against its peer on the same machine in the same minutes: this VM's
speed drifts by 20 % and more within an hour, which separate runs cannot tell from the change.

Workloads (the same code as the benchmarks they come from):
- `ingest`: bench/index_bench.py's ingest to searchable (N events POSTed in batches of 10,000,
  then until a count finds them all), then 50 term queries on the idle collector (`q_` figures).
- `syslog`: bench/syslog_bench.py's collector run (N messages over one TCP connection, until
  all are durable in the WAL, with the collector's CPU then, in total and per thread, and until
  all are searchable).

A peer is a directory holding a release `logwarden-collector` binary (a worktree built with its
own CARGO_TARGET_DIR, for instance), optionally followed by `:CONFIG.toml` for that run's
`--config`. Every other round runs the peers in reverse order. Prints one JSON line per run,
then the median of each figure per peer.

Usage: bench/alternate.py ingest|syslog [--events N] [--rounds R] [--framing lf|octet] PEER [PEER ...]
Example: bench/alternate.py ingest --events 1000000 --rounds 4 /tmp/base-target/release target/release
"""
import argparse
import json
import os
import statistics
import tempfile

import index_bench
import measure
import syslog_bench


def syslog_run(data, n, tmp, flags):
    return syslog_bench.collector_run(data, n, tmp, *flags)


def ingest_run(events, n, tmp, flags):
    # 50 term queries once the collector is idle: the search side of the same build, alternated
    # like the ingest (figures prefixed q_).
    ingest, query = index_bench.ingest_and_query(*events, n, tmp, 50, *flags)
    return {**ingest, **{f"q_{k}": v for k, v in query.items()}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workload", choices=["ingest", "syslog"])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--framing", choices=["lf", "octet"], default="lf", help="syslog only")
    ap.add_argument("peers", nargs="+")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if a.workload == "ingest":
            path, _, raw_bytes = index_bench.write_events(tmp, a.events, 128)
            work, run = (path, raw_bytes), ingest_run
        else:
            work, run = syslog_bench.messages(a.events, a.framing), syslog_run
        results = {peer: [] for peer in a.peers}
        for r in range(a.rounds):
            # Every other round in reverse (A B, B A, ...): a run is slower after another (the
            # disk still writing back the last one's data), and in a fixed order that fell on
            # the same peer every round.
            for peer in a.peers if r % 2 == 0 else a.peers[::-1]:
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

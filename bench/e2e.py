#!/usr/bin/env python3
"""End-to-end benchmark: lines in a file -> agent -> collector (WAL) -> searchable.

Writes N syslog-like lines (~B bytes each) to a file in a temp dir, starts the release collector
and agent on loopback, and measures from the agent's start:
  - acked:      the agent's checkpoint reaches the end of the file (every line durable in the WAL)
  - searchable: a search for a word in every line counts N
plus CPU seconds and peak RSS of each process. Prints one line per run and the medians.

Usage: bench/e2e.py [--lines 1000000] [--line-bytes 128] [--runs 3]
Build first: cargo build --release --bins
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from measure import BIN, cpu_seconds, peak_rss_mib, start_collector, write_lines


def search_total(url, q):
    qs = urllib.parse.urlencode({"q": q, "limit": 1})
    with urllib.request.urlopen(f"{url}/api/v1/search?{qs}", timeout=10) as r:
        return json.load(r)["total"]


def acked_offset(agent_dir):
    try:
        with open(os.path.join(agent_dir, "checkpoints.json")) as f:
            return sum(e["offset"] for e in json.load(f)["files"])
    except (OSError, ValueError, KeyError):
        return 0


def run_once(n, width):
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "bench.log")
        write_lines(log, n, width)
        size = os.path.getsize(log)
        collector, said = start_collector(f"{tmp}/c")
        url = said["url"]
        agent_dir = f"{tmp}/a"
        t0 = time.monotonic()
        agent = subprocess.Popen(
            [f"{BIN}/logwarden-agent", "run", "--collector", url, "--file", log, "--data-dir", agent_dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t_ack = t_search = None
        try:
            while t_search is None or t_ack is None:
                if time.monotonic() - t0 > 600:
                    raise SystemExit("timed out after 600 s")
                if t_ack is None and acked_offset(agent_dir) >= size:
                    t_ack = time.monotonic() - t0
                    agent_cpu, agent_rss = cpu_seconds(agent.pid), peak_rss_mib(agent.pid)
                if t_search is None and search_total(url, "benchline") >= n:
                    t_search = time.monotonic() - t0
                time.sleep(0.02)
            coll_cpu, coll_rss = cpu_seconds(collector.pid), peak_rss_mib(collector.pid)
        finally:
            agent.terminate()
            agent.wait()
            collector.terminate()
            collector.wait()
        return {
            "acked_s": t_ack, "searchable_s": t_search,
            "acked_lines_per_s": n / t_ack, "searchable_lines_per_s": n / t_search,
            "searchable_mb_per_s": size / t_search / 1e6,
            "agent_cpu_us_per_line": agent_cpu / n * 1e6, "agent_peak_rss_mib": agent_rss,
            "collector_cpu_us_per_line": coll_cpu / n * 1e6, "collector_peak_rss_mib": coll_rss,
        }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--line-bytes", type=int, default=128)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    results = []
    for i in range(args.runs):
        r = run_once(args.lines, args.line_bytes)
        results.append(r)
        print(f"run {i + 1}: " + ", ".join(f"{k}={v:.2f}" for k, v in r.items()), flush=True)
    print("median: " + ", ".join(
        f"{k}={statistics.median(r[k] for r in results):.2f}" for k in results[0]))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Rebuilding a day's partition from its stored events (`index/reindex.rs`): the time an
upgrade that changes the index schema adds to the collector's start once the WAL was trimmed.

1. Starts the release collector with a small WAL retention (`[wal] keep_bytes` 64 MiB), ingests
   N events of today (bench/index_bench.py's events), waits until all are searchable and the WAL
   is trimmed, and stops it.
2. Marks the day's last commit with schema version 2, as an older release would have written it.
3. Starts it again and measures the start until "ready" (wall, CPU, peak RSS) and the count of
   events searchable right after.

Usage: bench/reindex_bench.py [--events 1000000]
Build first: cargo build --release --bins.
"""
import argparse
import datetime
import glob
import json
import os
import re
import tempfile
import time
import urllib.request

import index_bench
from measure import cpu_seconds, peak_rss_mib, start_collector


def status(url):
    with urllib.request.urlopen(f"{url}/api/v1/status", timeout=30) as r:
        return json.load(r)


def count(url, q="*"):
    with urllib.request.urlopen(f"{url}/api/v1/search?q={q}&limit=0", timeout=60) as r:
        return json.load(r)["total"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    args = ap.parse_args()
    n = args.events
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP", "/work")) as tmp:
        ev_path, _, raw_bytes = index_bench.write_events(tmp, n, 128)
        cfg = f"{tmp}/collector.toml"
        with open(cfg, "w") as f:
            f.write("[wal]\nsegment_bytes = 67108864\nkeep_bytes = 67108864\n")
        flags = ("--config", cfg)
        index_bench.ingest_and_query(ev_path, raw_bytes, n, tmp, 1, *flags)  # leaves {tmp}/c
        # ingest_and_query stopped the collector; start it to let WAL retention trim.
        p, said = start_collector(f"{tmp}/c", "--syslog-udp", "off", "--syslog-tcp", "off", *flags)
        while status(said["url"])["wal"]["first_lsn"] <= 1:
            time.sleep(1)
        p.terminate()
        p.wait()
        day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
        meta = f"{tmp}/c/index/{day}/meta.json"
        text = open(meta).read()
        marked = re.sub(r'\\"schema\\":\d+', r'\\"schema\\":2', text)
        assert marked != text, "no schema in the commit payload"
        open(meta, "w").write(marked)
        t0 = time.monotonic()
        p, said = start_collector(f"{tmp}/c", "--syslog-udp", "off", "--syslog-tcp", "off", *flags)
        started = time.monotonic() - t0
        res = {"events": n, "raw_log_mb": round(raw_bytes / 1e6, 1), "start_s": round(started, 2),
               "cpu_s": round(cpu_seconds(p.pid), 2), "peak_rss_mib": round(peak_rss_mib(p.pid)),
               "events_per_s": round(n / started), "searchable_after_start": count(said["url"]),
               "left_beside": sorted(os.path.basename(d) for d in glob.glob(f"{tmp}/c/index/*.*")
                                     if not d.endswith(".json"))}
        print(json.dumps(res))
        p.terminate()
        p.wait()


if __name__ == "__main__":
    main()

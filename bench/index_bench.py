#!/usr/bin/env python3
"""Collector benchmark: ingest -> searchable beside raw tantivy, then a selective term query beside
ripgrep over the same text.

1. Writes N events (NDJSON, the ingest format; ~W-byte messages, syslog-like, timestamps spread
   over the last few hours of today) and the same messages as a plain log file.
2. Starts the release collector on loopback (fresh data dir), POSTs the events in batches of
   10,000 over one keep-alive connection (a batch answered 429, when the index trails by
   [index] max_backlog_mb, is sent again after 50 ms, as an agent would; counted as
   `refused_429`), and waits until a search counts N: wall time from the
   first POST, the collector's CPU seconds (utime+stime from /proc) and its peak RSS (VmHWM), and
   the peaks of its anonymous and file-backed resident memory sampled meanwhile (VmHWM counts the
   page cache of the index files tantivy maps; the anonymous part is the collector's own memory).
   MB/s per core = raw log bytes (the plain file) / collector CPU seconds.
3. Runs the raw-tantivy baseline (collector/examples/raw_tantivy.rs: same schema and documents,
   one writer thread, one commit) on the same events: wall, CPU (rusage) and peak RSS.
4. Queries a term present in exactly 100 events (newest first, limit 100) R times against the
   collector: server time (`took_us`) p50/p99 and client wall p50; then `rg -c TERM` over the
   plain file R times (page cache warm): p50/p99.

Usage: bench/index_bench.py [--events 2000000] [--message-bytes 128] [--queries 50]
Build first: cargo build --release --bins && cargo build --release -p logwarden-collector --example raw_tantivy
Needs ripgrep (`apt-get install ripgrep`).
"""
import argparse
import datetime
import http.client
import json
import os
import resource
import statistics
import subprocess
import tempfile
import time
import urllib.parse

from measure import BIN, cpu_seconds, post_ndjson, peak_rss_mib, rss_parts_mib, start_collector

HOSTS = ["mbox1", "mbox2", "mta1", "ldap1"]
APPS = ["postfix/smtpd", "sshd", "mailbox", "slapd"]
SEVS = ["info", "info", "notice", "warning", "err"]


def write_events(tmp, n, width):
    """events.ndjson (ingest format) and raw.log (the messages); the term `needle` is in every
    n/100-th event, so exactly 100 match."""
    now = datetime.datetime.now(datetime.timezone.utc)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    span = max(1.0, (now - start).total_seconds() - 60)
    every = n // 100
    ev_path, raw_path = os.path.join(tmp, "events.ndjson"), os.path.join(tmp, "raw.log")
    raw_bytes = 0
    with open(ev_path, "w") as ev, open(raw_path, "w") as raw:
        for i in range(n):
            ts = start + datetime.timedelta(seconds=span * i / n)
            word = "needle" if i % every == every - 1 else "benchline"
            head = f"{word} {i} from=<user{i % 5000}@example.com> status=sent "
            msg = head + "x" * max(0, width - len(head))
            line = f"{ts:%b %d %H:%M:%S} {HOSTS[i % 4]} {APPS[i % 4]}: {msg}\n"
            raw.write(line)
            raw_bytes += len(line)
            ev.write(json.dumps({
                "id": f"bench:{i + 1}", "ts": ts.isoformat().replace("+00:00", "Z"),
                "host": HOSTS[i % 4], "site": "lab", "source": "/var/log/mail.log",
                "app": APPS[i % 4], "severity": SEVS[i % 5], "kind": "log", "message": msg,
            }) + "\n")
    return ev_path, raw_path, raw_bytes


def search(conn, q, limit):
    conn.request("GET", "/api/v1/search?" + urllib.parse.urlencode({"q": q, "limit": limit}))
    r = conn.getresponse()
    return json.loads(r.read())


def ingest_and_query(ev_path, raw_bytes, n, tmp, queries, *flags):
    collector, said = start_collector(f"{tmp}/c", "--syslog-udp", "off", "--syslog-tcp", "off",
                                      *flags)
    host, port = urllib.parse.urlparse(said["url"]).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    cpu0 = cpu_seconds(collector.pid)
    t0 = time.monotonic()
    peak_anon = peak_file = 0.0

    def sample():
        nonlocal peak_anon, peak_file
        anon, file = rss_parts_mib(collector.pid)
        peak_anon, peak_file = max(peak_anon, anon), max(peak_file, file)

    refused = post_ndjson(said["url"], ev_path, sample=sample)
    acked = time.monotonic() - t0
    while search(conn, "*", 0)["total"] < n:  # a count only: no sorting in the measured time
        sample()
        time.sleep(0.05)
    searchable = time.monotonic() - t0
    cpu = cpu_seconds(collector.pid) - cpu0
    rss = peak_rss_mib(collector.pid)
    ingest = {
        "acked_s": round(acked, 2), "searchable_s": round(searchable, 2), "cpu_s": round(cpu, 2),
        "mb_per_s_wall": round(raw_bytes / 1e6 / searchable, 1),
        "mb_per_s_per_core": round(raw_bytes / 1e6 / cpu, 1), "peak_rss_mib": round(rss),
        "sampled_peak_anon_mib": round(peak_anon), "sampled_peak_file_mib": round(peak_file),
        "refused_429": refused,
    }
    # Queries: the collector is idle now (merges may still run; wait for its CPU to settle).
    settle = cpu_seconds(collector.pid)
    while True:
        time.sleep(2)
        now = cpu_seconds(collector.pid)
        if now - settle < 0.1:
            break
        settle = now
    took, wall = [], []
    for _ in range(queries):
        t = time.monotonic()
        resp = search(conn, "needle", 100)
        wall.append((time.monotonic() - t) * 1000)
        assert resp["total"] == 100 and len(resp["hits"]) == 100, resp["total"]
        took.append(resp["took_us"] / 1000)
    query = {
        "server_p50_ms": round(pct(took, 50), 2), "server_p99_ms": round(pct(took, 99), 2),
        "client_p50_ms": round(pct(wall, 50), 2), "peak_rss_mib": round(peak_rss_mib(collector.pid)),
        "index_mib": round(du(f"{tmp}/c/index") / 2**20),
    }
    collector.terminate()
    collector.wait()
    return ingest, query


def raw_tantivy(ev_path, raw_bytes, tmp):
    exe = os.path.join(BIN, "examples", "raw_tantivy")
    t0 = time.monotonic()
    p = subprocess.Popen([exe, ev_path, f"{tmp}/raw-index", "64"], stdout=subprocess.PIPE, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    assert status == 0, out
    cpu = ru.ru_utime + ru.ru_stime
    return {
        "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
        "mb_per_s_wall": round(raw_bytes / 1e6 / wall, 1),
        "mb_per_s_per_core": round(raw_bytes / 1e6 / cpu, 1),
        "peak_rss_mib": round(ru.ru_maxrss / 1024), "inner": json.loads(out),
    }


def ripgrep(raw_path, queries):
    times = []
    for i in range(queries + 1):
        t = time.monotonic()
        out = subprocess.run(["rg", "-c", "needle", raw_path], capture_output=True, text=True)
        if i:  # the first run warms the page cache
            times.append((time.monotonic() - t) * 1000)
        assert out.stdout.strip() == "100", out.stdout
    return {"p50_ms": round(pct(times, 50), 1), "p99_ms": round(pct(times, 99), 1)}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def du(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--message-bytes", type=int, default=128)
    ap.add_argument("--queries", type=int, default=50)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ev_path, raw_path, raw_bytes = write_events(tmp, a.events, a.message_bytes)
        print(json.dumps({"events": a.events, "raw_log_mb": round(raw_bytes / 1e6, 1),
                          "ndjson_mb": round(os.path.getsize(ev_path) / 1e6, 1)}), flush=True)
        ingest, query = ingest_and_query(ev_path, raw_bytes, a.events, tmp, a.queries)
        print(json.dumps({"collector_ingest_to_searchable": ingest}), flush=True)
        print(json.dumps({"collector_query_needle_100_hits": query}), flush=True)
        if os.path.exists(os.path.join(BIN, "examples", "raw_tantivy")):
            print(json.dumps({"raw_tantivy": raw_tantivy(ev_path, raw_bytes, tmp)}), flush=True)
        else:
            print(json.dumps({"raw_tantivy": "not built: cargo build --release -p logwarden-collector --example raw_tantivy"}), flush=True)
        print(json.dumps({"ripgrep": ripgrep(raw_path, a.queries)}), flush=True)


if __name__ == "__main__":
    main()

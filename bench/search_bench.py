#!/usr/bin/env python3
"""Search beside ripgrep over the same N events (issue 27's figures): counts by an extracted
field, the context of a hit, and a term query.

1. Writes N events (NDJSON, the ingest format) whose messages carry `ip=A.B.C.D` and whose
   `fields.ip` holds the same address (2,000 addresses, a few of them frequent: a seeded Pareto
   draw), and the same lines as a plain log file; a term `needle` is in exactly 100 events.
2. Starts the release collector on loopback, POSTs everything and waits until it is searchable.
3. `GET /api/v1/count?q=*&by=fields.ip&limit=10` R times: client wall p50/p99 (the server's own
   time is less: this includes HTTP on loopback and JSON), beside
   `rg -o 'ip=\\S+' raw.log | sort | uniq -c | sort -rn | head` (page cache warm) a few times; the
   top 10 of both must agree.
4. `GET /api/v1/context?at=POS&before=5&after=5` for R hits of `needle`: the server's `took_us`
   p50/p99 and the client's.
5. `GET /api/v1/search?q=needle&limit=100` R times: the server's `took_us` p50/p99.
6. `GET /api/v1/search?q=*&limit=100`, and the same after the cursor of a hit in the middle of
   the day: the server's `took_us` p50/p99 (every event matches: the cost of ordering them).

Usage: bench/search_bench.py [--events 10000000] [--queries 30] [--rg-runs 3] [--dir DIR]
With `--dir DIR` the plain log and the collector's data are kept in DIR, and a later
run with the same DIR and N skips steps 1-2 (the collector, perhaps another build given by
LOGWARDEN_BIN_DIR, starts on the data already there): query figures of two builds over one index.
Build first: cargo build --release --bins. Needs ripgrep. Disk: about 0.6 KB per event
(NDJSON, plain log and index), 6 GB for 10M.
"""
import argparse
import contextlib
import datetime
import json
import os
import random
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from measure import cpu_seconds, peak_rss_mib, post_ndjson, start_collector

HOSTS = ["mbox1", "mbox2", "mta1", "ldap1"]
APPS = ["postfix/smtpd", "sshd", "mailbox", "slapd"]


def write_events(tmp, n):
    rng = random.Random(27)
    ips = [f"10.{k // 250}.{k % 250}.{(k * 7) % 250 + 1}" for k in range(2000)]
    now = datetime.datetime.now(datetime.timezone.utc)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    span = max(1.0, (now - start).total_seconds() - 60)
    every = n // 100
    ev_path, raw_path = os.path.join(tmp, "events.ndjson"), os.path.join(tmp, "raw.log")
    with open(ev_path, "w") as ev, open(raw_path, "w") as raw:
        for i in range(n):
            ts = start + datetime.timedelta(seconds=span * i / n)
            ip = ips[min(len(ips) - 1, int((rng.paretovariate(1.0) - 1) * 20))]
            word = "needle" if i % every == every - 1 else "benchline"
            msg = f"{word} {i} connect from ip={ip} user=u{i % 5000} status=sent"
            raw.write(f"{ts:%b %d %H:%M:%S} {HOSTS[i % 4]} {APPS[i % 4]}: {msg}\n")
            ev.write(json.dumps({
                "id": f"bench:{i + 1}", "ts": ts.isoformat().replace("+00:00", "Z"),
                "host": HOSTS[i % 4], "site": "lab", "source": "/var/log/mail.log",
                "app": APPS[i % 4], "severity": "info", "kind": "log", "message": msg,
                "fields": {"ip": ip},
            }) + "\n")
    return ev_path, raw_path


def get(url, path, params):
    t = time.monotonic()
    with urllib.request.urlopen(f"{url}{path}?{urllib.parse.urlencode(params)}", timeout=120) as r:
        body = json.loads(r.read())
    return body, (time.monotonic() - t) * 1000


def pct(xs, p):
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))], 2)


def settle(pid):
    """Waits until the collector is idle (merges done)."""
    last = cpu_seconds(pid)
    while True:
        time.sleep(2)
        now = cpu_seconds(pid)
        if now - last < 0.1:
            return
        last = now


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--rg-runs", type=int, default=3)
    ap.add_argument("--dir", help="keep the data here; reuse what an earlier run with N left")
    a = ap.parse_args()
    with contextlib.ExitStack() as stack:
        if a.dir:
            tmp = os.path.abspath(a.dir)
            os.makedirs(tmp, exist_ok=True)
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
        done = os.path.join(tmp, f"ingested-{a.events}")
        raw_path = os.path.join(tmp, "raw.log")
        reuse = os.path.exists(done)
        if not reuse:
            t = time.monotonic()
            ev_path, raw_path = write_events(tmp, a.events)
            print(json.dumps({"events": a.events, "written_s": round(time.monotonic() - t, 1),
                              "raw_log_mb": round(os.path.getsize(raw_path) / 1e6, 1)}), flush=True)
        collector, said = start_collector(f"{tmp}/c", "--syslog-udp", "off", "--syslog-tcp", "off")
        # Stopped whatever happens below: a failed run must not leave it holding the data.
        stack.callback(collector.wait)
        stack.callback(collector.terminate)
        url = said["url"]
        t0 = time.monotonic()
        refused = 0 if reuse else post_ndjson(url, ev_path)
        while get(url, "/api/v1/search", {"q": "*", "limit": 0})[0]["total"] < a.events:
            time.sleep(0.2)
        if reuse:
            print(json.dumps({"reused": tmp, "searchable_after_start_s":
                              round(time.monotonic() - t0, 1)}), flush=True)
        else:
            print(json.dumps({"ingest_to_searchable_s": round(time.monotonic() - t0, 1),
                              "refused_429": refused,
                              "collector_cpu_s": round(cpu_seconds(collector.pid), 1),
                              "peak_rss_mib": round(peak_rss_mib(collector.pid))}), flush=True)
            open(done, "w").close()
            os.remove(ev_path)  # 0.3 KB an event, not needed again
        settle(collector.pid)

        # 3. count --by fields.ip beside rg | sort | uniq -c.
        walls, top = [], None
        for i in range(a.queries + 1):
            body, ms = get(url, "/api/v1/count", {"q": "*", "by": "fields.ip", "limit": 10})
            if i:
                walls.append(ms)
            top = [(b["key"], b["count"]) for b in body["buckets"]]
        rg_ms, rg_top = [], None
        for i in range(a.rg_runs + 1):
            t = time.monotonic()
            out = subprocess.run(
                ["bash", "-c", f"rg -o 'ip=\\S+' {raw_path} | sort | uniq -c | sort -rn | head"],
                capture_output=True, text=True, check=True).stdout
            if i:
                rg_ms.append((time.monotonic() - t) * 1000)
            rg_top = [(line.split()[1].removeprefix("ip="), int(line.split()[0]))
                      for line in out.splitlines()]
        assert sorted(top) == sorted(rg_top), (top, rg_top)
        count = {"client_p50_ms": pct(walls, 50), "client_p99_ms": pct(walls, 99),
                 "rg_pipeline_p50_ms": pct(rg_ms, 50),
                 "ratio_rg_over_collector": round(pct(rg_ms, 50) / pct(walls, 50), 1),
                 "top": top[:3]}
        print(json.dumps({"count_by_fields_ip": count}), flush=True)

        # 4. context of a hit, 5. the term query.
        hits, _ = get(url, "/api/v1/search", {"q": "needle", "limit": 100})
        assert hits["total"] == 100, hits["total"]
        ctx_took, ctx_wall = [], []
        for i in range(a.queries):
            # Hits newest first: the newest has no events after it, so it is left out.
            pos = hits["positions"][1 + i % (len(hits["positions"]) - 1)]
            body, ms = get(url, "/api/v1/context", {"at": pos, "before": 5, "after": 5})
            assert len(body["before"]) == 5 and len(body["after"]) == 5, body
            ctx_took.append(body["took_us"] / 1000)
            ctx_wall.append(ms)
        print(json.dumps({"context_5_5": {"server_p50_ms": pct(ctx_took, 50),
                                          "server_p99_ms": pct(ctx_took, 99),
                                          "client_p50_ms": pct(ctx_wall, 50)}}), flush=True)
        took = []
        for _ in range(a.queries):
            body, _ = get(url, "/api/v1/search", {"q": "needle", "limit": 100})
            took.append(body["took_us"] / 1000)
        print(json.dumps({"term_needle_100": {"server_p50_ms": pct(took, 50),
                                              "server_p99_ms": pct(took, 99)}}), flush=True)
        # 6. every event matches: the newest 100, then the 100 after the middle one's cursor.
        took, paged = [], []
        for _ in range(a.queries):
            body, _ = get(url, "/api/v1/search", {"q": "*", "limit": 100})
            took.append(body["took_us"] / 1000)
            body, _ = get(url, "/api/v1/search",
                          {"q": "*", "limit": 100, "after": hits["positions"][50]})
            assert len(body["hits"]) == 100, len(body["hits"])
            paged.append(body["took_us"] / 1000)
        print(json.dumps({"match_all_100": {"server_p50_ms": pct(took, 50),
                                            "server_p99_ms": pct(took, 99)},
                          "match_all_100_after_a_cursor": {"server_p50_ms": pct(paged, 50),
                                                           "server_p99_ms": pct(paged, 99)}}),
              flush=True)


if __name__ == "__main__":
    main()

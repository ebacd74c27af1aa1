#!/usr/bin/env python3
"""Collector benchmark: how soon an acknowledged event is searchable under a steady load (PRODUCT.md:
"searchable within 1 s of the ack"), as opposed to index_bench.py's burst.

Starts the release collector on loopback (fresh data dir, default settings: the indexer niced,
commits every 250 ms) and POSTs a batch of B events every 1/R s for S seconds, each batch with a
word of its own. A second thread takes each acknowledged batch and polls a count of its word until
it reaches B: the time from the ack to that is the batch's freshness. Prints p50/p99/max of it,
the rate reached and the collector's CPU seconds.

Usage: bench/freshness.py [--rate 10] [--batch 2000] [--seconds 30]
Build first: cargo build --release --bins
"""
import argparse
import datetime
import http.client
import json
import queue
import tempfile
import threading
import time
import urllib.parse

from measure import cpu_seconds, peak_rss_mib, start_collector


def batch_body(b, size):
    now = datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    lines = []
    for i in range(size):
        seq = b * size + i + 1
        msg = f"fresh{b} {seq} from=<user{seq % 5000}@example.com> status=sent " + "x" * 70
        lines.append(json.dumps({"id": f"fresh:{seq}", "ts": now, "host": "mbox1", "site": "lab",
                                 "source": "/var/log/mail.log", "app": "postfix/smtpd",
                                 "message": msg}))
    return ("\n".join(lines) + "\n").encode()


def count(conn, word):
    conn.request("GET", "/api/v1/search?" + urllib.parse.urlencode({"q": word, "limit": 0}))
    r = conn.getresponse()
    return json.loads(r.read())["total"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=10, help="batches per second")
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=30)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        p, said = start_collector(f"{tmp}/c", "--syslog-udp", "off", "--syslog-tcp", "off")
        host, port = urllib.parse.urlparse(said["url"]).netloc.split(":")
        acked = queue.Queue()
        lags = []

        def check():
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            while (item := acked.get()) is not None:
                b, t_ack = item
                while count(conn, f"fresh{b}") < a.batch:
                    time.sleep(0.005)
                lags.append(time.monotonic() - t_ack)

        checker = threading.Thread(target=check)
        checker.start()
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        n = int(a.rate * a.seconds)
        bodies = [batch_body(b, a.batch) for b in range(n)]
        cpu0, t0 = cpu_seconds(p.pid), time.monotonic()
        for b, body in enumerate(bodies):
            due = t0 + b / a.rate
            time.sleep(max(0.0, due - time.monotonic()))
            conn.request("POST", "/api/v1/ingest", body=body,
                         headers={"Content-Type": "application/x-ndjson"})
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status
            acked.put((b, time.monotonic()))
        sent = time.monotonic() - t0
        acked.put(None)
        checker.join()
        cpu = cpu_seconds(p.pid) - cpu0
        lags.sort()
        pct = lambda q: lags[min(len(lags) - 1, int(q / 100 * len(lags)))]
        print(json.dumps({
            "events_per_s": round(n * a.batch / sent), "batches": n,
            "ack_to_searchable_ms": {"p50": round(pct(50) * 1000), "p99": round(pct(99) * 1000),
                                     "max": round(lags[-1] * 1000)},
            "cpu_s": round(cpu, 2), "cpu_share_of_one_core": round(cpu / sent, 2),
            "peak_rss_mib": round(peak_rss_mib(p.pid)),
        }), flush=True)
        p.terminate()
        p.wait()


if __name__ == "__main__":
    main()

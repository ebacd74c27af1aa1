#!/usr/bin/env python3
"""How long a new alert leader takes to be ready with N events in the stream (issue 32).

One nats-server (JetStream, on free loopback ports), two collectors in cluster mode
(target/debug binaries unless --bin), N events posted, then the alert leader is killed with
SIGKILL. Measured on the new leader, from its log: the events it replayed before acting, and
the time from taking the lease ("now leads alerting") to "alert state taken over". With
--wait (default 12 s) between the last post and the kill, a leader that snapshots its state
every `alert_snapshot_every` (5 s here) has stored one.

    python3 bench/alert_takeover.py --events 100000
"""

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nats_server():
    for p in ("/usr/sbin/nats-server", "/usr/bin/nats-server"):
        if os.path.exists(p):
            return p
    sys.exit("nats-server is not installed (apt-get install nats-server)")


def get(url, timeout=3):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def post(url, lines):
    req = urllib.request.Request(url + "/api/v1/ingest", data="\n".join(lines).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        body = json.load(r)
    acked = body.get("accepted", 0) + len(body.get("duplicates", []))
    if acked != len(lines):
        sys.exit(f"only {acked} of {len(lines)} acknowledged: {body}")


def wait(what, cond, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        try:
            v = cond()
            if v:
                return v
        except Exception:
            pass
        time.sleep(0.05)
    sys.exit(f"timed out waiting for {what}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--wait", type=float, default=12.0)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "debug"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="alert-takeover-")
    procs = []
    try:
        port = free_port()
        conf = os.path.join(tmp, "nats.conf")
        with open(conf, "w") as f:
            f.write(f'listen: "127.0.0.1:{port}"\njetstream {{ store_dir: "{tmp}/js", max_file_store: 4GB }}\n')
        procs.append(subprocess.Popen([nats_server(), "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        collectors = {}
        for cid in ("c1", "c2"):
            cfg = os.path.join(tmp, cid + ".toml")
            with open(cfg, "w") as f:
                f.write(f'[cluster]\nnats = ["nats://127.0.0.1:{port}"]\nid = "{cid}"\npartitions = 4\n'
                        'replicas = 1\nlease_ttl = "6s"\nalert_snapshot_every = "5s"\n')
            listen = f"127.0.0.1:{free_port()}"
            log = open(os.path.join(tmp, cid + ".log"), "w")
            env = dict(os.environ, LOGWARDEN_LOG="info,tantivy=warn")
            p = subprocess.Popen(
                [os.path.join(args.bin, "logwarden-collector"), "run", "--listen", listen,
                 "--data-dir", os.path.join(tmp, cid), "--syslog-udp", "127.0.0.1:0",
                 "--syslog-tcp", "127.0.0.1:0", "--syslog-tls", "127.0.0.1:0",
                 "--retention-days", "0", "--config", cfg],
                stdout=subprocess.DEVNULL, stderr=log, env=env)
            procs.append(p)
            collectors[cid] = (p, "http://" + listen, log.name)
        url = collectors["c1"][1]
        leader = wait("an alert leader", lambda: get(url + "/api/v1/cluster").get("alert_leader"))
        t0 = time.time()
        batch = 2000
        for b in range(0, args.events, batch):
            post(url, [json.dumps({"id": f"bench-{(b + i) % 50}:{b + i}", "ts": "2026-11-29T10:00:00Z",
                                   "host": f"h{(b + i) % 50}", "site": "lab", "source": "/var/log/test.log",
                                   "app": "test", "severity": "info", "kind": "log",
                                   "message": f"takeover bench line {b + i}"})
                       for i in range(min(batch, args.events - b))])
        posted = time.time() - t0
        print(f"posted {args.events} events in {posted:.1f} s; leader {leader}; waiting {args.wait} s")
        time.sleep(args.wait)
        victim, _, _ = collectors[leader]
        other = "c2" if leader == "c1" else "c1"
        log = collectors[other][2]
        victim.send_signal(signal.SIGKILL)
        killed = time.time()

        def line(pattern):
            with open(log) as f:
                text = f.read()
            marks = [m for m in re.finditer(pattern, text)]
            return marks[-1] if marks else None

        wait("the lease", lambda: line(r"now leads alerting"))
        leads = time.time()
        taken = wait("the take-over", lambda: line(r"alert state taken over[^\n]*"))
        ready = time.time()
        fields = taken.group(0)
        events = re.search(r"events=(\d+)", fields)
        print(f"kill -> lease {leads - killed:.2f} s; lease -> ready {ready - leads:.2f} s; "
              f"replayed {events.group(1) if events else '?'} events ({fields.strip()[:160]})")
    finally:
        for p in procs:
            p.kill()
            p.wait()


if __name__ == "__main__":
    main()

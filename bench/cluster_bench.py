#!/usr/bin/env python3
"""Cluster mode (docs/scale.md) beside the single collector: ingest to searchable and the CPU
it costs per event, split by process, on real `nats-server` processes on loopback.

Configurations (`--configs`, default all four, alternated within one run as bench/alternate.py
does: a b1 b c, then c b b1 a, ...; each run on fresh data dirs and a fresh NATS store):
- `a`:  one collector, no cluster: the WAL path (agent batch -> WAL -> index).
- `b1`: one collector in cluster mode on a 1-node NATS, stream replicas 1.
- `b`:  one collector in cluster mode on a 3-node JetStream cluster, replicas 3.
- `c`:  three collectors in cluster mode on a 3-node JetStream cluster, replicas 3.
- `c6`: six collectors on that cluster (only when named in `--configs`): the fan-out with more
        owners.
The NATS nodes are configured as tests/src/nats.rs starts them; the collectors get
`[cluster] partitions = 16 (--partitions), lease_ttl = "6s"` as in tests/tests/cluster*.rs, and
the run starts once the partitions are shared (each collector owns some, all owned once) and
an alert leader is elected (it reads the whole stream: part of the cost).

Workload: bench/index_bench.py's events (N events, ~128-byte messages, syslog-like), with their
ids spread over `--agents` agents (`bench-<k>:<seq>`; one agent's events stay on one
partition, so one agent would put everything on one collector). `--posters` connections post
them at once, each with bench/measure.py's streaming poster (batches of 10,000 over one
keep-alive connection); with several collectors poster k posts to collector k % collectors.
Measured from the first POST: `acked_s` (every batch answered 200), `searchable_s`
(the count of `*` through collector 1, fanned out in cluster mode, reaches N; then the count
through every collector must be exactly N with no missing partition, or the run fails), and
the CPU seconds (utime+stime from /proc) of the collectors and of the nats-servers, per
process, over that time, per event in microseconds. Before posting, each process's idle CPU
over `--idle` seconds (leases, empty fetches) is measured and reported as a rate; it is not
subtracted.

After ingest (the CPU settled), a selective search (`needle`: 100 hits, limit 100) and a count
(`*`) are asked `--queries` times through collector 1: client wall p50/p95 in ms (the fan-out's
cost grows with the owners). Bytes per event: the stream (JetStream's own `bytes`, one replica),
the WALs and the indexes (all collectors summed).

With `--rebuild` (cluster mode), one more collector is then started: it takes partitions over and
rebuilds them from the stream; measured until the count through it is N again with nothing
missing: when it first owned partitions, when it was complete, the events it answers for then
(those it rebuilt), its CPU and nats-servers' per event rebuilt.

Prints one JSON line per run, then the medians per configuration, and the load average.
LOGWARDEN_BIN_DIR picks the collector binary (bench/measure.py).

Usage: bench/cluster_bench.py [--events 300000] [--rounds 3] [--configs a,b1,b,c]
                              [--agents 64] [--posters 3] [--queries 30] [--partitions 16]
                              [--idle 5] [--rebuild] [--perf DIR]
Needs nats-server (Debian's package) and a release build (cargo build --release --bins).
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse

import index_bench
import measure

PARTITIONS = 16  # --partitions
CONFIGS = {
    # name: (NATS nodes, stream replicas, collectors)
    "a": (0, 0, 1),
    "b1": (1, 1, 1),
    "b": (3, 3, 1),
    "c": (3, 3, 3),
    # Not in the default list: six collectors, for the fan-out's cost with more owners.
    "c6": (3, 3, 6),
}


def nats_server():
    for p in ["/usr/sbin/nats-server", "/usr/bin/nats-server"]:
        if os.path.exists(p):
            return p
    raise SystemExit("nats-server is not installed (apt-get install nats-server)")


def free_addr():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def get_json(url, path, timeout=30):
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        conn.close()


def start_nats(tmp, n):
    """n nats-server nodes (a JetStream cluster when n > 1) as tests/src/nats.rs configures them;
    returns (processes, client URLs) once JetStream answers (a meta leader when clustered)."""
    client = [free_addr() for _ in range(n)]
    route = [free_addr() for _ in range(n)]
    monitor = [free_addr() for _ in range(n)]
    procs = []
    for i in range(n):
        name = f"n{i + 1}"
        store = os.path.join(tmp, "nats", name)
        os.makedirs(store)
        text = (f'server_name: {name}\nlisten: "{client[i]}"\nhttp: "{monitor[i]}"\n'
                f'jetstream {{ store_dir: "{store}", max_memory_store: 64MB, max_file_store: 4GB }}\n')
        if n > 1:
            routes = ", ".join(f'"nats-route://{r}"' for j, r in enumerate(route) if j != i)
            text += f'cluster {{ name: logwarden-bench, listen: "{route[i]}", routes: [{routes}] }}\n'
        conf = os.path.join(tmp, "nats", f"{name}.conf")
        with open(conf, "w") as f:
            f.write(text)
        procs.append(subprocess.Popen([nats_server(), "-c", conf], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
    deadline = time.monotonic() + 60
    while True:
        try:
            _, jsz = get_json(f"http://{monitor[0]}", "/jsz", timeout=2)
            if n == 1 or (jsz.get("meta_cluster") or {}).get("leader"):
                break
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("NATS did not elect a JetStream meta leader within 60 s")
        time.sleep(0.2)
    return procs, [f"nats://{c}" for c in client]


def start_collectors(tmp, config, nats_urls):
    """The collectors of `config`: [(process, url)]; in cluster mode once the partitions are
    shared and an alert leader is elected."""
    nodes, replicas, count = CONFIGS[config]
    out = [start_one(tmp, k, nats_urls, replicas) for k in range(count)]
    if nodes:
        deadline = time.monotonic() + 180
        while not shared(out):
            if time.monotonic() > deadline:
                raise RuntimeError("the collectors did not share the partitions within 180 s")
            time.sleep(0.5)
    return out


def start_one(tmp, k, nats_urls, replicas):
    """Collector c<k+1> (in cluster mode when there are `nats_urls`): (process, url)."""
    flags = ["--syslog-udp", "off", "--syslog-tcp", "off"]
    if nats_urls:
        cfg = os.path.join(tmp, f"c{k + 1}.toml")
        with open(cfg, "w") as f:
            f.write(f"[cluster]\nnats = {json.dumps(nats_urls)}\nid = \"c{k + 1}\"\n"
                    f"partitions = {PARTITIONS}\nreplicas = {replicas}\nlease_ttl = \"6s\"\n")
        flags += ["--config", cfg]
    p, said = measure.start_collector(os.path.join(tmp, f"c{k + 1}"), *flags)
    return p, said["url"]


def rebuild(tmp, collectors, nats, nats_urls, replicas, n):
    """Starts one more collector and measures its taking partitions over and rebuilding them
    from the stream: from its start until the count through it is N again with nothing
    missing; its CPU per event rebuilt (the events it answers for then) and nats-servers'."""
    npids = [p.pid for p in nats]
    n0 = cpu_of(npids)
    t0 = time.monotonic()
    proc, url = start_one(tmp, len(collectors), nats_urls, replicas)
    collectors.append((proc, url))
    c0 = measure.cpu_seconds(proc.pid)
    owned_at = None
    while True:
        _, v = get_json(url, "/api/v1/cluster")
        owned = v.get("owned") or []
        if owned and owned_at is None:
            owned_at = time.monotonic() - t0
        if owned and count(url) == (n, []):
            break
        if time.monotonic() - t0 > 300:
            raise RuntimeError(f"the new collector did not rebuild within 300 s: {v}")
        time.sleep(0.2)
    done = time.monotonic() - t0
    cpu, ncpu = measure.cpu_seconds(proc.pid) - c0, sum(cpu_of(npids).values()) - sum(n0.values())
    _, mine = get_json(url, "/api/v1/cluster/count?" + urllib.parse.urlencode(
        {"q": "*", "partitions": ",".join(map(str, owned))}))
    rebuilt = mine["total"]
    return {"rebuild_partitions": len(owned), "rebuild_events": rebuilt,
            "rebuild_owned_after_s": round(owned_at, 2), "rebuild_complete_s": round(done, 2),
            "rebuild_events_per_s_after_owned": round(rebuilt / max(0.01, done - owned_at)),
            "rebuild_collector_us_per_event": round(cpu / max(1, rebuilt) * 1e6, 2),
            "rebuild_nats_us_per_event": round(ncpu / max(1, rebuilt) * 1e6, 2)}


def shared(collectors):
    """Every partition owned once, each collector owning some, and an alert leader."""
    owned, leader = [], None
    for _, url in collectors:
        try:
            _, v = get_json(url, "/api/v1/cluster", timeout=5)
        except (OSError, ValueError):
            return False
        if not v.get("owned"):
            return False
        owned += v["owned"]
        leader = leader or v.get("alert_leader")
    return sorted(owned) == list(range(PARTITIONS)) and bool(leader)


def count(url, q="*"):
    """(total, missing partitions) of a count through `url` (fanned out in cluster mode)."""
    status, v = get_json(url, "/api/v1/count?" + urllib.parse.urlencode({"q": q}))
    if status != 200:
        return -1, [f"HTTP {status}: {v}"]
    return v["total"], v.get("missing_partitions") or []


def cpu_of(pids):
    return {pid: measure.cpu_seconds(pid) for pid in pids}


def spread_events(ev_path, tmp, agents, posters):
    """index_bench's events with their ids spread over `agents` agents, in `posters` files (the
    batches of 10,000 dealt round-robin), so that every batch holds every agent."""
    paths = [os.path.join(tmp, f"post{k}.ndjson") for k in range(posters)]
    outs = [open(p, "w") for p in paths]
    with open(ev_path) as f:
        for i, line in enumerate(f):
            old = f'"id": "bench:{i + 1}"'
            assert line.startswith("{" + old), line[:40]
            new = f'"id": "bench-{i % agents}:{i // agents + 1}"'
            outs[(i // 10_000) % posters].write("{" + new + line[len(old) + 1:])
    for o in outs:
        o.close()
    return paths


def dir_bytes(path):
    return index_bench.du(path) if os.path.isdir(path) else 0


def settle(pids, quiet=0.15, longest=60):
    """Waits until the processes together use less than `quiet` CPU seconds per 2 s (merges and
    acks done), at most `longest` seconds."""
    last, t0 = sum(cpu_of(pids).values()), time.monotonic()
    while time.monotonic() - t0 < longest:
        time.sleep(2)
        now = sum(cpu_of(pids).values())
        if now - last < quiet:
            return
        last = now


def queries(url, n, reps):
    """Client wall ms (p50, p95) of a 100-hit search and of a count through `url`."""
    out = {}
    for name, path in [("search_needle_100", "/api/v1/search?q=needle&limit=100"),
                       ("count_all", "/api/v1/count?q=%2A")]:
        times = []
        for _ in range(reps):
            t = time.monotonic()
            status, v = get_json(url, path)
            times.append((time.monotonic() - t) * 1000)
            assert status == 200 and not v.get("missing_partitions"), (status, v)
            want = 100 if name.startswith("search") else n
            assert v["total"] == want, (name, v["total"], want)
        out[f"{name}_p50_ms"] = round(index_bench.pct(times, 50), 2)
        out[f"{name}_p95_ms"] = round(index_bench.pct(times, 95), 2)
    return out


def run(config, post_paths, n, tmp, idle_s, reps, perf=None, rebuild_too=False):
    nodes, replicas, _ = CONFIGS[config]
    nats, nats_urls = start_nats(tmp, nodes) if nodes else ([], [])
    collectors = []
    try:
        collectors = start_collectors(tmp, config, nats_urls)
        urls = [u for _, u in collectors]
        cpids = [p.pid for p, _ in collectors]
        npids = [p.pid for p in nats]
        # Idle cost (leases, empty fetches, the leader's reading) before any event.
        idle0 = cpu_of(cpids + npids)
        time.sleep(idle_s)
        idle1 = cpu_of(cpids + npids)
        recorders = [subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "499",
                                       "-p", str(pid), "-o", f"{perf}-{name}.data"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for name, pid in [(f"c{k + 1}", p) for k, p in enumerate(cpids)]
                     + [(f"n{k + 1}", p) for k, p in enumerate(npids)]] if perf else []
        c0 = cpu_of(cpids + npids)
        t0 = time.monotonic()
        refused, errors = [], []

        def post(k, path):
            try:
                refused.append(measure.post_ndjson(urls[k % len(urls)], path))
            except Exception as e:  # reported below: a run with a failed poster is no result
                errors.append(repr(e))

        threads = [threading.Thread(target=post, args=(k, p)) for k, p in enumerate(post_paths)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise RuntimeError(f"posting failed: {errors}")
        acked = time.monotonic() - t0
        while True:
            total, missing = count(urls[0])
            if total >= n and not missing:
                break
            if time.monotonic() - t0 > 600:
                raise RuntimeError(f"not searchable within 600 s: {total} of {n}, {missing}")
            time.sleep(0.1)
        searchable = time.monotonic() - t0
        c1 = cpu_of(cpids + npids)
        for r in recorders:
            r.send_signal(signal.SIGINT)
            r.wait()
        # Exactly once, through every collector.
        for u in urls:
            total, missing = count(u)
            if (total, missing) != (n, []):
                raise RuntimeError(f"count through {u}: {total} (missing {missing}), want {n}")
        res = {"config": config, "collectors": len(cpids), "nats_nodes": nodes,
               "replicas": replicas, "events": n, "acked_s": round(acked, 2),
               "searchable_s": round(searchable, 2),
               "events_per_s": round(n / searchable), "refused_429": sum(refused)}
        used = {pid: c1[pid] - c0[pid] for pid in c1}
        coll = [used[p] for p in cpids]
        nat = [used[p] for p in npids]
        res["collector_cpu_s"] = [round(x, 2) for x in coll]
        res["nats_cpu_s"] = [round(x, 2) for x in nat]
        res["collector_us_per_event"] = round(sum(coll) / n * 1e6, 2)
        res["nats_us_per_event"] = round(sum(nat) / n * 1e6, 2)
        res["total_us_per_event"] = round((sum(coll) + sum(nat)) / n * 1e6, 2)
        res["idle_collector_cpu_per_s"] = round(
            sum(idle1[p] - idle0[p] for p in cpids) / idle_s, 3)
        res["idle_nats_cpu_per_s"] = round(sum(idle1[p] - idle0[p] for p in npids) / idle_s, 3)
        if nodes:
            # Who led alerting (its reading of the whole stream is in its CPU) and how many
            # partitions each collector indexed.
            views = [get_json(u, "/api/v1/cluster")[1] for u in urls]
            res["alert_leader"] = views[0].get("alert_leader")
            res["partitions_owned"] = [len(v.get("owned") or []) for v in views]
        # Bytes per event, then the queries on settled processes.
        if nodes:
            _, view = get_json(urls[0], "/api/v1/cluster?view=true")
            stream = (view.get("view") or {}).get("stream") or {}
            res["stream_bytes_per_event"] = round(stream.get("bytes", 0) / n, 1)
            res["stream_messages"] = stream.get("messages")
            res["nats_store_bytes_per_event"] = round(dir_bytes(os.path.join(tmp, "nats")) / n, 1)
        settle(cpids + npids)
        for part in ["wal", "index"]:
            b = sum(dir_bytes(os.path.join(tmp, f"c{k + 1}", part)) for k in range(len(cpids)))
            res[f"{part}_bytes_per_event"] = round(b / n, 1)
        res.update(queries(urls[0], n, reps))
        if rebuild_too and nodes:
            res.update(rebuild(tmp, collectors, nats, nats_urls, replicas, n))
        return res
    finally:
        for p, _ in collectors:
            p.terminate()
        for p, _ in collectors:
            p.wait()
        for p in nats:
            p.kill()
            p.wait()


def main():
    global PARTITIONS
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--configs", default="a,b1,b,c")
    ap.add_argument("--agents", type=int, default=64)
    ap.add_argument("--posters", type=int, default=3)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--partitions", type=int, default=PARTITIONS,
                    help="[cluster] partitions (16 as in the tests)")
    ap.add_argument("--idle", type=float, default=5.0, help="seconds of idle CPU measured")
    ap.add_argument("--rebuild", action="store_true",
                    help="in cluster mode, then start one more collector and measure its "
                         "taking partitions over and rebuilding them from the stream")
    ap.add_argument("--perf", metavar="DIR",
                    help="record every process with `perf record -e cpu-clock` while ingesting, "
                         "into DIR/<config>-<round>-<process>.data (inspect with perf report -i)")
    a = ap.parse_args()
    configs = a.configs.split(",")
    PARTITIONS = a.partitions
    for c in configs:
        if c not in CONFIGS:
            raise SystemExit(f"--configs: unknown configuration {c!r} ({', '.join(CONFIGS)})")
    print(json.dumps({"bin": measure.BIN, "events": a.events, "agents": a.agents,
                      "partitions": PARTITIONS,
                      "posters": a.posters, "loadavg_start": os.getloadavg()}), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        ev_path, _, raw_bytes = index_bench.write_events(tmp, a.events, 128)
        posts = spread_events(ev_path, tmp, a.agents, a.posters)
        os.remove(ev_path)
        results = {c: [] for c in configs}
        for r in range(a.rounds):
            for c in configs if r % 2 == 0 else configs[::-1]:
                run_dir = tempfile.mkdtemp(dir=tmp)
                load = os.getloadavg()[0]
                perf = os.path.join(a.perf, f"{c}-{r + 1}") if a.perf else None
                res = run(c, posts, a.events, run_dir, a.idle, a.queries, perf, a.rebuild)
                res["loadavg_1m"] = round((load + os.getloadavg()[0]) / 2, 2)
                res["raw_mb_per_s_per_core"] = round(
                    raw_bytes / 1e6 / (res["total_us_per_event"] * a.events / 1e6), 1)
                results[c].append(res)
                print(json.dumps(res), flush=True)
                shutil.rmtree(run_dir, ignore_errors=True)
        for c, runs in results.items():
            medians = {k: statistics.median(x[k] for x in runs) for k, v in runs[0].items()
                       if isinstance(v, (int, float)) and not isinstance(v, bool)}
            print(json.dumps({"config": c, "runs": len(runs), "median": medians}), flush=True)
    print(json.dumps({"loadavg_end": os.getloadavg()}), flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""What nats-server itself spends per message on the JetStream operations of cluster mode, and
what batching or cumulative acks would save: a companion of bench/cluster_bench.py, with no
collector, on the same NATS configurations (1 node with replicas 1, 3 nodes with replicas 3).

Per configuration, on a fresh NATS store, N event-sized messages (~390 bytes, as a collector
publishes: one event's JSON, `Nats-Msg-Id` header):
1. `publish_1`:   one message per event, pipelined (acks awaited per window of 256, as
                  collector/src/cluster/stream.rs does);
2. `publish_100`: the same events, 100 per message (one message per 100 events);
3. `consume_explicit`: a durable pull consumer, fetches of 1,000, every message acknowledged
                  (as collector/src/cluster/consumer.rs does);
4. `consume_ack_all`: a durable pull consumer with AckPolicy::All, fetches of 1,000, only the
                  last message of each fetch acknowledged (it acknowledges the ones before);
5. `consume_no_ack`: an ephemeral consumer without acks (as the alert leader's feed).
For each, the nats-servers' CPU seconds (utime+stime from /proc, all nodes summed) per event,
in microseconds. The client (Python, nats-py) is slower than the collector's, so the server
sees smaller batches per read than under the collector: the figures are an upper bound of the
server's per-message cost, and the differences between rows are what matters.

Usage: bench/cluster_nats_costs.py [--events 100000] [--rounds 2]
Needs nats-server (Debian's package) and nats-py (pip install nats-py).
"""
import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig

import cluster_bench
import measure

WINDOW = 256


def cpu(procs):
    return sum(measure.cpu_seconds(p.pid) for p in procs)


async def measured(procs, n, work):
    c0, t0 = cpu(procs), time.monotonic()
    await work()
    await asyncio.sleep(1)  # replication of the last writes
    return round((cpu(procs) - c0) / n * 1e6, 2), round(time.monotonic() - t0, 2)


async def one(nodes, replicas, n, tmp):
    procs, urls = cluster_bench.start_nats(tmp, nodes)
    res = {"nats_nodes": nodes, "replicas": replicas, "events": n}
    try:
        nc = await nats.connect(urls)
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="BENCH", subjects=["bench.*"],
                                         num_replicas=replicas, duplicate_window=600))
        await js.add_stream(StreamConfig(name="BATCHED", subjects=["batched.*"],
                                         num_replicas=replicas, duplicate_window=600))
        payload = b'{"id":"bench-1:1","ts":"2026-12-05T10:00:00Z",' + b"x" * 270 + b"}"

        async def publish_1():
            for w in range(0, n, WINDOW):
                acks = [js.publish(f"bench.{i % 16}", payload,
                                   headers={"Nats-Msg-Id": f"bench-{i % 64}:{i}"})
                        for i in range(w, min(n, w + WINDOW))]
                await asyncio.gather(*acks)

        async def publish_100():
            big = b"\n".join([payload] * 100)
            for w in range(0, n // 100, WINDOW):
                acks = [js.publish(f"batched.{i % 16}", big, headers={"Nats-Msg-Id": f"b:{i}"})
                        for i in range(w, min(n // 100, w + WINDOW))]
                await asyncio.gather(*acks)

        async def consume(name, policy, ack):
            sub = await js.pull_subscribe("bench.*", durable=name, stream="BENCH",
                                          config=ConsumerConfig(ack_policy=policy,
                                                                deliver_policy=DeliverPolicy.ALL,
                                                                max_ack_pending=4000))
            got = 0
            while got < n:
                msgs = await sub.fetch(1000, timeout=5)
                got += len(msgs)
                if ack == "each":
                    for m in msgs:
                        await m.ack()
                elif ack == "last":
                    await msgs[-1].ack()

        async def no_ack():
            sub = await js.pull_subscribe("bench.*", durable=None, stream="BENCH",
                                          config=ConsumerConfig(ack_policy=AckPolicy.NONE,
                                                                deliver_policy=DeliverPolicy.ALL))
            got = 0
            while got < n:
                got += len(await sub.fetch(1000, timeout=5))

        steps = [("publish_1", publish_1), ("publish_100", publish_100),
                 ("consume_explicit", lambda: consume("explicit", AckPolicy.EXPLICIT, "each")),
                 ("consume_ack_all", lambda: consume("ackall", AckPolicy.ALL, "last")),
                 ("consume_no_ack", no_ack)]
        for name, work in steps:
            us, wall = await measured(procs, n, work)
            res[f"{name}_nats_us_per_event"] = us
            res[f"{name}_wall_s"] = wall
        info = await js.stream_info("BENCH")
        res["stream_bytes_per_event"] = round(info.state.bytes / n, 1)
        info = await js.stream_info("BATCHED")
        res["batched_stream_bytes_per_event"] = round(info.state.bytes / n, 1)
        await nc.close()
        return res
    finally:
        for p in procs:
            p.kill()
            p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    print(json.dumps({"events": a.events, "loadavg_start": os.getloadavg()}), flush=True)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            order = [(1, 1), (3, 3)] if r % 2 == 0 else [(3, 3), (1, 1)]
            for nodes, replicas in order:
                run_dir = tempfile.mkdtemp(dir=tmp)
                res = asyncio.run(one(nodes, replicas, a.events, run_dir))
                res["loadavg_1m"] = round(os.getloadavg()[0], 2)
                results.setdefault(f"R{replicas}", []).append(res)
                print(json.dumps(res), flush=True)
                shutil.rmtree(run_dir, ignore_errors=True)
    for key, runs in results.items():
        medians = {k: statistics.median(x[k] for x in runs) for k in runs[0]}
        print(json.dumps({"config": key, "runs": len(runs), "median": medians}), flush=True)


if __name__ == "__main__":
    main()

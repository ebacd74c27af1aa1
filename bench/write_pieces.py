#!/usr/bin/env python3
"""Kernel CPU of appending to a file in writes of different sizes, with an fdatasync per group:
the WAL's pattern (`collector/src/wal/mod.rs`, `Wal::sync`). On this VM (Linux 6.18, ext4) a
write of 2 MiB or more cost several times the system CPU per byte of writes of 1 MiB or less,
which is why the WAL hands a group to the kernel in pieces of 1 MiB.

For each piece size: appends --total-mib MiB to a fresh file in the directory given (default:
the system's temporary directory), from buffers filled beforehand, with an fdatasync after each
--group-mib MiB. Prints one JSON line per piece size: wall seconds, system and user CPU seconds.

Usage: bench/write_pieces.py [--dir DIR] [--total-mib 3072] [--group-mib 16] [--pieces-kib 64,1024,2048,16384]
"""
import argparse
import json
import os
import resource
import tempfile
import time


def run(directory, piece, group, total):
    os.sync()
    time.sleep(2)
    bufs = [os.urandom(piece) for _ in range(max(1, (16 << 20) // piece))]
    fd, path = tempfile.mkstemp(dir=directory, prefix="write_pieces.")
    try:
        before, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        written = since_sync = 0
        while written < total:
            os.write(fd, bufs[(written // piece) % len(bufs)])
            written += piece
            since_sync += piece
            if since_sync >= group:
                os.fdatasync(fd)
                since_sync = 0
        os.fdatasync(fd)
        after, wall = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - t0
    finally:
        os.close(fd)
        os.unlink(path)
    return {"piece_kib": piece >> 10, "group_mib": group >> 20, "total_mib": total >> 20,
            "wall_s": round(wall, 2), "sys_s": round(after.ru_stime - before.ru_stime, 2),
            "user_s": round(after.ru_utime - before.ru_utime, 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default=None)
    ap.add_argument("--total-mib", type=int, default=3072)
    ap.add_argument("--group-mib", type=int, default=16)
    ap.add_argument("--pieces-kib", default="64,256,1024,16384")
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    for _ in range(a.rounds):
        for kib in (int(k) for k in a.pieces_kib.split(",")):
            print(json.dumps(run(a.dir, kib << 10, a.group_mib << 20, a.total_mib << 20)),
                  flush=True)


if __name__ == "__main__":
    main()

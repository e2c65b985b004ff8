"""Python partd 1.3 baseline for the canonical workloads (WORKLOADS.md).

Usage: python3 bench.py '<json spec>'
The spec names the workload's shape and the stack: dict, file, buffer, zlib,
snappy or zstd (zstd through partd.Encode with the zstandard module, as
Python partd has no zstd layer). Prints one JSON object with the bytes moved,
the seconds spent inside partd's append and get calls (generating data is not
timed, as in the Go runner), and the peak RSS of the process. The read-back
asks for get_batch keys per get call, as the Go runner does (Spec.GetBatch):
get_batch 1 reads one key per call, as a reducer reads its partition.
"""
import json
import os
import random
import shutil
import sys
import tempfile
import time

import partd


def make_store(stack, path, mem_limit):
    if stack == "dict":
        return partd.Dict()
    if stack == "file":
        return partd.File(path)
    if stack == "buffer":
        return partd.Buffer(partd.Dict(), partd.File(path), available_memory=mem_limit)
    if stack == "zlib":
        return partd.ZLib(partd.File(path))
    if stack == "snappy":
        return partd.Snappy(partd.File(path))
    if stack == "zstd":
        import zstandard
        cctx = zstandard.ZstdCompressor(level=3)
        dctx = zstandard.ZstdDecompressor()
        return partd.Encode(cctx.compress, dctx.decompress, b"".join, partd.File(path))
    raise SystemExit("unknown stack " + stack)


NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
CITIES = ["Berlin", "Lagos", "Lima", "Osaka", "Perth", "Quito", "Tunis", "Oslo"]


def text_bytes(rng, n):
    rows = []
    size = 0
    while size < n:
        row = "%d,%s,%s,%d.%02d,%s\n" % (
            rng.randrange(1_000_000), rng.choice(NAMES), rng.choice(CITIES),
            rng.randrange(10_000), rng.randrange(100), rng.random() < 0.5)
        rows.append(row)
        size += len(row)
    return "".join(rows).encode()[:n]


def peak_rss():
    """VmHWM of this process. (ru_maxrss would include the memory of a large
    parent at fork time.)"""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    spec = json.loads(sys.argv[1])
    keys = ["key-%06d" % i for i in range(spec["keys"])]
    vs, batch, appends = spec["value_size"], spec["batch"], spec["appends"]
    path = spec.get("dir") or tempfile.mkdtemp(suffix=".partd")
    store = make_store(spec["stack"], path, spec.get("mem_limit") or 1e9)
    rng = random.Random(spec.get("seed", 1))
    t_append = 0.0
    appended = 0
    n = 0
    while n < appends:
        size = min(batch, appends - n)
        buf = text_bytes(rng, size * vs) if spec.get("text") else os.urandom(size * vs)
        data = {keys[(n + j) % len(keys)]: buf[j * vs:(j + 1) * vs] for j in range(size)}
        start = time.perf_counter()
        store.append(data)
        t_append += time.perf_counter() - start
        appended += size * vs
        n += size
    t_get = 0.0
    got = 0
    step = spec.get("get_batch", 1000)
    for i in range(0, len(keys), step):
        chunk = keys[i:i + step]
        start = time.perf_counter()
        vals = store.get(chunk)
        t_get += time.perf_counter() - start
        got += sum(len(v) for v in vals)
    peak = peak_rss()
    if not spec.get("dir"):
        shutil.rmtree(path, ignore_errors=True)
    print(json.dumps({"append_bytes": appended, "get_bytes": got, "append_seconds": t_append,
                      "get_seconds": t_get, "peak_rss": peak}))


if __name__ == "__main__":
    main()

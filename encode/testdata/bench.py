"""Python partd baselines for the encode benchmarks (bench_test.go).

Same sizes as the Go benchmarks, over partd.Dict, so the layers are compared
and not the stores. Prints one JSON object of MB/s figures; MB/s counts the
msgpack bytes (Python) or the raw array bytes (Numpy), as the Go
benchmarks' SetBytes do. Usage: bench.py [seconds-per-figure]
"""
import json
import sys
import time

import msgpack
import numpy as np
import partd

KEYS, ROWS, APPENDS_READ = 100, 100, 10
NUMERIC_LEN = 1 << 17


def rows(n, seed):
    out = []
    for i in range(n):
        j = seed * n + i
        # Same map as Go's BenchRow: id, name, score, ok.
        out.append({"id": j, "name": "name-%d" % j, "score": j * 0.5, "ok": j % 3 == 0})
    return out


def batch(seed):
    return {"key-%d" % k: rows(ROWS, seed + k) for k in range(KEYS)}


def size(b):
    return sum(len(msgpack.packb(v, use_bin_type=True)) for v in b.values())


def timeit(fn, nbytes, budget):
    fn()  # warm up
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        el = time.perf_counter() - start
        if el >= budget:
            return nbytes * n / el / 1e6


def main():
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    res = {}

    b = batch(0)
    p = partd.Python(partd.Dict())
    count = [0]

    def app():
        count[0] += 1
        if count[0] % 50 == 0:
            p.drop()
        p.append(b)
    res["msgpack_append"] = timeit(app, size(b), budget)

    p = partd.Python(partd.Dict())
    total = 0
    for i in range(APPENDS_READ):
        bb = batch(i * KEYS)
        total += size(bb)
        p.append(bb)
    keys = ["key-%d" % k for k in range(KEYS)]
    res["msgpack_get"] = timeit(lambda: p.get(keys), total, budget)

    arrays = {"key-%d" % k: np.arange(NUMERIC_LEN, dtype="f8") * k * 0.25 for k in range(8)}
    n = partd.Numpy(partd.Dict())
    count = [0]

    def napp():
        count[0] += 1
        if count[0] % 32 == 0:
            n.drop()
        n.append(arrays)
    res["numpy_append"] = timeit(napp, 8 * NUMERIC_LEN * 8, budget)

    n = partd.Numpy(partd.Dict())
    for _ in range(4):
        n.append(arrays)
    keys = list(arrays)
    res["numpy_get"] = timeit(lambda: n.get(keys), 4 * 8 * NUMERIC_LEN * 8, budget)
    print(json.dumps(res))


if __name__ == "__main__":
    main()

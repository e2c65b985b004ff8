"""Python partd 1.3 baseline for WORKLOADS.md W6 (text values over File).

    python3 bench_w6.py DATAFILE ALGO KEYS VALUESIZE BATCH TMPDIR

DATAFILE holds the workload's values in append order (written by
BenchmarkW6Python in compress/bench_test.go): value i goes to key
"key-%06d" % (i % KEYS), BATCH values per append call. ALGO is zstd
(zstandard.compress/decompress through partd.Encode, as partd has no zstd
layer), snappy (partd.Snappy) or zlib (partd.ZLib), each over
partd.File(TMPDIR/store). Prints one JSON line: append and get MB/s of
payload (data already in memory; interpreter start-up not counted), the same
per second of CPU time (appendCPU, getCPU), and the compression ratio
(payload bytes / bytes stored).
"""
import json
import os
import sys
import time

import partd


def layer(algo, store):
    if algo == 'zstd':
        import zstandard
        return partd.Encode(zstandard.compress, zstandard.decompress, b''.join, store)
    if algo == 'snappy':
        return partd.Snappy(store)
    if algo == 'zlib':
        return partd.ZLib(store)
    raise SystemExit('unknown algorithm ' + algo)


def main():
    data_file, algo = sys.argv[1], sys.argv[2]
    nkeys, size, batch = map(int, sys.argv[3:6])
    tmp = sys.argv[6]
    with open(data_file, 'rb') as f:
        data = f.read()
    keys = ['key-%06d' % i for i in range(nkeys)]
    n = len(data) // size
    batches = []
    for start in range(0, n, batch):
        batches.append({keys[i % nkeys]: data[i * size:(i + 1) * size]
                        for i in range(start, min(start + batch, n))})
    store = partd.File(os.path.join(tmp, 'store'))
    p = layer(algo, store)
    t0, c0 = time.perf_counter(), time.process_time()
    for b in batches:
        p.append(b)
    t1, c1 = time.perf_counter(), time.process_time()
    got = p.get(keys)
    t2, c2 = time.perf_counter(), time.process_time()
    if sum(map(len, got)) != len(data):
        raise SystemExit('got %d bytes back, want %d' % (sum(map(len, got)), len(data)))
    stored = sum(map(len, store.get(keys)))
    mb = len(data) / 1e6
    print(json.dumps({'append': mb / (t1 - t0), 'get': mb / (t2 - t1),
                      'appendCPU': mb / (c1 - c0), 'getCPU': mb / (c2 - c1),
                      'ratio': len(data) / stored}))


if __name__ == '__main__':
    main()

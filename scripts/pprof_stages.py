#!/usr/bin/python3
"""Where the time of a dataframe shuffle goes: sums a Go CPU profile's samples
by stage of cmd/partd/internal/dfshuffle (Parquet decode, partitioning, IPC,
ZeroMQ, the store, Parquet encode, checksums, GC).

Usage: pprof_stages.py TESTBINARY PROFILE

    go test -c -o /tmp/dfs.test ./cmd/partd/internal/dfshuffle
    (cd cmd/partd/internal/dfshuffle && /tmp/dfs.test -test.run '^$' \
        -test.bench 'W7/partd$' -test.benchtime 1x -test.cpuprofile /tmp/w7.prof)
    scripts/pprof_stages.py /tmp/dfs.test /tmp/w7.prof

Each sample goes to the first stage whose functions are on its stack.
"""
import collections
import re
import subprocess
import sys

STAGES = [
    ("GC", ["runtime.gcBgMarkWorker", "runtime.bgsweep", "runtime.bgscavenge", "runtime.gcDrain"]),
    ("checksums (map and reduce)", ["dfshuffle.RowChecksums"]),
    ("partition check (reduce)", ["dfshuffle.reduceBatches;arrowstore.HashRows"]),
    ("Parquet decode", ["dfshuffle.(*parquetSource).next", "dfshuffle.openParquet"]),
    ("partitioning: hash and compute.Take", ["arrowstore.Partition", "arrowstore.HashRows", "arrow/compute.execInternal"]),
    ("partitioning: joining the pieces", ["dfshuffle.joinBatches"]),
    ("IPC encode", ["arrowstore.(*Store).encode"]),
    ("IPC decode", ["arrowstore.(*Reader).Next", "arrowstore.(*decoder)"]),
    ("Parquet encode and write", ["dfshuffle.(*partWriter)", "dfshuffle.(*parquetFile)", "dfshuffle.writeEmptyPartition"]),
    ("client and ZeroMQ", ["client.(*Client)", "partd/client.", "pebbe/zmq4", "runtime.cgocall", "dfshuffle.(*prefetcher)"]),
    ("server and store (Buffer, Dict, Log)", ["server.(*Server)", "server.(*owner)", "partd/server.", "partd.(*Buffer)", "partd.(*Dict)", "partd.(*Log)", "partd/internal/arena"]),
    ("planning (footers, samples)", ["dfshuffle.NewPlan"]),
    ("cleanup", ["dfshuffle.Cleanup"]),
]


def short(frame):
    return re.sub(r"^github.com/[^/]+/[^/]+/(v\d+/)?", "", frame.strip())


def main():
    binary, prof = sys.argv[1], sys.argv[2]
    out = subprocess.run(["go", "tool", "pprof", "-traces", binary, prof], capture_output=True, text=True, check=True).stdout
    totals = collections.Counter()
    total = 0.0
    for block in re.split(r"-+\+-+", out):
        lines = [l for l in block.strip().splitlines() if l.strip()]
        if not lines:
            continue
        m = re.match(r"\s*([\d.]+)(ms|s)\s+(.*)", lines[0])
        if not m:
            continue
        secs = float(m.group(1)) * (0.001 if m.group(2) == "ms" else 1)
        frames = [m.group(3)] + lines[1:]
        chain = ";".join(reversed([short(f) for f in frames]))
        total += secs
        for name, pats in STAGES:
            if any(all(p in chain for p in pat.split(";")) for pat in pats):
                totals[name] += secs
                break
        else:
            totals["other: " + short(frames[-1])[:60]] += secs
    print(f"total {total:.2f}s of CPU")
    for name, secs in totals.most_common(20):
        print(f"{secs:7.2f}s {100 * secs / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()

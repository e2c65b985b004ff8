#!/usr/bin/python3
"""W7 on Dask: its disk shuffle (which runs on Python partd) of W7's rows.

Usage: w7_dask.py ROWS

Builds ROWS rows of W7's 8 columns in pandas (Dask cannot read W7's Parquet
files here: Debian has no pyarrow), in 4 partitions, then times
ddf.shuffle("key", shuffle="disk", npartitions=64) and reading every
partition back, as WORKLOADS.md describes. Prints one JSON line:
{"rows": …, "partitions": 64, "seconds": …, "peak_rss": …} where seconds is
the shuffle and the read-back only, and peak_rss the process's peak resident
set in bytes. Needs python3-dask (Debian's 2022.12).

`partd bench --workload W7 --python` (embedded in the binary) and
BenchmarkW7/dask (cmd/partd/internal/dfshuffle) run it beside partd.
"""
import json
import resource
import sys
import tempfile
import time

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd


def build(rows):
    rng = np.random.default_rng(7)
    tags = np.array(["tag-%d" % k for k in range(5000)] + ["hot"], dtype=object)
    tag_idx = np.where(rng.random(rows) < 0.1, 5000, rng.integers(0, 5000, rows))
    # Strings of 8 to 23 bytes, every 13th NULL: drawn from a pool, as
    # building ten million distinct Python strings would take longer than
    # the shuffle.
    pool = np.array(
        ["%016x%08x" % (rng.integers(0, 2**63), k) for k in range(1 << 20)], dtype=object
    )
    lens = 8 + np.arange(rows) % 16
    s = pd.Series([pool[k % len(pool)][: lens[k]] for k in range(rows)], dtype=object)
    s[np.arange(rows) % 13 == 0] = None
    n = pd.array(rng.integers(0, 1_000_000, rows).astype(np.int32), dtype="Int32")
    n[np.arange(rows) % 7 == 0] = pd.NA
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "key": rng.integers(0, 200_000, rows),
            "tag": tags[tag_idx],
            "x": rng.random(rows) * 1e6,
            "s": s,
            "ts": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 31_536_000_000_000, rows), unit="us"),
            "flag": rng.random(rows) < 0.5,
            "n": n,
        }
    )


def main():
    rows = int(sys.argv[1])
    ddf = dd.from_pandas(build(rows), npartitions=4)
    with tempfile.TemporaryDirectory() as tmp, dask.config.set(temporary_directory=tmp):
        start = time.perf_counter()
        out = ddf.shuffle("key", shuffle="disk", npartitions=64)
        lens = out.map_partitions(len).compute()
        seconds = time.perf_counter() - start
    if int(lens.sum()) != rows:
        sys.exit("dask shuffled %d rows of %d" % (int(lens.sum()), rows))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"rows": rows, "partitions": 64, "seconds": seconds, "peak_rss": peak}))


if __name__ == "__main__":
    main()

"""Interop checks between Python partd 1.3 and the Go encode package.

Usage: interop.py MODE DIR

Modes that write (for Go to read):
  msgpack-write   partd.Python(partd.File(DIR)) appends VALUES, two appends per key
  numpy-write     partd.Numpy(partd.File(DIR)) appends numeric arrays, two appends per key
Modes that read what Go wrote (exit status 1 and a message on any difference):
  msgpack-read    partd.Python reads VALUES, compared exactly (types included),
                  and each key's raw bytes must equal Python's own encoding
  numpy-read      partd.Numpy reads the arrays; dtype and values must match
  columns-read    partd.Numpy reads the columns of the table "df" written by Columns

The same values are spelled out in python_test.go; keep them in step.
"""
import math
import struct
import sys

import msgpack
import numpy as np
import partd

BIG = bytes(range(256)) * 300  # 76,800 bytes: a bin32

VALUES = {
    "ints": [[0, 1, -1, 127, 128, 255, 256, -32, -33, -128, -129, 65535, 65536],
             [2**31 - 1, -2**31, 2**32, -2**31 - 1, 2**63 - 1, -2**63, 2**64 - 1]],
    "floats": [[0.0, -1.5, 1e300, -2.5e-300, math.inf, -math.inf], [3.25]],
    "strs": [["", "a", "héllo", "日本語", "x" * 31, "y" * 32, "z" * 300], ["\x00nul"]],
    "bytes": [[b"", b"\x00\xff", b"abc", BIG], [b"tail"]],
    "bools": [[True, False], [False]],
    "nil": [[None, None], [None]],
    "nested": [[[1, [2, [3, []]]], [], ["x", b"y", None]], [[[[[]]]]]],
    "maps": [[{"a": 1, "b": [1, "x"], "c": {"d": None, "e": 2.5}}], [{}, {"k": b"v"}]],
    "mixed": [[1, "a", b"b", 2.5, True, None, [1], {"k": "v"}], [-7]],
    "tup/le": [[1, 2], [3]],
}

PICKLED = {"pickled": [{1, 2, 3}]}  # a set: msgpack fails, partd.Python pickles it

NUMPY_TYPES = ["i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f4", "f8"]
N = 1000
SPLIT = 600


def numpy_expected(t):
    i = np.arange(N, dtype="i8")
    if t.startswith("f"):
        return (i.astype("f8") * 0.25 - 3).astype(t)
    return (i * 37 - 500).astype(t)


def key(k):
    """Go's "a/b" is Python's tuple key ("a", "b")."""
    return tuple(k.split("/")) if "/" in k else k


def same(a, b, path="value"):
    """Exact equality: types must match too (1 is not 1.0 nor True)."""
    if type(a) is not type(b):
        return "%s: got %r (%s), want %r (%s)" % (path, a, type(a).__name__, b, type(b).__name__)
    if isinstance(a, list):
        if len(a) != len(b):
            return "%s: got %d elements, want %d" % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            d = same(x, y, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    if isinstance(a, dict):
        if sorted(a) != sorted(b):
            return "%s: keys %r, want %r" % (path, sorted(a), sorted(b))
        for k in a:
            d = same(a[k], b[k], "%s[%r]" % (path, k))
            if d:
                return d
        return None
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return None
    if a != b:
        return "%s: got %r, want %r" % (path, a, b)
    return None


def frame(b):
    return struct.pack("<Q", len(b)) + b


def main():
    mode, path = sys.argv[1], sys.argv[2]
    errors = []
    if mode == "msgpack-write":
        p = partd.Python(partd.File(path))
        for k, appends in list(VALUES.items()) + list(PICKLED.items()):
            for v in appends:
                p.append({key(k): v})
    elif mode == "msgpack-read":
        f = partd.File(path)
        p = partd.Python(f)
        for k, appends in VALUES.items():
            want = sum(appends, [])
            got = p.get(key(k))
            d = same(got, want, k)
            if d:
                errors.append(d)
            raw = f.get(key(k))
            # Maps are written with sorted keys; so are VALUES' dicts.
            exp = b"".join(frame(msgpack.packb(v, use_bin_type=True)) for v in appends)
            if raw != exp:
                errors.append("%s: Go wrote %s, Python writes %s" % (k, raw[:80].hex(), exp[:80].hex()))
    elif mode == "numpy-write":
        p = partd.Numpy(partd.File(path))
        for t in NUMPY_TYPES:
            a = numpy_expected(t)
            p.append({t: a[:SPLIT]})
            p.append({t: a[SPLIT:]})
        p.append({("sub", "f8"): numpy_expected("f8")})
        p.append({"mix": numpy_expected("f8")})
    elif mode == "numpy-read":
        p = partd.Numpy(partd.File(path))
        for t in NUMPY_TYPES + ["sub/f8"]:
            want = numpy_expected(t.split("/")[-1])
            got = p.get(key(t))
            if got.dtype != want.dtype:
                errors.append("%s: dtype %s, want %s" % (t, got.dtype.str, want.dtype.str))
            elif not np.array_equal(got, want):
                errors.append("%s: values differ: %r vs %r" % (t, got[:5], want[:5]))
    elif mode == "columns-read":
        p = partd.Numpy(partd.File(path))
        n = 500
        i = np.arange(n, dtype="i8")
        want = {
            "id": i,
            "x": i.astype("f8") / 8,
            "small": (i % 256).astype("u1"),
            "name": np.array(["name-%d" % j for j in range(n)], dtype="O"),
            "blob": np.array([bytes([j % 256]) * (j % 5) for j in range(n)], dtype="O"),
        }
        for col, w in want.items():
            got = p.get(("df", col))
            if got.dtype != w.dtype:
                errors.append("df/%s: dtype %s, want %s" % (col, got.dtype.str, w.dtype.str))
            elif w.dtype == "O":
                d = same(list(got), list(w), "df/" + col)
                if d:
                    errors.append(d)
            elif not np.array_equal(got, w):
                errors.append("df/%s: values differ" % col)
    else:
        errors.append("unknown mode " + mode)
    if errors:
        print("\n".join(errors))
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()

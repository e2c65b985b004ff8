"""Cross-check the Go compress layers against Python partd 1.3.

    python3 interop.py write ALGO STOREDIR SPECDIR
        apply the appends and sets described in SPECDIR to
        partd.<ALGO>(partd.File(STOREDIR))
    python3 interop.py read ALGO STOREDIR SPECDIR
        read every key of SPECDIR through partd.<ALGO>(partd.File(STOREDIR))
        and compare it byte for byte with its expected value

ALGO is ZLib, Snappy, or Zstd: zstandard.compress/decompress through
partd.Encode, which reads what the Go Zstd layer writes. SPECDIR, written by compress/python_test.go, holds
keys.txt (one key per line, "/" separating the parts of a tuple key), the
appends a.<key index>.<append index>, the sets s.<key index> (applied after
every append) and the expected values e.<key index>.
Exits 1 and prints what differs on any mismatch.
"""
import os
import sys

import partd


def key_of(line):
    return tuple(line.split('/')) if '/' in line else line


def read_file(path):
    with open(path, 'rb') as f:
        return f.read()


def main():
    mode, algo, store_dir, spec = sys.argv[1:5]
    with open(os.path.join(spec, 'keys.txt')) as f:
        keys = [line.rstrip('\n') for line in f if line.rstrip('\n')]
    if algo == 'Zstd':
        import zstandard
        p = partd.Encode(zstandard.compress, zstandard.decompress, b''.join,
                         partd.File(store_dir))
    else:
        p = getattr(partd, algo)(partd.File(store_dir))
    if mode == 'write':
        i = 0
        while True:
            batch = {}
            for ki, k in enumerate(keys):
                path = os.path.join(spec, 'a.%d.%d' % (ki, i))
                if os.path.exists(path):
                    batch[key_of(k)] = read_file(path)
            if not batch:
                break
            p.append(batch)
            i += 1
        for ki, k in enumerate(keys):
            path = os.path.join(spec, 's.%d' % ki)
            if os.path.exists(path):
                p.iset(key_of(k), read_file(path))
        return 0
    if mode == 'read':
        bad = 0
        got = p.get([key_of(k) for k in keys])
        for ki, (k, g) in enumerate(zip(keys, got)):
            want = read_file(os.path.join(spec, 'e.%d' % ki))
            if g != want:
                bad += 1
                print('key %r: got %d bytes %r..., want %d bytes %r...'
                      % (k, len(g), g[:20], len(want), want[:20]))
        print('%d keys checked, %d differ' % (len(keys), bad))
        return 1 if bad else 0
    print('unknown mode', mode)
    return 2


if __name__ == '__main__':
    sys.exit(main())

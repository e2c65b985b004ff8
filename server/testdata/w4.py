"""W4 (server-shuffle, WORKLOADS.md) and the small-message rate for
Python partd's zmq Server and Client, driven by server/bench_test.go.

usage:
  w4.py server                       serve a partd.Dict; print the port; run until stdin closes
  w4.py client ADDR SEED APPENDS KEYS BATCH VALUE
                                     pregenerate APPENDS values of VALUE bytes over KEYS keys in
                                     batches of BATCH (W4: 16384 256 256 4096); print "ready";
                                     wait for a line; append them; print "done"
  w4.py reader ADDR KEYS             print "ready"; wait for a line; get every key (16 per get);
                                     print "done BYTES"
  w4.py small ADDR N                 append N single 100-byte values, one per request; print
                                     "done SECONDS" (time of the appends only)

Values are random bytes from a fixed seed (Python's generator, not Go's: the
bytes differ, the sizes and the incompressibility do not).
"""
import random
import sys
import time

def key(i):
    return 'key-%06d' % i


def client(addr, seed, appends, nkeys, batch, value):
    from partd.zmq import Client
    r = random.Random(seed)
    batches = []
    for n in range(0, appends, batch):
        size = min(batch, appends - n)
        buf = r.randbytes(size * value)
        batches.append({key((n + j) % nkeys): buf[j * value:(j + 1) * value] for j in range(size)})
    c = Client(addr)
    print('ready', flush=True)
    sys.stdin.readline()
    for b in batches:
        c.append(b)
    c.get([key(0)])  # Python's append returns before the server applied it: wait for the last one
    print('done', flush=True)
    sys.stdin.readline()


def reader(addr, nkeys):
    from partd.zmq import Client
    c = Client(addr)
    print('ready', flush=True)
    sys.stdin.readline()
    total = 0
    keys = [key(i) for i in range(nkeys)]
    for i in range(0, len(keys), 16):
        total += sum(map(len, c.get(keys[i:i + 16])))
    print('done %d' % total, flush=True)
    sys.stdin.readline()


def small(addr, n):
    from partd.zmq import Client
    c = Client(addr)
    v = random.Random(1).randbytes(100)
    c.append({'warm': v})
    t = time.perf_counter()
    for i in range(n):
        c.append({'small': v})
    c.get(['small'])
    print('done %.6f' % (time.perf_counter() - t), flush=True)


def server():
    import partd
    from partd.zmq import Server
    s = Server(partd.Dict(), start=True)
    print(int(s.address.rsplit(b':', 1)[1]), flush=True)
    sys.stdin.read()
    s.close()


def main():
    mode = sys.argv[1]
    if mode == 'server':
        server()
    elif mode == 'client':
        client(sys.argv[2], *map(int, sys.argv[3:8]))
    elif mode == 'reader':
        reader(sys.argv[2], int(sys.argv[3]))
    elif mode == 'small':
        small(sys.argv[2], int(sys.argv[3]))
    else:
        raise SystemExit('unknown mode ' + mode)


if __name__ == '__main__':
    main()

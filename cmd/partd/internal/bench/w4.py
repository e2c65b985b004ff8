"""W4 (server-shuffle, WORKLOADS.md) on Python partd 1.3's zmq Server
and Client, driven by `partd bench --python` (internal/bench/python.go).

usage:
  w4.py server DIR                  serve partd.Buffer(Dict, File(DIR), 1 GB) (Python's default
                                    server store, with partd serve's memory limit); print the port;
                                    serve until stdin closes; print {"peak_rss": bytes}
  w4.py client ADDR SEED SPEC_JSON  generate the client's batches, then append them;
                                    print {"start": t, "end": t, "bytes": n} (time.time())
  w4.py reader ADDR SPEC_JSON       get every key; print {"bytes": n, "seconds": s}

Values are random bytes (os.urandom): the sizes and the incompressibility are
those of the Go run, the bytes are not.
"""
import json
import os
import sys
import time


def peak_rss():
    # VmHWM, not getrusage: the rusage of a process started by a Go program
    # counts the parent's memory at the fork.
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def keys(spec):
    return ["key-%06d" % i for i in range(spec["keys"])]


def server(path):
    import partd
    from partd.zmq import Server
    s = Server(partd.Buffer(partd.Dict(), partd.File(path), available_memory=1e9), start=True)
    print(int(s.address.rsplit(b":", 1)[1]), flush=True)
    sys.stdin.read()
    rss = peak_rss()
    s.close()
    print(json.dumps({"peak_rss": rss}), flush=True)


def client(addr, seed, spec):
    from partd.zmq import Client
    ks = keys(spec)
    vs, batch, appends = spec["value_size"], spec["batch"], spec["appends"]
    batches = []
    n = 0
    while n < appends:
        size = min(batch, appends - n)
        buf = os.urandom(size * vs)
        batches.append({ks[(n + j) % len(ks)]: buf[j * vs:(j + 1) * vs] for j in range(size)})
        n += size
    c = Client(addr)
    start = time.time()
    for b in batches:
        c.append(b)
    end = time.time()
    print(json.dumps({"start": start, "end": end, "bytes": appends * vs}), flush=True)


def reader(addr, spec):
    from partd.zmq import Client
    ks = keys(spec)
    step = spec["get_batch"]
    c = Client(addr)
    got = 0
    start = time.perf_counter()
    for i in range(0, len(ks), step):
        got += sum(len(v) for v in c.get(ks[i:i + step]))
    print(json.dumps({"bytes": got, "seconds": time.perf_counter() - start}), flush=True)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "server":
        server(sys.argv[2])
    elif mode == "client":
        client(sys.argv[2].encode(), int(sys.argv[3]), json.loads(sys.argv[4]))
    elif mode == "reader":
        reader(sys.argv[2].encode(), json.loads(sys.argv[3]))
    else:
        raise SystemExit("unknown mode " + mode)

"""Python partd's zmq Server over a partd.Dict, for the Go interop tests.

Prints the port it listens on (its bind= argument is broken on Python 3, so
it picks one), serves until stdin is closed, then prints the store's
contents as JSON (tuple keys joined by "/", values hex-encoded) and exits.
"""
import json
import sys

import partd
from partd.zmq import Server


def main():
    s = Server(partd.Dict(), start=True)
    port = int(s.address.rsplit(b':', 1)[1])
    print(port, flush=True)
    sys.stdin.read()
    data = {}
    for k, vs in s.partd.data.items():
        if isinstance(k, tuple):
            k = '/'.join(p.decode() if isinstance(p, bytes) else str(p) for p in k)
        elif isinstance(k, bytes):
            k = k.decode()
        data[k] = b''.join(vs).hex()
    s.close()
    print(json.dumps(data), flush=True)


if __name__ == '__main__':
    main()

"""Python partd's zmq Client against a partd server, for the Go interop tests.

usage: pyclient.py ADDRESS MODE
  ops     appends, gets (multi-key, tuple keys, binary values), delete, iset;
          prints a JSON object of what it saw (values hex-encoded) and the
          values it stored, and leaves them on the server
  drop    drops the store, prints what get returns afterwards
  badkey  sends an invalid key, shows the next call raising and the one
          after it working again (the protocol stays in step)
"""
import json
import random
import sys

from partd.zmq import Client


def hexed(v):
    if isinstance(v, list):
        return [hexed(x) for x in v]
    return v.hex()


def main():
    addr, mode = sys.argv[1], sys.argv[2]
    c = Client(addr)
    out = {}
    if mode == 'ops':
        r = random.Random(42)
        big = bytes(r.getrandbits(8) for _ in range(300000))
        b1 = bytes(r.getrandbits(8) for _ in range(1000)) + b'\x00\xff'
        b2 = bytes(range(256))
        c.append({'x': b'Hello ', 'y': b'123'})
        c.append({'x': b'world!', 'y': b'456'})
        out['get_x'] = hexed(c.get('x'))
        out['multi'] = hexed(c.get(['x', 'y', 'missing', 'x']))
        c.append({('a', 'b'): b1, ('a', 'c'): b2})
        c.append({('a', 'b'): b2})
        out['tuple'] = hexed(c.get([('a', 'b'), ('a', 'c')]))
        c.append({'big': big[:100000]})
        c.append({'big': big[100000:]})
        out['big_equal'] = c.get('big') == big
        c.append({'gone': b'soon', 'gone2': b'also'})
        c.delete(['gone', 'gone2', 'never-existed'])
        out['after_delete'] = hexed(c.get(['gone', 'gone2', 'x']))
        c.iset('s', b'set-value')
        out['iset'] = hexed(c.get('s'))
        c.append({'empty': b''})
        out['empty'] = hexed(c.get('empty'))
        out['stored'] = {'x': hexed(b'Hello world!'), 'y': hexed(b'123456'),
                         'a/b': hexed(b1 + b2), 'a/c': hexed(b2),
                         'big': hexed(big), 's': hexed(b'set-value')}
    elif mode == 'drop':
        c.drop()
        out['after_drop'] = hexed(c.get(['x', ('a', 'b'), 'big']))
    elif mode == 'badkey':
        c.append({'..': b'v'})        # returns at once, as Python's client does
        try:
            c.append({'ok1': b'1'})   # reads the error reply instead of an ack
            out['second_call'] = 'no error'
        except AssertionError:
            out['second_call'] = 'AssertionError'
        c.append({'ok2': b'2'})
        out['third_call'] = hexed(c.get('ok2'))
        out['ok1'] = hexed(c.get('ok1'))
    else:
        raise SystemExit('unknown mode ' + mode)
    print(json.dumps(out), flush=True)
    c.close()


if __name__ == '__main__':
    main()

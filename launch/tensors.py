"""Checks on checkpoints for the launch/ trial scripts (standard library only).

  tensors.py equal A B          1 if the two safetensors files hold the same tensors bit for bit
  tensors.py difference A B     relative L2 difference of B's parameters from A's
  tensors.py reported S E       1 if summary.json S reports the test metrics of the
                                `mtl-worker evaluate --split test` output E: the same tasks and
                                metrics, each equal up to summation order (relative 1e-6: a run
                                on several ranks sums its test loss over their shards)
"""
import array
import json
import math
import struct
import sys


def read(path):
    with open(path, 'rb') as f:
        b = f.read()
    n = struct.unpack('<Q', b[:8])[0]
    header = json.loads(b[8:8 + n])
    header.pop('__metadata__', None)
    data = b[8 + n:]
    return {k: data[v['data_offsets'][0]:v['data_offsets'][1]] for k, v in header.items()}


def floats(raw):
    a = array.array('f')
    a.frombytes(raw)
    return a


def main(argv):
    what, a, b = argv[1], argv[2], argv[3]
    if what == 'equal':
        x, y = read(a), read(b)
        print(int(x.keys() == y.keys() and all(x[k] == y[k] for k in x)))
    elif what == 'difference':
        x, y = read(a), read(b)
        keys = [k for k in x if not k.startswith('optimizer.')]
        num = sum((p - q) ** 2 for k in keys for p, q in zip(floats(x[k]), floats(y[k])))
        den = sum(p * p for k in keys for p in floats(x[k]))
        print(f'{math.sqrt(num / den):.3g}')
    elif what == 'reported':
        summary, evaluated = json.load(open(a)), json.load(open(b))
        a, b = summary['test'], evaluated['metrics']

        def close(x, y):
            if x is None or y is None:
                return x is None and y is None
            # Training's evaluation and `evaluate` run the same model over the same rows in
            # chunks of different sizes, so the sums differ in their last bits (measured up to
            # 2e-8 relative on adult); another checkpoint's metrics differ by far more.
            return abs(x - y) <= 1e-6 * max(1.0, abs(x), abs(y))
        print(int(a.keys() == b.keys() and all(a[t].keys() == b[t].keys() and all(close(a[t][k], b[t][k]) for k in a[t]) for t in a)))
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main(sys.argv)

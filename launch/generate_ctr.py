"""Writes a generated click-through data set: ROWS training rows and ROWS/20 validation and test
rows each, as tab-separated files with a header, into OUT (train.tsv, validation.tsv, test.tsv).

Columns: click and buy (two binary tasks), I1..I13 (counts: floor(exp(N(mu_k, 1))), mu_k =
0.5 + 0.25 k), C1..C26 (categorical ids in hex; column j has 10^(1 + 4 j / 25) values, 10 up to
100,000, drawn as floor(card * u^2) so that small ids are frequent, as real click logs are).
Labels come from a fixed random teacher: per categorical column a weight per value, one part
shared by both tasks and one part each task's own, plus weights on the standardised log counts:
  click ~ Bernoulli(sigmoid(-1.2 + s + 0.6 c)), buy ~ Bernoulli(sigmoid(-2.5 + 0.8 s + 0.7 b)),
where s, c, b are sums of those weights. The teacher is seeded once (seed 0), the rows of each
file from their own seed, so any ROWS gives the same teacher.
Usage: python3 generate_ctr.py ROWS OUT
"""
import os
import sys

import numpy as np

CATEGORICAL, NUMERIC, BLOCK = 26, 13, 500_000


def teacher():
    rng = np.random.default_rng(0)
    cards = np.round(10 ** (1 + 4 * np.arange(CATEGORICAL) / (CATEGORICAL - 1))).astype(np.int64)
    scale = 1.2 / np.sqrt(CATEGORICAL)
    tables = [(rng.normal(0, scale, c), rng.normal(0, scale, c), rng.normal(0, scale, c)) for c in cards]
    numeric = rng.normal(0, 0.3, (3, NUMERIC))
    return cards, tables, numeric


def block(rng, n, cards, tables, numeric):
    mu = 0.5 + 0.25 * np.arange(NUMERIC)
    counts = np.floor(np.exp(rng.normal(mu, 1.0, (n, NUMERIC)))).astype(np.int64)
    z = (np.log1p(counts) - (mu + 0.1)) / 0.9
    ids = np.empty((n, CATEGORICAL), dtype=np.int64)
    parts = z @ numeric.T  # (n, 3): shared, click's own, buy's own
    for j, c in enumerate(cards):
        ids[:, j] = np.minimum(np.floor(c * rng.random(n) ** 2), c - 1)
        for p in range(3):
            parts[:, p] += tables[j][p][ids[:, j]]
    s, own_c, own_b = parts[:, 0], parts[:, 1], parts[:, 2]
    click = rng.random(n) < 1 / (1 + np.exp(-(-1.2 + s + 0.6 * own_c)))
    buy = rng.random(n) < 1 / (1 + np.exp(-(-2.5 + 0.8 * s + 0.7 * own_b)))
    return np.column_stack([click.astype(np.int64), buy.astype(np.int64), counts, ids])


def write(path, rows, seed, model):
    rng = np.random.default_rng(seed)
    fmt = "\t".join(["%d"] * (2 + NUMERIC) + ["%x"] * CATEGORICAL)
    header = "\t".join(["click", "buy"] + [f"I{k + 1}" for k in range(NUMERIC)] + [f"C{j + 1}" for j in range(CATEGORICAL)])
    tmp = path + ".partial"
    with open(tmp, "w") as f:
        f.write(header + "\n")
        done = 0
        while done < rows:
            n = min(BLOCK, rows - done)
            np.savetxt(f, block(rng, n, *model), fmt=fmt)
            done += n
    os.replace(tmp, path)  # a file is there whole or not at all


def main():
    if len(sys.argv) != 3 or not sys.argv[1].isdigit() or int(sys.argv[1]) < 20:
        sys.exit("usage: generate_ctr.py ROWS OUT (ROWS at least 20)")
    rows, out = int(sys.argv[1]), sys.argv[2]
    os.makedirs(out, exist_ok=True)
    model = teacher()
    for name, n, seed in [("train", rows, 1), ("validation", rows // 20, 2), ("test", rows // 20, 3)]:
        write(os.path.join(out, name + ".tsv"), n, seed, model)
        print(f"wrote {n} rows to {os.path.join(out, name + '.tsv')}", flush=True)


if __name__ == "__main__":
    main()

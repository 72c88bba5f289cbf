"""Reproduce `mtl-worker predict` for a hard-sharing checkpoint with numpy and safetensors alone.

    python examples/predict_numpy.py CHECKPOINT INPUT.csv > predictions.csv

The checkpoint is a safetensors file (README.md, section "Model format"): the parameters as
float32 tensors, weights (out, in); its metadata holds the run's config and, as JSON, the
preprocessing fitted on the training split. INPUT.csv has a header line naming its columns (the
training data's feature columns; label columns are not read). The output has the columns of
`mtl-worker predict` without `line`: per binary task its positive-class probability, per multiclass
or multi-label task one column per class (task:class), per regression task its value.

Covered: hard-sharing, numeric columns (standardised, log_numeric, numeric_bins) and categorical
columns one-hot encoded (`categorical_encoding: onehot`), ReLU or GELU, with or without
layer_norm. Not covered (the script says so): other architectures, embeddings, text and sparse
columns.
"""
import csv
import json
import math
import re
import sys

import numpy as np
from safetensors import safe_open


def features(pre, rows):
    """The model's input, in the program's order: each numeric column's standardised value then
    its bins, then each categorical column's one-hot block, the unknown bucket last."""
    missing = set(pre.get("missing", []))
    blocks = []
    for c in pre["numeric"]:
        xs = []
        for r in rows:
            s = r[c["name"]].strip()
            if s in missing:
                x = c["mean"]  # a missing value counts as the training mean
            else:
                v = float(s)
                x = math.copysign(math.log1p(abs(v)), v) if c.get("log") else v
            xs.append(x)
        x = np.array(xs, dtype=np.float64)
        blocks.append(((x - c["mean"]) / c["std"])[:, None])
        edges = c.get("edges") or []
        for t in range(1, len(edges)):  # piecewise linear encoding of the bins
            lo, hi = edges[t - 1], edges[t]
            v = (x - lo) / (hi - lo)
            if t > 1:
                v = np.where(x < lo, 0.0, v)
            if t < len(edges) - 1:
                v = np.where(x >= hi, 1.0, v)
            blocks.append(v[:, None])
    for c in pre["categorical"]:
        index = {v: i for i, v in enumerate(c["vocabulary"])}
        block = np.zeros((len(rows), len(index) + 1))
        for i, r in enumerate(rows):
            block[i, index.get(r[c["name"]].strip(), len(index))] = 1  # unknown and missing: last
        blocks.append(block)
    return np.hstack(blocks).astype(np.float32)


def mlp(h, tensors, prefix, activation):
    """Hidden layers prefix.K: linear (x W^T + b), optional layer norm, activation; then
    prefix.out when present."""
    k = 0
    while f"{prefix}.{k}.linear.weight" in tensors:
        h = h @ tensors[f"{prefix}.{k}.linear.weight"].T + tensors[f"{prefix}.{k}.linear.bias"]
        if f"{prefix}.{k}.norm.weight" in tensors:
            mean = h.mean(axis=1, keepdims=True)
            var = ((h - mean) ** 2).mean(axis=1, keepdims=True)
            h = (h - mean) / np.sqrt(var + 1e-5) * tensors[f"{prefix}.{k}.norm.weight"] + tensors[f"{prefix}.{k}.norm.bias"]
        h = activation(h)
        k += 1
    if f"{prefix}.out.weight" in tensors:
        h = h @ tensors[f"{prefix}.out.weight"].T + tensors[f"{prefix}.out.bias"]
    return h


def main(checkpoint, path):
    with safe_open(checkpoint, framework="np") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys() if not k.startswith("optimizer.")}
    pre = json.loads(meta["preprocessor"])
    if meta["architecture"] != "hard-sharing":
        sys.exit(f"this example covers hard-sharing, not {meta['architecture']}")
    if pre.get("sparse") or pre["encoding"] != "onehot":
        sys.exit("this example covers numeric and one-hot categorical columns, not embeddings, text or sparse columns")
    found = re.search(r"^\s*activation:\s*([a-z]+)", meta["config"], re.M)
    name = found.group(1) if found else "relu"
    erf = np.vectorize(math.erf)
    activation = {"relu": lambda h: np.maximum(h, 0),
                  "gelu": lambda h: (0.5 * h * (1 + erf(h / math.sqrt(2)))).astype(np.float32)}[name]
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    trunk = mlp(features(pre, rows), tensors, "trunk", activation)
    header, columns = [], []
    for task in pre["tasks"]:
        z = mlp(trunk, tensors, f"head.{task['name']}", activation).astype(np.float64)
        if task["kind"] in ("binary", "multilabel"):
            p = 1 / (1 + np.exp(-z))
        elif task["kind"] == "multiclass":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
        else:  # regression: back from standardised units
            p = z * task["targetStd"] + task["targetMean"]
        if task["kind"] in ("multiclass", "multilabel"):
            header += [f"{task['name']}:{c}" for c in task["classes"]]
        else:
            header.append(task["name"])
        columns.append(p)
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(header)
    for row in np.hstack(columns):
        out.writerow([f"{v:.6g}" for v in row])


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])

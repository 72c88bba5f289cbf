#!/usr/bin/env python3
"""Runs an ONNX export of mtl-worker in ONNX Runtime on the encoded inputs that
`predict --encoded-output` wrote, and compares with predict's own CSV.

Usage: onnx-check.py MODEL.onnx ENCODED.csv PREDICTIONS.csv
Prints one JSON line {"rows", "outputs", "max_abs_diff"}; exits 1 when a value differs by more
than 1e-5 (or a column is missing), 0 otherwise: probabilities absolutely, regression values in
units of the target's standard deviation (the model's own units; the export stores it as
`target_std:TASK` metadata). Needs numpy and onnxruntime.
"""
import csv
import json
import sys

import numpy as np
import onnxruntime as ort


def main():
    model, encoded, predictions = sys.argv[1:4]
    with open(encoded, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    dense_cols = [i for i, h in enumerate(header) if h.startswith("dense:")]
    cat_cols = [i for i, h in enumerate(header) if h.startswith("category:")]
    sparse_col = header.index("sparse") if "sparse" in header else None
    feeds = {"dense": np.array([[float(r[i]) for i in dense_cols] for r in body], dtype=np.float32).reshape(len(body), len(dense_cols))}
    if cat_cols:
        feeds["categories"] = np.array([[int(r[i]) for i in cat_cols] for r in body], dtype=np.int64)
    if sparse_col is not None:
        rs, cs, vs = [], [], []
        for n, r in enumerate(body):
            for pair in r[sparse_col].split():
                c, v = pair.split(":")
                rs.append(n); cs.append(int(c)); vs.append(float(v))
        feeds["sparse_rows"] = np.array(rs, dtype=np.int64)
        feeds["sparse_columns"] = np.array(cs, dtype=np.int64)
        feeds["sparse_values"] = np.array(vs, dtype=np.float32)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    meta = sess.get_modelmeta().custom_metadata_map
    outs = dict(zip(names, sess.run(None, feeds)))
    with open(predictions, newline="") as f:
        pred = list(csv.reader(f))
    ph, pb = pred[0], pred[1:]
    worst = 0.0
    for name, values in outs.items():
        cols = [i for i, h in enumerate(ph) if h == name or h.startswith(name + ":")]
        if len(cols) != values.shape[1]:
            print(json.dumps({"error": f"output {name}: {values.shape[1]} columns, predictions have {len(cols)}"}))
            sys.exit(1)
        expected = np.array([[float(r[i]) for i in cols] for r in pb])
        unit = float(meta.get("target_std:" + name, 1.0))
        worst = max(worst, float(np.max(np.abs(values - expected) / unit)))
    print(json.dumps({"rows": len(body), "outputs": names, "max_abs_diff": worst}))
    sys.exit(0 if worst <= 1e-5 else 1)


if __name__ == "__main__":
    main()

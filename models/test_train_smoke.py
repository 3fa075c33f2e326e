#!/usr/bin/env python3
"""End-to-end smoke test of models/train.py on a small synthetic replay.

Usage: python models/test_train_smoke.py OUT_DIR

It writes a synthetic NPZ + contract into OUT_DIR, trains twice with the same
seed, and checks the exported ONNX: size budget, contract metadata, dynamic
batch dimension, that it ranks better than chance on raw features, and that
the two runs produce identical bytes.  Output ends with "N passed, M failed"
and then, when everything passed, "ONNX=<path>" for the Rust tract test.
"""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx.reference import ReferenceEvaluator

TRAIN_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "train.py")
# Real feature names (the Rust side loads the exported model, and it refuses unknown names);
# the columns are synthetic: two informative signal columns on very different scales, noise,
# a server column (not a signal: no local term of its own) and a constant.
FEATURES = ["affinity.topic.pos.7d", "share.topic.1d", "affinity.author.pos.7d", "user.activity.1h",
            "server.popularity.quantile", "context.hour_cos"]
# Which of them are candidate signals, as the Rust replay writes it (`Feature::is_candidate_signal`).
SIGNAL_MASK = [1, 1, 1, 0, 0, 0]
MAX_MODEL_BYTES = 64 * 1024
K = 10


def make_replay(out_dir, seed=7, requests=300):
    """A replay where positives depend on two signal features on very different scales.

    `affinity.topic.pos.7d` has mean 200 and std 50, so the model only learns it if the
    train-split standardisation (and its fold into the graph) works; a constant column
    exercises the std floor; varying list lengths exercise padding. Labels do not depend on
    the position, so the model has to learn a local term that outweighs the server prior.
    """
    rng = np.random.default_rng(seed)
    lengths = rng.integers(8, 31, requests)
    rows = int(lengths.sum())
    signal, author = rng.normal(200.0, 50.0, rows), rng.uniform(0.0, 1.0, rows)
    features = np.stack([
        signal,
        rng.normal(0.0, 1.0, rows),
        author,
        rng.normal(0.0, 0.01, rows),
        rng.uniform(0.0, 1.0, rows),
        np.ones(rows),
    ], axis=1).astype(np.float32)
    latent = 1.5 * (signal - 200.0) / 50.0 + 3.0 * (author - 0.5) + 0.5 * rng.normal(0.0, 1.0, rows)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    position = np.concatenate([np.arange(n) for n in lengths])
    data_path, contract_path = os.path.join(out_dir, "replay.npz"), os.path.join(out_dir, "contract.json")
    np.savez(
        data_path,
        features=features,
        labels=(latent > 1.6).astype(np.float32),
        offsets=offsets,
        request_ids=np.arange(requests, dtype=np.int64),
        user_ids=rng.integers(0, 40, requests).astype(np.int64),
        timestamps=1.7e12 + np.sort(rng.uniform(0, 8.64e8, requests)),
        split=rng.choice([0, 1, 2], size=requests, p=[0.6, 0.2, 0.2]).astype(np.uint8),
        prior=(-np.log1p(position)).astype(np.float32),
        signal_mask=np.array(SIGNAL_MASK, dtype=np.uint8),
    )
    # The replay's column names beside its NPZ, and the model's contract (here the same columns).
    for path in (os.path.join(out_dir, "replay.contract.json"), contract_path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"version": 2, "features": FEATURES}, f)
    return data_path, contract_path


def ndcg(scores, labels):
    """Binary-gain NDCG@10, written independently of train.py's version."""
    order = np.argsort(-scores, kind="stable")[:K]
    dcg = sum(1.0 / np.log2(i + 2) for i, row in enumerate(order) if labels[row] > 0)
    idcg = sum(1.0 / np.log2(i + 2) for i in range(min(K, int((labels > 0).sum()))))
    return dcg / idcg


def valid_lists(data_path):
    """(features, labels) of each validation request that has a positive."""
    npz = np.load(data_path)
    offsets, lists = npz["offsets"], []
    for r in np.flatnonzero(npz["split"] == 1):
        rows = slice(offsets[r], offsets[r + 1])
        if npz["labels"][rows].sum() > 0:
            lists.append((npz["features"][rows], npz["prior"][rows], npz["labels"][rows]))
    return lists


def random_ndcg(lists, draws=50):
    """Expected NDCG@10 of a random ordering, by Monte Carlo with a fixed seed."""
    rng = np.random.default_rng(0)
    return float(np.mean([ndcg(rng.permutation(len(l)).astype(float), l) for _ in range(draws) for _, _, l in lists]))


def run_train(data_path, contract_path, out_dir, tag, contract_override=None, extra=()):
    onnx_path, report_path = os.path.join(out_dir, f"{tag}.onnx"), os.path.join(out_dir, f"{tag}.json")
    command = [
        sys.executable, TRAIN_PY, "--data", data_path, "--contract", contract_override or contract_path,
        "--out", onnx_path, "--report", report_path, "--seed", "3", "--epochs", "25", "--patience", "6",
        *extra,
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    return result, onnx_path, report_path


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = os.path.abspath(sys.argv[1])
    os.makedirs(out_dir, exist_ok=True)
    results = []

    def check(name, ok, detail=""):
        results.append(bool(ok))
        print(f"{'PASS' if ok else 'FAIL'}  {name}{'  -- ' + str(detail) if detail and not ok else ''}", flush=True)
        return bool(ok)

    data_path, contract_path = make_replay(out_dir)
    first, onnx_path, report_path = run_train(data_path, contract_path, out_dir, "run1")
    if not check("train.py run 1 exits 0", first.returncode == 0, first.stderr[-2000:]):
        print("0 passed, 1 failed")  # nothing else can be checked without a model
        sys.exit(1)
    with open(report_path, encoding="utf-8") as f:
        report = json.load(f)
    with open(onnx_path, "rb") as f:
        payload = f.read()

    check("onnx written", len(payload) > 0)
    check(f"onnx <= {MAX_MODEL_BYTES} bytes", len(payload) <= MAX_MODEL_BYTES, len(payload))
    model = onnx.load_from_string(payload)
    try:
        onnx.checker.check_model(model)
        check("onnx checker accepts the model", True)
    except onnx.checker.ValidationError as error:
        check("onnx checker accepts the model", False, error)
    opset = {o.domain: o.version for o in model.opset_import}.get("", 0)
    check("opset in 13..17", 13 <= opset <= 17, opset)
    ops = {node.op_type for node in model.graph.node}
    # No index-based op (Gather…): corrupted constant indices panic tract when the graph runs.
    allowed = {"Gemm", "Relu", "Constant", "Reshape", "Einsum", "Add", "MatMul", "Mul", "ReduceSum"}
    check("graph uses only the local term's operators", ops <= allowed, ops)

    metadata = {p.key: p.value for p in model.metadata_props}
    contract = json.loads(metadata.get("localrank.contract", "{}"))
    check("contract metadata matches", contract == {"version": 2, "features": FEATURES, "name": "localrank-ranker"}, contract)

    graph_input, graph_output = model.graph.input[0], model.graph.output[0]
    in_dims = graph_input.type.tensor_type.shape.dim
    out_dims = graph_output.type.tensor_type.shape.dim
    check("input is features[N, 6] with dynamic N",
          graph_input.name == "features" and len(in_dims) == 2 and in_dims[0].dim_param == "N"
          and not in_dims[0].HasField("dim_value") and in_dims[1].dim_value == len(FEATURES),
          graph_input)
    check("output is scores[N]", graph_output.name == "scores" and len(out_dims) == 1 and out_dims[0].dim_param == "N",
          graph_output)

    lists = valid_lists(data_path)
    evaluator = ReferenceEvaluator(model)
    local = [evaluator.run(None, {"features": x})[0] for x, _, _ in lists]
    onnx_ndcg = float(np.mean([ndcg(p + term, l) for term, (_, p, l) in zip(local, lists)]))
    baseline = random_ndcg(lists)
    check("prior + exported local term on raw features beats random ordering by 0.15 NDCG@10",
          onnx_ndcg > baseline + 0.15, f"onnx {onnx_ndcg:.4f} vs random {baseline:.4f}")
    without_signals = np.zeros((3, len(FEATURES)), dtype=np.float32)
    without_signals[:, 4:] = [[0.2, 1.0], [0.9, 1.0], [0.5, 1.0]]  # server and context columns only
    check("the local term is exactly 0 for rows without signals",
          np.all(evaluator.run(None, {"features": without_signals})[0] == 0.0))
    check("report's valid NDCG@10 matches the exported graph",
          abs(report["valid_ndcg10"] - onnx_ndcg) < 1e-3, f"report {report['valid_ndcg10']} vs onnx {onnx_ndcg}")
    check("report counts valid requests with a positive", report["valid_requests"] == len(lists), report["valid_requests"])
    check("report's best epoch is one it ran", 1 <= report["best_epoch"] <= len(report["epochs"]), report["best_epoch"])
    check("report's size and sha256 describe the file",
          report["model_bytes"] == len(payload) and report["sha256"] == hashlib.sha256(payload).hexdigest())
    check("constant column reported", report["constant_features"] == ["context.hour_cos"], report["constant_features"])

    # Bitwise reproducibility: same data + seed must give the same bytes and report.
    second, second_onnx, second_report = run_train(data_path, contract_path, out_dir, "run2")
    if check("train.py run 2 exits 0", second.returncode == 0, second.stderr[-2000:]):
        with open(second_onnx, "rb") as f:
            check("two runs give identical .onnx bytes", f.read() == payload)
        with open(second_report, encoding="utf-8") as f:
            check("two runs give identical reports", json.load(f) == report)

    # A deeper g, in an ensemble: the export stacks the members' middle layers into one
    # batched product, and train.py refuses to write a graph that drifts from what it trained.
    deep, deep_onnx, _ = run_train(data_path, contract_path, out_dir, "deep",
                                   extra=("--hidden", "12,6", "--ensemble", "2", "--epochs", "3"))
    if check("a two-member ensemble of two hidden layers exports", deep.returncode == 0, deep.stderr[-2000:]):
        deep_model = onnx.load(deep_onnx)
        deep_ops = {node.op_type for node in deep_model.graph.node}
        check("its graph uses only the local term's operators", deep_ops <= allowed, deep_ops)
        x = lists[0][0]
        with_signals = ReferenceEvaluator(deep_model).run(None, {"features": x})[0]
        check("and scores every row", with_signals.shape == (len(x),) and np.isfinite(with_signals).all())

    bad_contract = os.path.join(out_dir, "bad-contract.json")
    with open(bad_contract, "w", encoding="utf-8") as f:
        json.dump({"version": 2, "features": FEATURES[:-1] + ["recency.topic"]}, f)
    bad, _, _ = run_train(data_path, contract_path, out_dir, "bad", contract_override=bad_contract)
    check("a contract naming a column the replay lacks is rejected",
          bad.returncode != 0 and "the replay has no column ['recency.topic']" in bad.stderr, bad.stderr[-500:])

    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        sys.exit(1)
    print(f"ONNX={onnx_path}")


if __name__ == "__main__":
    main()

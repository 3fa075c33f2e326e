#!/usr/bin/env python3
"""Train localrank's on-device reranker and export it as a small ONNX graph.

Input is a replay (one row per candidate): the training table as Parquet, a file
written by the Rust replay CLI or a folder of the parts a Ray job wrote
(models/ray_replay.py), or the CLI's NPZ (requests delimited by `offsets`, its
column names in the `.contract.json` beside it); and the contract of the model to
train (which of those columns it reads, in order).
The output is an ONNX model that tract-onnx loads in the browser: it takes *raw*
feature rows `features[N, F]` and returns one *local term* per row, `scores[N]`.

The ranker scores a candidate -ln(1 + server rank) + local term, and sets the
local term to 0 where none of the row's signal features is non-zero (contract
version 2, the do-no-harm form).  So the model learnt here is the local term
alone: sum_k x_k * g_k(x) over the signal columns x_k (raw, so 0 stays 0), where
g is an MLP over all columns.  It is exactly 0 without signals, and moves a
candidate in proportion to them.  The replay writes each row's prior (`prior`)
and which columns are signals (`signal_mask`), so neither rule is restated here.

Everything here aims at byte-for-byte reproducible output for a given input and
seed, so that a retrained model only changes when its data or code did.
"""

import argparse
import copy
import hashlib
import io
import json
import os
import random
import re
import sys
import warnings
from dataclasses import dataclass

import numpy as np
import onnx
import torch
from torch import nn

# tract-onnx 0.23 runs opset 13 graphs; 13 is also the first opset where
# Squeeze takes its axes as an input, which is what the exporter emits.
OPSET = 13
MAX_MODEL_BYTES = 64 * 1024
NDCG_K = 10
STD_FLOOR = 1e-6
# The least a `--negative` multiplier's g is, per unit of its feature (of its training std when
# it varies): one hide of an author (affinity.author.neg 1.39, count.author.hide 0.69) then
# costs that author's other posts at least tanh(1.04) = 0.78 with `--bound 1`, enough to drop
# a post below the next one even at the top of a list (ln 3 - ln 2 = 0.41, ln 4 - ln 2 = 0.69
# past a pinned one).
MIN_PENALTY = 0.5
SPLIT_TRAIN, SPLIT_VALID, SPLIT_TEST = 0, 1, 2
CONTRACT_KEY = "localrank.contract"
CONTRACT_VERSION = 2
SCORE_CHUNK_ROWS = 65536


class TrainError(Exception):
    """A problem with the inputs or the result that the caller must fix; no traceback needed."""


@dataclass
class Dataset:
    """Candidate rows (the model's columns only) and the per-request structure from the replay NPZ."""

    features: np.ndarray  # float32 [rows, F]
    labels: np.ndarray  # float32 [rows]
    offsets: np.ndarray  # int64 [R + 1]
    split: np.ndarray  # uint8 [R]
    prior: np.ndarray  # float32 [rows]: the ranker's server prior of each row
    signals: np.ndarray  # bool [F]: which columns are candidate signals (the multipliers)

    def requests_with_positive(self, split):
        """Indices of the requests in `split` that hold at least one positive.

        Requests without a positive have neither a ListNet target nor an NDCG,
        so both training and evaluation drop them.
        """
        ids = np.flatnonzero(self.split == split)
        positives_before = np.concatenate([[0], np.cumsum(self.labels > 0)])
        positives = positives_before[self.offsets[ids + 1]] - positives_before[self.offsets[ids]]
        return ids[positives > 0]

    def rows_of(self, request_ids):
        """Row indices of the given requests plus each row's (request slot, position).

        Vectorised so a batch costs a few numpy calls instead of a Python loop.
        """
        starts = self.offsets[request_ids]
        lengths = self.offsets[request_ids + 1] - starts
        slot = np.repeat(np.arange(len(request_ids)), lengths)
        position = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return np.repeat(starts, lengths) + position, slot, position, lengths


def parse_args(argv):
    """CLI options; defaults are the production settings, the smoke test only shortens training."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the replay: a training table (.parquet, or a folder of a Ray job's parts) or the CLI's NPZ (its .contract.json beside it)")
    parser.add_argument("--contract", required=True, help="the model's feature contract JSON (columns of the replay)")
    parser.add_argument("--out", required=True, help="path of the .onnx to write")
    parser.add_argument("--report", help="also write the training report JSON here")
    parser.add_argument("--name", default="localrank-ranker", help="model name in the contract metadata")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--patience", type=int, default=8, help="epochs without a validation gain before stopping")
    parser.add_argument("--hidden", default="32", help="comma-separated hidden layer widths of g")
    parser.add_argument("--batch-requests", type=int, default=32, help="requests per optimiser step")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--ensemble", type=int, default=1,
                        help="train this many models (seeds seed, seed+1, ...) and export the mean of their scores")
    parser.add_argument("--drop", metavar="REGEX",
                        help="leave out the contract's features whose names match (an ablation)")
    parser.add_argument("--negative", metavar="REGEX",
                        help="signal features that may only lower a candidate (e.g. hides): their multiplier's "
                             "g is kept at least MIN_PENALTY with its sign fixed, whatever the data's few examples say")
    parser.add_argument("--positive", metavar="REGEX",
                        help="signal features that may only raise a candidate (e.g. likes): their multiplier's g "
                             "is kept at least 0, so engagement never lowers what it bears on, and as it decays "
                             "its lift fades to nothing")
    parser.add_argument("--bound", type=float,
                        help="the local term is bound * tanh(term / bound): a few signals move a candidate a bounded amount")
    parser.add_argument("--ungated", action="store_true",
                        help="an evaluation control, not a device model: the term is g(x) itself, not gated by "
                             "signal features (e.g. a model of the server's fields alone, which recalibrates "
                             "the server's order for everyone)")
    args = parser.parse_args(argv)
    args.hidden = [int(width) for width in args.hidden.split(",") if width.strip()]
    if any(width <= 0 for width in args.hidden):
        parser.error("--hidden widths must be positive")
    if args.epochs < 1 or args.patience < 1 or args.batch_requests < 1 or args.ensemble < 1:
        parser.error("--epochs, --patience, --batch-requests and --ensemble must be at least 1")
    if (args.negative or args.positive or args.bound) and args.ensemble > 1:
        # The export averages the members' g in one layer, before any constraint.
        parser.error("--negative, --positive and --bound take one model (--ensemble 1)")
    if args.bound is not None and not args.bound > 0:
        parser.error("--bound must be positive")
    return args


def make_deterministic(seed):
    """Pin every source of randomness and a single thread.

    Multi-threaded CPU reductions may sum in a different order from run to run,
    which is enough to change the exported bytes.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


def load_contract(path):
    """Read a feature contract and keep only what the model metadata carries."""
    with open(path, encoding="utf-8") as f:
        contract = json.load(f)
    features = contract.get("features")
    if contract.get("version") != CONTRACT_VERSION or not isinstance(features, list):
        raise TrainError(f"{path}: contract needs 'version': {CONTRACT_VERSION} and a 'features' list")
    if not all(isinstance(name, str) for name in features) or len(set(features)) != len(features):
        raise TrainError(f"{path}: contract feature names must be unique strings")
    return {"version": contract["version"], "features": features}


def replay_contract_path(data_path):
    """The column names the replay wrote beside its NPZ (`x.npz` -> `x.contract.json`)."""
    return os.path.splitext(data_path)[0] + ".contract.json"


# The training table's columns before the features (src/offline/training_table.rs).
TABLE_COLUMNS = ["request_id", "user", "at", "split", "row", "history_length", "label", "prior",
                 "topic_affinity", "co_like", "popularity", "item_hash", "engaged_at"]
SPLIT_CODES = {"train": 0, "validation": 1, "test": 2}


def load_table(path):
    """The training table's feature names and arrays, in the canonical order of the Rust
    readers (time, request id, row): the parts of a Ray job come in any order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".parquet")) if os.path.isdir(path) else [path]
    if not files:
        raise TrainError(f"{path}: no .parquet file in the folder")
    tables = [pq.read_table(f) for f in files]
    metadata = tables[0].schema.metadata or {}
    if b"localrank.signal_mask" not in metadata:
        raise TrainError(f"{files[0]}: no localrank.signal_mask metadata: not a training table")
    if any(t.schema != tables[0].schema or (t.schema.metadata or {}) != metadata for t in tables):
        raise TrainError(f"{path}: the parts have different schemas or come from different replays")
    table = pa.concat_tables(tables)
    if table.num_rows == 0:
        raise TrainError(f"{path}: the training table has no rows")
    columns = table.column_names[len(TABLE_COLUMNS):]
    if table.column_names[:len(TABLE_COLUMNS)] != TABLE_COLUMNS:
        raise TrainError(f"{path}: columns {table.column_names[:len(TABLE_COLUMNS)]}, expected {TABLE_COLUMNS}")
    get = lambda name, dtype: table.column(name).to_numpy().astype(dtype, copy=False)
    request_id, at, row = get("request_id", np.int64), get("at", np.float64), get("row", np.int32)
    order = np.lexsort((row, request_id, at))
    request_id, row = request_id[order], row[order]
    starts = np.flatnonzero(np.r_[True, request_id[1:] != request_id[:-1]])
    if not np.array_equal(row, np.arange(len(row)) - np.repeat(starts, np.diff(np.r_[starts, len(row)]))):
        raise TrainError(f"{path}: a request's rows are not numbered 0, 1, ... (rows missing or repeated)")
    split_names = table.column("split").to_numpy(zero_copy_only=False)[order][starts]
    unknown = set(split_names) - set(SPLIT_CODES)
    if unknown:
        raise TrainError(f"{path}: unknown split values {sorted(unknown)}")
    arrays = {
        "features": np.stack([get(name, np.float32)[order] for name in columns], axis=1) if columns else np.zeros((len(row), 0), np.float32),
        "labels": get("label", np.float32)[order],
        "prior": get("prior", np.float32)[order],
        "offsets": np.r_[starts, len(row)].astype(np.int64),
        "split": np.array([SPLIT_CODES[s] for s in split_names], dtype=np.uint8),
        "signal_mask": np.array(json.loads(metadata[b"localrank.signal_mask"]), dtype=np.uint8),
    }
    return columns, arrays


def load_npz(path):
    """The NPZ replay's feature names (from the contract beside it) and arrays."""
    columns = load_contract(replay_contract_path(path))["features"]
    with np.load(path) as npz:
        missing = {"features", "labels", "offsets", "split", "prior", "signal_mask"} - set(npz.files)
        if missing:
            raise TrainError(f"{path}: missing arrays {sorted(missing)}")
        return columns, {name: npz[name] for name in ("features", "labels", "offsets", "split", "prior", "signal_mask")}


def load_dataset(path, features):
    """Load the replay, keep the contract's columns, and fail early on anything that would silently mis-train."""
    columns, arrays = load_npz(path) if path.endswith(".npz") else load_table(path)
    missing = [name for name in features if name not in columns]
    if missing:
        raise TrainError(f"{path}: the replay has no column {missing}; replay with a contract that names them")
    picked = [columns.index(name) for name in features]
    matrix = arrays["features"]
    if matrix.ndim != 2 or matrix.shape[1] != len(columns):
        raise TrainError(f"{path}: features is {matrix.shape}, its contract has {len(columns)} features")
    mask = np.asarray(arrays["signal_mask"], dtype=bool)
    if mask.shape != (len(columns),):
        raise TrainError(f"{path}: signal_mask is {mask.shape}, expected ({len(columns)},)")
    data = Dataset(
        features=np.ascontiguousarray(matrix[:, picked], dtype=np.float32),
        labels=np.asarray(arrays["labels"], dtype=np.float32),
        offsets=np.asarray(arrays["offsets"], dtype=np.int64),
        split=np.asarray(arrays["split"], dtype=np.uint8),
        prior=np.asarray(arrays["prior"], dtype=np.float32),
        signals=mask[picked],
    )
    rows = data.features.shape[0]
    checks = [
        (data.labels.shape == (rows,), f"labels is {data.labels.shape}, expected ({rows},)"),
        (data.prior.shape == (rows,), f"prior is {data.prior.shape}, expected ({rows},)"),
        (len(data.offsets) == len(data.split) + 1, "offsets must have one more entry than split"),
        (data.offsets[0] == 0 and data.offsets[-1] == rows, "offsets must run from 0 to the row count"),
        (bool(np.all(np.diff(data.offsets) >= 0)), "offsets must be non-decreasing"),
        (bool(np.isin(data.split, (SPLIT_TRAIN, SPLIT_VALID, SPLIT_TEST)).all()), "split values must be 0, 1 or 2"),
        (bool(np.isfinite(data.features).all()), "features contain NaN or infinity"),
    ]
    for ok, message in checks:
        if not ok:
            raise TrainError(f"{path}: {message}")
    return data


def train_statistics(data, train_ids):
    """Mean and floored std of the training rows, accumulated in float64.

    Only training rows count so validation and test stay unseen.
    """
    rows, _, _, _ = data.rows_of(train_ids)
    x = data.features[rows].astype(np.float64)
    return x.mean(axis=0), np.maximum(x.std(axis=0), STD_FLOOR)


def constrained(g, negative, positive, bound, multipliers):
    """The local term from g and the multipliers (`features @ scale`): a `negative` column's g
    is at least MIN_PENALTY (its scale column is negated, so it only lowers), a `positive`
    column's g at least 0 (so it only raises), then the sum is bounded by
    `bound * tanh(term / bound)`.  Written as max(g, floor) + offset, the floor 0 on both kinds
    of column and the lowest f32 on the others: one Max and one Add in the graph.  (The form
    g + relu(-g) took ten operators on [N, K], half of a model run in tract at N = 500.)
    """
    if negative is not None or positive is not None:
        shaped = sum(flags for flags in (negative, positive) if flags is not None)
        floor = torch.where(shaped > 0, 0.0, torch.finfo(torch.float32).min)
        g = torch.clamp(g, min=floor)
        if negative is not None:
            g = g + negative * MIN_PENALTY
    term = (multipliers * g).sum(-1)
    return term if bound is None else bound * torch.tanh(term / bound)


class LocalTerm(nn.Module):
    """sum_k x_k * g_k(x): an MLP g over the standardised features, one output per multiplier.

    The multipliers are the raw signal columns scaled by their training std (not centred,
    so a column without signal stays exactly 0): `features @ scale`, where `scale[F, K]`
    holds 1 / std of multiplier k's column in its row.  Without `scale` (an `--ungated`
    control) the term is g's one output.
    """

    def __init__(self, mean, std, hidden, scale, negative=None, positive=None, bound=None):
        super().__init__()
        self.negative = None if negative is None else nn.Buffer(torch.tensor(negative, dtype=torch.float32))
        self.positive = None if positive is None else nn.Buffer(torch.tensor(positive, dtype=torch.float32))
        self.bound = bound
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
        self.scale = None if scale is None else nn.Buffer(torch.tensor(scale, dtype=torch.float32))
        widths = [len(mean), *hidden]
        layers = []
        for width_in, width_out in zip(widths, widths[1:]):
            layers += [nn.Linear(width_in, width_out), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], 1 if scale is None else scale.shape[1]))
        self.mlp = nn.Sequential(*layers)

    def forward(self, features):
        if self.scale is None:
            return self.mlp((features - self.mean) / self.std).sum(-1)
        if self.negative is not None or self.positive is not None or self.bound is not None:
            g = self.mlp((features - self.mean) / self.std)
            return constrained(g, self.negative, self.positive, self.bound, features @ self.scale)
        return ((features @ self.scale) * self.mlp((features - self.mean) / self.std)).sum(-1)


class MeanOf(nn.Module):
    """The mean local term of several trained members."""

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, features):
        return sum(member(features) for member in self.members) / len(self.members)


class ExportedLocalTerm(nn.Module):
    """What the ONNX graph computes: the members' mean local term, with the members stacked so
    the graph holds a handful of tensors whatever their number (an NNEF archive pays ~1 KB of
    tar and header per tensor), and larger matrix products for tract's kernels.

    The members' first layers are one Linear side by side, their middle layers one batched
    product, and their last layers one Linear over all of them that also takes their mean.
    The multipliers are picked and scaled by the same `scale` matrix as in training, a plain
    product: no index-based op (a Gather's constant indices, corrupted, panic tract when the
    graph runs).
    """

    def __init__(self, mlps, scale, negative=None, positive=None, bound=None):
        super().__init__()
        self.negative = negative
        self.positive = positive
        self.bound = bound
        count = len(mlps)
        linears = [[layer for layer in mlp if isinstance(layer, nn.Linear)] for mlp in mlps]
        first = [layers[0] for layers in linears]
        self.first = nn.Linear(first[0].in_features, count * first[0].out_features)
        self.middle_weights = nn.ParameterList()
        self.middle_biases = nn.ParameterList()
        last = [layers[-1] for layers in linears]
        self.last = nn.Linear(count * last[0].in_features, last[0].out_features)
        with torch.no_grad():
            self.first.weight.copy_(torch.cat([layer.weight for layer in first]))
            self.first.bias.copy_(torch.cat([layer.bias for layer in first]))
            for depth in range(1, len(linears[0]) - 1):
                layers = [member[depth] for member in linears]
                # [members, in, out] and [members, out]: member m's layer applied to its slice.
                self.middle_weights.append(nn.Parameter(torch.stack([l.weight.t() for l in layers])))
                self.middle_biases.append(nn.Parameter(torch.stack([l.bias for l in layers])))
            weight = torch.cat([layer.weight.double() for layer in last], dim=1) / count
            bias = torch.stack([layer.bias.double() for layer in last]).mean(dim=0)
            self.last.weight.copy_(weight.float())
            self.last.bias.copy_(bias.float())
        self.count = count
        self.scale = None if scale is None else nn.Buffer(scale)
        with torch.no_grad():
            # Weights that weight decay left subnormal (a dead unit's): each product with one
            # costs ~100 cycles on x86, natively and in wasm, which has no flush-to-zero mode.
            # 86 such in the KuaiRand model's last layer took half of its run at N = 500;
            # zeroed, the scores are the same (they added under 1e-38 to each).
            for parameter in self.parameters():
                parameter.masked_fill_(parameter.abs() < torch.finfo(torch.float32).tiny, 0.0)

    def forward(self, features):
        hidden = torch.relu(self.first(features))
        for weight, bias in zip(self.middle_weights, self.middle_biases):
            per_member = hidden.reshape(-1, self.count, weight.shape[1])
            hidden = torch.relu(torch.einsum("nmi,mio->nmo", per_member, weight) + bias)
            hidden = hidden.reshape(-1, self.count * weight.shape[2])
        if self.scale is None:
            return self.last(hidden).sum(-1)
        if self.negative is not None or self.positive is not None or self.bound is not None:
            return constrained(self.last(hidden), self.negative, self.positive, self.bound, features @ self.scale)
        return ((features @ self.scale) * self.last(hidden)).sum(-1)


def multiplier_scale(data, std, negative, positive):
    """The [F, K] matrix that picks and scales the multipliers, and which of them are `negative`
    and which `positive` (each None when none is).

    The multipliers are the signal columns that vary in training (a constant one taught
    nothing, and 1 / (a floored std) would blow up any value it takes at serve time), plus the
    `negative` ones even when constant: a rule the data cannot teach (KuaiRand users hide an
    author too rarely to see that author again), kept unscaled.  A negative column's scale is
    negated, so that with g >= MIN_PENALTY (`constrained`) it only ever lowers a candidate.
    """
    varies = std > STD_FLOOR
    columns = np.flatnonzero(data.signals & (varies | negative))
    if len(columns) == 0:
        raise TrainError("no signal feature varies in the training rows: there is no local term to learn")
    scale = np.zeros((len(std), len(columns)))
    unit = np.where(varies[columns], 1.0 / np.where(varies, std, 1.0)[columns], 1.0)
    sign = np.where(negative[columns], -1.0, 1.0)
    scale[columns, np.arange(len(columns))] = sign * unit
    def flags(picked):
        return picked.astype(np.float32) if picked.any() else None

    return columns, scale, flags(negative[columns]), flags(positive[columns])


def listnet_loss(scores, labels, mask):
    """Listwise softmax cross-entropy, averaged over the requests of a batch.

    Padded slots get -inf scores so the softmax ignores them, and a zero
    log-probability afterwards so 0 * -inf never turns into NaN.
    """
    log_probs = torch.log_softmax(scores.masked_fill(~mask, float("-inf")), dim=1)
    log_probs = log_probs.masked_fill(~mask, 0.0)
    target = labels / labels.sum(dim=1, keepdim=True)
    return -(target * log_probs).sum(dim=1).mean()


def padded_batch(data, request_ids):
    """Rows of a batch of requests (and their priors) plus where each row sits in a [B, maxN] grid."""
    rows, slot, position, lengths = data.rows_of(request_ids)
    shape = (len(request_ids), int(lengths.max()))
    labels = torch.zeros(shape)
    labels[slot, position] = torch.from_numpy(data.labels[rows])
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[slot, position] = True
    index = (torch.from_numpy(slot), torch.from_numpy(position))
    return torch.from_numpy(data.features[rows]), torch.from_numpy(data.prior[rows]), index, labels, mask


def train_epoch(model, optimiser, data, train_ids, batch_requests, rng):
    """One pass over the training requests in a seeded random order; returns the mean loss."""
    model.train()
    order = rng.permutation(train_ids)
    total = 0.0
    for start in range(0, len(order), batch_requests):
        batch = order[start : start + batch_requests]
        features, prior, index, labels, mask = padded_batch(data, batch)
        # What the ranker ranks by: the server prior plus the local term.
        scores = torch.zeros(mask.shape).index_put(index, prior + model(features))
        loss = listnet_loss(scores, labels, mask)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        total += loss.item() * len(batch)
    return total / len(order)


def score_rows(score_fn, features):
    """Score rows in chunks so evaluation memory stays flat on large replays."""
    with torch.no_grad():
        chunks = [score_fn(torch.from_numpy(features[i : i + SCORE_CHUNK_ROWS]))
                  for i in range(0, len(features), SCORE_CHUNK_ROWS)]
    return torch.cat(chunks).numpy()


def ndcg_at_k(scores, labels, k=NDCG_K):
    """Binary-gain NDCG@k of one request; a stable sort makes ties deterministic."""
    ranked = labels[np.argsort(-scores, kind="stable")][:k] > 0
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = discounts[: min(k, int((labels > 0).sum()))].sum()
    return float((ranked * discounts[: len(ranked)]).sum() / ideal)


def mean_ndcg(score_fn, data, request_ids):
    """Average NDCG@10 of prior + local term over requests that each hold a positive; None when there are none."""
    if len(request_ids) == 0:
        return None
    rows, _, _, lengths = data.rows_of(request_ids)
    bounds = np.cumsum(lengths)[:-1]
    scores = np.split(data.prior[rows] + score_rows(score_fn, data.features[rows]), bounds)
    labels = np.split(data.labels[rows], bounds)
    return float(np.mean([ndcg_at_k(s, l) for s, l in zip(scores, labels)]))


def fit(model, data, train_ids, valid_ids, args):
    """Train with early stopping on validation NDCG@10; leaves the best epoch's weights in `model`."""
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    rng = np.random.default_rng(args.seed)
    history, best_ndcg, best_epoch, best_state = [], -1.0, 0, None
    for epoch in range(1, args.epochs + 1):
        loss = train_epoch(model, optimiser, data, train_ids, args.batch_requests, rng)
        model.eval()
        ndcg = mean_ndcg(model, data, valid_ids)
        history.append({"epoch": epoch, "train_loss": loss, "valid_ndcg10": ndcg})
        print(f"epoch {epoch:3d}  train_loss {loss:.5f}  valid_ndcg@10 {ndcg:.5f}", flush=True)
        if ndcg > best_ndcg:
            best_ndcg, best_epoch, best_state = ndcg, epoch, copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= args.patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    return history, best_epoch


def fold_standardisation(model):
    """g as an MLP that takes raw features: (x - mean) / std merged into the first Linear.

    W' = W / std and b' = b - W' @ mean, computed in float64.  Columns that were
    constant in training (std at the floor) are zeroed: they taught the model
    nothing, and a 1 / 1e-6 scale would blow up any value that differs at serve time.
    """
    mlp = copy.deepcopy(model.mlp)
    first = mlp[0]
    mean = model.mean.double()
    std = model.std.double()
    weight = first.weight.detach().double() / std
    weight[:, std <= STD_FLOOR] = 0.0
    bias = first.bias.detach().double() - weight @ mean
    with torch.no_grad():
        first.weight.copy_(weight.float())
        first.bias.copy_(bias.float())
    return mlp.eval()


def check_fold(model, exported, features):
    """Largest score gap between trained and folded models; raises if they disagree.

    Folding is exact algebra, so a real gap means float32 cancellation on
    features with a huge mean/std ratio: better to fail than ship a drifted model.
    """
    # Rows spread over the whole replay: its start may hold no signals at all.
    sample = features[:: max(1, len(features) // 4096)]
    trained = score_rows(model, sample)
    folded = score_rows(exported, sample)
    gap = float(np.abs(trained - folded).max())
    if not np.allclose(trained, folded, rtol=1e-3, atol=1e-3):
        raise TrainError(f"folded model drifts from the trained one by up to {gap:.3g}")
    return gap


def export_onnx(exported, contract, name):
    """Serialise to ONNX bytes with the contract in metadata_props.

    Uses the TorchScript exporter (dynamo=False): it needs no onnxscript, emits
    the requested opset, and its output is deterministic.
    """
    feature_count = len(contract["features"])
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export")
        torch.onnx.export(
            exported,
            (torch.zeros(2, feature_count),),
            buffer,
            dynamo=False,
            opset_version=OPSET,
            do_constant_folding=True,
            input_names=["features"],
            output_names=["scores"],
            dynamic_axes={"features": {0: "N"}, "scores": {0: "N"}},
        )
    proto = onnx.load_from_string(buffer.getvalue())
    metadata = {"version": contract["version"], "features": contract["features"], "name": name}
    entry = proto.metadata_props.add()
    entry.key = CONTRACT_KEY
    entry.value = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False)
    onnx.checker.check_model(proto)
    payload = proto.SerializeToString()
    if len(payload) > MAX_MODEL_BYTES:
        raise TrainError(f"model is {len(payload)} bytes, over the {MAX_MODEL_BYTES}-byte budget: shrink --hidden")
    return payload


def write_bytes(path, payload):
    """Write a whole file, creating its folder: outputs usually land in fresh build dirs."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "wb") as f:
        f.write(payload)


def main(argv=None):
    """Load, train with early stopping, fold, export, report."""
    args = parse_args(argv)
    make_deterministic(args.seed)
    contract = load_contract(args.contract)
    if args.drop:
        kept = [name for name in contract["features"] if not re.search(args.drop, name)]
        if len(kept) == len(contract["features"]):
            raise TrainError(f"--drop {args.drop!r} matches none of the contract's features")
        contract["features"] = kept
    data = load_dataset(args.data, contract["features"])

    train_ids = data.requests_with_positive(SPLIT_TRAIN)
    valid_ids = data.requests_with_positive(SPLIT_VALID)
    test_ids = data.requests_with_positive(SPLIT_TEST)
    if len(train_ids) == 0 or len(valid_ids) == 0:
        raise TrainError("need training and validation requests with at least one positive each")

    mean, std = train_statistics(data, train_ids)
    # None matching (an ablation that dropped them) leaves nothing to constrain.
    def matching(pattern):
        return np.array([bool(pattern and re.search(pattern, name)) for name in contract["features"]])

    negative_columns, positive_columns = matching(args.negative), matching(args.positive)
    if (negative_columns & positive_columns).any():
        raise TrainError("a feature matches both --negative and --positive")
    multipliers, scale, negative, positive = (
        ([], None, None, None) if args.ungated else multiplier_scale(data, std, negative_columns, positive_columns)
    )
    members, histories, best_epochs = [], [], []
    for member in range(args.ensemble):
        member_args = copy.copy(args)
        member_args.seed = args.seed + member
        make_deterministic(member_args.seed)
        model = LocalTerm(mean, std, args.hidden, scale, negative, positive, args.bound)
        history, best_epoch = fit(model, data, train_ids, valid_ids, member_args)
        members.append(model)
        histories.append(history)
        best_epochs.append(best_epoch)
    trained = MeanOf(members).eval()
    exported = ExportedLocalTerm(
        [fold_standardisation(m) for m in members], members[0].scale, members[0].negative, members[0].positive, args.bound
    ).eval()
    fold_gap = check_fold(trained, exported, data.features)
    history = histories[0] if len(histories) == 1 else histories
    best_epoch = best_epochs[0] if len(best_epochs) == 1 else best_epochs
    payload = export_onnx(exported, contract, args.name)
    write_bytes(args.out, payload)

    report = {
        "epochs": history,
        "best_epoch": best_epoch,
        "valid_ndcg10": mean_ndcg(exported, data, valid_ids),
        "test_ndcg10": mean_ndcg(exported, data, test_ids),
        "train_requests": len(train_ids),
        "train_requests_skipped": int((data.split == SPLIT_TRAIN).sum()) - len(train_ids),
        "valid_requests": len(valid_ids),
        "test_requests": len(test_ids),
        "constant_features": [f for f, s in zip(contract["features"], std) if s <= STD_FLOOR],
        "multipliers": [contract["features"][c] for c in multipliers],
        "negative_multipliers": [contract["features"][c] for c, n in zip(multipliers, negative if negative is not None else []) if n],
        "positive_multipliers": [contract["features"][c] for c, p in zip(multipliers, positive if positive is not None else []) if p],
        "bound": args.bound,
        "fold_max_abs_diff": fold_gap,
        "opset": OPSET,
        "model_bytes": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.report:
        write_bytes(args.report, (text + "\n").encode("utf-8"))


if __name__ == "__main__":
    try:
        main()
    except (TrainError, OSError) as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        sys.exit(1)

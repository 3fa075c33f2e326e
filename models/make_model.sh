#!/usr/bin/env bash
# Regenerates a shipped model and its evidence from a data folder, bit for bit:
#   KuaiRand (events.csv.gz, items.csv): the default model, models/ranker.onnx (+ its NNEF
#     conversion for the slim build, models/ranker.nnef.tar), models/MODEL_CARD.md,
#     models/ndcg.svg, tests/fixtures/parity.json
#   MovieLens (ratings.csv, movies.csv): the second model, models/movielens/ (the same files)
# Usage (through build.sh, which prepares the Python venv):
#   ./build.sh model DATA_DIR [--engine local|ray] [--keep-model]
# --keep-model keeps the committed model and re-makes its evidence (card, chart, ablations,
# controls, NNEF, fixture) around it: torch's kernels round differently on another processor,
# so retraining there gives another model (README, "Retraining"), and a change to the evaluation
# alone should not change the shipped model.
# Steps: the data set's adapter writes the event-log format (README, "Event-log format"), the
# replay runs the device's SignalStore and FeatureBuilder over it into the training table
# (Parquet): in one process (`localrank-pipeline replay`), or with `--engine ray` as a Ray
# Data job (models/ray_replay.py, through the `localrank` Python package: on the cluster at
# RAY_ADDRESS, else a local one), which gives the same table; then train, ablations,
# controls, evaluation (with the other shipped model on this log: the cross-log check), NNEF
# conversion. Replay options (`localrank-pipeline replay --help`) pass through
# REPLAY_OPTIONS, e.g. REPLAY_OPTIONS="--train-every 5" (single-process engine only).
set -euo pipefail
DATA=${1:?usage: ./build.sh model DATA_DIR [--engine local|ray] [--keep-model]}
shift
ENGINE=local KEEP_MODEL=
while [[ $# -gt 0 ]]; do
  case $1 in
    --engine) ENGINE=${2:?--engine needs local or ray}; shift 2 ;;
    --keep-model) KEEP_MODEL=--keep-model; shift ;;
    *)
      echo "make_model.sh: unexpected argument $1 after DATA_DIR (only --engine local|ray, --keep-model)" >&2
      exit 2
      ;;
  esac
done
if [[ $ENGINE != local && $ENGINE != ray ]]; then
  echo "make_model.sh: --engine is local or ray, not $ENGINE" >&2
  exit 2
fi
if [[ $ENGINE == ray && -n ${REPLAY_OPTIONS:-} ]]; then
  echo "make_model.sh: REPLAY_OPTIONS is for the single-process replay (the Ray job runs the default protocol)" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
CACHE=${LOCALRANK_CACHE:-$HOME/.cache/localrank}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target}
PY=$CACHE/venv/bin/python
read -r -a replay_options <<<"${REPLAY_OPTIONS:-}"

# Per data set: where its model goes, the other shipped model (for the cross-log check), its
# ensemble size, goals, and the feature families its ablation table removes (LABEL=REGEX over
# feature names).
if [[ -f $DATA/events.csv.gz && -f $DATA/items.csv ]]; then
  KIND=kuairand OUT=models NAME=localrank-kuairand OTHER=models/movielens ENSEMBLE=1
  # The default model's shape (README, "The model"): a hide or a dismiss only ever lowers a
  # candidate (KuaiRand has too few hides to learn that), and the local term is bounded by ±1,
  # so one signal moves a candidate a bounded amount. (One model: the bound and the sign apply
  # to one g, not to an ensemble's average.)
  SHAPE=(--negative "[.](neg|hide|dismiss)[.]" --positive "[.]pos[.]|^share[.]|^recency[.]|[.](click|like|share)[.]" --bound 1)
  GOALS=(--goal-lift-low 0 --goal-control-ratio 0.995)
  ABLATIONS=(
    "author signals=[.]author([.]|$)"
    "fatigue (impressions without engagement)=^fatigue[.]|[.]impression[.]"
    "dwell relative to duration=^dwell[.]"
    "recency of the same author / topic=^recency[.]"
    "hides (negative author affinity and hide counts)=[.]hide[.]|[.]neg[.]"
    "topic signals=[.]topic([.]|$)"
  )
elif [[ -f $DATA/ratings.csv && -f $DATA/movies.csv ]]; then
  KIND=movielens OUT=models/movielens NAME=localrank-movielens-demo OTHER=models ENSEMBLE=6 SHAPE=()
  GOALS=(--goal-lift 28)
  # (No topic affinities in this contract: models/movielens/ABOUT.md says why.)
  ABLATIONS=(
    "embedding similarities=similarity"
    "recency of the same topic=^recency[.]"
  )
else
  echo "make_model.sh: $DATA holds neither KuaiRand (events.csv.gz, items.csv) nor MovieLens (ratings.csv, movies.csv)" >&2
  exit 2
fi
DATASET=$(basename "$(realpath "$DATA")")
FEATURES=models/$KIND/features.json
OTHER_FEATURES=models/$([[ $KIND == kuairand ]] && echo movielens || echo kuairand)/features.json

# Each run in a folder of its own: two runs at once never read each other's files.
mkdir -p "$CACHE/runs"
RUN=$(mktemp -d "$CACHE/runs/model-$KIND-$(date -u +%Y%m%dT%H%M%SZ)-XXXXXX")
echo "run folder: $RUN"

cargo build --release --bin localrank-pipeline
LOCALRANK=$CARGO_TARGET_DIR/release/localrank-pipeline

requests=()
if [[ $KIND == kuairand ]]; then
  "$LOCALRANK" adapt-kuairand --data "$DATA" --events "$RUN/events.parquet" --requests "$RUN/requests.parquet"
  requests=(--requests "$RUN/requests.parquet")
else
  "$LOCALRANK" adapt-movielens --data "$DATA" --events "$RUN/events.parquet"
fi

# The replay computes the other model's features too, for the cross-log check.
if [[ $ENGINE == ray ]]; then
  REPLAY=$RUN/replay
  "$PY" models/ray_replay.py --events "$RUN/events.parquet" "${requests[@]}" --features "$FEATURES,$OTHER_FEATURES" \
    --dataset "$DATASET" --out "$REPLAY"
else
  REPLAY=$RUN/replay.parquet
  "$LOCALRANK" replay --events "$RUN/events.parquet" "${requests[@]}" --features "$FEATURES,$OTHER_FEATURES" \
    --dataset "$DATASET" --out "$REPLAY" "${replay_options[@]}"
fi

# The mean of several seeds' g in one graph (one hidden layer of 32 each, the default).
train() { "$PY" models/train.py --data "$REPLAY" --contract "$FEATURES" --ensemble "$ENSEMBLE" "$@"; }
if [[ -n $KEEP_MODEL ]]; then
  # The committed model stays as it is, and its card keeps the report of the run that trained it.
  if [[ ! -f $OUT/ranker.onnx || ! -f $OUT/MODEL_CARD.md ]]; then
    echo "make_model.sh: --keep-model needs $OUT/ranker.onnx and $OUT/MODEL_CARD.md" >&2
    exit 2
  fi
  "$PY" - "$OUT/MODEL_CARD.md" >"$RUN/train-report.json" <<'PY'
import re, sys
card = open(sys.argv[1], encoding="utf-8").read()
report = re.search(r"^## Trainer report\n\n```json\n(.*?)\n```", card, re.S | re.M)
sys.exit(f"{sys.argv[1]}: no trainer report to keep") if report is None else print(report.group(1))
PY
else
  train "${SHAPE[@]}" --out "$OUT/ranker.onnx" --report "$RUN/train-report.json" --name "$NAME"
fi
ablations=()
for k in "${!ABLATIONS[@]}"; do
  train "${SHAPE[@]}" --drop "${ABLATIONS[$k]#*=}" --out "$RUN/ablation$k.onnx" --name "$NAME-ablation$k" >"$RUN/ablation$k.log"
  ablations+=("${ABLATIONS[$k]%%=*}=$RUN/ablation$k.onnx")
done
controls=()
if [[ $KIND == kuairand ]]; then
  # The controls a device model cannot be: ungated, every candidate recalibrated.
  echo '{"version":2,"features":["server.rank","server.score.quantile","server.popularity.quantile","server.age.quantile","server.duration.quantile"]}' \
    >"$RUN/server-fields.json"
  "$PY" models/train.py --data "$REPLAY" --contract "$RUN/server-fields.json" --ensemble "$ENSEMBLE" --ungated \
    --out "$RUN/control-server.onnx" --name "server fields only (ungated)" >"$RUN/control-server.log"
  train --ungated --out "$RUN/control-all.onnx" --name "this model's features, ungated" >"$RUN/control-all.log"
  controls=(--controls "$RUN/control-server.onnx,$RUN/control-all.onnx")
fi

"$LOCALRANK" to-nnef --model "$OUT/ranker.onnx" --out "$OUT/ranker.nnef.tar"
cross=()
[[ -f $OTHER/ranker.onnx ]] && cross=(--cross "$OTHER/ranker.onnx")
ablation_list=$(IFS=,; echo "${ablations[*]}")
"$LOCALRANK" evaluate --replay "$REPLAY" --model "$OUT/ranker.onnx" --nnef "$OUT/ranker.nnef.tar" \
  --card "$OUT/MODEL_CARD.md" --chart "$OUT/ndcg.svg" --train-report "$RUN/train-report.json" \
  --about "models/$KIND/ABOUT.md" --ablations "$ablation_list" "${controls[@]}" "${cross[@]}" "${GOALS[@]}" \
  --command "${REPLAY_OPTIONS:+REPLAY_OPTIONS=\"$REPLAY_OPTIONS\" }./build.sh model $DATA${KEEP_MODEL:+ $KEEP_MODEL}"
outputs=("$OUT/ranker.onnx" "$OUT/ranker.nnef.tar" "$OUT/MODEL_CARD.md" "$OUT/ndcg.svg")
if [[ $OUT == models ]]; then
  # The default model's parity fixture: the wasm tests check the module against it.
  "$LOCALRANK" parity-fixture --model models/ranker.onnx --out tests/fixtures/parity.json
  outputs+=(tests/fixtures/parity.json)
fi
sha256sum "${outputs[@]}"

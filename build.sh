#!/usr/bin/env bash
# localrank's one build script.
#   ./build.sh               install what is missing, build the package, print sizes, serve the demo
#   ./build.sh build         the npm package only: pkg/localrank/ and pkg/localrank-VERSION.tgz
#   ./build.sh test          every test tier: native, wasm (Node + Chromium), JS package + demo
#                            page, the packed package in fixture apps, a fuzzing smoke run
#   ./build.sh model DATA [--engine ray] [--keep-model]  regenerate a shipped model + its card
#                            from DATA: KuaiRand (the default, models/) or MovieLens
#                            (models/movielens/), replayed in one process or as a Ray Data job
#                            (--keep-model: the committed model kept); see models/make_model.sh
#   ./build.sh wheel         the `localrank` Python package (python/) into the venv
#   ./build.sh bench-replay DATA  events replayed per second per core, one process and Ray (bench/replay.py)
#   ./build.sh bench         the benchmark against onnxruntime-web (writes bench/results/)
#   ./build.sh fuzz [SECS [TARGET…]]  cargo-fuzz targets (default: all) for SECS seconds each (300),
#                            then ("js", also in the default) the JS-boundary fuzzer on the built
#                            package in Node and Chromium, LOCALRANK_JS_FUZZ_RUNS cases per method
# Every install step is idempotent; build outputs and tools live outside the clone (see CACHE)
# so repeated runs, and CI, reuse them.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD

CACHE=${LOCALRANK_CACHE:-$HOME/.cache/localrank}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target}
VENV=$CACHE/venv
PY=$VENV/bin/python
# The CLI must be exactly the wasm-bindgen crate version pinned in Cargo.toml.
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' Cargo.toml)
export PATH=$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH
export CHROMEDRIVER=/usr/bin/chromedriver

log() { printf '\n==> [%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

install_rust_tools() {
  rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
  if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]]; then
    # Not --locked: one of the CLI's locked dependencies is no longer on the registry.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  fi
  command -v wasm-pack >/dev/null || cargo install wasm-pack
}

install_node_tools() {
  # binaryen's wasm-opt, playwright-core, typescript, onnxruntime-web (versions in package.json).
  if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
    npm ci --no-audit --no-fund
  fi
}

install_chromium() {
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
  fi
}

install_python() {
  local stamp=$VENV/.requirements
  if ! cmp -s models/requirements.txt "$stamp" 2>/dev/null; then
    [[ -x $PY ]] || python3 -m venv "$VENV"
    "$PY" -m pip install -q -r models/requirements.txt
    cp models/requirements.txt "$stamp"
  fi
}

# The `localrank` wheel (python/: pyo3 over the core's offline module), installed into the
# venv. --profile native-test with the core's default features: the native tests' build
# (`cargo test --workspace`, the same feature set), so cargo reuses its tract artefacts
# instead of compiling a native build of its own.
build_wheel() {
  install_python
  log "the localrank Python wheel (maturin, profile native-test)"
  rm -rf "$CACHE/wheels"
  # --compatibility linux: a wheel for this machine's venv, not one for PyPI (no manylinux
  # audit).
  "$VENV/bin/maturin" build --profile native-test -m python/Cargo.toml --interpreter "$PY" \
    --compatibility linux --out "$CACHE/wheels"
  "$PY" -m pip install -q --no-deps --force-reinstall "$CACHE"/wheels/localrank-*.whl
}

# wasm-opt on a tract build takes minutes: its output is cached by the input's hash.
optimize_wasm() {
  local wasm=$1 cached
  cached=$CACHE/wasm-opt/$(sha256sum "$wasm" | cut -c1-32).wasm
  if [[ ! -f $cached ]]; then
    mkdir -p "$CACHE/wasm-opt"
    # -Oz: the size goal; speed comes from rustc (Cargo.toml's profiles: LTO, opt-level 3
    # where the time goes). The --enable flags are the features rustc and wasm-bindgen emit.
    wasm-opt -Oz --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
      --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
      "$wasm" -o "$cached.$BASHPID.tmp"
    mv "$cached.$BASHPID.tmp" "$cached"
  fi
  cp "$cached" "$wasm"
}

build_packages() {
  install_rust_tools
  install_node_tools
  # Two flavours of the module, each built once (wasm-pack --target web: an ES module glue that
  # client/scripts/wrap-glue.mjs turns into per-instance bindings for every runtime). The full
  # one loads ONNX models (tract-onnx); the slim one (no `onnx` feature, so no
  # tract-onnx/tract-hir) loads only NNEF archives made by `localrank-pipeline to-nnef`
  # (models/ranker.nnef.tar): a smaller module, built with the size-first `release-slim`
  # profile (Cargo.toml).
  local optimizing=()
  for flavour in full slim; do
    local profile=(--release) cargo_args=()
    [[ $flavour == slim ]] && profile=(--profile release-slim) cargo_args=(-- --no-default-features)
    log "wasm-pack build ($flavour flavour)"
    # --mode no-install: use the wasm-bindgen on PATH, never download one.
    wasm-pack build "${profile[@]}" --mode no-install --target web --out-dir "pkg/wasm-pack/$flavour" \
      --out-name localrank "${cargo_args[@]}"
    # wasm-opt takes minutes on one thread: the full module is optimised in the background
    # while the slim one builds.
    optimize_wasm "pkg/wasm-pack/$flavour/localrank_bg.wasm" &
    optimizing+=($!)
  done
  for pid in "${optimizing[@]}"; do wait "$pid"; done
  log "the localrank npm package (pkg/localrank/, pkg/localrank-*.tgz)"
  node client/scripts/assemble.mjs
  # The repository's own tests and the demo's tools import the package by name, as apps do.
  ln -sfn ../pkg/localrank node_modules/localrank
  print_model_sizes
}

print_model_sizes() {
  printf '\n%-36s %10s %10s %10s\n' "model file" raw gzip brotli
  # The default model (KuaiRand) and the second one (MovieLens), each in both formats.
  for f in models/ranker.onnx models/ranker.nnef.tar models/movielens/ranker.onnx models/movielens/ranker.nnef.tar; do
    [[ -f $f ]] || continue
    printf '%-36s %10d %10d %10d\n' "$f" "$(wc -c <"$f")" "$(gzip -9c "$f" | wc -c)" \
      "$(node -e 'const z=require("zlib");process.stdout.write(String(z.brotliCompressSync(require("fs").readFileSync(process.argv[1])).length))' "$f")"
  done
}

# libFuzzer through cargo-fuzz, without a sanitizer: the code under test is safe Rust, so
# what the fuzzers hunt is panics, hangs and unbounded memory — and -s none needs no nightly
# compiler. The working corpus lives outside the clone; fuzz/seeds is the committed seed corpus.
run_fuzz() {
  local seconds=${1:-300} target dict log summary=() targets=("${@:2}")
  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2
  [[ ${#targets[@]} -gt 0 ]] || mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
  for target in "${targets[@]}"; do
    mkdir -p "$CACHE/fuzz-corpus/$target" fuzz/artifacts
    log=$CACHE/fuzz-corpus/$target.log
    dict=()
    [[ $target == rerank || $target == record || $target == contract ]] && dict=(-dict=fuzz/json.dict)
    log "fuzz $target for ${seconds}s"
    # -rss_limit_mb: a leak or an unbounded allocation is a failure; -timeout: so is a hang.
    # --target-dir outside the clone: a CI run on a clean clone reuses the instrumented build.
    if ! cargo fuzz run --fuzz-dir fuzz --target-dir "$CACHE/fuzz-target" --sanitizer none "$target" \
      "$CACHE/fuzz-corpus/$target" "fuzz/seeds/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="fuzz/artifacts/$target-" "${dict[@]}" >"$log" 2>&1; then
      # CI keeps only the printed log: the panic message and the input itself, not a backtrace.
      grep -m1 -A2 -E "panicked at|ERROR: libFuzzer" "$log" || tail -20 "$log"
      for artifact in fuzz/artifacts/"$target"-*; do
        if [[ -f $artifact ]]; then echo "input $artifact, base64: $(base64 -w0 "$artifact")"; fi
      done
      echo "fuzz target $target failed: the input is in fuzz/artifacts/ (add it to the regression tests)" >&2
      return 1
    fi
    summary+=("$(awk -v t="$target" '/stat::number_of_executed_units/ {execs=$2}
      /stat::peak_rss_mb/ {rss=$2} / cov: / {for (i=1;i<NF;i++) if ($i=="cov:") cov=$(i+1)}
      END {printf "%-10s %12d execs %10.0f/s  cov %6d  peak RSS %5d MB", t, execs, execs/'"$seconds"', cov, rss}' "$log")")
  done
  printf '\nfuzzing summary (%ss per target, 0 crashes):\n' "$seconds"
  printf '%s\n' "${summary[@]}"
}

# fast-check against the built package: hostile JS values into every method of the raw Ranker
# and of the client, in Node and in headless Chromium (tests/js/fuzz/run.mjs says what must
# hold). The test suite runs a smoke run of it (tests/js/boundary-fuzz.test.mjs).
run_js_fuzz() {
  install_chromium
  build_packages
  log "JS-boundary fuzzing: ${LOCALRANK_JS_FUZZ_RUNS:-100000} cases per method, Node and Chromium"
  node tests/js/fuzz/run.mjs --runs "${LOCALRANK_JS_FUZZ_RUNS:-100000}"
}

# ./build.sh fuzz [SECONDS [TARGET…]]: the cargo-fuzz targets named (default: all), then the
# JS-boundary fuzzer if "js" is named or no target is.
fuzz_all() {
  local seconds=${1:-300} targets=("${@:2}") cargo_targets=() target
  for target in "${targets[@]}"; do [[ $target == js ]] || cargo_targets+=("$target"); done
  if [[ ${#targets[@]} -eq 0 || ${#cargo_targets[@]} -gt 0 ]]; then run_fuzz "$seconds" "${cargo_targets[@]}"; fi
  if [[ ${#targets[@]} -eq 0 || " ${targets[*]} " == *" js "* ]]; then run_js_fuzz; fi
}

run_tests() {
  install_chromium
  build_packages
  install_python

  log "tier 1: native cargo test (core, offline pipeline, trainer smoke test)"
  # --workspace: the Python package too (it has no Rust tests), so that this build has the
  # wheel's feature set and build_wheel reuses its tract (Cargo.toml, [workspace]); pyo3's
  # build script reads the venv's interpreter.
  LOCALRANK_PYTHON=$PY PYO3_PYTHON=$PY cargo test --profile native-test --workspace -- --include-ignored

  build_wheel
  log "tier 1: the Python package and the Ray Data job on a local Ray cluster against the CLI"
  LOCALRANK_CLI=$CARGO_TARGET_DIR/native-test/localrank-pipeline "$PY" tests/python/test_ray_replay.py

  # Each flavour's tests with its package's profile and features, so they reuse its build of
  # tract instead of compiling one more (the slim tests under `release` were a fourth wasm
  # build of tract: ~3.5 minutes on a fresh machine).
  for flavour in full slim; do
    local build=(--release) name=""
    [[ $flavour == slim ]] && build=(--profile release-slim --no-default-features) name=" (slim build, NNEF model)"
    log "tier 2: wasm-bindgen tests in Node$name"
    cargo test "${build[@]}" --target wasm32-unknown-unknown --test wasm
    log "tier 2: wasm-bindgen tests in headless Chromium$name"
    WASM_BINDGEN_USE_BROWSER=1 cargo test "${build[@]}" --target wasm32-unknown-unknown --test wasm
  done

  log "tier 3: the built package from JS (Node ESM + CJS, types, hostile values, a JS-boundary fuzz smoke run) and the demo page in Chromium"
  node --test tests/js/

  log "tier 3: the packed tarball installed into fresh Vite, webpack, Node ESM, Node CJS and TypeScript apps"
  node --test tests/packaging/

  log "tier 4: a fuzzing smoke run of every target (./build.sh fuzz runs them longer)"
  run_fuzz 20
}

serve_demo() {
  log "demo: open http://localhost:${PORT:-8080}/ in a browser (Ctrl-C stops)"
  exec node www/serve.mjs "${PORT:-8080}"
}

case "${1:-}" in
  "") install_chromium; build_packages; serve_demo ;;
  build) build_packages ;;
  test) run_tests ;;
  model) shift; install_python; if [[ " $* " == *" --engine ray "* ]]; then build_wheel; fi
    exec "$ROOT/models/make_model.sh" "$@" ;;
  wheel) build_wheel ;;
  bench-replay) shift; build_wheel; cargo build --release --bin localrank-pipeline
    exec "$PY" bench/replay.py --cli "$CARGO_TARGET_DIR/release/localrank-pipeline" "$@" ;;
  bench) install_chromium; build_packages; exec node bench/run.mjs ;;
  fuzz) shift; fuzz_all "$@" ;;
  *) echo "usage: ./build.sh [build|test|model DATA_DIR [--engine ray] [--keep-model]|wheel|bench|bench-replay DATA_DIR|fuzz [SECONDS [TARGET…]]]" >&2; exit 2 ;;
esac

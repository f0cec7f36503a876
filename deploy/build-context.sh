#!/usr/bin/env bash
# Prepare what the container builds copy in, on the host: no package index is reachable from
# inside an image build here, so every Python package comes in as a wheel from the context.
#
#   deploy/build-context.sh [api|scaler|spark]      (default: api)
#
#   build/wheels/<target>/   the locked third-party wheels (cp311, manylinux x86_64) and
#                            requirements.txt, exported from uv.lock
#   build/dist/              our own wheel (sentiment_mlops-<version>-cp311-cp311-linux_x86_64.whl),
#                            with the scoring kernels' C extension compiled for x86-64-v3
#   build/model/             a copy of the model the api image bakes in: MODEL_DIR, by default
#                            models/model, the model the pipeline trained and gated, named by its
#                            content hash (checked, not built: `make pipeline` produces it); CD adds
#                            the team registry's card for it (deploy/release-model.sh)
#
# Our wheel is built here, on the host, by the package's build backend (setuptools, setup.py), which
# compiles the kernels' C extension with gcc. Building it on the host rather than in a builder stage
# is deliberate: the slim base image has no compiler, and installing one needs Debian's mirror, which
# offline builds do not have. The host is Debian bookworm with CPython 3.11, the same glibc and ABI
# as the image's python3.11 (CPython keeps the ABI stable within a minor version); the image build
# scores with the extension and fails if it does not load.
#
# Environment: MODEL_DIR (models/model), PYTHON (the project's virtualenv interpreter:
# .venv/bin/python), PIP_PYTHON (an interpreter that has pip, for `pip download`),
# SENTIMENT_CPU_BASELINE (the -march level the kernels are built for: x86-64-v3).
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:-api}
PYTHON=${PYTHON:-.venv/bin/python}
MODEL_DIR=${MODEL_DIR:-models/model}
wheels=build/wheels/$target

die() { echo "build-context: $*" >&2; exit 2; }
case $target in
  # The serving core only: the prediction log reaches S3 through pyarrow.fs, no extra needed.
  api) extras=() ;;
  # The predictive scaler: the autoscale extra.
  scaler) extras=(--extra autoscale) ;;
  # The Spark batch job: pyspark, and MLflow to load the champion from the registry.
  spark) extras=(--extra spark) ;;
  *) die "unknown target '$target' (api, scaler or spark)" ;;
esac
command -v uv >/dev/null || die "uv is missing (python3 -m pip install 'uv>=0.4')"
[ -x "$PYTHON" ] || die "$PYTHON is missing: run \`make setup\` first"
# pip for `pip download` (uv has no equivalent): PIP_PYTHON's, else python3's, else a pip that uv
# runs in a throw-away environment (the project's virtualenv, first on make's PATH, has no pip).
if [ -n "${PIP_PYTHON:-}" ]; then
  pip=("$PIP_PYTHON" -m pip)
elif python3 -m pip --version >/dev/null 2>&1; then
  pip=(python3 -m pip)
else
  pip=(uvx --quiet --from 'pip>=23' pip)
fi
"${pip[@]}" --version >/dev/null || die "no pip found (set PIP_PYTHON to an interpreter that has pip)"

if [ "$target" = api ]; then
  # Checked first: it is the one input this script cannot make.
  for f in "$MODEL_DIR/card.json" "$MODEL_DIR/weights.npz"; do
    [ -s "$f" ] || die "$f is missing: the image bakes the trained model; run \`make pipeline\` first"
  done
  echo "build-context: model $MODEL_DIR -> build/model" >&2
  rm -rf build/model
  mkdir -p build/model
  cp "$MODEL_DIR/card.json" "$MODEL_DIR/weights.npz" build/model/
fi

mkdir -p "$wheels" build/dist
echo "build-context: locked requirements ($target) -> $wheels/requirements.txt" >&2
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
uv export --frozen --no-dev --no-hashes --no-emit-project --no-header --no-annotate "${extras[@]}" >"$tmp"
cp "$tmp" "$wheels/requirements.txt"

find_links=()
if [ "$target" = spark ]; then
  # pyspark is published as a source distribution only (pure Python and Spark's jars): build its
  # wheel here once, then the download below finds it beside the others.
  pyspark=$(grep -E '^pyspark==' "$wheels/requirements.txt") || die "no pyspark in the spark requirements"
  if ! ls "$wheels"/pyspark-"${pyspark#pyspark==}"-*.whl >/dev/null 2>&1; then
    echo "build-context: building the $pyspark wheel (a large source distribution)" >&2
    "${pip[@]}" wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$wheels" "$pyspark"
  fi
  find_links=(--find-links "$wheels")
fi

echo "build-context: downloading wheels for cp311 manylinux x86_64 -> $wheels" >&2
# Binary wheels only, for the image's platform (not the host's): no sdist is built, so nothing
# depends on the host's compilers; pip keeps wheels already there.
"${pip[@]}" download --quiet --disable-pip-version-check --only-binary=:all: \
  --implementation cp --python-version 3.11 --abi cp311 --abi abi3 --abi none \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 --platform any \
  "${find_links[@]}" --dest "$wheels" --requirement "$wheels/requirements.txt"

echo "build-context: our wheel, with the compiled kernels -> build/dist" >&2
rm -f build/dist/sentiment_mlops-*.whl
# The build's setuptools comes from PyPI through uv's build isolation (pyproject's build-system).
uv build --quiet --wheel --python "$PYTHON" --out-dir build/dist >/dev/null
wheel=$(ls build/dist/sentiment_mlops-*-cp311-*.whl 2>/dev/null) || die "uv build produced no cp311 wheel in build/dist"
# (grep reads the whole listing: with -q it would stop early and break the pipe under pipefail)
"$PYTHON" -m zipfile -l "$wheel" | grep 'sentiment_mlops/model/_kernels\.cpython-311' >/dev/null \
  || die "$wheel holds no compiled kernels"
echo "build-context: ready ($target): $(du -sh "$wheels" | cut -f1) of wheels" >&2

#!/usr/bin/env bash
# CD's model steps, runnable here: register the model CI trained and evaluated (models/model,
# reports/metrics.json) in the team's MLflow registry, apply the quality gate against the current
# champion (exit 2 if it fails: nothing ships), and export the version just registered, pinned
# by number, into the folder the release image takes its model card from.
#
#   MLFLOW_TRACKING_URI=https://mlflow.example.org deploy/release-model.sh [OUT]   (OUT: build/model)
#
# Prints the model's identity, one label=value line each (name, version, content-hash), which
# the release image's labels and the service's /version both state; with GITHUB_OUTPUT set (CD),
# also appends them there as model-name=, model-version= and model-content-hash=.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-build/model}
SENTIMENT=${SENTIMENT:-.venv/bin/sentiment}
PYTHON=${PYTHON:-.venv/bin/python}
die() { echo "release-model: $*" >&2; exit 2; }
[ -n "${MLFLOW_TRACKING_URI:-}" ] || die "set MLFLOW_TRACKING_URI to the team's tracking server"
[ -x "$SENTIMENT" ] || die "$SENTIMENT is missing: run \`make setup\` first"

mkdir -p "$(dirname "$out")"
# Our line is "registered <name> version <N> as challenger"; MLflow prints run links around it.
output=$("$SENTIMENT" register)
echo "$output" >&2
registered=$(grep '^registered ' <<<"$output" | tail -n 1) || die "sentiment register printed no version"
read -r _ name _ version _ <<<"$registered"
[[ "$version" =~ ^[0-9]+$ ]] || die "could not read the registered version from: $registered"
"$SENTIMENT" promote >&2
# The version just gated, by number: the champion alias may move again meanwhile.
"$SENTIMENT" export --model-uri "models:/$name/$version" --out "$out" >&2
identity=$("$PYTHON" -m sentiment_mlops.model.identity "$out")
echo "$identity"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "${identity//io.sentiment-mlops.model./model-}" >>"$GITHUB_OUTPUT"
fi

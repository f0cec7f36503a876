#!/usr/bin/env bash
# CD's model steps, runnable here: register the model CI trained and evaluated (models/model,
# reports/metrics.json) in the team's MLflow registry, apply the quality gate against the current
# champion (exit 2 if it fails: nothing ships), and export the version just registered, pinned
# by number, into the folder the release image takes its model card from.
#
#   MLFLOW_TRACKING_URI=https://mlflow.example.org deploy/release-model.sh [OUT]   (OUT: build/model)
#
# With SHADOW_LOG (a prediction log URL) the model must also pass `sentiment shadow report` there
# (SHADOW_MIN_LABELLED, default 200 labelled pairs; SHADOW_MAX_ACCURACY_DROP, default 0.01).
#
# With RELEASE_STAGE=shadow (CD: the repository variable SENTIMENT_DELIVERY_STAGE) the model is
# registered and exported but neither judged nor promoted: it goes to the cluster as the shadow of
# the champion that keeps serving (deploy/release-stage.sh, deploy/k8s/components/shadow), and
# comes back through the default stage, release, once it has shadowed enough traffic.
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
stage=${RELEASE_STAGE:-release}
[[ "$stage" == release || "$stage" == shadow ]] || die "unknown RELEASE_STAGE '$stage' (release or shadow)"

mkdir -p "$(dirname "$out")"
# Our line is "registered <name> version <N> as challenger"; MLflow prints run links around it.
output=$("$SENTIMENT" register)
echo "$output" >&2
registered=$(grep '^registered ' <<<"$output" | tail -n 1) || die "sentiment register printed no version"
read -r _ name _ version _ <<<"$registered"
[[ "$version" =~ ^[0-9]+$ ]] || die "could not read the registered version from: $registered"
# The shadow stage's verdict (docs/development.md): with SHADOW_LOG set (the prediction log the
# production service writes), the challenger must have shadowed live traffic and pass its report
# before it may become champion. Its shadow rows carry the version it was served under: the
# weights' content hash for an exported folder (the default here), or SHADOW_VERSION.
if [ "$stage" = shadow ]; then
  echo "release-model: version $version goes to the shadow stage (not promoted; champion unchanged)" >&2
elif [ -n "${SHADOW_LOG:-}" ]; then
  shadow_version=${SHADOW_VERSION:-$("$PYTHON" -c 'import sys
from sentiment_mlops.model.artifact import SentimentModel
print(SentimentModel.load(sys.argv[1]).content_hash)' models/model)}
  "$SENTIMENT" shadow report --log "$SHADOW_LOG" --shadow-version "$shadow_version" \
    --min-labelled "${SHADOW_MIN_LABELLED:-200}" --max-accuracy-drop "${SHADOW_MAX_ACCURACY_DROP:-0.01}" >&2 \
    || die "version $version fails its shadow report: it goes back (registered, never champion)"
fi
[ "$stage" = shadow ] || "$SENTIMENT" promote >&2
# The version just gated, by number: the champion alias may move again meanwhile.
"$SENTIMENT" export --model-uri "models:/$name/$version" --out "$out" >&2
identity=$("$PYTHON" -m sentiment_mlops.model.identity "$out")
echo "$identity"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "${identity//io.sentiment-mlops.model./model-}" >>"$GITHUB_OUTPUT"
  echo "stage=$stage" >>"$GITHUB_OUTPUT"
fi

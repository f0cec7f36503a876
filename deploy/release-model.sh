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
# comes back through the default stage, release, once it has shadowed enough traffic. That
# release names the version the shadow stage registered, SHADOW_VERSION=N (CD: the repository
# variable SENTIMENT_SHADOW_VERSION): N itself is gated, promoted and exported, nothing is
# registered again, so the version promoted is the version judged and the one its prediction log
# rows name. Refused (exit 2, nothing promoted) unless version N holds these weights, by content
# hash (`sentiment register --version N`). The shadow stage ignores SHADOW_VERSION.
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
reuse=()
if [ -n "${SHADOW_VERSION:-}" ]; then
  if [ "$stage" = shadow ]; then
    echo "release-model: SHADOW_VERSION=$SHADOW_VERSION ignored: the shadow stage registers a new version" >&2
  else
    reuse=(--version "$SHADOW_VERSION")
  fi
fi
# Our line is "registered <name> version <N> as challenger" (with --version: "reused <name>
# version <N> as challenger: ..."); MLflow prints run links around it.
output=$("$SENTIMENT" register "${reuse[@]}") \
  || die "nothing registered, gated or promoted${reuse[*]:+: version $SHADOW_VERSION is not the model being released}"
echo "$output" >&2
registered=$(grep -E '^(registered|reused) ' <<<"$output" | tail -n 1) || die "sentiment register printed no version"
read -r _ name _ version _ <<<"$registered"
[[ "$version" =~ ^[0-9]+$ ]] || die "could not read the registered version from: $registered"
# The shadow stage's verdict (docs/development.md): with SHADOW_LOG set (the prediction log the
# production service writes), the challenger must have shadowed live traffic and pass its report
# before it may become champion. Its shadow rows carry the version it was served under:
# SHADOW_VERSION (= the version released), else the weights' content hash (an exported folder).
if [ "$stage" = shadow ]; then
  echo "release-model: version $version goes to the shadow stage (not promoted; champion unchanged)" >&2
elif [ -n "${SHADOW_LOG:-}" ]; then
  shadow_version=${SHADOW_VERSION:-$("$PYTHON" -c 'from sentiment_mlops.config import Paths
from sentiment_mlops.model.artifact import SentimentModel
print(SentimentModel.load(Paths().model_dir).content_hash)')}
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

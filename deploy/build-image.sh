#!/usr/bin/env bash
# Build a container image from the context that deploy/build-context.sh prepared (run it first:
# `make image` does both), with OCI labels for the version, git revision and the model's identity.
#
#   deploy/build-image.sh [api|scaler|spark] [TAG]     (default: api, sentiment-<target>:<version>)
#   deploy/build-image.sh release BASE_IMAGE TAG
#       the release image CD pushes: BASE_IMAGE (the api image CI built and scanned) with the card
#       the team's registry wrote for that model (build/model, from deploy/release-model.sh); the
#       weights must be the ones BASE_IMAGE holds, which this checks before building.
#
# Environment: CONTAINER_ENGINE (podman, or docker), CONTAINER_RUNTIME_FLAGS (podman's global
# flags, e.g. "--runtime runc": source ../shared/tools/container-env.sh), IMAGE_SOURCE (the
# repository URL for org.opencontainers.image.source; default: git's origin URL).
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:-api}
engine=${CONTAINER_ENGINE:-podman}
die() { echo "build-image: $*" >&2; exit 2; }
PYTHON=${PYTHON:-.venv/bin/python}
case $target in
  api) dockerfile=deploy/Dockerfile; title=sentiment-api ;;
  scaler) dockerfile=deploy/Dockerfile.scaler; title=sentiment-scaler ;;
  spark) dockerfile=deploy/Dockerfile.spark; title=sentiment-spark ;;
  release) dockerfile=deploy/Dockerfile.release; title=sentiment-api ;;
  *) die "unknown target '$target' (api, scaler, spark or release)" ;;
esac
command -v "$engine" >/dev/null || die "$engine is missing (source ../shared/tools/container-env.sh)"
if [ "$target" = release ]; then
  [ $# -eq 3 ] || die "usage: deploy/build-image.sh release BASE_IMAGE TAG"
  base=$2
  [ -s build/model/card.json ] || die "build/model/card.json is missing: run deploy/release-model.sh first"
  # The release adds a card, never other weights: the base image's model must have the same hash.
  # shellcheck disable=SC2086  # CONTAINER_RUNTIME_FLAGS holds several words on purpose
  baked=$("$engine" ${CONTAINER_RUNTIME_FLAGS:-} run --rm --entrypoint python3 "$base" -c \
    'import json; print(json.load(open("/app/model/card.json"))["version"])')
  released=$("$PYTHON" -c 'import json; print(json.load(open("build/model/card.json"))["version"])')
  [ "$baked" = "$released" ] || die "$base bakes model $baked, the registry released $released"
elif [ ! -f "build/wheels/$target/requirements.txt" ]; then
  die "no build context for $target: run deploy/build-context.sh $target"
fi

version=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
if [ "$target" = release ]; then tag=$3; else tag=${2:-$title:$version}; fi
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
# A build from a modified tree says so, rather than claiming a commit it does not match.
if [ "$revision" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no -- src pyproject.toml uv.lock deploy 2>/dev/null)" ]; then
  revision="$revision-dirty"
fi
source_url=${IMAGE_SOURCE:-$(git config --get remote.origin.url 2>/dev/null || echo unknown)}
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
model_args=() model_version=
if [ "$target" != scaler ] && [ "$target" != spark ]; then
  # The model's identity as the service reports it (/version, model_info): one function computes both.
  identity=$("$PYTHON" -m sentiment_mlops.model.identity build/model) || die "build/model is not a model"
  while IFS= read -r label; do
    model_args+=(--label "$label")
  done <<<"$identity"
  model_version=$(sed -n 's/^io\.sentiment-mlops\.model\.version=//p' <<<"$identity")
  model_args+=(--build-arg "MODEL_VERSION=$model_version")
  if [ "$target" = release ]; then model_args+=(--build-arg "BASE_IMAGE=$base"); fi
fi

flags=(-f "$dockerfile" -t "$tag"
  --build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "CREATED=$created"
  --build-arg "SOURCE=$source_url" "${model_args[@]}")
# The same values as --label too: buildah reuses a cached LABEL step even when the build args it
# expands have changed, which would leave a rebuilt image with the previous revision and date.
flags+=(--label "org.opencontainers.image.version=$version" --label "org.opencontainers.image.revision=$revision"
  --label "org.opencontainers.image.created=$created" --label "org.opencontainers.image.source=$source_url")
# podman: never pull (the base image is the local stand-in, no registry is reachable); it writes
# OCI images by default, and the OCI format has no HEALTHCHECK: ask for Docker's. docker's --pull
# is a yes/no flag: left out, it uses a local base image and pulls only a missing one.
if [ "$engine" = podman ]; then
  flags+=(--pull=never --format docker)
fi
echo "build-image: $tag (revision $revision${model_version:+, model $model_version})" >&2
# shellcheck disable=SC2086  # CONTAINER_RUNTIME_FLAGS holds several words on purpose
"$engine" ${CONTAINER_RUNTIME_FLAGS:-} build "${flags[@]}" .

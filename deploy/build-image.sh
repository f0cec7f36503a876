#!/usr/bin/env bash
# Build a container image from the context that deploy/build-context.sh prepared (run it first:
# `make image` does both), with OCI labels for the version, git revision and model version.
#
#   deploy/build-image.sh [api|scaler] [TAG]     (default: api, sentiment-<target>:<version>)
#
# Environment: CONTAINER_ENGINE (podman, or docker), CONTAINER_RUNTIME_FLAGS (podman's global
# flags, e.g. "--runtime runc": source ../shared/tools/container-env.sh), IMAGE_SOURCE (the
# repository URL for org.opencontainers.image.source; default: git's origin URL).
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:-api}
engine=${CONTAINER_ENGINE:-podman}
die() { echo "build-image: $*" >&2; exit 2; }
case $target in
  api) dockerfile=deploy/Dockerfile; title=sentiment-api ;;
  scaler) dockerfile=deploy/Dockerfile.scaler; title=sentiment-scaler ;;
  *) die "unknown target '$target' (api or scaler)" ;;
esac
command -v "$engine" >/dev/null || die "$engine is missing (source ../shared/tools/container-env.sh)"
[ -f "build/wheels/$target/requirements.txt" ] || die "no build context for $target: run deploy/build-context.sh $target"

version=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
tag=${2:-$title:$version}
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
# A build from a modified tree says so, rather than claiming a commit it does not match.
if [ "$revision" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no -- src pyproject.toml uv.lock deploy 2>/dev/null)" ]; then
  revision="$revision-dirty"
fi
source_url=${IMAGE_SOURCE:-$(git config --get remote.origin.url 2>/dev/null || echo unknown)}
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
model_args=() model_version=
if [ "$target" = api ]; then
  # The registry version when the model came from the registry (what /readyz reports), else the card's id.
  model_version=$(python3 -c 'import json; c = json.load(open("build/model/card.json")); print((c.get("registry") or {}).get("version") or c["version"])')
  model_args=(--build-arg "MODEL_VERSION=$model_version" --label "io.sentiment-mlops.model.version=$model_version")
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

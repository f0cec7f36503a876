#!/usr/bin/env bash
# Run the API image as Kubernetes runs it (read-only root filesystem, writable /tmp, metrics and
# prediction-log folders only), check that it does not run as root, smoke-test it
# (deploy/smoke-test.sh) and remove it. The container's log is printed if anything fails.
#
#   deploy/run-image-smoke.sh IMAGE [PORT]
#
# Environment: CONTAINER_ENGINE (podman, or docker), CONTAINER_RUNTIME_FLAGS (podman's global
# flags: source ../shared/tools/container-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:?usage: deploy/run-image-smoke.sh IMAGE [PORT]}
port=${2:-18000}
engine=${CONTAINER_ENGINE:-podman}
# shellcheck disable=SC2086  # CONTAINER_RUNTIME_FLAGS holds several words on purpose
run() { "$engine" ${CONTAINER_RUNTIME_FLAGS:-} "$@"; }
name=sentiment-api-smoke-$$
# Host networking on 127.0.0.1: works the same with docker and rootful podman, reaches nothing else.
# The writable folders are world-writable tmpfs (Kubernetes gives emptyDirs the pod's fsGroup).
# podman's --read-only also mounts its own tmpfs on /run (= /var/run), which would hide ours.
engine_flags=()
[ "$engine" = podman ] && engine_flags=(--read-only-tmpfs=false)
run run --detach --name "$name" --network=host --read-only "${engine_flags[@]}" \
  --tmpfs /tmp:rw,mode=1777 --tmpfs /var/run/prometheus:rw,mode=1777 \
  --tmpfs /var/lib/sentiment/prediction-log:rw,mode=1777 \
  --env "GUNICORN_BIND=127.0.0.1:$port" "$image" >/dev/null
cleanup() {
  rc=$?
  [ "$rc" -eq 0 ] || run logs "$name" >&2 || true
  run rm --force "$name" >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT
uid=$(run exec "$name" id -u)
[ "$uid" != 0 ] || { echo "run-image-smoke: the container runs as root" >&2; exit 1; }
echo "run-image-smoke: $image runs as uid $uid" >&2
deploy/smoke-test.sh "http://127.0.0.1:$port" 60

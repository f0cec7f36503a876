#!/usr/bin/env bash
# Which image serves and which one shadows, for one delivery stage, and what the smoke test must
# then find: one key=value line each on stdout, appended to GITHUB_OUTPUT too when it is set (CD's
# deploy job; .ci/run runs it for both stages).
#
#   STAGE=release NEW_IMAGE=<pushed image@sha256:...> MODEL_VERSION=N MODEL_CONTENT_HASH=<hash> \
#     [SHADOW_VERSION=N] deploy/release-stage.sh
#   STAGE=shadow  NEW_IMAGE=<pushed image@sha256:...> MODEL_VERSION=N LIVE_IMAGE=<the API image serving now> \
#     CHAMPION_VERSION=<version the live image serves> deploy/release-stage.sh
#
# release: the new image serves (image-ref); /version must name N and its weights' hash. After a
#          shadow stage (SHADOW_VERSION, CD: the repository variable SENTIMENT_SHADOW_VERSION) N
#          must be that version: deploy/release-model.sh released it without registering again.
# shadow:  the live image keeps serving (image-ref = LIVE_IMAGE, /version must still name
#          CHAMPION_VERSION) and the new image is only the challenger (shadow-image-ref): its model
#          is copied into the pods by deploy/k8s/components/shadow, and /metrics must show
#          model_shadow_ready 1 for version N (deploy/smoke-test.sh, EXPECT_SHADOW_VERSION).
set -euo pipefail
die() { echo "release-stage: $*" >&2; exit 2; }
stage=${STAGE:-release}
new=${NEW_IMAGE:?set NEW_IMAGE to the image just pushed}
version=${MODEL_VERSION:?set MODEL_VERSION to the registered version}
[[ "$new" =~ @sha256:[0-9a-f]{64}$ ]] || die "NEW_IMAGE $new is not pinned by digest"
case $stage in
  release)
    [ -z "${SHADOW_VERSION:-}" ] || [ "$SHADOW_VERSION" = "$version" ] \
      || die "version $version is not the version shadowed ($SHADOW_VERSION): the release must ship that version itself"
    lines=("image-ref=$new" "shadow-image-ref=" "expect-version=$version"
      "expect-content-hash=${MODEL_CONTENT_HASH:-}" "expect-shadow-version=") ;;
  shadow)
    [ -n "${LIVE_IMAGE:-}" ] || die "a shadow needs a champion serving: no live API image (deploy a release first)"
    [ -n "${CHAMPION_VERSION:-}" ] || die "a shadow needs a champion: the registry has none (deploy a release first)"
    [ "$LIVE_IMAGE" != "$new" ] || die "the live image is the new one: it cannot shadow itself"
    lines=("image-ref=$LIVE_IMAGE" "shadow-image-ref=$new" "expect-version=$CHAMPION_VERSION"
      "expect-content-hash=" "expect-shadow-version=$version") ;;
  *) die "unknown STAGE '$stage' (release or shadow)" ;;
esac
printf '%s\n' "${lines[@]}"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  printf '%s\n' "${lines[@]}" >>"$GITHUB_OUTPUT"
fi

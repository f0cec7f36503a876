#!/usr/bin/env bash
# Render a kustomize overlay with the API image pinned to IMAGE (e.g. repository@sha256:digest),
# using kubectl only: a throw-away overlay on top of OVERLAY renames the overlay's image. The
# repository is not modified. Fails unless the rendered Deployment runs exactly IMAGE.
#
#   deploy/render-overlay.sh IMAGE [OVERLAY] > manifests.yaml     (OVERLAY: deploy/k8s/overlays/eks)
#
# With SHADOW_IMAGE=<challenger repository>@sha256:<digest> (a digest, never a tag), the shadow
# stage: the component deploy/k8s/components/shadow is added on top, its init container runs
# SHADOW_IMAGE (copying the challenger's model for the API, which still runs IMAGE, to score as
# its shadow). Fails unless the rendered init container runs exactly SHADOW_IMAGE.
set -euo pipefail
image=${1:?usage: deploy/render-overlay.sh IMAGE [OVERLAY]}
overlay=$(cd "${2:-$(dirname "$0")/k8s/overlays/eks}" && pwd)
shadow=${SHADOW_IMAGE:-}
component=$(cd "$(dirname "$0")/k8s/components/shadow" && pwd)
kubectl=${KUBECTL:-kubectl}
[[ "$image" == *@sha256:* || "$image" == *:* ]] || { echo "render-overlay: $image has no tag or digest" >&2; exit 2; }
[[ -z "$shadow" || "$shadow" =~ @sha256:[0-9a-f]{64}$ ]] \
  || { echo "render-overlay: SHADOW_IMAGE $shadow is not pinned by digest (<repository>@sha256:<64 hex>)" >&2; exit 2; }
# The overlay's current reference for the API image, without its tag or digest (awk reads to the
# end: exiting early would kill kubectl with SIGPIPE, which pipefail turns into a failure).
current=$("$kubectl" kustomize "$overlay" | awk '$1 == "image:" && $2 ~ /sentiment-api[:@]/ && !found {print $2; found = 1}')
[ -n "$current" ] || { echo "render-overlay: no sentiment-api image in $overlay" >&2; exit 2; }
current=${current%@*}
[[ "${current##*/}" == *:* ]] && current=${current%:*}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
name=${image%@*}
if [[ "$image" == *@* ]]; then
  pin="digest: ${image#*@}"
else
  [[ "${name##*/}" == *:* ]] && name=${image%:*}
  pin="newTag: ${image##*:}"
fi
mkdir "$work/release"
cat >"$work/release/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$work/release" "$overlay")
images:
  - name: $current
    newName: $name
    $pin
YAML
top=$work/release
if [ -n "$shadow" ]; then
  # One level up, so the champion's rename above can never reach the challenger's init container
  # (both images usually live in the same repository).
  top=$work/shadow
  mkdir "$top"
  cat >"$top/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../release
components:
  - $(realpath --relative-to="$top" "$component")
images:
  - name: sentiment-api-challenger
    newName: ${shadow%@*}
    digest: ${shadow#*@}
YAML
fi
"$kubectl" kustomize "$top" >"$work/manifests.yaml"
grep --quiet --fixed-strings "image: $image" "$work/manifests.yaml" \
  || { echo "render-overlay: the rendered manifests do not run $image" >&2; exit 1; }
if [ -n "$shadow" ]; then
  grep --quiet --fixed-strings "image: $shadow" "$work/manifests.yaml" \
    || { echo "render-overlay: the rendered init container does not run $shadow" >&2; exit 1; }
fi
cat "$work/manifests.yaml"

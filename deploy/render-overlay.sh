#!/usr/bin/env bash
# Render a kustomize overlay with the API image pinned to IMAGE (e.g. repository@sha256:digest),
# using kubectl only: a throw-away overlay on top of OVERLAY renames the overlay's image. The
# repository is not modified. Fails unless the rendered Deployment runs exactly IMAGE.
#
#   deploy/render-overlay.sh IMAGE [OVERLAY] > manifests.yaml     (OVERLAY: deploy/k8s/overlays/eks)
set -euo pipefail
image=${1:?usage: deploy/render-overlay.sh IMAGE [OVERLAY]}
overlay=$(cd "${2:-$(dirname "$0")/k8s/overlays/eks}" && pwd)
kubectl=${KUBECTL:-kubectl}
[[ "$image" == *@sha256:* || "$image" == *:* ]] || { echo "render-overlay: $image has no tag or digest" >&2; exit 2; }
# The overlay's current reference for the API image, without its tag or digest.
current=$("$kubectl" kustomize "$overlay" | awk '$1 == "image:" && $2 ~ /sentiment-api[:@]/ {print $2; exit}')
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
cat >"$work/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$work" "$overlay")
images:
  - name: $current
    newName: $name
    $pin
YAML
"$kubectl" kustomize "$work" >"$work/manifests.yaml"
grep --quiet --fixed-strings "image: $image" "$work/manifests.yaml" \
  || { echo "render-overlay: the rendered manifests do not run $image" >&2; exit 1; }
cat "$work/manifests.yaml"

#!/usr/bin/env bash
# Smoke-test a running API at BASE_URL: /readyz within TIMEOUT seconds, then one POST /v1/predict
# that must answer a prediction. CI runs it against the image (deploy/run-image-smoke.sh), CD
# against the deployed pods (through kubectl port-forward).
#
#   deploy/smoke-test.sh BASE_URL [TIMEOUT]        e.g. deploy/smoke-test.sh http://127.0.0.1:8000
#
# With EXPECT_MODEL_VERSION (and EXPECT_CONTENT_HASH) set, /version must name that model: CD checks
# that the release image and the rollout serve the version the registry released. With
# EXPECT_SHADOW_VERSION set (the shadow stage: deploy/release-stage.sh), /metrics must also show a
# shadow of that version loaded and scoring (model_shadow_ready 1, model_shadow_info).
set -euo pipefail
base=${1:?usage: deploy/smoke-test.sh BASE_URL [TIMEOUT]}
timeout=${2:-60}
for _ in $(seq "$timeout"); do
  curl --silent --fail --output /dev/null "$base/readyz" && break
  sleep 1
done
curl --fail --silent --show-error "$base/readyz"
echo
body=$(curl --fail --silent --show-error --request POST "$base/v1/predict" \
  --header 'Content-Type: application/json' \
  --data '{"text": "A moving, beautifully acted film; I loved every minute of it."}')
echo "$body"
python3 -c '
import json, sys
body = json.loads(sys.argv[1])
label = body["predictions"][0]["label"]
assert label in {"positive", "negative"}, body
' "$body"
if [ -n "${EXPECT_MODEL_VERSION:-}" ]; then
  served=$(curl --fail --silent --show-error "$base/version")
  python3 -c '
import json, os, sys
model = json.loads(sys.argv[1])["model"]
want = {"version": os.environ["EXPECT_MODEL_VERSION"]}
if os.environ.get("EXPECT_CONTENT_HASH"):
    want["content_hash"] = os.environ["EXPECT_CONTENT_HASH"]
got = {key: model.get(key) for key in want}
assert got == want, f"serving {got}, expected {want}"
print(f"model: {got}")
' "$served"
fi
if [ -n "${EXPECT_SHADOW_VERSION:-}" ]; then
  metrics=$(curl --fail --silent --show-error "$base/metrics")
  python3 -c '
import os, re, sys
text, want = sys.argv[1], os.environ["EXPECT_SHADOW_VERSION"]
ready = re.search(r"^model_shadow_ready (\S+)$", text, re.M)
assert ready and float(ready[1]) == 1, "no shadow model ready (model_shadow_ready)"
info = [m for m in re.finditer(r"^model_shadow_info\{([^}]*)\} (\S+)$", text, re.M) if float(m[2]) == 1]
versions = [v for m in info for v in re.findall(r"(?:^|,)version=\"([^\"]*)\"", m[1])]
assert versions == [want], f"shadowing {versions}, expected [{want!r}]"
print(f"shadow: version {want}, ready")
' "$metrics"
fi

#!/usr/bin/env bash
# Smoke-test a running API at BASE_URL: /readyz within TIMEOUT seconds, then one POST /v1/predict
# that must answer a prediction. CI runs it against the image (deploy/run-image-smoke.sh), CD
# against the deployed pods (through kubectl port-forward).
#
#   deploy/smoke-test.sh BASE_URL [TIMEOUT]        e.g. deploy/smoke-test.sh http://127.0.0.1:8000
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

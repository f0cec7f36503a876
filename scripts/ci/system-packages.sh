#!/usr/bin/env bash
# Install the system tools the tests need, from the distribution's packages (Debian or Ubuntu):
#   prometheus  promtool (rule tests, backfill) and the Prometheus server (live tests);
#   chromium    the web page test (skipped when a chromium is already on PATH, as on GitHub's
#               runners, whose Ubuntu package of it is only a snap stub);
#   wrk         the serving benchmark's load generator;  git, make, curl  the build and DVC tests;
#   postgresql  the MLflow registry's backend store in the model-identity test, as a team runs it;
#   openjdk-17-jre-headless  Java for the Spark engine's tests (pyspark itself comes from the lock).
# kubectl, hadolint, actionlint and shellcheck are not here: they come as locked wheels with
# `make setup`. Runs as root, or through sudo (GitHub's runners).
set -euo pipefail
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
pkgs=(prometheus wrk git make curl postgresql openjdk-17-jre-headless)
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || pkgs+=(chromium)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "system-packages: installing ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
promtool --version | head -1

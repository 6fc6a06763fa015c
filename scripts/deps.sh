#!/usr/bin/env bash
# Installs the Debian 12 packages tokenaudit builds and tests with. Idempotent; needs root (or
# sudo). Skips apt entirely when every package is already installed.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build pkg-config
  libssl-dev libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libcurl4-openssl-dev
  libboost-dev libsimdjson-dev libtomlplusplus-dev libzstd-dev tzdata python3
  clang libclang-rt-14-dev
  chromium  # the dashboard's browser test (test/dashboard/run.sh)
)
# npm for the browser test's playwright-core. A Node.js that already ships npm (NodeSource's
# nodejs, which conflicts with Debian's npm package) is kept as it is.
command -v npm >/dev/null 2>&1 || PKGS+=(npm)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

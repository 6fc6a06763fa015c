#!/usr/bin/env bash
# Browser test of the dashboard (dashboard_test.mjs): installs playwright-core from npm into
# test/dashboard/node_modules (pinned by package-lock.json; the npm cache makes reruns offline),
# then drives Debian's chromium against the real `tokenaudit serve`.
#   run.sh TOKENAUDIT_BIN ARTIFACT_DIR
# Exit 77 (ctest SKIP) when node, npm or chromium is missing, so the C++ build and tests stay
# self-contained; scripts/deps.sh installs them (Debian packages chromium and npm).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$(realpath "${1:?usage: run.sh TOKENAUDIT_BIN ARTIFACT_DIR}")"
mkdir -p "${2:?usage: run.sh TOKENAUDIT_BIN ARTIFACT_DIR}"
artifacts="$(realpath "$2")"
chromium="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIP: $tool not installed (scripts/deps.sh installs it)"
    exit 77
  fi
done
if [ -z "$chromium" ]; then
  echo "SKIP: chromium not installed (scripts/deps.sh installs it)"
  exit 77
fi
cd "$here"
# One install at a time (ctest may run two build directories' tests at once); npm ci is
# skipped when the installed tree already matches the lock file.
exec 9>"$here/.npm-install.lock"
flock 9
if ! node -e "process.exit(require('./node_modules/playwright-core/package.json').version === require('./package-lock.json').packages['node_modules/playwright-core'].version ? 0 : 1)" 2>/dev/null; then
  npm ci --prefer-offline --no-audit --no-fund --loglevel=error
fi
flock -u 9
exec node "$here/dashboard_test.mjs" "$bin" "$artifacts" "$chromium"

#!/usr/bin/env bash
# Compiles every library with clang's thread-safety analysis as errors (-Wthread-safety
# -Werror=thread-safety-analysis, see cmake/TokenauditHelpers.cmake): every GUARDED_BY field is
# checked. A quick build only, no tests; CI gets the same analysis from its clang ASan build
# (TOKENAUDIT_SANITIZE=1 scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
CC=clang CXX=clang++ cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=Debug
cmake --build build-clang -j "$(nproc)" --target \
  ta_util ta_env ta_env_testing ta_merkle ta_log ta_ledger ta_record ta_auth ta_http ta_metrics \
  ta_ingest ta_config ta_client ta_gateway
echo "thread-safety analysis: clean"

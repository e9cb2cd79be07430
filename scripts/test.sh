#!/usr/bin/env bash
# The test command: installs what the build needs, builds, and runs the whole suite with ctest.
#   scripts/test.sh                    # Release-like build in build/
#   TWIN_SANITIZE=ON scripts/test.sh   # ASan + UBSan build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

sanitize=${TWIN_SANITIZE:-OFF}
build=${TWIN_BUILD_DIR:-build}
if [[ $sanitize == ON && -z ${TWIN_BUILD_DIR:-} ]]; then build=build-asan; fi
jobs=${TWIN_JOBS:-$(nproc)}

cmake -S . -B "$build" -G Ninja -DTWIN_SANITIZE="$sanitize" >/dev/null
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs" --timeout 600

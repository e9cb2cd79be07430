#!/usr/bin/env bash
# Re-records chromium-recorded.har with a real Chromium against examples/shop (seed 42).
# Needs Debian's chromium and `npm install playwright-core` somewhere on NODE_PATH.
#   tests/data/har/record_chromium.sh build/bin/shop
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shop=${1:?usage: record_chromium.sh PATH/TO/shop}
tmp=$(mktemp -d)
"$shop" --port 0 --seed 42 >"$tmp/out" 2>"$tmp/err" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 1 50); do grep -q listening "$tmp/out" && break; sleep 0.1; done
port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/out")
node "$here/record_chromium.js" "http://127.0.0.1:$port" "$here/chromium-recorded.har"
echo "wrote $here/chromium-recorded.har (shop on port $port)"

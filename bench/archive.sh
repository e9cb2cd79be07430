#!/usr/bin/env bash
# Archive benchmarks, side by side with the peer named in issue 2 (gzip -6 of the same traffic
# as JSONL), in one run:
#   bench/archive.sh [REPETITIONS]
# Prints write and read throughput (median of REPETITIONS runs, one core) and the size ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
build=${TWIN_BENCH_BUILD:-build-bench}
work=${TWIN_BENCH_DIR:-$(mktemp -d)}
export TWIN_BENCH_DIR=$work

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTWIN_TESTS=OFF >"$work/build.log"
cmake --build "$build" --target archive_bench bench_sample twin >>"$work/build.log" ||
  { cat "$work/build.log" >&2; exit 1; }

echo "== throughput (200,000 exchanges of ~1 KB, median of $reps, taskset to one core)"
taskset -c 0 "$build/bin/archive_bench" --benchmark_repetitions="$reps" \
  --benchmark_report_aggregates_only=true --benchmark_min_time=1 2>/dev/null |
  awk '/_median/ {
    for (i = 1; i <= NF; i++) if ($i ~ /^items_per_second=/) { split($i, a, "="); rate = a[2] }
    printf "  %-28s %s exchanges/s\n", $1, rate }'

echo "== size against gzip -6 of the same traffic as JSONL"
"$build/bin/bench_sample" "$work/sample.twin" 200000
"$build/bin/twin" convert "$work/sample.twin" -o "$work/sample.jsonl"
start=$(date +%s.%N)
gzip -6 -c "$work/sample.jsonl" >"$work/sample.jsonl.gz"
end=$(date +%s.%N)
twin_size=$(stat -c %s "$work/sample.twin")
jsonl_size=$(stat -c %s "$work/sample.jsonl")
gz_size=$(stat -c %s "$work/sample.jsonl.gz")
echo "  jsonl            $jsonl_size bytes"
echo "  jsonl | gzip -6  $gz_size bytes ($(echo "$end - $start" | bc) s)"
echo "  .twin            $twin_size bytes"
echo "  ratio .twin / gzip -6 = $(echo "scale=3; $twin_size / $gz_size" | bc)"
[[ -z ${TWIN_BENCH_KEEP:-} ]] && rm -f "$work"/sample.*

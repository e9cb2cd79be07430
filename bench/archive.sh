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
  --benchmark_report_aggregates_only=true --benchmark_min_time=1 \
  --benchmark_format=json 2>/dev/null >"$work/bench.json"
rate() {  # median items/s of a benchmark
  python3 -c 'import json,sys
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b["name"] == sys.argv[2] + "_median": print(int(b["items_per_second"]))' "$work/bench.json" "$1"
}
write1=$(rate BM_ArchiveWrite/1/real_time)
write3=$(rate BM_ArchiveWrite/3/real_time)
read=$(rate BM_ArchiveRead/real_time)
echo "  write (zstd level 1, the default)  $write1 exchanges/s"
echo "  write (zstd level 3)               $write3 exchanges/s"
echo "  read                               $read exchanges/s"

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
gz_rate=$(echo "200000 / ($end - $start)" | bc)
echo "  ratio .twin / gzip -6 = $(echo "scale=3; $twin_size / $gz_size" | bc) (size)"
echo "  gzip -6 of the JSONL: $gz_rate exchanges/s; twin write is $(echo "scale=1; $write1 / $gz_rate" | bc)x that"
[[ -z ${TWIN_BENCH_KEEP:-} ]] && rm -f "$work"/sample.*

#!/usr/bin/env bash
# Compare throughput and memory (issue 6):
#   bench/compare.sh [REPETITIONS] [PAIRS...]
# Writes paired replay results (bench/compare_sample.cc: baseline and candidate answers of PAIRS
# captured requests over 40 routes, default 1,000,000 and 10,000,000 pairs), then times,
# REPETITIONS times each (default 3), pinned to one core (taskset -c 0):
#   twin compare R.twin --baseline baseline --candidate candidate -q --json OUT
# and, for reference, a plain read of the same archive that decodes every record
# (twin info R.twin --json), and prints the medians in exchanges/s and pairs/s, each one's peak
# RSS, and whether the targets hold: >= 1,000,000 exchanges/s per core, memory independent of
# the count (peak RSS of the largest run within 25 % of the next largest: memory is bounded by
# routes x time blocks x latency buckets, so it levels off once the blocks' histograms have filled
# in; give three sizes, e.g. 1000000 10000000 30000000, to see it).
# Environment: TWIN_BENCH_BUILD (default build-bench, Release), TWIN_BENCH_DIR (default a new
# temporary directory), TWIN_BENCH_KEEP=1 keeps the archives.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
shift || true
sizes=("$@")
if ((${#sizes[@]} == 0)); then sizes=(1000000 10000000); fi
build=${TWIN_BENCH_BUILD:-build-bench}
work=${TWIN_BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work"
work=$(cd "$work" && pwd)

for tool in taskset python3; do
  command -v "$tool" >/dev/null || { echo "compare.sh: $tool is not installed (scripts/setup.sh)" >&2; exit 2; }
done
[[ -x /usr/bin/time ]] || { echo "compare.sh: /usr/bin/time is not installed (package time)" >&2; exit 2; }

echo "== building twin and bench_compare_sample (Release, $build)"
if ! { cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTWIN_TESTS=OFF &&
       cmake --build "$build" --target bench_compare_sample twin; } >"$work/build.log" 2>&1; then
  tail -n 30 "$work/build.log" >&2
  echo "compare.sh: the build failed (see $work/build.log)" >&2
  exit 1
fi
twin="$build/bin/twin"
sample="$build/bin/bench_compare_sample"

# Runs a command pinned to core 0; prints "SECONDS MAXRSS_KIB".
measure() {
  local out="$work/time.txt"
  /usr/bin/time -f "%e %M" -o "$out" taskset -c 0 "$@" >/dev/null 2>"$work/stderr.txt" || {
    local rc=$?
    # twin compare exits 1 on a regression, which this sample has: that is a result, not a failure.
    if [[ $rc -ne 1 || $1 != "$twin" ]]; then
      cat "$work/stderr.txt" >&2
      echo "compare.sh: $* exited $rc" >&2
      exit 1
    fi
  }
  tail -n 1 "$out"
}

median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

declare -A result
for n in "${sizes[@]}"; do
  in="$work/pairs-$n.twin"
  echo "== writing $n pairs ($((2 * n)) exchanges) to $in"
  "$sample" "$in" "$n"
  ls -l "$in" | awk '{printf "   %.1f MB on disk\n", $5 / 1e6}'
  compare_s=() compare_kib=() read_s=() read_kib=()
  for ((i = 1; i <= reps; i++)); do
    read -r s kib < <(measure "$twin" compare "$in" --baseline baseline --candidate candidate -q \
                        --json "$work/report.json")
    compare_s+=("$s") compare_kib+=("$kib")
    read -r s kib < <(measure "$twin" info "$in" --json)
    read_s+=("$s") read_kib+=("$kib")
    echo "   run $i: compare ${compare_s[-1]} s, ${compare_kib[-1]} KiB; read ${read_s[-1]} s, ${read_kib[-1]} KiB"
  done
  cs=$(median "${compare_s[@]}")
  ck=$(median "${compare_kib[@]}")
  rs=$(median "${read_s[@]}")
  rk=$(median "${read_kib[@]}")
  result[$n]="$cs $ck $rs $rk"
  python3 - "$work/report.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
reg = [f"{x['method']} {x['route']}" for x in r["routes"] if x["verdict"] == "regressed"]
print(f"   verdict {r['verdict']}, paired {r['counters']['paired']}, routes {len(r['routes'])}, "
      f"regressed: {', '.join(reg) or '-'}")
EOF
  [[ ${TWIN_BENCH_KEEP:-0} == 1 ]] || rm -f "$in"
done

echo
echo "| pairs | exchanges | twin compare | exchanges/s | pairs/s | peak RSS | plain read (twin info) | read exchanges/s | compare / read |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
prev=""
last=""
for n in "${sizes[@]}"; do
  read -r cs ck rs rk <<<"${result[$n]}"
  python3 - "$n" "$cs" "$ck" "$rs" "$rk" <<'EOF'
import sys
n, cs, ck, rs, rk = int(sys.argv[1]), *map(float, sys.argv[2:])
ex = 2 * n
print(f"| {n:,} | {ex:,} | {cs:.2f} s | {ex / cs:,.0f} | {n / cs:,.0f} | {ck / 1024:.0f} MiB | "
      f"{rs:.2f} s, {rk / 1024:.0f} MiB | {ex / rs:,.0f} | {cs / rs:.2f}x |")
EOF
  prev="$last"
  last="$ck"
  rate=$(python3 -c "print(int(2 * $n / $cs))")
done
echo
[[ -n $prev ]] || prev="$last"
python3 - "$rate" "$prev" "$last" <<'EOF'
import sys
rate, first, last = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"largest run: {rate:,} exchanges/s on one core (target >= 1,000,000: "
      f"{'met' if rate >= 1_000_000 else 'not met'})")
print(f"peak RSS, largest / next largest run: {last / first:.2f} (target: independent of the count, "
      f"<= 1.25: {'met' if last / first <= 1.25 else 'not met'})")
EOF
if [[ ${TWIN_BENCH_KEEP:-0} == 1 ]]; then echo "archives kept in $work"; fi

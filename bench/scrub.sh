#!/usr/bin/env bash
# Scrub throughput benchmark (issue 4), against a plain read-and-rewrite of the same archive:
#   bench/scrub.sh [REPETITIONS] [EXCHANGES]
# Writes EXCHANGES (default: enough for >= 200 MB) JSON-heavy exchanges full of personal data
# (bench/scrub_sample.cc: user lists, orders with cards and IBANs, searches, CRM notes), then
# times, REPETITIONS times (default 5) each, interleaved, pinned to one core (taskset -c 0):
#   twin convert IN.twin -o OUT.twin                          (plain read-and-rewrite)
#   twin scrub IN.twin -o OUT.twin --ephemeral-key -q         (built-in default policy)
#   twin scrub IN.twin -o OUT.twin --key-file KEY -q          (a fixed key)
# and prints the medians in MB/s, the ratio scrub / convert (time), each one's peak RSS, and
# whether the targets are met: scrub costs at most 2x the rewrite, at >= 200 MB/s per core.
# MB = 10^6 bytes of method, target, header names and values, and bodies of the input's
# requests and responses (what bench_scrub_sample counts), not the compressed file size.
# Finally one scrub with --report prints the report's residual count and totals.
# Environment: TWIN_BENCH_BUILD (default build-bench, Release), TWIN_BENCH_DIR (default a new
# temporary directory), TWIN_BENCH_KEEP=1 keeps the archives.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
exchanges=${2:-}
build=${TWIN_BENCH_BUILD:-build-bench}
work=${TWIN_BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
target_mb=200

for tool in taskset python3 bc; do
  command -v "$tool" >/dev/null || { echo "scrub.sh: $tool is not installed (scripts/setup.sh)" >&2; exit 2; }
done

echo "== building twin and bench_scrub_sample (Release, $build)"
if ! { cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTWIN_TESTS=OFF &&
       cmake --build "$build" --target bench_scrub_sample twin; } >"$work/build.log" 2>&1; then
  tail -n 30 "$work/build.log" >&2
  echo "scrub.sh: the build failed (see $work/build.log)" >&2
  exit 1
fi
twin="$build/bin/twin"
sample="$build/bin/bench_scrub_sample"

# --- the input ---
field() { sed -n "s/.*\\b$1=\\([0-9]*\\).*/\\1/p" <<<"$2"; }
if [[ -z $exchanges ]]; then
  # The generator is deterministic: a probe of its first 2,000 exchanges gives bytes per exchange.
  probe=$("$sample" "$work/probe.twin" 2000)
  rm -f "$work/probe.twin"
  exchanges=$(( (target_mb * 1000000 * 2000 / $(field bytes "$probe")) * 102 / 100 ))
fi
echo "== writing $exchanges JSON-heavy exchanges (bench/scrub_sample.cc)"
made=$("$sample" "$work/in.twin" "$exchanges")
bytes=$(field bytes "$made")
body_bytes=$(field body_bytes "$made")
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
printf '  %s MB of exchange bytes (%s bytes: method, target, header names and values, bodies;\n' "$mb" "$bytes"
printf '  bodies %s%%, %s bytes an exchange); .twin file %s MB (zstd)\n' \
  "$(echo "scale=1; 100 * $body_bytes / $bytes" | bc)" "$((bytes / exchanges))" \
  "$(awk -v s="$(stat -c %s "$work/in.twin")" 'BEGIN { printf "%.1f", s / 1e6 }')"
if (( bytes < target_mb * 1000000 )); then
  echo "  (less than $target_mb MB: pass more EXCHANGES for a full-size run)"
fi
# A fixed 256-bit key (64 hex digits, as `openssl rand -hex 32` writes).
echo "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" >"$work/key"

# --- timing: "seconds peak_rss_kib cpu_seconds" of one command, stdout to /dev/null, pinned to core 0 ---
measure() {
  rm -f "$work/out.twin"
  if [[ -x /usr/bin/time ]]; then
    local start end
    start=$(date +%s.%N)
    if ! /usr/bin/time -f "%M %U %S" -o "$work/time.out" taskset -c 0 "$@" >/dev/null 2>"$work/cmd.err"; then
      echo "command failed: $* ($(tail -n 3 "$work/cmd.err"))" >&2
      return 1
    fi
    end=$(date +%s.%N)
    read -r kib user sys < <(tail -n 1 "$work/time.out")
    echo "$(echo "$end - $start" | bc) $kib $(echo "$user + $sys" | bc)"
  else
    python3 - "$work/cmd.err" "$@" <<'EOF'
import resource, subprocess, sys, time
err = open(sys.argv[1], "wb")
t = time.monotonic()
r = subprocess.run(["taskset", "-c", "0"] + sys.argv[2:], stdout=subprocess.DEVNULL, stderr=err)
elapsed = time.monotonic() - t
if r.returncode != 0:
    sys.exit(f"command failed ({r.returncode}): {' '.join(sys.argv[2:])}")
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{elapsed:.3f} {u.ru_maxrss} {u.ru_utime + u.ru_stime:.3f}")
EOF
  fi
}

names=(convert scrub_ephemeral scrub_key)
declare -A times cpus rss
for n in "${names[@]}"; do times[$n]=""; cpus[$n]=""; rss[$n]=0; done
run() {  # run NAME COMMAND...: one timed run, appended to times[NAME]
  local name=$1 out wall kib cpu; shift
  out=$(measure "$@") || { echo "scrub.sh: $name failed" >&2; exit 1; }
  read -r wall kib cpu <<<"$out"
  times[$name]+="$wall "
  cpus[$name]+="$cpu "
  if (( kib > ${rss[$name]} )); then rss[$name]=$kib; fi
}
last() { local a=(${times[$1]}); echo "${a[-1]}"; }  # the latest time of NAME
median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g |
  awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "== $reps repetitions, interleaved, taskset -c 0"
for ((i = 1; i <= reps; i++)); do
  run convert "$twin" convert "$work/in.twin" -o "$work/out.twin"
  run scrub_ephemeral "$twin" scrub "$work/in.twin" -o "$work/out.twin" --ephemeral-key -q
  run scrub_key "$twin" scrub "$work/in.twin" -o "$work/out.twin" --key-file "$work/key" -q
  printf '  run %d: convert %.2f s, scrub --ephemeral-key %.2f s, scrub --key-file %.2f s\n' \
    "$i" "$(last convert)" "$(last scrub_ephemeral)" "$(last scrub_key)"
done

declare -A med rate cpu_med cpu_rate
echo "== medians of $reps ($mb MB of exchanges); wall-clock time, and CPU time (user + sys)"
for n in "${names[@]}"; do
  med[$n]=$(median "${times[$n]}")
  rate[$n]=$(echo "scale=1; $bytes / 1000000 / ${med[$n]}" | bc)
  cpu_med[$n]=$(median "${cpus[$n]}")
  cpu_rate[$n]=$(echo "scale=1; $bytes / 1000000 / ${cpu_med[$n]}" | bc)
done
label() { case $1 in convert) echo "twin convert";; scrub_ephemeral) echo "twin scrub --ephemeral-key";;
          scrub_key) echo "twin scrub --key-file";; esac; }
for n in "${names[@]}"; do
  printf '  %-28s %7.2f s %7s MB/s   CPU %7.2f s %7s MB/s   peak RSS %4d MiB\n' "$(label "$n")" \
    "${med[$n]}" "${rate[$n]}" "${cpu_med[$n]}" "${cpu_rate[$n]}" $((${rss[$n]} / 1024))
done
for n in scrub_ephemeral scrub_key; do
  ratio=$(echo "scale=2; ${med[$n]} / ${med[convert]}" | bc)
  cpu_ratio=$(echo "scale=2; ${cpu_med[$n]} / ${cpu_med[convert]}" | bc)
  r_ok=$(echo "$ratio <= 2" | bc)
  t_ok=$(echo "${rate[$n]} >= $target_mb" | bc)
  printf '  %-28s scrub / convert = %sx (CPU %sx; target <= 2x: %s), %s MB/s (target >= %s MB/s: %s)\n' \
    "$(label "$n")" "$ratio" "$cpu_ratio" "$([[ $r_ok == 1 ]] && echo met || echo NOT met)" \
    "${rate[$n]}" "$target_mb" "$([[ $t_ok == 1 ]] && echo met || echo NOT met)"
done
if [[ ! -x /usr/bin/time ]]; then echo "  (peak RSS from getrusage: GNU time is not installed)"; fi

echo "== sanity: one scrub with --report (key file)"
rm -f "$work/out.twin"
if ! "$twin" scrub "$work/in.twin" -o "$work/out.twin" --key-file "$work/key" -q \
     --report "$work/report.json" 2>"$work/cmd.err"; then
  echo "scrub.sh: twin scrub --report failed: $(tail -n 3 "$work/cmd.err")" >&2
  exit 1
fi
python3 - "$work/report.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
c = j.get("counters", {})
r = j.get("report", {})
print(f"  residual {j.get('residual')} (must be 0); {c.get('exchanges')} exchanges, "
      f"{c.get('exchanges_changed')} changed, {c.get('values')} values scrubbed, "
      f"{c.get('memory_hits')} remembered hits, {c.get('fallbacks')} fallbacks")
same = r.get("json_same_structure", j.get("json_same_structure"))
checked = r.get("json_structure_checked", r.get("json_bodies", j.get("json_bodies")))
print(f"  JSON bodies {c.get('json_bodies')} ({c.get('json_malformed')} malformed); structure "
      f"checked on {checked}, the same after on {same}; {len(r.get('fields', []))} field paths")
kinds = c.get("by_kind", {})
print("  by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])))
EOF
if [[ -s $work/cmd.err ]]; then sed 's/^/  stderr: /' "$work/cmd.err" | head -n 5; fi

if [[ -z ${TWIN_BENCH_KEEP:-} ]]; then
  rm -f "$work/in.twin" "$work/out.twin" "$work/time.out" "$work/cmd.err"
fi

#!/usr/bin/env bash
# Scrub throughput benchmark (issue 4), against a plain read-and-rewrite of the same archive:
#   bench/scrub.sh [REPETITIONS] [EXCHANGES]
# Writes EXCHANGES (default: enough for >= 200 MB) JSON-heavy exchanges full of personal data
# (bench/scrub_sample.cc: user lists, orders with cards and IBANs, searches, CRM notes), then
# times, REPETITIONS times (default 5) each, interleaved, pinned to one core (taskset -c 0) and
# on one thread (--threads 1: reading, work and writing one after another):
#   twin convert IN.twin -o OUT.twin                          (plain read-and-rewrite)
#   twin scrub IN.twin -o OUT.twin --ephemeral-key -q         (built-in default policy)
#   twin scrub IN.twin -o OUT.twin --key-file KEY -q          (a fixed key)
# and prints the medians in MB/s, the ratio scrub / convert (time), each one's peak RSS, and
# whether the targets are met: scrub costs at most 2x the rewrite, at >= 200 MB/s per core.
# Then, on a machine with more than one core, convert and scrub --key-file again with their
# default --threads (reading and writing on threads of their own), not pinned: the wall-clock
# time a user sees, which the per-core targets are not judged on.
# MB = 10^6 bytes of method, target, header names and values, and bodies of the input's
# requests and responses (what bench_scrub_sample counts), not the compressed file size.
# Finally one scrub with --report prints the report's residual count and totals, and the values
# scrubbed per exchange and per MB.
# Such dense personal data (about one value per 80 bytes) is the hard case; real JSON APIs carry
# far less of it per byte. TWIN_BENCH_PII_SHARE=P (a number, 0 <= P <= 1; default empty: the
# dense corpus only) then also writes a mixed corpus of about the same MB, in which only a share
# P of the exchanges are such personal ones and the others API traffic with little or no personal
# data (bench_scrub_sample --pii-share P: product catalog pages, inventory updates, telemetry
# batches, config documents; their requests keep the bearer JWT, cookies and request ids), times
# twin convert and twin scrub --key-file on it in the same way, prints its table and report after
# the dense corpus's (whose figures stay the headline), and last the two side by side.
# Environment: TWIN_BENCH_BUILD (default build-bench, Release), TWIN_BENCH_DIR (default a new
# temporary directory), TWIN_BENCH_KEEP=1 keeps the archives, TWIN_BENCH_PII_SHARE (above),
# TWIN_BENCH_PGO=1: first builds twin with profile-guided optimisation (scripts/build-pgo.sh,
# about 10 minutes; TWIN_BENCH_BUILD then defaults to build-pgo) and measures that build.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
exchanges=${2:-}
pgo=${TWIN_BENCH_PGO:-}
if [[ -n $pgo && $pgo != 0 ]]; then
  build=${TWIN_BENCH_BUILD:-build-pgo}
  bash scripts/build-pgo.sh "$build"
else
  build=${TWIN_BENCH_BUILD:-build-bench}
fi
work=${TWIN_BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
target_mb=200
share=${TWIN_BENCH_PII_SHARE:-}
if [[ -n $share ]] && ! [[ $share =~ ^(0|1|0?\.[0-9]+|0\.|1\.0*)$ ]]; then
  echo "scrub.sh: TWIN_BENCH_PII_SHARE wants a number from 0 to 1 (e.g. 0.1), not '$share'" >&2
  exit 2
fi

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
pgo_mode=$(sed -n 's/^TWIN_PGO:STRING=//p' "$build/CMakeCache.txt")
echo "   $twin: Release${pgo_mode:+, profile-guided (TWIN_PGO=$pgo_mode)}"

# --- the input ---
field() { sed -n "s/.*\\b$1=\\([0-9]*\\).*/\\1/p" <<<"$2"; }
if [[ -z $exchanges ]]; then
  # The generator is deterministic: a probe of its first 2,000 exchanges gives bytes per exchange.
  probe=$("$sample" "$work/probe.twin" 2000)
  rm -f "$work/probe.twin"
  exchanges=$(( (target_mb * 1000000 * 2000 / $(field bytes "$probe")) * 102 / 100 ))
fi
# generate FILE EXCHANGES [--pii-share P]: writes the corpus with bench_scrub_sample, sets
# bytes and mb, and describes it.
generate() {
  local file=$1 count=$2 made body_bytes
  made=$("$sample" "$@")
  bytes=$(field bytes "$made")
  body_bytes=$(field body_bytes "$made")
  mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
  printf '  %s MB of exchange bytes (%s bytes: method, target, header names and values, bodies;\n' "$mb" "$bytes"
  printf '  bodies %s%%, %s bytes an exchange); .twin file %s MB (zstd)\n' \
    "$(echo "scale=1; 100 * $body_bytes / $bytes" | bc)" "$((bytes / count))" \
    "$(awk -v s="$(stat -c %s "$file")" 'BEGIN { printf "%.1f", s / 1e6 }')"
}
echo "== writing $exchanges JSON-heavy exchanges (bench/scrub_sample.cc)"
generate "$work/in.twin" "$exchanges"
if (( bytes < target_mb * 1000000 )); then
  echo "  (less than $target_mb MB: pass more EXCHANGES for a full-size run)"
fi
# A fixed 256-bit key (64 hex digits, as `openssl rand -hex 32` writes).
echo "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" >"$work/key"

# --- timing: "seconds peak_rss_kib cpu_seconds" of one command, stdout to /dev/null, pinned to core 0 ---
# With pin=0 (a variable of the caller) the command runs on every core, not pinned.
measure() {
  rm -f "$work/out.twin"
  local pin_cmd=(taskset -c 0)
  if [[ ${pin:-1} == 0 ]]; then pin_cmd=(); fi
  if [[ -x /usr/bin/time ]]; then
    local start end
    start=$(date +%s.%N)
    if ! /usr/bin/time -f "%M %U %S" -o "$work/time.out" "${pin_cmd[@]}" "$@" >/dev/null 2>"$work/cmd.err"; then
      echo "command failed: $* ($(tail -n 3 "$work/cmd.err"))" >&2
      return 1
    fi
    end=$(date +%s.%N)
    read -r kib user sys < <(tail -n 1 "$work/time.out")
    echo "$(echo "$end - $start" | bc) $kib $(echo "$user + $sys" | bc)"
  else
    python3 - "$work/cmd.err" "${pin:-1}" "$@" <<'EOF'
import resource, subprocess, sys, time
err = open(sys.argv[1], "wb")
pin = ["taskset", "-c", "0"] if sys.argv[2] != "0" else []
t = time.monotonic()
r = subprocess.run(pin + sys.argv[3:], stdout=subprocess.DEVNULL, stderr=err)
elapsed = time.monotonic() - t
if r.returncode != 0:
    sys.exit(f"command failed ({r.returncode}): {' '.join(sys.argv[3:])}")
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{elapsed:.3f} {u.ru_maxrss} {u.ru_utime + u.ru_stime:.3f}")
EOF
  fi
}

declare -A times cpus rss med rate cpu_med cpu_rate
run() {  # run KEY COMMAND...: one timed run, appended to times[KEY]
  local key=$1 out wall kib cpu; shift
  out=$(measure "$@") || { echo "scrub.sh: ${key#*/} failed" >&2; exit 1; }
  read -r wall kib cpu <<<"$out"
  times[$key]+="$wall "
  cpus[$key]+="$cpu "
  if (( kib > ${rss[$key]} )); then rss[$key]=$kib; fi
}
last() { local a=(${times[$1]}); echo "${a[-1]}"; }  # the latest time of KEY
median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g |
  awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
label() { case $1 in convert) echo "twin convert";; scrub_ephemeral) echo "twin scrub --ephemeral-key";;
          scrub_key) echo "twin scrub --key-file";; convert_threads) echo "twin convert";;
          scrub_threads) echo "twin scrub --key-file";;
          scrub_threads_all) echo "twin scrub --key-file --threads $all_threads";; esac; }
command_for() {  # command_for NAME IN: the command of NAME on IN, in cmd
  case $1 in
    convert) cmd=("$twin" convert "$2" -o "$work/out.twin" --threads 1);;
    scrub_ephemeral) cmd=("$twin" scrub "$2" -o "$work/out.twin" --ephemeral-key -q --threads 1);;
    scrub_key) cmd=("$twin" scrub "$2" -o "$work/out.twin" --key-file "$work/key" -q --threads 1);;
    convert_threads) cmd=("$twin" convert "$2" -o "$work/out.twin");;
    scrub_threads) cmd=("$twin" scrub "$2" -o "$work/out.twin" --key-file "$work/key" -q);;
    scrub_threads_all) cmd=("$twin" scrub "$2" -o "$work/out.twin" --key-file "$work/key" -q --threads "$all_threads");;
  esac
}

# interleave TAG IN NAME...: REPETITIONS rounds, each running every NAME on IN once (times
# kept under TAG/NAME), a line per round.
interleave() {
  local tag=$1 in=$2 i n line cmd=(); shift 2
  for ((i = 1; i <= reps; i++)); do
    line="  run $i:"
    for n in "$@"; do
      command_for "$n" "$in"
      run "$tag/$n" "${cmd[@]}"
      line+=" $(label "$n" | sed 's/^twin //') $(printf '%.2f' "$(last "$tag/$n")") s,"
    done
    echo "${line%,}"
  done
}

# timed TAG IN WHAT NAME...: REPETITIONS interleaved runs of each NAME on IN (of $bytes, $mb),
# then the medians (keys TAG/NAME) and the table; WHAT is added to the medians' heading.
timed() {
  local tag=$1 in=$2 what=$3 i n k line ratio cpu_ratio r_ok t_ok; shift 3
  local names=("$@") cmd=()
  for n in "${names[@]}"; do times[$tag/$n]=""; cpus[$tag/$n]=""; rss[$tag/$n]=0; done
  echo "== $reps repetitions, interleaved, taskset -c 0"
  interleave "$tag" "$in" "${names[@]}"

  echo "== medians of $reps ($mb MB of exchanges$what); wall-clock time, and CPU time (user + sys)"
  for n in "${names[@]}"; do
    k=$tag/$n
    med[$k]=$(median "${times[$k]}")
    rate[$k]=$(echo "scale=1; $bytes / 1000000 / ${med[$k]}" | bc)
    cpu_med[$k]=$(median "${cpus[$k]}")
    cpu_rate[$k]=$(echo "scale=1; $bytes / 1000000 / ${cpu_med[$k]}" | bc)
  done
  for n in "${names[@]}"; do
    k=$tag/$n
    printf '  %-28s %7.2f s %7s MB/s   CPU %7.2f s %7s MB/s   peak RSS %4d MiB\n' "$(label "$n")" \
      "${med[$k]}" "${rate[$k]}" "${cpu_med[$k]}" "${cpu_rate[$k]}" $((${rss[$k]} / 1024))
  done
  for n in "${names[@]}"; do
    [[ $n == convert ]] && continue
    k=$tag/$n
    ratio=$(echo "scale=2; ${med[$k]} / ${med[$tag/convert]}" | bc)
    cpu_ratio=$(echo "scale=2; ${cpu_med[$k]} / ${cpu_med[$tag/convert]}" | bc)
    r_ok=$(echo "$ratio <= 2" | bc)
    t_ok=$(echo "${rate[$k]} >= $target_mb" | bc)
    printf '  %-28s scrub / convert = %sx (CPU %sx; target <= 2x: %s), %s MB/s (target >= %s MB/s: %s)\n' \
      "$(label "$n")" "$ratio" "$cpu_ratio" "$([[ $r_ok == 1 ]] && echo met || echo NOT met)" \
      "${rate[$k]}" "$target_mb" "$([[ $t_ok == 1 ]] && echo met || echo NOT met)"
  done
  if [[ ! -x /usr/bin/time ]]; then echo "  (peak RSS from getrusage: GNU time is not installed)"; fi
}

# report TAG IN HEADING: one scrub of IN with --report (key file), its residual count and totals,
# the values scrubbed per exchange and per MB (of $bytes) kept in values[TAG], per_mb[TAG].
declare -A values per_mb
report() {
  local tag=$1 in=$2 json=$work/report.json per_exchange mb_rate
  if [[ $tag != dense ]]; then json=$work/report-$tag.json; fi
  echo "$3"
  rm -f "$work/out.twin"
  if ! "$twin" scrub "$in" -o "$work/out.twin" --key-file "$work/key" -q \
       --report "$json" 2>"$work/cmd.err"; then
    echo "scrub.sh: twin scrub --report failed: $(tail -n 3 "$work/cmd.err")" >&2
    exit 1
  fi
  python3 - "$json" "$bytes" >"$work/report.out" <<'EOF'
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
v, n, mb = c.get("values") or 0, c.get("exchanges") or 0, int(sys.argv[2]) / 1e6
per_exchange, per_mb = v / n if n else 0, v / mb if mb else 0
print(f"  {per_exchange:.1f} values scrubbed per exchange, {per_mb:.0f} per MB of exchanges")
print(f"values {per_exchange:.1f} {per_mb:.0f}")  # for the side-by-side table, not shown
EOF
  grep -v '^values ' "$work/report.out"
  read -r _ per_exchange mb_rate < <(grep '^values ' "$work/report.out")
  values[$tag]=$per_exchange
  per_mb[$tag]=$mb_rate
  if [[ -s $work/cmd.err ]]; then sed 's/^/  stderr: /' "$work/cmd.err" | head -n 5; fi
}

# threaded TAG IN: REPETITIONS interleaved runs of convert and scrub --key-file with their
# default --threads (reading and writing on threads of their own; the scrub on all cores but
# one from 4 cores, on one thread below) and of scrub --key-file with a scrubbing thread per
# core (up to 16: --threads cores + 2), not pinned: the wall-clock time a user sees on this
# machine, set against the one-thread scrub pinned above. Not what the targets are judged on
# (they are per core).
all_threads=$(( $(nproc) > 16 ? 18 : $(nproc) + 2 ))
threaded() {
  local tag=$1 in=$2 i n k line pin=0 cmd=()
  [[ $(nproc) -gt 1 ]] || { echo "== (one core: no threaded runs)"; return; }
  for n in convert_threads scrub_threads scrub_threads_all; do times[$tag/$n]=""; cpus[$tag/$n]=""; rss[$tag/$n]=0; done
  echo "== default --threads, and scrub --threads $all_threads, not pinned, $(nproc) cores"
  interleave "$tag" "$in" convert_threads scrub_threads scrub_threads_all
  for n in convert_threads scrub_threads scrub_threads_all; do
    k=$tag/$n
    med[$k]=$(median "${times[$k]}")
    rate[$k]=$(echo "scale=1; $bytes / 1000000 / ${med[$k]}" | bc)
    cpu_med[$k]=$(median "${cpus[$k]}")
    printf '  %-28s %7.2f s %7s MB/s   CPU %7.2f s   peak RSS %4d MiB\n' "$(label "$n")" \
      "${med[$k]}" "${rate[$k]}" "${cpu_med[$k]}" $((${rss[$k]} / 1024))
  done
  printf '  twin scrub --key-file: %s MB/s with its threads against %s MB/s on one pinned core (%sx)\n' \
    "${rate[$tag/scrub_threads]}" "${rate[$tag/scrub_key]}" \
    "$(echo "scale=2; ${med[$tag/scrub_key]} / ${med[$tag/scrub_threads]}" | bc)"
  printf '  twin scrub --key-file --threads %s: %s MB/s against %s MB/s with the default (%sx)\n' \
    "$all_threads" "${rate[$tag/scrub_threads_all]}" "${rate[$tag/scrub_threads]}" \
    "$(echo "scale=2; ${med[$tag/scrub_threads]} / ${med[$tag/scrub_threads_all]}" | bc)"
}

timed dense "$work/in.twin" "" convert scrub_ephemeral scrub_key
threaded dense "$work/in.twin"
report dense "$work/in.twin" "== sanity: one scrub with --report (key file)"
dense_mb=$mb

if [[ -n $share ]]; then
  # The same MB as the dense corpus: a probe of the mixed generator's first 2,000 exchanges gives
  # its bytes per exchange.
  probe=$("$sample" "$work/probe.twin" 2000 --pii-share "$share")
  rm -f "$work/probe.twin"
  mixed=$(( (bytes * 2000 + $(field bytes "$probe") / 2) / $(field bytes "$probe") ))
  echo
  echo "== mixed corpus, TWIN_BENCH_PII_SHARE=$share: writing $mixed exchanges, a share $share of them"
  echo "   personal as above, the others catalog, inventory, telemetry and config API traffic"
  echo "   (bench_scrub_sample --pii-share $share)"
  generate "$work/mixed.twin" "$mixed" --pii-share "$share"
  timed mixed "$work/mixed.twin" ", personal share $share" convert scrub_key
  threaded mixed "$work/mixed.twin"
  report mixed "$work/mixed.twin" \
    "== sanity, mixed corpus (personal share $share): one scrub with --report (key file)"

  echo
  echo "== side by side, twin scrub --key-file (medians of $reps, wall-clock)"
  printf '  %-32s %7s %13s %11s %14s %16s %10s\n' corpus MB "convert MB/s" "scrub MB/s" \
    "scrub/convert" "values/exchange" "values/MB"
  for tag in dense mixed; do
    if [[ $tag == dense ]]; then name="dense (every exchange personal)" size=$dense_mb
    else name="mixed (personal share $share)" size=$mb; fi
    printf '  %-32s %7s %13s %11s %13sx %16s %10s\n' "$name" "$size" "${rate[$tag/convert]}" \
      "${rate[$tag/scrub_key]}" "$(echo "scale=2; ${med[$tag/scrub_key]} / ${med[$tag/convert]}" | bc)" \
      "${values[$tag]}" "${per_mb[$tag]}"
  done
fi

if [[ -z ${TWIN_BENCH_KEEP:-} ]]; then
  rm -f "$work/in.twin" "$work/mixed.twin" "$work/out.twin" "$work/time.out" "$work/cmd.err" \
    "$work/report.out"
fi

#!/usr/bin/env bash
# Instructions of the scrub against the plain rewrite (issue 4), counted by callgrind:
#   bench/scrub_instructions.sh [EXCHANGES]        (default 2000 of each corpus)
# bench/scrub.sh times the two on 200 MB, and on a shared VM its figures move by a third from one
# half hour to the next; a change of a few per cent cannot be seen there. Instructions executed
# do not move: this script is the like-for-like measure of a change to the scrub's per-core
# cost (not of its memory stalls, which only time shows). It writes EXCHANGES exchanges of the
# dense corpus and of the mixed one (bench_scrub_sample, the generators of bench/scrub.sh;
# TWIN_BENCH_PII_SHARE, default 0.1) and one exchange of each, and runs under
# `valgrind --tool=callgrind`, on one thread (--threads 1):
#   twin convert IN.twin -o OUT.twin
#   twin scrub IN.twin -o OUT.twin --key-file KEY -q
# It prints each one's instructions, the ratio scrub / convert, the same less what one exchange
# costs (mostly startup: the scrub compiles its Hyperscan database, about 108 M instructions)
# and the scrub's instructions per byte of exchange (MB as in bench/scrub.sh: method, target,
# header names and values, bodies). About 2 minutes for 2,000 exchanges.
# Environment: TWIN_BENCH_BUILD (default build-bench, Release), TWIN_BENCH_DIR (default a new
# temporary directory), TWIN_BENCH_PII_SHARE.
set -euo pipefail
cd "$(dirname "$0")/.."
exchanges=${1:-2000}
if ! [[ $exchanges =~ ^[1-9][0-9]*$ ]]; then
  echo "scrub_instructions.sh: EXCHANGES wants a positive whole number, not '$exchanges'" >&2
  exit 2
fi
share=${TWIN_BENCH_PII_SHARE:-0.1}
if ! [[ $share =~ ^(0|1|0?\.[0-9]+|1\.0*)$ ]]; then
  echo "scrub_instructions.sh: TWIN_BENCH_PII_SHARE wants a number from 0 to 1, not '$share'" >&2
  exit 2
fi
command -v valgrind >/dev/null ||
  { echo "scrub_instructions.sh: valgrind is not installed (scripts/setup.sh)" >&2; exit 2; }
build=${TWIN_BENCH_BUILD:-build-bench}
work=${TWIN_BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work"
work=$(cd "$work" && pwd)

echo "== building twin and bench_scrub_sample (Release, $build)"
if ! { cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTWIN_TESTS=OFF &&
       cmake --build "$build" --target bench_scrub_sample twin; } >"$work/build.log" 2>&1; then
  tail -n 30 "$work/build.log" >&2
  echo "scrub_instructions.sh: the build failed (see $work/build.log)" >&2
  exit 1
fi
twin="$build/bin/twin"
sample="$build/bin/bench_scrub_sample"
echo "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" >"$work/key"

field() { sed -n "s/.*\\b$1=\\([0-9]*\\).*/\\1/p" <<<"$2"; }
# instructions COMMAND...: the instructions callgrind counted for the command (all threads).
instructions() {
  local out="$work/cg.out" n
  rm -f "$work/out.twin"
  if ! valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>"$work/cg.err"; then
    echo "scrub_instructions.sh: failed under callgrind: $* ($(tail -n 3 "$work/cg.err"))" >&2
    exit 1
  fi
  n=$(sed -n 's/.*I *refs: *\([0-9,]*\).*/\1/p' "$work/cg.err" | tr -d ,)
  if [[ -z $n ]]; then
    echo "scrub_instructions.sh: no instruction count from callgrind for: $*" >&2
    exit 1
  fi
  rm -f "$out"
  echo "$n"
}

declare -A result
for corpus in dense mixed; do
  args=()
  [[ $corpus == mixed ]] && args=(--pii-share "$share")
  made=$("$sample" "$work/$corpus.twin" "$exchanges" "${args[@]}")
  "$sample" "$work/$corpus-1.twin" 1 "${args[@]}" >/dev/null
  bytes=$(field bytes "$made")
  echo "== $corpus: $exchanges exchanges, $bytes bytes${args[*]:+ (${args[*]})}"
  for size in full one; do
    in="$work/$corpus.twin"
    [[ $size == one ]] && in="$work/$corpus-1.twin"
    c=$(instructions "$twin" convert "$in" -o "$work/out.twin" --threads 1)
    s=$(instructions "$twin" scrub "$in" -o "$work/out.twin" --key-file "$work/key" -q --threads 1)
    result[$corpus/$size]="$c $s"
    echo "   $size: convert $c, scrub $s instructions"
  done
  result[$corpus/bytes]=$bytes
done

echo
echo "| corpus | exchanges | MB | convert | scrub | scrub / convert | less one exchange's | scrub instructions a byte, less one exchange's |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for corpus in dense mixed; do
  read -r c s <<<"${result[$corpus/full]}"
  read -r c1 s1 <<<"${result[$corpus/one]}"
  python3 - "$corpus" "$exchanges" "${result[$corpus/bytes]}" "$c" "$s" "$c1" "$s1" <<'EOF'
import sys
corpus, n, b, c, s, c1, s1 = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:])
name = corpus if corpus == "dense" else "mixed"
print(f"| {name} | {n:,} | {b / 1e6:.1f} | {c / 1e6:,.1f} M | {s / 1e6:,.1f} M | {s / c:.2f}x "
      f"| {(s - s1) / max(c - c1, 1):.2f}x | {(s - s1) / b:.1f} |")
EOF
done
echo
echo "(bench_scrub_sample's default seed; mixed: personal share $share. callgrind counts user-space"
echo " instructions only: the system calls of reading and writing, and every cache miss, are not in"
echo " these figures.)"

#!/usr/bin/env bash
# A Release build of twin with GCC profile-guided optimisation, for release binaries and the
# scrub benchmark (bench/README.md):
#   scripts/build-pgo.sh [BUILD_DIR]          # default build-pgo; about 10 minutes on 2 cores
# 1. builds twin and bench_scrub_sample instrumented (-DTWIN_PGO=generate) in BUILD_DIR;
# 2. trains them: writes 1,500 dense and 1,500 mixed JSON-heavy exchanges with
#    bench_scrub_sample under seed 7 (the scrub benchmark writes its corpora under the default
#    seed, so the profile is not taken from the input it is measured on), and runs on them
#    twin scrub (the default policy, a fixed key, once with --report), twin convert and
#    twin cat --format jsonl;
# 3. rebuilds the same directory with those profiles (-DTWIN_PGO=use).
# The profile covers the archive reader and writer, the scrubber and the JSON writer of cat;
# code the training does not run (capture, replay, compare) is optimised as in a plain Release
# build. Output is the same as a plain build's, byte for byte: only code layout and inlining
# change. Needs g++ (Debian 12's default compiler).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-pgo}
jobs=${TWIN_JOBS:-$(nproc)}
train=$(mktemp -d)
trap 'rm -rf "$train"' EXIT

log="$train/build.log"
# configure_and_build MODE: one stage's build; its output is shown only when it fails.
configure_and_build() {
  if ! { cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTWIN_TESTS=OFF \
           -DTWIN_BENCH=ON -DTWIN_PGO="$1" &&
         cmake --build "$build" -j "$jobs" --target twin bench_scrub_sample; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "build-pgo: the $1 build in $build failed" >&2
    exit 1
  fi
}

echo "== build-pgo: instrumented build in $build"
if [[ -d $build ]]; then find "$build" -name '*.gcda' -delete; fi
configure_and_build generate

echo "== build-pgo: training run"
twin="$build/bin/twin"
sample="$build/bin/bench_scrub_sample"
"$sample" "$train/dense.twin" 1500 7 >/dev/null
"$sample" "$train/mixed.twin" 1500 7 --pii-share 0.1 >/dev/null
echo "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" >"$train/key"
policy=examples/policies/default.yaml
for corpus in dense mixed; do
  "$twin" scrub "$train/$corpus.twin" -o "$train/out.twin" --policy "$policy" \
    --key-file "$train/key" -q
  "$twin" convert "$train/$corpus.twin" -o "$train/copy.twin" >/dev/null
  "$twin" cat --format jsonl "$train/out.twin" >/dev/null
done
"$twin" scrub "$train/dense.twin" -o "$train/out.twin" --policy "$policy" \
  --key-file "$train/key" -q --report "$train/report.json" >/dev/null
profiles=$(find "$build" -name '*.gcda' | wc -l)
if (( profiles == 0 )); then
  echo "build-pgo: the training run wrote no profile (.gcda) in $build" >&2
  exit 1
fi
echo "   $profiles object profiles"

echo "== build-pgo: optimised build in $build"
configure_and_build use
echo "== build-pgo: $build/bin/twin"

#!/usr/bin/env bash
# The main job on the bundled examples: the example shop serves realistic traffic from a real
# client while recording what it served into a .twin archive, and twin captures the same traffic
# from the wire (live on lo, when run as root): the two records must agree. twin then inspects
# the archive, takes it through JSONL and HAR and back, scrubs it, replays it against a baseline
# shop, a second baseline (noise) and a regressed candidate, and compares them: the verdict
# names the candidate's regressions, and the reports (HTML among them) are written.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
build=${TWIN_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja >/dev/null
cmake --build "$build" -j "$(nproc)" --target twin shop shop_traffic

out=${TWIN_DEMO_OUT:-out/demo}
mkdir -p "$out"
rm -f "$out"/*
bin="$build/bin"
sessions=${TWIN_DEMO_SESSIONS:-300}

echo "== starting examples/shop (recording to $out/served.twin)"
"$bin/shop" --port 0 --record "$out/served.twin" >"$out/shop.out" 2>"$out/shop.err" &
shop_pid=$!
trap 'kill "$shop_pid" 2>/dev/null || true' EXIT
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out/shop.out")
  [[ -n $port ]] && break
  kill -0 "$shop_pid" 2>/dev/null || { cat "$out/shop.err" >&2; exit 1; }
  sleep 0.1
done
[[ -n $port ]] || { echo "demo: shop did not start" >&2; exit 1; }
echo "   listening on 127.0.0.1:$port"

capture_pid=""
if [[ $(id -u) -eq 0 ]]; then
  echo "== twin capture -i lo --port $port (live, beside the shop's own record)"
  "$bin/twin" capture -i lo --port "$port" -o "$out/captured.twin" 2>"$out/capture.err" &
  capture_pid=$!
  trap 'kill "$shop_pid" "$capture_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    grep -q capturing "$out/capture.err" && break
    kill -0 "$capture_pid" 2>/dev/null || { cat "$out/capture.err" >&2; exit 1; }
    sleep 0.1
  done
else
  echo "== (not root: the live capture beside the shop's record is skipped)"
fi

echo "== driving $sessions sessions with shop_traffic"
"$bin/shop_traffic" --url "http://127.0.0.1:$port" --sessions "$sessions" --concurrency 4 --seed 7

if [[ -n $capture_pid ]]; then
  sleep 0.5
  kill -INT "$capture_pid"
  wait "$capture_pid" || { cat "$out/capture.err" >&2; exit 1; }
  sed 's/^/   /' "$out/capture.err"
fi
kill -TERM "$shop_pid"
wait "$shop_pid" || true
trap - EXIT

if [[ -n $capture_pid ]]; then
  echo "== what the wire showed (twin capture) against what the shop served (--record)"
  "$bin/twin" cat "$out/served.twin" >"$out/served-check.jsonl"
  "$bin/twin" cat "$out/captured.twin" >"$out/captured.jsonl"
  python3 - "$out/served-check.jsonl" "$out/captured.jsonl" <<'EOF'
import collections, json, sys
def shape(path):
    c = collections.Counter()
    for line in open(path):
        e = json.loads(line)
        r = e.get("response") or {}
        c[(e["request"]["method"], e["request"]["target"], r.get("status"),
           r.get("body_size"))] += 1
    return c
served, captured = shape(sys.argv[1]), shape(sys.argv[2])
if served != captured:
    print(f"demo: capture and record differ: {sum((served - captured).values())} served but "
          f"not captured, {sum((captured - served).values())} captured but not served",
          file=sys.stderr)
    sys.exit(1)
print(f"   {sum(served.values())} exchanges: method, target, status and body size agree")
EOF
fi

echo "== twin info $out/served.twin"
"$bin/twin" info --check "$out/served.twin"

echo "== the first exchanges"
"$bin/twin" cat --format summary --limit 8 "$out/served.twin"

echo "== round trips: .twin -> .jsonl -> .twin and .twin -> .har -> .twin"
"$bin/twin" convert "$out/served.twin" -o "$out/served.jsonl"
"$bin/twin" convert "$out/served.jsonl" -o "$out/from-jsonl.twin"
"$bin/twin" convert "$out/served.twin" -o "$out/served.har"
"$bin/twin" convert "$out/served.har" -o "$out/from-har.twin"
"$bin/twin" cat "$out/from-jsonl.twin" >"$out/from-jsonl.jsonl"
"$bin/twin" cat "$out/from-har.twin" >"$out/from-har.jsonl"
cmp -s "$out/served.jsonl" "$out/from-jsonl.jsonl" || { echo "demo: JSONL round trip differs" >&2; exit 1; }
cmp -s "$out/served.jsonl" "$out/from-har.jsonl" || { echo "demo: HAR round trip differs" >&2; exit 1; }
n=$(wc -l <"$out/served.jsonl")
echo "   $n exchanges identical after both round trips"
ls -l "$out"/served.twin "$out"/served.jsonl "$out"/served.har | awk '{print "   " $5 " bytes  " $9}'
echo "== twin scrub: personal data out, shape kept (default policy, a key for this demo)"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$out/scrub.key"
"$bin/twin" scrub "$out/served.twin" -o "$out/scrubbed.twin" --key-file "$out/scrub.key" \
  --report "$out/scrub-report.json" 2>&1 | grep -v "no policy given" | head -16
python3 - "$out/served.twin" "$out/scrubbed.twin" "$bin/twin" <<'EOF'
import json, subprocess, sys
def exchanges(p):
    out = subprocess.run([sys.argv[3], "cat", p], capture_output=True, check=True).stdout.decode()
    return [json.loads(line) for line in out.splitlines()]
before, after = exchanges(sys.argv[1]), exchanges(sys.argv[2])
emails = {json.loads(e["request"]["body"])["email"] for e in before
          if e["request"]["target"] == "/api/login" and e["request"].get("body")}
text = json.dumps(after)
left = [m for m in emails if m in text]
if not emails or left:
    print(f"demo: {len(left)} of {len(emails)} login e-mails survived the scrub", file=sys.stderr)
    sys.exit(1)
print(f"   none of the {len(emails)} login e-mails is left in {len(after)} scrubbed exchanges; "
      f"report: {sys.argv[2].rsplit('/', 1)[0]}/scrub-report.json")
EOF

echo "== twin replay: the recorded traffic, paired, against a fresh shop and a slower candidate"
start_shop() {  # NAME ARGS...: starts a shop, sets ${NAME}_pid and ${NAME}_port
  local name=$1
  shift
  "$bin/shop" --port 0 "$@" >"$out/$name.out" 2>"$out/$name.err" &
  local pid=$! p=""
  for _ in $(seq 1 100); do
    p=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out/$name.out")
    [[ -n $p ]] && break
    sleep 0.1
  done
  [[ -n $p ]] || { echo "demo: $name shop did not start" >&2; exit 1; }
  printf -v "${name}_pid" '%s' "$pid"
  printf -v "${name}_port" '%s' "$p"
}
start_shop baseline
start_shop noise
start_shop candidate --latency 'GET /api/search=25' --change-field 'GET /api/users=total'
trap 'kill "$baseline_pid" "$noise_pid" "$candidate_pid" 2>/dev/null || true' EXIT
"$bin/twin" replay "$out/served.twin" -o "$out/replayed.twin" \
  --target "baseline=http://127.0.0.1:$baseline_port" \
  --target "noise=http://127.0.0.1:$noise_port" \
  --target "candidate=http://127.0.0.1:$candidate_port" \
  --summary-json "$out/replay-summary.json" 2>&1 | sed 's/^/   /'
kill -TERM "$baseline_pid" "$noise_pid" "$candidate_pid"
wait "$baseline_pid" "$noise_pid" "$candidate_pid" || true
trap - EXIT
python3 - "$out/served.twin" "$out/replayed.twin" "$out/replay-summary.json" "$bin/twin" <<'EOF'
import json, subprocess, sys
def exchanges(p):
    out = subprocess.run([sys.argv[4], "cat", p], capture_output=True, check=True).stdout.decode()
    return [json.loads(line) for line in out.splitlines()]
served = {e["id"]: e for e in exchanges(sys.argv[1])}
replayed = exchanges(sys.argv[2])
# Order ids are handed out by the shop in arrival order across all sessions, so a replay whose
# sessions interleave a little differently looks up ids that now belong to someone else (404).
# Those lookups are counted apart; every other status must be as recorded.
def lookup(e):
    return e["request"]["method"] == "GET" and e["request"]["target"].startswith("/api/orders/")
same, total, lookups = {}, {}, {}
for e in replayed:
    o = served.get(e["origin_id"])
    ok = bool(o and e.get("response") and o["response"]["status"] == e["response"]["status"])
    key = e["target"]
    if o and lookup(o):
        lookups.setdefault(key, [0, 0])[0] += ok
        lookups[key][1] += 1
        continue
    same[key] = same.get(key, 0) + ok
    total[key] = total.get(key, 0) + 1
summary = json.load(open(sys.argv[3]))["targets"]
for name in ("baseline", "candidate"):
    if total.get(name, 0) == 0 or same[name] < 0.99 * total[name]:
        print(f"demo: {name}: only {same.get(name, 0)} of {total.get(name, 0)} statuses as "
              f"recorded", file=sys.stderr)
        sys.exit(1)
p99 = {n: summary[n]["latency_ms"]["p99"] for n in summary}
for name in ("baseline", "candidate"):
    lk = lookups.get(name, [0, 0])
    print(f"   {name}: {same[name]}/{total[name]} statuses as recorded (+ {lk[0]}/{lk[1]} order "
          f"lookups, whose ids depend on arrival order); latency p99 {p99[name]:.1f} ms")
EOF
echo "== twin compare: is the candidate slower, failing more or answering differently?"
# The candidate searches 25 ms slower and miscounts the user list; a second baseline (noise)
# cancels the fields that differ between any two shops. Exit 1 is the expected verdict here.
set +e
"$bin/twin" compare "$out/replayed.twin" --baseline baseline --candidate candidate --noise noise \
  --gate examples/gates/shop.yaml --json "$out/compare.json" --markdown "$out/compare.md" \
  --junit "$out/compare.xml" --html "$out/compare.html" --no-color >"$out/compare.txt"
rc=$?
set -e
sed 's/^/   /' "$out/compare.txt" | head -40
python3 - "$out/compare.json" "$rc" <<'EOF'
import json, sys
report, rc = json.load(open(sys.argv[1])), int(sys.argv[2])
regressed = {f"{r['method']} {r['route']}" for r in report["routes"] if r["verdict"] == "regressed"}
want = {"GET /api/search", "GET /api/users"}
if rc != 1 or report["verdict"] != "regressed" or not want <= regressed:
    print(f"demo: compare exited {rc} with verdict {report['verdict']}; regressed: "
          f"{sorted(regressed)}; expected at least {sorted(want)}", file=sys.stderr)
    sys.exit(1)
print(f"   verdict: {report['verdict'].upper()} (exit {rc}); regressed: {', '.join(sorted(regressed))}")
EOF
echo "demo: ok (files in $out)"

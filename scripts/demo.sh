#!/usr/bin/env bash
# The main job on the bundled examples: a release gate from live traffic, by one pipeline file
# (examples/pipelines/shop.yaml). examples/shop plays production and serves realistic traffic
# from a real client (shop_traffic); twin captures it live on loopback with libpcap, scrubs it,
# replays it against a baseline shop, a second baseline (noise) and a regressed candidate — test
# shops running on scrubbed data — and compares them. The verdict must name the candidate's
# planted regressions; the reports, HTML among them, are written to out/demo.
#
# Live capture needs CAP_NET_RAW. Run by a user who is not root, the demo goes on (after the
# build) in a user and network namespace of its own, where it may capture on that namespace's
# loopback; everything it starts runs in there and the files it writes are the user's. Where
# the kernel refuses such namespaces, the demo says so and takes production's own record of
# what it served (shop --record) as the capture, starting the pipeline at scrub.
set -euo pipefail
self=$(readlink -f "$0")
cd "$(dirname "$self")/.."

build=${TWIN_BUILD_DIR:-build}
if [[ -z ${TWIN_DEMO_NETNS:-} ]]; then
  bash scripts/setup.sh
  cmake -S . -B "$build" -G Ninja >/dev/null
  cmake --build "$build" -j "$(nproc)" --target twin shop shop_traffic
  if [[ $(id -u) -ne 0 ]] && unshare --user --map-root-user --net true 2>/dev/null; then
    echo "== not root: the demo goes on in a user and network namespace of its own (live capture"
    echo "   on its loopback; nothing it starts is reachable from outside it)"
    exec env TWIN_DEMO_NETNS=1 unshare --user --map-root-user --net bash "$self" "$@"
  fi
else
  ip link set lo up  # a new network namespace's loopback starts down
fi

out=$(mkdir -p "${TWIN_DEMO_OUT:-out/demo}" && cd "${TWIN_DEMO_OUT:-out/demo}" && pwd)
rm -f "$out"/*
bin="$(pwd)/$build/bin"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

start_shop() {  # NAME ARGS...: starts a shop, sets ${NAME}_port
  local name=$1
  shift
  "$bin/shop" --port 0 --seed 42 "$@" >"$out/$name.out" 2>"$out/$name.err" &
  local pid=$! p=""
  pids+=("$pid")
  for _ in $(seq 1 100); do
    p=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out/$name.out")
    [[ -n $p ]] && break
    kill -0 "$pid" 2>/dev/null || { cat "$out/$name.err" >&2; exit 1; }
    sleep 0.1
  done
  [[ -n $p ]] || { echo "demo: the $name shop did not start" >&2; exit 1; }
  printf -v "${name}_port" '%s' "$p"
}
production_port="" baseline_port="" noise_port="" candidate_port=""  # set by start_shop

echo "== production: examples/shop (its own record of what it serves: $out/served.twin)"
start_shop production --record "$out/served.twin"
echo "   listening on 127.0.0.1:$production_port"

echo "== the test environment: three shops on scrubbed data (same key and policy as the traffic)"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$out/scrub.key"
"$bin/shop" --seed 42 --dump-users >"$out/users.json"
python3 - "$out/users.json" "$out/users.jsonl" <<'PY'
import json, sys
users = open(sys.argv[1]).read()
# The users as one exchange (GET /api/users), so that twin scrub treats them as traffic.
e = {"id": 1, "session": 1, "seq": 0, "protocol": "http/1.1",
     "request": {"method": "GET", "target": "/api/users", "headers": []},
     "response": {"status": 200, "headers": [["Content-Type", "application/json"]],
                  "body": users, "body_encoding": "utf8", "body_size": len(users.encode())}}
open(sys.argv[2], "w").write(json.dumps(e) + "\n")
PY
"$bin/twin" scrub "$out/users.jsonl" -o "$out/users-scrubbed.jsonl" -q \
  --policy examples/policies/shop.yaml --key-file "$out/scrub.key"
python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["response"]["body"])' \
  "$out/users-scrubbed.jsonl" >"$out/users-scrubbed.json"
start_shop baseline --users "$out/users-scrubbed.json"
start_shop noise --users "$out/users-scrubbed.json"
start_shop candidate --users "$out/users-scrubbed.json" \
  --latency 'GET /api/search=25' --change-field 'GET /api/users=total'
echo "   baseline :$baseline_port, noise :$noise_port, candidate :$candidate_port" \
  "(searches 25 ms slower, miscounts the user list)"

export TWIN_OUT="$out" PROD_PORT="$production_port" SHOP_TRAFFIC="$bin/shop_traffic"
export SESSIONS="${TWIN_DEMO_SESSIONS:-300}" SCRUB_KEY_FILE="$out/scrub.key"
export BASELINE_URL="http://127.0.0.1:$baseline_port" NOISE_URL="http://127.0.0.1:$noise_port"
export CANDIDATE_URL="http://127.0.0.1:$candidate_port"
from=()
if [[ $(id -u) -ne 0 ]]; then
  echo "== (not root, and no user namespace: no live capture; production's own record stands in)"
  "$bin/shop_traffic" --url "http://127.0.0.1:$production_port" --sessions "$SESSIONS" \
    --concurrency 4 --seed 7
  sleep 0.5
  cp "$out/served.twin" "$out/captured.twin"
  from=(--from scrub)
fi

echo "== twin pipeline run examples/pipelines/shop.yaml ${from[*]}"
echo "   (capture -i lo while shop_traffic runs → scrub → replay × 3 → compare; exit 1 = regressed)"
set +e
"$bin/twin" pipeline run examples/pipelines/shop.yaml "${from[@]}"
rc=$?
set -e
kill "${pids[@]}" 2>/dev/null || true
wait 2>/dev/null || true
trap - EXIT

echo "== checks"
python3 - "$out" "$bin/twin" "$rc" "$(id -u)" <<'PY'
import collections, json, subprocess, sys
out, twin, rc, uid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def exchanges(p):
    text = subprocess.run([twin, "cat", p], capture_output=True, check=True).stdout.decode()
    return [json.loads(line) for line in text.splitlines()]
def fail(msg):
    print(f"demo: {msg}", file=sys.stderr)
    sys.exit(1)
served = exchanges(f"{out}/served.twin")
if uid == 0:
    # What the wire showed against what production says it served.
    def shape(xs):
        return collections.Counter((e["request"]["method"], e["request"]["target"],
                                    (e.get("response") or {}).get("status"),
                                    (e.get("response") or {}).get("body_size")) for e in xs)
    a, b = shape(served), shape(exchanges(f"{out}/captured.twin"))
    if a != b:
        fail(f"capture and record differ: {sum((a - b).values())} served but not captured, "
             f"{sum((b - a).values())} captured but not served")
    print(f"   live capture: {sum(a.values())} exchanges; method, target, status and body size "
          f"agree with production's record")
emails = {json.loads(e["request"]["body"])["email"] for e in served
          if e["request"]["target"] == "/api/login" and e["request"].get("body")}
scrubbed = json.dumps(exchanges(f"{out}/scrubbed.twin"))
left = [m for m in emails if m in scrubbed]
if not emails or left:
    fail(f"{len(left)} of {len(emails)} login e-mails survived the scrub")
print(f"   scrub: none of the {len(emails)} login e-mails is left")
summary = json.load(open(f"{out}/replay-summary.json"))["targets"]
for name in ("baseline", "candidate"):
    t = summary[name]
    if t["completed"] < 0.99 * t["sent"] or t["sent"] == 0:
        fail(f"replay: {name} completed {t['completed']} of {t['sent']}")
print("   replay: " + ", ".join(f"{n} {summary[n]['completed']}/{summary[n]['sent']} "
                               f"(p99 {summary[n]['latency_ms']['p99']:.1f} ms)" for n in summary))
report = json.load(open(f"{out}/compare.json"))
regressed = {f"{r['method']} {r['route']}" for r in report["routes"] if r["verdict"] == "regressed"}
want = {"GET /api/search", "GET /api/users"}
if rc != 1 or report["verdict"] != "regressed" or not want <= regressed:
    fail(f"the pipeline exited {rc} with verdict {report['verdict']}; regressed: "
         f"{sorted(regressed)}; expected at least {sorted(want)}")
run = json.load(open(f"{out}/pipeline.json"))
print(f"   verdict: {report['verdict'].upper()} (exit {rc}); regressed: {', '.join(sorted(regressed))}")
print(f"   stages: " + ", ".join(f"{s['stage']} {s['seconds']:.1f} s" for s in run["stages"]))
print(f"   HTML report: {out}/compare.html")
PY
echo "demo: ok (files in $out)"

#!/usr/bin/env bash
# Replay benchmark, side by side with the peers named in issue 5 (wrk, h2load, tcpdump/tshark), all
# against one nginx that this script starts, in one run:
#
#   bench/replay.sh                     (root: part 2 records lo with tcpdump)
#   TWIN=build-r4/bin/twin TWIN_BENCH_RUNS=3 bench/replay.sh
#
# 1. Closed loop: `twin replay --max -c N --threads T --duration D --loop` against `wrk -c N -t T -d D`
#    (HTTP/1.1 listener) and against `h2load -c N -t T -m M -D D` (h2c listener, prior knowledge;
#    twin with the same -m M), twin once recording every response (-o results.twin) and once
#    without -o. The peers send the capture's request (same path length, same User-Agent and
#    Accept headers), so that nginx, the bottleneck, has the same work per request. Requests/s are medians over RUNS runs, ratios twin/peer the median of the
#    per-run ratios. Each tool's CPU time (user + sys, all its threads, through
#    `replay_tool.py rusage`) per completed request is shown too: unlike requests/s it does not
#    move with the server's share of a noisy host. The order of the tools alternates from run to run. With TWIN_BENCH_PIN=1
#    (the default) nginx's worker runs on CPU 0 and every load generator (wrk, h2load, twin with
#    all its threads) on the other CPUs, as if they were separate machines; with
#    TWIN_BENCH_PIN=0 nothing is pinned and on a 2-core machine nginx, the load generator and
#    twin's worker, planner and writer threads share both cores.
# 2. Schedule fidelity: `twin replay --rate R --duration D --no-order -o res.twin` of a generated
#    capture of GET /x?i=K (64 captured connections), and the same with session order kept (without
#    --no-order), while tcpdump records the request packets on lo. From the results
#    (`twin cat --format jsonl`): p99 of |time.request_start − time.intended|. From the recording
#    (tshark: frame.time_epoch and http.request.uri, matched to the results by K): p99 of
#    |first packet − intended| and of |first packet − nominal instant| (K / R after the first
#    request; `intended` is later when session order held a request), of first packet −
#    request_start, and the requests per 1 ms bin against R / 1000. Then, without tcpdump,
#    send_lag p99 of --summary-json at LAG_RATE with each --threads of TWIN_BENCH_THREADS.
# 3. Idle connections: a time-faithful replay of SESSIONS captured sessions, each with a request
#    at k/SESSIONS × 1.5 s and another 15 s later; twin's VmRSS (/proc/PID/status) and the
#    established connections are sampled between the two waves, and compared with the same replay
#    of a few sessions: ΔRSS / Δestablished connections = KiB per idle connection.
#
# At the end: a table on stdout, Markdown in $TWIN_BENCH_DIR/results.md, raw measurements in
# $TWIN_BENCH_DIR/raw.jsonl.
#
# Environment (defaults in brackets):
#   TWIN                      twin binary [build-rel/bin/twin, else build/bin/twin: the first
#                             that has `replay`]
#   TWIN_BENCH_DIR            work directory [out/bench-replay]
#   TWIN_BENCH_PARTS          which parts [max fidelity lag memory]
#   TWIN_BENCH_RUNS           runs per configuration, parts 1 and 2 [5]
#   TWIN_BENCH_DURATION       seconds per closed-loop run [5]
#   TWIN_BENCH_CONNS          connection counts [16 64]
#   TWIN_BENCH_THREADS        twin --threads = wrk/h2load -t [1 2]
#   TWIN_BENCH_H2LOAD_M       streams in flight per h2c connection [1 100], each run as
#                             `h2load -m M` and as `twin replay --max -m M`; the table shows the
#                             streams twin actually had in flight per connection
#   TWIN_BENCH_RATES          fixed rates of part 2 [10000 50000]
#   TWIN_BENCH_LAG_RATE       rate of the send-lag runs [20000]
#   TWIN_BENCH_FID_RUNS       runs per rate in part 2 [TWIN_BENCH_RUNS]
#   TWIN_BENCH_FID_DURATION   seconds per fixed-rate run [TWIN_BENCH_DURATION]
#   TWIN_BENCH_FID_THREADS    twin --threads in part 2 [empty: twin's default, the core count]
#   TWIN_BENCH_ORDER          part 2 modes [no-order order]: `--no-order` (each request on any free
#                             connection), and session order kept (64 captured connections)
#   TWIN_BENCH_IDLE           sessions (idle connections) of part 3 [10000]
#   TWIN_BENCH_IDLE_FEW       sessions of the reference run of part 3 [10]
#   TWIN_BENCH_PIN            part 1: 1 = nginx on CPU 0, load generators on CPUs 1..n-1;
#                             0 = nothing pinned [1 when nproc >= 2]
#   TWIN_BENCH_KEEP=1         keep pcaps and results archives
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
cmdline="bench/replay.sh"
for v in TWIN TWIN_BENCH_PARTS TWIN_BENCH_RUNS TWIN_BENCH_DURATION TWIN_BENCH_CONNS \
         TWIN_BENCH_THREADS TWIN_BENCH_H2LOAD_M TWIN_BENCH_RATES TWIN_BENCH_LAG_RATE \
         TWIN_BENCH_FID_RUNS TWIN_BENCH_FID_DURATION TWIN_BENCH_FID_THREADS TWIN_BENCH_IDLE \
         TWIN_BENCH_IDLE_FEW TWIN_BENCH_ORDER TWIN_BENCH_PIN; do
  if [[ -n ${!v:-} ]]; then cmdline="$v='${!v}' $cmdline"; fi
done

parts=${TWIN_BENCH_PARTS:-"max fidelity lag memory"}
runs=${TWIN_BENCH_RUNS:-5}
dur=${TWIN_BENCH_DURATION:-5}
conns=${TWIN_BENCH_CONNS:-"16 64"}
threads=${TWIN_BENCH_THREADS:-"1 2"}
h2m=${TWIN_BENCH_H2LOAD_M:-"1 100"}
orders=${TWIN_BENCH_ORDER:-"no-order order"}
rates=${TWIN_BENCH_RATES:-"10000 50000"}
lag_rate=${TWIN_BENCH_LAG_RATE:-20000}
fid_runs=${TWIN_BENCH_FID_RUNS:-$runs}
fid_dur=${TWIN_BENCH_FID_DURATION:-$dur}
fid_threads=${TWIN_BENCH_FID_THREADS:-}
idle=${TWIN_BENCH_IDLE:-10000}
idle_few=${TWIN_BENCH_IDLE_FEW:-10}
pin=${TWIN_BENCH_PIN:-$(($(nproc) >= 2 ? 1 : 0))}
gen=()   # prefix of the load generators' commands in part 1
pin_text="nothing pinned (nginx, the load generator and twin share the cores)"
if [[ $pin == 1 ]]; then
  (($(nproc) >= 2)) || { echo "replay.sh: TWIN_BENCH_PIN=1 needs 2 CPUs" >&2; exit 2; }
  gen=(taskset -c "1-$(($(nproc) - 1))")
  pin_text="pinned: nginx's worker on CPU 0 (every part), in part 1 each load generator (wrk, h2load, twin) on CPUs 1-$(($(nproc) - 1))"
fi
idle_gap=15
idle_spread=1.5
work=${TWIN_BENCH_DIR:-out/bench-replay}
tool="python3 $repo/bench/replay_tool.py"

has() { [[ " $parts " == *" $1 "* ]]; }
die() { echo "replay.sh: $*" >&2; exit 2; }

# --- twin ---
if [[ -z ${TWIN:-} ]]; then
  for c in build-rel/bin/twin build/bin/twin; do
    if [[ -x $c ]] && "$c" replay --help >/dev/null 2>&1; then TWIN=$c; break; fi
  done
  [[ -n ${TWIN:-} ]] || die "no twin with a 'replay' command in build-rel/ or build/: set TWIN=path"
fi
[[ $TWIN == /* ]] || TWIN="$repo/$TWIN"
"$TWIN" replay --help >/dev/null 2>&1 || die "$TWIN has no 'replay' command"

for t in nginx wrk h2load python3 ss timeout; do
  command -v "$t" >/dev/null || die "$t is not installed (scripts/setup.sh)"
done
if has fidelity; then
  for t in tcpdump tshark; do command -v "$t" >/dev/null || die "$t is not installed"; done
  [[ $(id -u) -eq 0 ]] || die "part 'fidelity' records lo with tcpdump: run as root or set TWIN_BENCH_PARTS"
fi

mkdir -p "$work"
work=$(cd "$work" && pwd)
raw="$work/raw.jsonl"
: >"$raw"

# Open files: 10,000 connections need as many descriptors in twin and in nginx.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)
if [[ " $parts " == *" memory "* ]] && ((nofile < idle + 200)); then
  echo "replay.sh: warning: open files limited to $nofile, fewer than $idle connections need" >&2
fi

# --- everything started here and still running is stopped on exit ---
pids=()
forget() {  # a process that was waited for: its id may be reused, never signal it again
  local keep=() p
  for p in "${pids[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  pids=("${keep[@]}")
}
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null || true; done
  if [[ -z ${TWIN_BENCH_KEEP:-} ]]; then
    rm -f "$work"/*.pcap "$work"/*.twin "$work"/res*.jsonl "$work"/wire*.tsv "$work"/*.in.jsonl
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 - <<'EOF'
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(500):
    p = random.randrange(10000, lo)
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))
        print(p)
        break
    except OSError:
        pass
EOF
}

# --- nginx: one worker, no access log, a small static file, HTTP/1.1 and h2c listeners ---
port1=$(free_port)
port2=$(free_port)
while [[ $port2 == "$port1" ]]; do port2=$(free_port); done
ng="$work/nginx"
mkdir -p "$ng/www" "$ng/tmp" "$ng/logs"
head -c 100 /dev/zero | tr '\0' 'x' >"$ng/www/x"   # /x: 100 bytes
worker_conns=$((nofile > 40000 ? 30000 : nofile - 100))
cat >"$ng/nginx.conf" <<EOF
worker_processes 1;
$([[ $pin == 1 ]] && echo "worker_cpu_affinity 1;")
worker_rlimit_nofile $nofile;
pid $ng/nginx.pid;
error_log $ng/logs/error.log warn;
events { worker_connections $worker_conns; }
http {
  access_log off;
  default_type text/plain;
  keepalive_requests 1000000000;
  keepalive_timeout 600s;
  client_body_temp_path $ng/tmp/body;
  proxy_temp_path $ng/tmp/proxy;
  fastcgi_temp_path $ng/tmp/fastcgi;
  uwsgi_temp_path $ng/tmp/uwsgi;
  scgi_temp_path $ng/tmp/scgi;
  server {
    listen 127.0.0.1:$port1 backlog=4096;
    listen 127.0.0.1:$port2 http2 backlog=4096;
    root $ng/www;
    location = /nginx_status { stub_status; }
  }
}
EOF
nginx -p "$ng" -c "$ng/nginx.conf" -g 'daemon off;' 2>"$ng/logs/stderr" &
pids+=($!)
for _ in $(seq 100); do
  python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port1),0.2)" 2>/dev/null && break
  sleep 0.1
done
kill -0 "${pids[-1]}" 2>/dev/null || die "nginx did not start: $(cat "$ng/logs/stderr" "$ng/logs/error.log")"
h1="http://127.0.0.1:$port1"
# nginx's own count of requests handled (stub_status), less the status request itself: a check of
# each tool's count.
nginx_requests() {
  python3 -c "import urllib.request as u; print(int(u.urlopen('$h1/nginx_status', timeout=10).read().split()[9]) - 1)"
}
# CPU seconds (user + sys) nginx's one worker has used so far (/proc, clock ticks): per request
# of a run, the cost of the part's bottleneck under each tool.
ng_worker=$(pgrep -P "${pids[-1]}" | head -n 1 || true)
clk_tck=$(getconf CLK_TCK)
nginx_cpu() {
  if [[ -n $ng_worker && -r /proc/$ng_worker/stat ]]; then
    awk -v hz="$clk_tck" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$ng_worker/stat"
  else
    echo null
  fi
}
# nginx's CPU seconds since `ncpu0` (set by the caller before a run), or null.
nginx_cpu_since() {
  local now
  now=$(nginx_cpu)
  if [[ $now == null || $1 == null ]]; then echo null; else python3 -c "print(round($now - $1, 2))"; fi
}

echo "== twin $TWIN"
echo "== nginx $(nginx -v 2>&1 | sed 's/.*\///'), worker_processes 1, HTTP/1.1 on :$port1, h2c on :$port2; nproc $(nproc); open files $nofile; $pin_text"
echo "== load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '{"part":"meta","date":"%s","nproc":%d,"dur":%s,"fid_dur":%s,"idle_gap":%s,"cmd":"%s","load_start":"%s","pinned":%s}\n' \
  "$(date -u +%FT%TZ)" "$(nproc)" "$dur" "$fid_dur" "$idle_gap" "${cmdline//\"/\\\"}" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$pin" >>"$raw"

# --- the generated capture: enough GETs for the longest fixed-rate run ---
maxrate=$lag_rate
for r in $rates; do ((r > maxrate)) && maxrate=$r; done
ngets=$(python3 -c "import math; print(max(100000, math.ceil($maxrate * $fid_dur * 1.05) + 1000))")
echo "== generating $ngets GETs of /x?i=K"
$tool gen-get "$work/get.in.jsonl" "$ngets"
"$TWIN" convert "$work/get.in.jsonl" -o "$work/get.twin" >/dev/null

# json field of a twin summary: jget FILE 'python expression over s (the summary) and t (its
# first target)'
jget() {
  python3 -c "import json,sys; s=json.load(open(sys.argv[1])); t=next(iter(s['targets'].values())); print($2)" "$1"
}

# --- part 1: --max against wrk and h2load ---
# CPU seconds (user + sys) of the last tool run, all its threads, from `replay_tool.py rusage`.
cpu_s() { if [[ -s $work/cpu ]]; then cat "$work/cpu"; else echo null; fi; }
run_twin_max() {  # proto conns threads run with_o [streams per h2c connection, as h2load -m]
  local proto=$1 c=$2 t=$3 run=$4 with_o=$5 m=${6:-1} url out=() name
  if [[ $with_o == 1 ]]; then out=(-o "$work/res-max.twin"); name=twin-o; else name=twin; fi
  if [[ $proto == http/1.1 ]]; then
    url="http://127.0.0.1:$port1"
  else
    url="h2c://127.0.0.1:$port2"
    out+=(-m "$m")
    name+="-m$m"
  fi
  rm -f "$work/res-max.twin" "$work/s.json" "$work/cpu"
  local before ncpu0
  before=$(nginx_requests)
  ncpu0=$(nginx_cpu)
  if ! CI=1 $tool rusage "$work/cpu" -- timeout -k 5 $((dur + 60)) "${gen[@]}" "$TWIN" replay "$work/get.twin" --target "$url" --max -c "$c" \
       --threads "$t" --duration "$dur" --loop -q --summary-json "$work/s.json" "${out[@]}" \
       2>"$work/twin.err"; then
    echo "  ! twin replay --max ($proto -c $c --threads $t ${out[*]}) failed: $(tail -n 3 "$work/twin.err")" >&2
    return 0
  fi
  local rps errs inflight=null counted
  counted=$(($(nginx_requests) - before))
  local ngcpu
  ngcpu=$(nginx_cpu_since "$ncpu0")
  rps=$(jget "$work/s.json" "t['rate']")
  errs=$(jget "$work/s.json" "t['errors']")
  if [[ $with_o == 1 ]]; then
    # Requests in flight per connection, time-averaged, from the recorded exchanges.
    inflight=$("$TWIN" cat --format jsonl "$work/res-max.twin" | $tool inflight)
  fi
  printf '  %-8s %-7s -c %-4s -t %s  %10.0f req/s  errors %s%s\n' "$name" "$proto" "$c" "$t" "$rps" "$errs" \
    "$([[ $inflight != null ]] && echo "  in flight per connection $inflight")"
  printf '{"part":"max","proto":"%s","conns":%s,"threads":%s,"run":%s,"tool":"%s","rps":%s,"errors":%s,"completed":%s,"measured_s":%s,"inflight":%s,"nginx":%s,"cpu_s":%s,"nginx_cpu_s":%s}\n' \
    "$proto" "$c" "$t" "$run" "$name" "$rps" "$errs" "$(jget "$work/s.json" "t['completed']")" \
    "$(jget "$work/s.json" "s['measured_s']")" "$inflight" "$counted" "$(cpu_s)" "$ngcpu" >>"$raw"
}
# The peers send what twin replays from the capture: the same path (with a query of the same
# length) and the same User-Agent and Accept headers. nginx is the bottleneck of this part (its
# one worker at 100 % of CPU 0), so a request that costs it more per request (two more headers
# and a query to parse) would cost the tool that sends it requests/s.
peer_path="/x?i=50000"
peer_headers=(-H "User-Agent: bench/1" -H "Accept: */*")
run_peer() {  # proto conns threads run [h2load -m]
  local proto=$1 c=$2 t=$3 run=$4 m=${5:-1} rps errs name completed before ncpu0
  rm -f "$work/cpu"
  before=$(nginx_requests)
  ncpu0=$(nginx_cpu)
  if [[ $proto == http/1.1 ]]; then
    $tool rusage "$work/cpu" -- timeout -k 5 $((dur + 30)) "${gen[@]}" wrk -c "$c" -t "$t" -d "${dur}s" --timeout 10s "${peer_headers[@]}" "$h1$peer_path" >"$work/peer.out" 2>&1 || true
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/peer.out")
    errs=$(awk '/Socket errors|Non-2xx/ {n++} END {print n+0}' "$work/peer.out")
    completed=$(awk '/requests in/ {print $1}' "$work/peer.out")
    name=wrk
  else
    $tool rusage "$work/cpu" -- timeout -k 5 $((dur + 30)) "${gen[@]}" h2load -c "$c" -t "$t" -m "$m" -D "$dur" "${peer_headers[@]}" "http://127.0.0.1:$port2$peer_path" >"$work/peer.out" 2>&1 || true
    rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$work/peer.out")
    errs=$(sed -n 's/^requests: .* \([0-9]*\) failed, \([0-9]*\) errored.*/\1+\2/p' "$work/peer.out")
    errs=$((${errs:-0}))
    completed=$(sed -n 's/^requests: .* \([0-9]*\) succeeded,.*/\1/p' "$work/peer.out")
    name=h2load-m$m
  fi
  if [[ -z $rps ]]; then
    echo "  ! $name failed: $(tail -n 3 "$work/peer.out")" >&2
    return 0
  fi
  printf '  %-8s %-7s -c %-4s -t %s  %10.0f req/s  errors %s\n' "$name" "$proto" "$c" "$t" "$rps" "$errs"
  printf '{"part":"max","proto":"%s","conns":%s,"threads":%s,"run":%s,"tool":"%s","rps":%s,"errors":%s,"completed":%s,"nginx":%s,"cpu_s":%s,"nginx_cpu_s":%s}\n' \
    "$proto" "$c" "$t" "$run" "$name" "$rps" "$errs" "${completed:-null}" \
    "$(($(nginx_requests) - before))" "$(cpu_s)" "$(nginx_cpu_since "$ncpu0")" >>"$raw"
}
if has max; then
  echo "== part 1: closed loop, $runs runs of $dur s each, connections {$conns}, threads {$threads}"
  for ((run = 0; run < runs; run++)); do
    echo "-- run $((run + 1))/$runs"
    for proto in http/1.1 h2c; do
      for c in $conns; do
        for t in $threads; do
          ((c >= t)) || continue
          # h2c: twin -m M against h2load -m M, like for like
          ms=1
          [[ $proto == h2c ]] && ms=$h2m
          for m in $ms; do
            if ((run % 2 == 0)); then
              run_peer "$proto" "$c" "$t" "$run" "$m"
              run_twin_max "$proto" "$c" "$t" "$run" 1 "$m"
              run_twin_max "$proto" "$c" "$t" "$run" 0 "$m"
            else
              run_twin_max "$proto" "$c" "$t" "$run" 0 "$m"
              run_twin_max "$proto" "$c" "$t" "$run" 1 "$m"
              run_peer "$proto" "$c" "$t" "$run" "$m"
            fi
          done
        done
      done
    done
  done
fi

# --- part 2: schedule fidelity at fixed rates, cross-checked with tcpdump ---
thread_args=()
[[ -n $fid_threads ]] && thread_args=(--threads "$fid_threads")
run_rate() {  # rate run record(0/1) part order [threads]
  local rate=$1 run=$2 record=$3 part=$4 order=$5 targs=("${thread_args[@]}") tcpdump_pid="" dropped=0
  [[ -n ${6:-} ]] && targs=(--threads "$6")
  [[ $order == no-order ]] && targs+=(--no-order)
  rm -f "$work/res-rate.twin" "$work/s.json" "$work/rate.pcap"
  if [[ $record == 1 ]]; then
    # Only the client's packets that carry data (PSH): the requests.
    timeout -k 2 $((fid_dur + 120)) tcpdump -i lo -n -s 256 -B 65536 --time-stamp-precision=nano \
      -w "$work/rate.pcap" "tcp dst port $port1 and (tcp[tcpflags] & tcp-push != 0)" \
      2>"$work/tcpdump.err" &
    tcpdump_pid=$!
    pids+=("$tcpdump_pid")
    for _ in $(seq 100); do grep -q 'listening on' "$work/tcpdump.err" && break; sleep 0.05; done
  fi
  local ok=1
  CI=1 timeout -k 5 $((fid_dur + 60)) "$TWIN" replay "$work/get.twin" --target "$h1" --rate "$rate" \
    --duration "$fid_dur" -q -o "$work/res-rate.twin" --summary-json "$work/s.json" \
    "${targs[@]}" 2>"$work/twin.err" || ok=0
  if [[ -n $tcpdump_pid ]]; then
    sleep 1.5  # libpcap hands over its ring blocks after at most 1 s: let the last one come
    kill -INT "$tcpdump_pid" 2>/dev/null || true
    wait "$tcpdump_pid" 2>/dev/null || true
    forget "$tcpdump_pid"
    dropped=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$work/tcpdump.err")
  fi
  if [[ $ok == 0 || ! -s $work/s.json ]]; then
    echo "  ! twin replay --rate $rate ($order) failed: $(tail -n 3 "$work/twin.err")" >&2
    return 0
  fi
  local common
  common=$(python3 - "$work/s.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
t = next(iter(s["targets"].values()))
print(json.dumps({"achieved": t["rate"], "errors": t["errors"], "sent": t["sent"],
                  "completed": t["completed"], "errors_by_kind": t["errors_by_kind"],
                  "held_by_order": t["held_by_order"], "send_lag_p50_ms": t["send_lag_ms"]["p50"],
                  "send_lag_p99_ms": t["send_lag_ms"]["p99"],
                  "send_lag_max_ms": t["send_lag_ms"]["max"],
                  "waited_for_connection": t["waited_for_connection"],
                  "connections": t["connections"]["opened"]})[1:-1])
EOF
)
  local thr=${6:-${fid_threads:-$(nproc)}}
  if [[ $record == 1 ]]; then
    "$TWIN" cat --format jsonl "$work/res-rate.twin" >"$work/res-rate.jsonl"
    timeout -k 5 900 tshark -n -r "$work/rate.pcap" -d "tcp.port==$port1,http" -Y http.request \
      -T fields -e frame.time_epoch -e http.request.uri -E occurrence=a >"$work/wire.tsv" \
      2>"$work/tshark.err" || echo "  ! tshark: $(tail -n 2 "$work/tshark.err")" >&2
    local fid
    fid=$($tool fidelity "$work/res-rate.jsonl" "$work/wire.tsv" "$rate")
    echo "{\"part\":\"$part\",\"rate\":$rate,\"order\":\"$order\",\"run\":$run,\"threads\":$thr,\"tcpdump_dropped\":${dropped:-0},$common,${fid:1}" >>"$raw"
    python3 - "$raw" <<'EOF'
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print(f"  rate {r['rate']:>6.0f} {r['order']:>8}: sent {r['achieved']:8.0f}/s errors {r['errors']}  "
      f"p99 |start-intended| {r['twin_p99_us']:8.0f} us  p99 |wire-intended| {r['wire_p99_us']:8.0f} us "
      f"(offset {r['wire_offset_us']:.0f} us, centred {r['wire_p99_centered_us']:.0f} us)  "
      f"send_lag p99 {r['send_lag_p99_ms']:.3f} ms  matched {r['wire_matched']}/{r['results']}  "
      f"tcpdump drops {r['tcpdump_dropped']}  connections {r['connections']}")
EOF
  else
    echo "{\"part\":\"$part\",\"rate\":$rate,\"order\":\"$order\",\"run\":$run,\"threads\":$thr,$common}" >>"$raw"
    python3 - "$raw" <<'EOF'
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print(f"  rate {r['rate']:>6.0f} {r['order']:>8} --threads {r['threads']}: sent {r['achieved']:8.0f}/s errors {r['errors']}  "
      f"send_lag p50 {r['send_lag_p50_ms']:.3f} p99 {r['send_lag_p99_ms']:.3f} max {r['send_lag_max_ms']:.3f} ms  connections {r['connections']}")
EOF
  fi
}
if has fidelity; then
  echo "== part 2: fixed rates {$rates}, {$orders}, $fid_runs runs of $fid_dur s, -o, tcpdump on lo"
  for ((run = 0; run < fid_runs; run++)); do
    for rate in $rates; do
      for order in $orders; do run_rate "$rate" "$run" 1 fidelity "$order"; done
    done
  done
fi
if has lag; then
  echo "== part 2b: send lag at $lag_rate req/s, {$orders}, $fid_runs runs of $fid_dur s, -o, threads {$threads}"
  for ((run = 0; run < fid_runs; run++)); do
    for order in $orders; do
      for t in $threads; do run_rate "$lag_rate" "$run" 0 lag "$order" "$t"; done
    done
  done
fi

# --- part 3: memory per idle connection ---
run_idle() {  # sessions
  local n=$1
  $tool gen-idle "$work/idle.in.jsonl" "$n" "$idle_spread" "$idle_gap"
  "$TWIN" convert "$work/idle.in.jsonl" -o "$work/idle.twin" >/dev/null
  rm -f "$work/s.json" "$work/res-idle.twin" "$work/watch.json"
  CI=1 "$TWIN" replay "$work/idle.twin" --target "$h1" -q -o "$work/res-idle.twin" \
    --summary-json "$work/s.json" 2>"$work/twin.err" &
  local pid=$!
  pids+=("$pid")
  # Between the waves: the first ends at about $idle_spread s; twin closes a pool connection idle
  # for 10 s, so the samples stop before.
  $tool watch "$pid" "$port1" "$work/watch.json" 3 4 5 6 7 8 9 || true
  local waited=0
  while kill -0 "$pid" 2>/dev/null && ((waited < 2 * (idle_gap + 60))); do
    sleep 0.5
    waited=$((waited + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "  ! twin replay (idle, $n sessions) still running after $((idle_gap + 60)) s: killed" >&2
    kill "$pid"; wait "$pid" 2>/dev/null || true
  else
    wait "$pid" || echo "  ! twin replay (idle, $n sessions) exited with $?: $(tail -n 3 "$work/twin.err")" >&2
  fi
  forget "$pid"
  python3 - "$work/watch.json" "$work/s.json" "$n" >>"$raw" <<'EOF'
import json, os, sys
samples = json.load(open(sys.argv[1]))
s = json.load(open(sys.argv[2])) if os.path.exists(sys.argv[2]) else None
t = next(iter(s["targets"].values())) if s else {}
best = max(samples, key=lambda x: (x["established"], x["t"])) if samples else {}
print(json.dumps({"part": "memory", "sessions": int(sys.argv[3]), "rss_kb": best.get("rss_kb"),
                  "established": best.get("established"), "at_s": best.get("t"),
                  "samples": samples, "errors": t.get("errors"), "completed": t.get("completed"),
                  "connections_opened": t.get("connections", {}).get("opened")}))
EOF
  python3 - "$raw" <<'EOF'
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print(f"  {r['sessions']:>6} sessions: VmRSS {r['rss_kb']} KiB with {r['established']} established "
      f"(at {r['at_s']} s); samples " +
      " ".join(f"{x['t']:.0f}s:{x['rss_kb']}K/{x['established']}" for x in r["samples"]) +
      f"; completed {r['completed']}, errors {r['errors']}, connections opened {r['connections_opened']}")
EOF
}
if has memory; then
  echo "== part 3: idle keep-alive connections: $idle sessions (request at t, t + $idle_gap s) and $idle_few for reference"
  run_idle "$idle_few"
  run_idle "$idle"
fi

echo "== load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "Results ($(date -u +%FT%TZ), nproc $(nproc), $cmdline):"
echo
$tool report "$raw" "$work/results.md"
echo "(Markdown: $work/results.md; raw: $raw)"

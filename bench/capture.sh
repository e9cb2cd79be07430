#!/usr/bin/env bash
# Capture benchmark, side by side with the peers named in the design (tshark, tcpflow), in one run:
#   bench/capture.sh [RUNS] [MB]        (root: it records on lo with tcpdump)
# Records at least MB (default 100) megabytes of wrk traffic against nginx on lo (a mix of file
# sizes, HTTP/1.1 keep-alive), then reads that pcap with each tool RUNS times (default 3), pinned
# to one core (taskset -c 0), and prints the median throughput in MB/s of pcap, the ratios, and
# each tool's peak RSS:
#   twin capture -r PCAP -o OUT.twin --port P -q
#   tshark -r PCAP -d tcp.port==P,http -Y http -T fields -e http.request.method
#          -e http.request.uri -e http.response.code > /dev/null
#   tcpflow -r PCAP -o DIR                             (DIR emptied before each run)
# Environment: TWIN_BENCH_BUILD (default build-bench, Release), TWIN_BENCH_DIR (default
# out/bench-capture), TWIN_BENCH_KEEP=1 keeps the pcap and outputs, TWIN_BENCH_PCAP=FILE:PORT
# reads an existing recording instead of making one.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
megabytes=${2:-100}
build=${TWIN_BENCH_BUILD:-build-bench}
work=${TWIN_BENCH_DIR:-out/bench-capture}
mkdir -p "$work"
work=$(cd "$work" && pwd)

for tool in tcpdump tshark tcpflow nginx wrk taskset python3; do
  command -v "$tool" >/dev/null || { echo "capture.sh: $tool is not installed (scripts/setup.sh)" >&2; exit 2; }
done
if [[ $(id -u) -ne 0 && -z ${TWIN_BENCH_PCAP:-} ]]; then
  echo "capture.sh: recording on lo needs root (or set TWIN_BENCH_PCAP=FILE:PORT)" >&2
  exit 2
fi

# --- twin, Release build (a failure only leaves twin out of the comparison) ---
twin=""
echo "== building twin (Release, $build)"
if cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTWIN_TESTS=OFF >"$work/build.log" 2>&1 &&
   cmake --build "$build" --target twin >>"$work/build.log" 2>&1; then
  if "$build/bin/twin" capture --help >/dev/null 2>&1; then
    twin="$build/bin/twin"
  else
    echo "  twin has no 'capture' command yet: measuring the peers only"
  fi
else
  echo "  the build failed (see $work/build.log): measuring the peers only"
fi

# --- the recording ---
if [[ -n ${TWIN_BENCH_PCAP:-} ]]; then
  pcap=${TWIN_BENCH_PCAP%:*}
  port=${TWIN_BENCH_PCAP##*:}
  echo "== reading $pcap (server port $port)"
else
  pcap="$work/traffic.pcap"
  # Loopback sends 64 KB TSO segments; a NIC sends MTU-sized packets. By default the recording
  # runs in a network namespace of its own whose lo has MTU 1500 and gso_max_size 1500, so the
  # pcap has the packet sizes of real traffic. TWIN_BENCH_MTU=lo records on the host's lo.
  inns=()
  if [[ ${TWIN_BENCH_MTU:-1500} != lo ]]; then
    netns="twin-bench-$$"
    ip netns add "$netns"
    trap 'ip netns del "$netns" 2>/dev/null || true' EXIT
    ip netns exec "$netns" ip link set lo up
    ip netns exec "$netns" ip link set lo mtu "${TWIN_BENCH_MTU:-1500}"
    ip netns exec "$netns" ip link set lo gso_max_size "${TWIN_BENCH_MTU:-1500}"
    inns=(ip netns exec "$netns")
    echo "== recording >= $megabytes MB of wrk traffic against nginx on lo of netns $netns (MTU ${TWIN_BENCH_MTU:-1500}, no GSO)"
  else
    echo "== recording >= $megabytes MB of wrk traffic against nginx on lo"
  fi
  port=$("${inns[@]}" python3 - "$work" "$pcap" "$megabytes" <<'EOF'
import os, sys
sys.path.insert(0, os.path.join(os.getcwd(), "tests", "capture_e2e"))
import harness as h

work, pcap, megabytes = sys.argv[1], sys.argv[2], float(sys.argv[3])
docroot = os.path.join(work, "www")
h.make_docroot(docroot)
# A mix of sizes, weighted towards small responses as in API traffic: 1 KB x4, 10 KB x3,
# 100 KB, 0 B and a 404.
paths = ["/1k.bin", "/10k.bin", "/1k.bin", "/100k.bin", "/10k.bin", "/1k.bin", "/empty.bin",
         "/10k.bin", "/1k.bin", "/nope"]
ng = h.Nginx(work, docroot).start()
try:
    rec = h.Recorder(pcap, [ng.http_port]).start()
    requests = 0
    try:
        # Rounds of a bounded number of requests, so tcpdump keeps up (no kernel drops), until
        # the file is large enough.
        while os.path.getsize(pcap) < megabytes * 1e6:
            r = h.wrk(ng.url("/"), threads=2, connections=16, duration=5, limit=4000,
                      paths=paths)
            requests += r["requests"]
    finally:
        rec.stop()
    print(f"  {os.path.getsize(pcap) / 1e6:.1f} MB, {rec.captured} packets, about {requests} "
          f"exchanges (wrk -t2 -c16), tcpdump dropped {rec.kernel_drops}", file=sys.stderr)
finally:
    ng.stop()
print(ng.http_port)
EOF
)
fi
size=$(stat -c %s "$pcap")

# --- timing: "seconds peak_rss_kib" of one command, stdout to /dev/null, pinned to core 0 ---
# Wall-clock time from a monotonic clock to the tenth of a millisecond (GNU time's %e has 10 ms
# steps, 5 to 25 % of a run here); the peak RSS from GNU time when it is installed (getrusage
# of the child otherwise, which also counts Python's memory from before the exec).
measure() {
  python3 - "$work/cmd.err" "$work/rss.out" "$@" <<'EOF'
import os, resource, shutil, subprocess, sys, time
err, rss_file, cmd = open(sys.argv[1], "wb"), sys.argv[2], sys.argv[3:]
gnu_time = shutil.which("time", path="/usr/bin")
if gnu_time:
    cmd = [gnu_time, "-f", "%M", "-o", rss_file] + cmd
t = time.monotonic()
r = subprocess.run(["taskset", "-c", "0"] + cmd, stdout=subprocess.DEVNULL, stderr=err)
elapsed = time.monotonic() - t
if r.returncode != 0:
    sys.exit(f"command failed: {' '.join(sys.argv[3:])}")
rss = int(open(rss_file).read().split()[-1]) if gnu_time else \
    resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"{elapsed:.4f} {rss}")
EOF
}

# median seconds and max RSS over $runs runs of a command; before each run, $prepare (if set)
bench() {
  local name=$1; shift
  local times=() rss=0 out
  for ((i = 0; i < runs; i++)); do
    if [[ -n ${prepare:-} ]]; then eval "$prepare"; fi
    out=$(measure "$@") || return 1
    times+=("${out% *}")
    if (( ${out#* } > rss )); then rss=${out#* }; fi
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')
  local rate
  rate=$(echo "scale=1; $size / 1000000 / $median" | bc)
  printf '  %-14s %8.3f s  %8s MB/s  peak RSS %6d MiB\n' "$name" "$median" "$rate" $((rss / 1024))
  eval "rate_${name//[^a-z]/_}=$rate"
}

echo "== reading the pcap ($(echo "scale=1; $size / 1000000" | bc) MB), median of $runs runs, taskset -c 0"
rate_twin="" rate_tshark="" rate_tcpflow="" rate_read_only=""  # set by bench()
if [[ -n $twin ]]; then
  prepare="rm -f '$work/out.twin'"
  bench twin "$twin" capture -r "$pcap" -o "$work/out.twin" --port "$port" -q ||
    { echo "  twin capture failed: $(tail -n 3 "$work/cmd.err")"; rate_twin=""; }
  if [[ -n $rate_twin && -f $work/out.twin ]]; then
    "$twin" info --json "$work/out.twin" >"$work/info.json" && python3 - "$work/info.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
c = j.get("metadata", {}).get("capture", {})
print(f"                 twin: {j['exchanges']} exchanges from {c.get('packets', '?')} packets, "
      f"{c.get('flows', '?')} flows, {c.get('gaps', '?')} gaps")
EOF
  fi
fi
prepare=""
bench tshark tshark -n -r "$pcap" -d "tcp.port==$port,http" -Y http -T fields \
  -e http.request.method -e http.request.uri -e http.response.code
prepare="rm -rf '$work/tcpflow' && mkdir -p '$work/tcpflow'"
bench tcpflow tcpflow -r "$pcap" -o "$work/tcpflow"
prepare=""
# The floor: reading the file and nothing else (dd, 64 KiB blocks, from the page cache). No
# reader of this file on this core can be faster.
bench read_only dd if="$pcap" of=/dev/null bs=64k

if [[ -n $rate_twin ]]; then
  awk -v t="$rate_twin" -v s="$rate_tshark" -v f="$rate_tcpflow" \
    'BEGIN { printf "  twin / tshark  = %.1fx\n  twin / tcpflow = %.1fx\n", t / s, t / f }'
fi
awk -v r="$rate_read_only" -v s="$rate_tshark" -v t="${rate_twin:-0}" \
  'BEGIN { printf "  read only / tshark = %.1fx (the most any reader of the file could reach)\n", r / s
           if (t > 0) printf "  twin / read only   = %.2f\n", t / r }'

if [[ -z ${TWIN_BENCH_KEEP:-} ]]; then
  rm -rf "$work/tcpflow" "$work/out.twin" "$work/www" "$work/nginx" "$work"/tcpdump.*.{out,err} \
    "$work/cmd.err" "$work/rss.out" "$work/info.json"
  if [[ -z ${TWIN_BENCH_PCAP:-} ]]; then rm -f "$pcap"; fi
fi

#!/usr/bin/env python3
"""Helper of bench/replay.sh (Python 3 standard library only).

  replay_tool.py gen-get OUT.jsonl N                    N captured GETs of /x?i=K (K = 0..N-1)
  replay_tool.py gen-idle OUT.jsonl SESSIONS SPREAD GAP  SESSIONS sessions of two GETs each: the
                                                        first at K/SESSIONS*SPREAD s, the second
                                                        GAP s later
  replay_tool.py fidelity RESULTS.jsonl WIRE.tsv RATE   send-instant accuracy of a --rate replay,
                                                        from twin's results and from tshark's
                                                        request instants; prints one JSON object
  replay_tool.py inflight < RESULTS.jsonl              requests in flight per connection (time
                                                        average over each connection's life)
  replay_tool.py watch PID PORT OUT.json T...           VmRSS of PID and established connections
                                                        to PORT at T seconds after the call
  replay_tool.py report RAW.jsonl OUT.md                medians of the raw measurements: a text
                                                        table on stdout, Markdown into OUT.md
  replay_tool.py rusage OUT -- CMD...                   runs CMD, writes the CPU seconds (user +
                                                        sys) of it and its descendants to OUT,
                                                        exits with its status
"""

import json
import math
import os
import statistics
import subprocess
import sys
import time

T0 = 1_763_900_000_000_000_000  # 2025-11-23T12:13:20Z, the generated captures' first instant


def exchange(i, session, seq, start_ns, path):
    return {
        "id": i + 1, "origin_id": 0, "session": session, "seq": seq, "stream": 0,
        "protocol": "http/1.1", "target": "",
        "time": {"request_start": start_ns, "request_end": start_ns + 10_000,
                 "response_start": start_ns + 200_000, "response_end": start_ns + 210_000,
                 "intended": None},
        "client": f"10.1.{session // 60000 % 250}.{session % 250 + 1}:{40000 + session % 20000}",
        "server": "10.0.0.5:80",
        "request": {"method": "GET", "target": path, "authority": "bench.example",
                    "headers": [["Host", "bench.example"], ["User-Agent", "bench/1"],
                                ["Accept", "*/*"]],
                    "body": "", "body_encoding": "utf8", "body_size": 0, "framing": "none"},
        "response": {"status": 200, "reason": "OK",
                     "headers": [["Content-Type", "text/plain"], ["Content-Length", "2"]],
                     "body": "ok", "body_encoding": "utf8", "body_size": 2,
                     "framing": "content-length"},
        "error": "none", "flags": []}


def gen_get(out, n):
    # 64 captured connections, requests 100 us apart; /x?i=K names each request uniquely so that
    # a packet capture of the replay can be matched with the results.
    with open(out, "w") as f:
        for i in range(n):
            f.write(json.dumps(exchange(i, i % 64 + 1, i // 64, T0 + i * 100_000, f"/x?i={i}"),
                               separators=(",", ":")) + "\n")


def gen_idle(out, sessions, spread, gap):
    rows = []
    for k in range(sessions):
        t = T0 + int(k * spread * 1e9 / sessions)
        rows.append((t, exchange(2 * k, k + 1, 0, t, f"/x?s={k}&n=0")))
        t2 = t + int(gap * 1e9)
        rows.append((t2, exchange(2 * k + 1, k + 1, 1, t2, f"/x?s={k}&n=1")))
    rows.sort(key=lambda r: r[0])
    with open(out, "w") as f:
        for _, e in rows:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")


def quantile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[k]


def index_of(target):
    # "/x?i=123" -> 123
    p = target.find("i=")
    if p < 0:
        return None
    try:
        return int(target[p + 2:].split("&")[0])
    except ValueError:
        return None


def fidelity(results_path, wire_path, rate):
    intended = {}   # i -> time.intended (ns): the schedule's instant, or later when session
                    # order held the request until its predecessor completed
    start = {}      # i -> time.request_start (ns)
    errors = 0
    total = 0
    with open(results_path) as f:
        for line in f:
            e = json.loads(line)
            total += 1
            if e.get("error", "none") != "none":
                errors += 1
            t = e["time"]
            tgt = e["request"]["target"]
            i = index_of(tgt if isinstance(tgt, str) else "")
            if i is None or t.get("intended") is None:
                continue
            intended[i] = t["intended"]
            if t.get("request_start") is not None:
                start[i] = t["request_start"]
    wire = {}  # i -> first instant the request was seen on lo (ns)
    frames = 0
    with open(wire_path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 2 or not parts[1]:
                continue
            frames += 1
            sec, _, frac = parts[0].partition(".")
            ts = int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])
            for uri in parts[1].split(","):
                i = index_of(uri)
                if i is not None and i not in wire:
                    wire[i] = ts

    us = 1e3
    out = {"rate": rate, "results": total, "errors": errors, "wire_requests": len(wire),
           "wire_frames": frames}
    # The nominal schedule: request K (the K-th of the capture) is due at t0 + K / rate. A held
    # request's intended instant is later than its nominal one, never earlier, so t0 is the least
    # intended - K / rate.
    step = 1e9 / rate
    t0 = min((intended[i] - i * step for i in intended), default=0)
    sched = {i: t0 + i * step for i in intended}
    out["shifted"] = sum(1 for i in intended if intended[i] - sched[i] > 1000)

    def stats(prefix, pairs):
        v = sorted(abs(a - b) for a, b in pairs)
        out[prefix + "_n"] = len(v)
        out[prefix + "_p50_us"] = quantile(v, 0.50) / us
        out[prefix + "_p99_us"] = quantile(v, 0.99) / us
        out[prefix + "_max_us"] = (v[-1] / us) if v else float("nan")

    # twin's own view: |request_start - intended| and |request_start - nominal|
    stats("twin", [(start[i], intended[i]) for i in start if i in intended])
    stats("twin_sched", [(start[i], sched[i]) for i in start if i in sched])
    # the wire's view: |first packet - intended| and |first packet - nominal|
    both = [i for i in wire if i in intended]
    out["wire_matched"] = len(both)
    stats("wire", [(wire[i], intended[i]) for i in both])
    stats("wire_sched", [(wire[i], sched[i]) for i in both])
    d = sorted(wire[i] - intended[i] for i in both)
    offset = int(statistics.median(d)) if d else 0
    out["wire_offset_us"] = offset / us
    out["wire_p99_centered_us"] = quantile(sorted(abs(x - offset) for x in d), 0.99) / us
    # twin's timestamp against the wire: how honest request_start is
    ws = sorted(wire[i] - start[i] for i in both if i in start)
    out["wire_minus_start_p50_us"] = quantile(ws, 0.50) / us
    out["wire_minus_start_p99_us"] = quantile(ws, 0.99) / us
    # Without the matching: requests per 1 ms bin on the wire against the nominal schedule's
    # rate/1000, over the schedule's span.
    nbins = int(len(intended) * step // 1_000_000)
    if nbins > 2:
        got = [0] * nbins
        for ts in wire.values():
            b = int((ts - t0) // 1_000_000)
            if 0 <= b < nbins:
                got[b] += 1
        want = rate / 1000
        dev = sorted(abs(g - want) for g in got)
        out["bin_expected"] = want
        out["bin_dev_p99"] = quantile(dev, 0.99)
        out["bin_dev_max"] = dev[-1]
        out["bin_empty"] = sum(1 for g in got if g == 0)
    print(json.dumps(out))


def inflight(stream):
    events = {}
    for line in stream:
        e = json.loads(line)
        t = e["time"]
        if t.get("request_start") is None or t.get("response_end") is None:
            continue
        ev = events.setdefault(e["session"], [])
        ev.append((t["request_start"], 1))
        ev.append((t["response_end"], -1))
    area = 0
    span = 0
    for ev in events.values():
        ev.sort()
        n = 0
        for (ts, d), (nxt, _) in zip(ev, ev[1:] + [ev[-1]]):
            n += d
            area += n * (nxt - ts)
        span += ev[-1][0] - ev[0][0]
    print(f"{area / span:.2f}" if span else "null")


def read_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def established(port):
    r = subprocess.run(["ss", "-Htn", "state", "established", f"( dport = :{port} )"],
                       capture_output=True, text=True, timeout=30)
    return sum(1 for line in r.stdout.splitlines() if line.strip())


def watch(pid, port, out, instants):
    t0 = time.monotonic()
    samples = []
    for t in sorted(instants):
        delay = t0 + t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            rss = read_rss_kb(pid)
        except OSError:
            break
        samples.append({"t": round(time.monotonic() - t0, 2), "rss_kb": rss,
                        "established": established(port)})
    with open(out, "w") as f:
        json.dump(samples, f)


# ---------------------------------------------------------------------------------------------
# report


def med(values):
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return statistics.median(values) if values else None


def cpu_per_request(runs):
    """Median over runs of CPU microseconds (user + sys, the tool with all its threads) per
    completed request; None when the runs did not record CPU time."""
    return med([r["cpu_s"] * 1e6 / r["completed"] for r in runs.values()
                if r.get("cpu_s") is not None and r.get("completed")])


def nginx_cpu_per_request(runs):
    """Median over runs of nginx's worker's CPU microseconds per request it counted while the
    tool ran; None when not recorded."""
    return med([r["nginx_cpu_s"] * 1e6 / r["nginx"] for r in runs.values()
                if r.get("nginx_cpu_s") is not None and r.get("nginx")])


def fmt(v, digits=0, unit=""):
    if v is None:
        return "n/a"
    if digits == 0:
        return f"{v:,.0f}{unit}"
    return f"{v:,.{digits}f}{unit}"


def report(raw_path, md_path):
    rows = []
    with open(raw_path) as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    meta = next((r for r in rows if r.get("part") == "meta"), {})
    text = []
    md = []

    # --- 1: --max against wrk / h2load ---
    mx = [r for r in rows if r.get("part") == "max"]
    if mx:
        runs = max(r["run"] for r in mx) + 1
        text.append(f"1. Closed loop, requests/s (median of {runs} runs of {meta.get('dur')} s; "
                    f"ratio = median of the per-run ratios twin/peer)")
        hdr = ["protocol", "conns", "threads", "peer (twin: same -t, -m)", "peer req/s",
               "twin -o req/s",
               "twin -o / peer", "twin (no -o) req/s", "twin / peer", "twin in flight/conn",
               "twin errors", "CPU µs/req: peer", "twin -o", "twin",
               "nginx CPU µs/req under: peer", "twin -o", "twin"]
        table = []
        keys = sorted({(r["proto"], r["conns"], r["threads"]) for r in mx},
                      key=lambda k: (k[0], k[1], k[2]))
        for proto, conns, threads in keys:
            sel = [r for r in mx if (r["proto"], r["conns"], r["threads"]) == (proto, conns,
                                                                                 threads)]
            by = {}
            for r in sel:
                by.setdefault(r["tool"], {})[r["run"]] = r
            peers = sorted((k for k in by if k.startswith(("wrk", "h2load"))),
                           key=lambda k: int(k.split("-m")[1]) if "-m" in k else 0)
            for peer in peers:
                p = by[peer]
                # h2c: twin -m M against h2load -m M (raw files from before -m: plain twin)
                m = "-m" + peer.split("-m")[1] if "-m" in peer else ""
                to = by.get("twin-o" + m, by.get("twin-o", {}))
                tn = by.get("twin" + m, by.get("twin", {}))
                errs = sum(r.get("errors", 0) for r in list(to.values()) + list(tn.values()))
                ratio_o = med([to[k]["rps"] / p[k]["rps"] for k in to if k in p and p[k]["rps"]])
                ratio_n = med([tn[k]["rps"] / p[k]["rps"] for k in tn if k in p and p[k]["rps"]])
                peer_name = f"wrk -t{threads}" if peer == "wrk" else \
                    f"h2load -t{threads} -m{peer.split('-m')[1]}"
                table.append([proto, str(conns), str(threads), peer_name,
                              fmt(med([r["rps"] for r in p.values()])),
                              fmt(med([r["rps"] for r in to.values()])),
                              fmt(ratio_o, 2, "x"),
                              fmt(med([r["rps"] for r in tn.values()])),
                              fmt(ratio_n, 2, "x"),
                              fmt(med([r.get("inflight") for r in to.values()]), 1),
                              str(errs), fmt(cpu_per_request(p), 1), fmt(cpu_per_request(to), 1),
                              fmt(cpu_per_request(tn), 1), fmt(nginx_cpu_per_request(p), 1),
                              fmt(nginx_cpu_per_request(to), 1),
                              fmt(nginx_cpu_per_request(tn), 1)])
        text += render_text(hdr, table)
        pinned = ("nginx's worker pinned to CPU 0, each load generator to the other CPUs"
                  if meta.get("pinned") == 1 else "nothing pinned")
        md.append(f"**Closed loop** (median of {runs} runs of {meta.get('dur')} s each; a ratio is "
                  f"the median of the per-run ratios; {pinned}):")
        md.append("")
        md += render_md(hdr, table)
        md.append("")
        # nginx's own counter against each tool's count of completed requests
        checks = []
        for name in sorted({r["tool"] for r in mx}):
            q = [r["nginx"] / r["completed"] for r in mx
                 if r["tool"] == name and r.get("nginx") and r.get("completed")]
            if q:
                checks.append(f"{name} {min(q):.3f}-{max(q):.3f}")
        if checks:
            line = ("Check: requests counted by nginx (stub_status) / completed as the tool "
                    "reports, min-max over runs: " + ", ".join(checks) + " (above 1: requests "
                    "still in flight when the run stopped)")
            text.append("   " + line)
            md.append(line)
            md.append("")
        text.append("")

    # --- 2: schedule fidelity ---
    fd = [r for r in rows if r.get("part") == "fidelity"]
    if fd:
        runs = max(r["run"] for r in fd) + 1
        text.append(f"2. Schedule fidelity, --rate R -o, HTTP/1.1 (median of {runs} "
                    f"runs of {meta.get('fid_dur')} s; nominal = K / rate after the first request)")
        hdr = ["rate", "order", "connections", "sent/s", "errors (max)", "held by order",
               "p99 |start-intended| (results)", "p99 |wire-intended| (tcpdump)",
               "p99 |wire-nominal| (tcpdump)", "p99 wire-start", "1 ms bins: p99 |got-want|",
               "send_lag p99 (summary)", "tcpdump matched / drops"]
        table = []
        for rate, order in sorted({(r["rate"], r.get("order", "no-order")) for r in fd}):
            sel = [r for r in fd if r["rate"] == rate and r.get("order", "no-order") == order]
            table.append([
                fmt(rate), "--no-order" if order == "no-order" else "kept",
                fmt(med([r.get("connections") for r in sel])),
                fmt(med([r.get("achieved") for r in sel])),
                fmt(max(r.get("errors", 0) for r in sel)),
                fmt(med([r.get("held_by_order") for r in sel])),
                fmt_us(med([r.get("twin_p99_us") for r in sel])),
                fmt_us(med([r.get("wire_p99_us") for r in sel])),
                fmt_us(med([r.get("wire_sched_p99_us") for r in sel])),
                fmt_us(med([r.get("wire_minus_start_p99_us") for r in sel])),
                fmt(med([r.get("bin_dev_p99") for r in sel]), 0, f" (of {rate / 1000:g})"),
                fmt(med([r.get("send_lag_p99_ms") for r in sel]), 3, " ms"),
                f"{fmt(med([r.get('wire_matched', 0) / max(r.get('results', 1), 1) * 100 for r in sel]), 1)} % / "
                f"{max(r.get('tcpdump_dropped', 0) for r in sel)}"])
        text += render_text(hdr, table)
        md.append(f"**Schedule fidelity** (`--rate R -o`, HTTP/1.1, median of {runs} "
                  f"runs of {meta.get('fid_dur')} s, with tcpdump recording lo):")
        md.append("")
        md += render_md(hdr, table)
        md.append("")
        text.append("")

    lg = [r for r in rows if r.get("part") == "lag"]
    if lg:
        runs = max(r["run"] for r in lg) + 1
        text.append(f"   send_lag at {fmt(lg[0]['rate'])} req/s, no tcpdump (median of {runs} runs):")
        hdr = ["rate", "order", "threads", "connections", "sent/s", "errors (max)", "held by order",
               "send_lag p50",
               "send_lag p99", "send_lag max", "target"]
        table = []
        for order, threads in sorted({(r.get("order", "no-order"), r["threads"]) for r in lg}):
            sel = [r for r in lg if r["threads"] == threads and r.get("order", "no-order") == order]
            p99 = med([r.get("send_lag_p99_ms") for r in sel])
            table.append([fmt(sel[0]["rate"]), "--no-order" if order == "no-order" else "kept",
                          str(threads), fmt(med([r.get("connections") for r in sel])),
                          fmt(med([r.get("achieved") for r in sel])),
                          fmt(max(r.get("errors", 0) for r in sel)),
                          fmt(med([r.get("held_by_order") for r in sel])),
                          fmt(med([r.get("send_lag_p50_ms") for r in sel]), 3, " ms"),
                          fmt(p99, 3, " ms"),
                          fmt(med([r.get("send_lag_max_ms") for r in sel]), 3, " ms"),
                          "<= 1 ms: " + ("met" if p99 is not None and p99 <= 1 else "not met")])
        text += render_text(hdr, table)
        md.append(f"**Send lag** at {fmt(lg[0]['rate'])} req/s (`--rate R -o`, no tcpdump, "
                  f"median of {runs} runs of {meta.get('fid_dur')} s):")
        md.append("")
        md += render_md(hdr, table)
        md.append("")
        text.append("")

    # --- 3: memory ---
    mm = [r for r in rows if r.get("part") == "memory"]
    if mm:
        text.append("3. Memory of idle keep-alive connections (time-faithful replay, VmRSS of twin)")
        hdr = ["sessions", "established when sampled", "at", "VmRSS", "completed", "errors",
               "connections opened"]
        table = []
        for r in sorted(mm, key=lambda r: r["sessions"]):
            table.append([fmt(r["sessions"]), fmt(r.get("established")),
                          fmt(r.get("at_s"), 1, " s"), fmt(r.get("rss_kb"), 0, " KiB"),
                          fmt(r.get("completed")), fmt(r.get("errors")),
                          fmt(r.get("connections_opened"))])
        text += render_text(hdr, table)
        md.append("**Idle connections** (time-faithful replay of sessions with a request at t and "
                  f"another at t + {meta.get('idle_gap')} s; twin's VmRSS sampled in between):")
        md.append("")
        md += render_md(hdr, table)
        md.append("")
        big = max(mm, key=lambda r: r["sessions"])
        small = min(mm, key=lambda r: r["sessions"])
        if big is not small and big.get("rss_kb") and small.get("rss_kb") and \
                big.get("established", 0) > small.get("established", 0):
            n = big["established"] - small["established"]
            per = (big["rss_kb"] - small["rss_kb"]) / n
            line = (f"({fmt(big['rss_kb'])} - {fmt(small['rss_kb'])}) KiB / ({fmt(big['established'])}"
                    f" - {fmt(small['established'])}) established connections = {per:.2f} KiB "
                    f"({per * 1.024:.2f} KB) per idle connection (target <= 8 KB: "
                    f"{'met' if per * 1.024 <= 8 else 'not met'})")
            text.append("   " + line)
            md.append(line.replace("<=", "≤"))
            md.append("")
        text.append("")

    print("\n".join(text))
    with open(md_path, "w") as f:
        f.write("\n".join(md) + "\n")


def fmt_us(v):
    if v is None:
        return "n/a"
    return f"{v / 1000:,.2f} ms" if v >= 1000 else f"{v:,.0f} us"


def render_text(hdr, table):
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(hdr)]
    line = lambda cells: "  " + "  ".join(c.rjust(w) for c, w in zip(cells, widths))
    return [line(hdr), "  " + "  ".join("-" * w for w in widths)] + [line(r) for r in table]


def render_md(hdr, table):
    cell = lambda c: c.replace("|", "\\|").replace("<=", "≤")
    out = ["| " + " | ".join(map(cell, hdr)) + " |", "|" + " --- |" * len(hdr)]
    out += ["| " + " | ".join(map(cell, r)) + " |" for r in table]
    return out


def rusage(out, command):
    """CPU time of a command and everything it waited for (timeout, taskset, the tool's threads):
    what a load generator spends per request tells its efficiency apart from the server's and the
    host's noise, which move requests/s far more on a shared VM."""
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    code = subprocess.run(command).returncode
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(out, "w") as f:
        f.write(f"{cpu:.3f}\n")
    return code if code >= 0 else 128 - code


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd = argv[1]
    if cmd == "gen-get":
        gen_get(argv[2], int(argv[3]))
    elif cmd == "gen-idle":
        gen_idle(argv[2], int(argv[3]), float(argv[4]), float(argv[5]))
    elif cmd == "fidelity":
        fidelity(argv[2], argv[3], float(argv[4]))
    elif cmd == "inflight":
        inflight(sys.stdin)
    elif cmd == "watch":
        watch(int(argv[2]), int(argv[3]), argv[4], [float(x) for x in argv[5:]])
    elif cmd == "report":
        report(argv[2], argv[3])
    elif cmd == "rusage" and len(argv) > 4 and argv[3] == "--":
        sys.exit(rusage(argv[2], argv[4:]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)

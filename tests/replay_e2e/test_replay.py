"""End-to-end tests of `twin replay`: captured archives (recorded by examples/shop, or written as
JSONL with known instants and converted) replayed against real servers on 127.0.0.1 — the shop,
nginx over HTTP/1.1, h2c and TLS, and small raw-socket servers for the faults (one that never
answers, one that closes mid-response, one that dribbles then stalls) — and checked against what
the servers logged, what the capture recorded and what the tests computed themselves.

Each test is one ctest entry:  python3 test_replay.py TestCase.test_name
(TWIN_BIN, SHOP_BIN and SHOP_TRAFFIC_BIN name the binaries; TWIN_E2E_KEEP=1 keeps the temporary
directories, TWIN_E2E_VERBOSE=1 prints every command.) Exit code 77 means skipped (a tool is
missing, or root is needed). The harness (free ports, processes that are always stopped) is
tests/capture_e2e/harness.py.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "capture_e2e"))

import harness as h  # noqa: E402
import pcapmut  # noqa: E402

MS = 1_000_000  # ns
MIB = 1024 * 1024
# The captured instants of generated captures start here (2025-11-23, ns since the epoch).
BASE_NS = 1_763_900_000_000_000_000


# ---------------------------------------------------------------------------------------------
# binaries


def twin():
    return h.twin_bin()


def _sibling(env, name):
    p = os.environ.get(env)
    if p:
        return p
    return os.path.join(os.path.dirname(twin()), name)


def shop_bin():
    return _sibling("SHOP_BIN", "shop")


def shop_traffic_bin():
    return _sibling("SHOP_TRAFFIC_BIN", "shop_traffic")


def setUpModule():
    r = h.run([twin(), "replay", "--help"], timeout=30, check=False)
    if r.returncode != 0:
        raise AssertionError(f"twin replay --help exited {r.returncode}: {r.stderr_text[-500:]}")


class Case(unittest.TestCase):
    """Common set-up: a temporary directory per test, tool checks that skip."""

    def setUp(self):
        self.tmp = h.TempDir(prefix=f"twin-replay-e2e-{self._testMethodName}-")
        self._n = 0

    def need(self, *tools):
        missing = [t for t in tools if not h.have(t)]
        if missing:
            self.skipTest(f"needs {', '.join(missing)} (scripts/setup.sh)")

    def need_shop(self):
        for p in (shop_bin(), shop_traffic_bin()):
            if not os.access(p, os.X_OK):
                self.skipTest(f"{p} is not built (ninja shop shop_traffic)")

    def fresh(self, stem):
        self._n += 1
        return self.tmp.join(f"{stem}-{self._n}")


# ---------------------------------------------------------------------------------------------
# captures


def gen_exchange(i, session, seq, start_ns, target, method="GET", authority="shop.example.com",
                 headers=(), body="", status=200, duration_ns=1 * MS):
    """One captured exchange in the JSONL form of docs/FORMAT.md."""
    return {
        "id": i, "session": session, "seq": seq, "stream": 0, "protocol": "http/1.1",
        "time": {"request_start": start_ns, "request_end": start_ns + 100_000,
                 "response_start": start_ns + duration_ns - 100_000,
                 "response_end": start_ns + duration_ns},
        "client": f"10.1.0.{session % 250 + 1}:{40000 + session % 20000}",
        "server": "10.0.0.5:8080",
        "request": {"method": method, "target": target, "authority": authority,
                    "headers": [["Host", authority], ["User-Agent", "gen/1.0"]] + list(headers),
                    "body": body},
        "response": {"status": status, "reason": "OK", "headers": [["Content-Length", "0"]],
                     "body": ""},
    }


def write_capture(path_stem, exchanges):
    """Writes the exchanges as JSONL and converts them (twin convert) to PATH_STEM.twin."""
    jsonl = path_stem + ".jsonl"
    with open(jsonl, "w") as f:
        for e in exchanges:
            f.write(json.dumps(e) + "\n")
    out = path_stem + ".twin"
    h.run([twin(), "convert", jsonl, "-o", out], timeout=60)
    return out


def spaced_schedule(n, spacing_ns, sessions, paths, duration_ns=1 * MS):
    """n GETs `spacing_ns` apart, round-robin over `sessions` captured connections and `paths`."""
    return [gen_exchange(i + 1, 1 + i % sessions, i // sessions, BASE_NS + i * spacing_ns,
                         paths[i % len(paths)], duration_ns=duration_ns)
            for i in range(n)]


def respace_sessions(exchanges, gap_ns):
    """Moves every captured session (by its first request), in the order they began, so that it
    starts `gap_ns` after the previous one's last response ended (or as captured, when that is
    later), keeping the times within a session: sessions of a closed-loop client, back to back or
    overlapping when captured, become separated by at least `gap_ns` of idle time, so a replay
    that falls behind for less than that cannot mix two sessions' requests (the shop's order ids
    are global, not per session). Spacing by the sessions' starts only would let a session that
    a busy host stretched beyond the gap overlap the next."""
    sessions = {}
    for e in exchanges:
        s = e["session"]
        t = e["time"]
        start = t["request_start"]
        end = max(v for v in t.values() if isinstance(v, int))
        lo, hi = sessions.get(s, (start, end))
        sessions[s] = (min(lo, start), max(hi, end))
    shift = {}
    moved_end = None
    for s in sorted(sessions, key=lambda s: sessions[s][0]):
        start, end = sessions[s]
        k = 0 if moved_end is None else max(0, moved_end + gap_ns - start)
        shift[s] = k
        moved_end = end + k
    out = []
    for e in exchanges:
        e = json.loads(json.dumps(e))
        for k, v in e["time"].items():
            if isinstance(v, int):
                e["time"][k] = v + shift[e["session"]]
        out.append(e)
    return out


# ---------------------------------------------------------------------------------------------
# the shop


class Shop:
    """examples/shop on 127.0.0.1 (a free port it picks), optionally recording, optionally inside
    a network namespace; stopped with SIGTERM, which closes its archive."""

    def __init__(self, workdir, seed=42, extra=(), record=None, netns=None, name="shop"):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.args = [shop_bin(), "--port", "0", "--seed", str(seed)]
        if record:
            self.args += ["--record", record]
        self.args += list(extra)
        if netns:
            self.args = ["ip", "netns", "exec", netns] + self.args
        self.name = name
        self.proc = None
        self.port = None
        self.counters = None

    def start(self):
        self.proc = h.Proc(self.args, name=self.name, workdir=self.dir)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = re.search(r"listening on [0-9.]+:(\d+)", self.proc.stdout_text())
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"shop exited ({self.proc.returncode}): "
                                   f"{self.proc.stderr_text()[-2000:]}")
            time.sleep(0.05)
        raise TimeoutError("shop did not print 'listening on' within 30 s")

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc is None:
            return None
        self.proc.stop(signal.SIGTERM, timeout=15)
        m = re.search(r"shop: requests=(\d+) .*?4xx=(\d+) 5xx=(\d+)", self.proc.stderr_text())
        if m:
            self.counters = {"requests": int(m.group(1)), "4xx": int(m.group(2)),
                             "5xx": int(m.group(3))}
        return self.counters

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def record_shop(case, sessions=30, traffic_seed=11, shop_extra=(), gap_ms=None):
    """Records shop_traffic's sessions (one at a time) against a shop with --record. Returns
    (archive, captured exchanges as dicts, the recording shop's port). With gap_ms the sessions
    are moved apart (respace_sessions) and the archive rewritten through JSONL."""
    path = case.fresh("capture") + ".twin"
    shop = Shop(case.tmp.path, record=path, extra=shop_extra, name="shop-rec").start()
    try:
        r = h.run([shop_traffic_bin(), "--url", shop.url(), "--sessions", sessions,
                   "--concurrency", 1, "--seed", traffic_seed], timeout=90, check=False)
    finally:
        counters = shop.stop()
    case.assertEqual(r.returncode, 0, f"shop_traffic failed: {r.stdout_text} {r.stderr_text}")
    case.assertIn("errors=0", r.stdout_text, "shop_traffic saw unexpected statuses")
    captured = h.cat_jsonl(path)
    case.assertIsNotNone(counters, "the recording shop printed no counters")
    case.assertEqual(len(captured), counters["requests"], "the shop recorded every request")
    if gap_ms:
        captured = respace_sessions(captured, gap_ms * MS)
        path = write_capture(case.fresh("capture-spaced"), captured)
        captured = h.cat_jsonl(path)
    return path, captured, shop.port


# ---------------------------------------------------------------------------------------------
# nginx (own configuration: a log format with what the tests check, optional TLS listeners)

NGINX_CONF = """\
{user}
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format twin '$server_port $server_protocol $request_method "$request_uri" $status '
                    '$body_bytes_sent "$http_x_replay" "$http_host" "$http_user_agent" '
                    '$connection $connection_requests';
    access_log {dir}/access.log twin;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    types {{ text/plain txt; text/html html; application/octet-stream bin; }}
    default_type application/octet-stream;
    keepalive_timeout 60s;
    keepalive_requests 1000000;
    client_max_body_size 64m;
    # text.txt is gzipped on the fly (so sent chunked over HTTP/1.1) when the client accepts it.
    gzip on;
    gzip_min_length 0;
    gzip_types text/plain;
    gzip_http_version 1.0;
    server {{
        listen 127.0.0.1:{http_port};
        listen 127.0.0.1:{h2_port} http2;
        {tls}
        root {docroot};
        location = /echo-ok {{ return 200 "ok\\n"; }}
        location /put/ {{ dav_methods PUT; create_full_put_path on; }}
    }}
}}
"""

LOG_RX = re.compile(r'^(\d+) (\S+) (\S+) "([^"]*)" (\d+) (\d+) "([^"]*)" "([^"]*)" "([^"]*)" '
                    r'(\d+) (\d+)$')


class Nginx:
    """nginx with an HTTP/1.1 listener (http_port), an h2c prior-knowledge listener (h2_port)
    and, with `tls=(cert, key)`, a TLS listener offering h2 and http/1.1 by ALPN (tls_port) and
    one offering http/1.1 only (tls1_port), all serving make_docroot's files."""

    def __init__(self, workdir, tls=None):
        self.dir = os.path.join(workdir, "nginx")
        os.makedirs(self.dir, exist_ok=True)
        self.docroot = os.path.join(workdir, "docroot")
        self.sums = h.make_docroot(self.docroot)
        self.http_port = h.free_port()
        self.h2_port = h.free_port()
        while self.h2_port == self.http_port:
            self.h2_port = h.free_port()
        ports = {self.http_port, self.h2_port}
        self.tls_port = self.tls1_port = None
        tls_conf = ""
        if tls:
            while True:
                self.tls_port, self.tls1_port = h.free_port(), h.free_port()
                if len(ports | {self.tls_port, self.tls1_port}) == 4:
                    break
            tls_conf = (f"listen 127.0.0.1:{self.tls_port} ssl http2;\n"
                        f"        listen 127.0.0.1:{self.tls1_port} ssl;\n"
                        f"        ssl_certificate {tls[0]};\n"
                        f"        ssl_certificate_key {tls[1]};")
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(NGINX_CONF.format(user="user root;" if h.is_root() else "", dir=self.dir,
                                      http_port=self.http_port, h2_port=self.h2_port,
                                      tls=tls_conf, docroot=self.docroot))
        self.log = os.path.join(self.dir, "access.log")
        self.proc = None

    def start(self):
        self.proc = h.Proc(["nginx", "-p", self.dir, "-c", self.conf, "-e",
                            self.dir + "/error.log", "-g", "daemon off;"],
                           name="nginx", workdir=self.dir)
        for p in (self.http_port, self.h2_port, self.tls_port, self.tls1_port):
            if p:
                h.wait_port(p, proc=self.proc)
        return self

    def stop(self):
        if self.proc:
            self.proc.stop(signal.SIGQUIT, timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def lines(self):
        """The access log, parsed: dicts with port, protocol, method, uri, status, bytes, x_replay,
        host, user_agent, connection (nginx's serial number) and connection_requests."""
        out = []
        try:
            with open(self.log) as f:
                for line in f:
                    m = LOG_RX.match(line.rstrip("\n"))
                    if not m:
                        raise AssertionError(f"unexpected access log line: {line!r}")
                    out.append({"port": int(m.group(1)), "protocol": m.group(2),
                                "method": m.group(3), "uri": m.group(4),
                                "status": int(m.group(5)), "bytes": int(m.group(6)),
                                "x_replay": m.group(7), "host": m.group(8),
                                "user_agent": m.group(9), "connection": int(m.group(10)),
                                "connection_requests": int(m.group(11))})
        except FileNotFoundError:
            pass
        return out

    def settled_lines(self, port=None, expect=None, timeout=5.0):
        """The log lines (of `port`) once their number stops changing (nginx logs a request
        after its response went out, so the last lines may trail the client by a moment)."""
        deadline = time.monotonic() + timeout
        last, stable_since = None, time.monotonic()
        while True:
            ls = [x for x in self.lines() if port is None or x["port"] == port]
            if last is None or len(ls) != len(last):
                last, stable_since = ls, time.monotonic()
            if expect is not None and len(ls) >= expect and time.monotonic() - stable_since > 0.3:
                return ls
            if expect is None and time.monotonic() - stable_since > 0.5:
                return ls
            if time.monotonic() > deadline:
                return ls
            time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# raw servers for the faults


class RawServer:
    """A TCP server on 127.0.0.1 (port chosen by the kernel) running `handler(conn, server)` in a
    thread per connection. close() stops accepting and closes every connection."""

    def __init__(self, handler):
        self.handler = handler
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.accepted = 0
        self.requests = 0
        self.body_bytes_sent = 0
        self.conns = []
        self.threads = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                self.conns.append(c)
            t = threading.Thread(target=self._serve, args=(c,), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, c):
        try:
            self.handler(c, self)
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def read_head(self, c):
        """Reads up to the end of a request head; None when the peer closed first."""
        buf = b""
        c.settimeout(0.2)
        while b"\r\n\r\n" not in buf:
            if self.stopping.is_set():
                return None
            try:
                d = c.recv(65536)
            except socket.timeout:
                continue
            if not d:
                return None
            buf += d
        with self.lock:
            self.requests += 1
        return buf

    def chunks(self, c):
        """What the peer sends, as it comes, until it closes or the server stops."""
        c.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                d = c.recv(65536)
            except socket.timeout:
                continue
            if not d:
                return
            yield d

    def hold(self, c):
        """Keeps the connection open, reading and discarding, until the peer closes or stop."""
        for _ in self.chunks(c):
            pass

    def close(self):
        self.stopping.set()
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass
        for t in self.threads:
            t.join(timeout=2)
        self.acceptor.join(timeout=2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def silent_handler(c, srv):
    """Accepts, reads the request, never answers."""
    if srv.read_head(c) is not None:
        srv.hold(c)


def truncating_handler(c, srv):
    """Answers with Content-Length: 1000 and 10 bytes of body, then closes."""
    if srv.read_head(c) is None:
        return
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
              b"Content-Length: 1000\r\n\r\n0123456789")
    c.shutdown(socket.SHUT_RDWR)


def resetting_handler(c, srv):
    """Reads a request's head, then resets the connection (SO_LINGER 0) without reading the
    body that follows."""
    if srv.read_head(c) is None:
        return
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()


def make_dribble_handler(dribble_s, chunk):
    """Announces a 1 GiB body, sends `chunk` bytes every 20 ms for `dribble_s` seconds (far more
    than --max-body keeps), then stalls: the connection stays open and silent."""
    payload = b"x" * chunk

    def handler(c, srv):
        if srv.read_head(c) is None:
            return
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                  b"Content-Length: 1073741824\r\n\r\n")
        end = time.monotonic() + dribble_s
        c.settimeout(1.0)
        while time.monotonic() < end and not srv.stopping.is_set():
            try:
                c.sendall(payload)
            except socket.timeout:
                continue  # the client stopped reading: still a stall
            with srv.lock:
                srv.body_bytes_sent += len(payload)
            time.sleep(0.02)
        srv.hold(c)

    return handler


def h2_frame(kind, flags, stream, payload=b""):
    return (len(payload).to_bytes(3, "big") + bytes([kind, flags])
            + stream.to_bytes(4, "big") + payload)


def h2_serve(c, srv, send, on_frame):
    """Serves one prior-knowledge h2c connection until the peer closes or the server stops:
    sends our SETTINGS (defaults), skips the client preface, acknowledges SETTINGS and PING, and
    hands every other frame to on_frame(kind, flags, stream, payload). `send(bytes)` writes."""
    buf = b""
    preface = False
    send(h2_frame(4, 0, 0))
    for d in srv.chunks(c):
        buf += d
        if not preface:
            if len(buf) < 24:
                continue
            buf, preface = buf[24:], True
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + n:
                break
            kind, flags = buf[3], buf[4]
            stream = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
            payload = buf[9:9 + n]
            buf = buf[9 + n:]
            if kind == 4 and not flags & 0x1:
                send(h2_frame(4, 0x1, 0))  # SETTINGS ACK
            elif kind == 6 and not flags & 0x1:
                send(h2_frame(6, 0x1, 0, payload))  # PING ACK
            else:
                on_frame(kind, flags, stream, payload)


def make_h2c_handler(delay_s):
    """A minimal HTTP/2 server (prior knowledge, cleartext): it never answers the first request
    it receives and answers every later one with 200 "ok" after
    `delay_s` seconds. Requests are told apart by stream only (their headers are not decoded);
    the answer's header block is the single HPACK byte of ':status 200' (static index 8)."""

    def handler(c, srv):
        lock = threading.Lock()

        def send(data):
            with lock:
                try:
                    c.sendall(data)
                except OSError:
                    pass

        def answer(stream):
            if srv.stopping.wait(delay_s):
                return
            send(h2_frame(1, 0x4, stream, b"\x88") + h2_frame(0, 0x1, stream, b"ok"))
            with srv.lock:
                srv.body_bytes_sent += 2

        def on_frame(kind, flags, stream, payload):
            if kind == 1:
                with srv.lock:
                    srv.requests += 1
                    seen = srv.requests
                if seen > 1:
                    threading.Thread(target=answer, args=(stream,), daemon=True).start()

        h2_serve(c, srv, send, on_frame)

    return handler


# ---------------------------------------------------------------------------------------------
# running twin replay


class ReplayRun:
    def __init__(self, args, returncode, stdout, stderr, wall, summary, out):
        self.args = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.wall = wall
        self.summary = summary
        self.out = out
        self._exchanges = None

    def describe(self):
        return f"twin replay exited {self.returncode}: {' '.join(self.args)}\n{self.stderr[-3000:]}"

    def ok(self, case):
        case.assertEqual(self.returncode, 0, self.describe())
        case.assertIsNotNone(self.summary, "no --summary-json written\n" + self.describe())
        return self

    def target(self, name="target"):
        ts = (self.summary or {}).get("targets") or {}
        if name not in ts:
            raise AssertionError(f"summary has no target {name!r}: {sorted(ts)}\n"
                                 + self.describe())
        return ts[name]

    @property
    def exchanges(self):
        if self._exchanges is None:
            self._exchanges = h.cat_jsonl(self.out) if self.out else []
        return self._exchanges


def replay(case, capture, targets, *extra, timeout=90, output=True, prefix=()):
    """twin replay CAPTURE --target T... -o OUT --summary-json S EXTRA; never raises on a
    non-zero exit (the tests check it)."""
    stem = case.fresh("replay")
    out = stem + ".twin" if output else None
    sj = stem + ".summary.json"
    args = list(prefix) + [twin(), "replay", capture]
    for t in targets:
        args += ["--target", t]
    if out:
        args += ["-o", out]
    args += ["--summary-json", sj] + [str(x) for x in extra]
    t0 = time.monotonic()
    try:
        r = h.run(args, timeout=timeout, check=False)
    except TimeoutError as e:
        raise AssertionError(f"twin replay did not end within {timeout} s (killed): "
                             f"{' '.join(str(a) for a in args)}") from e
    wall = time.monotonic() - t0
    summary = None
    if os.path.exists(sj):
        with open(sj) as f:
            summary = json.load(f)
    if out and not os.path.exists(out):
        out = None
    return ReplayRun([str(a) for a in args], r.returncode, r.stdout_text, r.stderr_text, wall,
                     summary, out)


def errors_by_kind(t):
    return {k: v for k, v in (t.get("errors_by_kind") or {}).items() if v}


def quantile(values, q):
    """The smallest value with at least q of the values at or below it (nearest rank)."""
    v = sorted(values)
    if not v:
        raise ValueError("no values")
    k = max(0, min(len(v) - 1, int(-(-q * len(v) // 1)) - 1))
    return v[k]


def path_of(target):
    return target.split("?", 1)[0]


def by_origin(exchanges, target=None):
    out = {}
    for e in exchanges:
        if target is not None and e["target"] != target:
            continue
        out.setdefault(e["origin_id"], []).append(e)
    return out


def check_intended(case, got, expected_of, prev_of, what):
    """Every replayed exchange's recorded intended instant is the schedule's (`expected_of(origin
    id)`, within 2 µs), unless session order held it: then its captured predecessor
    (`prev_of(origin id)`) was still unanswered at the scheduled instant, and the intended instant
    is when that answer ended, or later. `got` maps origin ids to one target's exchanges.
    Returns how many were held."""
    held = 0
    for oid, e in sorted(got.items()):
        exp = expected_of(oid)
        d = e["time"]["intended"] - exp
        if abs(d) <= 2000:
            continue
        p = prev_of(oid)
        pe = got.get(p) if p else None
        end = pe["time"]["response_end"] if pe else None
        case.assertTrue(d > 0 and end is not None and end > exp and e["time"]["intended"] >= end,
                        f"{what}: origin {oid}: intended instant {d / 1e6:.3f} ms off the "
                        f"schedule, and not because it waited for origin {p} "
                        f"(which ended {((end or 0) - exp) / 1e6:.3f} ms after the instant)")
        held += 1
    return held


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


# ---------------------------------------------------------------------------------------------
# 1, 2: the shop, statuses and session order


class ShopReplay(Case):
    def test_statuses_match(self):
        """A recorded shop capture replayed against a fresh shop of the same seed: every captured
        exchange is replayed exactly once, with the status it had (logins, tokens, orders created
        and read back — the shop's order ids are global, so the sessions are kept apart in time),
        and the deterministic bodies are equal byte for byte."""
        self.need_shop()
        capture, captured, _ = record_shop(self, sessions=30, gap_ms=100)
        self.assertGreater(len(captured), 150)
        with Shop(self.tmp.path, name="shop-replay") as shop:
            run = replay(self, capture, [shop.url()]).ok(self)
        counters = shop.counters
        t = run.target()
        self.assertEqual(t["completed"], len(captured), t)
        self.assertEqual(t["sent"], len(captured), t)
        self.assertEqual(t["errors"], 0, errors_by_kind(t))
        self.assertEqual(run.summary["planned"], len(captured))
        self.assertEqual(counters["requests"], len(captured), "the shop answered every request")
        got = by_origin(run.exchanges)
        self.assertEqual(len(run.exchanges), len(captured))
        mismatches = []
        for c in captured:
            rs = got.get(c["id"], [])
            self.assertEqual(len(rs), 1, f"captured exchange {c['id']} replayed {len(rs)} times")
            r = rs[0]
            self.assertEqual(r["target"], "target")
            self.assertEqual(r["error"], "none", r)
            self.assertEqual(r["request"]["method"], c["request"]["method"])
            self.assertEqual(r["request"]["target"], c["request"]["target"])
            self.assertEqual(h.body_bytes(r["request"]), h.body_bytes(c["request"]))
            if r["response"]["status"] != c["response"]["status"]:
                mismatches.append((c["id"], c["session"], c["request"]["method"],
                                   c["request"]["target"], c["response"]["status"],
                                   r["response"]["status"]))
                continue
            p = path_of(c["request"]["target"])
            if re.fullmatch(r"/api/users/\d+|/static/.*|/healthz", p):
                self.assertEqual(h.body_bytes(r["response"]), h.body_bytes(c["response"]),
                                 f"body of {p} (origin {c['id']})")
        self.assertEqual(mismatches, [], "replayed statuses differ from the captured ones")
        cap_classes = {}
        for c in captured:
            k = f"{c['response']['status'] // 100}xx"
            cap_classes[k] = cap_classes.get(k, 0) + 1
        self.assertEqual({k: v for k, v in t["statuses"].items() if v}, cap_classes)

    def test_session_order(self):
        """Replayed 10× faster than captured against a shop whose searches and logins are slower
        than the captured ones, so that the schedule alone would send a session's next request
        before the previous answer: every request a captured session sent after the previous
        response is sent after the replayed previous response ended, on the same connection."""
        self.need_shop()
        capture, captured, _ = record_shop(self, sessions=20)
        with Shop(self.tmp.path, name="shop-slow",
                  extra=["--latency", "GET /api/search=25",
                         "--latency", "POST /api/login=15"]) as shop:
            run = replay(self, capture, [shop.url()], "--speed", 10).ok(self)
        t = run.target()
        self.assertEqual(t["completed"], len(captured), t)
        self.assertEqual(t["errors"], 0, errors_by_kind(t))
        self.assertGreater(t["held_by_order"], 0,
                           "nothing was held: the test did not exercise session order")
        got = {o: rs[0] for o, rs in by_origin(run.exchanges).items()}
        self.assertEqual(len(got), len(captured))
        sessions = {}
        for c in captured:
            sessions.setdefault(c["session"], []).append(c)
        checked = 0
        for sid, xs in sessions.items():
            xs.sort(key=lambda e: e["seq"])
            conns = {got[x["id"]]["session"] for x in xs}
            self.assertEqual(len(conns), 1,
                             f"captured session {sid} used {len(conns)} replay connections")
            for a, b in zip(xs, xs[1:]):
                if b["time"]["request_start"] < a["time"]["response_end"]:
                    continue  # not sequential in the capture (none with shop_traffic)
                ra, rb = got[a["id"]], got[b["id"]]
                self.assertGreaterEqual(
                    rb["time"]["request_start"], ra["time"]["response_end"],
                    f"session {sid}: exchange {b['id']} ({b['request']['target']}) sent "
                    f"{(ra['time']['response_end'] - rb['time']['request_start']) / 1e6:.3f} ms "
                    f"before the answer to {a['id']} ({a['request']['target']}) ended")
                checked += 1
        self.assertGreater(checked, 100)
        # Distinct captured sessions did not share a replay connection.
        owners = {}
        for c in captured:
            owners.setdefault(got[c["id"]]["session"], set()).add(c["session"])
        shared = {k: v for k, v in owners.items() if len(v) > 1}
        self.assertEqual(shared, {}, "replay connections carrying several captured sessions")


    def test_no_order(self):
        """--no-order: the same fast replay against the slow shop holds nothing; some request is
        sent before the answer to its session's previous one has ended (the schedule alone)."""
        self.need_shop()
        capture, captured, _ = record_shop(self, sessions=10)
        with Shop(self.tmp.path, name="shop-slow",
                  extra=["--latency", "GET /api/search=25",
                         "--latency", "POST /api/login=15"]) as shop:
            run = replay(self, capture, [shop.url()], "--speed", 10, "--no-order").ok(self)
        t = run.target()
        self.assertEqual(t["held_by_order"], 0, t)
        self.assertEqual(t["sent"], len(captured))
        self.assertEqual(t["completed"] + t["errors"], len(captured), t)
        got = {o: rs[0] for o, rs in by_origin(run.exchanges).items()}
        overlaps = 0
        for c in captured:
            nxt = [x for x in captured if x["session"] == c["session"] and x["seq"] == c["seq"] + 1]
            if nxt and c["response"] is not None and got[c["id"]]["time"]["response_end"] and \
                    got[nxt[0]["id"]]["time"]["request_start"] < \
                    got[c["id"]]["time"]["response_end"]:
                overlaps += 1
        self.assertGreater(overlaps, 0, "without order, a slow answer does not hold the next "
                                        "request of its session")


# ---------------------------------------------------------------------------------------------
# 3: schedule accuracy


class Schedule(Case):
    N = 200
    SESSIONS = 4

    def _capture(self, spacing_ms):
        xs = spaced_schedule(self.N, spacing_ms * MS, sessions=self.SESSIONS,
                             paths=["/1k.bin", "/echo-ok"])
        return write_capture(self.fresh("sched"), xs), xs

    def _check(self, run, expected_offset_ns, what):
        """The exact properties (every run): all answered; the intended instants are the
        schedule's (computed here from the capture, from the first one: the schedule's zero),
        but for requests session order held; nothing is sent early; the summary's send lag is
        the lag measured here. Returns (median, p99, late requests) of |send − schedule|."""
        t = run.target()
        self.assertEqual(t["completed"], self.N, t)
        self.assertEqual(t["errors"], 0, errors_by_kind(t))
        got = {o: rs[0] for o, rs in by_origin(run.exchanges).items()}
        self.assertEqual(sorted(got), list(range(1, self.N + 1)))
        zero = got[1]["time"]["intended"]

        def expected(oid):
            return zero + expected_offset_ns(oid - 1)

        held = check_intended(self, got, expected,
                              lambda oid: oid - self.SESSIONS if oid > self.SESSIONS else None,
                              what)
        self.assertLessEqual(held, t["held_by_order"])
        send_err = [got[i]["time"]["request_start"] - expected(i) for i in range(1, self.N + 1)]
        early = [(i + 1, e) for i, e in enumerate(send_err) if e < -200_000]
        self.assertEqual(early, [], f"{what}: requests sent before their instant (ns)")
        # The summary's send lag says the same (it is measured against the same instants, or
        # from the release of a held request).
        lag = t["send_lag_ms"]
        self.assertEqual(lag["count"], self.N)
        lags = [got[i]["time"]["request_start"] - got[i]["time"]["intended"]
                for i in range(1, self.N + 1)]
        ours = quantile([max(0, e) for e in lags], 0.99) / 1e6
        self.assertLessEqual(abs(lag["p99"] - ours), 0.5 + 0.1 * ours,
                             f"{what}: summary send_lag p99 {lag['p99']} ms, measured {ours:.3f}")
        # The worst is the same instant on both sides: the engine records a request's send lag and
        # its request_start from one clock reading (they were two, and a thread preempted
        # between them could make the record later than the summary's worst: 0.34 against 0.23 ms
        # once in a clean-clone CI run).
        worst = max(lags) / 1e6
        self.assertLessEqual(abs(lag["max"] - worst), 0.001,
                             f"{what}: summary send_lag max {lag['max']} ms, worst {worst:.6f}")
        abs_err = [abs(e) for e in send_err]
        late = [(i + 1, round(e / 1e6, 1)) for i, e in enumerate(send_err) if e > 2 * MS]
        return quantile(abs_err, 0.5), quantile(abs_err, 0.99), late

    ATTEMPTS = 5

    def _accurate(self, attempt, what):
        """Runs `attempt()` (→ (median, p99, late requests)) until median ≤ 2 ms and p99 ≤ 5 ms,
        at most ATTEMPTS times: a stall of the machine (another process holding both cores for
        tens of ms) spoils one run, a replayer that keeps time badly spoils all of them."""
        seen = []
        for _ in range(self.ATTEMPTS):
            p50, p99, late = attempt()
            seen.append(f"median {p50 / 1e6:.3f} ms, p99 {p99 / 1e6:.3f} ms, "
                        f"late > 2 ms (index, ms): {late[:20]}")
            if p50 <= 2 * MS and p99 <= 5 * MS:
                return
        self.fail(f"{what}: |send − schedule| above median 2 ms / p99 5 ms in "
                  f"{self.ATTEMPTS} runs:\n  " + "\n  ".join(seen))

    def test_speed(self):
        """200 GETs captured 20 ms apart, replayed with --speed 2 against nginx: each is sent
        at its captured offset / 2 (median error ≤ 2 ms, p99 ≤ 5 ms), and the summary's send lag
        agrees with the errors measured here."""
        self.need("nginx")
        capture, _ = self._capture(20)
        with Nginx(self.tmp.path) as ng:
            def attempt():
                before = len(ng.lines())
                run = replay(self, capture, [f"http://127.0.0.1:{ng.http_port}"],
                             "--speed", 2).ok(self)
                log = ng.settled_lines(ng.http_port, expect=before + self.N)
                self.assertEqual(len(log) - before, self.N, "nginx logged every request")
                span = (self.N - 1) * 10 / 1000
                self.assertGreaterEqual(run.summary["elapsed_s"], span * 0.95)
                self.assertLess(run.wall, span + 15)
                return self._check(run, lambda k: k * 20 * MS // 2, "--speed 2")

            self._accurate(attempt, "--speed 2")

    def test_rate(self):
        """The same capture (20 ms apart) with --rate 200: one request every 5 ms whatever the
        captured spacing; with --poisson the gaps average 5 ms and vary like an exponential."""
        self.need("nginx")
        capture, _ = self._capture(20)
        with Nginx(self.tmp.path) as ng:
            url = f"http://127.0.0.1:{ng.http_port}"

            def attempt():
                run = replay(self, capture, [url], "--rate", 200).ok(self)
                return self._check(run, lambda k: k * 5 * MS, "--rate 200")

            self._accurate(attempt, "--rate 200")
            p = replay(self, capture, [url], "--rate", 200, "--poisson", "--seed", 7).ok(self)
        pt = p.target()
        self.assertEqual(pt["completed"], self.N, pt)
        got = sorted(e["time"]["intended"] for e in p.exchanges)
        gaps = [b - a for a, b in zip(got, got[1:])]
        mean = statistics.mean(gaps)
        cv = statistics.pstdev(gaps) / mean
        self.assertGreater(mean, 5 * MS * 0.75, f"Poisson mean gap {mean / 1e6:.2f} ms")
        self.assertLess(mean, 5 * MS * 1.25, f"Poisson mean gap {mean / 1e6:.2f} ms")
        self.assertGreater(cv, 0.7, f"Poisson gaps too regular (cv {cv:.2f})")
        self.assertLess(cv, 1.3, f"Poisson gaps too irregular (cv {cv:.2f})")


# ---------------------------------------------------------------------------------------------
# 4: nginx over HTTP/1.1 and h2c


class NginxProtocols(Case):
    FILES = ["index.html", "empty.bin", "1k.bin", "10k.bin", "100k.bin", "300k.bin", "2m.bin",
             "missing.bin"]
    ROUNDS = 4
    PUT_SIZE = 200 * 1024

    def _capture(self):
        """Per round: every file, text.txt asked for gzipped (nginx compresses it on the fly, so
        HTTP/1.1 gets it chunked), and a PUT of PUT_SIZE bytes to /put/rK.bin (nginx's WebDAV
        stores it, so the body that arrived can be compared)."""
        import base64
        xs = []
        for r in range(self.ROUNDS):
            for f in self.FILES:
                xs.append(("GET", "/" + f, [], None))
            xs.append(("GET", "/" + h.TEXT_FILE, [["Accept-Encoding", "gzip"]], None))
            xs.append(("PUT", f"/put/r{r}.bin", [["Content-Type", "application/octet-stream"]],
                       h.deterministic_bytes(self.PUT_SIZE, f"put{r}")))
        out = []
        for i, (method, path, hdrs, body) in enumerate(xs):
            e = gen_exchange(i + 1, 1 + i % 4, i // 4, BASE_NS + i * 5 * MS, path, method=method,
                             headers=hdrs)
            if body is not None:
                e["request"]["body"] = base64.b64encode(body).decode()
                e["request"]["body_encoding"] = "base64"
            out.append(e)
        return write_capture(self.fresh("files"), out), len(out)

    def _check(self, ng, run, port, n, protocol, log_protocol):
        import gzip
        t = run.target()
        self.assertEqual(t["completed"], n, t)
        self.assertEqual(t["errors"], 0, errors_by_kind(t))
        files = dict(h.FILE_SIZES)
        files["index.html"] = os.path.getsize(os.path.join(ng.docroot, "index.html"))
        with open(os.path.join(ng.docroot, h.TEXT_FILE), "rb") as f:
            text = f.read()
        expected_bytes = 0
        for e in run.exchanges:
            path = e["request"]["target"]
            name = path.lstrip("/")
            self.assertEqual(e["protocol"], protocol, path)
            self.assertEqual(e["error"], "none", path)
            rs = e["response"]
            if name == "missing.bin":
                self.assertEqual(rs["status"], 404)
                continue
            if e["request"]["method"] == "PUT":
                self.assertIn(rs["status"], (201, 204), path)
                self.assertEqual(e["request"]["body_size"], self.PUT_SIZE)
                continue
            self.assertEqual(rs["status"], 200, name)
            body = h.body_bytes(rs)
            if name == h.TEXT_FILE:
                self.assertEqual(h.header(rs, "Content-Encoding"), "gzip")
                if protocol == "http/1.1":
                    self.assertEqual(rs["framing"], "chunked")
                self.assertEqual(gzip.decompress(body), text, "text.txt, gunzipped")
                continue
            size = files[name]
            expected_bytes += size
            self.assertEqual(rs["body_size"], size, f"{name}: body size")
            if size <= MIB:
                with open(os.path.join(ng.docroot, name), "rb") as f:
                    self.assertEqual(hashlib.sha256(body).hexdigest(),
                                     hashlib.sha256(f.read()).hexdigest(), name)
                self.assertNotIn("response_body_truncated", e["flags"], name)
            else:
                self.assertEqual(len(body), MIB, f"{name}: kept up to --max-body (1 MiB)")
                self.assertIn("response_body_truncated", e["flags"], name)
                with open(os.path.join(ng.docroot, name), "rb") as f:
                    self.assertEqual(body, f.read(MIB), f"{name}: the kept prefix")
        self.assertEqual(t["truncated_bodies"], self.ROUNDS, "2m.bin is cut at --max-body")
        self.assertGreaterEqual(t["response_bytes"], expected_bytes)
        # The bodies that nginx stored are the captured ones.
        for r in range(self.ROUNDS):
            want = hashlib.sha256(h.deterministic_bytes(self.PUT_SIZE, f"put{r}")).hexdigest()
            self.assertEqual(h.sha256_file(os.path.join(ng.docroot, "put", f"r{r}.bin")), want,
                             f"PUT body {r} as stored by nginx")
        # Independently: nginx saw every request, over the protocol expected, and sent the files.
        log = ng.settled_lines(port, expect=n)
        self.assertEqual(len(log), n, "nginx access log lines == requests sent")
        self.assertEqual({x["protocol"] for x in log}, {log_protocol})
        self.assertEqual(sorted(x["uri"] for x in log),
                         sorted(e["request"]["target"] for e in run.exchanges))
        sent = sum(x["bytes"] for x in log if x["status"] == 200 and x["method"] == "GET"
                   and x["uri"] != "/" + h.TEXT_FILE)
        self.assertEqual(sent, expected_bytes, "bytes nginx sent for the files")

    def test_http1_and_h2c(self):
        """The same capture against nginx's HTTP/1.1 listener and its h2c listener (h2c://):
        statuses and bodies are the files served (2 MiB cut at --max-body, its size kept; the
        gzipped text decompresses to the file), the PUT bodies nginx stored are the captured
        ones, the results say http/1.1 and h2, and nginx logged each request once over that
        protocol."""
        self.need("nginx")
        capture, n = self._capture()
        with Nginx(self.tmp.path) as ng:
            with self.subTest("http/1.1"):
                r1 = replay(self, capture, [f"http://127.0.0.1:{ng.http_port}"]).ok(self)
                self._check(ng, r1, ng.http_port, n, "http/1.1", "HTTP/1.1")
            shutil.rmtree(os.path.join(ng.docroot, "put"), ignore_errors=True)
            with self.subTest("h2c"):
                r2 = replay(self, capture, [f"h2c://127.0.0.1:{ng.h2_port}"]).ok(self)
                self._check(ng, r2, ng.h2_port, n, "h2", "HTTP/2.0")
                self.assertLessEqual(r2.target()["connections"]["opened"], 4,
                                     "h2c: at most one connection per captured session")


# ---------------------------------------------------------------------------------------------
# 5: paired replay


class Paired(Case):
    def test_paired(self):
        """--target baseline=… --target candidate=… against two shops of the same seed, the
        candidate 30 ms slower on searches: every captured exchange is answered once by each, at
        the same intended instant, with the same status; the candidate's search latency is 30 ms
        higher, its other routes are not."""
        self.need_shop()
        paths = ["/api/search?q=lamp", "/healthz", "/api/users?limit=5", "/api/search?q=&page=2",
                 "/static/style.css"]
        # 12 captured connections, 10 ms apart in turn: a session's requests are 120 ms apart,
        # more than the candidate's added latency, so none waits for its predecessor.
        xs = spaced_schedule(150, 10 * MS, 12, paths)
        capture = write_capture(self.fresh("paired"), xs)
        with Shop(self.tmp.path, name="baseline") as base, \
                Shop(self.tmp.path, name="candidate",
                     extra=["--latency", "GET /api/search=30"]) as cand:
            run = replay(self, capture, [f"baseline={base.url()}",
                                         f"candidate={cand.url()}"]).ok(self)
        b, c = run.target("baseline"), run.target("candidate")
        for t in (b, c):
            self.assertEqual(t["completed"], len(xs), t)
            self.assertEqual(t["errors"], 0, errors_by_kind(t))
        self.assertEqual(base.counters["requests"], len(xs))
        self.assertEqual(cand.counters["requests"], len(xs))
        self.assertEqual(len(run.exchanges), 2 * len(xs))
        pairs = by_origin(run.exchanges)
        self.assertEqual(sorted(pairs), [x["id"] for x in xs])
        lat = {"baseline": {}, "candidate": {}}
        for oid, rs in pairs.items():
            self.assertEqual(sorted(r["target"] for r in rs), ["baseline", "candidate"],
                             f"origin {oid}")
        # Both targets' intended instants are the schedule's: the same for the pair. (A request
        # is held only when the machine stalled for more than the 120 ms between the requests of
        # a captured session; then its instant is when its predecessor's answer ended.)
        zero = min(e["time"]["intended"] for e in run.exchanges)
        held = 0
        for name in ("baseline", "candidate"):
            got = {o: rs[0] for o, rs in by_origin(run.exchanges, name).items()}
            held += check_intended(self, got, lambda oid: zero + (oid - 1) * 10 * MS,
                                   lambda oid: oid - 12 if oid > 12 else None, name)
        self.assertLessEqual(held, len(xs) // 10, "the pairs were mostly sent together")
        # The targets take turns going first: neither always gets its copy last (on shared cores
        # that one would wait for a core on every CPU-bound request and look slower).
        first = sum(1 for rs in pairs.values()
                    if min(rs, key=lambda r: r["time"]["request_start"])["target"] == "baseline")
        self.assertGreater(first, len(pairs) // 4, f"baseline first in {first} of {len(pairs)}")
        self.assertLess(first, len(pairs) * 3 // 4, f"baseline first in {first} of {len(pairs)}")
        for oid, rs in pairs.items():
            rb, rc = sorted(rs, key=lambda r: r["target"])
            self.assertEqual(rb["response"]["status"], rc["response"]["status"], f"origin {oid}")
            self.assertEqual(rb["request"]["target"], rc["request"]["target"])
            route = path_of(rb["request"]["target"])
            for r in (rb, rc):
                lat[r["target"]].setdefault(route, []).append(
                    r["time"]["response_end"] - r["time"]["intended"])
        search_b, search_c = lat["baseline"]["/api/search"], lat["candidate"]["/api/search"]
        self.assertGreaterEqual(min(search_c), 30 * MS,
                                "every candidate search took the added 30 ms")
        d50 = quantile(search_c, 0.5) - quantile(search_b, 0.5)
        self.assertGreaterEqual(d50, 27 * MS, f"search p50 difference {d50 / 1e6:.2f} ms")
        self.assertLess(d50, 60 * MS, f"search p50 difference {d50 / 1e6:.2f} ms")
        hz = quantile(lat["candidate"]["/healthz"], 0.5) - quantile(lat["baseline"]["/healthz"],
                                                                   0.5)
        self.assertLess(hz, 15 * MS, f"healthz p50 difference {hz / 1e6:.2f} ms (not slowed)")
        # The summary agrees: 40 % of the candidate's requests took 30 ms more, so its p90 is
        # one of them.
        self.assertGreaterEqual(c["latency_ms"]["p90"], 30, c["latency_ms"])
        self.assertGreater(c["latency_ms"]["p90"], b["latency_ms"]["p90"],
                           (b["latency_ms"], c["latency_ms"]))


# ---------------------------------------------------------------------------------------------
# 6: TLS


class Tls(Case):
    N = 20

    def test_tls(self):
        """nginx with a self-signed certificate for localhost and 127.0.0.1: https:// without
        -k fails every request with kind tls and exit code 2; with -k it works over HTTP/2 (ALPN);
        with --cacert it works without -k, by name and by address; a listener without h2 gives
        http/1.1 to https:// and a tls error to h2://."""
        self.need("nginx", "openssl")
        cert, key = self.tmp.join("cert.pem"), self.tmp.join("key.pem")
        h.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
               "-out", cert, "-days", "2", "-subj", "/CN=localhost", "-addext",
               "subjectAltName=DNS:localhost,IP:127.0.0.1"], timeout=60)
        capture = write_capture(self.fresh("tls"),
                                spaced_schedule(self.N, 5 * MS, 4, ["/1k.bin", "/10k.bin"]))
        with Nginx(self.tmp.path, tls=(cert, key)) as ng:
            p, p1 = ng.tls_port, ng.tls1_port

            with self.subTest("https:// without -k or --cacert: kind tls, exit 2"):
                bad = replay(self, capture, [f"https://127.0.0.1:{p}"], timeout=60)
                self.assertEqual(bad.returncode, 2, "nothing connected: exit code 2\n"
                                 + bad.describe())
                bt = bad.target()
                self.assertEqual(bt["completed"], 0)
                self.assertEqual(len(bad.exchanges), self.N)
                self.assertEqual(ng.settled_lines(p), [], "no request reached nginx")
                self.assertLess(bad.wall, 10)
                self.assertEqual(errors_by_kind(bt), {"tls": self.N}, bt)
                self.assertEqual(sorted({e["error"] for e in bad.exchanges}), ["tls"])

            def works(run, protocol, what):
                with self.subTest(what):
                    t = run.ok(self).target()
                    self.assertEqual(t["completed"], self.N, f"{what}: {t}")
                    self.assertEqual(t["errors"], 0, f"{what}: {errors_by_kind(t)}")
                    for e in run.exchanges:
                        self.assertEqual(e["protocol"], protocol, what)
                        self.assertEqual(e["response"]["status"], 200, what)
                        name = e["request"]["target"].lstrip("/")
                        self.assertEqual(e["response"]["body_size"], h.FILE_SIZES[name], what)
                    return t["completed"]

            done = 0
            done += works(replay(self, capture, [f"https://127.0.0.1:{p}"], "-k"), "h2",
                          "-k") or 0
            done += works(replay(self, capture, [f"https://localhost:{p}"], "--cacert", cert),
                          "h2", "--cacert, https://localhost") or 0
            done += works(replay(self, capture, [f"https://127.0.0.1:{p}"], "--cacert", cert),
                          "h2", "--cacert, https://127.0.0.1") or 0
            done += works(replay(self, capture, [f"h2://127.0.0.1:{p}"], "-k"), "h2",
                          "h2:// -k") or 0
            done1 = works(replay(self, capture, [f"https://127.0.0.1:{p1}"], "-k"), "http/1.1",
                          "https:// to a listener without h2") or 0
            with self.subTest("nginx log"):
                log = ng.settled_lines(p, expect=done)
                self.assertEqual(len(log), done)
                self.assertEqual({x["protocol"] for x in log} - {"HTTP/2.0"}, set())
                self.assertEqual(len(ng.settled_lines(p1, expect=done1)), done1)

            with self.subTest("h2:// to a listener without h2: kind tls, exit 2"):
                no_h2 = replay(self, capture, [f"h2://127.0.0.1:{p1}"], "-k", timeout=60)
                self.assertEqual(no_h2.returncode, 2, no_h2.describe())
                self.assertEqual(no_h2.target()["completed"], 0)
                self.assertEqual(errors_by_kind(no_h2.target()), {"tls": self.N})


# ---------------------------------------------------------------------------------------------
# 7: faults


class Faults(Case):
    def _against(self, handler, capture, *args, timeout=60):
        """Replays `capture` against a RawServer running `handler` and asserts exit code 0:
        (the run, its one target's summary, the request heads the server read)."""
        with RawServer(handler) as srv:
            run = replay(self, capture, [f"http://127.0.0.1:{srv.port}"], *args, timeout=timeout)
            requests = srv.requests
        self.assertEqual(run.returncode, 0, run.describe())
        return run, run.target(), requests

    def test_connection_refused(self):
        """A port with nothing listening: every planned request fails with kind connect, no
        request counts as sent, exit code 2, and the run ends at once."""
        port = h.free_port()
        n = 20
        capture = write_capture(self.fresh("refused"),
                                spaced_schedule(n, 10 * MS, 5, ["/a", "/b"]))
        run = replay(self, capture, [f"http://127.0.0.1:{port}"], timeout=60)
        self.assertEqual(run.returncode, 2, run.describe())
        self.assertIn("no connection could be made", run.stderr)
        t = run.target()
        self.assertEqual(run.summary["planned"], n)
        self.assertEqual(errors_by_kind(t), {"connect": n}, t)
        self.assertEqual(t["completed"], 0)
        self.assertEqual(t["sent"], 0)
        self.assertGreater(t["connections"]["failed"], 0)
        self.assertEqual(len(run.exchanges), n)
        self.assertTrue(all(e["error"] == "connect" and e["response"] is None
                            for e in run.exchanges))
        self.assertLess(run.wall, 0.2 + 8, "refusals end the run quickly")

    def test_timeout(self):
        """A server that accepts and reads but never answers, --timeout 1: every request ends
        with kind timeout, and the run ends within the schedule + the timeout + a few seconds."""
        n = 10
        capture = write_capture(self.fresh("silent"),
                                spaced_schedule(n, 20 * MS, n, ["/x"]))  # one per connection
        run, t, requests = self._against(silent_handler, capture, "--timeout", 1)
        self.assertEqual(t["completed"], 0)
        self.assertEqual(t["sent"], n)
        self.assertEqual(requests, n, "the server received every request")
        self.assertEqual(len(run.exchanges), n)
        for e in run.exchanges:
            self.assertIsNotNone(e["time"]["request_start"], "the request was sent")
            self.assertIsNone(e["response"], "the server sent nothing")
            if e["time"]["response_end"] is not None:
                waited = e["time"]["response_end"] - e["time"]["request_start"]
                self.assertGreaterEqual(waited, 0.95e9, "timed out after about --timeout")
                self.assertLess(waited, 3e9, "timed out after about --timeout")
        self.assertGreaterEqual(run.summary["elapsed_s"], 1.0, "no request ended before --timeout")
        self.assertLess(run.wall, 0.2 + 1 + 5)
        self.assertEqual(errors_by_kind(t), {"timeout": n}, t)
        self.assertEqual(sorted(e["error"] for e in run.exchanges), ["timeout"] * n)

    def test_truncated(self):
        """A server that announces 1000 bytes, sends 10 and closes: every request ends with kind
        truncated, none completed."""
        n = 12
        capture = write_capture(self.fresh("trunc"), spaced_schedule(n, 10 * MS, 4, ["/t"]))
        run, t, requests = self._against(truncating_handler, capture, "--timeout", 5)
        self.assertEqual(errors_by_kind(t), {"truncated": n}, t)
        self.assertEqual(t["completed"], 0)
        self.assertEqual(requests, n, "each request was sent once (no silent retry)")
        self.assertEqual(len(run.exchanges), n)
        for e in run.exchanges:
            self.assertEqual(e["error"], "truncated")
            if e["response"] is not None:
                self.assertEqual(e["response"]["status"], 200)
                self.assertLessEqual(e["response"]["body_size"], 10)
        self.assertLess(run.wall, 0.2 + 8)

    def test_reset_while_sending(self):
        """POSTs of 8 MiB bodies (more than the sockets' buffers take, so twin waits to write
        the rest) to a server that resets each connection after the request's head: every
        request ends with kind reset, once (no retry of a request on its first connection), and
        the run ends at once rather than waiting on a write that cannot finish."""
        n = 4
        body = "b" * (8 << 20)
        capture = write_capture(self.fresh("reset"), [
            gen_exchange(i + 1, i + 1, 0, BASE_NS + i * 20 * MS, f"/upload/{i}", method="POST",
                         headers=[["Content-Type", "application/octet-stream"]], body=body)
            for i in range(n)])
        run, t, requests = self._against(resetting_handler, capture, "--timeout", 30, timeout=90)
        self.assertEqual(errors_by_kind(t), {"reset": n}, t)
        self.assertEqual(t["completed"], 0)
        self.assertEqual(t["sent"], n)
        self.assertEqual(requests, n, "each request's head reached the server once")
        self.assertEqual(sorted(e["error"] for e in run.exchanges), ["reset"] * n)
        self.assertLess(run.summary["elapsed_s"], 10, "no request waited for --timeout")

    def test_stall_memory_flat(self):
        """20 requests to a server that announces a 1 GiB body, pours 128 KiB every 20 ms for a
        second (about 6 MiB per request, 120 MiB in all) and then stalls, with --timeout 3 and
        --max-body 64 KiB: all 20 end with kind timeout, twin's RSS stays under 100 MB and does
        not grow once the server stalls."""
        n = 20
        capture = write_capture(self.fresh("stall"), spaced_schedule(n, 2 * MS, n, ["/big"]))
        out = self.tmp.join("stall.twin")
        sj = self.tmp.join("stall.json")
        with RawServer(make_dribble_handler(1.0, 128 * 1024)) as srv:
            proc = h.Proc([twin(), "replay", capture, "--target",
                           f"http://127.0.0.1:{srv.port}", "-o", out, "--summary-json", sj,
                           "--timeout", 3, "--max-body", 65536], name="twin-replay",
                          workdir=self.tmp.path,
                          # Under ASan (TWIN_SANITIZE), freed memory waits in a quarantine
                          # instead of being reused, which looks like growth: turn it off.
                          env=dict(os.environ, ASAN_OPTIONS="quarantine_size_mb=0"))
            t0 = time.monotonic()
            samples = []  # (seconds since start, RSS KiB, body bytes the server had sent)
            try:
                while proc.poll() is None and time.monotonic() - t0 < 30:
                    kib = rss_kib(proc.pid)
                    if kib is not None:
                        with srv.lock:
                            samples.append((time.monotonic() - t0, kib, srv.body_bytes_sent))
                    time.sleep(0.05)
                rc = proc.wait(timeout=10)
            finally:
                proc.kill()
            wall = time.monotonic() - t0
            poured = srv.body_bytes_sent
        self.assertEqual(rc, 0, proc.stderr_text()[-3000:])
        with open(sj) as f:
            t = json.load(f)["targets"]["target"]
        h.log("RSS samples (s, KiB, poured):", samples)
        self.assertLess(wall, 3 + 1 + 8)
        self.assertGreater(poured, n * 2 * MIB, "the server poured far more than --max-body")
        self.assertGreater(len(samples), 10)
        peak = max(k for _, k, _ in samples)
        # ASan keeps freed memory in quarantine (up to 256 MiB) before reusing it: a sanitized
        # build gets a higher ceiling and larger steps, and the same flatness while stalled.
        sanitized = os.environ.get("TWIN_E2E_SANITIZED") == "1"
        cap_mib = 400 if sanitized else 100
        self.assertLess(peak, cap_mib * 1024, f"peak RSS {peak / 1024:.1f} MiB")
        # Once the server has stopped pouring (no more body bytes between samples), memory is
        # flat until the requests time out (--timeout 3; what they record then is bounded by the
        # peak check above): no sample more than 4 MiB above the first of that stretch.
        stalled = [(s, k) for (s, k, b) in samples if b == poured and 1.3 < s < 2.9]
        if len(stalled) >= 3:
            base = stalled[0][1]
            growth = max(k for _, k in stalled) - base
            self.assertLess(growth, 4 * 1024,
                            f"RSS grew {growth / 1024:.1f} MiB while the target stalled: "
                            f"{[(round(s, 2), k) for s, k in stalled]}")
        # Steps while running: the first sample can be taken before twin's exec (a few KiB), and
        # the start-up itself (about 16 MiB: libraries, buffers) is not growth.
        running = samples[1:]
        steps = [b[1] - a[1] for a, b in zip(running, running[1:])]
        self.assertLess(max(steps), (64 if sanitized else 16) * 1024, f"RSS jumped {max(steps) / 1024:.1f} MiB "
                                               "between two samples 50 ms apart")
        self.assertEqual(t["completed"], 0)
        self.assertEqual(errors_by_kind(t), {"timeout": n}, t)
        results = h.cat_jsonl(out)
        self.assertEqual(len(results), n)
        for e in results:
            self.assertEqual(e["error"], "timeout")
            if e["response"] is not None:
                self.assertLessEqual(len(h.body_bytes(e["response"])), 65536)


    def test_h2_stream_timeout(self):
        """HTTP/2: one stream that is never answered times out alone (--timeout 2); the other
        streams of the same connection, in flight when it times out and answered later, still
        complete."""
        xs = [gen_exchange(1, 1, 0, BASE_NS, "/stall")]
        for k in range(4):
            xs.append(gen_exchange(k + 2, k + 2, 0, BASE_NS + (1000 + 100 * k) * MS, "/slow"))
        capture = write_capture(self.fresh("h2stall"), xs)
        with RawServer(make_h2c_handler(1.5)) as srv:
            # One worker thread: one connection carries every stream.
            run = replay(self, capture, [f"h2c://127.0.0.1:{srv.port}"], "--timeout", 2,
                         "--threads", 1, timeout=60)
            accepted, requests = srv.accepted, srv.requests
        self.assertEqual(run.returncode, 0, run.describe())
        h.log("h2 stream timeout:", [(e["origin_id"], e["session"], e["stream"], e["error"])
                                     for e in run.exchanges])
        self.assertEqual(accepted, 1, "all five streams went over one connection")
        self.assertEqual(requests, 5)
        got = {e["origin_id"]: e for e in run.exchanges}
        self.assertEqual(sorted(got), [1, 2, 3, 4, 5])
        self.assertEqual(len({e["session"] for e in run.exchanges}), 1)
        self.assertEqual(got[1]["error"], "timeout")
        for k in range(2, 6):
            self.assertEqual(got[k]["error"], "none", f"stream of origin {k} failed with the "
                             f"one that timed out: {got[k]['error']}")
            self.assertEqual(got[k]["response"]["status"], 200)
        t = run.target()
        self.assertEqual(t["completed"], 4, t)
        self.assertEqual(errors_by_kind(t), {"timeout": 1}, t)


# ---------------------------------------------------------------------------------------------
# 8: safety


DECOY = r"""
import socket, sys, threading, time
out = sys.argv[1]
socks = []
for spec in sys.argv[2:]:
    host, port = spec.rsplit(":", 1)
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port))); s.listen(64); socks.append(s)
count = 0
lock = threading.Lock()
def serve(s):
    global count
    while True:
        c, _ = s.accept()
        with lock:
            count += 1
            with open(out, "w") as f: f.write(str(count))
        c.close()
for s in socks:
    threading.Thread(target=serve, args=(s,), daemon=True).start()
with open(out, "w") as f: f.write("0")
print("ready", flush=True)
while True: time.sleep(1)
"""


class Safety(Case):
    def test_only_targets_contacted(self):
        """A shop capture whose requests name other hosts and ports (the recording shop's port,
        absolute-form targets and Host headers of other addresses, all of them listening decoys)
        replayed, with and without --keep-authority, inside a network namespace of its own where
        tcpdump records every SYN: each SYN goes to the target's port, their number is the
        connections the summary reports, and no decoy accepts anything."""
        if not h.is_root():
            self.skipTest("needs root (network namespace, tcpdump)")
        self.need("tcpdump", "ip")
        self.need_shop()
        capture, captured, port_a = record_shop(self, sessions=8)
        port_c, port_d = h.free_port(), h.free_port()
        while len({port_a, port_c, port_d}) < 3:
            port_d = h.free_port()
        other = "10.213.7.9"
        xs = []
        for k, e in enumerate(captured):
            e = json.loads(json.dumps(e))
            rq = e["request"]
            if k % 3 == 1:
                rq["target"] = f"http://127.0.0.1:{port_c}{rq['target']}"
                rq["authority"] = f"127.0.0.1:{port_c}"
            elif k % 3 == 2:
                rq["authority"] = f"{other}:{port_d}"
            rq["headers"] = [[n, rq["authority"]] if n.lower() == "host" else [n, v]
                             for n, v in rq["headers"]]
            xs.append(e)
        capture = write_capture(self.fresh("foreign"), xs)

        ns = f"twinre2e{os.getpid()}"
        r = h.run(["ip", "netns", "add", ns], timeout=20, check=False)
        if r.returncode != 0:
            self.skipTest(f"cannot create a network namespace: {r.stderr_text.strip()}")
        procs = []
        try:
            nsx = ["ip", "netns", "exec", ns]
            h.run(nsx + ["ip", "link", "set", "lo", "up"], timeout=20)
            h.run(nsx + ["ip", "addr", "add", f"{other}/32", "dev", "lo"], timeout=20)
            count_file = self.tmp.join("decoy.count")
            decoy = h.Proc(nsx + [sys.executable, "-c", DECOY, count_file,
                                  f"0.0.0.0:{port_a}", f"0.0.0.0:{port_c}",
                                  f"0.0.0.0:{port_d}"], name="decoy", workdir=self.tmp.path)
            procs.append(decoy)
            deadline = time.monotonic() + 15
            while "ready" not in decoy.stdout_text():
                self.assertIsNone(decoy.poll(), decoy.stderr_text())
                self.assertLess(time.monotonic(), deadline, "decoy did not start")
                time.sleep(0.05)
            shop = Shop(self.tmp.path, netns=ns, name="shop-ns").start()
            procs.append(shop.proc)
            self.assertNotIn(shop.port, (port_a, port_c, port_d))
            pcap = self.tmp.join("syn.pcap")
            dump = h.Proc(nsx + ["tcpdump", "-i", "lo", "-n", "-s", "128", "-U",
                                 "--immediate-mode", "-w", pcap,
                                 "tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack == 0"],
                          name="tcpdump", workdir=self.tmp.path)
            procs.append(dump)
            dump.wait_stderr(r"listening on", timeout=15)
            runs = []
            for extra in ([], ["--keep-authority"]):
                run = replay(self, capture, [f"http://127.0.0.1:{shop.port}"], "--speed", 4,
                             *extra, prefix=nsx).ok(self)
                t = run.target()
                self.assertEqual(t["completed"], len(xs), t)
                self.assertEqual(t["errors"], 0, errors_by_kind(t))
                runs.append(run)
            kept = runs[1].exchanges
            self.assertTrue(any(e["request"]["authority"] == f"{other}:{port_d}" for e in kept),
                            "--keep-authority sent the captured authority")
            self.assertTrue(all(e["request"]["authority"] == f"127.0.0.1:{shop.port}"
                                for e in runs[0].exchanges))
            for e in runs[0].exchanges + kept:
                self.assertTrue(e["request"]["target"].startswith("/"), e["request"]["target"])
                self.assertEqual(e["server"], f"127.0.0.1:{shop.port}")
            time.sleep(0.5)
            dump.stop(signal.SIGINT, timeout=10)
            with open(count_file) as f:
                accepted = int(f.read().strip() or "0")
        finally:
            for p in reversed(procs):
                p.stop(signal.SIGTERM, timeout=10)
            h.run(["ip", "netns", "del", ns], timeout=20, check=False)
        self.assertEqual(accepted, 0, "a decoy named by the capture was contacted")
        syns = [s for s in pcapmut.segments(pcapmut.Pcap.read(pcap))
                if s.flags & pcapmut.TCP_SYN and not s.flags & 0x10]
        # Every SYN in the namespace: the replays' connections only (the shop, the decoys and
        # tcpdump open none), so each must go to the target.
        dests = {(socket.inet_ntop(socket.AF_INET6 if s.ipver == 6 else socket.AF_INET, s.dst),
                  s.dport) for s in syns}
        wrong = sorted(dests - {("127.0.0.1", shop.port)})
        self.assertEqual(wrong, [], "connections attempted to something else than the target")
        opened = sum(r.target()["connections"]["opened"] for r in runs)
        conns = {(s.sport, s.dport) for s in syns}
        self.assertEqual(len(conns), opened,
                         "SYNs recorded == connections the summaries report")


# ---------------------------------------------------------------------------------------------
# 9: filters and rewrites


class Filters(Case):
    def setUp(self):
        super().setUp()
        self.need("nginx")
        self.need_shop()
        self.capture, self.captured, _ = record_shop(self, sessions=30)
        self.ng = Nginx(self.tmp.path).start()
        self.addCleanup(self.ng.stop)
        self.url = f"http://127.0.0.1:{self.ng.http_port}"

    def _replay(self, *extra, url=None):
        before = len(self.ng.lines())
        run = replay(self, self.capture, [url or self.url], "--speed", 4, *extra).ok(self)
        t = run.target()
        self.assertEqual(t["errors"], 0, errors_by_kind(t))
        self.assertEqual(t["completed"], len(run.exchanges))
        log = self.ng.settled_lines(expect=before + len(run.exchanges))[before:]
        self.assertEqual(len(log), len(run.exchanges), "nginx logged each request sent once")
        return run, t, log

    def _expect_kept(self, run, keep):
        want = sorted(c["id"] for c in self.captured if keep(c))
        got = sorted(e["origin_id"] for e in run.exchanges)
        self.assertEqual(got, want)
        self.assertEqual(run.summary["planned"], len(want))
        self.assertEqual(run.summary["skipped"]["filtered"], len(self.captured) - len(want))

    def test_method(self):
        """--method GET: only (and every one of) the captured GETs are sent."""
        run, _, log = self._replay("--method", "GET")
        self._expect_kept(run, lambda c: c["request"]["method"] == "GET")
        self.assertEqual({x["method"] for x in log}, {"GET"})
        self.assertTrue(any(c["request"]["method"] == "POST" for c in self.captured))

    def test_route(self):
        """--route '/api/users/*' keeps /api/users/{id} (not /api/users?…); '/api/**' keeps every
        path under /api/."""
        run, _, log = self._replay("--route", "/api/users/*")
        self._expect_kept(run, lambda c: re.fullmatch(r"/api/users/[^/]+",
                                                      path_of(c["request"]["target"])))
        self.assertTrue(all(re.fullmatch(r"/api/users/[^/?]+", x["uri"]) for x in log))
        run, _, _ = self._replay("--route", "/api/**")
        self._expect_kept(run, lambda c: path_of(c["request"]["target"]).startswith("/api/"))

    def test_time_window(self):
        """--from/--until in seconds after the capture's first request."""
        t0 = min(c["time"]["request_start"] for c in self.captured)
        t_end = max(c["time"]["request_start"] for c in self.captured)
        a = (t_end - t0) / 4 / 1e9
        b = (t_end - t0) * 3 / 4 / 1e9
        run, _, _ = self._replay("--from", f"{a:.6f}", "--until", f"{b:.6f}")
        lo, hi = t0 + round(a * 1e9), t0 + round(b * 1e9)
        self._expect_kept(run, lambda c: lo <= c["time"]["request_start"] < hi)

    def test_header_rewrite(self):
        """-H 'X-Replay: 1' is in every recorded request and reaches the server; --remove-header
        User-Agent removes the captured one; Host is the target's unless --authority."""
        run, _, log = self._replay("-H", "X-Replay: 1", "--remove-header", "User-Agent",
                                   "--authority", "shop.test")
        self.assertEqual(len(run.exchanges), len(self.captured))
        for e in run.exchanges:
            hs = e["request"]["headers"]
            self.assertEqual([v for n, v in hs if n.lower() == "x-replay"], ["1"])
            self.assertEqual([v for n, v in hs if n.lower() == "user-agent"], [])
            self.assertEqual(e["request"]["authority"], "shop.test")
        self.assertEqual({x["x_replay"] for x in log}, {"1"})
        self.assertEqual({x["user_agent"] for x in log}, {"-"})
        self.assertEqual({x["host"] for x in log}, {"shop.test"})
        # Captured headers that are not rewritten go through (Authorization of the API calls).
        auth_c = sum(1 for c in self.captured if h.header(c["request"], "Authorization"))
        auth_r = sum(1 for e in run.exchanges if h.header(e["request"], "Authorization"))
        self.assertGreater(auth_c, 0)
        self.assertEqual(auth_r, auth_c)
        # Over HTTP/2 the same (Host is :authority there).
        h2, _, log2 = self._replay("-H", "X-Replay: 2", "--authority", "shop.test",
                                   url=f"h2c://127.0.0.1:{self.ng.h2_port}")
        self.assertEqual({e["protocol"] for e in h2.exchanges}, {"h2"})
        self.assertEqual({(x["protocol"], x["x_replay"], x["host"]) for x in log2},
                         {("HTTP/2.0", "2", "shop.test")})
        # Without --authority: the target's own.
        _, _, log3 = self._replay()
        self.assertEqual({x["host"] for x in log3}, {f"127.0.0.1:{self.ng.http_port}"})
        self.assertEqual({x["x_replay"] for x in log3}, {"-"})

    def test_path_prefix(self):
        """The target URL's path, --strip-prefix and --path-prefix: /api/x → /base/v2/x,
        /static/y → /base/v2/static/y, in the results and at the server."""
        run = replay(self, self.capture, [self.url + "/base"], "--speed", 4, "--strip-prefix",
                     "/api", "--path-prefix", "/v2").ok(self)
        log = self.ng.settled_lines(expect=len(self.captured))
        caps = {c["id"]: c for c in self.captured}
        want = []
        for e in run.exchanges:
            p = caps[e["origin_id"]]["request"]["target"]
            exp = "/base/v2" + (p[len("/api"):] if p.startswith("/api") else p)
            self.assertEqual(e["request"]["target"], exp)
            want.append(exp)
        self.assertEqual(len(want), len(self.captured))
        self.assertEqual(sorted(x["uri"] for x in log), sorted(want))

    def test_sample_sessions(self):
        """--sample 50 keeps whole captured sessions: each is replayed completely or not at all;
        about half are kept, the same ones on a second run."""
        run, _, _ = self._replay("--sample", 50)
        sessions = {}
        for c in self.captured:
            sessions.setdefault(c["session"], set()).add(c["id"])
        got = {e["origin_id"] for e in run.exchanges}
        kept = 0
        for sid, ids in sessions.items():
            part = ids & got
            self.assertIn(len(part), (0, len(ids)), f"session {sid}: {len(part)} of {len(ids)}")
            kept += bool(part)
        self.assertGreaterEqual(kept, 4, f"{kept} of {len(sessions)} sessions kept")
        self.assertLessEqual(kept, len(sessions) - 4, f"{kept} of {len(sessions)} sessions kept")
        again, _, _ = self._replay("--sample", 50)
        self.assertEqual({e["origin_id"] for e in again.exchanges}, got)


# ---------------------------------------------------------------------------------------------
# 10: closed loop


class ClosedLoop(Case):
    def _capture(self):
        return write_capture(self.fresh("max"),
                             spaced_schedule(50, 1 * MS, 5, ["/1k.bin", "/echo-ok", "/10k.bin"]))

    def test_max_http1(self):
        """--max -c 8 --duration 2 --loop against nginx (HTTP/1.1): requests flow for about two
        seconds over exactly 8 connections; sent == completed + errors; the achieved rate is
        completed / measured seconds; nginx logged what was sent."""
        self.need("nginx")
        capture = self._capture()
        with Nginx(self.tmp.path) as ng:
            run = replay(self, capture, [f"http://127.0.0.1:{ng.http_port}"], "--max", "-c", 8,
                         "--duration", 2, "--loop", "--threads", 2, output=False,
                         timeout=30).ok(self)
            t = run.target()
            log = ng.settled_lines(ng.http_port, expect=t["sent"])
        self.assertGreater(t["sent"], 200, t)
        errs = sum((t.get("errors_by_kind") or {}).values())
        self.assertEqual(t["errors"], errs)
        self.assertEqual(t["completed"] + t["errors"], t["sent"], t)
        self.assertEqual(t["errors"], 0, errors_by_kind(t))
        self.assertGreater(run.summary["loops"], 0)
        # the capture is small: every later pass is planned from memory, and nginx still sees
        # the captured requests (below)
        self.assertEqual(run.summary["loops_from_memory"], run.summary["loops"])
        conns = {x["connection"] for x in log}
        self.assertEqual(len(conns), t["connections"]["opened"],
                         "nginx saw the connections twin says it opened")
        self.assertEqual(t["connections"]["opened"], 8, t["connections"])
        self.assertEqual(t["connections"]["failed"], 0)
        measured = run.summary["measured_s"]
        self.assertGreater(measured, 1.8)
        self.assertLess(measured, 2 + 3)
        self.assertAlmostEqual(t["rate"], t["completed"] / measured, delta=0.01 * t["rate"] + 1)
        self.assertLess(run.wall, 2 + 10)
        self.assertEqual(len(log), t["sent"], "nginx access log lines == requests sent")
        self.assertEqual(len({x["uri"] for x in log}), 3)

    def test_max_h2c(self):
        """--max -c 4 --duration 2 --loop over h2c: sent == completed, no errors, at most 4
        connections."""
        self.need("nginx")
        capture = self._capture()
        with Nginx(self.tmp.path) as ng:
            run = replay(self, capture, [f"h2c://127.0.0.1:{ng.h2_port}"], "--max", "-c", 4,
                         "--duration", 2, "--loop", "--threads", 2, output=False,
                         timeout=30).ok(self)
            t = run.target()
            log = ng.settled_lines(ng.h2_port, expect=t["sent"])
        self.assertGreater(t["sent"], 200, t)
        self.assertEqual(t["completed"] + t["errors"], t["sent"], t)
        self.assertEqual(t["errors"], 0, errors_by_kind(t))
        per_conn = {}
        for x in log:
            per_conn[x["connection"]] = per_conn.get(x["connection"], 0) + 1
        self.assertGreaterEqual(t["connections"]["opened"], 1)
        self.assertLessEqual(t["connections"]["opened"], 4,
                             f"{t['connections']}; requests per connection at nginx: "
                             f"{sorted(per_conn.values())}")
        self.assertEqual(len(per_conn), t["connections"]["opened"],
                         "every connection twin opened carried requests")
        self.assertEqual(len(log), t["sent"])
        self.assertEqual({x["protocol"] for x in log}, {"HTTP/2.0"})


# ---------------------------------------------------------------------------------------------
# soak runs: --duration, --warmup, stopping with SIGINT


def echo_handler(c, srv):
    """HTTP/1.1 keep-alive: answers each request with what identifies it, so that a recorded
    response can be checked against its request. GET /n/K?… gets K % 5 headers X-R<j> (values
    long enough to live on the heap), X-Path with the path and a body naming the path and the
    request body's length. A path under /silent/ is read and never answered."""
    buf = b""
    for d in srv.chunks(c):
        buf += d
        while b"\r\n\r\n" in buf:
            head, rest = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(rest) < length:
                break
            body, buf = rest[:length], rest[length:]
            echo_answer(c, srv, path, body)


def echo_answer(c, srv, path, body):
    """One answer of echo_handler (none under /silent/)."""
    with srv.lock:
        srv.requests += 1
    if path.startswith("/silent/"):
        return
    k = int(path.split("/")[2].split("?")[0])
    out_body = f"{path} {len(body)}".encode()
    extra = "".join(f"X-R{j}: response-{k}-{j}-{'r' * (k % 23)}\r\n" for j in range(k % 5))
    c.sendall((f"HTTP/1.1 200 OK\r\nX-Path: {path}\r\n{extra}"
               f"Content-Length: {len(out_body)}\r\n\r\n").encode() + out_body)


def h2c_echo_handler(c, srv):
    """A minimal HTTP/2 server (prior knowledge, cleartext) answering stream S with what
    identifies it: ':status 200', x-stream: S, S % 5 headers x-r<j> (values long enough to live
    on the heap) in HPACK literals, and a body "stream S". A stream with S % 97 == 13 is never
    answered. Request bodies are not expected (GETs)."""

    def literal(name, value):
        # Literal header field without indexing, new name; lengths below 127.
        return bytes([0, len(name)]) + name.encode() + bytes([len(value)]) + value.encode()

    def on_frame(kind, flags, stream, payload):
        if kind != 1:
            return
        with srv.lock:
            srv.requests += 1
        if stream % 97 == 13:
            return
        block = b"\x88" + literal("x-stream", str(stream))
        for j in range(stream % 5):
            block += literal(f"x-r{j}", f"response-{stream}-{j}-{'r' * (stream % 23)}")
        c.sendall(h2_frame(1, 0x4, stream, block)
                  + h2_frame(0, 0x1, stream, f"stream {stream}".encode()))

    h2_serve(c, srv, c.sendall, on_frame)


class Recording(Case):
    def test_recorded_exact(self):
        """1,500 requests of varied shapes (0 to 6 extra headers, bodies of 0 to 3 KB, paths,
        some never answered) replayed closed-loop with -o: every recorded exchange carries its
        own request and response, field by field, and one that timed out carries no response.
        Results are recorded in batches whose exchanges are reused once written, and requests in
        slots reused from earlier ones: a field left over from an earlier exchange shows here."""
        n = 1500
        silent = {k for k in range(n) if k % 211 == 97}
        exchanges = []
        for k in range(n):
            path = f"/silent/{k}" if k in silent else f"/n/{k}?q={'z' * (k % 40)}"
            headers = [[f"X-K{j}", f"value-{k}-{j}-{'v' * (k % 29)}"] for j in range(k % 7)]
            method, body = ("POST", "b" * (k * 37 % 3000)) if k % 3 == 0 else ("GET", "")
            exchanges.append(gen_exchange(k + 1, 1 + k % 50, k // 50, BASE_NS + k * MS, path,
                                          method=method, headers=headers, body=body))
        capture = write_capture(self.fresh("varied"), exchanges)
        with RawServer(echo_handler) as srv:
            run = replay(self, capture, [f"http://127.0.0.1:{srv.port}"], "--max", "-c", 4,
                         "--threads", 1, "--timeout", 0.5, timeout=90).ok(self)
        t = run.target()
        self.assertEqual(t["completed"], n - len(silent), t)
        self.assertEqual(errors_by_kind(t), {"timeout": len(silent)}, t)
        got = by_origin(run.exchanges)
        self.assertEqual(len(run.exchanges), n)
        self.assertEqual(sorted(got), list(range(1, n + 1)))
        for k, sent in enumerate(exchanges):
            (e,) = got[k + 1]
            rq, want = e["request"], sent["request"]
            what = f"exchange {k}"
            self.assertEqual((rq["method"], rq["target"], rq["body"]),
                             (want["method"], want["target"], want["body"]), what)
            self.assertEqual([hd for hd in rq["headers"] if hd[0].startswith("X-K")],
                             [hd for hd in want["headers"] if hd[0].startswith("X-K")], what)
            self.assertEqual(e["flags"], ["no_response"] if k in silent else [], what)
            if k in silent:
                self.assertEqual(e["error"], "timeout", what)
                self.assertIsNone(e["response"], what)
                continue
            self.assertEqual(e["error"], "none", what)
            rs = e["response"]
            self.assertEqual(rs["status"], 200, what)
            self.assertEqual(rs["body"], f"{want['target']} {len(want['body'])}", what)
            expected = [["X-Path", want["target"]]]
            expected += [[f"X-R{j}", f"response-{k}-{j}-{'r' * (k % 23)}"] for j in range(k % 5)]
            expected.append(["Content-Length", str(len(rs["body"]))])
            self.assertEqual(rs["headers"], expected, what)

    def test_recorded_exact_h2c(self):
        """The same over h2c: 1,500 GETs on 2 connections, 4 streams each, against a server that
        answers stream S with S % 5 headers of its own and never answers some: every recorded
        exchange has its own request and the response of its own stream, and one that timed out
        has none (HTTP/2 streams reuse their completions' header slots)."""
        n = 1500
        exchanges = []
        for k in range(n):
            headers = [[f"x-k{j}", f"value-{k}-{j}-{'v' * (k % 29)}"] for j in range(k % 7)]
            exchanges.append(gen_exchange(k + 1, 1 + k % 50, k // 50, BASE_NS + k * MS,
                                          f"/n/{k}?q={'z' * (k % 40)}", headers=headers))
        capture = write_capture(self.fresh("varied-h2"), exchanges)
        with RawServer(h2c_echo_handler) as srv:
            run = replay(self, capture, [f"h2c://127.0.0.1:{srv.port}"], "--max", "-c", 2,
                         "-m", 4, "--threads", 1, "--timeout", 0.5, timeout=90).ok(self)
        t = run.target()
        got = by_origin(run.exchanges)
        self.assertEqual(len(run.exchanges), n)
        self.assertEqual(sorted(got), list(range(1, n + 1)))
        silent = 0
        for k, sent in enumerate(exchanges):
            (e,) = got[k + 1]
            rq, want = e["request"], sent["request"]
            what = f"exchange {k} (stream {e['stream']})"
            self.assertEqual(e["protocol"], "h2", what)
            self.assertEqual((rq["method"], rq["target"]), (want["method"], want["target"]),
                             what)
            self.assertEqual([hd for hd in rq["headers"] if hd[0].startswith("x-k")],
                             [hd for hd in want["headers"] if hd[0].startswith("x-k")], what)
            s = e["stream"]
            if s % 97 == 13:
                silent += 1
                self.assertEqual(e["error"], "timeout", what)
                self.assertIsNone(e["response"], what)
                self.assertEqual(e["flags"], ["no_response"], what)
                continue
            self.assertEqual((e["error"], e["flags"]), ("none", []), what)
            rs = e["response"]
            self.assertEqual((rs["status"], rs["body"]), (200, f"stream {s}"), what)
            expected = [[":status", "200"], ["x-stream", str(s)]]
            expected += [[f"x-r{j}", f"response-{s}-{j}-{'r' * (s % 23)}"] for j in range(s % 5)]
            self.assertEqual(rs["headers"], expected, what)
        self.assertGreater(silent, 0)
        self.assertEqual(t["completed"], n - silent, t)
        self.assertEqual(errors_by_kind(t), {"timeout": silent}, t)


    def test_recorded_exact_loop(self):
        """--loop keeps each captured request prepared for its target and sends those bytes on
        every pass (the planner builds them once): the server receives, byte for byte, what it
        receives when every send is prepared anew (--loop-cache 0), the same on every pass, and
        every recorded exchange carries its own request, rewrites applied, and its own
        response. One request has a body too large to be kept prepared, one a header that may
        not be sent (counted each time)."""
        n = 120
        exchanges = []
        for k in range(n):
            headers = [[f"X-K{j}", f"value-{k}-{j}-{'v' * (k % 29)}"] for j in range(k % 5)]
            headers.append(["Connection", "keep-alive"])
            if k % 17 == 3:
                headers.append(["X-Bad", "a\r\nInjected: 1"])
            method, body = ("POST", "b" * (k * 37 % 3000)) if k % 3 == 0 else ("GET", "")
            if k == 5:
                body = "B" * 40000
            exchanges.append(gen_exchange(k + 1, 1 + k % 10, k // 10, BASE_NS + k * MS,
                                          f"/api/n/{k}?q={'z' * (k % 40)}", method=method,
                                          headers=headers, body=body))
        capture = write_capture(self.fresh("loop"), exchanges)
        bad = sum(1 for k in range(n) if k % 17 == 3)

        def run(*extra):
            got = {}  # path -> the distinct raw requests received for it

            def handler(c, srv):
                buf = b""
                for d in srv.chunks(c):
                    buf += d
                    while b"\r\n\r\n" in buf:
                        head, rest = buf.split(b"\r\n\r\n", 1)
                        m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
                        length = int(m.group(1)) if m else 0
                        if len(rest) < length:
                            break
                        raw, buf = head + b"\r\n\r\n" + rest[:length], rest[length:]
                        path = head.split(b" ", 2)[1].decode()
                        # the two runs' servers differ in their port only
                        raw = raw.replace(b"\r\nHost: 127.0.0.1:%d\r\n" % srv.port,
                                          b"\r\nHost: SERVER\r\n", 1)
                        with srv.lock:
                            srv.requests += 1
                            got.setdefault(path, set()).add(raw)
                        out = f"{path} {length}".encode()
                        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(out) + out)

            with RawServer(handler) as srv:
                r = replay(self, capture, [f"http://127.0.0.1:{srv.port}/base"], "--max", "-c", 3,
                           "--threads", 2, "--loop", "--duration", 1.5, "-H", "X-Replay: 1",
                           "--remove-header", "X-K1", "--strip-prefix", "/api", *extra,
                           timeout=60).ok(self)
            t = r.target()
            self.assertEqual(errors_by_kind(t), {}, t)
            self.assertGreaterEqual(r.summary["loops"], 2, "several passes")
            sends = t["sent"]
            self.assertEqual(sum(len(x) for x in by_origin(r.exchanges).values()), sends)
            # each origin's requests, counted, give the invalid headers left out
            per = {o: len(x) for o, x in by_origin(r.exchanges).items()}
            self.assertEqual(t["invalid_headers"],
                             sum(c for o, c in per.items() if (o - 1) % 17 == 3))
            return r, got

        cached, got_cached = run()
        self.assertEqual(cached.summary["loops_from_memory"], cached.summary["loops"])
        # what the copy holds, within --loop-cache (64 MiB) together: a slot per exchange, the
        # request with the large body whole, and the others as they are sent only
        held = cached.summary["loop_cache"]
        self.assertGreaterEqual(held["requests_bytes"], 64 * n + 40000)
        self.assertLess(held["requests_bytes"], 64 * n + 40000 + 2000)
        self.assertGreater(held["prepared_bytes"], 119 * 100)
        self.assertLessEqual(sum(held.values()), 64 << 20)
        fresh, got_fresh = run("--loop-cache", 0)
        self.assertEqual(fresh.summary["loops_from_memory"], 0)
        self.assertEqual(fresh.summary["loop_cache"], {"requests_bytes": 0, "prepared_bytes": 0})
        self.assertGreater(bad, 0)
        # the server saw one form of each request, on every pass, and the same form both ways
        for got in (got_cached, got_fresh):
            self.assertEqual(len(got), n, "every captured request was sent")
            for path, raws in got.items():
                self.assertEqual(len(raws), 1, f"{path}: sent in {len(raws)} forms")
        self.assertEqual(got_cached, got_fresh)
        for path, (raw,) in got_cached.items():
            self.assertTrue(path.startswith("/base/n/"), path)
            self.assertIn(b"\r\nHost: SERVER\r\n", raw)
            self.assertIn(b"\r\nX-Replay: 1\r\n", raw)
            self.assertNotIn(b"X-K1:", raw)
            self.assertNotIn(b"Injected", raw)
            self.assertNotIn(b"\r\nConnection: keep-alive", raw)
        # the results: every exchange carries its own request and its own response, the same
        # on every pass and both ways
        def forms(run):
            out = {}
            for o, es in by_origin(run.exchanges).items():
                for e in es:
                    rq = e["request"]
                    self.assertEqual(e["response"]["body"],
                                     f"{rq['target']} {rq['body_size']}", f"origin {o}")
                    self.assertTrue(rq["authority"].startswith("127.0.0.1:"), rq["authority"])
                    rq["authority"] = "SERVER"
                    out.setdefault(o, set()).add(json.dumps(rq, sort_keys=True))
            return out
        fc, ff = forms(cached), forms(fresh)
        for o, f in fc.items():
            self.assertEqual(len(f), 1, f"origin {o}: recorded in {len(f)} forms")
        self.assertEqual(fc, ff)

class Preconnect(Case):
    """--preconnect: connections opened before the schedule starts; and a --no-order replay
    opens at most 16 connections at a time per thread however many requests wait."""

    def _ok_server(self):
        """Answers every request 200 "ok", keep-alive."""

        def handler(c, srv):
            while srv.read_head(c) is not None:
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

        return RawServer(handler)

    def test_preconnect(self):
        """The schedule starts once the pre-opened connections are ready: against a listener
        whose connects take a second (its backlog is full until twin's first SYN was dropped,
        and the client sends it again after 1 s), --no-order --preconnect 4 sends
        its first requests on time, while --preconnect 0 sends them about a second late. The
        summary counts the pre-opened connections; the default is 32 with --no-order (all
        threads together), one per thread to an h2c target, none with session order kept."""
        n = 40
        capture = write_capture(self.fresh("pre"), spaced_schedule(n, 5 * MS, 10, ["/a", "/b"]))

        def slow_connects(preconnect):
            lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            lst.bind(("127.0.0.1", 0))
            lst.listen(0)
            port = lst.getsockname()[1]
            blocker = socket.create_connection(("127.0.0.1", port))  # fills the accept queue
            stop = threading.Event()
            conns = []

            def serve_one(c):
                c.settimeout(0.2)
                buf = b""
                while not stop.is_set():
                    try:
                        d = c.recv(65536)
                    except socket.timeout:
                        continue
                    except OSError:
                        return
                    if not d:
                        return
                    buf += d
                    while b"\r\n\r\n" in buf:
                        buf = buf.split(b"\r\n\r\n", 1)[1]
                        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

            def acceptor():
                # Accept only once twin's first SYN was dropped (a socket of it in SYN_SENT):
                # its connects then take the kernel's retransmission, a second, however long
                # twin took to start.
                deadline = time.monotonic() + 30
                while not stop.is_set() and time.monotonic() < deadline:
                    if any(rport == port and state == "02"  # SYN_SENT
                           for _, rport, state, _ in h.tcp_table()):
                        break
                    time.sleep(0.01)
                if stop.wait(0.1):
                    return
                lst.settimeout(0.1)
                while not stop.is_set():
                    try:
                        c, _ = lst.accept()
                    except socket.timeout:
                        continue
                    except OSError:
                        return
                    conns.append(c)
                    threading.Thread(target=serve_one, args=(c,), daemon=True).start()

            th = threading.Thread(target=acceptor, daemon=True)
            th.start()
            try:
                return replay(self, capture, [f"http://127.0.0.1:{port}"], "--rate", 200,
                              "--no-order", "--preconnect", preconnect, "--threads", 1,
                              timeout=60).ok(self)
            finally:
                stop.set()
                th.join(timeout=5)
                for c in conns + [blocker, lst]:
                    c.close()

        warm = slow_connects(4)
        t = warm.target()
        self.assertEqual(t["completed"], n, t)
        self.assertEqual(t["connections"]["preconnected"], 4, t["connections"])
        self.assertGreaterEqual(t["connections"]["opened"], 4)
        self.assertGreater(warm.wall, 1.0, "the connects took a second")
        self.assertLess(t["send_lag_ms"]["max"], 300, "the first requests went on time")
        cold = slow_connects(0)
        t = cold.target()
        self.assertEqual(t["completed"], n, t)
        self.assertEqual(t["connections"]["preconnected"], 0, t["connections"])
        self.assertGreater(t["send_lag_ms"]["max"], 500, "without, the first requests waited")

        expected = [(["--no-order", "--threads", 2], 32),
                    (["--no-order", "--preconnect", 0], 0),
                    (["--threads", 2], 0),
                    (["--preconnect", 3, "--threads", 2], 3)]
        for extra, want in expected:
            with self._ok_server() as srv:
                run = replay(self, capture, [f"http://127.0.0.1:{srv.port}"], "--rate", 400,
                             *extra).ok(self)
            t = run.target()
            self.assertEqual(t["completed"], n, (extra, t))
            self.assertEqual(t["connections"]["preconnected"], want, (extra, t["connections"]))
            self.assertGreaterEqual(t["connections"]["opened"], want)

        srv = RawServer(make_h2c_handler(0.0))
        with srv:
            run = replay(self, capture, [f"h2c://127.0.0.1:{srv.port}"], "--rate", 400,
                         "--no-order", "--threads", 2, "--timeout", 2)
        t = run.target()
        self.assertEqual(t["connections"]["preconnected"], 2, t["connections"])

    def test_opening_bounded(self):
        """A listener that never accepts (its backlog full, the kernel drops further SYNs) and
        60 requests due at once, --no-order --preconnect 0 --threads 1: no more than 16
        connections are ever being opened at the same time, and every request still ends (with
        kind connect or timeout)."""
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.bind(("127.0.0.1", 0))
        lst.listen(0)
        port = lst.getsockname()[1]
        n = 60
        capture = write_capture(self.fresh("burst"), spaced_schedule(n, 10_000, 60, ["/a"]))
        peak = 0
        stop = threading.Event()

        def sample():
            # /proc/net/tcp is read a page at a time, so one read can list a socket closed
            # during it next to the one opened after it: only sockets (by local port) in two
            # reads in a row count, which all existed at the moment between the two.
            nonlocal peak
            before = set()
            while not stop.is_set():
                now = {lport for lport, rport, state, _ in h.tcp_table()
                       if rport == port and state == "02"}  # SYN_SENT
                peak = max(peak, len(before & now))
                before = now
                time.sleep(0.005)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            run = replay(self, capture, [f"http://127.0.0.1:{port}"], "--rate", 100000,
                         "--no-order", "--preconnect", 0, "--threads", 1,
                         "--connect-timeout", 0.5, "--timeout", 0.5, timeout=60)
        finally:
            stop.set()
            sampler.join(timeout=5)
            lst.close()
        t = run.target()
        self.assertIsNotNone(run.summary, run.describe())
        self.assertEqual(sum(errors_by_kind(t).values()) + t["completed"], n, t)
        self.assertGreaterEqual(peak, 8, "connections were being opened (SYN_SENT seen)")
        self.assertLessEqual(peak, 16, f"{peak} connections were being opened at once")


class Soak(Case):
    def _capture(self):
        return write_capture(self.fresh("soak"),
                             spaced_schedule(40, 5 * MS, 4, ["/1k.bin", "/echo-ok"]))

    def test_duration_warmup(self):
        """--rate 100 --loop --duration 2 --warmup 0.5: the run lasts about 2 s; about 50
        requests of the first half second are sent but neither counted nor recorded, about 150
        after it are; nginx saw them all."""
        self.need("nginx")
        capture = self._capture()
        with Nginx(self.tmp.path) as ng:
            run = replay(self, capture, [f"http://127.0.0.1:{ng.http_port}"], "--rate", 100,
                         "--loop", "--duration", 2, "--warmup", 0.5, timeout=30).ok(self)
            t = run.target()
            log = ng.settled_lines(ng.http_port, expect=t["sent"] + t["warmup"])
        self.assertGreater(run.summary["loops"], 0)
        self.assertEqual(t["errors"], 0, errors_by_kind(t))
        # Planned instants are k × 10 ms for k = 0 … 199 (the last one before 2 s): 50 of them
        # in the warm-up.
        self.assertEqual(t["warmup"], 50, t)
        self.assertEqual(t["completed"], 150, t)
        self.assertEqual(len(run.exchanges), 150, "warm-up exchanges are not recorded")
        self.assertEqual(run.summary["recorded"], 150)
        self.assertEqual(len(log), 200, "nginx saw the warm-up requests too")
        self.assertGreater(run.summary["elapsed_s"], 1.9)
        self.assertLess(run.wall, 2 + 8)
        self.assertAlmostEqual(run.summary["measured_s"], run.summary["elapsed_s"] - 0.5,
                               delta=0.05)
        self.assertEqual(t["sent"], t["completed"] + t["errors"],
                         f"sent counts the same requests as completed and errors (the warm-up "
                         f"ones apart): {t}")

    def _interrupt(self, mode_args, url):
        # Every captured request has its own target, so that a recorded one can be matched.
        plan = spaced_schedule(40, 5 * MS, 4, [f"/{p}?n={i}" for i in range(20)
                                               for p in ("1k.bin", "echo-ok")])
        capture = write_capture(self.fresh("int"), plan)
        captured = {c["id"]: c["request"]["target"] for c in h.cat_jsonl(capture)}
        out, sj = self.fresh("int") + ".twin", self.fresh("int") + ".json"
        proc = h.Proc([twin(), "replay", capture, "--target", url, "-o", out, "--summary-json",
                       sj, "--loop"] + [str(a) for a in mode_args], name="twin-replay",
                      workdir=self.tmp.path)
        try:
            time.sleep(1.5)
            self.assertIsNone(proc.poll(), "a --loop run without --duration ended by itself: "
                              + proc.stderr_text()[-2000:])
            proc.send_signal(signal.SIGINT)
            t0 = time.monotonic()
            try:
                rc = proc.wait(timeout=10)
            except TimeoutError:
                self.fail(f"twin replay {' '.join(str(a) for a in mode_args)} --loop did not "
                          f"end within 10 s of SIGINT (killed)")
            took = time.monotonic() - t0
        finally:
            proc.kill()
        self.assertIn(rc, (0, 130), proc.stderr_text()[-2000:])
        self.assertLess(took, 5, "SIGINT ends the run promptly")
        with open(sj) as f:
            summary = json.load(f)
        self.assertTrue(summary["interrupted"])
        t = summary["targets"]["target"]
        self.assertGreater(t["completed"], 50)
        xs = h.cat_jsonl(out)
        self.assertEqual(len(xs), summary["recorded"], "the results archive is complete")
        self.assertGreaterEqual(len(xs), t["completed"])
        self.assertEqual(set(errors_by_kind(t)) - {"cancelled"}, set(), t)
        # Cancelled ones too (also those never sent) record their own request, not one that
        # the worker recorded earlier.
        for e in xs:
            self.assertEqual(e["request"]["target"], captured[e["origin_id"]], e.get("error"))
        h.log("interrupt:", sum(1 for e in xs if e.get("error") == "cancelled"),
              "cancelled of", len(xs), "recorded")

    def test_interrupt_rate(self):
        """--rate 200 --loop without --duration runs until SIGINT, then ends within a few
        seconds with a complete results archive and a summary that says it was interrupted."""
        self.need("nginx")
        with Nginx(self.tmp.path) as ng:
            self._interrupt(["--rate", 200], f"http://127.0.0.1:{ng.http_port}")

    def test_interrupt_max(self):
        """The same for a closed-loop run (--max -c 4)."""
        self.need("nginx")
        with Nginx(self.tmp.path) as ng:
            self._interrupt(["--max", "-c", 4], f"http://127.0.0.1:{ng.http_port}")


# ---------------------------------------------------------------------------------------------


def main():
    if len(sys.argv) < 2:
        print("usage: test_replay.py TestCase.test_name ...", file=sys.stderr)
        return 2
    suite = unittest.defaultTestLoader.loadTestsFromNames(sys.argv[1:], sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    if not result.wasSuccessful():
        return 1
    if result.skipped and len(result.skipped) >= result.testsRun:
        return 77  # ctest SKIP_RETURN_CODE: shown as skipped, with the reason above
    return 0


if __name__ == "__main__":
    sys.exit(main())

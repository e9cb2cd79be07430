"""End-to-end tests of `twin capture`: real servers (nginx, nghttpd, nghttpx) and clients (curl,
nghttp, ab, wrk, h2load) on loopback, recorded with tcpdump, captured with twin, and checked
against the tshark oracle (oracle.py), the clients' own counts, the files served, and mutated
copies of the recordings (pcapmut.py).

Each test is one ctest entry:  python3 test_capture.py TestCase.test_name
(TWIN_BIN names the twin binary; TWIN_E2E_KEEP=1 keeps the temporary directories,
TWIN_E2E_VERBOSE=1 prints every command.) Exit code 77 means skipped (not root, no tcpdump).
"""

import collections
import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h  # noqa: E402
import oracle  # noqa: E402
import pcapmut  # noqa: E402

MIB = 1024 * 1024


def setUpModule():
    if not h.is_root():
        raise unittest.SkipTest("capture e2e tests need root (tcpdump and twin capture -i lo)")
    missing = [t for t in ("tcpdump", "tshark", "nginx", "curl") if not h.have(t)]
    if missing:
        raise unittest.SkipTest(f"capture e2e tests need {', '.join(missing)} (scripts/setup.sh)")


# ---------------------------------------------------------------------------------------------
# helpers


def syn_count(pcap_path):
    """Connections opened in the pcap: SYN segments without ACK."""
    return sum(1 for s in pcapmut.segments(pcapmut.Pcap.read(pcap_path))
               if s.flags & pcapmut.TCP_SYN and not s.flags & 0x10)


def strip(e, *keys):
    """An exchange without the given top-level keys (e.g. "id", "time")."""
    return {k: v for k, v in e.items() if k not in keys}


def by_position(exchanges):
    """{(session, seq, stream): exchange}."""
    out = {}
    for e in exchanges:
        k = (e["session"], e["seq"], e.get("stream", 0))
        assert k not in out, f"two exchanges at session {k[0]} seq {k[1]} stream {k[2]}"
        out[k] = e
    return out


def path_of(e):
    t = e["request"]["target"]
    return t if isinstance(t, str) else None


def sha(b):
    return hashlib.sha256(b).hexdigest()


class CaptureCase(unittest.TestCase):
    """Starts what a test needs, records, captures and compares."""

    maxDiff = 4000

    def setUp(self):
        self.tmp = h.TempDir(prefix=f"twin-capture-{self._testMethodName}-")
        self.h2_ports = set()  # ports that speak h2c by prior knowledge (for the dry run)
        self.docroot = self.tmp.join("www")
        self.sums = h.make_docroot(self.docroot)

    # servers

    def nginx(self, ipv6=False):
        ng = h.Nginx(self.tmp.path, self.docroot, ipv6=ipv6).start()
        self.addCleanup(ng.stop)
        self.h2_ports.add(ng.h2_port)
        return ng

    def nghttpd(self):
        if not h.have("nghttpd"):
            self.skipTest("nghttpd (nghttp2-server) is not installed")
        nd = h.Nghttpd(self.tmp.path, self.docroot).start()
        self.addCleanup(nd.stop)
        self.h2_ports.add(nd.port)
        return nd

    def nghttpx(self, backend_port):
        if not h.have("nghttpx"):
            self.skipTest("nghttpx (Debian package nghttp2-proxy) is not installed: it is the h2c "
                          "upgrade server (nghttpd refuses upgrades)")
        nx = h.Nghttpx(self.tmp.path, backend_port).start()
        self.addCleanup(nx.stop)
        return nx

    # recording and capturing

    def record(self, ports, clients, name="traffic.pcap", attempts=3):
        """Runs clients() while tcpdump records `ports` on lo; returns (pcap path, what clients()
        returned). The recording is the oracle, so it must be whole: when tcpdump reports packets
        dropped by the kernel (it did on 2026-12-06 in `ctest -j2` on 2 cores, with both wrk tests
        running at once, and once in four runs of the two alone), the clients run again on a fresh recording, up to `attempts`
        times, and the test fails only if no recording was whole."""
        pcap = self.tmp.join(name)
        for attempt in range(1, attempts + 1):
            rec = h.Recorder(pcap, ports).start()
            try:
                result = clients()
            finally:
                rec.stop()
            if rec.kernel_drops == 0 or attempt == attempts:
                break
            sys.stderr.write(f"tcpdump dropped {rec.kernel_drops} packets (attempt {attempt}): "
                             "recording again\n")
        self.assertEqual(rec.kernel_drops, 0,
                         f"tcpdump dropped {rec.kernel_drops} packets in each of {attempts} "
                         "recordings: the recording is incomplete")
        return pcap, result

    def require_twin(self, pcap=None, ports=(), check=True):
        if os.environ.get("TWIN_E2E_DRY"):
            # Dry run (TWIN_E2E_DRY=1): everything up to twin (servers, clients, recording, the
            # client-side assertions, the oracle on the recording), then skip.
            msg = "dry run: twin not run"
            if check and pcap and os.path.exists(pcap) and ports:
                http = [p for p in ports if p not in self.h2_ports]
                h2 = [p for p in ports if p in self.h2_ports]
                view = oracle.extract(pcap, http, h2)
                self.assertGreater(oracle.total(view), 0, f"the oracle sees nothing in {pcap}")
                msg += (f"; tshark sees {len(view)} connections, {oracle.total(view)} exchanges "
                        f"in {os.path.basename(pcap)}")
            self.skipTest(msg)
        ok, why = h.twin_has_capture()
        if not ok:
            self.fail(f"`{h.twin_bin()} capture` is not available: {why}")

    def capture(self, pcap, ports, *extra, out=None, check=True):
        self.require_twin(pcap, ports, check)
        self._captures = getattr(self, "_captures", 0) + 1
        out = out or self.tmp.join(f"{os.path.basename(pcap)}.{self._captures}.twin")
        run = h.capture_file(pcap, out, ports, extra)
        if check:
            run.check()
        return run

    def assert_oracle(self, pcap, run, http_ports=(), h2_ports=()):
        """twin's exchanges == tshark's, per connection, in order and by stream id. Returns the
        oracle's view."""
        expected = oracle.extract(pcap, http_ports, h2_ports)
        actual = oracle.from_twin(run.exchanges)
        diff = oracle.compare(expected, actual)
        if diff:
            self.fail(f"twin capture differs from tshark on {pcap}:\n{diff}")
        self.assertGreater(oracle.total(expected), 0, "the oracle found no exchange")
        return expected

    def assert_clean_counters(self, run, pcap, view, connections=None):
        """Counters of a clean loopback recording: nothing lost, everything accounted."""
        c = run.counters
        packets = pcapmut.Pcap.read(pcap).packets
        no_response = sum(1 for es in view.values() for e in es if e.status is None)
        expect = {
            "packets": len(packets),
            "bytes": sum(len(p.data) for p in packets),
            "kernel_drops": 0,
            "packets_not_ip": 0,
            "packets_not_tcp": 0,
            "packets_snapped": 0,
            "flows": connections if connections is not None else syn_count(pcap),
            "flows_midstream": 0,
            "flows_evicted": 0,
            "segments_dropped": 0,
            "gaps": 0,
            "gap_bytes": 0,
            "exchanges": oracle.total(view),
            "exchanges_gap": 0,
            "exchanges_no_response": no_response,
            "messages_skipped": 0,
            "exchanges_over_limit": 0,
            "exchanges_unwritten": 0,
        }
        got = {k: c.get(k) for k in expect}
        self.assertEqual(got, expect, f"capture counters (all: {c})")
        self.assertEqual(len(run.exchanges), oracle.total(view), "exchanges in the archive")
        self.assertEqual(run.info.get("exchanges"), oracle.total(view), "twin info exchanges")

    def assert_seq_numbering(self, exchanges):
        """Within a session, seq runs 0..n-1; sessions are numbered in order of first packet
        (so in order of their first request's start)."""
        sessions = collections.defaultdict(list)
        for e in exchanges:
            sessions[e["session"]].append(e["seq"])
        for s, seqs in sessions.items():
            self.assertEqual(sorted(seqs), list(range(len(seqs))), f"seq numbers of session {s}")
        self.assertEqual(len({e["id"] for e in exchanges}), len(exchanges), "ids are unique")

    def assert_body(self, message, expected, what):
        got = h.body_bytes(message)
        self.assertIsNotNone(got, what)
        self.assertEqual(message["body_size"], len(expected), f"{what}: body_size")
        self.assertEqual(len(got), len(expected), f"{what}: stored body length")
        self.assertEqual(sha(got), sha(expected), f"{what}: body sha256")

    def file(self, name):
        with open(os.path.join(self.docroot, name), "rb") as f:
            return f.read()


# ---------------------------------------------------------------------------------------------
# HTTP/1 with curl


class Http1Curl(CaptureCase):
    """curl against nginx over HTTP/1.1: keep-alive, POST (small, and 1 MB with Expect:
    100-continue), HEAD, 404, gzip (chunked), 2 MB body; then the same pcap with --max-body 64k."""

    UPLOAD = 1 * MIB

    def record_curl(self):
        ng = self.nginx()
        self.upload = h.deterministic_bytes(self.UPLOAD, "upload")
        with open(self.tmp.join("upload.bin"), "wb") as f:
            f.write(self.upload)
        self.keepalive = ["/1k.bin", "/empty.bin", "/10k.bin", "/nope", "/100k.bin", "/300k.bin",
                          "/2m.bin", "/index.html"]

        def clients():
            codes = h.curl([ng.url(p) for p in self.keepalive])
            codes += h.curl([ng.url("/text.txt")], "-H", "Accept-Encoding: gzip")
            codes += h.curl([ng.url("/10k.bin")], "-I")
            codes += h.curl([ng.url("/echo-ok?small=1")], "--data-binary", "hello=world&x=1")
            codes += h.curl([ng.url("/upload")], "-H", "Expect: 100-continue",
                            "-H", "Content-Type: application/octet-stream",
                            "--data-binary", "@" + self.tmp.join("upload.bin"))
            return codes

        pcap, codes = self.record([ng.http_port], clients)
        self.assertEqual(codes, [200, 200, 200, 404, 200, 200, 200, 200, 200, 200, 200, 200])
        return ng, pcap

    def test_curl_http11(self):
        ng, pcap = self.record_curl()
        run = self.capture(pcap, [ng.http_port], "--max-body", "4M")
        view = self.assert_oracle(pcap, run, http_ports=[ng.http_port])
        self.assertEqual(oracle.total(view), 12)
        self.assertEqual(len(view), 5, "connections: keep-alive, gzip, HEAD, POST, upload")
        self.assert_clean_counters(run, pcap, view)
        self.assert_seq_numbering(run.exchanges)
        xs = run.exchanges
        for e in xs:
            self.assertEqual(e["protocol"], "http/1.1")
            self.assertEqual(e["flags"], [], f"flags of {path_of(e)}")
            self.assertEqual(e["error"], "none")
            self.assertEqual(e["server"], f"127.0.0.1:{ng.http_port}")
            # (not request_end <= response_start: nginx answers the upload before its body ends)
            t = e["time"]
            self.assertTrue(t["request_start"] <= t["request_end"], t)
            self.assertTrue(t["request_start"] <= t["response_start"] <= t["response_end"], t)

        # the keep-alive connection: one session, requests in order, bodies intact
        first = [e for e in xs if e["session"] == xs[0]["session"]]
        self.assertEqual([path_of(e) for e in sorted(first, key=lambda e: e["seq"])],
                         self.keepalive)
        for e in first:
            name = path_of(e).lstrip("/")
            if e["response"]["status"] == 200:
                self.assert_body(e["response"], self.file(name), f"GET /{name}")
                self.assertEqual(e["response"]["framing"], "content-length", name)
        nope = next(e for e in xs if path_of(e) == "/nope")
        self.assertEqual(nope["response"]["status"], 404)
        self.assertEqual(nope["response"]["reason"], "Not Found")

        # gzip: chunked on the wire, stored de-chunked (still gzip-encoded)
        gz = next(e for e in xs if path_of(e) == "/text.txt")
        self.assertEqual(gz["response"]["framing"], "chunked")
        self.assertEqual(h.header(gz["response"], "Content-Encoding"), "gzip")
        self.assertEqual(gz["response"]["body_encoding"], "base64")
        self.assertEqual(gzip.decompress(h.body_bytes(gz["response"])), self.file("text.txt"))

        # HEAD: Content-Length of the file, no body
        head = next(e for e in xs if e["request"]["method"] == "HEAD")
        self.assertEqual(h.header(head["response"], "Content-Length"), str(10 * 1024))
        self.assertEqual(head["response"]["body_size"], 0)

        # POSTs: the small form and the 1 MB upload after 100 Continue (not an exchange itself)
        small = next(e for e in xs if path_of(e) == "/echo-ok?small=1")
        self.assertEqual(small["request"]["method"], "POST")
        self.assertEqual(h.body_bytes(small["request"]), b"hello=world&x=1")
        self.assertEqual(small["request"]["framing"], "content-length")
        up = next(e for e in xs if path_of(e) == "/upload")
        self.assertEqual(h.header(up["request"], "Expect"), "100-continue")
        self.assert_body(up["request"], self.upload, "POST /upload")
        self.assertEqual(up["response"]["status"], 200)
        self.assertEqual(h.body_bytes(up["response"]), b"uploaded\n")

    def test_curl_max_body(self):
        ng, pcap = self.record_curl()
        full = self.capture(pcap, [ng.http_port], "--max-body", "4M")
        cut = self.capture(pcap, [ng.http_port], "--max-body", "64k")
        self.assertEqual(len(cut.exchanges), len(full.exchanges))
        up = next(e for e in full.exchanges if path_of(e) == "/upload")
        self.assert_body(up["request"], self.upload, "POST /upload under --max-body 4M")
        limit = 64 * 1024
        truncated = 0
        for a, b in zip(sorted(full.exchanges, key=lambda e: (e["session"], e["seq"])),
                        sorted(cut.exchanges, key=lambda e: (e["session"], e["seq"]))):
            self.assertEqual(strip(a, "request", "response", "flags"),
                             strip(b, "request", "response", "flags"))
            for side, flag in (("request", "request_body_truncated"),
                               ("response", "response_body_truncated")):
                ma, mb = a[side], b[side]
                if ma is None:
                    continue
                whole, kept = h.body_bytes(ma), h.body_bytes(mb)
                self.assertEqual(mb["body_size"], ma["body_size"], f"{side} body_size")
                if ma["body_size"] > limit:
                    truncated += 1
                    self.assertEqual(len(kept), limit, f"{side} of {path_of(a)} cut at 64 KiB")
                    self.assertEqual(kept, whole[:limit], f"{side} of {path_of(a)}: a prefix")
                    self.assertIn(flag, b["flags"], path_of(a))
                else:
                    self.assertEqual(kept, whole)
                    self.assertNotIn(flag, b["flags"], path_of(a))
            self.assertEqual(strip(ma, "body", "body_size", "body_encoding"),
                             strip(mb, "body", "body_size", "body_encoding"))
        # 100k, 300k and 2m responses, the 1 MB upload
        self.assertEqual(truncated, 4)
        self.assertEqual(cut.counters["bodies_truncated"], truncated)
        self.assertEqual(full.counters["bodies_truncated"], 0)
        two = next(e for e in cut.exchanges if path_of(e) == "/2m.bin")
        self.assertEqual(two["response"]["body_size"], 2 * MIB)
        self.assertEqual(len(h.body_bytes(two["response"])), 65536)
        # the default (1 MiB) cuts the 2 MB body only
        default = self.capture(pcap, [ng.http_port])
        two = next(e for e in default.exchanges if path_of(e) == "/2m.bin")
        self.assertEqual(len(h.body_bytes(two["response"])), MIB)
        self.assertIn("response_body_truncated", two["flags"])
        up = next(e for e in default.exchanges if path_of(e) == "/upload")
        self.assertEqual(len(h.body_bytes(up["request"])), MIB, "1 MiB is kept whole")
        self.assertEqual(default.counters["bodies_truncated"], 1)

    def test_curl_http10(self):
        ng = self.nginx()
        urls = [ng.url(p) for p in ("/1k.bin", "/nope", "/100k.bin")]

        def clients():
            codes = h.curl(urls, "--http1.0")
            # HTTP/1.0 + gzip: nginx cannot chunk, so the body ends when the connection closes
            codes += h.curl([ng.url("/text.txt")], "--http1.0", "-H", "Accept-Encoding: gzip")
            return codes

        pcap, codes = self.record([ng.http_port], clients)
        self.assertEqual(codes, [200, 404, 200, 200])
        run = self.capture(pcap, [ng.http_port], "--max-body", "4M")
        view = self.assert_oracle(pcap, run, http_ports=[ng.http_port])
        self.assertEqual(len(view), 4, "HTTP/1.0 without keep-alive: one connection a request")
        self.assert_clean_counters(run, pcap, view)
        for e in run.exchanges:
            self.assertEqual(e["protocol"], "http/1.0")
            self.assertEqual(e["seq"], 0)
        gz = next(e for e in run.exchanges if path_of(e) == "/text.txt")
        self.assertEqual(gz["response"]["framing"], "close")
        self.assertEqual(gzip.decompress(h.body_bytes(gz["response"])), self.file("text.txt"))
        big = next(e for e in run.exchanges if path_of(e) == "/100k.bin")
        self.assert_body(big["response"], self.file("100k.bin"), "GET /100k.bin over HTTP/1.0")

    def test_curl_ipv6(self):
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
                s.bind(("::1", 0))
        except OSError:
            self.skipTest("no IPv6 loopback (::1)")
        ng = self.nginx(ipv6=True)
        pcap, codes = self.record([ng.http_port], lambda: h.curl(
            [ng.url(p, host="[::1]") for p in ("/1k.bin", "/nope", "/300k.bin")], "-g"))
        self.assertEqual(codes, [200, 404, 200])
        run = self.capture(pcap, [ng.http_port], "--max-body", "4M")
        view = self.assert_oracle(pcap, run, http_ports=[ng.http_port])
        self.assertEqual(oracle.total(view), 3)
        self.assert_clean_counters(run, pcap, view)
        for e in run.exchanges:
            self.assertTrue(e["client"].startswith("[::1]:"), e["client"])
            self.assertEqual(e["server"], f"[::1]:{ng.http_port}")
        big = next(e for e in run.exchanges if path_of(e) == "/300k.bin")
        self.assert_body(big["response"], self.file("300k.bin"), "GET /300k.bin over IPv6")


# ---------------------------------------------------------------------------------------------
# HTTP/2


class Http2(CaptureCase):
    def check_bodies(self, exchanges):
        for e in exchanges:
            name = (path_of(e) or "").lstrip("/")
            if e["response"] and e["response"]["status"] == 200 and name in self.sums:
                self.assert_body(e["response"], self.file(name), f"{e['stream']} /{name}")

    def test_curl_h2_prior_knowledge(self):
        ng = self.nginx()
        paths = ["/1k.bin", "/nope", "/300k.bin", "/empty.bin"]

        def clients():
            # curl 7.88 cannot reuse an h2c prior-knowledge connection (it fails with "Error in
            # the HTTP2 framing layer"): one curl, so one connection, per request.
            codes = [h.curl([ng.url(p, h2=True)], "--http2-prior-knowledge")[0] for p in paths]
            # a request body: PUT (WebDAV reads it all; nginx's `return` answers before reading
            # it and resets the stream, which curl 7.88 reports as an error)
            codes += h.curl([ng.url("/put/10k.bin", h2=True)], "--http2-prior-knowledge",
                            "-T", os.path.join(self.docroot, "10k.bin"))
            return codes

        pcap, codes = self.record([ng.h2_port], clients)
        self.assertEqual(codes, [200, 404, 200, 200, 201])
        run = self.capture(pcap, [ng.h2_port], "--max-body", "4M")
        view = self.assert_oracle(pcap, run, h2_ports=[ng.h2_port])
        self.assertEqual(oracle.total(view), 5)
        self.assert_clean_counters(run, pcap, view)
        for e in run.exchanges:
            self.assertEqual((e["protocol"], e["stream"], e["flags"]), ("h2", 1, []))
            if e["request"]["body_size"]:
                self.assertEqual(e["request"]["framing"], "h2")
            self.assertEqual(e["request"]["authority"], f"127.0.0.1:{ng.h2_port}")
        self.check_bodies(run.exchanges)
        put = next(e for e in run.exchanges if path_of(e) == "/put/10k.bin")
        self.assertEqual(put["request"]["method"], "PUT")
        self.assert_body(put["request"], self.file("10k.bin"), "PUT over h2")

    def test_nghttp_prior_knowledge(self):
        nd = self.nghttpd()
        paths = ["/1k.bin", "/nope", "/300k.bin", "/10k.bin", "/2m.bin", "/empty.bin"]

        def clients():
            h.run(["nghttp", "-n", "-s"] + [nd.url(p) for p in paths], timeout=60)
            h.run(["nghttp", "-n", "-d", os.path.join(self.docroot, "100k.bin"),
                   nd.url("/1k.bin")], timeout=60)
            return None

        pcap, _ = self.record([nd.port], clients)
        run = self.capture(pcap, [nd.port], "--max-body", "4M")
        view = self.assert_oracle(pcap, run, h2_ports=[nd.port])
        self.assertEqual(oracle.total(view), len(paths) + 1)
        self.assertEqual(len(view), 2)
        self.assert_clean_counters(run, pcap, view)
        multi = max(view.values(), key=len)
        self.assertEqual(len({e.stream for e in multi}), len(paths), "one stream a request")
        self.check_bodies(run.exchanges)
        post = next(e for e in run.exchanges if e["request"]["method"] == "POST")
        self.assert_body(post["request"], self.file("100k.bin"), "nghttp -d POST")
        self.assertEqual(post["request"]["framing"], "h2")

    def test_h2c_upgrade(self):
        ng = self.nginx()
        nx = self.nghttpx(ng.http_port)

        def clients():
            h.run(["nghttp", "-u", "-n", nx.url("/1k.bin"), nx.url("/nope"), nx.url("/300k.bin")],
                  timeout=60)
            return h.curl([nx.url("/10k.bin"), nx.url("/100k.bin")], "--http2")

        pcap, codes = self.record([nx.port], clients)
        self.assertEqual(codes, [200, 200])
        run = self.capture(pcap, [nx.port], "--max-body", "4M")
        view = self.assert_oracle(pcap, run, http_ports=[nx.port])
        self.assertEqual(oracle.total(view), 5)
        self.assertEqual(len(view), 2)
        self.assert_clean_counters(run, pcap, view)
        for e in run.exchanges:
            self.assertEqual(e["protocol"], "h2")
            self.assertNotEqual((e["response"] or {}).get("status"), 101, "101 is no exchange")
        ups = [e for e in run.exchanges if "upgrade" in e["flags"]]
        self.assertEqual(sorted(path_of(e) for e in ups), ["/10k.bin", "/1k.bin"])
        for e in ups:
            self.assertEqual(e["stream"], 1)
            self.assertEqual(e["seq"], 0)
        for e in run.exchanges:
            if e not in ups:
                self.assertEqual(e["flags"], [])
                self.assertGreater(e["stream"], 1)
        self.check_bodies(run.exchanges)


# ---------------------------------------------------------------------------------------------
# load generators


class Load(CaptureCase):
    def test_ab_keepalive(self):
        ng = self.nginx()
        pcap, res = self.record([ng.http_port],
                                lambda: h.ab(ng.url("/1k.bin"), 2000, 8, keepalive=True))
        self.assertEqual((res["complete"], res["failed"]), (2000, 0), res["output"])
        run = self.capture(pcap, [ng.http_port])
        view = self.assert_oracle(pcap, run, http_ports=[ng.http_port])
        self.assertEqual(oracle.total(view), res["complete"])
        self.assertEqual(syn_count(pcap), 8, "ab -c 8 -k: eight connections")
        self.assert_clean_counters(run, pcap, view)
        self.assertEqual(sum(1 for e in run.exchanges if e["response"]), res["complete"])
        self.assertEqual({e["protocol"] for e in run.exchanges}, {"http/1.0"})
        sums = {sha(h.body_bytes(e["response"])) for e in run.exchanges}
        self.assertEqual(sums, {self.sums["1k.bin"]})

    def run_wrk(self, pipeline):
        ng = self.nginx()
        paths = ["/1k.bin", "/10k.bin", "/empty.bin", "/nope", "/100k.bin"]
        pcap, res = self.record([ng.http_port], lambda: h.wrk(
            ng.url("/"), threads=2, connections=16, duration=2, limit=2000, pipeline=pipeline,
            paths=paths))
        self.assertGreaterEqual(res["requests"], 2000, res["output"])
        run = self.capture(pcap, [ng.http_port])
        view = self.assert_oracle(pcap, run, http_ports=[ng.http_port])
        self.assert_clean_counters(run, pcap, view)
        answered = sum(1 for e in run.exchanges if e["response"])
        # wrk stops its threads after `limit` responses; what was in flight then is answered on
        # the wire (twin sees it) but not counted by wrk: at most `pipeline` per connection.
        self.assertGreaterEqual(answered, res["requests"])
        self.assertLessEqual(answered - res["requests"], 16 * pipeline)
        self.assertEqual({e["protocol"] for e in run.exchanges}, {"http/1.1"})
        return run

    def test_wrk(self):
        self.run_wrk(pipeline=1)

    def test_wrk_pipelined(self):
        run = self.run_wrk(pipeline=4)
        # pipelining happened: some request started before the previous response ended
        sessions = collections.defaultdict(list)
        for e in run.exchanges:
            sessions[e["session"]].append(e)
        overlapped = 0
        for xs in sessions.values():
            xs.sort(key=lambda e: e["seq"])
            for a, b in zip(xs, xs[1:]):
                if a["time"]["response_end"] and b["time"]["request_start"] < \
                        a["time"]["response_end"]:
                    overlapped += 1
        self.assertGreater(overlapped, 0, "no pipelined request seen")

    def test_h2load(self):
        ng = self.nginx()
        urls = [ng.url(p, h2=True) for p in ("/1k.bin", "/10k.bin", "/nope")]
        pcap, res = self.record([ng.h2_port], lambda: h.h2load(urls, 2000, 4, 10))
        # h2load counts a 404 as "failed" (not 2xx/3xx) but "done"; "errored" is a broken stream
        self.assertEqual((res["done"], res["errored"]), (2000, 0), res["output"])
        self.assertEqual(res["succeeded"] + res["failed"], 2000, res["output"])
        run = self.capture(pcap, [ng.h2_port])
        view = self.assert_oracle(pcap, run, h2_ports=[ng.h2_port])
        self.assertEqual(oracle.total(view), res["done"])
        self.assertEqual(sum(1 for es in view.values() for e in es if e.status == 404),
                         res["failed"])
        self.assert_clean_counters(run, pcap, view, connections=4)
        self.assertEqual({e["protocol"] for e in run.exchanges}, {"h2"})
        # many concurrent streams: within a connection, some stream starts before an earlier
        # stream's response has ended
        sessions = collections.defaultdict(list)
        for e in run.exchanges:
            sessions[e["session"]].append(e)
        for s, xs in sessions.items():
            self.assertEqual(len({e["stream"] for e in xs}), len(xs), f"session {s} streams")
            self.assertTrue(all(e["stream"] % 2 == 1 for e in xs), "client streams are odd")


# ---------------------------------------------------------------------------------------------
# mutated recordings


class Mutations(CaptureCase):
    """One recording with HTTP/1.1 (keep-alive, chunked, POSTs) and HTTP/2 (several streams on
    one connection), then mutated copies of it."""

    def setUp(self):
        super().setUp()
        self.ng = self.nginx()
        self.ports = [self.ng.http_port, self.ng.h2_port]
        up = self.tmp.join("upload.bin")
        with open(up, "wb") as f:
            f.write(h.deterministic_bytes(MIB, "upload"))
        ng = self.ng

        def clients():
            h.curl([ng.url(p) for p in ("/1k.bin", "/300k.bin", "/nope", "/2m.bin", "/100k.bin",
                                        "/10k.bin")])
            h.curl([ng.url("/text.txt")], "-H", "Accept-Encoding: gzip")
            h.curl([ng.url("/upload")], "-H", "Expect: 100-continue", "--data-binary", "@" + up)
            if h.have("nghttp"):
                h.run(["nghttp", "-n", "--no-dep"] +
                      [ng.url(p, h2=True) for p in ("/1k.bin", "/300k.bin", "/nope", "/10k.bin")],
                      timeout=60)
            for i in range(20):  # many small exchanges, for the truncation test
                h.curl([ng.url(f"/1k.bin?i={i}"), ng.url(f"/10k.bin?i={i}")])

        self.pcap, _ = self.record(self.ports, clients, name="base.pcap")
        self.base_pcap = pcapmut.Pcap.read(self.pcap)

    def cap(self, pcap_path, *extra, check=True):
        return self.capture(pcap_path, self.ports, "--max-body", "4M", *extra,
                            out=pcap_path + ".twin", check=check)

    def base(self):
        if not hasattr(self, "_base"):
            self._base = self.cap(self.pcap)
            self.assert_oracle(self.pcap, self._base, [self.ng.http_port], [self.ng.h2_port])
        return self._base

    def write(self, p, name):
        return p.write(self.tmp.join(name))

    def assert_same_exchanges(self, run, ignore=("id",)):
        base = by_position(self.base().exchanges)
        got = by_position(run.exchanges)
        self.assertEqual(sorted(got), sorted(base), "the same exchanges at the same positions")
        for k in base:
            self.assertEqual(strip(got[k], *ignore), strip(base[k], *ignore), f"exchange {k}")

    # reordered, duplicated and overlapping segments change nothing

    def test_reordered(self):
        p, swaps = pcapmut.reorder(self.base_pcap, 8, seed=7)
        self.assertEqual(len(swaps), 8)
        path = self.write(p, "reordered.pcap")
        run = self.cap(path)
        # the first byte of a message may now arrive with a later packet: times may differ
        self.assert_same_exchanges(run, ignore=("id", "time"))
        self.assertGreaterEqual(run.counters["segments_out_of_order"], len(swaps))
        self.assertEqual((run.counters["gaps"], run.counters["gap_bytes"]), (0, 0))

    def test_duplicated(self):
        p, dups = pcapmut.duplicate(self.base_pcap, 10, seed=3)
        run = self.cap(self.write(p, "duplicated.pcap"))
        self.assert_same_exchanges(run)
        self.assertGreaterEqual(run.counters["segments_retransmitted"], len(dups))
        self.assertEqual(run.counters["gaps"], 0)
        # a retransmission much later (after 5 packets) changes nothing either
        p, dups = pcapmut.duplicate(self.base_pcap, 10, seed=4, gap=5)
        run = self.cap(self.write(p, "duplicated-late.pcap"))
        self.assert_same_exchanges(run)
        self.assertGreaterEqual(run.counters["segments_retransmitted"], len(dups))

    def test_overlapping(self):
        p, pairs = pcapmut.overlap(self.base_pcap, 8, seed=5)
        self.assertEqual(len(pairs), 8)
        run = self.cap(self.write(p, "overlapping.pcap"))
        self.assert_same_exchanges(run)
        self.assertGreaterEqual(run.counters["segments_overlapping"], len(pairs))
        self.assertEqual(run.counters["gaps"], 0)

    # lost segments

    def test_dropped_inside_bodies(self):
        """Holes inside Content-Length bodies of HTTP/1 messages: exactly the exchanges holding
        them are flagged "gap"; the framing carries the parser past the hole, so every other
        exchange, on the same connections too, is unchanged."""
        bodies = [b for b in pcapmut.http1_bodies(self.base_pcap, {self.ng.http_port})
                  if b[3] == "content-length"]

        def within(seg):
            return any(pcapmut.inside(seg, b) for b in bodies)

        p, dropped = pcapmut.drop(self.base_pcap, 4, seed=11, ports={self.ng.http_port},
                                  within=within)
        self.assertEqual(len(dropped), 4, "not enough segments inside bodies to drop")
        hit = set()  # (client port, exchange index in the connection)
        for s in dropped:
            b = next(b for b in bodies if pcapmut.inside(s, b))
            hit.add((b[0][1], b[2]))
        run = self.cap(self.write(p, "dropped-bodies.pcap"))
        c = run.counters
        self.assertEqual(c["gaps"], len(dropped), "one gap per hole")
        self.assertEqual(c["gap_bytes"], sum(s.payload_len for s in dropped))
        self.assertEqual(c["exchanges_gap"], len(hit))
        base = by_position(self.base().exchanges)
        got = by_position(run.exchanges)
        self.assertEqual(sorted(got), sorted(base), "no exchange lost")
        for k, e in base.items():
            g = got[k]
            if (h.client_port(e), e["seq"]) in hit and e["protocol"] != "h2":
                self.assertIn("gap", g["flags"], f"exchange {k} lost body bytes")
                self.assertEqual(g["request"]["target"], e["request"]["target"])
                self.assertEqual((g["response"] or {}).get("status"), e["response"]["status"])
            else:
                self.assertEqual(strip(g, "id"), strip(e, "id"), f"exchange {k} untouched")

    def test_dropped_random(self):
        """Holes anywhere in HTTP/1 connections (headers too, but not a connection's first data
        segment of either direction, which is the midstream case): one gap counted per hole,
        connections without a hole unchanged, and in the others every exchange either unchanged,
        flagged "gap", or missing and accounted for (messages_skipped / exchanges_gap)."""
        p, dropped = pcapmut.drop(self.base_pcap, 6, seed=23, ports={self.ng.http_port})
        self.assertEqual(len(dropped), 6)
        run = self.cap(self.write(p, "dropped-random.pcap"))
        c = run.counters
        self.assertEqual(c["gaps"], len(dropped), "one gap per hole (each hole is bounded by a "
                         "later segment of its direction and never retransmitted)")
        self.assertEqual(c["gap_bytes"], sum(s.payload_len for s in dropped))
        touched = {s.sport if s.dport == self.ng.http_port else s.dport for s in dropped}
        base = oracle.from_twin(self.base().exchanges)
        mut_x = collections.defaultdict(list)
        for e in run.exchanges:
            mut_x[e["client"]].append(e)
        lost = flagged = 0
        for (client, n), entries in base.items():
            port = int(client.rsplit(":", 1)[1])
            xs = sorted(mut_x.get(client, []), key=lambda e: (e["seq"], e["stream"]))
            mine = oracle.from_twin(xs).get((client, 0), [])
            if port not in touched:
                self.assertEqual(mine, entries, f"connection {client} had no hole")
                continue
            clean = [tuple(oracle.from_twin([e])[(client, 0)][0])[1:] for e in xs
                     if "gap" not in e["flags"]]
            flagged += sum(1 for e in xs if "gap" in e["flags"])
            want = [tuple(e)[1:] for e in entries]
            # the clean ones are a subsequence of the original connection's exchanges
            it = iter(want)
            self.assertTrue(all(any(x == y for y in it) for x in clean),
                            f"connection {client}: exchanges not flagged gap differ: {clean} "
                            f"vs {want}")
            lost += len(want) - len(clean)
        self.assertLessEqual(lost, flagged + c["messages_skipped"],
                             "every exchange lost in a hole is flagged or counted as skipped")
        self.assertEqual(c["exchanges_gap"],
                         sum(1 for e in run.exchanges if "gap" in e["flags"]))

    # damaged files

    def cut_point(self):
        """A byte offset in the middle of a record, about 60 % into the file, and that record's
        timestamp (ns)."""
        offs = self.base_pcap.record_offsets()
        i = int(len(offs) * 0.6)
        return offs[i] + 16 + 10, i, self.base_pcap.timestamp_ns(i)

    def assert_prefix(self, run, cut_ns):
        """Every exchange that ended (well) before the damage is in the damaged run, unchanged."""
        got = by_position(run.exchanges)
        before = [e for e in self.base().exchanges
                  if e["response"] and e["time"]["response_end"] is not None
                  and e["time"]["response_end"] < cut_ns - 1_000_000]
        self.assertGreater(len(before), 10, "the cut should come after some exchanges")
        for e in before:
            k = (e["session"], e["seq"], e.get("stream", 0))
            self.assertIn(k, got, f"exchange {k} ({path_of(e)}) ended before the damage")
            self.assertEqual(strip(got[k], "id"), strip(e, "id"), f"exchange {k}")

    def assert_input_error(self, run, path, pattern=None):
        self.assertEqual(run.returncode, 2, f"exit code; stderr: {run.stderr[-2000:]}")
        lines = [ln for ln in run.stderr.splitlines() if path in ln]
        self.assertTrue(lines, f"no stderr line names {path}: {run.stderr[-2000:]}")
        if pattern:
            self.assertTrue(any(re.search(pattern, ln, re.I) for ln in lines),
                            f"{pattern!r} not in {lines}")
        for ln in lines:
            self.assertLess(len(ln), 400, "the error is one short line")

    def test_truncated_file(self):
        off, _, cut_ns = self.cut_point()
        with open(self.pcap, "rb") as f:
            buf = f.read()
        path = self.tmp.join("truncated.pcap")
        with open(path, "wb") as f:
            f.write(pcapmut.truncate_bytes(buf, off))
        run = self.cap(path, check=False)
        self.assert_input_error(run, path)
        self.assert_prefix(run, cut_ns)

    def test_bad_record(self):
        _, i, cut_ns = self.cut_point()
        path = self.tmp.join("bad-record.pcap")
        with open(path, "wb") as f:
            f.write(pcapmut.bad_record_length(self.base_pcap, i))
        run = self.cap(path, check=False)
        self.assert_input_error(run, path)
        self.assert_prefix(run, cut_ns)

    def test_bad_header(self):
        with open(self.pcap, "rb") as f:
            buf = f.read()
        cases = {
            "bad-magic.pcap": pcapmut.bad_magic(buf),
            "garbage.pcap": h.deterministic_bytes(5000, "garbage"),
            "empty.pcap": b"",
            "short.pcap": buf[:10],
        }
        for name, data in cases.items():
            with self.subTest(name):
                path = self.tmp.join(name)
                with open(path, "wb") as f:
                    f.write(data)
                self.assert_input_error(self.cap(path, check=False), path)
        with self.subTest("missing file"):
            path = self.tmp.join("does-not-exist.pcap")
            self.assert_input_error(self.cap(path, check=False), path)

    def test_unsupported_linktype(self):
        with open(self.pcap, "rb") as f:
            buf = f.read()
        path = self.tmp.join("user0.pcap")
        with open(path, "wb") as f:
            f.write(pcapmut.with_linktype(buf, pcapmut.LINKTYPE_USER0))
        self.assert_input_error(self.cap(path, check=False), path, r"link")

    # other containers and encapsulations of the same packets

    def test_pcapng(self):
        if not h.have("editcap"):
            self.skipTest("editcap (wireshark-common) is not installed")
        path = pcapmut.to_pcapng(self.pcap, self.tmp.join("base.pcapng"))
        self.assert_same_exchanges(self.cap(path))

    def test_encapsulations(self):
        variants = {
            "linux-sll": pcapmut.reencapsulate(self.base_pcap, pcapmut.LINKTYPE_LINUX_SLL),
            "linux-sll2": pcapmut.reencapsulate(self.base_pcap, pcapmut.LINKTYPE_LINUX_SLL2),
            "raw-ip": pcapmut.reencapsulate(self.base_pcap, pcapmut.LINKTYPE_RAW),
            "bsd-null": pcapmut.reencapsulate(self.base_pcap, pcapmut.LINKTYPE_NULL),
            "vlan": pcapmut.add_vlan(self.base_pcap),
            "big-endian": pcapmut.with_byte_order(self.base_pcap, ">"),
            "nanoseconds": pcapmut.with_nanoseconds(self.base_pcap),
        }
        for name, p in variants.items():
            with self.subTest(name):
                self.assert_same_exchanges(self.cap(self.write(p, f"{name}.pcap")))

    def test_stdin(self):
        self.require_twin(self.pcap, self.ports)
        with open(self.pcap, "rb") as f:
            data = f.read()
        out = self.tmp.join("stdin.twin")
        run = h.capture_file(None, out, self.ports, ["--max-body", "4M"], stdin_data=data).check()
        self.assert_same_exchanges(run)

    # options on a file

    def test_port_and_filter(self):
        base = self.base()
        h1 = [e for e in base.exchanges if e["protocol"] != "h2"]
        only = self.capture(self.pcap, [self.ng.http_port], "--max-body", "4M").check()
        self.assertEqual(len(only.exchanges), len(h1))
        # (sessions are numbered among the connections captured: the h2 one is not)
        self.assertEqual([strip(e, "id", "session") for e in sorted(only.exchanges,
                                                                   key=lambda e: e["id"])],
                         [strip(e, "id", "session") for e in sorted(h1, key=lambda e: e["id"])])
        bpf = self.capture(self.pcap, [], "--max-body", "4M", "-f",
                           f"tcp port {self.ng.http_port}").check()
        self.assertEqual(len(bpf.exchanges), len(h1))

    def test_limits(self):
        base = sorted(self.base().exchanges, key=lambda e: e["id"])
        run = self.cap(self.pcap, "--max-exchanges", "5")
        self.assertEqual(len(run.exchanges), 5)
        self.assertEqual(run.counters["exchanges"], 5)
        # the first five, as in the full run
        self.assertEqual(sorted(run.exchanges, key=lambda e: e["id"]), base[:5])
        # decoded past the limit and not written: counted (all of them if twin reads on, fewer
        # if it stops reading once the limit is reached)
        self.assertLessEqual(run.counters["exchanges_over_limit"], len(base) - 5)

    def test_sample(self):
        base = collections.Counter(e["client"] for e in self.base().exchanges)
        run = self.cap(self.pcap, "--sample", "0.5", "--sample-key", "k1")
        again = self.cap(self.pcap, "--sample", "0.5", "--sample-key", "k1")
        self.assertEqual([strip(e, "id") for e in run.exchanges],
                         [strip(e, "id") for e in again.exchanges], "sampling is deterministic")
        got = collections.Counter(e["client"] for e in run.exchanges)
        for client, n in got.items():
            self.assertEqual(n, base[client], f"connection {client} kept whole or not at all")
        c = run.counters
        self.assertEqual(c["flows_unsampled"], len(base) - len(got))
        self.assertGreater(len(got), 0)
        self.assertLess(len(got), len(base))


# ---------------------------------------------------------------------------------------------
# the oracle itself (needs no twin)


class Scrub(CaptureCase):
    """twin capture --scrub: curl sends personal data to nginx (a JSON POST with a bearer token,
    an e-mail in the query) and fetches a gzipped text file full of it; the scrubbed capture has
    the same exchanges as a plain one and none of the personal data, anywhere."""

    PII = ["ada.lovelace@example.com", "4111 1111 1111 1111", "+44 20 7946 0958",
           "GB82WEST12345698765432", "grace.hopper@example.org", "123-45-6789",
           "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
           "sk_live_4eC39HqLyjWDarjtT1zdp7dc"]

    def test_capture_scrub(self):
        ng = self.nginx()
        people = "\n".join(f"customer {i}: {self.PII[i % len(self.PII)]}" for i in range(400))
        with open(os.path.join(self.docroot, "people.txt"), "w") as f:
            f.write(people + "\n")
        body = json.dumps({"user": {"name": "Ada Lovelace", "email": self.PII[0],
                                    "card": self.PII[1], "phone": self.PII[2]},
                           "iban": self.PII[3], "qty": 2, "sku": "SKU-1001"})

        def clients():
            codes = h.curl([ng.url("/people.txt")], "-H", "Accept-Encoding: gzip")
            codes += h.curl([ng.url("/echo-ok?email=grace.hopper%40example.org&page=2")],
                            "-H", "Authorization: Bearer " + self.PII[6],
                            "-H", "X-Api-Key: " + self.PII[7],
                            "-H", "Content-Type: application/json", "--data-binary", body)
            return codes

        recorded, codes = self.record([ng.http_port], clients)
        self.assertEqual(codes, [200, 200])
        # The capture's description goes into the archive's metadata: a file named after a
        # person and a filter naming a host must be scrubbed there too.
        pcap = self.tmp.join("incident-grace.hopper@example.org.pcap")
        shutil.copyfile(recorded, pcap)
        host_filter = f"host 127.0.0.1 and tcp port {ng.http_port}"
        plain = self.capture(pcap, [ng.http_port], "--filter", host_filter)
        out = self.tmp.join("scrubbed.twin")
        report = self.tmp.join("report.json")
        run = self.capture(pcap, [ng.http_port], "--scrub", "default", "--ephemeral-key",
                           "--report", report, "--filter", host_filter, out=out)
        plain_source = json.dumps(plain.info["metadata"]["capture_source"])
        self.assertIn("grace.hopper@example.org", plain_source)
        self.assertIn("127.0.0.1", plain_source)
        source = run.info["metadata"]["capture_source"]
        self.assertNotIn("grace.hopper@example.org", json.dumps(source))
        self.assertNotIn("127.0.0.1", source["filter"])
        # The address became an address (the token the exchanges' 127.0.0.1 got), the rest stays.
        self.assertRegex(source["filter"],
                         rf"^\(host \d+\.\d+\.\d+\.\d+ and tcp port {ng.http_port}\) and ")
        token = source["filter"].split()[1]
        self.assertEqual(source["filter"].replace(token, "127.0.0.1", 1),
                         json.loads(plain_source)["filter"])
        self.assertEqual({e["server"].rsplit(":", 1)[0] for e in run.exchanges}, {token})
        # twin scrub of the plain capture scrubs the metadata it carries over the same way.
        later = self.tmp.join("scrubbed-later.twin")
        h.run([h.twin_bin(), "scrub", plain.out, "-o", later, "--ephemeral-key", "-q"])
        later_info = h.info_json(later)
        later_source = later_info["metadata"]["capture_source"]
        self.assertNotIn("grace.hopper@example.org", json.dumps(later_source))
        self.assertNotIn("127.0.0.1", later_source["filter"])
        self.assertEqual(later_source["linktype"], source["linktype"])
        self.assertGreaterEqual(later_info["metadata"]["scrub"]["counters"]["metadata_values"], 2)
        self.assertGreaterEqual(run.info["metadata"]["scrub"]["counters"]["metadata_values"], 2)
        self.assertEqual(len(run.exchanges), 2)
        self.assertEqual(len(plain.exchanges), 2)
        # Nothing personal anywhere in the archive: every exchange as JSONL, bodies decoded.
        jsonl = self.tmp.join("scrubbed.jsonl")
        h.run([h.twin_bin(), "convert", out, "-o", jsonl])
        with open(jsonl, "rb") as f:
            text = f.read()
        everything = [text]
        for e in run.exchanges:
            for m in (e["request"], e["response"]):
                b = h.body_bytes(m) or b""
                if h.header(m, "Content-Encoding") == "gzip" and b:
                    b = gzip.decompress(b)
                everything.append(b)
        blob = b"\n".join(everything)
        for pii in self.PII + ["grace.hopper%40example.org", "Lovelace"]:
            self.assertNotIn(pii.encode(), blob, f"{pii!r} survived the scrub")
        # ... and the plain capture did hold them (the test is not vacuous).
        plain_text = json.dumps(plain.exchanges).encode()
        self.assertIn(self.PII[0].encode(), plain_text)
        # The shape is kept: same targets but for the e-mail, same statuses, same body sizes,
        # the JSON still parses with the same keys, the gzip body still decodes.
        by_path = {path_of(e).split("?")[0]: e for e in run.exchanges}
        post = by_path["/echo-ok"]
        sent = json.loads(h.body_bytes(post["request"]))
        self.assertEqual(list(sent), ["user", "iban", "qty", "sku"])
        self.assertEqual(list(sent["user"]), ["name", "email", "card", "phone"])
        self.assertEqual((sent["qty"], sent["sku"]), (2, "SKU-1001"))
        self.assertEqual(len(sent["user"]["card"]), len(self.PII[1]))
        self.assertTrue(h.header(post["request"], "Authorization").startswith("Bearer eyJ"))
        self.assertIn("&page=2", path_of(post))
        self.assertEqual(h.header(post["request"], "Content-Length"),
                         str(len(h.body_bytes(post["request"]))))
        people_e = by_path["/people.txt"]
        text_out = gzip.decompress(h.body_bytes(people_e["response"])).decode()
        self.assertEqual(len(text_out.splitlines()), 400)
        self.assertEqual([e["response"]["status"] for e in run.exchanges],
                         [e["response"]["status"] for e in plain.exchanges])
        for e in run.exchanges:
            self.assertIn("scrubbed", e["flags"])
        # Counters: in the archive's metadata and in the report; no residual.
        meta = run.info["metadata"]["scrub"]
        self.assertEqual(meta["counters"]["exchanges"], 2)
        self.assertEqual(meta["counters"]["decoded_bodies"], 1)
        self.assertEqual(meta["residual"], 0)
        with open(report) as f:
            rep = json.load(f)
        self.assertEqual(rep["residual"], 0)
        self.assertNotIn(b"example.com", open(report, "rb").read())

    def test_capture_scrub_on_several_threads_writes_the_same_archive(self):
        # --scrub-threads 3: exchanges wait in batches of 48 (two full, one at the end) and are
        # scrubbed by three threads; the archive's exchanges and scrub counters are those of one
        # thread (a key file: the same tokens both times).
        ng = self.nginx()
        urls = [ng.url(f"/echo-ok?email=user{i % 7}%40example.org&n={i}&ref=ORD-{i // 3:05d}")
                for i in range(120)]

        def clients():
            return h.curl(urls, "-H", "Authorization: Bearer tok9QkLmZp42x7", "-H",
                          "Cookie: sid=s3ss1abcdef12; theme=dark")

        pcap, codes = self.record([ng.http_port], clients)
        self.assertEqual(codes, [200] * 120)
        key = self.tmp.join("key")
        with open(key, "w") as f:
            f.write("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n")
        runs = {}
        for threads in ("1", "3"):
            runs[threads] = self.capture(pcap, [ng.http_port], "--scrub", "default",
                                         "--key-file", key, "--scrub-threads", threads,
                                         out=self.tmp.join(f"scrubbed-{threads}.twin"))
        one, three = runs["1"], runs["3"]
        self.assertEqual(len(one.exchanges), 120)
        self.assertEqual(three.exchanges, one.exchanges)
        self.assertEqual(three.info["metadata"]["scrub"]["counters"],
                         one.info["metadata"]["scrub"]["counters"])
        self.assertEqual(three.info["metadata"]["scrub"]["counters"]["exchanges"], 120)
        self.assertEqual([e["id"] for e in three.exchanges], list(range(1, 121)))
        # (and it was three threads: the summary says so; one thread prints no such line)
        self.assertIn("scrub: 3 threads scrubbing; of 120 exchanges", three.stderr)
        self.assertNotIn("threads scrubbing", one.stderr)
        blob = json.dumps(three.exchanges)
        self.assertNotIn("example.org", blob)
        self.assertNotIn("tok9QkLmZp42x7", blob)
        # --max-exchanges stops at the same exchange when they wait in batches.
        limited = {}
        for threads in ("1", "3"):
            limited[threads] = self.capture(pcap, [ng.http_port], "--scrub", "default",
                                            "--key-file", key, "--scrub-threads", threads,
                                            "--max-exchanges", "50",
                                            out=self.tmp.join(f"limited-{threads}.twin"))
        self.assertEqual(len(limited["3"].exchanges), 50)
        self.assertEqual(limited["3"].exchanges, limited["1"].exchanges)
        self.assertEqual(limited["3"].exchanges, one.exchanges[:50])
        self.assertEqual(limited["3"].counters["exchanges_over_limit"],
                         limited["1"].counters["exchanges_over_limit"])


class OracleSelfTest(CaptureCase):
    """The oracle must see exactly what the clients did, or a broken oracle could pass twin."""

    def test_oracle_counts(self):
        ng = self.nginx()
        paths = ["/1k.bin", "/nope", "/empty.bin", "/2m.bin", "/1k.bin?x=1"]

        def clients():
            h.curl([ng.url(p) for p in paths])
            h.curl([ng.url("/upload")], "-H", "Expect: 100-continue", "--data-binary",
                   "@" + os.path.join(self.docroot, "300k.bin"))
            h.curl([ng.url("/10k.bin")], "-I")
            h.curl([ng.url("/text.txt")], "--http1.0", "-H", "Accept-Encoding: gzip")
            h.ab(ng.url("/10k.bin"), 100, 4, keepalive=True)
            h.h2load([ng.url("/1k.bin", h2=True), ng.url("/nope", h2=True)], 100, 2, 5)

        pcap, _ = self.record([ng.http_port, ng.h2_port], clients)
        view = oracle.extract(pcap, [ng.http_port], [ng.h2_port])
        self.assertEqual(len(view), 1 + 1 + 1 + 1 + 4 + 2)
        self.assertEqual(oracle.total(view), len(paths) + 3 + 100 + 100)
        first = next(es for es in view.values() if len(es) == len(paths))
        self.assertEqual([(e.method, e.target, e.status, e.protocol) for e in first],
                         [("GET", p, 404 if p == "/nope" else 200, "http/1.1") for p in paths])
        allx = [e for es in view.values() for e in es]
        self.assertEqual(sum(1 for e in allx if e.method == "POST" and e.status == 200), 1,
                         "100 Continue is not a response of its own")
        self.assertEqual(sum(1 for e in allx if e.method == "HEAD"), 1)
        self.assertEqual(sum(1 for e in allx if e.protocol == "http/1.0"), 101)
        h2 = [e for e in allx if e.protocol == "h2"]
        self.assertEqual(len(h2), 100)
        self.assertEqual(sum(1 for e in h2 if e.status == 404), 50)
        self.assertTrue(all(e.stream % 2 == 1 for e in h2))
        self.assertTrue(all(e.status is not None for e in allx))
        # a broken view is reported, not equal
        broken = {k: v[:-1] for k, v in view.items()}
        self.assertIn("exchanges", oracle.compare(view, broken))

    def test_oracle_upgrade_and_pipelining(self):
        backend = self.nginx()  # behind nghttpx, not recorded
        nx = self.nghttpx(backend.http_port)
        ng = self.nginx()
        if not h.have("wrk"):
            self.skipTest("wrk is not installed")

        def clients():
            h.run(["nghttp", "-u", "-n", nx.url("/1k.bin"), nx.url("/nope")], timeout=60)
            return h.wrk(ng.url("/"), threads=1, connections=2, duration=2, limit=200,
                         pipeline=4, paths=["/1k.bin", "/nope"])

        pcap, res = self.record([ng.http_port, nx.port], clients)
        view = oracle.extract(pcap, [ng.http_port, nx.port])
        up = [es for es in view.values() if es[0].protocol == "h2"]
        self.assertEqual(len(up), 1)
        self.assertEqual([(e.stream, e.method, e.target, e.status) for e in up[0]][0],
                         (1, "GET", "/1k.bin", 200))
        self.assertEqual([e.target for e in up[0]], ["/1k.bin", "/nope"])
        piped = [e for es in view.values() if es[0].protocol == "http/1.1" for e in es]
        answered = sum(1 for e in piped if e.status is not None)
        self.assertGreaterEqual(answered, res["requests"])
        self.assertLessEqual(answered - res["requests"], 2 * 4)

    def test_mutator_keeps_streams(self):
        """Reordered, duplicated, overlapping and re-encapsulated copies of a recording decode,
        in tshark, to the same exchanges; dropped segments do not."""
        ng = self.nginx()
        pcap, _ = self.record([ng.http_port], lambda: h.curl(
            [ng.url(p) for p in ("/1k.bin", "/300k.bin", "/nope", "/100k.bin")]))
        base = pcapmut.Pcap.read(pcap)
        with open(pcap, "rb") as f:
            self.assertEqual(base.to_bytes(), f.read(), "reading and writing is lossless")
        want = oracle.extract(pcap, [ng.http_port])
        variants = {
            "reorder": pcapmut.reorder(base, 5, 1)[0],
            "duplicate": pcapmut.duplicate(base, 5, 1)[0],
            "overlap": pcapmut.overlap(base, 5, 1)[0],
            "sll": pcapmut.reencapsulate(base, pcapmut.LINKTYPE_LINUX_SLL),
            "sll2": pcapmut.reencapsulate(base, pcapmut.LINKTYPE_LINUX_SLL2),
            "raw": pcapmut.reencapsulate(base, pcapmut.LINKTYPE_RAW),
            "null": pcapmut.reencapsulate(base, pcapmut.LINKTYPE_NULL),
            "vlan": pcapmut.add_vlan(base),
            "big-endian": pcapmut.with_byte_order(base, ">"),
            "ns": pcapmut.with_nanoseconds(base),
        }
        # tshark decodes them all (capinfos reads them); the stream-changing ones and a few
        # encapsulations also go through the oracle (each tshark run costs a second or two)
        through_oracle = {"reorder", "duplicate", "overlap", "sll2", "null", "big-endian"}
        for name, p in variants.items():
            with self.subTest(name):
                path = p.write(self.tmp.join(f"{name}.pcap"))
                r = h.run(["capinfos", "-c", path])
                self.assertIn(f"Number of packets:   {len(p.packets)}", r.stdout_text)
                self.assertEqual(pcapmut.Pcap.read(path).to_bytes(), p.to_bytes())
                if name in through_oracle:
                    self.assertEqual(oracle.extract(path, [ng.http_port]), want)
        if h.have("editcap"):
            ng_path = pcapmut.to_pcapng(pcap, self.tmp.join("x.pcapng"))
            self.assertEqual(oracle.extract(ng_path, [ng.http_port]), want)
        p, gone = pcapmut.drop(base, 2, 1)
        self.assertEqual(len(gone), 2)
        path = p.write(self.tmp.join("drop.pcap"))
        self.assertEqual(len(pcapmut.Pcap.read(path).packets), len(base.packets) - 2)
        # the overlap segments carry the stream's own bytes with valid checksums
        p, pairs = pcapmut.overlap(base, 1, 1)
        r = h.run(["tshark", "-n", "-r", p.write(self.tmp.join("ov.pcap")), "-o",
                   "tcp.check_checksum:TRUE", "-Y", "tcp.checksum.status == 1", "-T", "fields",
                   "-e", "frame.number"])
        self.assertEqual(len(r.stdout_text.split()), 1, "exactly the inserted segment is "
                         "checksummed (loopback leaves the others unfilled)")


# ---------------------------------------------------------------------------------------------
# live


class Live(CaptureCase):
    def test_live_ab(self):
        """twin capture -i lo while ab runs against nginx on the same machine; SIGINT; at least
        99.9 % of ab's completed requests are captured, and every one missing is accounted for
        by a counted loss."""
        self.require_twin()
        ng = self.nginx()
        out = self.tmp.join("live.twin")
        cap = h.Proc([h.twin_bin(), "capture", "-i", "lo", "--port", str(ng.http_port),
                      "-o", out], name="twin-capture", workdir=self.tmp.path)
        self.addCleanup(cap.kill)
        cap.wait_stderr(r"(?i)capturing", timeout=20)
        res = h.ab(ng.url("/1k.bin"), 20000, 16, keepalive=True, timeout=100)
        self.assertEqual(res["failed"], 0, res["output"])
        time.sleep(0.5)  # let the last packets through the ring
        rc = cap.stop(signal.SIGINT, timeout=30)
        self.assertEqual(rc, 0, f"twin capture after SIGINT: {cap.stderr_text()[-2000:]}")
        info = h.info_json(out)
        c = h.capture_counters(info)
        xs = h.cat_jsonl(out)
        answered = sum(1 for e in xs if e["response"] and e["response"]["status"] == 200)
        complete = res["complete"]
        missing = complete - answered
        losses = c["kernel_drops"] + c["interface_drops"] + c["gaps"] + \
            c["exchanges_no_response"] + c["messages_skipped"] + c["exchanges_unwritten"]
        # A sanitized build (ASan+UBSan, several times slower) cannot keep up with ab: what it
        # misses is still counted, which is what is checked then.
        if os.environ.get("TWIN_E2E_SANITIZED") != "1":
            self.assertGreaterEqual(answered, complete * 0.999,
                                    f"captured {answered} of {complete}; counters {c}")
        self.assertLessEqual(missing, losses,
                             f"{missing} exchanges silently absent; counters {c}")
        self.assertEqual(c["flows"], 16)
        self.assertGreater(c["kernel_received"], 0)
        self.assertEqual(len(xs), c["exchanges"])
        self.assertIn("capture", info["metadata"])


def main():
    if len(sys.argv) < 2:
        print("usage: test_capture.py TestCase.test_name ...", file=sys.stderr)
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

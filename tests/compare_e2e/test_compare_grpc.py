"""End-to-end tests of `twin compare` on gRPC: a capture of gRPC calls (written here as JSONL),
replayed by `twin replay` over h2c against two gRPC servers of real parts (nghttpd behind
nghttpx) that answer every call with a protobuf message in a gRPC frame and a grpc-status
trailer, and compared.

A gRPC call answers HTTP 200 whether it worked or not; the candidate that fails every call with
UNAVAILABLE must regress by its grpc-status, and the candidate whose message changes one field
must be named by that field's number, not by `$body`.

Each test is one ctest entry:  python3 test_compare_grpc.py TestCase.test_name
(TWIN_BIN names the binary; TWIN_E2E_KEEP=1 keeps the temporary directories.) Exit code 77
means skipped (no nghttpd or nghttpx). Harness: tests/capture_e2e/harness.py, tests/replay_e2e/test_replay.py.
"""

import base64
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "capture_e2e"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "replay_e2e"))
sys.path.insert(0, HERE)

import harness as h  # noqa: E402
import test_compare as tc  # noqa: E402
import test_replay as tr  # noqa: E402

ROUTES = ["/shop.v1.Orders/GetOrder", "/shop.v1.Orders/ListOrders"]


def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def field(number, value):
    """A protobuf field (protobuf.dev/programming-guides/encoding): varint for an int,
    length-delimited for bytes."""
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    return varint(number << 3 | 2) + varint(len(value)) + value


def envelope(message):
    """A gRPC length-prefixed message: not compressed, 4-byte big-endian length."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def order(qty):
    """shop.v1.Order: id 1, customer 2 (name 1), line 3 (sku 1, qty 2)."""
    return field(1, 4215) + field(2, field(1, b"Ann")) + field(3, field(1, b"SKU-1") + field(2, qty))


class GrpcServer:
    """A gRPC server of real parts on 127.0.0.1: nghttpd --no-tls answers every method under
    ROUTES with the given message (a file each, in a gRPC frame) and a grpc-status trailer, and
    nghttpx in front of it (h2 both ways) adds the content-type application/grpc that nghttpd
    can only derive from a file name's extension, which gRPC's paths do not have. Trailers pass
    through nghttpx as they pass through a gRPC proxy."""

    def __init__(self, workdir, name, status, messages):
        self.dir = os.path.join(workdir, name)
        docroot = os.path.join(self.dir, "docs")
        for route, message in zip(ROUTES, messages):
            path = os.path.join(docroot, route.lstrip("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(envelope(message))
        self.backend_port = h.free_port()
        self.port = h.free_port()
        while self.port == self.backend_port:
            self.port = h.free_port()
        self.backend = ["nghttpd", "--no-tls", "-a", "127.0.0.1", "-d", docroot, "--trailer",
                        f"grpc-status: {status}", str(self.backend_port)]
        self.front = ["nghttpx", "--conf=/dev/null", f"--frontend=127.0.0.1,{self.port};no-tls",
                      f"--backend=127.0.0.1,{self.backend_port};;proto=h2", "--workers=1",
                      "--add-response-header=content-type: application/grpc",
                      f"--errorlog-file={self.dir}/nghttpx-error.log",
                      f"--accesslog-file={self.dir}/nghttpx-access.log",
                      f"--pid-file={self.dir}/nghttpx.pid"]
        self.procs = []

    def __enter__(self):
        self.procs.append(h.Proc(self.backend, name="nghttpd", workdir=self.dir))
        h.wait_port(self.backend_port, proc=self.procs[-1])
        self.procs.append(h.Proc(self.front, name="nghttpx", workdir=self.dir))
        h.wait_port(self.port, proc=self.procs[-1])
        return self

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            p.stop()

    def target(self, name):
        return f"{name}=h2c://127.0.0.1:{self.port}"


def grpc_capture(case, n=240):
    """n unary gRPC calls over 8 connections, 10 ms apart, alternating the two methods."""
    xs = []
    request = base64.b64encode(envelope(field(1, 4215))).decode()
    for i in range(n):
        x = tr.gen_exchange(i + 1, 1 + i % 8, i // 8, tr.BASE_NS + i * 10 * tr.MS,
                            ROUTES[i % 2], method="POST", authority="orders.internal",
                            headers=[["content-type", "application/grpc"], ["te", "trailers"]])
        x["protocol"] = "h2"
        x["stream"] = 1 + 2 * (i // 8)
        x["request"]["headers"] = [["content-type", "application/grpc"], ["te", "trailers"]]
        x["request"]["body"] = request
        x["request"]["body_encoding"] = "base64"
        xs.append(x)
    return tr.write_capture(case.fresh("grpc"), xs), xs


class Grpc(tr.Case):
    def setUp(self):
        super().setUp()
        self.need("nghttpd", "nghttpx")

    def replay(self, base, cand, n):
        capture, xs = grpc_capture(self, n)
        run = tr.replay(self, capture, [base.target("baseline"), cand.target("candidate")],
                        timeout=90).ok(self)
        for name in ("baseline", "candidate"):
            t = run.target(name)
            self.assertEqual(t["completed"], len(xs), name)
            self.assertEqual(t["errors"], 0, tr.errors_by_kind(t))
        return run

    def test_failing_calls_regress(self):
        """Every candidate call ends with grpc-status 14 (UNAVAILABLE) under HTTP 200: the
        replay records the trailer, and the comparator regresses both methods by it."""
        with GrpcServer(self.tmp.path, "baseline", 0, [order(2), order(2)]) as base, \
                GrpcServer(self.tmp.path, "candidate", 14, [order(2), order(2)]) as cand:
            run = self.replay(base, cand, 240)
        statuses = {}
        for x in run.exchanges:
            resp = x["response"]
            self.assertEqual(resp["status"], 200)
            trailer = [v for n, v in resp["headers"] if n.lower() == "grpc-status"]
            statuses.setdefault(x["target"], set()).update(trailer)
        self.assertEqual(statuses, {"baseline": {"0"}, "candidate": {"14"}})
        r, report, _ = tc.compare(self, run.out, "--baseline", "baseline", "--candidate",
                                  "candidate", expect=1)
        self.assertEqual(report["verdict"], "regressed", r.stdout_text[-3000:])
        routes = {f'{x["method"]} {x["route"]}': x for x in report["routes"]}
        for route in ROUTES:
            x = routes["POST " + route]
            self.assertEqual(x["verdict"], "regressed", x)
            self.assertIn("grpc UNAVAILABLE", x["errors"], x)
            e = x["errors"]["grpc UNAVAILABLE"]
            self.assertEqual((e["baseline"], e["candidate"]), (0, 120), e)
            self.assertEqual(e["verdict"], "regressed", e)
            self.assertNotIn("5xx", x["errors"])
            self.assertEqual(x["status_changes"][0]["baseline_grpc"], 0, x)
            self.assertEqual(x["status_changes"][0]["candidate_grpc"], 14, x)
            self.assertEqual(x["status_changes"][0]["count"], 120, x)
        self.assertIn("grpc OK→grpc UNAVAILABLE", r.stdout_text)

    def test_changed_field_is_named(self):
        """Both answer OK; the candidate's ListOrders message has another quantity (field 2 of
        field 3): that path is reported for ListOrders, nothing for GetOrder, no error."""
        with GrpcServer(self.tmp.path, "baseline", 0, [order(2), order(2)]) as base, \
                GrpcServer(self.tmp.path, "candidate", 0, [order(2), order(3)]) as cand:
            run = self.replay(base, cand, 200)
        r, report, _ = tc.compare(self, run.out, "--baseline", "baseline", "--candidate",
                                  "candidate")
        routes = {f'{x["method"]} {x["route"]}': x for x in report["routes"]}
        get, lst = routes["POST " + ROUTES[0]], routes["POST " + ROUTES[1]]
        self.assertEqual(get["diffs"], [], get)
        self.assertEqual([d["path"] for d in lst["diffs"]], ["$.3.2"], lst)
        self.assertEqual(lst["diffs"][0]["differ"], 100, lst)
        for x in (get, lst):
            self.assertEqual(x["errors"], {}, x)
            self.assertEqual(x["status_changes"], [], x)
        # the ListOrders pairs were read as gRPC messages, none compared as bytes
        bodies = report["counters"]["bodies"]
        self.assertEqual((bodies["rpc"], bodies["unreadable"], bodies["unknown_format"]),
                         (100, 0, 0), bodies)
        # With the service's schema in the gate (protoc's descriptor set), the same change is
        # named by its fields, and a repeated field is a list even of one element.
        if shutil.which("protoc") is None:
            self.skipTest("protoc is not installed (scripts/setup.sh)")
        with open(self.tmp.join("shop.proto"), "w") as f:
            f.write('syntax = "proto3";\npackage shop.v1;\n'
                    "message Customer { string name = 1; }\n"
                    "message Line { string sku = 1; int32 qty = 2; }\n"
                    "message Order { int64 id = 1; Customer customer = 2; repeated Line lines = 3; }\n"
                    "message OrderQuery { int64 id = 1; }\n"
                    "service Orders { rpc GetOrder(OrderQuery) returns (Order);\n"
                    "  rpc ListOrders(OrderQuery) returns (Order); }\n")
        h.run(["protoc", "--proto_path=" + self.tmp.path, "--descriptor_set_out=" +
               self.tmp.join("shop.pb"), self.tmp.join("shop.proto")], timeout=60)
        gate = self.tmp.join("gate.yaml")
        with open(gate, "w") as f:
            f.write("diffs:\n  protobuf_descriptors: [shop.pb]\n")
        r, report, _ = tc.compare(self, run.out, "--baseline", "baseline", "--candidate",
                                  "candidate", "--gate", gate)
        routes = {f'{x["method"]} {x["route"]}': x for x in report["routes"]}
        get, lst = routes["POST " + ROUTES[0]], routes["POST " + ROUTES[1]]
        self.assertEqual(get["diffs"], [], get)
        self.assertEqual([d["path"] for d in lst["diffs"]], ["$.lines[*].qty"], lst)


if __name__ == "__main__":
    sys.exit(tc.main(sys.modules[__name__]))

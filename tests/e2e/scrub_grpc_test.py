#!/usr/bin/env python3
"""gRPC traffic through `twin scrub`, with protoc as the independent encoder and reader.

Messages are written by `protoc --encode` from a schema twin never sees, framed as gRPC
(plain, gzip-compressed per message, gRPC-Web text), as application/x-protobuf (one message, its
type named by the media type's `proto` parameter or not at all) and as a Prometheus-style
`encoding=delimited` stream of messages, put in a JSONL archive and scrubbed by the twin binary. `protoc --decode` must then read every message
of the output with the same schema, find the personal data gone (e-mail, phone, card, API key;
a name that the same run met under a JSON key name), and every other field as it was. The
report and the archive's counters must name what was read.

Usage: scrub_grpc_test.py TWIN     (exits 77, skipped, without protoc)
"""

import base64
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from scrub_e2e import archive_and_key

TWIN = sys.argv[1] if len(sys.argv) >= 2 else "twin"

SCHEMA = """syntax = "proto3";
package shop.v1;
message Address { string street = 1; string city = 2; }
message User {
  int64 id = 1;
  string email = 2;
  string display = 3;
  repeated Address addresses = 4;
  bytes avatar = 5;
  double score = 6;
  fixed32 flags = 7;
  repeated int32 codes = 8;
  map<string, string> labels = 9;
  string phone = 10;
  string card = 11;
  string api_key = 12;
  string full_name = 13;
  string birth_date = 14;
}
message GetUserRequest { string email = 1; }
service Users { rpc Get(GetUserRequest) returns (User); }
"""

USERS = [
    dict(id=4215, email="ann.lee@example.com", display="Marguerite", phone="+14155552671",
         card="4111111111111111", api_key="sk_live_4eC39HqLyjWDarjtT1zdp7dc", city="Leeds",
         full_name="Ann Lee", birth_date="1984-03-07"),
    dict(id=77, email="bo.chen@mail.example", display="Bo", phone="+442071398400",
         card="5500005555555559", api_key="sk_live_9Cryn687neLfjVHq8xiM0OGr", city="York",
         full_name="Bo Chen", birth_date="1990-11-30"),
]
PERSONAL = ["ann.lee@example.com", "bo.chen@mail.example", "+14155552671", "+442071398400",
            "4111111111111111", "5500005555555559", "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "sk_live_9Cryn687neLfjVHq8xiM0OGr", "Marguerite"]
# Known for what they are only by their field's name: scrubbed when the policy gives the schema.
BY_NAME = ["Ann Lee", "Bo Chen", "1984-03-07", "1990-11-30", "12 Long Road", "Leeds", "York"]


def user_text(u):
    return f"""id: {u['id']}
email: "{u['email']}"
display: "{u['display']}"
addresses {{ street: "12 Long Road" city: "{u['city']}" }}
avatar: "\\211PNG\\r\\n\\032\\n\\000\\000"
score: 4.5
flags: 7
codes: [1, 300, 70000]
labels {{ key: "tier" value: "gold" }}
phone: "{u['phone']}"
card: "{u['card']}"
api_key: "{u['api_key']}"
full_name: "{u['full_name']}"
birth_date: "{u['birth_date']}"
"""


def envelope(flags, message):
    return bytes([flags]) + len(message).to_bytes(4, "big") + message


def web_text(body):
    """gRPC-Web text: base64 pieces, each padded on its own (base64.b64decode stops at the first
    padding)."""
    return b"".join(base64.b64decode(piece + b"=" * (-len(piece) % 4))
                    for piece in re.split(rb"=+", body) if piece)


def varint(n):
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7f) | 0x80])
        n >>= 7
    return out + bytes([n])


def delimited(body):
    """The messages of a stream of varint-length-prefixed messages."""
    out = []
    while body:
        n, shift, i = 0, 0, 0
        while True:
            n |= (body[i] & 0x7f) << shift
            shift += 7
            i += 1
            if not body[i - 1] & 0x80:
                break
        assert n <= len(body) - i, "a message runs past the body"
        out.append(body[i:i + n])
        body = body[i + n:]
    return out


def envelopes(body):
    out = []
    while len(body) >= 5:
        n = int.from_bytes(body[1:5], "big")
        assert n <= len(body) - 5, "an envelope runs past the body"
        out.append((body[0], body[5:5 + n]))
        body = body[5 + n:]
    assert body == b"", f"{len(body)} bytes after the last envelope"
    return out


class ScrubGrpc(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="twin-grpc-")
        with open(os.path.join(self.dir, "shop.proto"), "w") as f:
            f.write(SCHEMA)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def protoc(self, mode, message_type, data):
        r = subprocess.run(["protoc", "--proto_path=" + self.dir, f"--{mode}={message_type}",
                            os.path.join(self.dir, "shop.proto")],
                           input=data, capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return r.stdout

    def exchange(self, i, target, req_type, req_body, resp_type, resp_body, extra=()):
        def side(type_, body):
            return {"headers": [["content-type", type_], ["content-length", str(len(body))],
                                *[list(h) for h in extra]],
                    "body": base64.b64encode(body).decode(), "body_encoding": "base64",
                    "body_size": len(body)}
        req = side(req_type, req_body)
        req.update(method="POST", target=target, authority="api.example", framing="none")
        resp = side(resp_type, resp_body)
        resp.update(status=200, reason="OK", framing="content-length")
        return {"id": i, "origin_id": i, "session": 1, "seq": i, "stream": 2 * i + 1,
                "protocol": "h2", "target": target,
                "time": {"request_start": i * 1000, "request_end": i * 1000 + 1,
                         "response_start": i * 1000 + 2, "response_end": i * 1000 + 3},
                "client": "10.0.0.1:40000", "server": "10.0.0.2:50051",
                "request": req, "response": resp}

    def test_messages_parse_after_the_scrub_and_hold_no_personal_data(self):
        self.run_scrub(schema=False)

    def test_with_the_schema_fields_are_read_by_name(self):
        self.run_scrub(schema=True)

    def run_scrub(self, schema):
        if shutil.which("protoc") is None:
            raise unittest.SkipTest("protoc is not installed (scripts/setup.sh)")
        users = [self.protoc("encode", "shop.v1.User", user_text(u).encode()) for u in USERS]
        asks = [self.protoc("encode", "shop.v1.GetUserRequest",
                            f'email: "{u["email"]}"'.encode()) for u in USERS]
        rows = []
        # The display name is a name only by a JSON key name met first (the memory of values).
        rows.append(self.exchange(0, "/api/profile", "application/json",
                                  b'{"first_name": "Marguerite"}', "application/json", b"{}"))
        rows.append(self.exchange(1, "/shop.v1.Users/Get", "application/grpc",
                                  envelope(0, asks[0]), "application/grpc+proto",
                                  envelope(0, users[0]) + envelope(0, users[1])))
        rows.append(self.exchange(2, "/shop.v1.Users/Get", "application/grpc",
                                  envelope(1, gzip.compress(asks[1])), "application/grpc",
                                  envelope(1, gzip.compress(users[1])),
                                  extra=[("grpc-encoding", "gzip")]))
        web = base64.b64encode(envelope(0, users[0])) + base64.b64encode(
            envelope(0x80, b"grpc-status: 0\r\ngrpc-message: ok for ann.lee@example.com\r\n"))
        rows.append(self.exchange(3, "/shop.v1.Users/Get", "application/grpc-web-text",
                                  base64.b64encode(envelope(0, asks[0])),
                                  "application/grpc-web-text+proto", web))
        rows.append(self.exchange(4, "/users/77", "application/x-protobuf", asks[1],
                                  "application/x-protobuf", users[1]))
        # REST with protobuf: the type named by the media type (no method names it)
        rows.append(self.exchange(5, "/users/4215", "application/x-protobuf; proto=shop.v1.User",
                                  users[0],
                                  "application/vnd.google.protobuf; proto=shop.v1.User; "
                                  "encoding=delimited",
                                  varint(len(users[0])) + users[0] + varint(len(users[1])) +
                                  users[1]))
        src, key = archive_and_key(self.dir, rows)
        out = os.path.join(self.dir, "out.jsonl")
        report = os.path.join(self.dir, "report.json")
        args = [TWIN, "scrub", src, "-o", out, "--key-file", key, "--report", report]
        personal = PERSONAL + (BY_NAME if schema else [])
        if schema:
            subprocess.run(["protoc", "--proto_path=" + self.dir, "--descriptor_set_out=" +
                            os.path.join(self.dir, "shop.pb"),
                            os.path.join(self.dir, "shop.proto")], check=True, timeout=60)
            policy = os.path.join(self.dir, "policy.yaml")
            with open(policy, "w") as f:
                f.write("version: 1\nprotobuf_descriptors: [shop.pb]\n")
            args += ["--policy", policy]
        r = subprocess.run(args, capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        summary = r.stderr.decode()
        self.assertIn("protobuf messages", summary)
        for value in personal:  # nothing printed holds a value
            self.assertNotIn(value, summary)

        with open(out) as f:
            got = [json.loads(line) for line in f if line.strip()]
        self.assertEqual(len(got), len(rows))

        def body(e, side):
            return base64.b64decode(e[side]["body"]) if e[side].get("body_encoding") == \
                "base64" else e[side]["body"].encode()

        decoded = []  # (message type, protoc's text of the scrubbed message, of the original)
        for e, original in zip(got[1:], rows[1:]):
            for side, type_ in (("request", "shop.v1.GetUserRequest"),
                                ("response", "shop.v1.User")):
                now, was = body(e, side), body(original, side)
                ct = dict(e[side]["headers"])["content-type"]
                if "proto=shop.v1.User" in ct:
                    type_ = "shop.v1.User"
                self.assertEqual(dict(e[side]["headers"])["content-length"], str(len(now)))
                if "web-text" in ct:
                    now, was = web_text(now), web_text(was)
                if "encoding=delimited" in ct:
                    self.assertEqual(len(delimited(now)), len(delimited(was)))
                    pairs = [((0, a), (0, b)) for a, b in zip(delimited(now), delimited(was))]
                elif ct.startswith("application/x-protobuf"):
                    pairs = [((0, now), (0, was))]
                else:
                    pairs = list(zip(envelopes(now), envelopes(was)))
                    self.assertEqual(len(envelopes(now)), len(envelopes(was)))
                for (flags, m), (flags_was, m_was) in pairs:
                    self.assertEqual(flags, flags_was)
                    if flags & 0x80:
                        self.assertNotIn(b"ann.lee@example.com", m)
                        self.assertTrue(m.startswith(b"grpc-status: 0\r\ngrpc-message: ok for "))
                        continue
                    if flags & 1:
                        m, m_was = gzip.decompress(m), gzip.decompress(m_was)
                    decoded.append((type_, self.protoc("decode", type_, m).decode(),
                                    self.protoc("decode", type_, m_was).decode()))
        self.assertEqual(len(decoded), 12)
        fields = re.compile(r'^\s*(\w+): "?(.*?)"?$', re.M)
        tokens = {}
        for type_, now, was in decoded:
            for value in personal:
                self.assertNotIn(value, now, f"{type_}: {value} kept")
            a, b = fields.findall(now), fields.findall(was)
            self.assertEqual([k for k, _ in a], [k for k, _ in b], "the same fields, in order")
            for (k, v_now), (_, v_was) in zip(a, b):
                if v_was in personal:
                    self.assertNotEqual(v_now, v_was)
                    # one token for one value, in every message and framing
                    self.assertEqual(tokens.setdefault(v_was, v_now), v_now, k)
                    if k == "email":
                        self.assertRegex(v_now, r"^[^@\s]+@[^@\s]+\.[a-z]+$")
                    if k == "phone":
                        self.assertTrue(v_now.startswith("+"))
                else:
                    self.assertEqual(v_now, v_was, f"{type_}.{k} changed")
        self.assertIn("Marguerite", tokens)

        with open(report) as f:
            rep = json.load(f)
        paths = {p["path"] for p in rep["report"]["fields"]}
        if schema:  # the gRPC calls by the method's messages; x-protobuf on /users/77 by number
            self.assertIn("response.protobuf:email", paths)
            self.assertIn("response.protobuf:full_name", paths)
            self.assertIn("request.protobuf:email", paths)
            self.assertIn("response.protobuf:2", paths)
        else:
            self.assertIn("response.protobuf:2", paths)   # User.email
            self.assertIn("request.protobuf:1", paths)    # GetUserRequest.email
            self.assertNotIn("response.protobuf:email", paths)
        self.assertEqual(rep["residual"], 0)
        counters = rep["counters"]
        self.assertEqual(counters["grpc_messages"], 8)     # (with gRPC-Web's trailers)
        # (with the x-protobuf bodies and the delimited stream's two)
        self.assertEqual(counters["protobuf_messages"], 12)
        self.assertEqual(counters["protobuf_malformed"], 0)
        self.assertEqual(counters["grpc_malformed"], 0)
        self.assertEqual(counters["bodies_dropped"], 0)


if __name__ == "__main__":
    if shutil.which("protoc") is None:
        print("protoc is not installed (scripts/setup.sh installs protobuf-compiler): skipped")
        sys.exit(77)
    unittest.main(argv=sys.argv[:1], verbosity=2)

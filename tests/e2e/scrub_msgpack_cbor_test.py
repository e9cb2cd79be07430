#!/usr/bin/env python3
"""MessagePack and CBOR bodies through `twin scrub`, written and read by a coder written here.

The documents are encoded below from the MessagePack spec and RFC 8949 (apart from twin's own
reader), put in a JSONL archive with the same values in a JSON body, and scrubbed by the twin
binary. Each scrubbed body must decode whole, with the same keys and kinds of values in the
same order; the personal data (e-mail, phone number as an integer, a 48-byte key whose str8
length byte is '0', a first name by its key name, coordinates) must be gone, each value given
the token the same value got in JSON; Content-Length must follow the body; the counters must
say what was read.

Usage: scrub_msgpack_cbor_test.py TWIN
"""

import base64
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

from scrub_e2e import archive_and_key

TWIN = sys.argv[1] if len(sys.argv) >= 2 else "twin"

SECRET = "Zk3PqW8rTn2LbX5vYc7HdJ4sMa9GeUfRx1Qy6Kp0Wm8Nt3Vb"  # 48 bytes: str8 length '0'
DOC = {
    "email": "ann.lee@example.com",
    "api_key": SECRET,
    "first_name": "Marguerite",
    "phone": 4155552671,
    "lat": 51.507351,
    "id": 4215,
    "tags": ["gold", "beta"],
    "avatar": b"\x89PNG\x00\x01",
}
PERSONAL = ["ann.lee@example.com", SECRET, "Marguerite"]


# ---- MessagePack (github.com/msgpack/msgpack/blob/master/spec.md) ----

def mp_encode(v):
    if isinstance(v, bool):
        return b"\xc3" if v else b"\xc2"
    if isinstance(v, int):
        if 0 <= v <= 0x7f:
            return bytes([v])
        if 0 <= v <= 0xffffffff:
            return b"\xce" + struct.pack(">I", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) <= 31:
            return bytes([0xa0 | len(b)]) + b
        return b"\xd9" + bytes([len(b)]) + b
    if isinstance(v, bytes):
        return b"\xc4" + bytes([len(v)]) + v
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(mp_encode(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(mp_encode(k) + mp_encode(x)
                                                 for k, x in v.items())
    raise TypeError(type(v))


def mp_decode(b, i=0):
    """(value, next offset); raises on anything it does not know."""
    t = b[i]
    if t <= 0x7f:
        return t, i + 1
    if t >= 0xe0:
        return t - 0x100, i + 1
    if 0x80 <= t <= 0x8f:
        n, i, d = t & 0x0f, i + 1, {}
        for _ in range(n):
            k, i = mp_decode(b, i)
            d[k], i = mp_decode(b, i)
        return d, i
    if 0x90 <= t <= 0x9f:
        n, i, a = t & 0x0f, i + 1, []
        for _ in range(n):
            x, i = mp_decode(b, i)
            a.append(x)
        return a, i
    if 0xa0 <= t <= 0xbf:
        n = t & 0x1f
        return b[i + 1:i + 1 + n].decode(), i + 1 + n
    widths = {0xcc: ">B", 0xcd: ">H", 0xce: ">I", 0xcf: ">Q",
              0xd0: ">b", 0xd1: ">h", 0xd2: ">i", 0xd3: ">q", 0xca: ">f", 0xcb: ">d"}
    if t in widths:
        f = widths[t]
        n = struct.calcsize(f)
        return struct.unpack(f, b[i + 1:i + 1 + n])[0], i + 1 + n
    if t in (0xd9, 0xda, 0xdb, 0xc4, 0xc5, 0xc6):
        w = {0xd9: 1, 0xda: 2, 0xdb: 4, 0xc4: 1, 0xc5: 2, 0xc6: 4}[t]
        n = int.from_bytes(b[i + 1:i + 1 + w], "big")
        raw = b[i + 1 + w:i + 1 + w + n]
        assert len(raw) == n, "a string runs past the body"
        return (raw if t >= 0xc4 and t <= 0xc6 else raw.decode()), i + 1 + w + n
    raise ValueError(f"MessagePack type byte {t:#x} at {i}")


# ---- CBOR (RFC 8949) ----

def cb_head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for info, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if n < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | info]) + struct.pack(fmt, n)
    raise ValueError(n)


def cb_encode(v):
    if isinstance(v, bool):
        return b"\xf5" if v else b"\xf4"
    if isinstance(v, int):
        return cb_head(0, v) if v >= 0 else cb_head(1, -1 - v)
    if isinstance(v, float):
        return b"\xfb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        return cb_head(3, len(b)) + b
    if isinstance(v, bytes):
        return cb_head(2, len(v)) + v
    if isinstance(v, list):
        return cb_head(4, len(v)) + b"".join(cb_encode(x) for x in v)
    if isinstance(v, dict):
        return cb_head(5, len(v)) + b"".join(cb_encode(k) + cb_encode(x) for k, x in v.items())
    raise TypeError(type(v))


def cb_decode(b, i=0):
    major, info = b[i] >> 5, b[i] & 31
    i += 1
    if major == 7:
        if info in (20, 21):
            return info == 21, i
        if info == 26:
            return struct.unpack(">f", b[i:i + 4])[0], i + 4
        if info == 27:
            return struct.unpack(">d", b[i:i + 8])[0], i + 8
        raise ValueError(f"CBOR simple value {info} at {i - 1}")
    if info < 24:
        n = info
    elif info <= 27:
        w = 1 << (info - 24)
        n = int.from_bytes(b[i:i + w], "big")
        i += w
    else:
        raise ValueError(f"CBOR additional information {info} at {i - 1}")
    if major == 0:
        return n, i
    if major == 1:
        return -1 - n, i
    if major in (2, 3):
        raw = b[i:i + n]
        assert len(raw) == n, "a string runs past the body"
        return (raw if major == 2 else raw.decode()), i + n
    if major == 4:
        a = []
        for _ in range(n):
            x, i = cb_decode(b, i)
            a.append(x)
        return a, i
    if major == 5:
        d = {}
        for _ in range(n):
            k, i = cb_decode(b, i)
            d[k], i = cb_decode(b, i)
        return d, i
    raise ValueError(f"CBOR major type {major} at {i - 1}")


def kind(v):
    return {bool: "t", int: "n", float: "n", str: "s", bytes: "b"}.get(type(v)) or (
        "[" + "".join(kind(x) for x in v) + "]" if isinstance(v, list) else
        "{" + "".join(k + kind(x) for k, x in v.items()) + "}")


class ScrubMsgpackCbor(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="twin-msgpack-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def exchange(self, i, ct, body, response_json):
        resp = json.dumps(response_json).encode()
        return {"id": i, "origin_id": i, "session": i, "seq": 0, "stream": 0,
                "protocol": "http/1.1", "target": "",
                "time": {"request_start": i * 1000, "request_end": i * 1000 + 1,
                         "response_start": i * 1000 + 2, "response_end": i * 1000 + 3},
                "client": "10.0.0.1:40000", "server": "10.0.0.2:8080",
                "request": {"method": "POST", "target": "/users", "authority": "api.example",
                            "headers": [["content-type", ct],
                                        ["content-length", str(len(body))]],
                            "body": base64.b64encode(body).decode(), "body_encoding": "base64",
                            "body_size": len(body), "framing": "content-length"},
                "response": {"status": 200, "reason": "OK",
                             "headers": [["content-type", "application/json"],
                                         ["content-length", str(len(resp))]],
                             "body": resp.decode(), "body_size": len(resp),
                             "framing": "content-length"}}

    def test_values_scrubbed_documents_whole(self):
        packed = mp_encode(DOC)
        # the trap: the 48-byte key's str8 header is 0xd9 then '0'
        self.assertIn(b"\xd9\x30" + SECRET.encode(), packed)
        cases = [("application/msgpack", packed, mp_decode),
                 ("application/cbor", cb_encode(DOC), cb_decode)]
        rows = [self.exchange(i, ct, body, {"contact": DOC["email"], "owner": DOC["api_key"]})
                for i, (ct, body, _) in enumerate(cases)]
        src, key = archive_and_key(self.dir, rows)
        out = os.path.join(self.dir, "out.jsonl")
        report = os.path.join(self.dir, "report.json")
        r = subprocess.run([TWIN, "scrub", src, "-o", out, "--key-file", key,
                            "--report", report], capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        summary = r.stderr.decode()
        self.assertIn("1 MessagePack (0 malformed), 1 CBOR (0 malformed)", summary)
        for value in PERSONAL:
            self.assertNotIn(value, summary)
        with open(out) as f:
            got = [json.loads(line) for line in f if line.strip()]
        self.assertEqual(len(got), 2)
        for e, (ct, body, decode) in zip(got, cases):
            with self.subTest(ct):
                req = e["request"]
                now = base64.b64decode(req["body"]) if req.get("body_encoding") == "base64" \
                    else req["body"].encode()
                self.assertEqual(dict(req["headers"])["content-length"], str(len(now)))
                doc, end = decode(now)
                self.assertEqual(end, len(now), "one whole document")
                self.assertEqual(kind(doc), kind(DOC))
                for value in PERSONAL:
                    self.assertNotIn(value.encode(), now)
                contact = json.loads(e["response"]["body"])
                self.assertEqual(doc["email"], contact["contact"])  # one token per value
                self.assertRegex(doc["email"], r"^[^@\s]+@[^@\s]+\.[a-z]+$")
                self.assertEqual(doc["api_key"], contact["owner"])
                self.assertEqual(len(doc["api_key"]), len(SECRET))
                self.assertNotEqual(doc["first_name"], "Marguerite")  # by its key name
                self.assertNotEqual(doc["phone"], DOC["phone"])
                self.assertEqual(len(str(doc["phone"])), 10)
                self.assertNotEqual(doc["lat"], DOC["lat"])
                self.assertAlmostEqual(doc["lat"], DOC["lat"], delta=0.1)
                self.assertEqual(doc["id"], 4215)
                self.assertEqual(doc["tags"], ["gold", "beta"])
                self.assertEqual(len(doc["avatar"]), 6)
        with open(report) as f:
            rep = json.load(f)
        self.assertEqual(rep["residual"], 0)
        counters = rep["counters"]
        self.assertEqual(counters["msgpack_bodies"], 1)
        self.assertEqual(counters["cbor_bodies"], 1)
        self.assertEqual(counters["msgpack_malformed"] + counters["cbor_malformed"], 0)
        paths = {p["path"] for p in rep["report"]["fields"]}
        self.assertIn("request.json:first_name", paths)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)

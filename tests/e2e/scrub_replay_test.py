#!/usr/bin/env python3
"""Scrubbed traffic still drives the service the same way (issue 4's replay-level test).

The shop's traffic is recorded (shop --record, driven by shop_traffic), scrubbed with a key, and
replayed request by request, in capture order, against a fresh shop. The shop's own user data is
scrubbed with the same key and policy (shop --dump-users, twin scrub, shop --users): a token
depends only on the value and the key, so the e-mail a scrubbed login sends is the e-mail the
scrubbed shop knows. Then the statuses must be the same, request for request, as those of the
unscrubbed traffic replayed against a shop on the unscrubbed data; and, so that the test can
fail, the scrubbed traffic against the unscrubbed shop must not.

Until `twin replay` exists (issue 5) the replayer is the few lines of http.client below.

Usage: scrub_replay_test.py TWIN SHOP SHOP_TRAFFIC
"""

import base64
import collections
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import unittest

TWIN, SHOP, TRAFFIC = sys.argv[1:4] if len(sys.argv) >= 4 else ("twin", "shop", "shop_traffic")
SEED = "42"

# The default policy with two changes. Bearer tokens pass: the shop's tokens are keyed by its
# seed, so they are credentials of the test environment, valid in every shop started with that
# seed (a production token would be scrubbed and replaced by the replayer's login). Passwords
# become tokens instead of being redacted: a redacted wrong password equals a redacted right one,
# and the 401s of mistyped logins would turn into 200s.
POLICY = """version: 1
rules:
  - name: passwords
    where: ["json:**.password"]
    action: token
allow:
  where: ["header:authorization", "header:content-type", "header:content-length",
          "header:host", "header:accept*", "header:user-agent", "header:connection"]
"""


def run(args, **kw):
    r = subprocess.run(args, capture_output=True, timeout=120, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{args[0]} exited {r.returncode}: {r.stderr.decode()[-2000:]}")
    return r


class Shop:
    def __init__(self, *extra):
        self.proc = subprocess.Popen([SHOP, "--port", "0", "--seed", SEED, *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        self.proc.stdout.close()
        if not line.startswith("listening on "):
            self.stop()
            raise AssertionError(f"shop did not start: {line!r} {self.proc.stderr.read()[-500:]}")
        self.host, port = line.split()[-1].rsplit(":", 1)
        self.port = int(port)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stderr.close()


def exchanges(archive):
    out = run([TWIN, "cat", "--format", "jsonl", archive]).stdout.decode()
    xs = [json.loads(line) for line in out.splitlines() if line.strip()]
    return sorted(xs, key=lambda e: (e["time"]["request_start"] or 0, e["id"]))


def body_of(message):
    if message.get("body_encoding") == "base64":
        return base64.b64decode(message["body"])
    return message.get("body", "").encode()


HOP = {"host", "connection", "keep-alive", "transfer-encoding", "content-length"}


def replay(xs, shop):
    """Sends each request, in order, on one connection; returns the statuses."""
    statuses = []
    conn = http.client.HTTPConnection(shop.host, shop.port, timeout=30)
    for e in xs:
        rq = e["request"]
        headers = {k: v for k, v in rq["headers"] if k.lower() not in HOP}
        body = body_of(rq)
        try:
            conn.request(rq["method"], rq["target"], body=body or None, headers=headers)
            resp = conn.getresponse()
            resp.read()
        except (http.client.HTTPException, OSError):
            conn.close()
            conn = http.client.HTTPConnection(shop.host, shop.port, timeout=30)
            conn.request(rq["method"], rq["target"], body=body or None, headers=headers)
            resp = conn.getresponse()
            resp.read()
        statuses.append(resp.status)
        if resp.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection(shop.host, shop.port, timeout=30)
    conn.close()
    return statuses


class ScrubReplay(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="twin-scrub-replay-")
        self.addCleanup(self.dir.cleanup)

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def shop(self, *extra):
        s = Shop(*extra)
        self.addCleanup(s.stop)
        return s

    def test_scrubbed_traffic_gives_the_same_statuses(self):
        rec = self.path("recorded.twin")
        a = Shop("--record", rec)
        try:
            run([TRAFFIC, "--url", f"http://{a.host}:{a.port}", "--sessions", "40",
                 "--concurrency", "1", "--seed", "7"])
        finally:
            a.stop()
        with open(self.path("policy.yaml"), "w") as f:
            f.write(POLICY)
        with open(self.path("key"), "w") as f:
            f.write("5f1d3c0e9b8a7766554433221100ffeeddccbbaa99887766554433221100abcd\n")
        scrub = ["--policy", self.path("policy.yaml"), "--key-file", self.path("key"), "-q"]

        # The shop's data, scrubbed like its traffic: one exchange answering GET /api/users.
        users = run([SHOP, "--seed", SEED, "--dump-users"]).stdout.decode()
        xs = exchanges(rec)
        template = next(e for e in xs if e["request"]["target"].startswith("/api/users?"))
        template["request"]["target"] = "/api/users"
        template["response"]["body"] = users
        template["response"]["body_encoding"] = "utf8"
        template["response"]["body_size"] = len(users.encode())
        template["response"]["headers"] = [["Content-Type", "application/json"]]
        with open(self.path("users.jsonl"), "w") as f:
            f.write(json.dumps(template) + "\n")
        run([TWIN, "scrub", self.path("users.jsonl"), "-o", self.path("users-scrubbed.jsonl"),
             *scrub])
        with open(self.path("users-scrubbed.jsonl")) as f:
            scrubbed_users = json.loads(f.readline())["response"]["body"]
        self.assertNotEqual(json.loads(scrubbed_users)[0]["email"], json.loads(users)[0]["email"])
        with open(self.path("users.json"), "w") as f:
            f.write(scrubbed_users)

        run([TWIN, "scrub", rec, "-o", self.path("scrubbed.twin"), *scrub])
        ys = exchanges(self.path("scrubbed.twin"))
        self.assertEqual([e["id"] for e in ys], [e["id"] for e in xs])
        # The personal data really went: no e-mail of the recording is left.
        emails = {json.loads(body_of(e["request"]))["email"] for e in xs
                  if e["request"]["target"] == "/api/login"}
        self.assertGreater(len(emails), 5)
        scrubbed_text = json.dumps(ys)
        for m in emails:
            self.assertNotIn(m, scrubbed_text)

        original = replay(xs, self.shop())
        scrubbed = replay(ys, self.shop("--users", self.path("users.json")))
        mix = collections.Counter(original)
        self.assertGreaterEqual(set(mix), {200, 201, 401, 404}, f"a thin mix: {mix}")
        self.assertEqual(collections.Counter(scrubbed), mix)
        self.assertEqual(scrubbed, original, "statuses differ request for request")
        # The recording's own statuses agree too (the replay reproduces the capture).
        self.assertEqual(original, [e["response"]["status"] for e in xs])
        # Sensitivity: the scrubbed traffic against the unscrubbed data does not pass.
        mismatched = replay(ys, self.shop())
        self.assertNotEqual(collections.Counter(mismatched), mix)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1] + sys.argv[4:])

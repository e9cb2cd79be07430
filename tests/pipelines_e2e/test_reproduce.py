"""End-to-end tests of `twin reproduce` against examples/shop started with --sequence-bug: a
generated capture of 2000 requests in 300 sessions where exactly one session sends
GET /api/users/{id} and later GET /api/search (the pair the shop's per-connection bug needs); the
others hold one of the two, neither, or the search first. Minimization must find exactly those two
requests, and the curl script it writes must fail a fresh buggy shop and not a correct one.

Each test is one ctest entry:  python3 test_reproduce.py Reproduce.test_name
(TWIN_BIN, SHOP_BIN name the binaries; TWIN_E2E_KEEP=1 keeps the temporary directories.) Exit
code 77 means skipped. Helpers come from tests/replay_e2e/test_replay.py and
tests/capture_e2e/harness.py.
"""

import json
import os
import random
import re
import shutil
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "capture_e2e"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "replay_e2e"))

import harness as h  # noqa: E402
import test_replay as tr  # noqa: E402

MS = tr.MS
FIRST = "GET /api/users/{id}"
SECOND = "GET /api/search"
BUG = f"{FIRST}>{SECOND}"
SPEED = "4"  # the capture spans 2 s: a trial of the whole slice takes about 0.5 s

FILLER = ["/healthz", "/static/app.js", "/api/users?limit=5", "/static/style.css"]


def build_capture(case, sessions=300, requests=2000, seed=7):
    """The capture: returns (archive, {"bug_session", "first_id", "second_id", "healthz_id"}).
    Every session's requests are 20 ms apart (each answered in 1 ms), sessions start within the
    first 1.85 s."""
    rng = random.Random(seed)
    per = [requests // sessions + (1 if s < requests % sessions else 0) for s in range(sessions)]
    bug_session = 1 + sessions // 2
    kinds = ["first_only", "second_only", "second_then_first", "neither"]
    exchanges = []
    info = {"bug_session": bug_session}
    for s in range(1, sessions + 1):
        n = per[s - 1]
        paths = [rng.choice(FILLER) for _ in range(n)]
        kind = "bug" if s == bug_session else kinds[s % len(kinds)]
        if kind == "bug":
            paths[1] = "/api/users/7"
            paths[4] = "/api/search?q=lamp"
        elif kind == "first_only":
            paths[rng.randrange(n)] = f"/api/users/{rng.randrange(1, 200)}"
        elif kind == "second_only":
            paths[rng.randrange(n)] = "/api/search?q=desk"
            paths[rng.randrange(n)] = "/api/search?q=lamp"
        elif kind == "second_then_first":
            paths[0] = "/api/search?q=chair"
            paths[n - 1] = "/api/users/3"
        start = tr.BASE_NS + rng.randrange(0, 1850) * MS
        for k, p in enumerate(paths):
            exchanges.append(tr.gen_exchange(0, s, k, start + k * 20 * MS, p))
    # Ids in the order of request start, as a capture numbers them by completion.
    exchanges.sort(key=lambda e: (e["time"]["request_start"], e["session"], e["seq"]))
    for i, e in enumerate(exchanges, 1):
        e["id"] = i
        if e["session"] == bug_session and e["seq"] == 1:
            info["first_id"] = i
        if e["session"] == bug_session and e["seq"] == 4:
            info["second_id"] = i
        if "healthz_id" not in info and e["request"]["target"] == "/healthz":
            info["healthz_id"] = i
    assert len(exchanges) == requests
    return tr.write_capture(case.fresh("capture"), exchanges), info


def curl_statuses(stdout):
    """[(origin id, status)] from the script's `twin: origin ID: HTTP STATUS` lines."""
    return [(int(a), int(b)) for a, b in re.findall(r"twin: origin (\d+): HTTP (\d+)", stdout)]


class Reproduce(tr.Case):
    def setUp(self):
        super().setUp()
        self.need_shop()
        if not os.access(tr.twin(), os.X_OK):
            self.skipTest("twin is not built")

    def reproduce(self, archive, url, *extra, timeout=150, cwd=None):
        args = [tr.twin(), "reproduce", archive, "--target", url, "--speed", SPEED] + \
            [str(x) for x in extra]
        if cwd:
            args = ["sh", "-c", 'cd "$0" && exec "$@"', cwd] + args
        return h.run(args, timeout=timeout, check=False)

    def test_minimizes_to_the_two_requests(self):
        """The whole capture reproduces (status=5xx) in every trial; ddmin narrows 300 sessions
        to the one, then its 7 requests to the two that matter, in captured order; the archive
        holds exactly those two captured exchanges and the curl script fails a fresh buggy shop
        on its second request and not a correct shop."""
        capture, info = build_capture(self)
        out = self.tmp.join("min.twin")
        report = self.tmp.join("report.json")
        with tr.Shop(self.tmp.path, extra=["--sequence-bug", BUG], name="buggy") as shop:
            r = self.reproduce(capture, shop.url(), "--expect", "status=5xx", "--minimize",
                               "-o", out, "--json", report)
        self.assertEqual(r.returncode, 0, r.stderr_text[-4000:])
        err = r.stderr_text
        self.assertIn("reproduce: slice: 2000 requests in 300 sessions", err)
        self.assertIn("warning: no --reset", err)
        self.assertIn("reproduced in 3 of 3 trials", err)
        self.assertRegex(err, r"reproduce: trial 1: 300 sessions, 2000 requests: reproduced")
        self.assertRegex(err, r"reproduce: sessions: 300 -> 1 in \d+ trials")
        self.assertRegex(err, r"reproduce: requests: 7 -> 2 in \d+ trials")
        self.assertIn("reproduce: minimal: 2 requests in 1 session, reproduced in 3 of 3", err)
        # Only the second request of the pair is the 500 the trials saw.
        self.assertIn(f"origin {info['second_id']} (session {info['bug_session']}, seq 4): "
                      f"GET -> 500", err)
        self.assertNotIn("/api/", err)  # no paths (values) in messages

        with open(report) as f:
            rep = json.load(f)
        self.assertEqual(rep["verdict"], "reproduced")
        self.assertEqual(rep["rate"], 1.0)
        self.assertEqual(rep["minimized"], [info["first_id"], info["second_id"]])
        self.assertEqual([x["origin"] for x in rep["reproduced"]], [info["second_id"]])
        self.assertEqual(rep["reproduced"][0]["status"], 500)
        self.assertFalse(rep["minimize"]["capped"])
        self.assertEqual(rep["trial_count"], 3 + rep["minimize"]["trials"] + 3)
        self.assertLess(rep["trial_count"], 80)

        got = h.cat_jsonl(out)
        self.assertEqual([e["id"] for e in got], [info["first_id"], info["second_id"]])
        self.assertEqual([e["request"]["target"] for e in got],
                         ["/api/users/7", "/api/search?q=lamp"])
        script = os.path.splitext(out)[0] + ".sh"
        self.assertTrue(os.access(script, os.X_OK), "the curl script is executable")
        if not h.have("curl"):
            return
        with tr.Shop(self.tmp.path, extra=["--sequence-bug", BUG], name="fresh-buggy") as buggy:
            run = h.run(["bash", script, buggy.url()], timeout=60, check=False)
        self.assertEqual(run.returncode, 0, run.stderr_text)
        self.assertEqual(curl_statuses(run.stdout_text),
                         [(info["first_id"], 401), (info["second_id"], 500)])
        with tr.Shop(self.tmp.path, name="correct") as good:
            run = h.run(["bash", script, good.url()], timeout=60, check=False)
        self.assertEqual(run.returncode, 0, run.stderr_text)
        self.assertEqual(curl_statuses(run.stdout_text),
                         [(info["first_id"], 401), (info["second_id"], 200)])

    def test_flaky_is_reported_with_its_rate(self):
        """A route failing 30 % of the time (--error-rate): one health check per trial reproduces
        in some trials and not others: 'flaky' with the rate, exit 1, no -o written."""
        capture, info = build_capture(self)
        out = self.tmp.join("flaky.twin")
        report = self.tmp.join("flaky.json")
        with tr.Shop(self.tmp.path, extra=["--error-rate", "GET /healthz=0.3"]) as shop:
            r = self.reproduce(capture, shop.url(), "--filter", f"id={info['healthz_id']}",
                               "--expect", "status=500", "--trials", "10", "--minimize",
                               "-o", out, "--json", report)
        self.assertEqual(r.returncode, 1, r.stderr_text[-3000:])
        m = re.search(r"reproduce: flaky: reproduced in (\d+) of 10 trials \((\d+) %\)",
                      r.stderr_text)
        self.assertIsNotNone(m, r.stderr_text[-3000:])
        k = int(m.group(1))
        self.assertTrue(0 < k < 10)
        self.assertEqual(int(m.group(2)), k * 10)
        self.assertNotIn("reproduce: sessions:", r.stderr_text)  # not minimized
        self.assertFalse(os.path.exists(out))
        self.assertFalse(os.path.exists(os.path.splitext(out)[0] + ".sh"))
        with open(report) as f:
            rep = json.load(f)
        self.assertEqual(rep["verdict"], "flaky")
        self.assertAlmostEqual(rep["rate"], k / 10)
        self.assertEqual(rep["trial_count"], 10)

    def test_not_reproducing_exits_one(self):
        """An --expect nothing matches: 'does not reproduce', exit 1, no -o written."""
        capture, info = build_capture(self)
        out = self.tmp.join("none.twin")
        with tr.Shop(self.tmp.path, extra=["--sequence-bug", BUG]) as shop:
            r = self.reproduce(capture, shop.url(), "--window", "0..0.5", "--expect",
                               'status=418 body~"teapot"', "--trials", "2", "--minimize",
                               "-o", out, "-q")
        self.assertEqual(r.returncode, 1, r.stderr_text[-3000:])
        self.assertIn("reproduce: does not reproduce", r.stderr_text)
        self.assertNotIn("reproduce: trial", r.stderr_text)  # -q: only the verdict
        self.assertEqual(len(r.stderr_text.strip().splitlines()), 1, r.stderr_text)
        self.assertFalse(os.path.exists(out))

    def test_reset_runs_once_per_trial(self):
        """--reset runs (in the current directory) before every trial: the count it keeps equals
        the trials reported in --json, through reliability, minimization and the re-check."""
        capture, info = build_capture(self)
        work = self.tmp.join("work")
        os.makedirs(work)
        report = self.tmp.join("reset.json")
        sessions = f"{info['bug_session']}|{info['bug_session'] + 1}|{info['bug_session'] + 2}"
        with tr.Shop(self.tmp.path, extra=["--sequence-bug", BUG]) as shop:
            r = self.reproduce(capture, shop.url(), "--filter", f"session={sessions}",
                               "--expect", "status=5xx route=/api/search", "--trials", "2",
                               "--minimize", "--reset", "echo reset >> count.txt",
                               "--json", report, cwd=work)
        self.assertEqual(r.returncode, 0, r.stderr_text[-3000:])
        self.assertNotIn("warning: no --reset", r.stderr_text)
        with open(report) as f:
            rep = json.load(f)
        with open(os.path.join(work, "count.txt")) as f:
            count = len(f.read().splitlines())
        self.assertEqual(count, rep["trial_count"])
        self.assertEqual(rep["minimized"], [info["first_id"], info["second_id"]])
        self.assertEqual(len(re.findall(r"reproduce: trial \d+:", r.stderr_text)), count)
        # The reset command's output does not reach standard output.
        self.assertEqual(r.stdout_text, "")

    def test_bad_flags_exit_two_with_one_line(self):
        """Usage and input errors: exit 2, one line naming the flag, the column or the file; a
        failing --reset names its exit status and stops at once."""
        capture, info = build_capture(self, sessions=20, requests=100)
        url = "http://127.0.0.1:9"  # never contacted: every case fails before a trial
        cases = [
            (["--expect", "stauts=5xx"], "--expect: column 1: unknown key 'stauts'"),
            (["--expect", "status=5xx route~("], "--expect: column 18: bad regular expression"),
            (["--expect", "status=5xx", "--filter", "method"], "--filter: column 7"),
            (["--expect", "status=5xx", "--window", "yesterday..today"], "--window 'yesterday'"),
            (["--expect", "status=5xx", "--window", "30"], "--window '30': expected FROM..TO"),
            (["--expect", "status=5xx", "--trials", "0"], "--trials"),
            (["--expect", "status=5xx", "--speed", "-1"], "--speed"),
            ([], "--expect"),
            (["--expect", ""], "--expect: give a condition"),
            (["--expect", "status=5xx", "--filter", "id=999999"], "nothing to replay"),
            # 100 requests in the slice, 99 allowed: the 100th read is the one refused.
            (["--expect", "status=5xx", "--max-requests", "99"],
             "exchange 100: the slice exceeds --max-requests 99"),
        ]
        for extra, names in cases:
            r = self.reproduce(capture, url, *extra)
            self.assertEqual(r.returncode, 2, f"{extra}: {r.stderr_text}")
            lines = r.stderr_text.strip().splitlines()
            self.assertEqual(len(lines), 1, f"{extra}: {r.stderr_text}")
            self.assertIn(names, lines[0], extra)
        r = h.run([tr.twin(), "reproduce", capture, "--target", "ftp://h", "--expect",
                   "status=5xx"], check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("ftp://h", r.stderr_text)
        r = h.run([tr.twin(), "reproduce", self.tmp.join("missing.twin"), "--target", url,
                   "--expect", "status=5xx"], check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("missing.twin", r.stderr_text)
        # A failing reset: exit 2, its status named, its output not repeated, no trial run.
        r = self.reproduce(capture, url, "--expect", "status=5xx", "--reset",
                           "echo secret-output >&2; exit 3", "-q")
        self.assertEqual(r.returncode, 2, r.stderr_text)
        self.assertIn("twin: reproduce: --reset: the command exited with status 3",
                      r.stderr_text)
        self.assertEqual(r.stderr_text.count("secret-output"), 1)  # its own stderr, only


def main():
    if len(sys.argv) < 2:
        print("usage: test_reproduce.py Reproduce.test_name ...", file=sys.stderr)
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

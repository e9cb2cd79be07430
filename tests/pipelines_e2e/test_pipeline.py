"""End-to-end tests of `twin pipeline run` (docs/pipeline.md): pipeline files written by the
tests, run against real shops (examples/shop) on 127.0.0.1, with a webhook receiver of their own.

- Gate.test_full_gate: capture (an archive) → filter → scrub → replay → compare against a baseline
  and a regressed candidate, three webhooks (json, github, one answering 500); the exit code,
  pipeline.json, the reports, the webhook bodies and headers, and that no secret is printed.
- Gate.test_from_replay: --from/--to rerun later stages without touching earlier archives; a
  missing input and an unknown stage are errors.
- Readiness.*: a candidate that comes up late is waited for; one that never does stops the
  pipeline before the replay, and a `when: failure` webhook says so. A target that never
  comes up is probed until the whole timeout has passed.
- FileErrors.*: unknown keys and unset variables with FILE:LINE:COL, defaults, two capture
  sources; --dry-run prints commands that, run by hand, give the same verdict.
- Failing.test_scrub_without_key: a stage that fails stops the pipeline (exit 2).
- Live.*: capture -i lo with `while:` (root only) against the shop's own record; a `while:`
  command that fails.

Each test is one ctest entry:  python3 test_pipeline.py TestCase.test_name
(TWIN_BIN, SHOP_BIN and SHOP_TRAFFIC_BIN name the binaries; TWIN_E2E_KEEP=1 keeps the temporary
directories, TWIN_E2E_VERBOSE=1 prints every command.) Exit code 77 means skipped. Python 3
standard library only; the harness is tests/capture_e2e/harness.py, the shop helpers come from
tests/replay_e2e/test_replay.py.
"""

import collections
import http.server
import json
import os
import re
import secrets
import shlex
import sys
import threading
import time
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get("TWIN_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "capture_e2e"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "replay_e2e"))

import harness as h  # noqa: E402
import test_replay as tr  # noqa: E402

POLICY = os.path.join(REPO, "examples", "policies", "shop.yaml")
GATE = os.path.join(REPO, "examples", "gates", "shop.yaml")

# The candidate's planted regressions (examples/shop/faults.h): every search 15 ms slower, 30 % of
# user lookups answer 500. The rest of the shop is unchanged.
REGRESSION = ["--latency", "GET /api/search=15", "--error-rate", "GET /api/users/{id}=0.3"]
PLANTED = {"GET /api/search", "GET /api/users/{id}"}
# Recorded sessions are moved GAP_MS apart (tr.respace_sessions): a candidate session lasts at
# most 45 ms longer (three searches), so no two sessions overlap on replay and every shop creates
# the same orders in the same order (order ids are global) — the verdict names only PLANTED.
GAP_MS = 80
PIPELINE_TIMEOUT = 150
REPORT_KINDS = {"json": "compare.json", "markdown": "compare.md", "junit": "compare.xml",
                "html": "compare.html"}


def setUpModule():
    r = h.run([tr.twin(), "pipeline", "run", "--help"], timeout=30, check=False)
    if r.returncode != 0:
        raise AssertionError(f"twin pipeline run --help exited {r.returncode}: "
                             f"{r.stderr_text[-500:]}")


def yq(s):
    """`s` as a YAML single-quoted scalar."""
    return "'" + str(s).replace("'", "''") + "'"


def pipeline_env(**extra):
    """The environment of a pipeline run: ours, without a scrub key, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k != "TWIN_SCRUB_KEY"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def file_id(path):
    st = os.stat(path)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def stage_names(run):
    return [s["stage"] for s in run["stages"]]


# ---------------------------------------------------------------------------------------------
# a webhook receiver


class Webhooks:
    """An HTTP server on 127.0.0.1 (a port the kernel picks) in a thread, recording every POST:
    path, headers (lower-case names) and JSON body. Paths ending in /fail answer 500."""

    def __init__(self):
        self.posts = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"unparsed": raw.decode(errors="replace")}
                with outer.lock:
                    outer.posts.append({"path": self.path,
                                        "headers": {k.lower(): v for k, v in self.headers.items()},
                                        "body": body})
                status = 500 if self.path.endswith("/fail") else 201
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        # The URL's path holds a secret, as a Slack webhook's does: it must never be printed.
        self.secret = "hk-" + secrets.token_hex(12)
        self.base = f"http://127.0.0.1:{self.port}/hooks/{self.secret}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def to(self, name):
        with self.lock:
            return [p for p in self.posts if p["path"].endswith("/" + name)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------------------------
# the shops' test environment


class Case(tr.Case):
    def setUp(self):
        unittest.TestCase.setUp(self)
        self.tmp = h.TempDir(prefix=f"twin-pipeline-e2e-{self._testMethodName}-")
        self._n = 0  # tr.Case.fresh
        self.need_shop()
        self.work = self.tmp.join("work")
        os.makedirs(self.work)

    def write(self, name, text):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def shop(self, name, *extra, port=None, start=True):
        s = tr.Shop(self.tmp.path, name=name, extra=list(extra))
        if port is not None:
            s.args[s.args.index("--port") + 1] = str(port)
        self.addCleanup(s.stop)
        return s.start() if start else s

    def hooks(self):
        w = Webhooks()
        self.addCleanup(w.close)
        return w

    def key_file(self):
        path = self.tmp.join("scrub.key")
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write(secrets.token_hex(32))
        return path

    def scrubbed_users(self):
        """The shop's users scrubbed with the test's key and the shop policy, as scripts/demo.sh
        makes them: the data of test shops that scrubbed traffic can log in to."""
        out = self.tmp.join("users-scrubbed.json")
        if os.path.exists(out):
            return out
        users = h.run([tr.shop_bin(), "--seed", "42", "--dump-users"], timeout=30).stdout_text
        e = {"id": 1, "session": 1, "seq": 0, "protocol": "http/1.1",
             "request": {"method": "GET", "target": "/api/users", "headers": []},
             "response": {"status": 200, "headers": [["Content-Type", "application/json"]],
                          "body": users, "body_encoding": "utf8",
                          "body_size": len(users.encode())}}
        src, dst = self.tmp.join("users.jsonl"), self.tmp.join("users-scrubbed.jsonl")
        with open(src, "w") as f:
            f.write(json.dumps(e) + "\n")
        h.run([tr.twin(), "scrub", src, "-o", dst, "-q", "--policy", POLICY,
               "--key-file", self.key_file()], timeout=60)
        with open(dst) as f:
            body = json.loads(f.readline())["response"]["body"]
        with open(out, "w") as f:
            f.write(body)
        return out

    def gate_shops(self, regressed=True, tag=""):
        """A baseline and a candidate (regressed or not) on the scrubbed users."""
        users = self.scrubbed_users()
        base = self.shop("baseline" + tag, "--users", users)
        cand = self.shop("candidate" + tag, "--users", users, *(REGRESSION if regressed else ()))
        return base, cand

    def run_pipeline(self, path, *args, env=None, timeout=PIPELINE_TIMEOUT):
        t0 = time.monotonic()
        r = h.run([tr.twin(), "pipeline", "run", path] + [str(a) for a in args],
                  timeout=timeout, check=False, env=env)
        r.wall = time.monotonic() - t0
        r.describe = (f"twin pipeline run {os.path.basename(path)} {' '.join(map(str, args))} "
                      f"exited {r.returncode} after {r.wall:.1f} s\n--- stdout\n"
                      f"{r.stdout_text[-3000:]}\n--- stderr\n{r.stderr_text[-6000:]}")
        return r

    def expect(self, r, code):
        self.assertEqual(r.returncode, code, r.describe)

    def run_json(self, workdir):
        with open(os.path.join(workdir, "pipeline.json")) as f:
            return json.load(f)


GATE_FILE = """\
version: 1
name: pe2e-gate
workdir: out

stages:
  capture:
    archive: {capture}
  filter:
    where: "route!=/healthz|/static/**"
    output: filtered.twin
  scrub:
    policy: {policy}
    key_file: {key}
    report: scrub-report.json
    output: scrubbed.twin
  replay:
    targets:
      baseline: ${{BASELINE_URL}}
      candidate: ${{CANDIDATE_URL}}
    ready:
      path: /healthz
      timeout: 20
    summary: replay-summary.json
    output: replayed.twin
  compare:
    baseline: baseline
    candidate: candidate
    gate: {gate}
    reports:
      json: compare.json
      markdown: compare.md
      junit: compare.xml
      html: compare.html
{notify}"""

NOTIFY = """
notify:
  - url: ${HOOK_URL}/json
    format: json
    when: always
  - url: ${HOOK_URL}/github
    format: github
    when: always
    headers:
      Authorization: "Bearer ${TEST_TOKEN}"
  - url: ${HOOK_URL}/fail
    format: slack
"""


class Gate(Case):
    def gate_file(self, capture, notify=True):
        return self.write("gate.yaml", GATE_FILE.format(
            capture=yq(capture), policy=yq(POLICY), key=yq(self.key_file()), gate=yq(GATE),
            notify=NOTIFY if notify else ""))

    def test_full_gate(self):
        """capture (archive) → filter → scrub → replay → compare against a regressed candidate,
        with json, github and failing webhooks: exit 1, every stage in pipeline.json, the planted
        regressions in the reports and the webhooks, and neither the token nor the webhook URL's
        secret anywhere in the output."""
        capture, captured, _ = tr.record_shop(self, sessions=40, traffic_seed=5, gap_ms=GAP_MS)
        paths = {e["request"]["target"].split("?")[0] for e in captured}
        self.assertIn("/healthz", paths, "shop_traffic sent no /healthz: pick another seed")
        self.assertTrue(any(p.startswith("/static/") for p in paths))
        base, cand = self.gate_shops(regressed=True)
        hooks = self.hooks()
        token = "tok-" + secrets.token_hex(16)
        path = self.gate_file(capture)
        out = os.path.join(self.work, "out")
        r = self.run_pipeline(path, env=pipeline_env(
            BASELINE_URL=base.url(), CANDIDATE_URL=cand.url(), HOOK_URL=hooks.base,
            TEST_TOKEN=token))
        self.expect(r, 1)

        # The run's record.
        run = self.run_json(out)
        self.assertEqual(run["verdict"], "regressed")
        self.assertEqual(run["exit_code"], 1)
        self.assertIsNone(run["failed_stage"])
        self.assertEqual(stage_names(run), ["capture", "filter", "scrub", "replay", "compare"])
        codes = {s["stage"]: s["exit_code"] for s in run["stages"]}
        self.assertEqual(codes, {"capture": 0, "filter": 0, "scrub": 0, "replay": 0, "compare": 1})
        for s in run["stages"][1:]:
            self.assertTrue(s["command"].startswith(f"twin {s['stage']} "), s)
            self.assertGreater(s["seconds"], 0, s)
        probes = {p["target"]: p for p in next(s for s in run["stages"]
                                               if s["stage"] == "replay")["probes"]}
        self.assertEqual(set(probes), {"baseline", "candidate"})
        self.assertTrue(all(p["ready"] and p["status"] == 200 for p in probes.values()), probes)
        self.assertGreaterEqual(set(run["regressed"]), PLANTED, run["regressed"])
        # The third webhook answers 500: reported, and the verdict stands.
        self.assertEqual([(n["format"], n["ok"], n["status"]) for n in run["notified"]],
                         [("json", True, 201), ("github", True, 201), ("slack", False, 500)],
                         run["notified"])
        fail_line, _ = line_col(open(path).read(), "${HOOK_URL}/fail")
        self.assertIn(f"the slack webhook (line {fail_line}) failed: HTTP 500", r.stderr_text)
        self.assertEqual(set(run["reports"]), set(REPORT_KINDS))

        # The filter dropped the health checks and static files, and nothing else.
        filtered = h.cat_jsonl(os.path.join(out, "filtered.twin"))
        kept = [e["request"]["target"] for e in filtered]
        self.assertFalse([t for t in kept if t == "/healthz" or t.startswith("/static/")], kept)
        dropped = [e for e in captured if e["request"]["target"] == "/healthz" or
                   e["request"]["target"].startswith("/static/")]
        self.assertEqual(len(filtered), len(captured) - len(dropped))
        # The scrub removed the login e-mails.
        emails = {json.loads(e["request"]["body"])["email"] for e in captured
                  if e["request"]["target"] == "/api/login" and e["request"].get("body")}
        self.assertTrue(emails)
        scrubbed = json.dumps(h.cat_jsonl(os.path.join(out, "scrubbed.twin")))
        self.assertEqual([m for m in emails if m in scrubbed], [])
        with open(os.path.join(out, "replay-summary.json")) as f:
            summary = json.load(f)["targets"]
        for name in ("baseline", "candidate"):
            self.assertEqual(summary[name]["sent"], len(filtered), name)

        # The reports.
        for kind, name in REPORT_KINDS.items():
            p = os.path.join(out, name)
            self.assertTrue(os.path.getsize(p) > 0, p)
            self.assertEqual(os.path.realpath(run["reports"][kind]), os.path.realpath(p))
        with open(os.path.join(out, "compare.json")) as f:
            report = json.load(f)
        self.assertEqual(report["verdict"], "regressed")
        regressed = {f"{x['method']} {x['route']}" for x in report["routes"]
                     if x["verdict"] == "regressed"}
        self.assertGreaterEqual(regressed, PLANTED, json.dumps(report["routes"])[:4000])
        self.assertEqual(set(run["regressed"]), regressed)
        self.assertEqual(report["counters"]["paired"], len(filtered))
        junit = ET.parse(os.path.join(out, "compare.xml")).getroot()
        self.assertGreaterEqual(int(junit.get("failures")), len(PLANTED))
        with open(os.path.join(out, "compare.md")) as f:
            self.assertIn("/api/search", f.read())
        with open(os.path.join(out, "compare.html")) as f:
            self.assertIn("<svg", f.read())

        # The webhooks.
        j = hooks.to("json")
        self.assertEqual(len(j), 1, hooks.posts)
        body = j[0]["body"]
        self.assertEqual(j[0]["headers"].get("content-type"), "application/json")
        self.assertEqual(body["pipeline"], "pe2e-gate")
        self.assertEqual(body["verdict"], "regressed")
        self.assertEqual(body["exit_code"], 1)
        self.assertIsNone(body["failed_stage"])
        self.assertEqual(set(body["regressed"]), regressed)
        self.assertEqual(body["counts"].get("paired"), len(filtered), body["counts"])
        self.assertEqual({k: os.path.realpath(v) for k, v in body["reports"].items()},
                         {k: os.path.realpath(os.path.join(out, v))
                          for k, v in REPORT_KINDS.items()})
        self.assertIn("REGRESSED", body["text"])
        self.assertIn("GET /api/search", body["text"])
        g = hooks.to("github")
        self.assertEqual(len(g), 1, hooks.posts)
        self.assertEqual(g[0]["body"]["state"], "failure")
        self.assertEqual(g[0]["body"]["context"], "twin/pe2e-gate")
        self.assertLessEqual(len(g[0]["body"]["description"]), 140)
        self.assertEqual(g[0]["headers"].get("authorization"), f"Bearer {token}")
        self.assertNotIn("authorization", j[0]["headers"])
        s = hooks.to("fail")
        self.assertEqual(len(s), 1, hooks.posts)
        self.assertIn("REGRESSED", s[0]["body"]["text"])

        # No secret in what the pipeline printed or wrote.
        with open(os.path.join(out, "pipeline.json")) as f:
            record = f.read()
        for where, text in (("stdout", r.stdout_text), ("stderr", r.stderr_text),
                            ("pipeline.json", record)):
            self.assertNotIn(token, text, f"the token is in the pipeline's {where}")
            self.assertNotIn(hooks.secret, text, f"the webhook URL is in the pipeline's {where}")
        # The last line: the verdict and the HTML report.
        self.assertRegex(r.stderr_text, r"twin: pe2e-gate: REGRESSED .*\(exit 1\)")
        self.assertIn(f"HTML report: {os.path.join(out, 'compare.html')}", r.stderr_text)

    def test_from_replay(self):
        """After a full run: --from replay rewrites nothing before replay; --from compare --to
        compare runs compare alone; --from replay without the scrub's archive and --from with an
        unknown stage are errors (exit 2)."""
        capture, _, _ = tr.record_shop(self, sessions=12, traffic_seed=5, gap_ms=GAP_MS)
        base, cand = self.gate_shops(regressed=True)
        path = self.gate_file(capture, notify=False)
        out = os.path.join(self.work, "out")
        env = pipeline_env(BASELINE_URL=base.url(), CANDIDATE_URL=cand.url())
        r = self.run_pipeline(path, env=env)
        self.assertIn(r.returncode, (0, 1), r.describe)
        earlier = {p: file_id(p) for p in
                   [capture] + [os.path.join(out, n) for n in
                                ("filtered.twin", "scrubbed.twin", "scrub-report.json")]}
        replayed = os.path.join(out, "replayed.twin")
        report = os.path.join(out, "compare.json")
        before = file_id(replayed), file_id(report)
        time.sleep(0.05)  # a rewrite shows in the mtime even on coarse clocks

        r = self.run_pipeline(path, "--from", "replay", env=env)
        self.assertIn(r.returncode, (0, 1), r.describe)
        run = self.run_json(out)
        self.assertEqual(stage_names(run), ["replay", "compare"])
        self.assertIsNone(run["failed_stage"])
        self.assertIn(run["verdict"], ("pass", "regressed"))
        for p, ident in earlier.items():
            self.assertEqual(file_id(p), ident, f"{p} was rewritten by --from replay")
        self.assertNotEqual(file_id(replayed), before[0], "--from replay did not replay")
        self.assertNotEqual(file_id(report), before[1], "--from replay did not compare")
        self.assertNotIn("pipeline: filter:", r.stderr_text)
        self.assertNotIn("pipeline: scrub:", r.stderr_text)

        replayed_id = file_id(replayed)
        report_id = file_id(report)
        time.sleep(0.05)
        r = self.run_pipeline(path, "--from", "compare", "--to", "compare", env=env)
        self.assertIn(r.returncode, (0, 1), r.describe)
        run = self.run_json(out)
        self.assertEqual(stage_names(run), ["compare"])
        self.assertEqual(file_id(replayed), replayed_id, "--from compare replayed")
        self.assertNotEqual(file_id(report), report_id, "--from compare did not compare")
        for p, ident in earlier.items():
            self.assertEqual(file_id(p), ident, f"{p} was rewritten by --from compare")

        scrubbed = os.path.join(out, "scrubbed.twin")
        os.rename(scrubbed, scrubbed + ".away")
        r = self.run_pipeline(path, "--from", "replay", env=env)
        self.expect(r, 2)
        self.assertIn(scrubbed, r.stderr_text)
        self.assertEqual(file_id(replayed), replayed_id, "replay ran without its input")
        run = self.run_json(out)
        self.assertEqual(run["failed_stage"], "replay")
        self.assertEqual(run["verdict"], "error")
        self.assertEqual(run["exit_code"], 2)

        r = self.run_pipeline(path, "--from", "nosuch", env=env)
        self.expect(r, 2)
        self.assertIn("nosuch", r.stderr_text)
        r = self.run_pipeline(path, "--from", "compare", "--to", "replay", env=env)
        self.expect(r, 2)
        self.assertEqual(file_id(replayed), replayed_id)


# ---------------------------------------------------------------------------------------------
# readiness

READY_FILE = """\
version: 1
name: pe2e-ready
workdir: out

stages:
  capture:
    archive: {capture}
  replay:
    targets:
      baseline: {baseline}
      candidate: {candidate}
    ready:
      path: /healthz
      timeout: {timeout}
      status: 200
    output: replayed.twin
  compare:
    gate: {gate}
{notify}"""


class Readiness(Case):
    def ready_file(self, capture, baseline, candidate, timeout, notify=""):
        return self.write("ready.yaml", READY_FILE.format(
            capture=yq(capture), baseline=yq(baseline), candidate=yq(candidate),
            timeout=timeout, gate=yq(GATE), notify=notify))

    def test_late_target_waited_for(self):
        """The candidate starts 1.5 s after the pipeline: the probe waits for it (several
        attempts, recorded in pipeline.json) and the gate runs to its verdict."""
        capture, captured, _ = tr.record_shop(self, sessions=8, traffic_seed=5, gap_ms=GAP_MS)
        base = self.shop("baseline")
        port = h.free_port()
        cand = self.shop("candidate", port=port, start=False)
        path = self.ready_file(capture, base.url(), f"http://127.0.0.1:{port}", 30)
        proc = h.Proc([tr.twin(), "pipeline", "run", path], name="pipeline", workdir=self.work,
                      env=pipeline_env())
        self.addCleanup(proc.kill)
        time.sleep(1.5)
        self.assertIsNone(proc.poll(), f"the pipeline did not wait: {proc.stderr_text()[-3000:]}")
        cand.start()
        self.assertEqual(cand.port, port)
        code = proc.wait(PIPELINE_TIMEOUT)
        self.assertIn(code, (0, 1), proc.stderr_text()[-5000:])
        run = self.run_json(os.path.join(self.work, "out"))
        self.assertIsNone(run["failed_stage"])
        replay = next(s for s in run["stages"] if s["stage"] == "replay")
        probes = {p["target"]: p for p in replay["probes"]}
        self.assertTrue(probes["candidate"]["ready"], probes)
        self.assertEqual(probes["candidate"]["status"], 200, probes)
        self.assertGreater(probes["candidate"]["attempts"], 1, probes)
        self.assertGreaterEqual(probes["candidate"]["seconds"], 1.0, probes)
        self.assertTrue(probes["baseline"]["ready"], probes)
        self.assertLess(probes["baseline"]["seconds"], 1.0, probes)
        self.assertRegex(proc.stderr_text(), r"target candidate ready after \d+\.\d s")
        replayed = h.cat_jsonl(os.path.join(self.work, "out", "replayed.twin"))
        self.assertEqual(len(replayed), 2 * len(captured))

    def test_target_never_ready(self):
        """A target that never comes up, ready.timeout 2: exit 2 within 2-6 s, stderr names the
        target, nothing is replayed, and only the `when: failure` webhook is called, with
        verdict "error" and failed_stage "replay"."""
        capture, _, _ = tr.record_shop(self, sessions=3, traffic_seed=5)
        base = self.shop("baseline")
        dead = h.free_port()
        hooks = self.hooks()
        notify = ("notify:\n"
                  "  - url: ${HOOK_URL}/failure\n    when: failure\n"
                  "  - url: ${HOOK_URL}/regression\n    format: slack\n    when: regression\n"
                  "  - url: ${HOOK_URL}/github\n    format: github\n")
        path = self.ready_file(capture, base.url(), f"http://127.0.0.1:{dead}", 2, notify)
        r = self.run_pipeline(path, env=pipeline_env(HOOK_URL=hooks.base), timeout=60)
        self.expect(r, 2)
        # >= 1.5, not 2: the prober gives up before its timeout (test_probe_uses_whole_timeout).
        self.assertGreaterEqual(r.wall, 1.5, r.describe)
        self.assertLess(r.wall, 6.0, r.describe)
        self.assertRegex(r.stderr_text, r"target candidate .*not ready")
        self.assertNotRegex(r.stderr_text, r"target baseline .*not ready")
        out = os.path.join(self.work, "out")
        self.assertFalse(os.path.exists(os.path.join(out, "replayed.twin")))
        self.assertFalse(os.path.exists(os.path.join(out, "compare.json")))
        run = self.run_json(out)
        self.assertEqual(run["failed_stage"], "replay")
        self.assertEqual(run["verdict"], "error")
        self.assertEqual(stage_names(run), ["capture", "replay"])
        probes = {p["target"]: p for p in run["stages"][-1]["probes"]}
        self.assertFalse(probes["candidate"]["ready"], probes)
        self.assertGreater(probes["candidate"]["attempts"], 1, probes)
        self.assertTrue(probes["baseline"]["ready"], probes)
        f = hooks.to("failure")
        self.assertEqual(len(f), 1, hooks.posts)
        self.assertEqual(f[0]["body"]["verdict"], "error")
        self.assertEqual(f[0]["body"]["failed_stage"], "replay")
        self.assertEqual(f[0]["body"]["exit_code"], 2)
        self.assertEqual(f[0]["body"]["regressed"], [])
        self.assertEqual(hooks.to("regression"), [])
        g = hooks.to("github")
        self.assertEqual(len(g), 1, hooks.posts)
        self.assertEqual(g[0]["body"]["state"], "error")
        self.assertNotIn(hooks.secret, r.stdout_text + r.stderr_text)

    def test_probe_uses_whole_timeout(self):
        """A target that never comes up is probed until ready.timeout (2 s) has passed."""
        capture, _, _ = tr.record_shop(self, sessions=1, traffic_seed=5)
        dead = h.free_port()
        path = self.ready_file(capture, f"http://127.0.0.1:{dead}", f"http://127.0.0.1:{dead}",
                               2)
        r = self.run_pipeline(path, env=pipeline_env(), timeout=60)
        self.expect(r, 2)
        run = self.run_json(os.path.join(self.work, "out"))
        for p in run["stages"][-1]["probes"]:
            self.assertFalse(p["ready"], p)
            self.assertGreaterEqual(p["seconds"], 1.95, p)
        self.assertGreaterEqual(r.wall, 2.0, r.describe)


# ---------------------------------------------------------------------------------------------
# the file


def line_col(text, needle):
    """1-based line and column of the first `needle` in `text`."""
    for n, line in enumerate(text.splitlines(), 1):
        c = line.find(needle)
        if c >= 0:
            return n, c + 1
    raise AssertionError(f"{needle!r} not in the text")


def dry_words(stdout):
    """Every word of the commands --dry-run printed (comments left out)."""
    return [w for line in stdout.splitlines() for w in shlex.split(line, comments=True)]


DRY_FILE = """\
version: 1
name: pe2e-dry
workdir: ${{PE2E_WORKDIR:-out-default}}

stages:
  capture:
    archive: {capture}
  filter:
    where: "route!=/healthz|/static/**"
  scrub:
    policy: {policy}
    key_file: {key}
  replay:
    targets:
      baseline: ${{BASELINE_URL}}
      candidate: ${{CANDIDATE_URL:-http://127.0.0.1:9}}
    ready:
      path: /healthz
  compare:
    gate: {gate}
    reports:
      json: compare.json
      junit: compare.xml
"""


class FileErrors(Case):
    def test_unknown_key(self):
        """`gaet:` under compare: exit 2, FILE:LINE:COL of the key, nothing run."""
        text = READY_FILE.format(capture=yq("/nonexistent.twin"), baseline="http://127.0.0.1:9",
                                 candidate="http://127.0.0.1:9", timeout=1, gate=yq(GATE),
                                 notify="").replace("    gate:", "    gaet:")
        path = self.write("typo.yaml", text)
        line, col = line_col(text, "gaet:")
        r = self.run_pipeline(path, timeout=30)
        self.expect(r, 2)
        self.assertIn(f"{path}:{line}:{col}:", r.stderr_text)
        self.assertIn("gaet", r.stderr_text)
        self.assertFalse(os.path.exists(os.path.join(self.work, "out")), "a wrong file ran")
        # The same under the file's root, and in a notify item.
        for bad, needle in (("naem: x\n", "naem:"),
                            ("notify:\n  - url: http://127.0.0.1:9/x\n    whem: always\n",
                             "whem:")):
            text2 = text.replace("    gaet:", "    gate:") + bad
            path2 = self.write("typo2.yaml", text2)
            line, col = line_col(text2, needle)
            r = self.run_pipeline(path2, timeout=30)
            self.expect(r, 2)
            self.assertIn(f"{path2}:{line}:{col}:", r.stderr_text)

    def test_unset_variable_and_default(self):
        """An unset ${VAR} without default: exit 2 with line, column and the name; ${VAR:-x}
        takes x when VAR is unset or empty and VAR's value when set (seen in --dry-run)."""
        capture = self.tmp.join("none.twin")
        text = DRY_FILE.format(capture=yq(capture), policy=yq(POLICY), key=yq(self.key_file()),
                               gate=yq(GATE))
        path = self.write("vars.yaml", text)
        env = pipeline_env()
        for k in ("BASELINE_URL", "CANDIDATE_URL", "PE2E_WORKDIR"):
            env.pop(k, None)
        r = self.run_pipeline(path, "--dry-run", env=env, timeout=30)
        self.expect(r, 2)
        line, col = line_col(text, "${BASELINE_URL}")
        self.assertIn(f"{path}:{line}:{col}:", r.stderr_text)
        self.assertIn("BASELINE_URL", r.stderr_text)
        self.assertEqual(r.stdout_text, "")

        env["BASELINE_URL"] = "http://127.0.0.1:7"
        r = self.run_pipeline(path, "--dry-run", env=env, timeout=30)
        self.expect(r, 0)
        self.assertIn(f"mkdir -p {os.path.join(self.work, 'out-default')}", r.stdout_text)
        self.assertIn("candidate=http://127.0.0.1:9", dry_words(r.stdout_text))
        self.assertIn("baseline=http://127.0.0.1:7", dry_words(r.stdout_text))
        self.assertFalse(os.path.exists(os.path.join(self.work, "out-default")),
                         "--dry-run created the workdir")
        env.update(PE2E_WORKDIR="", CANDIDATE_URL="http://127.0.0.1:8")  # empty: the default
        r = self.run_pipeline(path, "--dry-run", env=env, timeout=30)
        self.expect(r, 0)
        self.assertIn(f"mkdir -p {os.path.join(self.work, 'out-default')}", r.stdout_text)
        self.assertIn("candidate=http://127.0.0.1:8", dry_words(r.stdout_text))
        env["PE2E_WORKDIR"] = "elsewhere"
        r = self.run_pipeline(path, "--dry-run", env=env, timeout=30)
        self.expect(r, 0)
        self.assertIn(f"mkdir -p {os.path.join(self.work, 'elsewhere')}", r.stdout_text)

    def test_two_capture_sources(self):
        """archive: and read: in one capture stage: exit 2, naming the file and the sources."""
        text = READY_FILE.format(capture=yq("a.twin"), baseline="http://127.0.0.1:9",
                                 candidate="http://127.0.0.1:9", timeout=1, gate=yq(GATE),
                                 notify="").replace("    archive: 'a.twin'\n",
                                                    "    archive: 'a.twin'\n    read: b.pcap\n")
        path = self.write("two.yaml", text)
        r = self.run_pipeline(path, "--dry-run", timeout=30)
        self.expect(r, 2)
        self.assertRegex(r.stderr_text, re.escape(path) + r":\d+:\d+: .*exactly one of")
        self.assertEqual(r.stdout_text, "")

    def test_dry_run_commands_reproduce_the_verdict(self):
        """--dry-run prints one `twin …` per stage; the test runs them itself, in order, against
        fresh shops: the last one (compare) exits as the pipeline did (1, regressed)."""
        capture, _, _ = tr.record_shop(self, sessions=40, traffic_seed=5, gap_ms=GAP_MS)
        text = DRY_FILE.format(capture=yq(capture), policy=yq(POLICY), key=yq(self.key_file()),
                               gate=yq(GATE))
        path = self.write("dry.yaml", text)
        base, cand = self.gate_shops(regressed=True)
        r = self.run_pipeline(path, env=pipeline_env(BASELINE_URL=base.url(),
                                                     CANDIDATE_URL=cand.url()))
        self.expect(r, 1)
        self.assertEqual(self.run_json(os.path.join(self.work, "out-default"))["verdict"],
                         "regressed")

        base2, cand2 = self.gate_shops(regressed=True, tag="-2")
        by_hand = os.path.join(self.work, "by-hand")
        r = self.run_pipeline(path, "--dry-run", "--workdir", by_hand, env=pipeline_env(
            BASELINE_URL=base2.url(), CANDIDATE_URL=cand2.url()), timeout=30)
        self.expect(r, 0)
        commands = [shlex.split(line, comments=True) for line in r.stdout_text.splitlines()]
        commands = [c for c in commands if c]
        self.assertEqual([c[:2] for c in commands],
                         [["mkdir", "-p"], ["twin", "filter"], ["twin", "scrub"],
                          ["twin", "replay"], ["twin", "compare"]], r.stdout_text)
        self.assertEqual(commands[0], ["mkdir", "-p", by_hand])
        self.assertFalse(os.path.exists(by_hand), "--dry-run created the workdir")
        codes = []
        for c in commands:
            x = h.run([tr.twin() if c[0] == "twin" else c[0]] + c[1:], timeout=PIPELINE_TIMEOUT,
                      check=False)
            codes.append(x.returncode)
            if x.returncode not in (0, 1):
                self.fail(f"{' '.join(c)} exited {x.returncode}: {x.stderr_text[-3000:]}")
        self.assertEqual(codes, [0, 0, 0, 0, 1])
        with open(os.path.join(by_hand, "compare.json")) as f:
            self.assertEqual(json.load(f)["verdict"], "regressed")


# ---------------------------------------------------------------------------------------------
# a failing stage

FAIL_FILE = """\
version: 1
name: pe2e-fail
workdir: out
stages:
  capture:
    archive: {capture}
  scrub:
    policy: {policy}
    output: scrubbed.twin
  replay:
    targets:
      baseline: http://127.0.0.1:{port}
      candidate: http://127.0.0.1:{port}
    ready:
      timeout: 1
    output: replayed.twin
  compare: {{}}
"""


class Failing(Case):
    def test_scrub_without_key(self):
        """A scrub stage without a key (and TWIN_SCRUB_KEY unset): exit 2, pipeline.json names
        scrub as the failed stage, replay and compare never run."""
        capture, _, _ = tr.record_shop(self, sessions=3, traffic_seed=5)
        path = self.write("fail.yaml", FAIL_FILE.format(capture=yq(capture), policy=yq(POLICY),
                                                        port=h.free_port()))
        r = self.run_pipeline(path, env=pipeline_env(), timeout=60)
        self.expect(r, 2)
        out = os.path.join(self.work, "out")
        run = self.run_json(out)
        self.assertEqual(run["failed_stage"], "scrub")
        self.assertEqual(run["verdict"], "error")
        self.assertEqual(run["exit_code"], 2)
        self.assertEqual(stage_names(run), ["capture", "scrub"])
        self.assertEqual(run["stages"][-1]["exit_code"], 2)
        for name in ("scrubbed.twin", "replayed.twin", "compare.json"):
            self.assertFalse(os.path.exists(os.path.join(out, name)), name)
        self.assertIn("scrub | twin: no scrub key", r.stderr_text)
        self.assertIn("stage scrub failed (exit 2)", r.stderr_text)
        self.assertNotIn("pipeline: replay:", r.stderr_text)
        self.assertRegex(r.stderr_text, r"twin: pe2e-fail: ERROR in stage scrub \(exit 2\)")


# ---------------------------------------------------------------------------------------------
# live capture

LIVE_FILE = """\
version: 1
name: pe2e-live
workdir: out
stages:
  capture:
    interface: lo
    port: {port}
    while: {while_}
    settle: 0.5
    output: captured.twin
"""


class Live(Case):
    def setUp(self):
        super().setUp()
        if not h.is_root():
            self.skipTest("live capture needs root")
        probe = h.run([tr.twin(), "capture", "-i", "lo", "--port", "1", "--duration", "0.2",
                       "-o", self.tmp.join("probe.twin")], timeout=30, check=False)
        if probe.returncode != 0:
            self.skipTest(f"twin capture -i lo does not work here: {probe.stderr_text[-300:]}")

    def test_capture_while(self):
        """capture -i lo while shop_traffic drives a shop: the captured exchanges are the ones the
        shop recorded itself (method, target, status)."""
        served = self.tmp.join("served.twin")
        prod = tr.Shop(self.tmp.path, record=served, name="production").start()
        self.addCleanup(prod.stop)
        drive = " ".join(shlex.quote(str(a)) for a in (
            tr.shop_traffic_bin(), "--url", prod.url(), "--sessions", 20, "--concurrency", 2,
            "--seed", 3))
        path = self.write("live.yaml", LIVE_FILE.format(port=prod.port, while_=yq(drive)))
        r = self.run_pipeline(path, env=pipeline_env(), timeout=120)
        self.expect(r, 0)
        counters = prod.stop()
        self.assertIn("capture/while | requests=", r.stdout_text + r.stderr_text)
        run = self.run_json(os.path.join(self.work, "out"))
        self.assertEqual(stage_names(run), ["capture"])
        self.assertEqual(run["stages"][0]["while_exit_code"], 0)
        self.assertEqual(run["verdict"], "done")

        def shape(xs):
            return collections.Counter((e["request"]["method"], e["request"]["target"],
                                        (e.get("response") or {}).get("status")) for e in xs)
        want = shape(h.cat_jsonl(served))
        got = shape(h.cat_jsonl(os.path.join(self.work, "out", "captured.twin")))
        self.assertEqual(sum(want.values()), counters["requests"])
        self.assertGreater(sum(want.values()), 20)
        self.assertEqual(got, want, f"served but not captured: {want - got}; "
                                    f"captured but not served: {got - want}")

    def test_while_fails(self):
        """A `while:` command that exits 3: the pipeline exits 2 and says so."""
        port = h.free_port()
        path = self.write("live-fail.yaml", LIVE_FILE.format(port=port, while_=yq("exit 3")))
        r = self.run_pipeline(path, env=pipeline_env(), timeout=60)
        self.expect(r, 2)
        self.assertIn("capture.while exited with 3", r.stderr_text)
        run = self.run_json(os.path.join(self.work, "out"))
        self.assertEqual(run["failed_stage"], "capture")
        self.assertEqual(run["stages"][0]["while_exit_code"], 3)


def main():
    if len(sys.argv) < 2:
        print("usage: test_pipeline.py TestCase.test_name ...", file=sys.stderr)
        return 2
    suite = unittest.defaultTestLoader.loadTestsFromNames(sys.argv[1:], sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    if not result.wasSuccessful():
        return 1
    if result.skipped and len(result.skipped) >= result.testsRun:
        return 77  # ctest SKIP_RETURN_CODE
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""End-to-end tests of the CI templates in pipelines/ci/: the GitHub Actions workflow
(github-actions.yml), the GitLab CI template (gitlab-ci.yml) and the pipeline file both run
(twin-pipeline.yaml).

The templates are read with PyYAML and their structure checked (the twin step, the summary, the
uploads and the JUnit publication run `if: always()`; the GitLab job keeps its artifacts `when:
always` with a JUnit report). Then the shell of the steps the templates mark as the gate — the
GitHub steps `id: twin-gate` and `id: twin-summary`, the `script:` of GitLab's `.twin-gate` as
the example job inherits it — is executed with bash, with the environment the CI would give
(inputs evaluated from the workflow's own `${{ }}` expressions, GITHUB_STEP_SUMMARY and
GITHUB_OUTPUT as files, GitLab's CI_PROJECT_DIR and the job's variables, the built twin first on
PATH), against real shops on 127.0.0.1: a baseline and a regressed candidate (exit 1, every
report written where the templates publish it from), or two baselines (exit 0). Steps that
install, build or check out code, and third-party actions, are not run. Every `twin` command in
the templates is checked against the real CLI's --help.

Each test is one ctest entry:  python3 test_ci_templates.py Templates.test_name
(TWIN_BIN, SHOP_BIN and SHOP_TRAFFIC_BIN name the binaries; TWIN_E2E_KEEP=1 keeps the temporary
directories.) Exit code 77 means skipped (no python3-yaml, or the shop is not built).
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get("TWIN_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "capture_e2e"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "replay_e2e"))

try:
    import yaml
except ImportError:  # python3-yaml belongs to Debian's python3; ctest may have found another
    yaml = None
    for other in ("/usr/bin/python3",):
        if (os.access(other, os.X_OK) and os.path.realpath(other) != os.path.realpath(sys.executable)
                and not os.environ.get("TWIN_CI_TEMPLATES_REEXEC")
                and subprocess.run([other, "-c", "import yaml"], capture_output=True).returncode == 0):
            os.environ["TWIN_CI_TEMPLATES_REEXEC"] = "1"
            os.execv(other, [other] + sys.argv)

import harness as h  # noqa: E402
import test_replay as tr  # noqa: E402

CI_DIR = os.path.join(REPO, "pipelines", "ci")
GITHUB = os.path.join(CI_DIR, "github-actions.yml")
GITLAB = os.path.join(CI_DIR, "gitlab-ci.yml")
PIPELINE = os.path.join(CI_DIR, "twin-pipeline.yaml")
SETUP = os.path.join(REPO, "scripts", "setup.sh")
SHOP_GATE = os.path.join(REPO, "examples", "gates", "shop.yaml")

# The candidate's regression: every search 10 ms slower (examples/shop/faults.h).
REGRESSION = ["--latency", "GET /api/search=10"]
# Recorded shop_traffic sessions, moved GAP_MS apart: no two overlap on replay, even on the
# candidate, whose sessions last up to 40 ms longer (at most four searches, session order kept),
# so every shop creates the same orders in the same order (its order ids are global).
SESSIONS = 100
GAP_MS = 80
STEP_TIMEOUT = 150
# The gate of the runs: tests/data/gates/shop-shared-host.yaml (the shop's gate with a 2 ms
# latency floor; the file says why).
with open(os.path.join(REPO, "tests", "data", "gates", "shop-shared-host.yaml")) as _f:
    CI_GATE = _f.read()

# The GitHub steps and the GitLab job section the test runs, as the templates mark them.
GH_JOB = "twin-gate"
GH_GATE_STEP = "twin-gate"
GH_SUMMARY_STEP = "twin-summary"
GL_HIDDEN = ".twin-gate"
GL_INSTALL = ".twin-install"
GL_EXAMPLE = "twin-gate-example"
REPORTS = ("compare.html", "compare.json", "compare.xml", "compare.md")


# ---------------------------------------------------------------------------------------------
# reading the templates


def load_github():
    with open(GITHUB) as f:
        wf = yaml.safe_load(f)
    # YAML 1.1 (PyYAML) reads the key `on` as the boolean true.
    if "on" not in wf and True in wf:
        wf["on"] = wf.pop(True)
    return wf


class Reference(list):
    """GitLab's `!reference [job, key, ...]`."""


class GitLabLoader(yaml.SafeLoader if yaml else object):
    pass


if yaml:
    GitLabLoader.add_constructor(
        "!reference", lambda loader, node: Reference(loader.construct_sequence(node, deep=True)))


def load_gitlab():
    with open(GITLAB) as f:
        return yaml.load(f, Loader=GitLabLoader)


def gl_merge(base, over):
    """GitLab's `extends`: mappings merge deeply, everything else (lists too) is replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = gl_merge(base[k], v) if k in base else v
        return out
    return over


def gl_job(doc, name, depth=0):
    """The job `name` with its `extends` chain applied (not its !reference tags)."""
    if depth > 10:
        raise AssertionError(f"extends nests too deep at {name}")
    job = doc[name]
    parents = job.get("extends", [])
    if isinstance(parents, str):
        parents = [parents]
    merged = {}
    for p in parents:
        merged = gl_merge(merged, gl_job(doc, p, depth + 1))
    merged = gl_merge(merged, {k: v for k, v in job.items() if k != "extends"})
    return merged


def gl_expand(doc, items, depth=0):
    """A script list with its !reference tags replaced and nested lists flattened (as GitLab)."""
    out = []
    for item in items:
        if isinstance(item, Reference):
            target = doc
            for key in item:
                target = target[key]
            out += gl_expand(doc, target if isinstance(target, list) else [target], depth + 1)
        elif isinstance(item, list):
            out += gl_expand(doc, item, depth + 1)
        else:
            out.append(item)
    return out


# GitHub's expression language, as far as the templates use it: context paths (inputs.x,
# steps.id.outputs.y, runner.os, ...), string and number literals, true/false/null, ==, !=, &&, ||,
# !, parentheses and always()/success()/failure()/cancelled().
_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||!|\(|\))"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*(?:\(\))?))")


def gh_eval(expr, ctx):
    tokens = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise AssertionError(f"expression not understood by the test: {expr!r} at {pos}")
        pos = m.end()
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
    i = 0

    def peek():
        return tokens[i] if i < len(tokens) else (None, None)

    def take():
        nonlocal i
        i += 1
        return tokens[i - 1]

    def truthy(v):
        return v not in (None, "", 0, False)

    def primary():
        kind, text = take()
        if kind == "op" and text == "(":
            v = or_expr()
            take()
            return v
        if kind == "op" and text == "!":
            return not truthy(primary())
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text)
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if text.endswith("()"):
            fn = text[:-2]
            status = ctx.get("job_status", "success")
            return {"always": True, "success": status == "success", "failure": status == "failure",
                    "cancelled": False}[fn]
        value = ctx
        for part in text.split("."):
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    def cmp_expr():
        v = primary()
        while peek()[1] in ("==", "!="):
            op = take()[1]
            w = primary()
            a = "" if v is None else v
            b = "" if w is None else w
            eq = str(a).lower() == str(b).lower() if isinstance(a, str) or isinstance(b, str) \
                else a == b
            v = eq if op == "==" else not eq
        return v

    def and_expr():
        v = cmp_expr()
        while peek()[1] == "&&":
            take()
            w = cmp_expr()
            v = w if truthy(v) else v
        return v

    def or_expr():
        v = and_expr()
        while peek()[1] == "||":
            take()
            w = and_expr()
            v = v if truthy(v) else w
        return v

    result = or_expr()
    if i != len(tokens):
        raise AssertionError(f"expression not understood by the test: {expr!r}")
    return result


_EXPR = re.compile(r"\$\{\{(.*?)\}\}")


def gh_subst(text, ctx):
    """A string with its ${{ }} expressions replaced, as GitHub does before a step runs."""
    def one(m):
        v = gh_eval(m.group(1), ctx)
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)
    return _EXPR.sub(one, str(text))


def gh_if(cond, ctx):
    """A step's `if:`, with GitHub's implied success() when no status function is named."""
    if cond is None:
        return ctx.get("job_status", "success") == "success"
    cond = str(cond).strip()
    if cond.startswith("${{") and cond.endswith("}}"):
        cond = cond[3:-2]
    if not re.search(r"\b(always|success|failure|cancelled)\(\)", cond):
        cond = f"success() && ({cond})"
    v = gh_eval(cond, ctx)
    return v not in (None, "", 0, False)


def gh_inputs(wf, given):
    """The `inputs` context of a workflow_call: the defaults, then what the caller gives."""
    spec = wf["on"]["workflow_call"]["inputs"]
    unknown = set(given) - set(spec)
    if unknown:
        raise AssertionError(f"the test gives inputs the workflow does not have: {unknown}")
    out = {}
    for name, s in spec.items():
        if name in given:
            out[name] = given[name]
        elif "default" in s:
            out[name] = s["default"]
        elif s.get("required"):
            raise AssertionError(f"required input {name} not given by the test")
        else:
            out[name] = ""
    return out


# ---------------------------------------------------------------------------------------------
# the shell in the templates


def logical_lines(script):
    """Script text as logical lines: backslash-newline continuations joined, comments dropped."""
    out = []
    for line in script.replace("\\\n", " ").splitlines():
        s = line.strip()
        if s and not s.startswith("#"):
            out.append(s)
    return out


_SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", "then", "do", "else", "{", "}", "!", "if",
               "elif", "while", "until"}


def twin_commands(script):
    """Every `twin ...` command of a shell script, as its argument lists (variables unexpanded)."""
    found = []
    for line in logical_lines(script):
        lex = shlex.shlex(line, posix=True, punctuation_chars=";&|()")
        lex.whitespace_split = True
        lex.commenters = "#"
        try:
            tokens = list(lex)
        except ValueError:
            continue
        start = True
        k = 0
        while k < len(tokens):
            t = tokens[k]
            if start and t == "twin":
                args = []
                k += 1
                while k < len(tokens) and tokens[k] not in _SEPARATORS:
                    args.append(tokens[k])
                    k += 1
                found.append(args)
                start = True
                continue
            start = t in _SEPARATORS
            k += 1
    return found


def apt_packages(script):
    """The packages of the `apt-get install` commands of a script."""
    pkgs = []
    for line in logical_lines(script):
        m = re.search(r"apt-get install (.*)", line)
        if not m:
            continue
        for tok in shlex.split(m.group(1)):
            if tok.startswith("-"):
                continue
            if not re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", tok):
                break
            pkgs.append(tok)
    return pkgs


def setup_packages():
    """scripts/setup.sh's packages, by the comment heading each group."""
    with open(SETUP) as f:
        text = f.read()
    body = re.search(r"packages=\((.*?)\n\)", text, re.S).group(1)
    groups = {}
    group = None
    for line in body.splitlines():
        line = line.strip()
        if line.startswith("#"):
            group = line.lstrip("# ").split(":")[0].strip()
            continue
        groups.setdefault(group, []).extend(line.split())
    return groups


def run_script(case, script, cwd, env, name):
    """Runs a step's shell the way the CI does (bash, errexit and pipefail); returns
    (exit code, stdout, stderr)."""
    path = case.fresh(f"{name}") + ".sh"
    with open(path, "w") as f:
        f.write(script)
    try:
        r = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", path], cwd=cwd,
                           env=env, capture_output=True, timeout=STEP_TIMEOUT,
                           start_new_session=True)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{name} did not finish within {STEP_TIMEOUT} s") from e
    out = r.stdout.decode(errors="replace")
    err = r.stderr.decode(errors="replace")
    if os.environ.get("TWIN_E2E_VERBOSE"):
        print(f"--- {name}: exit {r.returncode}\n{out}\n{err}", file=sys.stderr)
    return r.returncode, out, err


def base_env():
    """A CI runner's environment: PATH with the built twin first, no TWIN_* from outside."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TWIN_", "GITHUB_", "RUNNER_", "CI_", "GITLAB_"))}
    env["PATH"] = os.path.dirname(os.path.abspath(tr.twin())) + os.pathsep + env.get("PATH", "")
    env["CI"] = "true"
    env["HOME"] = env.get("HOME", "/root")
    return env


def parse_outputs(path):
    """GITHUB_OUTPUT's name=value lines."""
    out = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    out[k] = v
    return out


def write_gate(workspace):
    """Writes CI_GATE into the workspace's gates/; returns its absolute path."""
    path = os.path.join(workspace, "gates", "shop-ci.yaml")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(CI_GATE)
    return path


def copy_into(workspace, *rel_paths):
    """Copies files of this repository into a workspace, at the same relative paths."""
    for rel in rel_paths:
        dst = os.path.join(workspace, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy(os.path.join(REPO, rel), dst)


# ---------------------------------------------------------------------------------------------
# the tests


class Templates(tr.Case):
    def setUp(self):
        if yaml is None:
            self.skipTest("needs python3-yaml (scripts/setup.sh)")
        super().setUp()
        self.gh = load_github()
        self.gl = load_gitlab()

    # -- structure ------------------------------------------------------------------------------

    def gh_steps(self):
        return self.gh["jobs"][GH_JOB]["steps"]

    def gh_step(self, step_id):
        steps = [s for s in self.gh_steps() if s.get("id") == step_id]
        self.assertEqual(len(steps), 1, f"one step with id {step_id}")
        return steps[0]

    def assert_dispatch_matches_call(self):
        wf = self.gh
        with open(PIPELINE) as f:
            file_defaults = dict(re.findall(r"\$\{(TWIN_[A-Z_]+):-([^}]*)\}", f.read()))
        given = {"archive": "a.twin", "baseline-url": "http://b", "candidate-url": "http://c"}
        call = {k: s.get("default", "") for k, s in wf["on"]["workflow_call"]["inputs"].items()}
        call.update(given)
        dispatch = {k: s.get("default", "")
                    for k, s in wf["on"]["workflow_dispatch"]["inputs"].items()}
        dispatch.update(given)
        base = {"steps": {}, "runner": {"os": "Linux", "temp": "/tmp"}, "github": {"sha": "0"}}
        job = wf["jobs"][GH_JOB]

        def values(inputs):
            ctx = dict(base, inputs=inputs)
            env = {k: gh_subst(v, ctx) for k, v in job.get("env", {}).items()}
            ctx["env"] = env
            out = {"runs-on": gh_subst(job["runs-on"], ctx),
                   "container": gh_subst(job["container"]["image"], ctx)}
            out.update({f"env.{k}": v for k, v in env.items()})
            for n, step in enumerate(job["steps"]):
                out[f"{n}.if"] = gh_if(step.get("if"), ctx)
                for key in ("env", "with"):
                    for k, v in (step.get(key) or {}).items():
                        v = gh_subst(v, ctx)
                        if key == "env" and v == "" and k in file_defaults:
                            v = file_defaults[k]
                        out[f"{n}.{key}.{k}"] = v
            return out

        a, b = values(call), values(dispatch)
        self.assertEqual({k: v for k, v in a.items() if b.get(k) != v},
                         {k: b.get(k) for k, v in a.items() if b.get(k) != v})

    def test_github_workflow_structure(self):
        """A reusable (workflow_call) and manual (workflow_dispatch) workflow with the same
        inputs; one job whose steps check out, build twin, run the gate (id twin-gate), append
        the Markdown to the step summary, upload the reports and publish the JUnit results, the
        last three if: always(); every ${{ inputs.x }} names an input."""
        wf = self.gh
        on = wf["on"]
        self.assertIn("workflow_call", on)
        self.assertIn("workflow_dispatch", on)
        call, dispatch = on["workflow_call"]["inputs"], on["workflow_dispatch"]["inputs"]
        # GitHub takes at most 10 inputs by hand; those it has are the reusable workflow's.
        self.assertLessEqual(len(dispatch), 10)
        self.assertTrue(set(dispatch) <= set(call), set(dispatch) - set(call))
        for name in dispatch:
            self.assertEqual(call[name].get("default"), dispatch[name].get("default"), name)
            self.assertEqual(bool(call[name].get("required")), bool(dispatch[name].get("required")),
                             name)
        for required in ("archive", "baseline-url", "candidate-url"):
            self.assertTrue(call[required]["required"], required)
            self.assertIn(required, dispatch)
        for optional in ("gate", "pipeline", "twin-bin"):
            self.assertIn(optional, call)
        # Started by hand, the inputs it lacks have their defaults all the same: every value
        # the job computes from ${{ }} is the same for a call with the defaults and for a
        # dispatch (an empty TWIN_* variable meaning the pipeline file's ${VAR:-default}).
        self.assert_dispatch_matches_call()
        # Every inputs.x the workflow names exists.
        with open(GITHUB) as f:
            text = f.read()
        code = "\n".join(x for x in text.splitlines() if not x.lstrip().startswith("#"))
        for name in set(re.findall(r"\binputs\.([A-Za-z0-9_-]+)", code)):
            self.assertIn(name, sorted(call), f"inputs.{name} is not an input")
        # The workflow's outputs come from the gate step's outputs.
        outputs = on["workflow_call"]["outputs"]
        self.assertIn("steps.twin-gate.outputs.verdict", str(wf["jobs"][GH_JOB]["outputs"]))
        self.assertEqual(set(outputs), {"verdict", "exit-code"})

        job = wf["jobs"][GH_JOB]
        self.assertEqual(job["defaults"]["run"]["shell"], "bash")
        self.assertEqual(wf["permissions"].get("checks"), "write")
        steps = job["steps"]
        uses = [s.get("uses", "") for s in steps]
        self.assertTrue(any(u.startswith("actions/checkout@") for u in uses))
        for s in steps:
            # Inputs reach the shell through env:, never pasted into it (script injection).
            self.assertNotIn("${{", s.get("run", ""), s.get("name"))
        gate = self.gh_step(GH_GATE_STEP)
        self.assertIn("twin pipeline run", gate["run"])
        self.assertIsNone(gate.get("if"), "the gate always runs when the steps before it passed")
        summary = self.gh_step(GH_SUMMARY_STEP)
        self.assertIn("always()", str(summary.get("if")))
        self.assertIn("GITHUB_STEP_SUMMARY", summary["run"])
        self.assertIn("compare.md", summary["run"])
        index = {id(s): k for k, s in enumerate(steps)}
        self.assertLess(index[id(gate)], index[id(summary)])
        upload = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@v4")]
        self.assertEqual(len(upload), 1)
        self.assertEqual(str(upload[0].get("if")), "always()")
        paths = upload[0]["with"]["path"]
        for report in REPORTS:
            self.assertIn(f"/{report}", paths)
        junit = [s for s in steps if "junit" in s.get("uses", "").lower()]
        self.assertEqual(len(junit), 1)
        self.assertEqual(str(junit[0].get("if")), "always()")
        self.assertIn("compare.xml", junit[0]["with"]["report_paths"])
        for s in upload + junit:
            self.assertLess(index[id(gate)], index[id(s)])
        # The marked place where the user starts the targets comes before the gate.
        start = self.gh_step("start-targets")
        self.assertLess(index[id(start)], index[id(gate)])
        self.assertIn("START BASELINE AND CANDIDATE HERE", text)

    def test_gitlab_job_structure(self):
        """A hidden .twin-gate job (install by !reference, the gate in script:, artifacts when:
        always with reports:junit, paths and expose_as) and an example job that extends it and
        runs only when the three required variables are set."""
        gl = self.gl
        hidden = gl[GL_HIDDEN]
        self.assertIn(GL_INSTALL, gl)
        self.assertEqual(gl_expand(gl, hidden["before_script"]),
                         gl_expand(gl, gl[GL_INSTALL]["script"]))
        script = "\n".join(gl_expand(gl, hidden["script"]))
        self.assertIn("twin pipeline run", script)
        art = hidden["artifacts"]
        self.assertEqual(art["when"], "always")
        self.assertEqual(art["reports"]["junit"], "twin-out/compare.xml")
        self.assertTrue(art.get("expose_as"))
        for p in art["paths"]:
            self.assertNotIn("$", p, "expose_as takes no variables in paths")
            self.assertNotIn("*", p, "expose_as takes no globs")
            self.assertFalse(p.startswith("./"), "expose_as does not show ./ paths")
        for report in REPORTS:
            self.assertIn(f"twin-out/{report}", art["paths"])
        self.assertIn('TWIN_OUT="$CI_PROJECT_DIR/twin-out"', script)
        # Required variables are not given empty defaults (they would hide global ones).
        for v in ("TWIN_ARCHIVE", "TWIN_BASELINE_URL", "TWIN_CANDIDATE_URL"):
            self.assertNotIn(v, hidden.get("variables", {}))
        example = gl_job(gl, GL_EXAMPLE)
        self.assertEqual(gl[GL_EXAMPLE]["extends"], GL_HIDDEN)
        self.assertFalse(GL_EXAMPLE.startswith("."))
        self.assertEqual(example["artifacts"], art)
        rule = example["rules"][0]["if"]
        for v in ("$TWIN_ARCHIVE", "$TWIN_BASELINE_URL", "$TWIN_CANDIDATE_URL"):
            self.assertIn(v, rule)
        self.assertIn("START BASELINE AND CANDIDATE HERE", open(GITLAB).read())
        # Only the example job is visible: including the file adds nothing else.
        visible = [k for k in gl if not k.startswith(".") and isinstance(gl[k], dict)]
        self.assertEqual(visible, [GL_EXAMPLE])

    def test_build_dependencies(self):
        """Both templates install the same packages: the libraries of scripts/setup.sh (every
        one of them), a toolchain, nothing setup.sh does not know of but ccache."""
        groups = setup_packages()
        libraries = set(groups["libraries"])
        known = set().union(*groups.values()) | {"ccache"}
        gh = set()
        for s in self.gh_steps():
            gh |= set(apt_packages(s.get("run", "")))
        gl = set(apt_packages("\n".join(gl_expand(self.gl, self.gl[GL_INSTALL]["script"]))))
        for name, pkgs in (("github-actions.yml", gh), ("gitlab-ci.yml", gl)):
            self.assertTrue(libraries <= pkgs, f"{name} misses {sorted(libraries - pkgs)}")
            self.assertTrue(pkgs <= known, f"{name} installs {sorted(pkgs - known)}, which "
                                           "scripts/setup.sh does not")
            for tool in ("cmake", "ninja-build", "build-essential"):
                self.assertIn(tool, pkgs)
        self.assertEqual(gh | {"git"}, gl | {"git"})
        # The build configures what it needs and no more.
        for text in [s.get("run", "") for s in self.gh_steps()] + \
                gl_expand(self.gl, self.gl[GL_INSTALL]["script"]):
            if "cmake -S" in text:
                self.assertIn("-DTWIN_TESTS=OFF", text)
                self.assertIn("--target twin", text)

    def test_twin_commands_parse(self):
        """Every twin command in both templates names subcommands and long options that the
        built twin's --help lists."""
        scripts = [("github-actions.yml " + str(s.get("name")), s["run"])
                   for s in self.gh_steps() if "run" in s]
        for job in (GL_INSTALL, GL_HIDDEN):
            for key in ("before_script", "script"):
                if key in self.gl[job]:
                    scripts.append((f"gitlab-ci.yml {job}.{key}",
                                    "\n".join(gl_expand(self.gl, self.gl[job][key]))))
        helps = {}

        def help_of(path):
            if path not in helps:
                r = h.run([tr.twin()] + list(path) + ["--help"], timeout=30, check=False)
                self.assertEqual(r.returncode, 0, f"twin {' '.join(path)} --help: {r.stderr_text}")
                helps[path] = r.stdout_text
            return helps[path]

        def subcommands(text):
            m = re.search(r"^Subcommands:\n((?:  .*\n?)+)", text, re.M)
            return set(re.findall(r"^  (\S+)", m.group(1), re.M)) if m else set()

        seen = set()
        for where, script in scripts:
            for args in twin_commands(script):
                path = ()
                rest = list(args)
                while rest and not rest[0].startswith("-") and rest[0] in subcommands(help_of(path)):
                    path += (rest.pop(0),)
                text = help_of(path)
                self.assertFalse(subcommands(text) and not path and not any(
                    a.startswith("-") for a in rest), f"{where}: twin {args}: no subcommand")
                for a in rest:
                    if a.startswith("--"):
                        opt = a.split("=", 1)[0]
                        self.assertRegex(text, r"(?:^|[\s,])" + re.escape(opt) + r"\b",
                                         f"{where}: twin {' '.join(path)} has no {opt}")
                    elif re.fullmatch(r"-[A-Za-z]", a):
                        self.assertRegex(text, r"(?:^|\s)" + re.escape(a) + r",",
                                         f"{where}: twin {' '.join(path)} has no {a}")
                seen.add((where.split()[0], path))
        self.assertIn(("github-actions.yml", ("pipeline", "run")), seen)
        self.assertIn(("gitlab-ci.yml", ("pipeline", "run")), seen)

    def test_shell_lint(self):
        """The shell of both templates passes shellcheck (skipped without shellcheck)."""
        if not shutil.which("shellcheck"):
            self.skipTest("needs shellcheck")
        scripts = [(f"github-{n}", s["run"]) for n, s in enumerate(self.gh_steps()) if "run" in s]
        for job in (GL_INSTALL, GL_HIDDEN):
            scripts.append((f"gitlab{job}", "\n".join(gl_expand(self.gl, self.gl[job]["script"]))))
        for name, script in scripts:
            path = self.tmp.join(name + ".sh")
            with open(path, "w") as f:
                f.write("#!/bin/bash\nset -eo pipefail\n" + script + "\n")
            r = h.run(["shellcheck", "-s", "bash", path], timeout=60, check=False)
            self.assertEqual(r.returncode, 0, f"{name}:\n{r.stdout_text}{r.stderr_text}")

    def test_pipeline_file_dry_run(self):
        """The pipeline file, with the variables the templates set, is valid for the real
        `twin pipeline run --dry-run`: a replay of both targets with a probe, a compare with the
        gate and all four reports in TWIN_OUT. Without TWIN_ARCHIVE it is an error naming it."""
        out = self.tmp.join("out")
        env = base_env()
        env.update(TWIN_ARCHIVE="/data/captured.twin", TWIN_BASELINE_URL="http://127.0.0.1:18081",
                   TWIN_CANDIDATE_URL="http://127.0.0.1:18082", TWIN_OUT=out)
        r = h.run([tr.twin(), "pipeline", "run", PIPELINE, "--dry-run"], env=env, timeout=30,
                  check=False)
        self.assertEqual(r.returncode, 0, r.stderr_text)
        lines = r.stdout_text.splitlines()
        replay = [x for x in lines if x.startswith("twin replay ")]
        compare = [x for x in lines if x.startswith("twin compare ")]
        self.assertEqual(len(replay), 1, r.stdout_text)
        self.assertEqual(len(compare), 1, r.stdout_text)
        args = shlex.split(replay[0])
        self.assertIn("/data/captured.twin", args)
        self.assertIn("baseline=http://127.0.0.1:18081", args)
        self.assertIn("candidate=http://127.0.0.1:18082", args)
        self.assertEqual(args[args.index("--speed") + 1], "1")
        self.assertIn("# probe baseline: GET http://127.0.0.1:18081/ (120 s)", lines)
        args = shlex.split(compare[0])
        self.assertEqual(args[args.index("--gate") + 1],
                         os.path.join(REPO, "examples", "gates", "default.yaml"))
        for flag, name in (("--json", "compare.json"), ("--markdown", "compare.md"),
                           ("--junit", "compare.xml"), ("--html", "compare.html")):
            self.assertEqual(args[args.index(flag) + 1], os.path.join(out, name))
        self.assertTrue(os.path.exists(os.path.join(REPO, "examples", "gates", "default.yaml")))
        # The defaults can be overridden.
        env.update(TWIN_GATE=SHOP_GATE, TWIN_SPEED="2", TWIN_READY_PATH="/healthz",
                   TWIN_READY_TIMEOUT="5")
        r = h.run([tr.twin(), "pipeline", "run", PIPELINE, "--dry-run"], env=env, timeout=30,
                  check=False)
        self.assertEqual(r.returncode, 0, r.stderr_text)
        self.assertIn(f"--gate {SHOP_GATE}", r.stdout_text)
        self.assertIn("--speed 2", r.stdout_text)
        self.assertIn("GET http://127.0.0.1:18082/healthz (5 s)", r.stdout_text)
        del env["TWIN_ARCHIVE"]
        r = h.run([tr.twin(), "pipeline", "run", PIPELINE, "--dry-run"], env=env, timeout=30,
                  check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("TWIN_ARCHIVE", r.stderr_text)

    # -- the gate, run for real -------------------------------------------------------------

    def record(self):
        self.need_shop()
        capture, captured, _ = tr.record_shop(self, sessions=SESSIONS, traffic_seed=5,
                                              gap_ms=GAP_MS)
        return capture, captured

    def shops(self, regressed):
        base = tr.Shop(self.tmp.path, name="baseline")
        cand = tr.Shop(self.tmp.path, name="candidate", extra=REGRESSION if regressed else ())
        return base, cand

    def check_reports(self, out, captured, regressed):
        """The reports the templates publish exist in `out` and agree with the verdict."""
        for name in REPORTS + ("replay-summary.json", "pipeline.json"):
            path = os.path.join(out, name)
            self.assertTrue(os.path.isfile(path) and os.path.getsize(path) > 0, path)
        with open(os.path.join(out, "compare.json")) as f:
            report = json.load(f)
        self.assertEqual(report["counters"]["paired"], len(captured))
        routes = {f"{x['method']} {x['route']}" for x in report["routes"]
                  if x["verdict"] == "regressed"}
        junit = ET.parse(os.path.join(out, "compare.xml")).getroot()
        failed = {s.get("name") for s in junit.iter("testsuite")
                  if any(tc.find("failure") is not None for tc in s.iter("testcase"))}
        with open(os.path.join(out, "compare.html")) as f:
            html = f.read()
        self.assertIn("<svg", html)
        with open(os.path.join(out, "pipeline.json")) as f:
            run = json.load(f)
        if regressed:
            self.assertEqual(report["verdict"], "regressed")
            # The planted route must be found; on a loaded 2-core machine a slower candidate can
            # also queue other routes' requests behind it, which the gate may rightly flag too.
            self.assertIn("GET /api/search", routes, json.dumps(report["routes"])[:4000])
            self.assertIn("GET /api/search", failed)
            self.assertGreaterEqual(int(junit.get("failures", "0")), 1)
            self.assertEqual(run["exit_code"], 1)
            self.assertEqual(sorted(run["regressed"]), sorted(routes))
        else:
            self.assertEqual(report["verdict"], "pass", json.dumps(report["routes"])[:4000])
            self.assertEqual(routes, set())
            self.assertEqual(failed, set())
            self.assertEqual(run["exit_code"], 0)
        stages = {s["stage"]: s for s in run["stages"]}
        self.assertEqual(stages["replay"]["exit_code"], 0)
        self.assertEqual(stages["compare"]["exit_code"], 1 if regressed else 0)
        self.assertEqual([p["ready"] for p in stages["replay"].get("probes", [])], [True, True])
        return report

    def run_github(self, regressed):
        """The workflow's gate and summary steps, with the env GitHub would give them."""
        capture, captured = self.record()
        ws = self.tmp.join("github-workspace")
        os.makedirs(os.path.join(ws, "traffic"))
        shutil.copy(capture, os.path.join(ws, "traffic", "captured.twin"))
        gate = write_gate(ws)
        # Relative inputs, as a caller writes them: the archive, the gate, the output directory.
        inputs = {"archive": "traffic/captured.twin", "ready-timeout": "30"}
        if regressed:
            # twin is this repository (twin-repository empty): the bundled pipeline file at
            # ./pipelines/ci; the gate by its absolute path.
            copy_into(ws, "pipelines/ci/twin-pipeline.yaml")
            inputs["gate"] = gate
        else:
            # twin checked out into .twin-src from another repository; the gate relative to
            # the workspace, the reports in a directory of the caller's choice.
            copy_into(os.path.join(ws, ".twin-src"), "pipelines/ci/twin-pipeline.yaml")
            inputs.update({"twin-repository": "example/twin", "gate": os.path.relpath(gate, ws),
                           "out-dir": "reports/twin"})
        runner_temp = self.tmp.join("runner-temp")
        os.makedirs(runner_temp)
        files = {k: os.path.join(runner_temp, k.lower()) for k in
                 ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH")}
        for p in files.values():
            open(p, "w").close()
        base, cand = self.shops(regressed)
        try:
            base.start()
            cand.start()
            inputs.update({"baseline-url": base.url(), "candidate-url": cand.url()})
            ctx = {"inputs": gh_inputs(self.gh, inputs), "steps": {}, "job_status": "success",
                   "runner": {"os": "Linux", "temp": runner_temp}, "github": {"workspace": ws}}
            job = self.gh["jobs"][GH_JOB]
            env = base_env()
            env.update(files)
            env.update(GITHUB_ACTIONS="true", GITHUB_WORKSPACE=ws, RUNNER_TEMP=runner_temp,
                       RUNNER_OS="Linux")
            ctx["env"] = {k: gh_subst(v, ctx) for k, v in job.get("env", {}).items()}
            env.update(ctx["env"])
            results = {}
            for step in job["steps"]:
                sid = step.get("id")
                if sid not in (GH_GATE_STEP, GH_SUMMARY_STEP):
                    continue
                self.assertTrue(gh_if(step.get("if"), ctx), f"step {sid} would not run")
                step_env = dict(env)
                step_env.update({k: gh_subst(v, ctx) for k, v in step.get("env", {}).items()})
                open(files["GITHUB_OUTPUT"], "w").close()
                code, out, err = run_script(self, step["run"], ws, step_env, sid)
                outputs = parse_outputs(files["GITHUB_OUTPUT"])
                ctx["steps"][sid] = {"outputs": outputs,
                                     "outcome": "success" if code == 0 else "failure"}
                if code != 0:
                    ctx["job_status"] = "failure"
                results[sid] = (code, out, err, outputs)
        finally:
            base.stop()
            cand.stop()
        self.assertEqual(set(results), {GH_GATE_STEP, GH_SUMMARY_STEP})
        code, out, err, outputs = results[GH_GATE_STEP]
        want = 1 if regressed else 0
        self.assertEqual(code, want, f"twin gate step exited {code}:\n{out[-3000:]}\n{err[-4000:]}")
        self.assertEqual(outputs, {"exit-code": str(want),
                                   "verdict": "regressed" if regressed else "pass"})
        scode, sout, serr, _ = results[GH_SUMMARY_STEP]
        self.assertEqual(scode, 0, sout + serr)
        # Everything lands where the upload and JUnit steps look for it (relative to the
        # workspace, from their own ${{ }} expressions).
        out_dir = os.path.join(ws, ctx["inputs"]["out-dir"])
        report = self.check_reports(out_dir, captured, regressed)
        steps = job["steps"]
        upload = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")][0]
        for rel in gh_subst(upload["with"]["path"], ctx).split():
            self.assertTrue(os.path.isfile(os.path.join(ws, rel)), f"upload-artifact: {rel}")
        junit = [s for s in steps if "junit" in s.get("uses", "").lower()][0]
        self.assertTrue(os.path.isfile(os.path.join(ws, gh_subst(junit["with"]["report_paths"],
                                                                 ctx))))
        with open(files["GITHUB_STEP_SUMMARY"]) as f:
            summary = f.read()
        with open(os.path.join(out_dir, "compare.md")) as f:
            self.assertEqual(summary, f.read())
        if regressed:
            self.assertIn("REGRESSED", summary)
            self.assertIn("/api/search", summary)
            self.assertIn("::error::twin gate: the candidate regressed (exit 1)", out)
        else:
            self.assertIn("PASS", summary)
            self.assertNotIn("REGRESSED", summary)
        # Only the two targets were contacted, and only with the captured requests (+ probes).
        self.assertEqual(base.counters["requests"], cand.counters["requests"])
        self.assertGreaterEqual(base.counters["requests"], len(captured))
        self.assertLessEqual(base.counters["requests"], len(captured) + 100)
        return report

    def run_gitlab(self, regressed):
        """The example job's script (from .twin-gate), with GitLab's variables."""
        capture, captured = self.record()
        project = self.tmp.join("gitlab-project")
        os.makedirs(os.path.join(project, "traffic"))
        shutil.copy(capture, os.path.join(project, "traffic", "captured.twin"))
        copy_into(project, "pipelines/ci/twin-pipeline.yaml")
        gate = write_gate(project)
        job = gl_job(self.gl, GL_EXAMPLE)
        script = gl_expand(self.gl, job["script"])
        self.assertEqual(script, gl_expand(self.gl, self.gl[GL_HIDDEN]["script"]))
        base, cand = self.shops(regressed)
        try:
            base.start()
            cand.start()
            env = base_env()
            env.update(GITLAB_CI="true", CI_PROJECT_DIR=project, CI_JOB_NAME=GL_EXAMPLE,
                       CI_PIPELINE_SOURCE="push", CI_JOB_STAGE=str(job.get("stage")))
            env.update({k: str(v) for k, v in job.get("variables", {}).items()})
            env.update(TWIN_ARCHIVE="traffic/captured.twin", TWIN_BASELINE_URL=base.url(),
                       TWIN_CANDIDATE_URL=cand.url(), TWIN_READY_PATH="/healthz",
                       TWIN_READY_TIMEOUT="30")
            # The gate relative to the project directory, or absolute.
            env["TWIN_GATE"] = os.path.relpath(gate, project) if regressed else gate
            # GitLab's bash runs the script's entries in one shell, stopping at the first failure.
            code, out, err = run_script(self, "\n".join(script) + "\n", project, env, GL_EXAMPLE)
        finally:
            base.stop()
            cand.stop()
        want = 1 if regressed else 0
        self.assertEqual(code, want, f"the job's script exited {code}:\n{out[-3000:]}\n"
                                     f"{err[-4000:]}")
        report = self.check_reports(os.path.join(project, "twin-out"), captured, regressed)
        art = job["artifacts"]
        for rel in art["paths"] + [art["reports"]["junit"]]:
            self.assertTrue(os.path.isfile(os.path.join(project, rel)), f"artifacts: {rel}")
        with open(os.path.join(project, "twin-out", "compare.md")) as f:
            md = f.read()
        self.assertIn("REGRESSED" if regressed else "PASS", md)
        self.assertIn("ready after", err)   # the /healthz probe of both targets
        return report

    def test_github_gate_regressed(self):
        """The GitHub gate step against a candidate whose searches are 10 ms slower: exit 1,
        outputs verdict=regressed, the Markdown verdict in the step summary, the JUnit XML with
        a failure for GET /api/search, the HTML report, all where the upload steps look."""
        self.run_github(regressed=True)

    def test_github_gate_passes(self):
        """The GitHub gate step against a second baseline (twin checked out into .twin-src,
        a relative gate, reports in reports/twin): exit 0, verdict=pass."""
        self.run_github(regressed=False)

    def test_gitlab_gate_regressed(self):
        """The GitLab job's script against the regressed candidate: exit 1 (the job fails),
        every artifact path and the JUnit report written, GET /api/search failed."""
        self.run_gitlab(regressed=True)

    def test_gitlab_gate_passes(self):
        """The GitLab job's script against a second baseline (an absolute gate): exit 0."""
        self.run_gitlab(regressed=False)


def main():
    if len(sys.argv) < 2:
        print("usage: test_ci_templates.py Templates.test_name ...", file=sys.stderr)
        return 2
    if yaml is None:
        print("test_ci_templates.py: skipped: needs python3-yaml (scripts/setup.sh)",
              file=sys.stderr)
        return 77
    suite = unittest.defaultTestLoader.loadTestsFromNames(sys.argv[1:], sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    if not result.wasSuccessful():
        return 1
    if result.skipped and len(result.skipped) >= result.testsRun:
        return 77  # ctest SKIP_RETURN_CODE
    return 0


if __name__ == "__main__":
    sys.exit(main())

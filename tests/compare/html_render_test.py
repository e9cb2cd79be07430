#!/usr/bin/env python3
"""Opens the comparator's HTML report in headless Chromium and checks that it renders.

Usage: html_render_test.py PATH/TO/compare_report_test

The gtest binary writes its sample report (two regressed routes) when TWIN_HTML_OUT is set
(ReportHtml.WritesSample); its JUnit report goes to TWIN_JUNIT_OUT and must parse as XML. Chromium
then dumps the DOM it built (one latency CDF plot per regressed route plus the overall one, each
with a baseline and a candidate curve, and the verdict) and takes a screenshot, which must show
the page: not blank, and with the plots' two line colours on it.

Exit codes: 0 pass, 1 fail, 77 skip (no Chromium; ctest's SKIP_RETURN_CODE).
Standard library only.
"""

import html.parser
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
import zlib

CHROMIUM = "/usr/bin/chromium"
REGRESSED_ROUTES = 2  # in the gtest's sample_report()
BASELINE_RGB = (0x00, 0x72, 0xB2)  # the curve colours of report.cc
CANDIDATE_RGB = (0xD5, 0x5E, 0x00)
WINDOW = (1200, 2000)


def fail(message):
    print(f"html_render_test: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def run(cmd, env=None, timeout=180):
    result = subprocess.run(cmd, env=env, timeout=timeout, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    return result


class Dom(html.parser.HTMLParser):
    """Collects the SVG plots (with their path and polyline children) and the h1 text."""

    def __init__(self):
        super().__init__()
        self.plots = []  # one dict per <svg class="cdf">: {"paths": [class, ...], "marks": n}
        self.other_svgs = 0
        self.stack = []
        self.h1 = ""
        self.in_h1 = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "svg":
            if "cdf" in classes:
                self.plots.append({"paths": [], "marks": 0, "d": []})
            else:
                self.other_svgs += 1
            self.stack.append("cdf" if "cdf" in classes else "svg")
        inside = bool(self.stack) and self.stack[-1] == "cdf"
        if inside and tag in ("path", "polyline"):
            self.plots[-1]["paths"].append(" ".join(classes))
            self.plots[-1]["d"].append(a.get("d") or a.get("points") or "")
        if inside and tag == "circle" and "mark" in classes:
            self.plots[-1]["marks"] += 1
        if tag == "h1":
            self.in_h1 = True

    def handle_endtag(self, tag):
        if tag == "svg" and self.stack:
            self.stack.pop()
        if tag == "h1":
            self.in_h1 = False

    def handle_data(self, data):
        if self.in_h1:
            self.h1 += data


def png_pixels(path):
    """Decodes an 8-bit non-interlaced PNG (grey, RGB, grey+alpha or RGBA) into rows of bytes;
    returns (width, height, channels, rows)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{path} is not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None:
        fail(f"{path} has no IHDR")
    width, height, depth, color, _, _, interlace = header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(color)
    if depth != 8 or channels is None or interlace != 0:
        fail(f"{path}: unsupported PNG (depth {depth}, colour type {color}, interlace {interlace})")
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = prev[i]
            ul = prev[i - channels] if i >= channels else 0
            if ftype == 1:
                line[i] = (line[i] + left) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + up) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif ftype == 4:
                p = left + up - ul
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else ul)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, channels, rows


def check_screenshot(path):
    width, height, channels, rows = png_pixels(path)
    if (width, height) != WINDOW:
        fail(f"screenshot is {width}x{height}, want {WINDOW[0]}x{WINDOW[1]}")
    if channels < 3:
        fail("screenshot is greyscale: the coloured plots did not render")
    counts = {}
    near = {"baseline": 0, "candidate": 0}
    for row in rows[::2]:  # every other row: plenty for these checks
        for x in range(0, width * channels, channels):
            rgb = (row[x], row[x + 1], row[x + 2])
            counts[rgb] = counts.get(rgb, 0) + 1
            for name, ref in (("baseline", BASELINE_RGB), ("candidate", CANDIDATE_RGB)):
                if sum(abs(a - b) for a, b in zip(rgb, ref)) <= 40:
                    near[name] += 1
    total = sum(counts.values())
    background = max(counts.values())
    if len(counts) < 16 or total - background < total // 50:
        fail(f"screenshot looks blank: {len(counts)} colours, "
             f"{total - background} of {total} pixels off the background")
    for name, n in near.items():
        if n < 200:
            fail(f"screenshot shows almost no {name} colour ({n} pixels): the plots did not draw")
    print(f"screenshot {width}x{height}: {len(counts)} colours, "
          f"{100 * (total - background) / total:.1f}% off the background, "
          f"baseline-coloured {near['baseline']}, candidate-coloured {near['candidate']} pixels")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = os.path.abspath(sys.argv[1])
    if not os.access(binary, os.X_OK):
        fail(f"{binary} is not an executable (build compare_report_test first)")
    if not os.access(CHROMIUM, os.X_OK):
        print(f"html_render_test: SKIP: {CHROMIUM} is not installed (apt-get install chromium)")
        return 77
    work = tempfile.mkdtemp(prefix="twin-html-")
    try:
        page = os.path.join(work, "report.html")
        junit = os.path.join(work, "report.xml")
        env = dict(os.environ, TWIN_HTML_OUT=page, TWIN_JUNIT_OUT=junit)
        r = run([binary, "--gtest_filter=ReportHtml.WritesSample"], env=env)
        if r.returncode != 0 or not os.path.exists(page):
            fail(f"{binary} did not write the sample report:\n{r.stdout.decode()}"
                 f"{r.stderr.decode()}")
        with open(page, encoding="utf-8") as f:
            source = f.read()

        # The JUnit report is XML a strict parser takes.
        suites = ElementTree.parse(junit).getroot()
        cases = suites.findall("./testsuite/testcase")
        if suites.tag != "testsuites" or int(suites.get("tests")) != len(cases):
            fail("JUnit: testsuites/@tests does not match the testcases")
        if int(suites.get("failures")) != len(suites.findall("./testsuite/testcase/failure")):
            fail("JUnit: testsuites/@failures does not match the failures")

        # No URL in the page, but the SVG namespace.
        stripped = source.replace('xmlns="http://www.w3.org/2000/svg"', "")
        if "http://" in stripped or "https://" in stripped:
            fail("the page holds a URL")

        chromium = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync"]
        url = "file://" + page

        # The DOM Chromium built.
        r = run(chromium + ["--user-data-dir=" + os.path.join(work, "profile-dom"), "--dump-dom",
                            url])
        dom_text = r.stdout.decode("utf-8", "replace")
        if r.returncode != 0 or "<html" not in dom_text:
            fail(f"chromium --dump-dom failed ({r.returncode}):\n{r.stderr.decode()[-2000:]}")
        dom = Dom()
        dom.feed(dom_text)
        if dom.h1.strip() != "REGRESSED":
            fail(f"verdict heading is {dom.h1.strip()!r}, want 'REGRESSED'")
        want = REGRESSED_ROUTES + 1
        if len(dom.plots) != want:
            fail(f"{len(dom.plots)} latency CDF plots, want {want} (regressed routes + overall)")
        for i, plot in enumerate(dom.plots):
            for cls in ("cdf-baseline", "cdf-candidate", "tail-baseline", "tail-candidate"):
                if plot["paths"].count(cls) != 1:
                    fail(f"plot {i}: {plot['paths'].count(cls)} <path class={cls}>, want 1")
            for d in plot["d"]:
                if d.count("L") < 10 or "nan" in d.lower() or "inf" in d.lower():
                    fail(f"plot {i}: a curve with too few or bad points: {d[:80]}")
            if plot["marks"] < 4:
                fail(f"plot {i}: {plot['marks']} p50/p99 marks, want at least 4")
        if dom.other_svgs < 1:
            fail("no error-rate bars")
        print(f"DOM: verdict {dom.h1.strip()}, {len(dom.plots)} CDF plots "
              f"({sum(len(p['paths']) for p in dom.plots)} curves), {dom.other_svgs} other SVGs")

        # What a person sees.
        png = os.path.join(work, "report.png")
        r = run(chromium + ["--user-data-dir=" + os.path.join(work, "profile-png"),
                            "--screenshot=" + png, f"--window-size={WINDOW[0]},{WINDOW[1]}", url])
        if r.returncode != 0 or not os.path.exists(png):
            fail(f"chromium --screenshot failed ({r.returncode}):\n{r.stderr.decode()[-2000:]}")
        check_screenshot(png)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("html_render_test: 1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

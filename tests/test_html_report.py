"""The HTML report in a real browser: runs tests/browser/html_report.test.mjs (headless Debian
chromium driven by playwright-core) when node, chromium and the npm packages are installed."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import BROWSER, CHROMIUM, ROOT, missing_browser


def _missing() -> str | None:
    if missing_browser() is not None:
        return missing_browser()
    if shutil.which("cargo") is None:
        return "cargo is not installed (the test builds its report with cargo run --example)"
    return None


@pytest.mark.skipif(_missing() is not None, reason=_missing() or "")
def test_html_report_in_chromium(tmp_path):
    env = dict(os.environ, DZIURA_SCREENSHOT_DIR=str(tmp_path), CHROMIUM=CHROMIUM)
    r = subprocess.run(
        ["node", str(BROWSER / "html_report.test.mjs")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "ok: html report browser test" in r.stdout
    for name in ("html-report-sampled.png", "html-report-traced.png"):
        png = tmp_path / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


# --- reports of a real program: own code (the planted culprit) calling the standard library ---

import json
import re
import sys

from conftest import PROGRAMS
from test_your_code_first import ranking_rows

DZIURA = [sys.executable, "-m", "dziura"]


def dz(*args, cwd):
    r = subprocess.run([*DZIURA, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def culprit(tmp_path_factory):
    """A traced run of tests/programs/own_culprit.py with its timeline, and its HTML report."""
    d = tmp_path_factory.mktemp("own-culprit")
    dz("run", "--timeline", "-o", d / "p.dziura", PROGRAMS / "own_culprit.py", cwd=d)
    dz("convert", d / "p.dziura", "-o", d / "report.html", cwd=d)
    return d


def report_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="dziura-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))


@pytest.mark.skipif(missing_browser() is not None, reason=missing_browser() or "")
def test_report_table_starts_with_your_code_first(culprit):
    seen = subprocess.run(
        ["node", str(BROWSER / "html_rows.mjs"), str(culprit / "report.html")],
        cwd=ROOT, env=dict(os.environ, CHROMIUM=CHROMIUM), capture_output=True, text=True, timeout=300,
    )
    assert seen.returncode == 0, seen.stderr
    page = json.loads(seen.stdout)
    assert page["errors"] == []
    own = [row for row in page["own"] if row[0] != "outside your code"]
    # Row 1 is the culprit, charged the stdlib time it causes, and says where that time went.
    name, where, charged, share, total, mostly = own[0]
    assert name == "encode_all" and where.endswith("own_culprit.py:8"), own
    assert float(share.rstrip("%")) > 50, own[0]
    assert "% in iterencode (encoder.py:" in mostly, own[0]
    # The rows are the ranking `dziura show` prints above its table, in its order.
    text = dz("show", culprit / "p.dziura", cwd=culprit)
    shown = [line.split()[3] for line in ranking_rows(text)]
    assert [row[0] for row in own] == shown, (own, text[:1500])
    for row, line in zip(own, ranking_rows(text)):
        assert abs(float(row[3].rstrip("%")) - float(line.split()[1].rstrip("%"))) < 0.06, (row, line)
    # The table of every function is one click away, and the page says so.
    assert not page["fullShownFirst"] and page["fullShownAfterClick"], page
    assert re.fullmatch(r"Show all \d+ functions", page["showAll"]), page["showAll"]
    assert page["fullRows"] > len(own)


def tree_lines(text: str) -> list[tuple[int, str, str]]:
    """(depth, seconds, name) of each line of `show --tree` (top-level calls at depth 1)."""
    out = []
    for line in text.splitlines()[1:]:
        body = line.lstrip("│├└─ ")
        prefix = len(line) - len(body)
        m = re.fullmatch(r"([\d.]+)s +[\d.]+% (.*?)  (.+?)( ↺ recursive)?", body)
        assert m, line
        out.append((1 if prefix == 0 else prefix // 3 + 1, m.group(1), m.group(2)))
    return out


def test_timeline_report_tree_is_show_trees(culprit):
    data = report_data((culprit / "report.html").read_text())
    assert data["meta"]["tree_source"] == "timeline"
    funcs = data["funcs"]
    got = []
    stack = [(c, 1) for c in reversed(data["tree"].get("c", []))]
    while stack:
        n, depth = stack.pop()
        assert "f" in n, "one thread: no thread nodes"
        got.append((depth, f"{n['v']:.3f}", funcs[n["f"]]["name"]))
        stack.extend((c, depth + 1) for c in reversed(n.get("c", [])))
    text = dz("show", culprit / "p.dziura", "--tree", "--all", "--min-percent", "0", cwd=culprit)
    assert text.startswith("Call tree of a traced timeline:"), text[:300]
    want = tree_lines(text)
    assert len(want) > 20 and got == want
    total = float(re.search(r"calls, ([\d.]+) s in all", text).group(1))
    assert f"{data['meta']['total']:.3f}" == f"{total:.3f}"

"""The HTML report in a real browser: runs tests/browser/html_report.test.mjs (headless Debian
chromium driven by playwright-core) when node, chromium and the npm packages are installed."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BROWSER = ROOT / "tests" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (apt-get install -y nodejs npm)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is not installed (apt-get install -y chromium)"
    if not (BROWSER / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed (cd tests/browser && npm ci)"
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

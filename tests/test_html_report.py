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

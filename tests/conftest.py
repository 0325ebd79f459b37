"""Shared helpers: run code under cProfile or dziura in a fresh interpreter and load its stats."""

from __future__ import annotations

import marshal
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "tests" / "programs"
BROWSER = ROOT / "tests" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def missing_browser() -> str | None:
    """Why the headless-chromium tests cannot run here, or None (scripts/setup.sh installs all)."""
    import shutil

    if shutil.which("node") is None:
        return "node is not installed (apt-get install -y nodejs npm)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is not installed (apt-get install -y chromium)"
    if not (BROWSER / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed (cd tests/browser && npm ci)"
    return None

# The profilers' own rows, which differ by design (dziura hides its own calls).
MACHINERY = {
    ("~", 0, "<method 'disable' of '_lsprof.Profiler' objects>"),
}


def run_python(code: str, *args: str, cwd=None, timeout=120, env=None) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(PROGRAMS)
    if env:
        e.update(env)
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=e
    )


def profile_call(profiler: str, module: str, func: str, tmp_path, **kwargs) -> dict:
    """Profiles ``module.func()`` with ``runcall`` under ``profiler`` and returns its stats dict."""
    out = tmp_path / f"{profiler}-{module}-{func}.prof"
    opts = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    code = (
        f"import {profiler}, {module}\n"
        f"p = {profiler}.Profile({opts})\n"
        f"p.runcall({module}.{func})\n"
        f"p.dump_stats({str(out)!r})\n"
    )
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    with open(out, "rb") as f:
        stats = marshal.load(f)
    return {k: v for k, v in stats.items() if k not in MACHINERY}


_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def _key(k):
    """A key without the object addresses cProfile puts in some C names; they differ per run."""
    return (k[0], k[1], _ADDRESS.sub(" at 0x…", k[2]))


def counts(stats: dict) -> dict:
    return {_key(k): (v[0], v[1]) for k, v in stats.items()}


def edges(stats: dict) -> dict:
    return {
        (_key(caller), _key(k)): (e[0], e[1])
        for k, v in stats.items()
        for caller, e in v[4].items()
        if caller not in MACHINERY
    }


@pytest.fixture
def python_version():
    return sys.version_info[:2]


SAMPLING_TARGET = str(PROGRAMS / "sampling_target.py")


@pytest.fixture
def target():
    """Starts `sampling_target.py MODE ...` processes that print "ready"; kills them afterwards."""
    procs = []

    def start(*args):
        p = subprocess.Popen([sys.executable, SAMPLING_TARGET, *map(str, args)], stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.kill()
        p.wait()

"""Shared helpers: run code under cProfile or dziura in a fresh interpreter and load its stats."""

from __future__ import annotations

import marshal
import os
import pathlib
import re
import subprocess
import sys
import time

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


def wait_until_sampling(recorder_pid, target_pid, timeout=60):
    """Waits until `dziura record` is sampling: it keeps the target's /proc stat files open then.
    A fixed sleep is not enough where interpreter start-up is slow (the free-threaded build
    under load), and a signal sent before the recorder's handlers are set would kill it."""
    deadline = time.monotonic() + timeout
    needle = f"/proc/{target_pid}/task/"
    while time.monotonic() < deadline:
        try:
            fds = os.listdir(f"/proc/{recorder_pid}/fd")
            if any(needle in os.readlink(f"/proc/{recorder_pid}/fd/{fd}") for fd in fds):
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("dziura record did not start sampling")


def processes(cmdline_part=None, parent=None):
    """Pids whose command line contains `cmdline_part` or whose parent is `parent`, from /proc
    (no pgrep: the Debian root that runs 3.14 and 3.15 has none)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = open(f"/proc/{entry}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
            ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if (cmdline_part is not None and cmdline_part in cmdline) or (parent is not None and ppid == parent):
            found.append(int(entry))
    return found

"""Stacks that change while they are read: a recursive target is read every time, and no stack
that cannot exist is ever shown (a caller frame not on its call is read again or dropped, and
counted)."""

import re
import subprocess
import sys

import pytest

from conftest import PROGRAMS

RECURSIVE = str(PROGRAMS / "recursive.py")
DZIURA = [sys.executable, "-m", "dziura"]
CALL_LINE = 8  # recurse()'s call in tests/programs/recursive.py


@pytest.fixture
def recursive():
    procs = []

    def start(depth):
        p = subprocess.Popen([sys.executable, RECURSIVE, str(depth)], stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.kill()
        p.wait()


def impossible(frames):
    """Whether a stack (outermost first, as `file:line` or `func (file:line)` frames) has a
    recurse frame with a callee that is not on the call line."""
    lines = [int(m.group(1)) for f in frames[:-1] if (m := re.match(r"recurse \(.*:(\d+)\)$", f))]
    return any(line != CALL_LINE for line in lines)


def test_dumps_of_a_recursing_target_never_fail(recursive):
    p = recursive(300)  # deeper than one 16 KiB frame chunk
    for _ in range(100):
        r = subprocess.run([*DZIURA, "dump", "--pid", str(p.pid)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        frames = [line.strip() for line in r.stdout.splitlines() if line.startswith("    ")]
        assert "<module>" in frames[-1]
        assert not impossible(frames[::-1]), r.stdout


def test_dump_blocking_reads_it_too(recursive):
    """--blocking stops the target for the read; a stop between two calls of the loop finds only
    <module>, so a few dumps are taken and one must be inside the recursion."""
    p = recursive(50)
    inside = 0
    for _ in range(20):
        r = subprocess.run([*DZIURA, "dump", "--pid", str(p.pid), "--blocking"], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0 and "<module> (" in r.stdout, r.stderr
        frames = [line.strip() for line in r.stdout.splitlines() if line.startswith("    ")]
        assert not impossible(frames[::-1]), r.stdout
        inside += "recurse (" in r.stdout
    assert inside > 0


def test_record_starts_on_a_recursing_target_never_fail(recursive, tmp_path):
    p = recursive(100)
    for i in range(20):
        out = tmp_path / f"start{i}.collapsed"
        r = subprocess.run([*DZIURA, "record", "--pid", str(p.pid), "-r", "500", "-d", "0.2", "-f", "collapsed",
                            "-o", str(out)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "recurse (" in out.read_text()


def test_no_impossible_stack_is_kept(recursive, tmp_path):
    p = recursive(20)
    out = tmp_path / "torn.collapsed"
    kept, bad, summary = 0, 0, ""
    # At least 1,000 kept stacks, non-blocking (the default).
    while kept < 1000:
        r = subprocess.run([*DZIURA, "record", "--pid", str(p.pid), "-r", "1000", "-d", "1.5", "-f", "collapsed",
                            "-o", str(out)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        summary = r.stderr
        for line in out.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            kept += int(n)
            bad += int(n) if impossible(stack.split(";")) else 0
    assert bad == 0, f"{bad} impossible stacks in {kept}"
    m = re.search(r"(\d+) torn stacks read again, (\d+) dropped", summary)
    assert m, summary

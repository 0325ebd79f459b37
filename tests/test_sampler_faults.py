"""The sampler while its target changes under it (tests/programs/fault_target.py): a target that
exits, runs exec (into Python again, and into a program that is not Python), forks, starts and
ends threads without pause, or maps and unmaps memory (frame chunks and mmaps) mid-walk. Each
leaves a written profile holding what ran, one summary line that says what happened, no
traceback or panic, and, in launch mode, the command's own status."""

import subprocess
import sys

import pytest

from conftest import PROGRAMS

FAULT = str(PROGRAMS / "fault_target.py")
DZIURA = [sys.executable, "-m", "dziura"]


def folded(path):
    """{stack: count} of a collapsed file."""
    stacks = {}
    for line in path.read_text().splitlines():
        stack, count = line.rsplit(" ", 1)
        stacks[stack] = stacks.get(stack, 0) + int(count)
    return stacks


def frames(stacks, name):
    return sum(n for s, n in stacks.items() if any(f.startswith(name + " (") for f in s.split(";")))


def record(tmp_path, mode, *extra, launch=True, seconds=2.0):
    out = tmp_path / f"{mode}.txt"
    cmd = [*DZIURA, "record", "-r", "200", "-f", "collapsed", "-o", str(out), *extra]
    if launch:
        r = subprocess.run([*cmd, "--", sys.executable, FAULT, mode, str(seconds)], capture_output=True,
                           text=True, timeout=60)
    else:
        target = subprocess.Popen([sys.executable, FAULT, mode, str(seconds)], stdout=subprocess.PIPE, text=True)
        try:
            assert target.stdout.readline().strip() == "ready"
            r = subprocess.run([*cmd, "--pid", str(target.pid)], capture_output=True, text=True, timeout=60)
        finally:
            target.wait(timeout=30)
    assert "Traceback" not in r.stderr and "panicked" not in r.stderr, r.stderr
    summary = [line for line in r.stderr.splitlines() if line.startswith("dziura: ")]
    assert len(summary) == 1, r.stderr
    assert f"wrote collapsed to {out}" in summary[0], summary
    return r, summary[0], folded(out)


@pytest.mark.parametrize("launch", [True, False], ids=["launched", "attached"])
def test_target_that_exits_mid_run(tmp_path, launch):
    r, summary, stacks = record(tmp_path, "exit", launch=launch)
    assert summary.startswith("dziura: target exited;"), summary
    assert frames(stacks, "steady") > 0
    if launch:
        assert r.returncode == 3, r.stderr  # os._exit(3) passed on
    else:
        assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("launch", [True, False], ids=["launched", "attached"])
def test_target_that_runs_exec_is_read_again(tmp_path, launch):
    r, summary, stacks = record(tmp_path, "exec", launch=launch)
    assert r.returncode == 0, r.stderr
    assert "the target ran exec once: its new program was read from then on" in summary, summary
    assert frames(stacks, "steady") > 0, "the program before exec"
    assert frames(stacks, "after_exec") > 0, "the program after exec"


def test_target_that_runs_exec_into_not_python(tmp_path):
    r, summary, stacks = record(tmp_path, "exec_sleep")
    assert r.returncode == 0, r.stderr
    assert "ran exec into a program that is not Python" in summary, summary
    assert frames(stacks, "steady") > 0


def test_target_that_forks(tmp_path):
    r, summary, stacks = record(tmp_path, "fork", "--subprocesses", "--threads")
    assert r.returncode == 0, r.stderr
    assert summary.startswith("dziura: target exited;"), summary
    # The parent's main thread and the forked child's (its native id is the child's pid).
    roots = {s.split(";")[0] for s in stacks if "steady (" in s}
    assert len([r for r in roots if r.startswith("thread MainThread (")]) == 2, roots


@pytest.mark.parametrize("mode", ["threads", "unmap"])
def test_threads_and_memory_changing_mid_walk(tmp_path, mode):
    r, summary, stacks = record(tmp_path, mode, "--threads")
    assert r.returncode == 0, r.stderr
    assert summary.startswith("dziura: target exited;"), summary
    name = {"threads": "short_thread", "unmap": "down"}[mode]
    assert frames(stacks, name) > 0, stacks
    if mode == "unmap":
        assert any(s.startswith("thread mapper") for s in stacks), list(stacks)[:5]
    # Every kept stack of the program is one that can exist: rooted in its <module>, or a
    # thread's bootstrap, never a frame from a chunk that was unmapped and reused (stacks of the
    # interpreter's start-up, importing site, come before the program).
    for s in (s for s in stacks if "fault_target.py" in s):
        first = s.split(";")[1]
        assert first.startswith(("<module> (fault_target.py", "Thread._bootstrap (threading.py", "_bootstrap (threading.py")), s

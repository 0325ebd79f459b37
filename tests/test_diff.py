"""`dziura diff BEFORE AFTER`: a planted slowdown comes out on top, for traced and sampled runs."""

import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

DZIURA = [sys.executable, "-m", "dziura"]

# SLOW_FACTOR makes `slow` loop that many times more; `steady` does the same work every run.
TRACED = textwrap.dedent(
    """
    import os

    def slow(n):
        s = 0
        for i in range(n):
            s += i * i
        return s

    def steady(n):
        s = 0
        for i in range(n):
            s += i
        return s

    def main():
        k = int(os.environ.get("SLOW_FACTOR", "1"))
        for _ in range(20):
            slow(20000 * k)
            steady(40000)

    main()
    """
)

# The same shape, running for a fixed time so a sampler sees it for long enough.
SAMPLED = textwrap.dedent(
    """
    import os, time

    def slow():
        s = 0
        for i in range(3000):
            s += i * i
        return s

    def steady():
        s = 0
        for i in range(3000):
            s += i
        return s

    k = int(os.environ.get("SLOW_FACTOR", "1"))
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        for _ in range(k):
            slow()
        steady()
    """
)


def dz(*args, env=None, timeout=120):
    e = dict(os.environ, **env) if env else None
    return subprocess.run([*DZIURA, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=e)


def rows(out):
    """The function column of each table row (after the header lines)."""
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.rstrip().endswith("function") and "Δown%" in line)
    return lines[head + 1:]


@pytest.fixture
def traced_pair(tmp_path):
    prog = tmp_path / "prog.py"
    prog.write_text(TRACED)
    before, after = tmp_path / "before.prof", tmp_path / "after.prof"
    r = dz("run", "-o", before, prog)
    assert r.returncode == 0, r.stderr
    r = dz("run", "-o", after, prog, env={"SLOW_FACTOR": "5"})
    assert r.returncode == 0, r.stderr
    return before, after


def test_planted_slowdown_is_the_top_row(traced_pair):
    before, after = traced_pair
    r = dz("diff", before, after)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("total time "), r.stdout
    assert "→" in r.stdout.splitlines()[0]
    top = rows(r.stdout)[0]
    assert top.endswith("prog.py:4(slow)"), r.stdout
    assert top.split()[0].startswith("+"), top
    assert "20→20" in top, top
    # steady's share went down although its time did not change much.
    steady = next(line for line in rows(r.stdout) if line.endswith("(steady)"))
    assert steady.split()[0].startswith("-"), steady


def test_limit_and_sort_options(traced_pair):
    before, after = traced_pair
    r = dz("diff", before, after, "-l", "2", "-s", "cum")
    assert r.returncode == 0, r.stderr
    assert len(rows(r.stdout)) == 2
    # main's cumulative share did not change (it is always 100%); slow's did.
    assert rows(r.stdout)[0].endswith("(slow)"), r.stdout
    r = dz("diff", before, after, "-s", "calls", "-l", "1")
    assert r.returncode == 0 and len(rows(r.stdout)) == 1, r.stderr


def test_same_profile_twice_shows_no_change(traced_pair):
    before, _ = traced_pair
    r = dz("diff", before, before)
    assert r.returncode == 0, r.stderr
    for line in rows(r.stdout):
        assert line.split()[0] in ("+0.00", "-0.00"), line
        assert "[new]" not in line and "[gone]" not in line


def test_errors_are_one_line(traced_pair, tmp_path):
    before, after = traced_pair
    for args, text in [
        ((before, tmp_path / "missing.prof"), "cannot read"),
        ((before, after, "-s", "bogus"), "unknown sort key 'bogus'"),
        ((before, after, "-f", "pdf"), "unknown diff format 'pdf'"),
        ((before, after, "-f", "svg"), "a flame graph diff needs two sampling profiles or two traced timelines"),
        ((before, after, "-o", tmp_path / "d.html"), "a flame graph diff needs two sampling"),
    ]:
        r = dz("diff", *args)
        assert r.returncode != 0
        assert r.stderr.startswith("dziura: error: ") and text in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1, r.stderr
    bad = tmp_path / "bad.prof"
    bad.write_text("not marshal")
    r = dz("diff", bad, after)
    assert r.returncode == 1 and r.stderr.startswith(f"dziura: error: cannot read '{bad}'"), r.stderr


def test_output_file(traced_pair, tmp_path):
    before, after = traced_pair
    out = tmp_path / "diff.txt"
    r = dz("diff", before, after, "-o", out)
    assert r.returncode == 0 and r.stdout == "", r.stderr
    assert rows(out.read_text())[0].endswith("(slow)")


def test_traced_runs_saved_as_dziura_files(tmp_path):
    prog = tmp_path / "prog.py"
    prog.write_text(TRACED)
    before, after = tmp_path / "before.dziura", tmp_path / "after.dziura"
    assert dz("run", "-o", before, prog).returncode == 0
    assert dz("run", "-o", after, prog, env={"SLOW_FACTOR": "5"}).returncode == 0
    assert before.read_bytes().startswith(b"DZIURA")
    r = dz("diff", before, after, "-l", "1")
    assert r.returncode == 0, r.stderr
    assert rows(r.stdout)[0].endswith("prog.py:4(slow)"), r.stdout
    # A dziura file against a pstats file of the same kind is fine.
    pstats = tmp_path / "before.prof"
    assert dz("run", "-o", pstats, prog).returncode == 0
    r = dz("diff", pstats, after, "-l", "1")
    assert r.returncode == 0 and rows(r.stdout)[0].endswith("prog.py:4(slow)"), r.stderr


def test_traced_timelines_give_a_differential_flame_graph(tmp_path):
    prog = tmp_path / "prog.py"
    prog.write_text(TRACED)
    before, after = tmp_path / "before.dziura", tmp_path / "after.dziura"
    assert dz("run", "--timeline", "-o", before, prog).returncode == 0
    assert dz("run", "--timeline", "-o", after, prog, env={"SLOW_FACTOR": "5"}).returncode == 0
    svg = tmp_path / "diff.svg"
    r = dz("diff", before, after, "-o", svg)
    assert r.returncode == 0, r.stderr
    root = ET.parse(svg).getroot()
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    # Hover text: "NAME (N ns, P%; +D%)": slow grew its share of the time, steady lost some.
    slow = next(t for t in titles if t.startswith("slow (prog.py:4)"))
    steady = next(t for t in titles if t.startswith("steady (prog.py:"))
    assert " ns, " in slow and "; +" in slow, slow
    assert "; -" in steady, steady
    assert any("calls traced" in (t.text or "") for t in root.iter("{http://www.w3.org/2000/svg}text"))


def record(tmp_path, fmt):
    prog = tmp_path / "sprog.py"
    prog.write_text(SAMPLED)
    out = []
    for name, factor in (("before", "1"), ("after", "5")):
        path = tmp_path / f"{name}.{fmt}"
        r = dz("record", "-r", "500", "-f", fmt, "-o", path, "--", sys.executable, prog, env={"SLOW_FACTOR": factor})
        if r.returncode != 0 and "permission" in r.stderr.lower():
            pytest.skip(f"cannot sample here: {r.stderr.strip()}")
        if r.returncode != 0 and "not available for recordings" in r.stderr:
            pytest.skip(f"record cannot write {fmt} files yet")
        assert r.returncode == 0, r.stderr
        out.append(path)
    return out


def test_sampled_runs_saved_as_pstats(tmp_path):
    # A sampled run saved as pstats compares as call counts: the table works, flame graphs not.
    before, after = record(tmp_path, "pstats")
    r = dz("diff", before, after)
    assert r.returncode == 0, r.stderr
    assert rows(r.stdout)[0].endswith("sprog.py:4(slow)"), r.stdout
    steady = next(line for line in rows(r.stdout) if line.endswith("(steady)"))
    assert float(steady.split()[0]) < 0, r.stdout


def test_sampled_runs_saved_as_folded_stacks(tmp_path):
    # Folded stacks keep the stacks: table in samples, and a differential flame graph.
    before, after = record(tmp_path, "collapsed")
    r = dz("diff", before, after, "-l", "3")
    assert r.returncode == 0, r.stderr
    assert re.match(r"total \d+ → \d+ samples", r.stdout), r.stdout
    assert rows(r.stdout)[0].endswith("sprog.py:0(slow)"), r.stdout
    assert len(rows(r.stdout)) == 3

    svg = tmp_path / "diff.svg"
    r = dz("diff", before, after, "-o", svg)
    assert r.returncode == 0, r.stderr
    root = ET.parse(svg).getroot()
    fills = {e.get("fill") for e in root.iter("{http://www.w3.org/2000/svg}rect")}
    red = {f for f in fills if f and f.startswith("rgb(255,") and not f.endswith(",255)")}
    blue = {f for f in fills if f and f.endswith(",255)") and not f.startswith("rgb(255,")}
    assert red and blue, fills
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    # slow's busiest line grew its share (hover text: "NAME (N samples, P%; +D%)").
    slow = [t for t in titles if t.startswith("slow (sprog.py:")]
    busiest = max(slow, key=lambda t: int(re.search(r"\(([\d,]+) samples", t).group(1).replace(",", "")))
    assert "; +" in busiest, titles

    html = tmp_path / "diff.html"
    r = dz("diff", before, after, "-f", "html", "-o", html)
    assert r.returncode == 0, r.stderr
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<?xml" not in page
    assert "src=" not in page and "href=\"http" not in page  # self-contained
    assert "Δown%" in page and "sprog.py:0(slow)" in page

    # A traced profile against a sampled one is refused.
    prog = tmp_path / "prog.py"
    prog.write_text(TRACED)
    traced = tmp_path / "traced.prof"
    assert dz("run", "-o", traced, prog).returncode == 0
    r = dz("diff", traced, after)
    assert r.returncode == 1
    assert r.stderr == ("dziura: error: cannot compare a tracing profile with a sampling profile "
                        "(different units)\n"), r.stderr


def test_sampled_runs_saved_as_dziura_files(tmp_path):
    before, after = record(tmp_path, "dziura")
    r = dz("diff", before, after, "-l", "3")
    assert r.returncode == 0, r.stderr
    assert re.search(r"\d+ → \d+ samples", r.stdout.splitlines()[0]), r.stdout
    assert rows(r.stdout)[0].endswith("sprog.py:4(slow)"), r.stdout
    svg = tmp_path / "diff.svg"
    r = dz("diff", before, after, "-f", "flamegraph", "-o", svg)
    assert r.returncode == 0, r.stderr
    root = ET.parse(svg).getroot()
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    slow = [t for t in titles if t.startswith("slow (sprog.py:4)")]
    assert len(slow) == 1 and "; +" in slow[0], titles
    steady = [t for t in titles if t.startswith("steady (sprog.py:")]
    assert steady and "; -" in steady[0], titles

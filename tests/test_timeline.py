"""Tracing with a timeline: every call in time order, per thread, as Chrome complete events,
speedscope evented profiles and exact flame graphs; bounded, with a visible truncation marker.
The call counts in the timeline are checked against the table's exact counts."""

import json
import os
import pstats
import subprocess
import sys
import textwrap

import pytest

DZIURA = [sys.executable, "-m", "dziura"]

PROGRAM = textwrap.dedent(
    """
    import threading

    def leaf(i):
        return i * 2

    def mid(n):
        return sum(leaf(i) for i in range(n))

    def boom():
        raise ValueError("x")

    def work():
        for _ in range(3):
            mid(5)
        try:
            boom()
        except ValueError:
            pass

    t = threading.Thread(target=work, name="worker-a")
    t.start()
    t.join()
    work()
    """
)


def dz(*args, cwd=None):
    return subprocess.run([*DZIURA, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.fixture
def program(tmp_path):
    p = tmp_path / "timeline_prog.py"
    p.write_text(PROGRAM)
    return p


def chrome_calls(trace):
    """Per tid: the complete events, checked to nest like calls (each inside its caller)."""
    by_tid = {}
    for e in trace["traceEvents"]:
        if e["ph"] == "X":
            assert e["dur"] >= 0
            by_tid.setdefault(e["tid"], []).append(e)
    eps = 1e-6
    for events in by_tid.values():
        ends = []
        for e in sorted(events, key=lambda e: (e["ts"], -e["dur"])):
            while ends and ends[-1] <= e["ts"] + eps and not (e["dur"] == 0 and ends[-1] >= e["ts"]):
                ends.pop()
            end = e["ts"] + e["dur"]
            if ends:
                assert end <= ends[-1] + eps, e
            ends.append(end)
    return by_tid


def thread_names(trace):
    return {e["tid"]: e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "thread_name"}


def test_chrome_has_every_call_per_thread_matching_exact_counts(program, tmp_path):
    out = tmp_path / "t.json"
    prof = tmp_path / "t.prof"
    r = dz("run", "-f", "chrome", "-o", str(out), str(program))
    assert r.returncode == 0, r.stderr
    r = dz("run", "-o", str(prof), str(program))
    assert r.returncode == 0, r.stderr
    trace = json.loads(out.read_text())
    names = thread_names(trace)
    assert sorted(names.values()) == ["MainThread", "worker-a"]
    by_tid = chrome_calls(trace)
    per_thread = {names[tid]: [e["name"] for e in ev] for tid, ev in by_tid.items()}
    for name in ("MainThread", "worker-a"):
        calls = per_thread[name]
        assert calls.count("leaf") == 15, name
        assert calls.count("mid") == 3, name
        assert calls.count("boom") == 1, name
        assert calls.count("work") == 1, name
    # The timeline holds exactly the calls the table counts.
    stats = pstats.Stats(str(prof)).stats
    counted = {}
    for (file, line, fn), (cc, nc, *_rest) in stats.items():
        if file == str(program):
            counted[fn] = nc
    timeline = {}
    for ev in by_tid.values():
        for e in ev:
            if e.get("args", {}).get("file") == str(program):
                timeline[e["name"]] = timeline.get(e["name"], 0) + 1
    assert timeline == counted
    leaf = next(e for ev in by_tid.values() for e in ev if e["name"] == "leaf")
    assert leaf["args"] == {"file": str(program), "line": 4}
    assert not any(e["ph"] == "i" for e in trace["traceEvents"])


def test_speedscope_evented_profiles_balance(program, tmp_path):
    out = tmp_path / "t.speedscope.json"
    r = dz("run", "--timeline", "-o", str(out), str(program))
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    frames = doc["shared"]["frames"]
    assert {p["type"] for p in doc["profiles"]} == {"evented"}
    assert any("worker-a" in p["name"] for p in doc["profiles"])
    for p in doc["profiles"]:
        stack, last, leaves = [], p["startValue"], 0
        for e in p["events"]:
            assert e["at"] >= last
            last = e["at"]
            if e["type"] == "O":
                stack.append(e["frame"])
                leaves += frames[e["frame"]]["name"] == "leaf"
            else:
                assert stack.pop() == e["frame"]
        assert stack == []
        assert last == p["endValue"]
        assert leaves == 15


def test_truncated_timeline_is_marked_and_keeps_counts(program, tmp_path):
    out = tmp_path / "t.json"
    r = dz("run", "--timeline-limit", "10", "-f", "chrome", "-o", str(out), str(program))
    assert r.returncode == 0, r.stderr
    trace = json.loads(out.read_text())
    calls = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert 0 < len(calls) <= 10
    marks = [e for e in trace["traceEvents"] if e["ph"] == "i"]
    assert len(marks) == 1 and "truncated" in marks[0]["name"] and marks[0]["s"] == "g"
    assert trace["otherData"]["truncated"] == "true"
    assert int(trace["otherData"]["dropped_calls"]) > 0
    chrome_calls(trace)
    sc = tmp_path / "t.speedscope.json"
    r = dz("run", "--timeline-limit", "10", "-o", str(sc), str(program))
    assert r.returncode == 0, r.stderr
    assert all(p["name"].endswith("(truncated)") for p in json.loads(sc.read_text())["profiles"])


def test_dziura_file_keeps_the_timeline_for_convert(program, tmp_path):
    saved = tmp_path / "t.dziura"
    r = dz("run", "--timeline", "-o", str(saved), str(program))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "c.json"
    r = dz("convert", str(saved), "-f", "chrome", "-o", str(out))
    assert r.returncode == 0, r.stderr
    names = [e["name"] for e in json.loads(out.read_text())["traceEvents"] if e["ph"] == "X"]
    assert names.count("leaf") == 30
    r = dz("show", str(saved), "-s", "calls")
    assert r.returncode == 0, r.stderr
    assert "timeline_prog.py:4(leaf)" in r.stdout


def test_exact_flame_graph_and_collapsed_from_tracing(program, tmp_path):
    r = dz("run", "-f", "collapsed", str(program))
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if "(timeline_prog.py:" in line]
    assert any(";mid (timeline_prog.py:7);{built-in method builtins.sum};<genexpr> (timeline_prog.py:8);"
               "leaf (timeline_prog.py:4) " in line
               for line in lines), lines
    svg = tmp_path / "t.svg"
    r = dz("run", "-o", str(svg), str(program))
    assert r.returncode == 0, r.stderr
    text = svg.read_text()
    assert text.startswith("<?xml") and "work (timeline_prog.py:13)" in text and "calls traced" in text


def test_api_timeline_and_write(tmp_path):
    out = tmp_path / "api.json"
    code = textwrap.dedent(
        f"""
        import dziura
        def f(n):
            return n if n < 2 else f(n - 1) + f(n - 2)
        p = dziura.Profile(timeline=True)
        p.runcall(f, 10)
        p.write({str(out)!r}, "chrome")
        try:
            dziura.Profile(timeline=-1)
        except ValueError as e:
            print("refused:", e)
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "refused: timeline must be" in r.stdout
    calls = [e["name"] for e in json.loads(out.read_text())["traceEvents"] if e["ph"] == "X"]
    assert calls.count("f") == 177


def test_bad_format_arguments(program, tmp_path):
    r = dz("run", "-f", "pprof", str(program))
    assert r.returncode == 2 and "binary" in r.stderr and "Traceback" not in r.stderr
    r = dz("run", "-f", "nope", "-o", str(tmp_path / "x"), str(program))
    assert r.returncode == 2 and "unknown output format 'nope'" in r.stderr
    r = dz("run", "--timeline-limit", "0", str(program))
    assert r.returncode == 2
    r = dz("convert", os.devnull, "-f", "chrome", "-o", str(tmp_path / "y.json"))
    assert r.returncode != 0 and "Traceback" not in r.stderr

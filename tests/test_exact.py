"""dziura's call counts equal cProfile's, function by function and edge by edge, and a known
ground truth; times are consistent."""

import sys

import pytest

from conftest import counts, edges, profile_call

# The interpreter's own deterministic profiler: `profiling.tracing` from 3.15 on (PEP 799; `cProfile`
# stays as an alias of it), `cProfile` before.
REFERENCE = "profiling.tracing" if sys.version_info >= (3, 15) else "cProfile"

CASES = [("exotic", "main"), ("exotic", "main_async")]


@pytest.mark.parametrize("module,func", CASES)
def test_counts_equal_cprofile(module, func, tmp_path):
    ours = profile_call("dziura", module, func, tmp_path)
    theirs = profile_call(REFERENCE, module, func, tmp_path)
    assert counts(ours) == counts(theirs)


@pytest.mark.parametrize("module,func", CASES)
def test_caller_edges_equal_cprofile(module, func, tmp_path):
    ours = profile_call("dziura", module, func, tmp_path)
    theirs = profile_call(REFERENCE, module, func, tmp_path)
    assert edges(ours) == edges(theirs)


def assert_equal_without_builtins(ours: dict, full: dict):
    """`ours` (a `builtins=False` table) is `full` (a table with built-ins) without them, as
    cProfile up to 3.13 makes it: the built-in rows gone, and a Python function that a built-in
    called (a `sorted` key, a generator `sum` drives) credited to one of that built-in's callers."""
    is_builtin = lambda key: key[0] == "~"  # noqa: E731
    assert counts(ours) == {k: v for k, v in counts(full).items() if not is_builtin(k)}
    full_edges = edges(full)
    # For each function, the callers it may be credited to through a built-in.
    through = {}
    for (b, f) in full_edges:
        if is_builtin(b) and not is_builtin(f):
            through.setdefault(f, set()).update(c for (c, b2) in full_edges if b2 == b and not is_builtin(c))
    ours_edges = edges(ours)
    for (c, f), n in ours_edges.items():
        if c in through.get(f, ()):
            continue  # the count may include calls made through a built-in
        assert full_edges.get((c, f)) == n, (c, f)
    for (c, f), n in full_edges.items():
        if not is_builtin(c) and not is_builtin(f) and c not in through.get(f, ()):
            assert ours_edges.get((c, f)) == n, (c, f)


def test_builtins_off_and_subcalls_off_equal_cprofile(tmp_path):
    for opts in ({"builtins": False}, {"subcalls": False}):
        ours = profile_call("dziura", "exotic", "main", tmp_path, **opts)
        theirs = profile_call(REFERENCE, "exotic", "main", tmp_path, **opts)
        if sys.version_info >= (3, 14):
            # 3.14's and 3.15's _lsprof take `subcalls` and `builtins` and ignore both (checked on
            # Debian's 3.14.10 and 3.15.2: `_lsprof.Profiler(subcalls=False, builtins=False)`
            # still records built-ins and caller edges), while the documented meaning is what
            # cProfile up to 3.13 does. The truth is then their full table, reduced by hand.
            full = profile_call(REFERENCE, "exotic", "main", tmp_path)
            assert counts(theirs) == counts(full), "3.14+ cProfile honours its flags again: drop this branch"
            if opts == {"builtins": False}:
                assert_equal_without_builtins(ours, full)
            else:
                assert counts(ours) == counts(full)
                assert edges(ours) == {} and edges(full) != {}
            continue
        assert counts(ours) == counts(theirs), opts
        assert edges(ours) == edges(theirs), opts


def test_known_ground_truth(tmp_path):
    stats = profile_call("dziura", "exotic", "main", tmp_path)
    by_name = {}
    for (file, line, name), v in stats.items():
        if file.endswith("exotic.py"):
            by_name[name] = (v[0], v[1])
    assert by_name["fib"] == (1, 465)  # fib(12): 465 calls, one primitive
    assert by_name["is_even"] == (1, 11)  # is_even(20) → is_odd(19) → ... → is_even(0)
    assert by_name["is_odd"] == (1, 10)  # mutual recursion: only the outermost is primitive
    assert by_name["raises"] == (5, 5)
    assert by_name["catches"] == (1, 1)
    assert by_name["cached"] == (3, 3)  # lru_cache: only misses reach the function
    assert by_name["add"] == (2, 2)
    assert by_name["area"] == (5, 5)
    # A generator counts one call per resume: countdown(4) → 5, inside delegate 4, closed one 2, thrown 2.
    # Only 3.13 closes a generator paused at a plain yield without resuming its frame; 3.11, 3.12,
    # 3.14 and 3.15 resume it to raise GeneratorExit there (their cProfile counts 13 too).
    closing = 0 if sys.version_info[:2] == (3, 13) else 1
    assert by_name["countdown"] == (12 + closing, 12 + closing)
    assert stats[("~", 0, "<method 'append' of 'list' objects>")][:2] == (10, 10)
    assert stats[("~", 0, "<built-in method builtins.abs>")][:2] == (10, 10)


def test_times_are_consistent(tmp_path):
    stats = profile_call("dziura", "exotic", "main", tmp_path)
    for key, (cc, nc, tt, ct, callers) in stats.items():
        assert 0 <= tt <= ct + 1e-9, key
        assert cc <= nc
        for c, (enc, ecc, ett, ect) in callers.items():
            assert 0 <= ett <= ect + 1e-9
            assert enc <= nc
    main = next(v for k, v in stats.items() if k[2] == "main")
    total_tt = sum(v[2] for v in stats.values())
    assert total_tt == pytest.approx(main[3], rel=0.02, abs=2e-4)


def test_profiler_never_shows_itself(tmp_path):
    stats = profile_call("dziura", "exotic", "main", tmp_path)
    for file, line, name in stats:
        assert "dziura" not in file and "dziura" not in name.lower() and "Profile" not in name


@pytest.mark.skipif(sys.version_info < (3, 12), reason="3.11 has no PEP 709 inlining; still covered above")
def test_comprehensions_are_inlined_like_cprofile(tmp_path):
    stats = profile_call("dziura", "exotic", "builtin_calls", tmp_path)
    assert not any(name in ("<listcomp>", "<dictcomp>") for _, _, name in stats)

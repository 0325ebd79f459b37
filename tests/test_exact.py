"""dziura's call counts equal cProfile's, function by function and edge by edge, and a known
ground truth; times are consistent."""

import sys

import pytest

from conftest import counts, edges, profile_call

CASES = [("exotic", "main"), ("exotic", "main_async")]


@pytest.mark.parametrize("module,func", CASES)
def test_counts_equal_cprofile(module, func, tmp_path):
    ours = profile_call("dziura", module, func, tmp_path)
    theirs = profile_call("cProfile", module, func, tmp_path)
    assert counts(ours) == counts(theirs)


@pytest.mark.parametrize("module,func", CASES)
def test_caller_edges_equal_cprofile(module, func, tmp_path):
    ours = profile_call("dziura", module, func, tmp_path)
    theirs = profile_call("cProfile", module, func, tmp_path)
    assert edges(ours) == edges(theirs)


def test_builtins_off_and_subcalls_off_equal_cprofile(tmp_path):
    for opts in ({"builtins": False}, {"subcalls": False}):
        ours = profile_call("dziura", "exotic", "main", tmp_path, **opts)
        theirs = profile_call("cProfile", "exotic", "main", tmp_path, **opts)
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
    # 3.13 closes a generator paused at a plain yield without resuming its frame.
    closing = 0 if sys.version_info >= (3, 13) else 1
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

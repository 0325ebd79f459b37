"""CPython's own cProfile tests, run against dziura: the drop-in promise checked by the code that
defines cProfile's behaviour (each interpreter's `test.test_profile.ProfileTest` with the exact
tables of `test/profilee.py`, and the behaviour tests of its cProfile test module).

The test functions are CPython's own, not copies: each is taken from the interpreter's `test`
package and run with dziura as the profiler class and module. Command-line tests call
`python -m cProfile`; here the same functions run with the module name swapped for dziura.
"""

import importlib
import sys
import types
import unittest

import dziura

# cProfile's tests live in test_cprofile up to 3.14; 3.15 moved cProfile to profiling.tracing.
MODULE = (
    "test.test_profiling.test_tracing_profiler"
    if sys.version_info >= (3, 15)
    else "test.test_cprofile"
)

try:
    cpython = importlib.import_module(MODULE)
except ImportError as e:  # pragma: no cover - setup.sh prepares interpreters that have it
    raise ImportError(
        f"this interpreter has no {MODULE} ({e}); dziura's test matrix needs CPython's test "
        "package (pyenv and built CPythons include it; Debian's needs libpython3.X-testsuite)"
    ) from e

# Tests left out, each for what it inspects instead of behaviour a user sees.
LEFT_OUT = {
    "test_bad_counter_during_dealloc": "drives _lsprof.Profiler directly",
    "test_crash_with_not_enough_args": "calls _lsprof's private _pystart_callback methods",
    "test_enable_in_external_timer": "drives _lsprof.Profiler directly",
    "test_clear_with_nested_calls": "drives _lsprof.Profiler directly",
    "test_external_timer_result_reentry": "drives _lsprof.Profiler directly",
    "test_external_timer_reinitializes_profiler": "drives _lsprof.Profiler directly",
}
if sys.version_info >= (3, 12):
    LEFT_OUT["test_profile_enable_disable"] = (
        "asserts that sys.monitoring's profiler tool is named 'cProfile' (dziura's is 'dziura'); "
        "tests/test_api.py pins dziura's name instead"
    )
else:
    LEFT_OUT["test_profile_enable_disable"] = (
        "asserts that sys.getprofile() is the Profile; dziura's 3.11 hook object is a per-thread "
        "capsule (each thread's state handed to the C hook), pinned in tests/test_api.py"
    )
LEFT_OUT["test_profile_as_context_manager"] = LEFT_OUT["test_profile_enable_disable"]
if sys.version_info >= (3, 12):
    LEFT_OUT["test_second_profiler"] = (
        "expects sys.monitoring's 'tool 2 is already in use'; dziura refuses a second active "
        "profiler with its own ValueError, pinned in tests/test_api.py"
    )


def _repadded(expected, actual, arrow):
    """`expected` with its name column as wide as `actual`'s (the column before `arrow`)."""
    width = lambda text: next(
        (line.index(arrow) for line in text.split("\n") if arrow in line), None
    )
    old, new = width(expected), width(actual)
    if old is None or new is None or old == new:
        return expected
    lines = []
    for line in expected.split("\n"):
        if line.startswith(" "):
            lines.append(line[old - new :] if old > new else " " * (new - old) + line)
        elif arrow in line:
            name, rest = line[:old], line[old:]
            lines.append(name.rstrip().ljust(new) + rest)
        else:
            lines.append(line)
    return "\n".join(lines)


def _left_out(reason):
    @unittest.skip(reason)
    def skipped(self):
        pass

    return skipped


def _with_dziura(func):
    """CPython's test function, its `python -m cProfile` calls made as `python -m dziura`."""
    helpers = dict(func.__globals__)
    for name in ("assert_python_ok", "assert_python_failure"):
        real = func.__globals__.get(name)
        if real is None:
            continue

        def swapped(*args, _real=real, **kw):
            args = tuple("dziura" if a == "cProfile" else a for a in args)
            return _real(*args, **kw)

        helpers[name] = swapped
    return types.FunctionType(
        func.__code__, helpers, func.__name__, func.__defaults__, func.__closure__
    )


class DziuraProfileTest(cpython.CProfileTest):
    """ProfileTest's tables (profilee.py with its deterministic timer) and cProfile's behaviour
    tests, with dziura.Profile as the class and dziura as the module."""

    profilerclass = dziura.Profile
    profilermodule = dziura

    def get_expected_output(self):
        """cProfile's expected tables, every number as CPython has it. Only the width of the name
        column of print_callers and print_callees is dziura's: pstats pads it to the longest
        name in the whole profile, which under cProfile is its own row
        `{method 'disable' of '_lsprof.Profiler' objects}`; dziura hides its own calls (README,
        "What differs from cProfile"), so its column is that much narrower."""
        expected = dict(super().get_expected_output())
        results = dict(zip(self.methodnames, self.do_profiling()[1:]))
        for method, arrow in (("print_callers", "<-"), ("print_callees", "->")):
            expected[method] = _repadded(expected[method], results[method], arrow)
        return expected


for _name in dir(cpython.CProfileTest):
    if _name in LEFT_OUT:
        setattr(DziuraProfileTest, _name, _left_out(LEFT_OUT[_name]))


class DziuraCommandLineTest(unittest.TestCase):
    """cProfile's command-line tests, with `-m cProfile` made `-m dziura`."""


for _name, _func in vars(cpython.TestCommandLine).items():
    if _name.startswith(("test_", "_test_")) and callable(_func):
        setattr(DziuraCommandLineTest, _name, _with_dziura(_func))


# ProfileTest is imported into the cProfile test module; keep pytest from collecting those
# originals (they test cProfile itself) under this file's name.
del cpython

"""dziura: find the hole in the whole. A Python profiler written in Rust.

Tracing mode is a drop-in for cProfile: ``import dziura as cProfile`` keeps every call working,
with exact counts, one stack per thread, and less overhead.
"""

from __future__ import annotations

import functools
import sys

from dziura._native import Profile, Sampler, active

__all__ = ["Profile", "Sampler", "run", "runctx", "profile", "main"]


def run(statement, filename=None, sort=-1):
    """Profile ``statement`` in ``__main__``'s namespace; print the table or write ``filename``."""
    prof = Profile()
    try:
        prof.run(statement)
    except SystemExit:
        pass
    finally:
        _report(prof, filename, sort)


def runctx(statement, globals, locals, filename=None, sort=-1):
    """Like :func:`run`, with the given namespaces."""
    prof = Profile()
    try:
        prof.runctx(statement, globals, locals)
    except SystemExit:
        pass
    finally:
        _report(prof, filename, sort)


def _report(prof, filename, sort, limit=None):
    if filename is not None:
        prof.dump_stats(filename)
    elif limit is None:
        prof.print_stats(sort)
    else:
        prof.print_stats(sort, limit)


def profile(func=None, *, sort="cumulative", limit=None, output=None):
    """Decorator that profiles every call of one function.

    ``@dziura.profile`` prints the table after each call; ``sort`` and ``limit`` work as in
    ``print_stats``; ``output="f.prof"`` writes a pstats file instead. A call made while a profiler
    is already running (recursion, or an outer profile) runs unprofiled.
    """

    def decorate(f):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            if active():
                return f(*args, **kwargs)
            prof = Profile()
            try:
                return prof.runcall(f, *args, **kwargs)
            finally:
                _report(prof, output, sort, limit)

        return wrapper

    return decorate(func) if func is not None else decorate


def main(argv=None):
    """The ``dziura`` command."""
    from dziura._native import main as _main

    argv = list(sys.argv if argv is None else argv)
    argv[0] = "dziura"
    return _main(argv)

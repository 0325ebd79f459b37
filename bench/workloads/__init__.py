"""Deterministic benchmark workloads; each module exposes ``run()``.

Each ``run()`` takes roughly 0.3-0.6 s un-profiled on CPython 3.11 on the reference
machine, returns a small checksum (so the work cannot be skipped and results can be
compared across runs), and uses no randomness, clocks, threads or files.
"""

NAMES = ("recursion", "oop", "builtins_heavy", "realistic")

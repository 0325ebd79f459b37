"""Benchmark dziura against no profiler, cProfile, yappi, pyinstrument and a no-op hook.

Run it with the interpreter you want to measure; that interpreter must have dziura
installed, and yappi/pyinstrument if those columns should be filled
(``pip install -r bench/requirements.txt``)::

    python bench/run.py                         # all workloads, best of 5
    python bench/run.py --quick --workload oop  # one workload, best of 3
    python bench/run.py --markdown BENCHMARKS.md

Why it is built this way:

* Every measurement runs in a fresh child process of the same interpreter
  (``run.py --child MODE WORKLOAD``). Profilers leave state behind (installed hooks,
  interned code-object tables, de-specialised bytecode, allocator high-water marks),
  so running them one after another in one process would let one mode pay for, or
  benefit from, another. A fresh process also makes ``ru_maxrss`` a clean per-mode
  peak-memory figure.
* Only the profiled region is timed: the child imports the workload and the profiler
  first, then times ``enable(); run(); disable()`` (or the equivalent) with
  ``time.perf_counter``. Interpreter start-up and imports are not counted.
* Each (workload, mode) keeps the minimum of N repeats: noise on a shared machine only
  ever adds time, so the minimum is the most stable estimate of the true cost.
  Repeats are interleaved (repeat 1 of every mode, then repeat 2, ...) so that slow
  drift in machine load hits all modes alike instead of biasing one of them.
* The "floor" mode installs dziura's hidden ``_native._noop_hook``: the same hook
  mechanism dziura uses (a C profile function on 3.11, sys.monitoring on 3.12+) with
  callbacks that do nothing. ``floor / cProfile added`` says how much of cProfile's
  overhead no hook-based profiler can avoid; ``dziura / cProfile added`` says how much
  of it dziura still pays. The "clock" mode ("floor+clock") is the same hook whose
  callbacks read dziura's clock once per event and do nothing else: the floor of any
  profiler that times every call exactly, so ``dziura - floor+clock`` is what dziura's
  own bookkeeping costs.
* Each child returns the workload's checksum; a mode whose checksum differs from the
  un-profiled run is reported, since a profiler must not change what the program does.
  ``--check`` additionally compares dziura's call counts with cProfile's.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from workloads import NAMES as WORKLOADS  # noqa: E402

# Mode name -> (column title, Python module that must be importable for it).
MODES: dict[str, tuple[str, str | None]] = {
    "none": ("none", None),
    "cprofile": ("cProfile", "cProfile"),
    "dziura": ("dziura", "dziura"),
    "yappi": ("yappi", "yappi"),
    "pyinstrument": ("pyinstrument", "pyinstrument"),
    "floor": ("floor", "dziura"),
    "clock": ("floor+clock", "dziura"),
}
RSS_MODES = ("none", "cprofile", "dziura")
# Modes that install dziura's hidden _native._noop_hook (plain, or reading the clock).
FLOOR_MODES = ("floor", "clock")
CHILD_TIMEOUT = 300  # seconds; a hung child is reported, not waited on forever


# --------------------------------------------------------------------------- child side


def _child(mode: str, workload: str) -> None:
    """Time one workload under one mode and print one JSON line on stdout."""
    run = importlib.import_module(f"workloads.{workload}").run
    gc.collect()
    if mode == "none":
        t0 = time.perf_counter()
        result = run()
        elapsed = time.perf_counter() - t0
    elif mode in ("cprofile", "dziura"):
        prof_cls = importlib.import_module("cProfile" if mode == "cprofile" else "dziura").Profile
        prof = prof_cls()
        t0 = time.perf_counter()
        prof.enable()
        result = run()
        prof.disable()
        elapsed = time.perf_counter() - t0
    elif mode == "yappi":
        import yappi

        yappi.set_clock_type("wall")
        t0 = time.perf_counter()
        yappi.start(builtins=True)
        result = run()
        yappi.stop()
        elapsed = time.perf_counter() - t0
    elif mode == "pyinstrument":
        from pyinstrument import Profiler

        prof = Profiler()
        t0 = time.perf_counter()
        prof.start()
        result = run()
        prof.stop()
        elapsed = time.perf_counter() - t0
    elif mode in FLOOR_MODES:
        from dziura import _native

        t0 = time.perf_counter()
        _native._noop_hook(True, clocked=mode == "clock")
        result = run()
        _native._noop_hook(False)
        elapsed = time.perf_counter() - t0
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    maxrss_kib = maxrss // 1024 if sys.platform == "darwin" else maxrss
    print(json.dumps({"seconds": elapsed, "maxrss_kib": maxrss_kib, "result": repr(result)}))


def _child_counts(mode: str, workload: str) -> None:
    """Profile one workload with cProfile or dziura and print its call counts as JSON."""
    run = importlib.import_module(f"workloads.{workload}").run
    prof = importlib.import_module("cProfile" if mode == "cprofile" else "dziura").Profile()
    prof.enable()
    run()
    prof.disable()
    prof.create_stats()

    def name(key: tuple[str, int, str]) -> str:
        return f"{key[0]}:{key[1]}({key[2]})"

    counts = {
        name(key): [cc, nc, {name(caller): list(v[:2]) for caller, v in callers.items()}]
        for key, (cc, nc, _tt, _ct, callers) in prof.stats.items()
        # The profiler's own disable() call is not part of the workload.
        if not key[2].startswith("<method 'disable' of ")
    }
    print(json.dumps(counts))


# -------------------------------------------------------------------------- parent side


@dataclass
class Cell:
    """All samples of one (workload, mode) pair."""

    seconds: list[float] = field(default_factory=list)
    maxrss_kib: list[int] = field(default_factory=list)
    results: set[str] = field(default_factory=set)
    error: str | None = None

    @property
    def best(self) -> float | None:
        return None if self.error or not self.seconds else min(self.seconds)

    @property
    def rss(self) -> int | None:
        return None if self.error or not self.maxrss_kib else min(self.maxrss_kib)


def _spawn(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONHASHSEED="0")
    return subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=CHILD_TIMEOUT,
    )


def _probe(mode: str) -> str | None:
    """Return why ``mode`` cannot run with this interpreter, or None if it can."""
    module = MODES[mode][1]
    if module is None:
        return None
    code = f"import {module}"
    if mode in FLOOR_MODES:
        code += "\nfrom dziura import _native\nassert hasattr(_native, '_noop_hook'), 'no _noop_hook'"
    proc = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True)
    if proc.returncode == 0:
        return None
    last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
    if mode in FLOOR_MODES and "no _noop_hook" in proc.stderr:
        return "this dziura build has no _native._noop_hook"
    hint = " (pip install -r bench/requirements.txt)" if mode in ("yappi", "pyinstrument") else ""
    return f"{module} is not importable: {last}{hint}"


def _measure_once(mode: str, workload: str, cell: Cell) -> None:
    try:
        proc = _spawn(["--child", mode, workload])
    except subprocess.TimeoutExpired:
        cell.error = f"timed out after {CHILD_TIMEOUT}s"
        return
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        cell.error = f"exit status {proc.returncode}: {tail}"
        return
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    cell.seconds.append(data["seconds"])
    cell.maxrss_kib.append(data["maxrss_kib"])
    cell.results.add(data["result"])


def _fmt_ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "n/a"
    return f"{value / base:.2f}x"


def _fmt_fraction(value: float | None, base: float | None, cprof: float | None) -> str:
    if value is None or base is None or cprof is None or cprof <= base:
        return "n/a"
    return f"{(value - base) / (cprof - base):.2f}"


def _tables(cells: dict[tuple[str, str], Cell], workloads: list[str], modes: list[str]) -> str:
    slow_modes = [m for m in MODES if m != "none"]
    header = (
        ["workload", "none (s)"]
        + [f"{MODES[m][0]} (x)" for m in slow_modes]
        + ["dziura / cProfile added", "floor / cProfile added", "floor+clock / cProfile added"]
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for w in workloads:
        base = cells[(w, "none")].best
        best = {m: cells[(w, m)].best if m in modes else None for m in MODES}
        row = [w, f"{base:.3f}" if base is not None else "n/a"]
        row += [_fmt_ratio(best[m], base) for m in slow_modes]
        row += [
            _fmt_fraction(best["dziura"], base, best["cprofile"]),
            _fmt_fraction(best["floor"], base, best["cprofile"]),
            _fmt_fraction(best["clock"], base, best["cprofile"]),
        ]
        lines.append("| " + " | ".join(row) + " |")

    lines += [
        "",
        "| workload | none peak RSS (MiB) | cProfile delta (MiB) | dziura delta (MiB) |",
        "|---|---:|---:|---:|",
    ]
    for w in workloads:
        rss = {m: cells[(w, m)].rss if m in modes else None for m in RSS_MODES}
        base = rss["none"]

        def delta(m: str) -> str:
            if rss[m] is None or base is None:
                return "n/a"
            return f"{(rss[m] - base) / 1024:+.1f}"

        none_mib = f"{base / 1024:.1f}" if base is not None else "n/a"
        lines.append(f"| {w} | {none_mib} | {delta('cprofile')} | {delta('dziura')} |")
    return "\n".join(lines)


def _check_counts(workloads: list[str]) -> list[str]:
    """Compare dziura's per-function and per-caller call counts with cProfile's."""
    problems = []
    for w in workloads:
        got = {}
        for mode in ("cprofile", "dziura"):
            try:
                proc = _spawn(["--child-counts", mode, w])
            except subprocess.TimeoutExpired:
                problems.append(f"{w}: {mode} count run timed out")
                break
            if proc.returncode != 0:
                tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
                problems.append(f"{w}: {mode} count run failed ({proc.returncode}): {tail}")
                break
            got[mode] = json.loads(proc.stdout)
        else:
            ref, dz = got["cprofile"], got["dziura"]
            diffs = []
            for key in sorted(ref.keys() | dz.keys()):
                if key not in dz:
                    diffs.append(f"missing in dziura: {key} {ref[key][:2]}")
                elif key not in ref:
                    diffs.append(f"only in dziura: {key} {dz[key][:2]}")
                elif ref[key] != dz[key]:
                    diffs.append(f"differs: {key} cProfile={ref[key][:2]} dziura={dz[key][:2]}"
                                 + ("" if ref[key][:2] != dz[key][:2] else " (callers)"))
            status = "match" if not diffs else f"{len(diffs)} difference(s)"
            print(f"counts {w}: {len(ref)} functions, {status}", file=sys.stderr)
            problems += [f"{w}: {d}" for d in diffs[:20]]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", action="append", choices=WORKLOADS, metavar="NAME",
                        help=f"run only this workload (repeatable); one of: {', '.join(WORKLOADS)}")
    parser.add_argument("--repeat", type=int, default=5, help="fresh runs per measurement, best kept (default 5)")
    parser.add_argument("--quick", action="store_true", help="same as --repeat 3")
    parser.add_argument("--markdown", metavar="FILE", help="append the tables to FILE under a heading")
    parser.add_argument("--check", action="store_true",
                        help="also compare dziura's call counts with cProfile's for each workload")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "WORKLOAD"), help=argparse.SUPPRESS)
    parser.add_argument("--child-counts", nargs=2, metavar=("MODE", "WORKLOAD"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        _child(*args.child)
        return 0
    if args.child_counts:
        _child_counts(*args.child_counts)
        return 0

    repeat = 3 if args.quick else args.repeat
    if repeat < 1:
        parser.error("--repeat must be at least 1")
    workloads = args.workload or list(WORKLOADS)
    version = platform.python_version()
    log = sys.stderr
    print(f"Python {version} ({sys.executable}), {repeat} repeat(s), workloads: {', '.join(workloads)}", file=log)

    modes = []
    for mode in MODES:
        reason = _probe(mode)
        if reason:
            print(f"skip {MODES[mode][0]}: {reason}", file=log)
        else:
            modes.append(mode)
    if "none" not in modes:
        return 1

    cells = {(w, m): Cell() for w in workloads for m in MODES}
    started = time.perf_counter()
    for i in range(repeat):
        for w in workloads:
            for m in modes:
                if cells[(w, m)].error is None:
                    _measure_once(m, w, cells[(w, m)])
        print(f"repeat {i + 1}/{repeat} done ({time.perf_counter() - started:.0f}s)", file=log)

    problems = []
    for (w, m), cell in cells.items():
        if cell.error:
            problems.append(f"{w} / {MODES[m][0]}: {cell.error}")
        elif len(cell.results) > 1:
            problems.append(f"{w} / {MODES[m][0]}: results differ between runs: {sorted(cell.results)}")
        elif cell.results and cell.results != cells[(w, "none")].results:
            problems.append(f"{w} / {MODES[m][0]}: result {cell.results} != un-profiled {cells[(w, 'none')].results}")
    if args.check and "dziura" in modes and "cprofile" in modes:
        problems += _check_counts(workloads)

    tables = _tables(cells, workloads, modes)
    print(tables)
    for p in problems:
        print(f"PROBLEM: {p}", file=log)

    if args.markdown:
        date = datetime.date.today().isoformat()
        command = shlex.join(sys.orig_argv)
        machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU(s)"
        skipped = [MODES[m][0] for m in MODES if m not in modes]
        with open(args.markdown, "a", encoding="utf-8") as fh:
            fh.write(f"\n## {platform.python_implementation()} {version}, {date}: `{command}`\n\n")
            fh.write(f"{machine}; best of {repeat} fresh runs per cell.\n")
            if skipped:
                fh.write(f"Skipped: {', '.join(skipped)}.\n")
            fh.write(f"\n{tables}\n")
            if problems:
                fh.write("\nProblems:\n\n" + "".join(f"- {p}\n" for p in problems))
        print(f"appended to {args.markdown}", file=log)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

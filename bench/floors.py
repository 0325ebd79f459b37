"""Where dziura's tracing overhead goes: the hook, the clock, and dziura's own bookkeeping.

bench/run.py measures every mode in fresh processes, which is fair across profilers but leaves
run-to-run noise of a few hundredths in each ratio on a shared VM. This script answers a
narrower question more steadily: in ONE process, for each workload, it alternates

* none: no profiler;
* floor: dziura's hook with callbacks that do nothing (``_native._noop_hook(True)``);
* floor+clock: the same, each callback reading dziura's clock once (``clocked=True``);
* dziura: ``dziura.Profile().enable()`` ... ``disable()``;
* cProfile: ``cProfile.Profile().enable()`` ... ``disable()``;

round after round, keeps each mode's best time, and prints each mode's added time as a fraction
of cProfile's. ``dziura - floor+clock`` is what dziura's bookkeeping costs beyond what any
profiler that times every call must pay.

    python bench/floors.py recursion --rounds 7
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dziura  # noqa: E402
from dziura import _native  # noqa: E402
from workloads import NAMES  # noqa: E402


def _modes(dz: dziura.Profile) -> dict:
    """Each mode's (start, stop); cProfile gets a fresh Profile per round so its data never grows."""
    holder: dict[str, cProfile.Profile] = {}

    def cprofile_on() -> None:
        holder["p"] = cProfile.Profile()
        holder["p"].enable()

    return {
        "none": (lambda: None, lambda: None),
        "floor": (lambda: _native._noop_hook(True), lambda: _native._noop_hook(False)),
        "floor+clock": (lambda: _native._noop_hook(True, clocked=True), lambda: _native._noop_hook(False)),
        "dziura": (dz.enable, dz.disable),
        "cProfile": (cprofile_on, lambda: holder["p"].disable()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("workloads", nargs="*", metavar="WORKLOAD", help=f"default: all of {', '.join(NAMES)}")
    parser.add_argument("--rounds", type=int, default=7, help="rounds of every mode, best kept")
    args = parser.parse_args()
    unknown = [w for w in args.workloads if w not in NAMES]
    if unknown:
        parser.error(f"unknown workload {unknown[0]!r}; one of: {', '.join(NAMES)}")
    print(f"Python {sys.version.split()[0]}; best of {args.rounds} rounds, modes alternating in one process;")
    print("added time as a fraction of cProfile's\n")
    print("| workload | none (s) | cProfile (s) | floor | floor+clock | dziura |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in args.workloads or NAMES:
        run = importlib.import_module(f"workloads.{name}").run
        dz = dziura.Profile()
        modes = _modes(dz)
        best = dict.fromkeys(modes, float("inf"))
        for _ in range(args.rounds):
            for mode, (on, off) in modes.items():
                dz.clear()
                t0 = time.perf_counter()
                on()
                run()
                off()
                best[mode] = min(best[mode], time.perf_counter() - t0)
        base, added = best["none"], best["cProfile"] - best["none"]
        cells = [f"{(best[m] - base) / added:.2f}" for m in ("floor", "floor+clock", "dziura")]
        print(f"| {name} | {base:.3f} | {best['cProfile']:.3f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

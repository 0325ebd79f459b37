"""What a profiler costs in memory: cProfile, dziura and an empty PyO3 extension, mapping by mapping.

Each measurement runs in a fresh child process of the running interpreter::

    python bench/memory_import.py                 # every mode and scenario, median of 5 children each
    python bench/memory_import.py --repeat 9 --markdown /tmp/MEM.md
    python bench/memory_import.py --modes dziura --scenarios enable --json

The child imports ``functools``, ``collections`` and ``re`` first (nearly every program has
them already, and dziura's Python part uses them; ``--preload`` changes the list), reads
``/proc/self/smaps``, then runs::

    import X; p = X.Profile(); p.enable(); p.disable()

and reads ``/proc/self/smaps`` again. That is the ``enable`` scenario; two more follow how
people use a profiler: ``table`` is the story cProfile is known for,
``X.run("work()", sort="tottime")`` (profile a call and print the table), and ``dump`` is
``p.runcall(work); p.dump_stats(path)`` (profile a call and write a pstats file).

``floor`` is the smallest PyO3 extension that can stand in for the profiler in the ``enable``
scenario (bench/empty-extension: a ``Profile`` whose methods do nothing), built with the
workspace's release profile the first time it is asked for (with maturin, into
``target/bench-floor``). dziura's tracer has to be such an extension, so this is the memory no
PyO3-built profiler can go below, as ``_noop_hook`` is for speed in bench/run.py. The difference is what the profiler added, summed per
mapping: the profiler's own shared object, split by permission (``r--p``: headers, relocation
tables, read-only data, unwind tables, and ``.data.rel.ro``, which the loader relocates, so
dirties, then write-protects; ``r-xp``: code; ``rw-p``: ``.data``), the libraries it pulled in,
``[heap]``, and anonymous memory.

Three figures per mapping:

* ``RSS``: resident pages, including file pages shared with other processes;
* ``private``: ``Private_Clean + Private_Dirty``, the pages only this process maps. File pages
  count as private while no other process maps the same file, which is the case here;
* ``dirty``: ``Private_Dirty``, what the kernel cannot drop or share: heap, anonymous memory,
  and the relocated (copy-on-write) data of the shared object.

Clean file pages are mapped on a fault together with their neighbours ("fault-around", 64 KiB,
or the whole page-cache folio on recent kernels with large folios), so how many of them become
resident depends on how the file sits in the page cache: a freshly written file has other folio
sizes than one read back from disk. To measure every build alike, the profiler's shared object
is dropped from the page cache (``posix_fadvise(DONTNEED)``) first, then one warm-up child reads
it back, then ``--repeat`` children are measured and each cell is their median.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
from collections import defaultdict

MODES = {"cprofile": "cProfile", "dziura": "dziura", "floor": "empty_extension"}
SO_MODULES = {"cprofile": "_lsprof", "dziura": "dziura._native", "floor": "empty_extension.empty_extension"}
TITLES = {"cprofile": "cProfile", "dziura": "dziura", "floor": "floor (empty PyO3 extension)"}
SCENARIOS = {
    "enable": "import X; p = X.Profile(); p.enable(); p.disable()",
    "table": 'import X; X.run("work()", sort="tottime")  (table printed to /dev/null)',
    "dump": "import X; p = X.Profile(); p.runcall(work); p.dump_stats(path)",
}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOOR_DIR = os.path.join(ROOT, "target", "bench-floor", f"py{sys.version_info[0]}{sys.version_info[1]}{sys.abiflags}")
FIELDS = ("Rss", "Private_Clean", "Private_Dirty", "Anonymous")


def _read_smaps() -> dict[str, dict[str, int]]:
    """Sum each field of /proc/self/smaps per mapping name (file basename + permissions)."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0))
    key = None
    with open("/proc/self/smaps") as f:
        for line in f:
            head, _, rest = line.partition(" ")
            if "-" in head and not head.endswith(":"):
                parts = line.split(None, 5)
                perms = parts[1]
                path = parts[5].strip() if len(parts) > 5 else ""
                if not path:
                    name = "[anon]"
                elif path.startswith("["):
                    name = path if path in ("[heap]", "[stack]") else "[anon]"
                else:
                    name = f"{os.path.basename(path)} {perms}"
                key = name
            elif head[:-1] in FIELDS and key is not None:
                totals[key][head[:-1]] += int(rest.split()[0])
    return {k: dict(v) for k, v in totals.items()}


def work() -> int:
    """A small call-heavy function for the ``table`` and ``dump`` scenarios."""
    return sum(len(str(i)) for i in range(2000))


def _child(mode: str, scenario: str, preload: list[str]) -> None:
    import contextlib
    import importlib
    import tempfile

    for name in preload:
        importlib.import_module(name)
    path = os.path.join(tempfile.gettempdir(), f"memory_import_{os.getpid()}.prof")
    before = _read_smaps()
    mod = importlib.import_module(MODES[mode])
    if scenario == "enable":
        p = mod.Profile()
        p.enable()
        p.disable()
    elif scenario == "table":
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
            mod.run("work()", sort="tottime")
    else:
        p = mod.Profile()
        p.runcall(work)
        p.dump_stats(path)
    after = _read_smaps()
    if os.path.exists(path):
        os.unlink(path)
    diff = {}
    for name in set(before) | set(after):
        b = before.get(name, dict.fromkeys(FIELDS, 0))
        a = after.get(name, dict.fromkeys(FIELDS, 0))
        d = {f: a[f] - b[f] for f in FIELDS}
        if any(d.values()):
            diff[name] = d
    print(json.dumps(diff))


def _env() -> dict[str, str]:
    # Children may write bytecode caches (the warm-up child does), as an installed package has:
    # compiling dziura/__init__.py in every child would be measured as dziura's memory.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [FLOOR_DIR, env.get("PYTHONPATH")]))
    return env


def _run_child(mode: str, scenario: str, preload: list[str]) -> dict[str, dict[str, int]]:
    env = _env()
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", mode, "--scenario", scenario, "--preload", *preload],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def _group(name: str, mode: str) -> str:
    """Collapse mappings that are not the profiler's own into a few rows."""
    if name.startswith("[") or name.startswith(("_native.", "_lsprof.", "empty_extension.")):
        return name
    if mode in ("dziura", "floor") and name.startswith("libgcc_s"):
        return name
    return "other " + name.split(" ", 1)[1]


@functools.lru_cache(maxsize=None)
def _shared_object(mode: str) -> str:
    """The file the mode's extension module is loaded from (asked of a child interpreter once)."""
    out = subprocess.run(
        [sys.executable, "-c", f"import importlib.util as u; print(u.find_spec({SO_MODULES[mode]!r}).origin)"],
        check=True,
        capture_output=True,
        text=True,
        env=_env(),
    )
    return out.stdout.strip()


def _build_floor() -> None:
    """Build bench/empty-extension for this interpreter into FLOOR_DIR, once."""
    import glob
    import shutil
    import tempfile
    import zipfile

    if glob.glob(os.path.join(FLOOR_DIR, "**", "empty_extension*.so"), recursive=True):
        return
    maturin = shutil.which("maturin", path=os.path.dirname(sys.executable)) or shutil.which("maturin")
    if not maturin:
        raise SystemExit("the floor needs maturin (pip install maturin), or leave it out: --modes cprofile dziura")
    with tempfile.TemporaryDirectory() as wheels:
        subprocess.run(
            [maturin, "build", "--release", "--quiet", "-i", sys.executable, "-o", wheels,
             "-m", os.path.join(ROOT, "bench", "empty-extension", "Cargo.toml")],
            check=True,
            env={**os.environ, "CARGO_TARGET_DIR": os.path.join(ROOT, "target", "bench-floor", "cargo")},
        )
        (wheel,) = glob.glob(os.path.join(wheels, "*.whl"))
        with zipfile.ZipFile(wheel) as z:
            z.extractall(FLOOR_DIR)


def _drop_from_page_cache(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # a freshly built file's pages stay dirty, and undroppable, until written back
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def measure(mode: str, scenario: str, repeat: int, preload: list[str]) -> dict[str, dict[str, float]]:
    so = _shared_object(mode)
    if so.endswith(".so"):
        _drop_from_page_cache(so)
    _run_child(mode, scenario, preload)  # read the shared object back into the page cache
    runs = [_run_child(mode, scenario, preload) for _ in range(repeat)]
    names = sorted({_group(n, mode) for r in runs for n in r})
    rows: dict[str, dict[str, float]] = {}
    for name in names + ["total"]:
        rss, priv, dirty = [], [], []
        for r in runs:
            picked = [
                d
                for n, d in r.items()
                if name == "total" or _group(n, mode) == name
            ]
            rss.append(sum(d["Rss"] for d in picked))
            priv.append(sum(d["Private_Clean"] + d["Private_Dirty"] for d in picked))
            dirty.append(sum(d["Private_Dirty"] for d in picked))
        row = {
            "rss": statistics.median(rss),
            "private": statistics.median(priv),
            "dirty": statistics.median(dirty),
        }
        if name == "total" or any(row.values()):
            rows[name] = row
    return rows




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--scenario", choices=SCENARIOS, default="enable", help=argparse.SUPPRESS)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--repeat", type=int, default=5, help="children per cell (median)")
    parser.add_argument(
        "--preload",
        nargs="*",
        default=["functools", "collections", "re"],
        help="modules the child imports before the first reading (default: %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--markdown", help="also append the tables to this file")
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.scenario, args.preload)
        return
    if not sys.platform.startswith("linux"):
        raise SystemExit("needs Linux's /proc/self/smaps")
    if "floor" in args.modes:
        _build_floor()

    # The floor only stands in for the profiler in the "enable" scenario.
    cells = [(s, m) for s in args.scenarios for m in args.modes if m != "floor" or s == "enable"]
    results = {f"{s}/{m}": measure(m, s, args.repeat, args.preload) for s, m in cells}
    if args.json:
        print(json.dumps(results, indent=1))
        return
    lines = [
        f"Python {platform.python_version()} ({sys.executable}), median of {args.repeat} fresh children "
        f"per cell, each after importing {', '.join(args.preload) or 'nothing'}; KiB the scenario added:",
        "",
        "| scenario | " + " | ".join(f"{TITLES[m]} RSS / dirty" for m in args.modes) + " |",
        "|---|" + "---:|" * len(args.modes),
    ]
    for s in args.scenarios:
        row = []
        for m in args.modes:
            total = results.get(f"{s}/{m}", {}).get("total")
            row.append(f"+{total['rss']:.0f} / +{total['dirty']:.0f}" if total else "")
        lines.append(f"| {s}: `{SCENARIOS[s]}` | " + " | ".join(row) + " |")
    lines.append("")
    for key, rows in results.items():
        scenario, mode = key.split("/")
        if scenario != "enable":
            continue
        so = _shared_object(mode)
        title = f"{TITLES[mode]}, enable (`{os.path.basename(so)}`: {os.path.getsize(so) / 1024:.0f} KiB)"
        lines += [
            f"{title}:",
            "",
            "| mapping | RSS KiB | private KiB | dirty KiB |",
            "|---|---:|---:|---:|",
        ]
        for name, v in rows.items():
            label = f"**{name}**" if name == "total" else f"`{name}`"
            lines.append(f"| {label} | {v['rss']:+.0f} | {v['private']:+.0f} | {v['dirty']:+.0f} |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        with open(args.markdown, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()

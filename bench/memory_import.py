"""What loading a profiler costs in memory: cProfile against dziura, mapping by mapping.

Each measurement runs in a fresh child process of the running interpreter::

    python bench/memory_import.py                 # both profilers, median of 5 children each
    python bench/memory_import.py --repeat 9 --markdown /tmp/MEM.md
    python bench/memory_import.py --modes dziura --json

The child imports ``functools``, ``collections`` and ``re`` first (nearly every program has
them already, and dziura's Python part uses them; ``--preload`` changes the list), reads
``/proc/self/smaps``, then runs::

    import X; p = X.Profile(); p.enable(); p.disable()

and reads ``/proc/self/smaps`` again. The difference is what the profiler added, summed per
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
import json
import os
import platform
import statistics
import subprocess
import sys
from collections import defaultdict

MODES = {"cprofile": "cProfile", "dziura": "dziura"}
SO_MODULES = {"cprofile": "_lsprof", "dziura": "dziura._native"}
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


def _child(mode: str, preload: list[str]) -> None:
    import importlib

    for name in preload:
        importlib.import_module(name)
    before = _read_smaps()
    mod = importlib.import_module(MODES[mode])
    p = mod.Profile()
    p.enable()
    p.disable()
    after = _read_smaps()
    diff = {}
    for name in set(before) | set(after):
        b = before.get(name, dict.fromkeys(FIELDS, 0))
        a = after.get(name, dict.fromkeys(FIELDS, 0))
        d = {f: a[f] - b[f] for f in FIELDS}
        if any(d.values()):
            diff[name] = d
    print(json.dumps(diff))


def _run_child(mode: str, preload: list[str]) -> dict[str, dict[str, int]]:
    # Children may write bytecode caches (the warm-up child does), as an installed package has:
    # compiling dziura/__init__.py in every child would be measured as dziura's memory.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", mode, "--preload", *preload],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def _group(name: str, mode: str) -> str:
    """Collapse mappings that are not the profiler's own into a few rows."""
    if name.startswith("[") or name.startswith("_native.") or name.startswith("_lsprof."):
        return name
    if mode == "dziura" and name.startswith("libgcc_s"):
        return name
    return "other " + name.split(" ", 1)[1]


def _shared_object(mode: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", f"import importlib.util as u; print(u.find_spec({SO_MODULES[mode]!r}).origin)"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def _drop_from_page_cache(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def measure(mode: str, repeat: int, preload: list[str]) -> dict[str, dict[str, float]]:
    so = _shared_object(mode)
    if so.endswith(".so"):
        _drop_from_page_cache(so)
    _run_child(mode, preload)  # read the shared object back into the page cache
    runs = [_run_child(mode, preload) for _ in range(repeat)]
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
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--repeat", type=int, default=5, help="children per mode (median)")
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
        _child(args.child, args.preload)
        return
    if not sys.platform.startswith("linux"):
        raise SystemExit("needs Linux's /proc/self/smaps")

    results = {m: measure(m, args.repeat, args.preload) for m in args.modes}
    if args.json:
        print(json.dumps(results, indent=1))
        return
    lines = [
        f"Python {platform.python_version()} ({sys.executable}), median of {args.repeat} "
        "fresh children; KiB added by `import X; p = X.Profile(); p.enable(); p.disable()` "
        f"after importing {', '.join(args.preload) or 'nothing'}",
        "",
    ]
    for mode, rows in results.items():
        so = _shared_object(mode)
        title = f"{MODES[mode]} (`{os.path.basename(so)}`: {os.path.getsize(so) / 1024:.0f} KiB)"
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

"""Benchmark dziura's sampling mode (``dziura record``) against py-spy and, on 3.15+, Tachyon.

Run it with the interpreter whose processes should be sampled; ``dziura`` (and, for the
comparison, ``py-spy``: ``pip install -r bench/requirements.txt``) must be installed next
to that interpreter (``Path(sys.executable).parent``)::

    python bench/sampling.py                      # all four measurements (~3.5 min)
    python bench/sampling.py --only cost --only rate
    python bench/sampling.py --quick              # shorter runs, 1 repeat: a smoke test
    python bench/sampling.py --markdown BENCHMARKS.md

What it measures (every target is a fresh child of this interpreter, started as
``sampling.py --target KIND ...``):

1. **cost**: CPU seconds the sampler process uses per second of sampling at 100 Hz,
   1 kHz and 5 kHz, attached with ``--pid`` to one busy single-threaded target whose
   stack is exactly 20 Python frames deep, for ``dziura record -f collapsed``,
   ``py-spy record -f raw`` (its default, blocking mode) and ``py-spy record
   --nonblocking`` (up to 3.14: py-spy reads no 3.15), and on 3.15+ Tachyon, the standard
   library's sampler (``python -m profiling.sampling attach -a --collapsed``, all threads as
   dziura reads them). The main figure is the steady state: the on-CPU time of all the
   sampler's threads (``/proc/PID/task/*/schedstat``, in ns) between 1 s after launch
   and 0.5 s before the end, divided by that wall time, so start-up (dziura's command is
   a Python script) and writing the file are left out; the whole run (user+sys from
   ``wait4`` over the process's wall time) is shown too.
2. **rate**: the highest sustained rate: each sampler is asked for 20 kHz for 3 s on a
   50-frame stack; achieved = samples / sampling time (dziura's own "T s" figure; for
   py-spy, which prints none, the process's wall time).
3. **slowdown**: a target that times a fixed amount of CPU work itself (``fib(27)``
   repeated, ~3 s) after a 0.5 s settle, run alone and launched by each sampler
   (``dziura record -r R -o X -- python ...``, ``py-spy record -r R -o X [--nonblocking]
   -- python ...``) at 1 kHz; then the same with 100 threads idle in
   ``threading.Event().wait()``, at 500 Hz. Best of N (default 3) runs per cell,
   interleaved across modes; a cell whose first run is more than 3x the un-sampled
   time is not repeated (noise no longer matters at that scale and it saves minutes).
4. **accuracy**: a target alternating 7 ms in ``hot70()`` and 3 ms in ``cold30()``
   (busy loops on ``time.perf_counter``), sampled at 1 kHz for 5 s by each sampler; the
   share of samples whose stack contains each function.

Sampler problems (non-zero exit, missing summary, errors, late ticks, py-spy "behind"
messages, a run that had to be interrupted) are listed as notes; a run that produced
no usable number exits non-zero with ``PROBLEM:`` lines.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import select
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

SCRIPT = Path(__file__).resolve()
BIN_DIR = Path(sys.executable).parent  # not resolved: a venv's bin/ holds the commands

SETTLE = 0.5  # seconds a timed target waits before its timed work (lets a sampler attach)
FIB_N = 27

# Sampler keys -> column titles.
SAMPLERS = {"dziura": "dziura", "pyspy": "py-spy", "pyspy_nb": "py-spy --nonblocking", "tachyon": "Tachyon"}
PEERS = [s for s in SAMPLERS if s != "dziura"]
# Tachyon (PEP 799) reads only the interpreter it runs in, from 3.15 on; py-spy 0.4 reads up to 3.14.
HAS_TACHYON = sys.version_info >= (3, 15)
PYSPY_READS = sys.version_info < (3, 15)
SECTIONS = ("cost", "rate", "slowdown", "accuracy")

# --------------------------------------------------------------------------- targets


def _depth() -> int:
    n, f = 0, sys._getframe(1)
    while f is not None:
        n += 1
        f = f.f_back
    return n


def _at_depth(depth: int, fn):
    """Call ``fn`` so that its frame is the ``depth``-th Python frame of the stack."""
    if _depth() >= depth - 1:  # _depth() counts this frame too
        return fn()
    return _at_depth(depth, fn)


def _ready() -> None:
    print("ready", flush=True)


def _spin() -> None:
    _ready()
    x = 0
    while True:
        for i in range(1000):
            x += i


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def hot70(until: float) -> None:
    while time.perf_counter() < until:
        pass


def cold30(until: float) -> None:
    while time.perf_counter() < until:
        pass


def _target(kind: str, args: list[str]) -> None:
    if kind == "busy":  # busy DEPTH: spin forever with a DEPTH-frame stack
        sys.setrecursionlimit(max(1000, int(args[0]) + 100))
        _at_depth(int(args[0]), _spin)
    elif kind == "fib":  # fib REPS THREADS RESULT: time REPS x fib(27) with THREADS idle threads
        reps, nthreads, result = int(args[0]), int(args[1]), args[2]
        for _ in range(nthreads):
            threading.Thread(target=threading.Event().wait, daemon=True).start()
        time.sleep(SETTLE)
        t0 = time.perf_counter()
        for _ in range(reps):
            fib(FIB_N)
        elapsed = time.perf_counter() - t0
        Path(result).write_text(json.dumps({"seconds": elapsed}))
    elif kind == "mix":  # mix RESULT: 7 ms in hot70, 3 ms in cold30, until SIGTERM
        result = args[0]
        totals = [0.0, 0.0]

        def stop(*_):
            Path(result).write_text(json.dumps({"hot": totals[0], "cold": totals[1]}))
            os._exit(0)

        signal.signal(signal.SIGTERM, stop)
        _ready()
        while True:
            t0 = time.perf_counter()
            hot70(t0 + 0.007)
            t1 = time.perf_counter()
            cold30(t1 + 0.003)
            t2 = time.perf_counter()
            totals[0] += t1 - t0
            totals[1] += t2 - t1
    else:
        raise SystemExit(f"unknown target {kind!r}")


# -------------------------------------------------------------------------- parent side


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _target_cmd(kind: str, *args: object) -> list[str]:
    return [sys.executable, str(SCRIPT), "--target", kind, *map(str, args)]


class Target:
    """A target started by this script, waited on until it prints "ready"."""

    def __init__(self, kind: str, *args: object) -> None:
        self.proc = subprocess.Popen(_target_cmd(kind, *args), stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            self.stop()
            raise RuntimeError(f"target {kind} did not start (exit status {self.proc.returncode})")
        self.pid = self.proc.pid

    def stop(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _running(pid: int) -> bool:
    """Whether ``pid`` has not exited (a zombie has), without reaping it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _task_cpu(pid: int) -> float | None:
    """On-CPU seconds of all threads of ``pid`` (ns precision), None if it is gone."""
    total, seen = 0, False
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                total += int(fh.read().split()[0])
                seen = True
        except (OSError, ValueError, IndexError):
            continue
    if seen:
        return total / 1e9
    try:  # no schedstat: clock ticks of user+sys from /proc/PID/stat
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class Run:
    """One sampler process: what it cost and what it said."""

    sampler: str
    rc: int | None = None
    wall: float = 0.0
    cpu_total: float | None = None  # user+sys from wait4
    steady: float | None = None  # CPU s/s inside the steady window
    samples: int | None = None  # ticks that read the target (dziura) / traces kept (py-spy, Tachyon)
    kept: int | None = None  # stacks written
    errors: int | None = None
    late: int | None = None  # dziura's late ticks
    behind: float | None = None  # py-spy's largest "behind in sampling", seconds
    seconds: float | None = None  # sampling time as dziura reports it
    interrupted: bool = False
    text: str = ""
    output: Path | None = None

    @property
    def ok(self) -> bool:
        return self.rc == 0 and self.samples is not None

    @property
    def sampling_seconds(self) -> float:
        return self.seconds if self.seconds else self.wall

    @property
    def rate(self) -> float | None:
        return self.samples / self.sampling_seconds if self.ok and self.sampling_seconds else None

    @property
    def kept_rate(self) -> float | None:
        return self.kept / self.sampling_seconds if self.ok and self.kept is not None and self.sampling_seconds else None

    def describe(self) -> str:
        tail = " | ".join(self.text.strip().splitlines()[-3:])
        return f"exit status {self.rc}: {tail}" if self.rc != 0 else f"no summary found: {tail}"


_DURATION_UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def _parse(run: Run) -> None:
    text = run.text
    if run.sampler == "dziura":
        m = re.search(r"(\d+) samples, (\d+) stacks kept, (\d+) errors, (\d+) late, (?:[^,]*, )*?([\d.]+) s from pid",
                      text)
        if m:
            run.samples, run.kept, run.errors, run.late = map(int, m.groups()[:4])
            run.seconds = float(m.group(5))
    elif run.sampler == "tachyon":
        m = re.search(r"Captured (\d+) samples in ([\d.]+) seconds", text)
        if m:
            run.samples = run.kept = int(m.group(1))
            run.seconds = float(m.group(2))
        e = re.search(r"Error rate: ([\d.]+)", text)
        if e and run.samples:
            run.errors = round(float(e.group(1)) / 100 * run.samples)
    else:
        m = re.search(r"Samples: (\d+) Errors: (\d+)", text)
        if m:
            run.samples = run.kept = int(m.group(1))
            run.errors = int(m.group(2))
        behind = [float(v) * _DURATION_UNITS[u]
                  for v, u in re.findall(r"([\d.]+)(ns|µs|us|ms|s) behind in sampling", text)]
        run.behind = max(behind) if behind else None
    if run.samples is None and run.rc == 0 and run.output and run.output.exists():
        # No summary line: count the samples in the collapsed output instead.
        counts = _collapsed(run.output)
        if counts:
            run.samples = run.kept = sum(counts.values())


def _collapsed(path: Path) -> dict[str, int]:
    """``stack -> count`` from a collapsed-stack file (``a;b;c N`` lines)."""
    counts: dict[str, int] = {}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return counts
    for line in text.splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            counts[stack] = counts.get(stack, 0) + int(n)
    return counts


def _frame_names(stack: str) -> list[str]:
    """Function names of a collapsed stack: dziura's and py-spy's ``func (file:line)`` frames, and
    Tachyon's ``tid:N;file:func:line`` ones."""
    names = []
    for f in stack.split(";"):
        if " (" in f:
            names.append(f.split(" (", 1)[0])
        elif f.count(":") >= 2:
            names.append(f.rsplit(":", 2)[1])
        else:
            names.append(f)
    return names


def _has(stack: str, func: str) -> bool:
    # py-spy 0.4.3 may qualify names (Class.func); module-level functions stay bare.
    return any(n == func or n.endswith("." + func) for n in _frame_names(stack))


def _top_depth(path: Path | None) -> int | None:
    """Frames in the most-sampled stack of a collapsed file."""
    counts = _collapsed(path) if path else {}
    if not counts:
        return None
    return max(counts.items(), key=lambda kv: kv[1])[0].count(";") + 1


class Runner:
    def __init__(self, dziura: Path, pyspy: Path | None, tachyon: bool, tmp: Path) -> None:
        self.exe = {"dziura": dziura, "pyspy": pyspy, "pyspy_nb": pyspy,
                    "tachyon": Path(sys.executable) if tachyon else None}
        self.tmp = tmp
        self.counter = 0
        self.notes: list[str] = []
        self.problems: list[str] = []
        self.section = ""
        self.agg: dict[str, dict] = {}

    @property
    def samplers(self) -> list[str]:
        return [s for s in SAMPLERS if self.exe[s] is not None]

    def _cmd(self, sampler: str, rate: int, out: Path, pid: int | None = None,
             duration: int | None = None, command: list[str] | None = None) -> list[str]:
        exe = str(self.exe[sampler])
        if sampler == "tachyon":
            cmd = [exe, "-m", "profiling.sampling", "attach" if pid is not None else "run",
                   "-r", str(rate), "-a", "--collapsed", "-o", str(out)]
            if duration is not None:
                cmd += ["-d", str(duration)]
            # `run` takes the script and its arguments, without the interpreter.
            return cmd + ([str(pid)] if pid is not None else list(command[1:] if command else []))
        fmt = ["-f", "collapsed"] if sampler == "dziura" else ["-f", "raw"]
        cmd = [exe, "record", "-r", str(rate), *fmt, "-o", str(out)]
        if sampler == "pyspy_nb":
            cmd.append("--nonblocking")
        if duration is not None:
            cmd += ["-d", str(duration)]
        if pid is not None:
            cmd += ["--pid", str(pid)]
        if command is not None:
            cmd += ["--", *command]
        return cmd

    def sample(self, sampler: str, rate: int, *, pid: int | None = None, duration: int | None = None,
               command: list[str] | None = None, window: tuple[float, float] | None = None,
               deadline: float = 120.0) -> Run:
        """Run one sampler to completion; SIGINT it at ``deadline`` s, SIGKILL 5 s later."""
        self.counter += 1
        out = self.tmp / f"{self.counter:03d}-{sampler}-{rate}.txt"
        console = self.tmp / f"{self.counter:03d}-{sampler}-{rate}.log"
        cmd = self._cmd(sampler, rate, out, pid, duration, command)
        run = Run(sampler, output=out)
        with open(console, "wb") as fh:
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        start = time.perf_counter()

        def interrupt() -> None:
            if proc.returncode is None:
                run.interrupted = True
                try:
                    proc.send_signal(signal.SIGINT)
                except OSError:
                    pass

        def kill() -> None:
            if proc.returncode is None:
                try:
                    proc.kill()
                except OSError:
                    pass

        timers = [threading.Timer(deadline, interrupt), threading.Timer(deadline + 5, kill)]
        for t in timers:
            t.daemon = True
            t.start()
        if window:
            a, b = window
            time.sleep(max(0.0, start + a - time.perf_counter()))
            c0, t0 = _task_cpu(proc.pid), time.perf_counter()
            time.sleep(max(0.0, start + b - time.perf_counter()))
            c1, t1 = _task_cpu(proc.pid), time.perf_counter()
            # Still running, checked without reaping it (wait4 below must get its usage).
            if c0 is not None and c1 is not None and _running(proc.pid):
                run.steady = (c1 - c0) / (t1 - t0)
        _, status, usage = os.wait4(proc.pid, 0)
        run.wall = time.perf_counter() - start
        proc.returncode = run.rc = os.waitstatus_to_exitcode(status)
        for t in timers:
            t.cancel()
        run.cpu_total = usage.ru_utime + usage.ru_stime
        run.text = console.read_text(errors="replace")
        _parse(run)
        label = f"{self.section}: {SAMPLERS[sampler]} at {rate} Hz"
        if not run.ok:
            (self.problems if sampler == "dziura" else self.notes).append(f"{label}: {run.describe()}")
        # Summed over the repeats of the same (section, sampler, rate): one note line each.
        agg = self.agg.setdefault(label, {"runs": 0, "errors": 0, "samples": 0, "interrupted": 0, "behind": 0.0})
        agg["runs"] += 1
        agg["errors"] += run.errors or 0
        agg["samples"] += run.samples or 0
        agg["interrupted"] += run.interrupted
        agg["behind"] = max(agg["behind"], run.behind or 0.0)
        return run

    def run_notes(self) -> list[str]:
        out = []
        for label, a in self.agg.items():
            runs = f" over {a['runs']} runs" if a["runs"] > 1 else ""
            if a["interrupted"]:
                out.append(f"{label}: still running {a['interrupted']} time(s) well past its duration, interrupted")
            if a["errors"]:
                out.append(f"{label}: {a['errors']} sampling error(s) in {a['samples']} samples{runs}")
            if a["behind"]:
                out.append(f"{label}: py-spy reported up to {a['behind']:.2f} s behind in sampling{runs}")
        return out


# ---------------------------------------------------------------------- the four sections


def _f(value: float | None, fmt: str, na: str = "n/a") -> str:
    return na if value is None else format(value, fmt)


def _table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] * left + ["---:"] * (len(header) - left)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _best_peer(r: Runner, runs: dict, value, low: bool) -> str | None:
    """The peer with the best ``value(run)`` (lowest when ``low``), among runs that gave one."""
    got = {s: value(run) for s, run in runs.items() if s != "dziura" and run is not None and value(run) is not None}
    if not got:
        return None
    return (min if low else max)(got, key=got.get)


def _wake_floor() -> Path | None:
    """crates/dziura-sampler/examples/wake_floor (the sampler's clock, reading nothing), built
    once with cargo into target/bench-floor; None without cargo."""
    root = SCRIPT.parent.parent
    target = root / "target" / "bench-floor" / "cargo"
    exe = target / "release" / "examples" / "wake_floor"
    try:
        subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "dziura-sampler", "--example", "wake_floor"],
                       cwd=root, check=True, env={**os.environ, "CARGO_TARGET_DIR": str(target)})
    except (OSError, subprocess.CalledProcessError) as e:
        log(f"no wake floor: cargo could not build it ({e})")
        return None
    return exe


def _floor_cost(exe: Path, rate: int, duration: int) -> float | None:
    """CPU s/s of waking ``rate`` times a second for ``duration`` s with nothing read."""
    out = subprocess.run([str(exe), str(rate), str(duration)], capture_output=True, text=True, timeout=duration + 30)
    m = re.search(r"([\d.]+) CPU s/s", out.stdout)
    return float(m.group(1)) if m else None


def section_cost(r: Runner, rates: list[int], duration: int, goals: list[str]) -> str:
    r.section = "cost"
    log(f"cost: {len(r.samplers)} sampler(s) x {len(rates)} rates x {duration} s on a 20-frame busy target")
    peers = [s for s in r.samplers if s != "dziura"]
    target = Target("busy", 20)
    runs: dict[tuple[int, str], Run] = {}
    try:
        for rate in rates:
            for s in r.samplers:
                runs[(rate, s)] = run = r.sample(s, rate, pid=target.pid, duration=duration,
                                                 window=(1.0, duration - 0.5), deadline=duration + 10)
                log(f"  {SAMPLERS[s]:>20} {rate:>5} Hz: steady {_f(run.steady, '.4f')} CPU s/s, "
                    f"{_f(run.rate, '.0f')} samples/s, late {run.late if run.late is not None else '-'}")
                if run.ok and run.rate is not None and not 0.9 * rate <= run.rate <= 1.1 * rate:
                    r.notes.append(f"cost: {SAMPLERS[s]} at {rate} Hz took {run.rate:.0f} samples/s "
                                   f"({run.samples} in {run.sampling_seconds:.2f} s)")
                if run.ok and run.late:
                    r.notes.append(f"cost: dziura at {rate} Hz: {run.late} late tick(s) in {run.samples}")
    finally:
        target.stop()
    if target.proc.returncode not in (0, -signal.SIGKILL):
        r.problems.append(f"cost: the target exited by itself (status {target.proc.returncode})")

    floor_exe = _wake_floor()
    floors = {rate: _floor_cost(floor_exe, rate, duration) for rate in rates} if floor_exe else {}

    def ratio(rate: int, s: str, base: str) -> str:
        a, b = runs.get((rate, s)), runs.get((rate, base))
        if not a or not b or a.steady is None or not b.steady:
            return "n/a"
        return f"{a.steady / b.steady:.2f}"

    rows = []
    for rate in rates:
        for s in r.samplers:
            run = runs[(rate, s)]
            whole = run.cpu_total / run.wall if run.cpu_total is not None and run.wall else None
            per_sample = (run.steady / run.rate * 1e6) if run.steady is not None and run.rate else None
            rows.append([f"{rate}", SAMPLERS[s], _f(run.steady, ".4f"), _f(whole, ".4f"), _f(run.rate, ".0f"),
                         _f(per_sample, ".1f"), *(ratio(rate, s, p) for p in peers)])
        floor = floors.get(rate)
        if floor is not None:
            cells = []
            for p in peers:
                b = runs.get((rate, p))
                cells.append(f"{floor / b.steady:.2f}" if b and b.steady else "n/a")
            rows.append([f"{rate}", "floor: waking only", f"{floor:.4f}", "", "", "", *cells])
    best = _best_peer(r, {s: runs.get((1000, s)) for s in peers}, lambda run: run.steady, low=True)
    if 1000 in rates and best:
        val = ratio(1000, "dziura", best)
        met = "met" if val != "n/a" and float(val) <= 0.5 else "NOT met"
        floor = floors.get(1000)
        b = runs.get((1000, best))
        floor_txt = (f"; the floor (waking 1000 times a second, reading nothing) is already "
                     f"{floor / b.steady:.2f} of it" if floor is not None and b and b.steady else "")
        goals.append(f"sampler CPU at 1 kHz, dziura / the cheapest peer ({SAMPLERS[best]}): {val} "
                     f"(goal ≤ 0.5: {met}{floor_txt}); "
                     + "; ".join(f"dziura / {SAMPLERS[p]}: {ratio(1000, 'dziura', p)}" for p in peers if p != best))
    title = (f"**1. Sampler cost**: CPU seconds per second of sampling, attached to one busy thread with a "
             f"20-frame stack, {duration} s per run. *steady* = on-CPU time of the sampler's threads from 1 s "
             f"after launch to 0.5 s before the end; *whole run* = user+sys of the process over its wall time "
             f"(start-up and writing included). Ratios compare steady costs. *floor*: the sampler's own clock "
             f"waking at that rate and reading nothing (`crates/dziura-sampler/examples/wake_floor.rs`), the "
             f"least any sampler that wakes per sample can cost on this machine.")
    header = ["rate (Hz)", "sampler", "steady CPU (s/s)", "whole run CPU (s/s)", "samples/s",
              "CPU µs/sample", *(f"÷ {SAMPLERS[p]}" for p in peers)]
    return title + "\n\n" + _table(header, rows, left=2)


def section_rate(r: Runner, rate: int, duration: int, goals: list[str]) -> str:
    r.section = "rate"
    log(f"rate: {len(r.samplers)} sampler(s) asked for {rate} Hz for {duration} s on a 50-frame busy target")
    target = Target("busy", 50)
    rows, runs = [], {}
    try:
        for s in r.samplers:
            runs[s] = run = r.sample(s, rate, pid=target.pid, duration=duration,
                                     window=(1.0, duration - 0.5), deadline=duration + 4)
            log(f"  {SAMPLERS[s]:>20}: {_f(run.rate, '.0f')} samples/s")
    finally:
        target.stop()
    for s in r.samplers:
        run = runs[s]
        late = (str(run.late) if run.late is not None
                else (f"{run.behind:.2f} s behind" if run.behind else ("0" if run.ok else "n/a")))
        rows.append([SAMPLERS[s], str(run.samples if run.samples is not None else "n/a"),
                     f"{run.sampling_seconds:.2f}", _f(run.rate, ".0f"),
                     str(run.errors if run.errors is not None else "n/a"), late,
                     _f(run.steady, ".3f"), str(_top_depth(run.output) or "n/a")])
    dz = runs.get("dziura")
    best = _best_peer(r, runs, lambda run: run.rate, low=False)
    if dz is not None:
        peer = runs[best].rate if best else None
        ok = dz.rate is not None and dz.rate >= 10000 and (peer is None or dz.rate >= 2 * peer)
        vs = f", {dz.rate / peer:.1f}x the fastest peer ({SAMPLERS[best]}, {peer:.0f})" if peer and dz.rate else ""
        goals.append(f"highest sustained rate on 50 frames, dziura: {_f(dz.rate, '.0f')} samples/s{vs} "
                     f"(goal ≥ 10000 and ≥ 2x the fastest peer: {'met' if ok else 'NOT met'})")
    title = (f"**2. Highest sustained rate**: asked for {rate} Hz for {duration} s, attached to one busy thread "
             f"with a 50-frame stack. Achieved = samples / sampling time (dziura's own figure; py-spy's process "
             f"wall time). *late* = dziura's late ticks or py-spy's largest \"behind\" message; *depth* = frames "
             f"in the most-sampled stack of the output.")
    header = ["sampler", "samples", "seconds", "achieved samples/s", "errors", "late", "steady CPU (s/s)", "depth"]
    return title + "\n\n" + _table(header, rows)


def section_slowdown(r: Runner, reps: int, repeat: int, goals: list[str]) -> str:
    cells = [("1 thread", 0, 1000), ("100 idle threads", 100, 500)]
    modes = ["none", *r.samplers]
    r.section = "slowdown"
    log(f"slowdown: fib({FIB_N}) x {reps}, best of {repeat}, modes: {', '.join(modes)}")
    times: dict[tuple[int, str], list[float]] = {}
    last: dict[tuple[int, str], Run] = {}
    wait_share: dict[tuple[int, str], float] = {}
    for i in range(repeat):
        for ci, (name, nthreads, rate) in enumerate(cells):
            for mode in modes:
                key = (ci, mode)
                got = times.setdefault(key, [])
                base = min(times.get((ci, "none")) or [0]) or None
                if i > 0 and mode != "none" and (not got or (base and min(got) > 3 * base)):
                    continue  # failed, or so slow that a repeat would only cost minutes
                r.counter += 1
                result = r.tmp / f"{r.counter:03d}-fib-{mode}.json"
                command = _target_cmd("fib", reps, nthreads, result)
                if mode == "none":
                    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
                    if proc.returncode != 0:
                        r.problems.append(f"slowdown {name}: un-sampled target failed: {proc.stderr.strip()[-200:]}")
                else:
                    # The sampler's own threads only: wait4 would add the target it reaped.
                    window = (0.7, 0.7 + min(2.3, reps * 0.02))
                    run = last[key] = r.sample(mode, rate, command=command, window=window, deadline=240)
                    counts = _collapsed(run.output) if run.output else {}
                    total = sum(counts.values())
                    if nthreads and total:
                        wait_share[key] = sum(n for st, n in counts.items() if _has(st, "wait")) / total
                if result.exists():
                    got.append(json.loads(result.read_text())["seconds"])
                elif mode != "none":
                    r.problems.append(f"slowdown {name} / {SAMPLERS[mode]}: the target wrote no result")
        log(f"  repeat {i + 1}/{repeat}: " + ", ".join(
            f"{cells[ci][0]}/{m} {min(v):.3f}s" for (ci, m), v in times.items() if v))

    rows = []
    for ci, (name, nthreads, rate) in enumerate(cells):
        base = min(times[(ci, "none")]) if times.get((ci, "none")) else None
        spread = (max(times[(ci, "none")]) - base) / base * 100 if base and len(times[(ci, "none")]) > 1 else None
        row = [name, str(rate), _f(base, ".3f"), _f(spread, ".1f") + ("%" if spread is not None else "")]
        for s in r.samplers:
            got = times.get((ci, s)) or []
            best = min(got) if got else None
            slow = (best - base) / base * 100 if best is not None and base else None
            row += [_f(best, ".3f"), _f(slow, "+.1f") + ("%" if slow is not None else "")
                    + (f" (1 run)" if best is not None and len(got) == 1 and repeat > 1 else "")]
        row.append(" / ".join(_f(last[(ci, s)].kept_rate if (ci, s) in last else None, ".0f") for s in r.samplers))
        row.append(" / ".join(_f(last[(ci, s)].steady if (ci, s) in last else None, ".3f") for s in r.samplers))
        rows.append(row)
        if "dziura" in r.samplers and base:
            got = times.get((ci, "dziura")) or []
            slow = (min(got) - base) / base * 100 if got else None
            limit = 1.0 if nthreads == 0 else 2.0
            peer_slow = [(min(times[(ci, s)]) - base) / base * 100 for s in r.samplers
                         if s != "dziura" and times.get((ci, s))]
            least = min(peer_slow) if peer_slow else None
            # "No more than theirs": within the run-to-run noise of the un-sampled target.
            ok = slow is not None and (slow <= limit or (least is not None and slow <= least + (spread or 0)))
            noise = f"; un-sampled runs spread {spread:.1f}%" if spread is not None else ""
            least_txt = f", least of the peers {least:+.1f}%" if least is not None else ""
            goals.append(f"target slowdown with dziura, {name} at {rate} Hz: {_f(slow, '+.1f')}%{least_txt} "
                         f"(goal ≤ {limit:.0f}% or no more than the least peer's: {'met' if ok else 'NOT met'}{noise})")
        for s in r.samplers:
            share = wait_share.get((ci, s))
            if share is not None and share > 0.1:
                r.notes.append(f"slowdown {name}: {share:.0%} of {SAMPLERS[s]}'s kept samples are in a "
                               f"`wait` frame (idle threads counted as active)")
    header = ["target", "rate (Hz)", "none (s)", "none spread"]
    for s in r.samplers:
        header += [f"{SAMPLERS[s]} (s)", f"{SAMPLERS[s]} slowdown"]
    names = " / ".join(SAMPLERS[s] for s in r.samplers)
    header += [f"kept stacks/s ({names})", f"sampler CPU s/s ({names})"]
    title = (f"**3. Target slowdown**: the target's own time for fib({FIB_N}) x {reps} after a {SETTLE} s settle, "
             f"launched by each sampler (`record ... -- python ...`); best of {repeat} runs per cell. "
             f"*none spread* = (slowest - fastest) / fastest of the un-sampled runs: run-to-run noise, "
             f"against which a slowdown of a few % cannot be told from zero. "
             f"*kept stacks/s* = stacks written per second of sampling in the last run (idle threads are "
             f"dropped by both); *sampler CPU* = on-CPU time of the sampler's own threads per second during "
             f"the target's work, in the last run.")
    return title + "\n\n" + _table(header, rows, left=1)


def section_accuracy(r: Runner, duration: int, goals: list[str]) -> str:
    r.section = "accuracy"
    log(f"accuracy: 70/30 target, 1000 Hz for {duration} s per sampler")
    r.counter += 1
    result = r.tmp / f"{r.counter:03d}-mix.json"
    target = Target("mix", result)
    runs = {}
    try:
        for s in r.samplers:
            runs[s] = r.sample(s, 1000, pid=target.pid, duration=duration, deadline=duration + 10)
    finally:
        target.stop(signal.SIGTERM)
    own = None
    if result.exists():
        data = json.loads(result.read_text())
        own = data["hot"] / (data["hot"] + data["cold"]) * 100
    rows = []
    for s in r.samplers:
        counts = _collapsed(runs[s].output) if runs[s].output else {}
        total = sum(counts.values())
        hot = sum(n for st, n in counts.items() if _has(st, "hot70"))
        cold = sum(n for st, n in counts.items() if _has(st, "cold30"))
        hot_pct = hot / total * 100 if total else None
        cold_pct = cold / total * 100 if total else None
        err = hot_pct - 70.0 if hot_pct is not None else None
        other = (total - hot - cold) / total * 100 if total else None
        rows.append([SAMPLERS[s], str(total), _f(hot_pct, ".1f"), _f(cold_pct, ".1f"),
                     _f(other, ".1f"), _f(err, "+.1f")])
        if s == "dziura":
            met = "met" if err is not None and abs(err) <= 2 else "NOT met"
            goals.append(f"accuracy, dziura's share for the 70% function: {_f(hot_pct, '.1f')}% "
                         f"(goal 70 ± 2: {met})")
    title = (f"**4. Accuracy**: a target alternating 7 ms in `hot70()` and 3 ms in `cold30()`, sampled at "
             f"1000 Hz for {duration} s by each sampler in turn; % of the samples whose stack contains each "
             f"function. The target's own clock put {_f(own, '.1f')}% of its time in `hot70()`.")
    header = ["sampler", "samples", "hot70 (%)", "cold30 (%)", "other (%)", "hot70 error (points)"]
    return title + "\n\n" + _table(header, rows)


# ---------------------------------------------------------------------------------- main


def _version(exe: Path | None) -> str:
    if exe is None:
        return "n/a"
    try:
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=30).stdout
        return out.strip() or "unknown version"
    except (OSError, subprocess.SubprocessError) as e:
        return f"unknown version ({e})"


def _build() -> str:
    """Which dziura build runs: its extension module's mtime and this checkout's commit."""
    parts = []
    proc = subprocess.run([sys.executable, "-c", "import dziura._native as n; print(n.__file__)"],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode == 0 and proc.stdout.strip():
        so = Path(proc.stdout.strip())
        stamp = datetime.datetime.fromtimestamp(so.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
        parts.append(f"{so.name} built {stamp}")
    repo = SCRIPT.parent.parent
    try:  # no git inside the Debian root that runs 3.14 and 3.15
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        if head.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--", "crates", "python"],
                                   capture_output=True, text=True).stdout.strip()
            parts.append(f"checkout {head.stdout.strip()}" + (" with uncommitted changes" if dirty else ""))
    except OSError:
        pass
    return ", ".join(parts) or "build unknown"


def _busy_cpu_seconds() -> float | None:
    """CPU seconds all CPUs spent outside idle/iowait since boot (/proc/stat)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    """CPU seconds of this script and every child it (or a sampler) reaped."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        u = resource.getrusage(who)
        total += u.ru_utime + u.ru_stime
    return total


def _machine_busy(seconds: float = 1.0) -> float | None:
    """Share of all CPUs' time spent outside idle/iowait over ``seconds`` (/proc/stat)."""

    def read() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return sum(fields[:8]), fields[3] + fields[4]

    try:
        total0, idle0 = read()
        time.sleep(seconds)
        total1, idle1 = read()
    except (OSError, ValueError, IndexError):
        return None
    return 1 - (idle1 - idle0) / (total1 - total0) if total1 > total0 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=SECTIONS, help="run only this measurement (repeatable)")
    parser.add_argument("--repeat", type=int, help="runs per slowdown cell, best kept (default 3; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="shorter runs and 1 repeat: a smoke test")
    parser.add_argument("--ask-rate", type=int, default=20000, metavar="HZ",
                        help="rate asked for in the highest-rate measurement (default 20000)")
    parser.add_argument("--markdown", metavar="FILE", help="append the tables to FILE under a heading")
    parser.add_argument("--keep", action="store_true", help="keep the samplers' outputs and logs (path printed)")
    parser.add_argument("--target", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.target:
        _target(args.target[0], args.target[1:])
        return 0
    if not sys.platform.startswith("linux"):
        log("bench/sampling.py reads /proc and runs on Linux only")
        return 2

    sections = args.only or list(SECTIONS)
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    if repeat < 1:
        parser.error("--repeat must be at least 1")
    cost_duration = 3 if args.quick else 5
    rate_duration = 2 if args.quick else 3
    acc_duration = 3 if args.quick else 5
    reps = 40 if args.quick else 120

    dziura = BIN_DIR / "dziura"
    pyspy: Path | None = BIN_DIR / "py-spy"
    if not os.access(dziura, os.X_OK):
        log(f"dziura is not installed next to {sys.executable} ({dziura} missing): nothing to measure")
        return 2
    probe = subprocess.run([str(dziura), "--version"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        log(f"{dziura} --version failed (exit status {probe.returncode}): {probe.stderr.strip()[-500:]}")
        return 2
    if not PYSPY_READS:
        log(f"skip py-spy: it reads CPython up to 3.14, this is {platform.python_version()}")
        pyspy = None
    elif not os.access(pyspy, os.X_OK):
        log(f"skip py-spy: {pyspy} not found (pip install -r bench/requirements.txt); "
            f"its rows and columns are left out")
        pyspy = None
    peers = [_version(pyspy) if pyspy else ("py-spy not installed" if PYSPY_READS else "py-spy (reads up to 3.14)")]
    if HAS_TACHYON:
        peers.append(f"Tachyon of {platform.python_version()}")
    versions = f"{_version(dziura)} ({_build()}), " + ", ".join(peers)
    version = platform.python_version()
    log(f"Python {version} ({sys.executable}); {versions}; sections: {', '.join(sections)}")

    tmp_ctx = tempfile.TemporaryDirectory(prefix="dziura-sampling-")
    tmp = Path(tmp_ctx.name)
    if args.keep:
        tmp_ctx = None  # type: ignore[assignment]
        tmp = Path(tempfile.mkdtemp(prefix="dziura-sampling-"))
        log(f"outputs kept in {tmp}")
    runner = Runner(dziura, pyspy, HAS_TACHYON, tmp)
    busy = _machine_busy()
    if busy is not None and busy > 0.15:
        runner.notes.append(f"the machine was {busy:.0%} busy in the second before the benchmark started: "
                            f"other work was running")
    goals: list[str] = []
    parts: list[str] = []
    started = time.perf_counter()
    busy0, own0 = _busy_cpu_seconds(), _own_cpu_seconds()
    try:
        if "cost" in sections:
            parts.append(section_cost(runner, [100, 1000, 5000], cost_duration, goals))
        if "rate" in sections:
            parts.append(section_rate(runner, args.ask_rate, rate_duration, goals))
        if "slowdown" in sections:
            parts.append(section_slowdown(runner, reps, repeat, goals))
        if "accuracy" in sections:
            parts.append(section_accuracy(runner, acc_duration, goals))
    finally:
        if tmp_ctx is not None:
            tmp_ctx.cleanup()
    elapsed = time.perf_counter() - started
    busy1, own1 = _busy_cpu_seconds(), _own_cpu_seconds()
    log(f"done in {elapsed:.0f} s")
    if busy0 is not None and busy1 is not None and elapsed > 0:
        # Kernel threads and this script's polling make a little noise; a build makes a lot.
        foreign = (busy1 - busy0 - (own1 - own0)) / elapsed
        if foreign > 0.1:
            runner.notes.append(f"other processes used {foreign:.2f} CPU(s) on average during the run: "
                                f"the numbers are disturbed, run again on a quiet machine")

    if pyspy is None:
        why = "was not installed next to the interpreter" if PYSPY_READS else "does not read CPython 3.15+"
        parts.insert(0, f"py-spy {why}: its columns are missing.")
    if goals:
        parts.append("Goals:\n\n" + "\n".join(f"- {g}" for g in goals))
    notes = runner.run_notes() + runner.notes
    if notes:
        parts.append("Notes:\n\n" + "\n".join(f"- {n}" for n in dict.fromkeys(notes)))
    report = "\n\n".join(parts)
    print(report)
    for p in runner.problems:
        log(f"PROBLEM: {p}")

    if args.markdown:
        date = datetime.date.today().isoformat()
        command = shlex.join(sys.orig_argv)
        machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU(s)"
        with open(args.markdown, "a", encoding="utf-8") as fh:
            fh.write(f"\n## {platform.python_implementation()} {version}, {date}: `{command}`\n\n")
            fh.write(f"{machine}; {versions}.\n\n{report}\n")
            if runner.problems:
                fh.write("\nProblems:\n\n" + "".join(f"- {p}\n" for p in runner.problems))
        log(f"appended to {args.markdown}")
    return 1 if runner.problems else 0


if __name__ == "__main__":
    sys.exit(main())

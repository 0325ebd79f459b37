"""Sampling mode against live processes of the interpreter running the tests (3.11, 3.13 and
3.13t across the suite's matrix): dump, record in every format, launching, faults."""

import json
import os
import pathlib
import re
import pstats
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import PROGRAMS, processes, wait_until_sampling

TARGET = str(PROGRAMS / "sampling_target.py")
DZIURA = [sys.executable, "-m", "dziura"]


def dz(*args, timeout=60):
    return subprocess.run([*DZIURA, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def test_dump_shows_every_frame_with_lines(target):
    p = target("deep", 5, 30)
    r = dz("dump", "--pid", p.pid)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1].startswith(f"Python v{sys.version_info.major}.{sys.version_info.minor}.")
    main = lines.index(next(line for line in lines if '"MainThread"' in line))
    frames = [line.strip() for line in lines[main + 1:] if line.startswith("    ")]
    assert frames[0].startswith("Worker.spin (") and "sampling_target.py:" in frames[0]
    assert [f.split(" ")[0] for f in frames[1:7]] == ["deep"] * 6
    assert frames[-1].startswith("<module> (")
    # Lines come from the location table: the while loop's lines, then the recursive call.
    assert any(frames[0].endswith(f":{n})") for n in (12, 13))
    assert frames[2].endswith(":21)")


def test_dump_json_and_idle_threads(target):
    p = target("threads", 5, 30)
    r = dz("dump", "--pid", p.pid, "--json")
    threads = json.loads(r.stdout)
    assert len(threads) == 6
    main = next(t for t in threads if t["native_id"] == p.pid)
    assert main["name"] == "MainThread" and main["active"] is True
    assert main["frames"][0]["qualname"] == "Worker.spin"
    idle = [t for t in threads if t["native_id"] != p.pid]
    assert all(not t["active"] for t in idle)
    assert all(any(f["name"] == "wait" for f in t["frames"]) for t in idle)


def test_deep_recursion_and_many_threads(target):
    p = target("deep", 5000, 30)
    r = dz("dump", "--pid", p.pid, "--json")
    main = next(t for t in json.loads(r.stdout) if t["native_id"] == p.pid)
    assert sum(f["name"] == "deep" for f in main["frames"]) == 5001
    q = target("threads", 120, 30)
    r = dz("dump", "--pid", q.pid, "--json")
    assert len(json.loads(r.stdout)) == 121
    r = dz("record", "--pid", q.pid, "-d", 1, "-r", 200, "--idle", "-f", "collapsed", "-o", os.devnull)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("fmt", ["flamegraph", "speedscope", "collapsed", "table", "pstats", "chrome", "callgrind", "pprof"])
def test_record_every_format(target, tmp_path, fmt):
    p = target("deep", 3, 30)
    out = tmp_path / f"out.{fmt}"
    r = dz("record", "--pid", p.pid, "-d", 1, "-r", 200, "-f", fmt, "-o", out)
    assert r.returncode == 0, r.stderr
    assert "duration reached" in r.stderr and "errors" in r.stderr
    data = out.read_bytes()
    if fmt == "flamegraph":
        root = ET.fromstring(data)
        assert root.tag.endswith("svg") and b"Worker.spin" in data and b"<script" in data
    elif fmt == "speedscope":
        doc = json.loads(data)
        assert doc["$schema"].startswith("https://www.speedscope.app/")
        names = [f["name"] for f in doc["shared"]["frames"]]
        assert "Worker.spin" in names
        prof = doc["profiles"][0]
        assert prof["type"] == "sampled" and len(prof["samples"]) == len(prof["weights"]) > 50
    elif fmt == "collapsed":
        top = max(data.decode().splitlines(), key=lambda line: int(line.rsplit(" ", 1)[1]))
        assert top.split(";")[-1].startswith("Worker.spin") and top.split(";")[0].startswith("<module>")
    elif fmt == "table":
        text = data.decode()
        assert text.startswith("Sampled profile: ncalls = samples") and "Worker.spin" in text
    elif fmt == "pstats":
        st = pstats.Stats(str(out))
        spin = next(v for k, v in st.stats.items() if k[2] == "Worker.spin")
        assert spin[1] > 50 and spin[2] == pytest.approx(spin[1] * 0.005, rel=1e-6)


def test_seventy_thirty_split_is_measured(target):
    p = target("split", 0, 30)
    r = dz("record", "--pid", p.pid, "-d", 3, "-r", 500, "-f", "collapsed", "-o", "/dev/stdout")
    counts = {"seventy": 0, "thirty": 0}
    for line in r.stdout.splitlines():
        stack, n = line.rsplit(" ", 1)
        for name in counts:
            if f";{name} (" in stack:
                counts[name] += int(n)
    share = counts["seventy"] / (counts["seventy"] + counts["thirty"])
    assert 0.62 <= share <= 0.78, counts


def test_record_launches_a_command_and_passes_its_exit_code(tmp_path):
    out = tmp_path / "launch.collapsed"
    r = subprocess.run([*DZIURA, "record", "-r", "200", "-o", str(out), "--", sys.executable, TARGET, "deep", "2", "1", "3"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 3, r.stderr
    assert "target exited" in r.stderr
    assert "Worker.spin" in out.read_text()


def test_record_duration_ending_a_launched_command_is_a_success(tmp_path):
    """`record -d N -- CMD` ends CMD when the N seconds are up: that is what was asked, so it exits
    0 as py-spy does (a harness calling it with `check_output` must not fail)."""
    out = tmp_path / "timed.collapsed"
    r = subprocess.run([*DZIURA, "record", "-r", "200", "-d", "1", "-o", str(out), "--", sys.executable, TARGET,
                        "deep", "2", "30"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "duration reached" in r.stderr and "Worker.spin" in out.read_text()


def test_ctrl_c_and_target_exit_still_write(target, tmp_path):
    p = target("deep", 2, 30)
    out = tmp_path / "int.collapsed"
    rec = subprocess.Popen([*DZIURA, "record", "--pid", str(p.pid), "-r", "200", "-o", str(out)],
                           stderr=subprocess.PIPE, text=True)
    wait_until_sampling(rec.pid, p.pid)
    time.sleep(0.5)
    rec.send_signal(signal.SIGINT)
    _, err = rec.communicate(timeout=30)
    assert rec.returncode == 130, err
    assert "interrupted" in err and "Worker.spin" in out.read_text()
    # The target ends while being recorded (killed once the recorder is sampling, so slow
    # interpreter start-up cannot make the recorder miss it).
    q = target("deep", 2, 60)
    out2 = tmp_path / "exit.collapsed"
    rec = subprocess.Popen([*DZIURA, "record", "--pid", str(q.pid), "-r", "200", "-o", str(out2)],
                           stderr=subprocess.PIPE, text=True)
    wait_until_sampling(rec.pid, q.pid)
    time.sleep(0.5)
    q.kill()
    q.wait()
    _, err = rec.communicate(timeout=60)
    assert rec.returncode == 0 and "target exited" in err, err
    assert "Worker.spin" in out2.read_text()


def test_periodic_output_while_sampling(target, tmp_path):
    p = target("deep", 2, 30)
    out = tmp_path / "periodic.collapsed"
    rec = subprocess.Popen([*DZIURA, "record", "--pid", str(p.pid), "-r", "100", "-o", str(out)],
                           stderr=subprocess.PIPE, text=True)
    wait_until_sampling(rec.pid, p.pid)
    time.sleep(0.5)
    rec.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10  # written at the sampler's next once-a-second tick
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert out.exists() and "Worker.spin" in out.read_text()
    rec.send_signal(signal.SIGINT)
    rec.communicate(timeout=30)


def test_thread_filter_and_gil(target, tmp_path):
    p = target("threads", 3, 30)
    out = tmp_path / "t.collapsed"
    r = dz("record", "--pid", p.pid, "-d", 1, "--idle", "--thread", "MainThread", "--threads", "-o", out)
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    assert lines and all(line.startswith("thread MainThread") for line in lines)


def test_faults_are_one_clear_line(tmp_path):
    r = dz("dump", "--pid", 999999)
    assert r.returncode == 1 and r.stderr.strip() == "dziura: error: no process with pid 999999"
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        r = dz("dump", "--pid", sleeper.pid)
        assert r.returncode == 1 and "is not a Python process" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    finally:
        sleeper.kill()
    r = dz("record", "-f", "bogus", "--pid", os.getpid())
    assert r.returncode == 2 and "bogus" in r.stderr and "panicked" not in r.stderr


def test_top_refreshes_and_sorts(target):
    p = target("deep", 3, 30)
    r = dz("top", "--pid", p.pid, "-d", 2.5, "--delay", 1, "--no-redraw", "--all", "--sort", "total")
    assert r.returncode == 0, r.stderr
    screens = [s for s in r.stdout.split("dziura top: pid") if s.strip()]
    assert len(screens) >= 2
    last = screens[-1]
    assert "sorted by cumulative time" in last and "ncalls  tottime  percall  cumtime  percall" in last, last
    samples = int(re.search(r"samples (\d+),", last).group(1))
    rows = [line for line in last.splitlines() if re.match(r"^\s*\d+(/\d+)?\s+[\d.]+\s", line)]
    # Sorted by total: the outermost frames are on the stack in every sample.
    cumulative = [float(row.split()[3]) for row in rows]
    assert cumulative == sorted(cumulative, reverse=True), last
    assert int(rows[0].split()[0].split("/")[0]) == pytest.approx(samples, rel=0.05), last
    assert any("Worker.spin" in row for row in rows)


@pytest.mark.skipif(not __import__("shutil").which("tmux"), reason="tmux is not installed")
def test_top_in_tmux(target, tmp_path):
    p = target("deep", 3, 30)
    session = f"dziura-top-{os.getpid()}"
    cmd = " ".join([*DZIURA, "top", "--pid", str(p.pid), "-d", "6"])
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "30", cmd], check=True)
    try:
        time.sleep(3)
        screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout
        assert "dziura top: pid" in screen and "Worker.spin" in screen, screen
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        time.sleep(1)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


PYENV = pathlib.Path(os.path.expanduser("~/.pyenv/versions"))
DEBIAN_ROOT = pathlib.Path("/opt/debian-sid")  # scripts/setup.sh's root holding Debian's 3.14 and 3.15


def _other(version):
    """A command running CPython `version` here, or None: pyenv's, a build under /opt, or Debian's
    inside the Debian root, started with chroot like a container's process (dziura then finds its
    interpreter through /proc/PID/root)."""
    bare = version.rstrip("t")
    found = sorted(PYENV.glob(f"{version}*/bin/python{version}")) if PYENV.exists() and version == bare else []
    if found:
        return [str(found[0])]
    built = pathlib.Path(f"/opt/cpython-{version}/bin/python{version}")
    if built.exists():
        return [str(built)]
    if (DEBIAN_ROOT / f"usr/bin/python{version}").exists() and os.geteuid() == 0:
        return ["chroot", str(DEBIAN_ROOT), f"/usr/bin/python{version}"]
    return None


@pytest.mark.parametrize("version", ["3.11", "3.12", "3.13", "3.13t", "3.14", "3.15"])
def test_dump_other_interpreters(version, tmp_path):
    """This interpreter's dziura reads every other supported version (the shared /tmp holds the
    target, so a chrooted interpreter sees it at the same path)."""
    cmd = _other(version)
    if cmd is None:
        pytest.skip(f"no CPython {version} on this machine (pyenv, /opt/cpython-{version}, {DEBIAN_ROOT})")
    script = tmp_path / "target.py"
    script.write_text(pathlib.Path(TARGET).read_text())
    p = subprocess.Popen([*cmd, str(script), "deep", "4", "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        r = dz("dump", "--pid", p.pid)
        assert r.returncode == 0, r.stderr
        assert f"Python v{version.rstrip('t')}." in r.stdout and "Worker.spin (" in r.stdout
        assert r.stdout.count("deep (") == 5, r.stdout  # deep(4) .. deep(0)
    finally:
        p.kill()
        p.wait()


def test_unsupported_version_is_named():
    exe = _other("3.10")
    if exe is None:
        pytest.skip(f"no CPython 3.10 under {PYENV} on this machine")
    p = subprocess.Popen([*exe, "-c", "import time; print('ready', flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        r = dz("dump", "--pid", p.pid)
        assert r.returncode == 1
        assert r.stderr.strip() == "dziura: error: unsupported Python version 3.10: dziura reads CPython 3.11 to 3.15"
    finally:
        p.kill()
        p.wait()


def _busy_for(seconds):
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def test_python_api_samples_this_process_and_others(target, tmp_path, capsys):
    import dziura

    with dziura.Sampler(rate=500) as s:
        _busy_for(0.6)
    out = tmp_path / "self.collapsed"
    s.write(str(out))
    text = out.read_text()
    assert "_busy_for (" in text and "test_python_api_samples_this_process_and_others" in text
    s.print_stats()
    assert "_busy_for" in capsys.readouterr().out

    p = target("deep", 3, 30)
    other = dziura.Sampler(p.pid, rate=200)
    other.start()
    time.sleep(0.5)
    assert other.stop() > 20
    other.write(str(tmp_path / "other.svg"))
    assert b"Worker.spin" in (tmp_path / "other.svg").read_bytes()
    with pytest.raises(RuntimeError, match="not running"):
        other.stop()
    with pytest.raises(ProcessLookupError, match="no process with pid"):
        dziura.Sampler(999999)


def test_blocking_mode_reads_and_lets_the_target_go(target, tmp_path):
    p = target("threads", 3, 30)
    out = tmp_path / "blocking.collapsed"
    r = dz("record", "--pid", p.pid, "-d", 1, "-r", 100, "--blocking", "--idle", "-o", out)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "Worker.spin" in text and "Event.wait" in text
    time.sleep(0.2)
    state = next(line for line in open(f"/proc/{p.pid}/status") if line.startswith("State:"))
    assert "t (tracing stop)" not in state and "T (stopped)" not in state


def test_subprocesses_are_followed(tmp_path):
    parent = tmp_path / "parent.py"
    parent.write_text(
        "import subprocess, sys\n"
        f"kids = [subprocess.Popen([sys.executable, {TARGET!r}, 'deep', '2', '1.5'], stdout=subprocess.DEVNULL) for _ in range(2)]\n"
        "subprocess.Popen(['sleep', '1'])\n"
        "for k in kids:\n    k.wait()\n"
    )
    out = tmp_path / "sub.collapsed"
    r = subprocess.run([*DZIURA, "record", "--subprocesses", "--threads", "--idle", "-r", "200", "-o", str(out), "--",
                        sys.executable, str(parent)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    roots = {line.split(";")[0] for line in out.read_text().splitlines()}
    children = {root for root in roots if "(pid " in root}
    assert len(children) == 2, roots
    # Each child runs <module> -> deep(2) -> deep(1) -> deep(0) -> Worker().spin(). A sample may land in the
    # instant between two calls (deep at line 20 before spin starts or after it returns), so a child stack
    # must be a prefix of that chain (or print's frames under the last deep), and nearly all are in spin.
    chain = ["<module> (sampling_target.py:60)", "deep (sampling_target.py:21)", "deep (sampling_target.py:21)",
             "deep (sampling_target.py:20)"]
    in_deep = in_spin = 0
    for line in out.read_text().splitlines():
        stack, n = line.rsplit(" ", 1)
        root, *frames = stack.split(";")
        if "(pid " not in root or not any(f.startswith("deep ") for f in frames):
            continue
        head = frames[:len(chain)]
        assert head == chain[:len(head)], line
        assert len(frames) <= len(chain) or frames[len(chain)].startswith(("Worker.spin ", "print ")), line
        in_deep += int(n)
        in_spin += int(n) if "Worker.spin" in stack else 0
    assert in_spin >= 0.9 * in_deep > 0, (in_spin, in_deep)


def test_dump_locals():
    p = subprocess.Popen([sys.executable, str(PROGRAMS / "locals_target.py")], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        r = dz("dump", "--pid", p.pid, "--locals")
        assert r.returncode == 0, r.stderr
        args, local_vars = r.stdout.split("        Arguments:\n", 1)[1].split("        Locals:\n", 1)
        for line in ["n: 42", 'label: "job"', "ratio: 0.5", "flag: True", "nothing: None", "neg: -7",
                     "big: 1267650600228229401496703205376", "rest: ()", "options: {}"]:
            assert f"            {line}\n" in args, (line, r.stdout)
        assert "            obj: <object object at 0x" in args
        # Containers by value, as py-spy shows them; bounded in length and depth.
        for line in ['text: "héllo ✓"', "items: [-1234, 5678]", 'letters: ("a", "b", "c")', "one: (1,)",
                     'mapping: {"a": False, "b": (1, 2, 3)}', "huge: <int of 61 digits>",
                     "many: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, ...]",
                     # Sets in table order, as their repr lists them; a removed element is gone.
                     "numbers: {1, 3}", "frozen: frozenset({7})", "nothing_in: set()",
                     "lots: {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, ...}"]:
            assert f"            {line}\n" in local_vars, (line, r.stdout)
        assert "nested: [[1, [2, <list object at 0x" in local_vars
        doc = json.loads(dz("dump", "--pid", p.pid, "--locals", "--json").stdout)
        work = doc[0]["frames"][0]
        assert work["qualname"] == "work"
        assert {"name": "n", "repr": "42", "arg": True} in work["locals"]
        assert {"name": "items", "repr": "[-1234, 5678]", "arg": False} in work["locals"]
        assert [v["name"] for v in work["locals"] if v["arg"]] == [
            "n", "label", "ratio", "flag", "nothing", "big", "neg", "obj", "rest", "options"]
    finally:
        p.kill()
        p.wait()


def test_dump_debian_system_python():
    exe = "/usr/bin/python3"
    if not os.path.exists(exe):
        pytest.skip("no Debian /usr/bin/python3 on this machine")
    version = subprocess.run([exe, "-c", "import sys; print(sys.version_info[1])"], capture_output=True, text=True)
    if int(version.stdout) < 11:
        pytest.skip("the system Python is older than 3.11")
    p = subprocess.Popen([exe, TARGET, "deep", "2", "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        r = dz("dump", "--pid", p.pid)
        assert r.returncode == 0, r.stderr
        assert "Worker.spin (" in r.stdout and "deep (" in r.stdout
    finally:
        p.kill()
        p.wait()


def test_exited_process_is_named_as_such():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # exited but not reaped: a zombie
        state = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()[0]
        if state == "Z":
            break
        time.sleep(0.05)
    r = dz("dump", "--pid", p.pid)
    p.wait()
    assert r.returncode == 1 and r.stderr.strip() == f"dziura: error: process {p.pid} has exited"


# ---- Python thread names, read from threading._active --------------------------------------

NAMED = str(PROGRAMS / "named_threads.py")


@pytest.fixture
def named_target():
    """named_threads.py: returns (process, {native id: threading name}) once every thread runs."""
    procs = []

    def start(seconds=60):
        p = subprocess.Popen([sys.executable, NAMED, str(seconds)], stdout=subprocess.PIPE, text=True)
        procs.append(p)
        word, names = p.stdout.readline().split(" ", 1)
        assert word == "ready"
        return p, {int(k): v for k, v in json.loads(names).items()}

    yield start
    for p in procs:
        p.kill()
        p.wait()


def test_dump_shows_python_thread_names(named_target):
    p, names = named_target()
    assert {"MainThread", "worker-a", "worker-b", "idle-wörker ✓", "renamed-later", "plain-dict-\U0001f600"} <= set(names.values())
    assert any(n.startswith("Thread-") and n.endswith("(waiter)") for n in names.values())
    r = dz("dump", "--pid", p.pid)
    assert r.returncode == 0, r.stderr
    shown = dict(re.findall(r'^Thread (\d+) \([a-z+]+\): "(.*)"$', r.stdout, re.M))
    assert {int(k): v for k, v in shown.items()} == names, r.stdout
    doc = json.loads(dz("dump", "--pid", p.pid, "--json").stdout)
    assert {t["native_id"]: t["name"] for t in doc} == names
    main = next(t for t in doc if t["native_id"] == p.pid)
    assert main["name"] == "MainThread"


def test_record_and_top_use_python_thread_names(named_target, tmp_path):
    p, names = named_target()
    out = tmp_path / "a.collapsed"
    r = dz("record", "--pid", p.pid, "-d", 1, "-r", 200, "--thread", "worker-a", "--threads", "-o", out)
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    assert lines and all(line.startswith("thread worker-a") for line in lines), lines[:5]
    assert sum(int(line.rsplit(" ", 1)[1]) for line in lines if ";spin (" in line) > 20
    # Every thread's profile is named from threading, idle ones too (speedscope, table).
    doc_path = tmp_path / "all.speedscope.json"
    r = dz("record", "--pid", p.pid, "-d", 1, "-r", 100, "--idle", "-o", doc_path)
    assert r.returncode == 0, r.stderr
    labels = {prof["name"] for prof in json.loads(doc_path.read_text())["profiles"]}
    assert labels == {f"thread {name} (native id {tid})" for tid, name in names.items()}, labels
    table = dz("record", "--pid", p.pid, "-d", 1, "-r", 100, "--idle", "-f", "table", "--threads")
    assert table.returncode == 0, table.stderr
    heads = re.findall(r"^Thread (.*) \(ident \d+, native id (\d+)\)$", table.stdout, re.M)
    assert {int(tid): name for name, tid in heads} == names, table.stdout
    top = dz("top", "--pid", p.pid, "-d", 1.5, "--delay", 0.5, "--no-redraw", "--thread", "worker-b")
    assert top.returncode == 0, top.stderr
    assert re.search(r"spin \((\S*/)?named_threads\.py:", top.stdout.split("dziura top: pid")[-1]), top.stdout


# ---- faults: permission denied ---------------------------------------------------------------

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_permission_denied_says_what_to_change():
    """A target run by root, read by `nobody`: one line saying who runs what and what to change
    (the same user with ptrace_scope 0, or root / CAP_SYS_PTRACE), exit 1, no panic."""
    import shutil

    if os.geteuid() != 0:
        pytest.skip("needs root, to run the target and dziura as two different users")
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is not installed")
    probe = subprocess.run([*NOBODY, sys.executable, "-c", "import dziura"], cwd="/", capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot run {sys.executable} with dziura: {probe.stderr.strip()[-200:]}")
    p = subprocess.Popen([sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(60)"],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        api = ("import dziura, sys\ntry:\n    dziura.Sampler(int(sys.argv[1])).start()\n"
               "except RuntimeError as e:\n    print('dziura: error:', e, file=sys.stderr); sys.exit(1)\n")
        for cmd in (["-m", "dziura", "dump", "--pid", p.pid],
                    ["-m", "dziura", "dump", "--pid", p.pid, "--json"],
                    ["-m", "dziura", "record", "--pid", p.pid, "-d", 1, "-o", os.devnull],
                    ["-m", "dziura", "top", "--pid", p.pid, "-d", 1],
                    ["-c", api, p.pid]):
            r = subprocess.run([*NOBODY, sys.executable, *map(str, cmd)], cwd="/", capture_output=True, text=True, timeout=60)
            assert r.returncode == 1, (cmd, r.stderr)
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1, (cmd, r.stderr)
            line = lines[0]
            assert line.startswith(f"dziura: error: permission denied reading process {p.pid}: "
                                   "it runs as uid 0 and dziura as uid 65534: run dziura as the same user"), line
            assert "kernel.yama.ptrace_scope 0" in line and "CAP_SYS_PTRACE" in line and "root" in line, line
            assert "panicked" not in r.stderr and "Traceback" not in r.stderr
    finally:
        p.kill()
        p.wait()


# ---- targets inside the runtime: garbage collection and imports ----------------------------

RUNTIME = str(PROGRAMS / "runtime_target.py")


def _summary(stderr):
    m = re.search(r": (\d+) samples, (\d+) stacks kept, (\d+) errors", stderr)
    assert m, stderr
    return tuple(map(int, m.groups()))


def _stacks(path):
    out = []
    for line in pathlib.Path(path).read_text().splitlines():
        stack, n = line.rsplit(" ", 1)
        out.append((stack.split(";"), int(n)))
    return out


@pytest.mark.parametrize("mode", ["gc", "import"])
def test_target_inside_gc_or_import(mode, tmp_path):
    p = subprocess.Popen([sys.executable, RUNTIME, mode, "60"], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        worker = {"gc": "collect_forever", "import": "import_forever"}[mode]
        # dump, again and again: every read works and shows the worker under <module>.
        for _ in range(8):
            r = dz("dump", "--pid", p.pid, "--json")
            assert r.returncode == 0, r.stderr
            main = next(t for t in json.loads(r.stdout) if t["native_id"] == p.pid)
            names = [f["name"] for f in main["frames"]]
            assert names[-1] == "<module>" and worker in names, names
        out = tmp_path / f"{mode}.collapsed"
        r = dz("record", "--pid", p.pid, "-d", 2, "-r", 200, "-o", out)
        assert r.returncode == 0, r.stderr
        samples, kept, errors = _summary(r.stderr)
        assert samples > 100 and errors <= max(2, samples // 50), r.stderr
        stacks = _stacks(out)
        total = sum(n for _, n in stacks)
        assert total == kept

        def share(pred):
            return sum(n for s, n in stacks if pred(s)) / total

        # Every stack is whole: the script's <module> at the root, the worker on top of it.
        assert share(lambda s: s[0].startswith("<module> (") and "runtime_target.py" in s[0]) == 1.0
        assert share(lambda s: any(f.startswith(worker + " (") for f in s)) >= 0.95
        if mode == "gc":
            # Most samples stop in the function calling gc.collect() (the collector is C code);
            # finalizers run by the collector show as Python frames above it.
            assert share(lambda s: s[-1].startswith("collect_forever (")) >= 0.6, stacks[:5]
            for s, _ in stacks:
                if any(f.startswith("Finalized.__del__ (") for f in s):
                    names = [f.split(" (")[0] for f in s]
                    assert names[:3] == ["<module>", "collect_forever", "Finalized.__del__"], s
        else:
            # importlib's frames and the imported files' own <module> frames.
            assert share(lambda s: any("<frozen importlib._bootstrap" in f for f in s)) >= 0.3, stacks[:5]
            assert share(lambda s: any(f.startswith("<module> (") and "generated_mod_" in f for f in s)) >= 0.05
    finally:
        p.kill()
        p.wait()


# ---- Python processes started by a process that is not Python (a shell, a supervisor) -------


def _collapsed_text(path):
    return path.read_text() if path.exists() else ""


def test_subprocesses_of_a_shell_launched_by_record(tmp_path):
    """`record --subprocesses -- bash script.sh`: the script starts Python after a delay, in a
    forked child; dziura samples it and ends both when the duration is reached."""
    script = tmp_path / "entrypoint.sh"
    script.write_text(f"sleep 0.5\n{sys.executable} {TARGET} deep 2 60\n")
    out = tmp_path / "shell.collapsed"
    r = subprocess.run([*DZIURA, "record", "--subprocesses", "-r", "200", "-d", "6", "-o", str(out), "--",
                        "bash", str(script)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "is not a Python process: sampling the Python processes it starts" in r.stderr
    text = _collapsed_text(out)
    assert "Worker.spin" in text and "deep" in text, (r.stderr, text[:500])
    assert processes(f"{TARGET} deep 2 60") == [], "the shell's Python child was left running"


def test_subprocesses_of_a_running_shell_by_pid(tmp_path):
    """`record --pid <bash> --subprocesses`: a Python child the shell starts after the recording
    began is followed."""
    shell = subprocess.Popen(["bash", "-c", f"sleep 1; {sys.executable} {TARGET} deep 3 60"])
    out = tmp_path / "bypid.collapsed"
    try:
        r = subprocess.run([*DZIURA, "record", "--pid", str(shell.pid), "--subprocesses", "-r", "200", "-d", "6",
                            "-o", str(out)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        text = _collapsed_text(out)
        assert "Worker.spin" in text, (r.stderr, text[:500])
    finally:
        for pid in processes(parent=shell.pid):
            os.kill(pid, 9)
        shell.kill()
        shell.wait()


def test_speedscope_of_an_idle_thread_has_no_invented_gaps(target, tmp_path):
    """With --idle a thread waiting the whole time is in every sample: its speedscope profile is
    one entry per sample with the stack it waits in, even though the sampler's intervals are
    jittered up to 3x the mean. The only empty entries allowed are real pauses of the sampler
    itself (a tick late by more than the jitter allows, on a loaded machine): each then lasts
    more than 2.5 intervals, which jitter alone never makes."""
    p = target("threads", 1, 30)
    out = tmp_path / "idle.speedscope.json"
    rate = 200
    r = dz("record", "--pid", p.pid, "--idle", "-r", rate, "-d", "2", "-o", out)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    idle = next(pr for pr in doc["profiles"] if "idle-0" in pr["name"])
    assert len(idle["samples"]) > 200
    empty = [w for stack, w in zip(idle["samples"], idle["weights"]) if not stack]
    assert all(w > 2.5 / rate for w in empty), f"gaps invented from jitter: {empty}"
    assert len(empty) <= len(idle["samples"]) // 50, f"{len(empty)} gaps in {len(idle['samples'])} samples"
    names = {doc["shared"]["frames"][i]["name"] for i in idle["samples"][0]}
    assert any("wait" in n for n in names), names

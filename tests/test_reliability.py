"""Nothing lost: bad input is refused before any work, and every way a recording, an exit status
or a launched command could be lost (../shared/reference/reliability-review.md, D1-D8 and the
rough edges) is pinned here by a test that failed before its fix."""

import os
import signal
import subprocess
import sys
import time
import xml.dom.minidom

import pytest

from conftest import PROGRAMS, processes, wait_until_sampling

DZIURA = [sys.executable, "-m", "dziura"]
SHUTDOWN = str(PROGRAMS / "shutdown_target.py")


def dz(*args, cwd=None, timeout=60):
    return subprocess.run([*DZIURA, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def assert_one_clear_error(r):
    """A non-zero exit with one error line (clap adds a `--help` hint), never a backtrace."""
    assert r.returncode != 0, r
    err = r.stderr
    for bad in ("panicked", "RUST_BACKTRACE", "Traceback", "PanicException"):
        assert bad not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[0].startswith(("error:", "dziura: error:")), err
    assert len(lines) <= 2 and all(not line.startswith("Usage") for line in lines[1:]), err


LAUNCH = [sys.executable, "-c", "open('launched', 'w').close()"]

HOSTILE = [
    ["record", "-d", "nan", "-o", "x.collapsed", "--", *LAUNCH],
    ["record", "-d", "inf", "-o", "x.collapsed", "--", *LAUNCH],
    ["record", "-d", "1e30", "-o", "x.collapsed", "--", *LAUNCH],
    ["record", "-d", "0", "-o", "x.collapsed", "--", *LAUNCH],
    ["record", "-d", "-1", "-o", "x.collapsed", "--", *LAUNCH],
    ["record", "--every", "nan", "-o", "x.collapsed", "--", *LAUNCH],
    ["record", "-r", "0", "-o", "x.collapsed", "--", *LAUNCH],
    ["record", "-r", "1000000", "-o", "x.collapsed", "--", *LAUNCH],
    ["record", "-r", "nan", "-o", "x.collapsed", "--", *LAUNCH],
    ["record", "--grace", "inf", "-o", "x.collapsed", "--", *LAUNCH],
    ["record", "-o", "nodir/x.svg", "--", *LAUNCH],
    ["record", "-o", ".", "-f", "collapsed", "--", *LAUNCH],
    ["record", "-f", "bogus", "--", *LAUNCH],
    ["record", "--pid", "999999"],
    ["record"],
    ["top", "--pid", "1", "-r", "0"],
    ["top", "--pid", "1", "-r", "1000000"],
    ["top", "--pid", "1", "--delay", "nan"],
    ["top", "--pid", "1", "--delay", "0"],
    ["top", "--pid", "1", "-d", "inf"],
    ["dump", "--pid", "0"],
    ["dump", "--pid", "999999"],
    ["dump", "--pid", "-5"],
    ["dump", "--pid", "nan"],
    ["run", "-l", "1.5", *LAUNCH[1:]],
    ["run", "-s", "bogus", *LAUNCH[1:]],
    ["run", "-o", "nodir/x.prof", *LAUNCH[1:]],
    ["run", "-f", "bogus", *LAUNCH[1:]],
    ["run"],
    ["-m"],
    ["show", "missing.prof"],
    ["show", "."],
    ["convert", "missing.prof", "-o", "x.svg"],
    ["diff", "missing.prof", "missing2.prof"],
    ["show", "missing.prof", "--tree", "--min-percent", "nan"],
    ["show", "missing.prof", "--tree", "--min-percent", "1e400"],
    ["show", "missing.prof", "--tree", "--min-percent", "101"],
]


@pytest.mark.parametrize("argv", HOSTILE, ids=lambda a: " ".join(a[:3]))
def test_hostile_arguments_are_one_error_line_before_any_work(argv, tmp_path):
    r = dz(*argv, cwd=tmp_path)
    assert_one_clear_error(r)
    # Checked before work: the command was never launched (or, for `run`, never ran).
    assert not (tmp_path / "launched").exists(), r.stderr


def _recorder_and_child(args, tmp_path, **popen):
    """Starts `dziura record ARGS -- shutdown_target.py ...` and waits until it samples the child."""
    rec = subprocess.Popen([*DZIURA, "record", "-r", "200", *args], stderr=subprocess.PIPE, text=True,
                           cwd=tmp_path, **popen)
    deadline = time.monotonic() + 60
    while not (children := processes(parent=rec.pid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert children, "the command was not launched"
    wait_until_sampling(rec.pid, children[0])
    marker = tmp_path / "marker"
    while not (tmp_path / "marker.started").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return rec, children[0], marker


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_write_the_recording_when_attached(target, tmp_path, sig):
    p = target("deep", 2, 30)
    out = tmp_path / "t.collapsed"
    rec = subprocess.Popen([*DZIURA, "record", "--pid", str(p.pid), "-r", "200", "-o", str(out)],
                           stderr=subprocess.PIPE, text=True)
    wait_until_sampling(rec.pid, p.pid)
    time.sleep(0.3)
    rec.send_signal(sig)
    _, err = rec.communicate(timeout=30)
    assert rec.returncode == 128 + sig, err
    assert f"stopped by {signal.Signals(sig).name}" in err and "Worker.spin" in out.read_text()
    assert p.poll() is None, "the attached target must keep running"


def test_sigterm_in_launch_mode_passes_on_and_returns_the_commands_status(tmp_path):
    out = tmp_path / "l.collapsed"
    rec, child, marker = _recorder_and_child(["-o", str(out), "--", sys.executable, SHUTDOWN, "term", "marker", "30"],
                                             tmp_path)
    time.sleep(0.3)
    rec.send_signal(signal.SIGTERM)
    _, err = rec.communicate(timeout=30)
    assert rec.returncode == 5, err  # the command's own status: its SIGTERM handler ran
    assert marker.read_text() == f"term {signal.SIGTERM.value}\n"
    assert "work" in out.read_text()
    assert not os.path.exists(f"/proc/{child}"), "the command must be ended and reaped"


def test_sighup_in_launch_mode_ends_the_command_by_that_signal(tmp_path):
    out = tmp_path / "h.collapsed"
    rec, child, _ = _recorder_and_child(["-o", str(out), "--", sys.executable, SHUTDOWN, "plain", "marker", "30"],
                                        tmp_path)
    time.sleep(0.3)  # a few samples of `work` first: a signal at the first sample may find none kept
    rec.send_signal(signal.SIGHUP)
    _, err = rec.communicate(timeout=30)
    assert rec.returncode == 128 + signal.SIGHUP, err
    assert "work" in out.read_text()


def test_ctrl_c_to_the_whole_job_gives_the_commands_status_and_no_traceback(tmp_path):
    """As a terminal's Ctrl-C does: SIGINT to the process group of dziura and its command."""
    out = tmp_path / "c.collapsed"
    rec, _, marker = _recorder_and_child(["-o", str(out), "--", sys.executable, SHUTDOWN, "int7", "marker", "30"],
                                         tmp_path, start_new_session=True)
    time.sleep(0.3)
    os.killpg(rec.pid, signal.SIGINT)
    _, err = rec.communicate(timeout=30)
    assert rec.returncode == 7, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert marker.read_text().startswith("int ") and "work" in out.read_text()


def test_sigint_to_dziura_alone_is_passed_on_not_sigkill(tmp_path):
    out = tmp_path / "i.collapsed"
    rec, _, marker = _recorder_and_child(["-o", str(out), "--", sys.executable, SHUTDOWN, "int7", "marker", "30"],
                                         tmp_path)
    rec.send_signal(signal.SIGINT)
    _, err = rec.communicate(timeout=30)
    assert rec.returncode == 7, err
    assert marker.read_text() == f"int {signal.SIGINT.value}\n", "the command's handler must run"


def test_duration_ends_the_command_with_sigint_first(tmp_path):
    out = tmp_path / "d.collapsed"
    r = dz("record", "-r", "200", "-d", "1", "-o", out, "--", sys.executable, SHUTDOWN, "int7", "marker", "30",
           cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "marker").read_text() == f"int {signal.SIGINT.value}\n", "SIGINT handler must run"
    assert "SIGKILL" not in r.stderr and "work" in out.read_text()


def test_a_command_that_ignores_signals_is_killed_after_the_grace(tmp_path):
    out = tmp_path / "s.collapsed"
    start = time.monotonic()
    r = dz("record", "-r", "200", "-d", "1", "--grace", "0.5", "-o", out, "--", sys.executable, SHUTDOWN,
           "stubborn", "marker", "60", cwd=tmp_path)
    assert time.monotonic() - start < 30
    assert r.returncode == 0, r.stderr
    assert "sent SIGKILL" in r.stderr and "work" in out.read_text()
    assert not processes(cmdline_part=f"{SHUTDOWN} stubborn marker 60")


def test_a_short_program_always_passes_its_status(tmp_path):
    """D4: 6 of 20 runs used to say 'process N has exited' and exit 1."""
    for _ in range(20):
        r = dz("record", "-f", "collapsed", "-o", tmp_path / "p.collapsed", "--", sys.executable, "-c",
               "import sys; sys.exit(4)")
        assert r.returncode == 4, r.stderr
        assert "Traceback" not in r.stderr


def test_a_command_killed_by_a_signal_gives_128_plus_n(tmp_path):
    code = "import os, signal, time\nend = time.time() + 1\nwhile time.time() < end: pass\nos.kill(os.getpid(), signal.SIGUSR2)"
    r = dz("record", "-f", "collapsed", "-o", tmp_path / "k.collapsed", "--", sys.executable, "-c", code)
    assert r.returncode == 128 + signal.SIGUSR2, r.stderr


def test_run_writes_where_the_output_was_typed(tmp_path):
    """D6: cProfile makes -o absolute before the program runs; a program that changes directory
    (or removes the one it is in) must not move or lose the profile."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "chd.py").write_text("import os\nos.chdir('sub')\n")
    (tmp_path / "chd2.py").write_text("import os\nos.mkdir('gone'); os.chdir('gone'); os.rmdir('../gone')\n")
    assert dz("run", "-o", "rel.prof", "chd.py", cwd=tmp_path).returncode == 0
    assert (tmp_path / "rel.prof").exists() and not (tmp_path / "sub" / "rel.prof").exists()
    r = dz("run", "-o", "rel2.prof", "chd2.py", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "rel2.prof").exists()
    # cProfile's own command line, without `run`, does the same.
    assert dz("-o", "rel3.prof", "chd.py", cwd=tmp_path).returncode == 0
    assert (tmp_path / "rel3.prof").exists()


def test_flame_graph_is_well_formed_xml_with_control_characters_in_names(tmp_path):
    """D7: NUL, ESC and form feed in a function name made the SVG ill-formed."""
    (tmp_path / "ctl.py").write_text(
        "ns = {}\n"
        "exec('def f():\\n    return sum(range(200000))', ns)\n"
        "f = ns['f']; f.__code__ = f.__code__.replace(co_name='nul\\x00byte', co_qualname='esc\\x1b[31m\\x0cff')\n"
        "for _ in range(20): f()\n"
    )
    r = dz("run", "-f", "flamegraph", "-o", "ctl.svg", "ctl.py", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = xml.dom.minidom.parse(str(tmp_path / "ctl.svg"))
    titles = [t.firstChild.data for t in doc.getElementsByTagName("title") if t.firstChild]
    assert any("esc\ufffd[31m\ufffdff" in t or "nul\ufffdbyte" in t for t in titles), titles


def _rows(text):
    return [line for line in text.splitlines() if "ok.py" in line or "{" in line]


def test_limits_follow_pstats(tmp_path):
    """D8: pstats lists every row for a negative or huge count; a fraction must be in [0, 1]."""
    (tmp_path / "ok.py").write_text("def f(n): return sum(i*i for i in range(n))\nfor _ in range(20): f(10000)\n")
    every = _rows(dz("run", "ok.py", cwd=tmp_path).stdout)
    assert len(every) >= 3
    for limit in ("-5", "99999999999999999999"):
        r = dz("run", "-l", limit, "ok.py", cwd=tmp_path)
        assert r.returncode == 0 and len(_rows(r.stdout)) == len(every), (limit, r.stdout)
    r = dz("run", "-l", "1.5", "ok.py", cwd=tmp_path)
    assert r.returncode == 2 and "between 0 and 1" in r.stderr
    code = (
        "import dziura, io, contextlib\n"
        "def w(): sorted([3, 1, 2])\n"
        "p = dziura.Profile(); p.enable(); w(); p.disable()\n"
        "for limit in (-5, 10**20, None):\n"
        "    out = io.StringIO()\n"
        "    with contextlib.redirect_stdout(out):\n"
        "        p.print_stats('tottime', *([] if limit is None else [limit]))\n"
        "    print(sum('sorted' in line for line in out.getvalue().splitlines()))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "1", "1"], r.stdout


@pytest.mark.skipif(__import__("shutil").which("tmux") is None, reason="tmux is not installed (scripts/setup.sh installs it on the host)")
def test_ctrl_c_on_a_real_terminal_reaches_the_command_once(tmp_path):
    """On a terminal the command's group is the foreground while it runs, as a shell's job: Ctrl-C
    goes to it (its handler runs once), dziura writes the recording and passes its status on,
    and the terminal comes back to the shell."""
    session = f"dziura-ctrlc-{os.getpid()}"
    out = tmp_path / "tty.collapsed"
    cmd = " ".join([*DZIURA, "record", "-r", "200", "-o", str(out), "--", sys.executable, SHUTDOWN, "int7",
                    str(tmp_path / "marker"), "30"])
    script = tmp_path / "job.sh"
    script.write_text(f"{cmd}\necho rc=$? > {tmp_path / 'rc'}\nsleep 30\n")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "30", f"bash {script}"], check=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "marker.started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        subprocess.run(["tmux", "send-keys", "-t", session, "C-c"], check=True)
        while not (tmp_path / "rc").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (tmp_path / "rc").read_text().strip() == "rc=7"
        assert (tmp_path / "marker").read_text() == f"int {signal.SIGINT.value}\n"
        assert "work" in out.read_text()
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_an_idle_target_says_why_nothing_was_kept(tmp_path):
    """B25: an idle target used to end in 'the profile holds no samples' with no hint."""
    # Attached once it sleeps: a launched program would be running while it starts up.
    idle = subprocess.Popen([sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(30)"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert idle.stdout.readline().strip() == "ready"
        r = dz("record", "--pid", idle.pid, "-r", "200", "-d", "1", "-o", tmp_path / "idle.svg", cwd=tmp_path)
    finally:
        idle.kill()
        idle.wait()
    assert r.returncode != 0 and "add --idle" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    r = dz("record", "-r", "200", "-d", "1", "--thread", "NoSuchThread", "-o", tmp_path / "t.svg", "--",
           sys.executable, SHUTDOWN, "plain", "marker", "30", cwd=tmp_path)
    assert "no thread matched --thread NoSuchThread" in r.stderr, r.stderr


def test_root_without_cap_sys_ptrace_is_not_told_to_run_as_root():
    """B2: root reading a process it may not read was told to 'run dziura as root'."""
    import shutil

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv (util-linux)")
    code = ("import ctypes, time\nctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0\n"
            "print('ready', flush=True)\ntime.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        r = subprocess.run(["setpriv", "--bounding-set", "-sys_ptrace", "--inh-caps", "-sys_ptrace", *DZIURA, "dump",
                            "--pid", str(p.pid)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, r.stderr
        assert "without CAP_SYS_PTRACE" in r.stderr and "run dziura as root" not in r.stderr, r.stderr
    finally:
        p.kill()
        p.wait()


DEEP = """import sys
sys.setrecursionlimit(25_000)
def down(n):
    return down(n - 1) if n else sum(range(1000))
down(10_000)
"""


def test_deep_recursion_gives_bounded_collapsed_stacks_and_trees(tmp_path):
    """C2 and A21: a 10,000-deep recursion wrote 800 MB of folded stacks and a 37 MB tree."""
    (tmp_path / "deep.py").write_text(DEEP)
    r = dz("run", "-f", "collapsed", "-o", "deep.txt", "deep.py", cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    folded = (tmp_path / "deep.txt").read_text()
    assert len(folded) < 8 << 20, len(folded)
    assert "[deeper frames cut: dziura keeps 512 levels]" in folded
    assert max(line.count(";") for line in folded.splitlines()) == 512
    r = dz("run", "--timeline", "-o", "deep.dziura", "deep.py", cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    tree = dz("show", "deep.dziura", "--tree", "--all", cwd=tmp_path)
    assert tree.returncode == 0, tree.stderr
    assert len(tree.stdout) < 1 << 20, len(tree.stdout)
    assert "deeper calls cut at 100 levels" in tree.stdout


@pytest.mark.parametrize("command", ["show", "diff"])
def test_readers_refuse_what_is_not_a_profile_from_its_first_bytes(tmp_path, command):
    """A20: /dev/zero was read until memory ran out, a 1 GB log read whole before the error."""
    log = tmp_path / "big.log"
    with open(log, "w") as f:
        f.write("2026-12-02 12:00:00 INFO request served in 3 ms\n" * 200_000)
    for path in ["/dev/zero", str(log)]:
        args = [command, path] + ([path] if command == "diff" else [])
        r = dz(*args, timeout=20)
        assert r.returncode == 1, r.stderr
        assert_one_clear_error(r)
        assert "not a dziura or pstats profile" in r.stderr, r.stderr


SPIN = """import sys
def spin():
    open(sys.argv[1], "w").close()
    while True:
        sum(range(1000))
spin()
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_run_writes_the_profile_when_stopped_by_sigterm_or_sighup(tmp_path, sig):
    """C9: `timeout 30 dziura run -o x.prof prog.py` lost everything."""
    (tmp_path / "spin.py").write_text(SPIN)
    p = subprocess.Popen([*DZIURA, "run", "-o", "spin.prof", "spin.py", "started"], cwd=tmp_path,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (tmp_path / "started").exists():
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.02)
    time.sleep(0.3)
    p.send_signal(sig)
    _, err = p.communicate(timeout=30)
    assert p.returncode == -sig, err  # ended by the same signal, as without dziura
    assert "Traceback" not in err, err
    import pstats
    stats = pstats.Stats(str(tmp_path / "spin.prof")).stats
    spin = [v for k, v in stats.items() if k[2] == "spin"]
    assert spin and spin[0][0] == 1, stats  # one call, still open when the signal came
    sums = [v for k, v in stats.items() if "sum" in k[2]]
    assert sums and sums[0][0] > 100


def test_run_prints_the_table_when_the_program_closes_or_replaces_stdout(tmp_path):
    """C13: a closed sys.stdout lost the table (ValueError); a replaced one swallowed it."""
    (tmp_path / "closes.py").write_text("import sys\nprint('own output')\nsys.stdout.close()\n")
    (tmp_path / "replaces.py").write_text("import io, sys\nprint('own output')\nsys.stdout = io.StringIO()\n")
    for prog in ["closes.py", "replaces.py"]:
        r = dz("run", prog, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("own output\n"), r.stdout
        assert "function calls in" in r.stdout and "Ordered by: cumulative time" in r.stdout, r.stdout


def test_run_takes_a_directory_or_zip_with_main_as_python_does(tmp_path):
    """A13: `python app/` and `python app.zip` run `__main__`; `dziura run` refused both."""
    import zipfile
    app = tmp_path / "app"
    app.mkdir()
    (app / "__main__.py").write_text("import sys\ndef served():\n    return 7\nprint(sys.argv[0], served())\n")
    with zipfile.ZipFile(tmp_path / "app.zip", "w") as z:
        z.write(app / "__main__.py", "__main__.py")
    for target in ["app", "app.zip"]:
        plain = subprocess.run([sys.executable, target], cwd=tmp_path, capture_output=True, text=True)
        r = dz("run", "-s", "name", target, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[0] == plain.stdout.strip() == f"{target} 7"
        assert "__main__.py:2(served)" in r.stdout, r.stdout


SETPROFILE = """import sys
def f():
    pass
f()
sys.setprofile(lambda *a: None)
sys.setprofile(None)
f()
"""


def test_a_program_that_replaces_the_hook_is_told_so(tmp_path):
    """C11: sys.setprofile in the program stopped a 3.11 profile silently. On 3.11 (one profile
    function per thread) dziura now warns; on 3.12+ its sys.monitoring tool is not touched by
    sys.setprofile, so every call is still counted."""
    (tmp_path / "setp.py").write_text(SETPROFILE)
    r = dz("run", "-s", "name", "setp.py", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    f_row = next(line for line in r.stdout.splitlines() if line.endswith("setp.py:2(f)"))
    if sys.version_info < (3, 12):
        assert "RuntimeWarning: dziura's profiling hook was replaced while it ran" in r.stderr, r.stderr
        assert f_row.split()[0] == "1", f_row
    else:
        assert "hook was replaced" not in r.stderr, r.stderr
        assert f_row.split()[0] == "2", f_row


def test_a_program_that_frees_the_monitoring_tool_is_told_so(tmp_path):
    """C12 on 3.12+: the program's own cProfile is refused as under cProfile (the profiler tool
    is dziura's), and a program that frees the tool to take it is told what it cost."""
    if sys.version_info < (3, 12):
        (tmp_path / "own.py").write_text(
            "import cProfile\ndef f():\n    pass\np = cProfile.Profile()\np.enable()\nf()\np.disable()\n")
    else:
        (tmp_path / "own.py").write_text("import sys\nsys.monitoring.free_tool_id(2)\n")
    r = dz("run", "own.py", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "RuntimeWarning: dziura's profiling hook was replaced while it ran" in r.stderr, r.stderr


def test_names_with_lone_surrogates_and_backslashes_are_kept(tmp_path):
    """C16: a lone surrogate emptied the file and function names (`:1()`); C19: a backslash in
    a file name was taken as a directory separator."""
    prog = tmp_path / "back\\slash.py"
    prog.write_text("def odd():\n    pass\n"
                    "odd.__code__ = odd.__code__.replace(co_name='odd\\udcff', co_filename='<sur\\udcffrogate>')\n"
                    "odd()\ndef plain():\n    pass\nplain()\n")
    r = dz("run", "-s", "name", prog.name, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    import re
    assert re.search("<sur\ufffd+rogate>:1\\(odd\ufffd+\\)", r.stdout), r.stdout
    assert "signal" not in r.stdout, "dziura's own signal handlers must not be profiled"
    assert "back\\slash.py:5(plain)" in r.stdout, r.stdout
    r = dz("run", "-f", "collapsed", "-o", "out.txt", prog.name, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "plain (back\\slash.py:5)" in (tmp_path / "out.txt").read_text()


def test_a_sampled_name_longer_than_4096_characters_is_cut_not_dropped(tmp_path):
    """C17: every sample holding a 10,000-character function name was dropped as an error."""
    name = "f" * 10_000
    prog = tmp_path / "long.py"
    prog.write_text(f"import time\ndef {name}():\n    t = time.monotonic()\n    while time.monotonic() - t < 1.5:\n"
                    f"        pass\n{name}()\n")
    out = tmp_path / "long.txt"
    r = dz("record", "-r", "200", "-f", "collapsed", "-o", out, "--", sys.executable, prog)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    stacks = [line for line in text.splitlines() if "f" * 4096 + "…" in line]
    assert stacks and sum(int(line.rsplit(" ", 1)[1]) for line in stacks) > 100, text[:300]
    assert " 0 errors" in r.stderr or ", 1 errors" in r.stderr, r.stderr


def test_a_truncated_timeline_says_so_in_every_format(tmp_path):
    """C18: `--timeline-limit 5 -f collapsed` gave no hint that most calls were not kept."""
    (tmp_path / "many.py").write_text("def f():\n    pass\nfor _ in range(100):\n    f()\n")
    r = dz("run", "--timeline-limit", "5", "-f", "collapsed", "-o", "many.txt", "many.py", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "warning: the timeline reached --timeline-limit" in r.stderr, r.stderr


def test_diff_refuses_a_pstats_file_with_nan_times(tmp_path):
    """A26: diff printed `total time NaNs → 0.040s`."""
    import marshal
    good = {("a.py", 1, "f"): (1, 1, 0.01, 0.02, {})}
    bad = {("a.py", 1, "f"): (1, 1, float("nan"), 0.02, {})}
    (tmp_path / "good.prof").write_bytes(marshal.dumps(good))
    (tmp_path / "bad.prof").write_bytes(marshal.dumps(bad))
    r = dz("diff", "bad.prof", "good.prof", cwd=tmp_path)
    assert_one_clear_error(r)
    assert "not a finite number of seconds" in r.stderr, r.stderr


def test_record_names_an_unknown_extension_pstats_as_run_does(tmp_path):
    """B24: `record -o rec.weird` wrote an SVG where `run -o rec.weird` writes pstats."""
    import pstats
    r = dz("record", "-r", "200", "-o", "rec.weird", "--", sys.executable, "-c",
           "import time\nt = time.monotonic()\nwhile time.monotonic() - t < 0.5: pass", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "wrote pstats to" in r.stderr, r.stderr
    assert pstats.Stats(str(tmp_path / "rec.weird")).total_calls > 0


TRACER = """import ctypes, sys, time
libc = ctypes.CDLL(None, use_errno=True)
pid = int(sys.argv[1])
if libc.ptrace(0x4206, pid, None, None) != 0:  # PTRACE_SEIZE
    sys.exit(f"seize failed: {ctypes.get_errno()}")
print("tracing", flush=True)
time.sleep(60)
"""


def test_blocking_on_a_process_someone_else_traces_says_who(tmp_path):
    """B26: `--blocking` on a target under strace gave 127/127 errors, rc 0, an empty profile."""
    target = subprocess.Popen([sys.executable, "-c", "import time\nprint('ready', flush=True)\ntime.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    tracer = None
    try:
        assert target.stdout.readline().strip() == "ready"
        tracer = subprocess.Popen([sys.executable, "-c", TRACER, str(target.pid)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        line = tracer.stdout.readline().strip()
        if line != "tracing":
            pytest.skip(f"this machine does not let a process trace another: {tracer.stderr.read()}")
        for argv in (["record", "--pid", target.pid, "--blocking", "-d", "1", "-o", tmp_path / "x.txt"],
                     ["dump", "--pid", target.pid, "--blocking"]):
            r = dz(*argv)
            assert_one_clear_error(r)
            assert f"cannot stop process {target.pid} for --blocking: it is already traced by pid {tracer.pid}" \
                in r.stderr, r.stderr
        assert not (tmp_path / "x.txt").exists()
    finally:
        for p in (tracer, target):
            if p:
                p.kill()
                p.wait()


def test_an_integer_timer_without_a_unit_counts_nanoseconds():
    """D4: `Profile(time.perf_counter_ns)` reported 0.000 s for everything."""
    import time as _time
    import dziura
    p = dziura.Profile(_time.perf_counter_ns)
    p.enable()
    _time.sleep(0.05)
    p.disable()
    stats = p.getstats() if hasattr(p, "getstats") else None
    import pstats
    st = pstats.Stats(p)
    sleeps = [v for k, v in st.stats.items() if "sleep" in k[2]]
    assert sleeps and 0.04 < sleeps[0][3] < 1.0, (sleeps, stats)


def test_the_sampler_api_errors_are_pythons_and_runs_add_up(tmp_path):
    """D10: a bad pid was only reported at start(), an unwritable path raised RuntimeError, and
    a second start() threw the first run's samples away."""
    import dziura
    with pytest.raises(ProcessLookupError, match="no process with pid 999999"):
        dziura.Sampler(999999)
    s = dziura.Sampler(rate=500)
    s.start()
    _spin(0.3)
    first = s.stop()
    s.start()
    _spin(0.3)
    both = s.stop()
    assert first > 20 and both > first + 20, (first, both)
    with pytest.raises(FileNotFoundError):
        s.write(str(tmp_path / "nodir" / "x.svg"))


def _spin(seconds):
    t = time.monotonic()
    while time.monotonic() - t < seconds:
        pass

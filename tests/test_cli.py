"""`dziura run` behaves like `python script.py` for the program and like `python -m cProfile` for
the report; bad input gives one clear line and a non-zero exit."""

import json
import os
import pstats
import signal
import subprocess
import sys
import time

import pytest

from conftest import PROGRAMS, ROOT

DZIURA = [sys.executable, "-m", "dziura"]


def dz(*args, env=None, cwd=None):
    e = dict(os.environ, **(env or {}))
    return subprocess.run([*DZIURA, *args], capture_output=True, text=True, env=e, cwd=cwd, timeout=120)


def probe_json(stdout):
    return json.loads(next(line for line in stdout.splitlines() if line.startswith("{")))


def test_program_sees_what_plain_python_gives_it(tmp_path):
    script = PROGRAMS / "argv_probe.py"
    plain = subprocess.run([sys.executable, str(script), "a", "-b"], capture_output=True, text=True, cwd=tmp_path)
    ours = dz("run", str(script), "a", "-b", cwd=tmp_path)
    assert ours.returncode == plain.returncode == 0
    assert probe_json(ours.stdout) == probe_json(plain.stdout)
    assert "function calls" in ours.stdout


def test_module_mode_matches_python_dash_m(tmp_path):
    env = {"PYTHONPATH": str(PROGRAMS)}
    plain = subprocess.run([sys.executable, "-m", "probepkg", "x"], capture_output=True, text=True,
                           env=dict(os.environ, **env), cwd=tmp_path)
    ours = dz("run", "-m", "probepkg", "x", env=env, cwd=tmp_path)
    assert ours.returncode == 0, ours.stderr
    p, o = probe_json(plain.stdout), probe_json(ours.stdout)
    assert o == p


def test_exit_code_exception_and_output_file(tmp_path):
    script = str(PROGRAMS / "argv_probe.py")
    r = dz("run", script, env={"PROBE_EXIT": "3"})
    assert r.returncode == 3 and "function calls" in r.stdout
    out = tmp_path / "out.prof"
    r = dz("run", "-o", str(out), script, env={"PROBE_RAISE": "1"})
    assert r.returncode == 1
    assert "RuntimeError: boom" in r.stderr and "Traceback" in r.stderr
    assert any(k[2] == "<module>" for k in pstats.Stats(str(out)).stats)


def test_ctrl_c_still_writes_the_profile(tmp_path):
    script = tmp_path / "spin.py"
    script.write_text("import time\ndef spin():\n    while True:\n        time.sleep(0.01)\nprint('ready', flush=True)\nspin()\n")
    out = tmp_path / "spin.prof"
    p = subprocess.Popen([*DZIURA, "run", "-o", str(out), str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130
    assert "KeyboardInterrupt" in err
    stats = pstats.Stats(str(out)).stats
    spin = next(v for k, v in stats.items() if k[2] == "spin")
    assert spin[1] == 1 and spin[3] > 0.2


def test_table_sort_limit_threads_callers(tmp_path):
    # Enough requests that the hole dominates even where imports are slow (3.13t here: ~0.3 s
    # in file closes while json and sqlite3 load).
    r = dz("run", "-s", "tottime", "-l", "3", "--callers", "fetchall", str(ROOT / "examples" / "log_api.py"), "2000")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    header = lines.index("   ncalls  tottime  percall  cumtime  percall filename:lineno(function)")
    assert "fetchall" in lines[header + 1]  # the planted hole is the top row
    assert "was called by..." in r.stdout
    r = dz("run", "--threads", "-s", "calls", str(PROGRAMS / "argv_probe.py"))
    assert "Thread MainThread" in r.stdout


@pytest.mark.parametrize(
    "args,needle,code",
    [
        (["run", "nope.py"], "can't open file", 2),
        (["run", "-s", "bogus", "x.py"], "unknown sort key 'bogus'", 2),
        (["run", "-o", "/nonexistent-dir/x.prof", "x.py"], "cannot write the output file", 2),
        (["run", "-m", "no_such_module_dziura"], "No module named no_such_module_dziura", 1),
    ],
)
def test_bad_input_is_one_line(args, needle, code):
    r = dz(*args)
    assert r.returncode == code
    assert needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "panicked" not in r.stderr


def test_syntax_error_shown_as_python_shows_it(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n    pass\n")
    r = dz("run", str(bad))
    assert r.returncode == 1
    assert "SyntaxError" in r.stderr and "bad.py" in r.stderr and "line 1" in r.stderr


def test_show_reads_cprofile_files_and_rejects_corrupt_ones(tmp_path):
    out = tmp_path / "c.prof"
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), str(PROGRAMS / "argv_probe.py")], check=True,
                   capture_output=True)
    r = dz("show", str(out), "-s", "calls", "-l", "5")
    assert r.returncode == 0 and "function calls" in r.stdout and "Ordered by: call count" in r.stdout
    for junk in (b"", b"\x89PNG\r\n\x1a\n", out.read_bytes()[:-7]):
        bad = tmp_path / "bad.prof"
        bad.write_bytes(junk)
        r = dz("show", str(bad))
        assert r.returncode == 1
        assert r.stderr.startswith("dziura: error: cannot read") and len(r.stderr.splitlines()) == 1, r.stderr


def test_console_script_installed():
    exe = os.path.join(os.path.dirname(sys.executable), "dziura")
    r = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "run" in r.stdout and "show" in r.stdout

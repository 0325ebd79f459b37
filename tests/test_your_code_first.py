"""Your code first: dziura's story, a Django API under gunicorn whose rate-limit decorator scans
an unindexed SQLite log table on every request (tests/programs/slowapi). Sampled live, the
user's culprit must be row 1 of the ranking that opens `record -f table` and `show`, with the
library function the time went to beside it, although Django's cursor wrapper has 98 % of the
own time and a dozen gunicorn and Django frames sit near 100 % cumulative."""

import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from conftest import PROGRAMS

pytest.importorskip("django")
pytest.importorskip("gunicorn")

APP = PROGRAMS / "slowapi"
DZIURA = [sys.executable, "-m", "dziura"]
GUNICORN = os.path.join(os.path.dirname(sys.executable), "gunicorn")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("slowapi") / "log.sqlite3"
    env = {**os.environ, "SLOWAPI_DB": str(db)}
    subprocess.run([sys.executable, str(APP / "slowapi.py"), "init", "300000"], env=env, check=True)
    port = free_port()
    master = subprocess.Popen([GUNICORN, "--chdir", str(APP), "-w", "1", "-b", f"127.0.0.1:{port}",
                               "slowapi:application"], env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/api/status/"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "warmup", timeout=10).read()
            break
        except OSError:
            assert time.monotonic() < deadline and master.poll() is None, master.stderr.read()
            time.sleep(0.2)
    workers = children(master.pid)
    assert len(workers) == 1, workers
    stop = threading.Event()

    def load():
        n = 0
        while not stop.is_set():
            urllib.request.urlopen(url + f"web{n % 20}", timeout=30).read()
            n += 1

    t = threading.Thread(target=load, daemon=True)
    t.start()
    yield workers[0]
    stop.set()
    t.join(timeout=30)
    master.terminate()
    master.wait(timeout=30)


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(c) for c in f.read().split()]


def ranking_rows(text):
    """The rows of the ranking (one per user function)."""
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("Your code first:"))
    assert lines[head + 1].split()[:2] == ["charged", "share"], text
    rows = []
    for line in lines[head + 2:]:
        if not line.strip() or line.strip().startswith("...") or "outside your code" in line:
            break
        rows.append(line)
    return rows


def first_row(text):
    return ranking_rows(text)[0]


def test_the_culprit_is_row_one_of_record_table_and_show(server, tmp_path):
    table = tmp_path / "live.txt"
    saved = tmp_path / "live.dziura"
    for out in (table, saved):
        r = subprocess.run([*DZIURA, "record", "--pid", str(server), "-d", "3", "-r", "200", "-o", str(out)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
    row = first_row(table.read_text())
    assert re.search(r"check_rate\.<locals>\.wrapper \(.*slowapi\.py:\d+\)", row), table.read_text()[:2000]
    assert "in SQLiteCursorWrapper.execute (django/db/backends/sqlite3/base.py:" in row, row
    share = float(row.split()[1].rstrip("%"))
    assert share > 50, row
    # gunicorn's console script and Django's frames are not the user's code.
    for line in ranking_rows(table.read_text()):
        function = line.split("[")[0]
        assert "gunicorn" not in function and "django" not in function, line
    shown = subprocess.run([*DZIURA, "show", str(saved)], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"check_rate\.<locals>\.wrapper", first_row(shown.stdout)), shown.stdout[:2000]
    # The full table of every function still follows.
    assert "SQLiteCursorWrapper.execute" in shown.stdout.split("Ordered by")[1], shown.stdout


def test_own_directories_can_be_named(server, tmp_path):
    """--own names what is yours: with the app's directory given, nothing else is ranked."""
    out = tmp_path / "own.txt"
    r = subprocess.run([*DZIURA, "record", "--pid", str(server), "-d", "2", "-r", "200", "--own", str(APP),
                        "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = ranking_rows(out.read_text())
    assert rows and all("slowapi.py" in line.split("[")[0] for line in rows), out.read_text()[:2000]


def top_screens(*extra, seconds=3):
    r = subprocess.run([*DZIURA, "top", *map(str, extra), "-d", str(seconds), "--delay", "1", "--no-redraw"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    screens = ["dziura top: pid" + s for s in r.stdout.split("dziura top: pid") if s.strip()]
    assert len(screens) >= 2, r.stdout
    return screens


def test_the_culprit_is_row_one_of_tops_first_screen(server):
    """`top`'s first screen is the ranking, with the culprit first; the table of every function
    is one key (a) or flag (--all) away, and the screen says so."""
    last = top_screens("--pid", server)[-1]
    assert "key a: every function" in last, last
    row = first_row(last)
    assert re.search(r"check_rate\.<locals>\.wrapper \(.*slowapi\.py:\d+\)", row), last
    assert "in SQLiteCursorWrapper.execute (django/db/backends/sqlite3/base.py:" in row, row
    assert float(row.split()[1].rstrip("%")) > 50, row


def test_tops_full_view_is_the_table_sorted_by_any_column(server):
    """--all (key a) shows the table `show` prints, paths relative to site-packages, sorted by the
    column asked for: own time puts Django's cursor wrapper first, cumulative time the
    outermost frames."""
    last = top_screens("--pid", server, "--all", "--sort", "own")[-1]
    assert "sorted by internal time" in last and "ncalls  tottime  percall  cumtime  percall" in last, last
    rows = [line for line in last.splitlines() if re.match(r"^\s*\d+(/\d+)?\s+[\d.]+\s", line)]
    assert "django/db/backends/sqlite3/base.py:" in rows[0] and "(SQLiteCursorWrapper.execute)" in rows[0], last
    assert all("/site-packages/" not in line for line in rows), last
    by_name = top_screens("--pid", server, "--all", "--sort", "name", seconds=2)[-1]
    assert "sorted by function name" in by_name, by_name
    # pstats orders names ascending; built-ins ({...}) sort by their hidden <...> names.
    names = [re.search(r":\d+\((.*)\)$", line).group(1) for line in by_name.splitlines()
             if re.match(r"^\s*\d+(/\d+)?\s+[\d.]+\s", line) and line.endswith(")")]
    assert len(names) >= 3 and names == sorted(names), names


@pytest.mark.skipif(not __import__("shutil").which("tmux"), reason="tmux is not installed")
def test_top_keys_switch_views_in_a_terminal(server):
    """In a real terminal (tmux): the ranking first, `a` the table, `t` sorted by total, `q` quits
    and puts the terminal back."""
    session = f"dziura-top-own-{os.getpid()}"
    cmd = " ".join([*DZIURA, "top", "--pid", str(server), "--delay", "0.5"])
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "200", "-y", "40", cmd], check=True)

    def screen():
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout

    def wait_for(text):
        deadline = time.monotonic() + 20
        while text not in (s := screen()):
            assert time.monotonic() < deadline, s
            time.sleep(0.2)
        return s

    try:
        first = wait_for("check_rate.<locals>.wrapper")
        assert "Your code first" in first and "key a: every function" in first, first
        subprocess.run(["tmux", "send-keys", "-t", session, "a"], check=True)
        wait_for("sorted by internal time")
        subprocess.run(["tmux", "send-keys", "-t", session, "t"], check=True)
        wait_for("sorted by cumulative time")
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        deadline = time.monotonic() + 10
        while subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode == 0:
            # The command ended: tmux closes the window, and with it the session.
            assert time.monotonic() < deadline, screen()
            time.sleep(0.2)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)

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

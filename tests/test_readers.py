"""Files written by dziura are read by the real tools people use: pstats, snakeviz, gprof2dot."""

import pstats
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.fixture(scope="module")
def prof(tmp_path_factory):
    out = tmp_path_factory.mktemp("readers") / "log_api.prof"
    subprocess.run([sys.executable, "-m", "dziura", "run", "-o", str(out), str(ROOT / "examples" / "log_api.py"), "100"],
                   check=True, capture_output=True)
    return out


def test_pstats_reads_callers_and_callees(prof, capsys):
    st = pstats.Stats(str(prof))
    st.sort_stats("tottime").print_stats(5)
    st.print_callers("fetchall")
    st.print_callees("recent_activity")
    out = capsys.readouterr().out
    assert "fetchall" in out and "was called by" in out and "called..." in out


def test_snakeviz_reads_it(prof):
    snakeviz_stats = pytest.importorskip("snakeviz.stats", reason="snakeviz is installed by scripts/setup.sh")
    st = pstats.Stats(str(prof))
    rows = snakeviz_stats.table_rows(st)
    assert any("fetchall" in str(r) for r in rows)
    tree = snakeviz_stats.json_stats(st)
    assert any("fetchall" in name for name in tree)


def test_gprof2dot_reads_it(prof):
    exe = shutil.which("gprof2dot") or str(__import__("pathlib").Path(sys.executable).parent / "gprof2dot")
    r = subprocess.run([exe, "-f", "pstats", str(prof)], capture_output=True, text=True)
    if r.returncode != 0 and "No such file" in r.stderr:
        pytest.skip("gprof2dot is installed by scripts/setup.sh")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("digraph") and "recent_activity" in r.stdout

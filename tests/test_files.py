"""dziura's own profile file: written by `run -o x.dziura` and `record`, read by `show` (table and
call tree) and `convert`; damaged or foreign files give one clear line and exit status 1."""

import json
import os
import pstats
import subprocess
import sys
import textwrap

import pytest

from conftest import PROGRAMS

TARGET = str(PROGRAMS / "sampling_target.py")
DZIURA = [sys.executable, "-m", "dziura"]


def dz(*args, timeout=60, cwd=None):
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    return subprocess.run(
        [*DZIURA, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env
    )


PROGRAM = textwrap.dedent(
    """
    import json

    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    def parse():
        for _ in range(300):
            json.loads('{"a": [1, 2, 3], "b": "x"}')

    def main():
        fib(20)
        parse()

    main()
    """
)


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    d = tmp_path_factory.mktemp("traced")
    script = d / "prog.py"
    script.write_text(PROGRAM)
    out = d / "x.dziura"
    r = dz("run", "-o", out, script)
    assert r.returncode == 0, r.stderr
    return out


def one_error_line(r):
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("dziura: error: ")
    return lines[0]


def test_run_writes_a_dziura_file_and_show_prints_the_table(traced):
    data = traced.read_bytes()
    assert data[:8] == b"DZIURA\x00\x01" and data[8:12] == (2).to_bytes(4, "little")
    r = dz("show", traced, "-s", "tottime", "-l", "10")
    assert r.returncode == 0, r.stderr
    assert "function calls" in r.stdout and "prog.py" in r.stdout
    assert "(fib)" in r.stdout


def test_show_tree_hides_libraries_unless_all(traced):
    r = dz("show", traced, "--tree")
    assert r.returncode == 0, r.stderr
    assert "caller→callee totals" in r.stdout
    assert "\x1b[" not in r.stdout  # piped: no colour
    lines = r.stdout.splitlines()
    module = next(line for line in lines if "<module>" in line)
    assert "100.0%" in module
    assert any("main  " in line and "prog.py" in line for line in lines)
    assert any("fib" in line and "recursive" in line for line in lines), r.stdout
    assert any(line.lstrip("│├└─ ").split(" ")[0].endswith("s") for line in lines[1:])
    assert "decoder.py" not in r.stdout and "json/__init__" not in r.stdout
    r = dz("show", traced, "--tree", "--all", "--min-percent", "0")
    assert r.returncode == 0, r.stderr
    assert "json" in r.stdout and "[built-in]" in r.stdout


def test_convert_to_pstats_loads_in_pstats(traced, tmp_path):
    out = tmp_path / "y.prof"
    r = dz("convert", traced, "-o", out)
    assert r.returncode == 0, r.stderr
    st = pstats.Stats(str(out))
    fib = [k for k in st.stats if k[2] == "fib"]
    assert len(fib) == 1
    cc, nc, tt, ct, callers = st.stats[fib[0]]
    assert nc == 21891 and cc == 1
    # And back: a pstats file is read by show and convert too.
    r = dz("show", out, "-l", "3")
    assert r.returncode == 0 and "function calls" in r.stdout
    r = dz("convert", out, "-o", tmp_path / "z.dziura")
    assert r.returncode == 0, r.stderr
    r = dz("convert", tmp_path / "z.dziura", "-o", tmp_path / "z.txt")
    assert r.returncode == 0 and "fib" in (tmp_path / "z.txt").read_text()


def test_metadata_is_kept(traced, tmp_path):
    out = tmp_path / "x.callgrind"
    r = dz("convert", traced, "-o", out)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    cmd = next(line for line in text.splitlines() if line.startswith("cmd:"))
    assert "prog.py" in cmd
    assert "desc: Mode: tracing" in text
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in text


def test_convert_needs_a_known_format(traced, tmp_path):
    r = dz("convert", traced, "-o", tmp_path / "out.data")
    assert r.returncode == 2
    assert "valid formats: " in r.stderr and "speedscope" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = dz("convert", traced, "-o", tmp_path / "out.data", "-f", "pstats")
    assert r.returncode == 0, r.stderr
    pstats.Stats(str(tmp_path / "out.data"))
    line = one_error_line(dz("convert", traced, "-o", tmp_path / "o.svg"))
    assert "sampling profile" in line


def test_record_to_dziura_then_convert(target, tmp_path):
    p = target("deep", 3, 30)
    out = tmp_path / "z.dziura"
    r = dz("record", "--pid", p.pid, "-d", 1, "-r", 200, "-o", out)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes().startswith(b"DZIURA")
    r = dz("convert", out, "-o", tmp_path / "z.speedscope.json")
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "z.speedscope.json").read_text())
    assert doc["$schema"].startswith("https://www.speedscope.app")
    r = dz("convert", out, "-o", tmp_path / "z.svg")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "z.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    r = dz("convert", out, "-o", tmp_path / "z.folded")
    assert r.returncode == 0, r.stderr
    folded = (tmp_path / "z.folded").read_text().splitlines()
    assert folded and all(line.rsplit(" ", 1)[1].isdigit() for line in folded)
    assert any("spin" in line for line in folded)
    r = dz("convert", out, "-o", tmp_path / "z.trace.json")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "z.trace.json").read_text())
    r = dz("show", out, "--tree")
    assert r.returncode == 0, r.stderr
    print(r.stdout)
    assert "sampled profile" in r.stdout and "spin" in r.stdout and "deep" in r.stdout
    r = dz("show", out)
    assert r.returncode == 0 and "Sampled profile" in r.stdout


def test_damaged_and_foreign_files_give_one_clear_line(traced, tmp_path):
    good = traced.read_bytes()
    cases = {
        "truncated.dziura": (good[: len(good) // 2], "truncated or corrupt dziura profile"),
        "corrupt.dziura": (good[:40] + bytes(b ^ 0x5A for b in good[40:60]) + good[60:], "truncated or corrupt"),
        "image.png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "not a dziura or pstats profile"),
        "newer.dziura": (
            good[:8] + (9).to_bytes(4, "little") + good[12:],
            "written by a newer dziura (format version 9); upgrade dziura to read it",
        ),
        "empty.dziura": (b"", "not a dziura or pstats profile"),
    }
    for name, (data, want) in cases.items():
        f = tmp_path / name
        f.write_bytes(data)
        for cmd in (["show", f], ["show", f, "--tree"], ["convert", f, "-o", tmp_path / "o.prof"]):
            line = one_error_line(dz(*cmd))
            assert want in line, (name, line)
    line = one_error_line(dz("show", tmp_path / "missing.dziura"))
    assert "cannot read" in line


def test_tree_is_coloured_on_a_terminal(traced):
    import pty

    main, sub = pty.openpty()
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    p = subprocess.Popen([*DZIURA, "show", str(traced), "--tree"], stdout=sub, stderr=subprocess.PIPE, env=env)
    os.close(sub)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    assert p.wait(timeout=30) == 0
    assert b"\x1b[1mmain\x1b[0m" in out and b"100.0%\x1b[0m" in out


def test_show_and_convert_print_one_table(traced, tmp_path):
    """`show FILE` and `convert FILE -o t.txt` print the same table (the ranking, then every
    function with paths relative to the project, site-packages or stdlib), in any -s order."""
    for sort in ([], ["-s", "calls"]):
        shown = dz("show", traced, *sort, cwd=traced.parent)
        assert shown.returncode == 0, shown.stderr
        out = tmp_path / "t.txt"
        converted = dz("convert", traced, "-o", out, *sort, cwd=traced.parent)
        assert converted.returncode == 0, converted.stderr
        assert shown.stdout == out.read_text(), (shown.stdout, out.read_text())
        assert "Your code first" in shown.stdout
        assert "prog.py:4(fib)" in shown.stdout and str(traced.parent) not in shown.stdout, shown.stdout
        assert "json/decoder.py:" in shown.stdout, shown.stdout
    assert "Ordered by: call count" in shown.stdout


def test_folded_stacks_are_read_by_show_convert_and_diff(tmp_path):
    """One reader for every command: folded stacks (py-spy's, `record -f collapsed`) show as a
    table and convert to any format, as dziura and pstats files do."""
    folded = tmp_path / "app.folded"
    folded.write_text("main (app.py:3);work (app.py:7) 30\nmain (app.py:3);{built-in method time.sleep} 10\n")
    shown = dz("show", folded)
    assert shown.returncode == 0, shown.stderr
    rows = {line.split()[-1]: line.split() for line in shown.stdout.splitlines() if line.endswith(")") or "built-in" in line}
    assert rows["app.py:0(work)"][0] == "30", shown.stdout
    assert rows["app.py:0(main)"][0] == "40", shown.stdout
    svg = tmp_path / "app.svg"
    r = dz("convert", folded, "-o", svg)
    assert r.returncode == 0, r.stderr
    assert svg.read_text().startswith("<?xml") and "work (app.py:7)" in svg.read_text()
    r = dz("diff", folded, folded)
    assert r.returncode == 0, r.stderr
    junk = tmp_path / "nothing.txt"
    junk.write_text("hello 1x\n")
    line = one_error_line(dz("show", junk))
    assert "not a dziura or pstats profile, nor folded stacks" in line, line

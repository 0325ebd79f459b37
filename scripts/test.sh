#!/usr/bin/env bash
# The whole test suite: formatting, clippy with warnings as errors (for each hook family: the 3.11
# profile function, the 3.12+ sys.monitoring hook, its free-threaded build, and the newest
# CPython), the Rust unit tests, and pytest on every prepared interpreter (3.11, 3.12, 3.13,
# 3.13t, 3.14, 3.15; 3.14 and 3.15 inside the Debian root scripts/setup.sh makes).
#   DZIURA_VERSIONS="3.13 3.15" scripts/test.sh   only these interpreters (a quick local run)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$SECONDS

# setup.sh prints the interpreters it prepared on its last line (pyenv's 3.12 may be missing).
versions=$(scripts/setup.sh | tail -n 1)
echo "== interpreters: $versions (prepared in $((SECONDS - started)) s)"
for want in ${DZIURA_VERSIONS:-3.11 3.12 3.13 3.13t 3.14 3.15}; do
    case " $versions " in *" $want "*) ;; *) echo "== SKIPPED: CPython $want is not on this machine" ;; esac
done

debian_python="$root/../shared/tools/debian-python"
[[ -x $debian_python ]] || debian_python="$root/scripts/debian-python"
# Runs a command where interpreter $1 lives: inside the Debian root for 3.14 and 3.15.
in_env() {
    local ver=$1
    shift
    case $ver in
        3.14 | 3.15) "$debian_python" run "$@" ;;
        *) "$@" ;;
    esac
}

echo "== cargo fmt --check"
cargo fmt --all --check

for ver in 3.11 3.13 3.13t 3.15; do
    case " $versions " in *" $ver "*) ;; *) continue ;; esac
    echo "== cargo clippy -D warnings (CPython $ver)"
    in_env "$ver" env PYO3_PYTHON="$root/.venv/$ver/bin/python" CARGO_TARGET_DIR="$root/target/py$ver" \
        cargo clippy --workspace --all-targets --release -- -D warnings
done

echo "== cargo test"
first=${versions%% *}
in_env "$first" env PYO3_PYTHON="$root/.venv/$first/bin/python" CARGO_TARGET_DIR="$root/target/py$first" \
    cargo test --workspace --release

echo "== cargo fuzz (every reader, scripts/fuzz.sh)"
scripts/fuzz.sh

for ver in $versions; do
    echo "== pytest (CPython $ver)"
    in_env "$ver" "$root/.venv/$ver/bin/python" -m pytest -q -p no:cacheprovider tests
done
echo "== all tests passed on $versions in $((SECONDS - started)) s"

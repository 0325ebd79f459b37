#!/usr/bin/env bash
# The whole test suite: formatting, clippy with warnings as errors (for the 3.11 hook and the
# 3.12+ hook), the Rust unit tests, and pytest on every prepared interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
versions=${DZIURA_VERSIONS:-3.11 3.13 3.13t}

scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all --check

for ver in 3.11 3.13; do
    case " $versions " in *" $ver "*) ;; *) continue ;; esac
    echo "== cargo clippy -D warnings (CPython $ver)"
    PYO3_PYTHON="$root/.venv/$ver/bin/python" CARGO_TARGET_DIR="$root/target/py$ver" \
        cargo clippy --workspace --all-targets --release -- -D warnings
done

echo "== cargo test"
first=${versions%% *}
PYO3_PYTHON="$root/.venv/$first/bin/python" CARGO_TARGET_DIR="$root/target/py$first" \
    cargo test --workspace --release

for ver in $versions; do
    echo "== pytest (CPython $ver)"
    "$root/.venv/$ver/bin/python" -m pytest -q -p no:cacheprovider tests
done
echo "== all tests passed"

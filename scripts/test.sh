#!/usr/bin/env bash
# The test command of README.md, for a fresh Debian machine with Rust: installs what the tests
# need when it is missing (Debian's Fashion-MNIST for training on real data, Chromium and
# ChromeDriver for the explorer's browser test, util-linux's unshare for the disk-full tests,
# Open MPI and libclang for the `mpi` feature and its `mpirun` tests, valgrind for the kernels'
# memory check, Python's venv), then builds and runs every test of the workspace, MPI included,
# then the kernels' tests on each narrower instruction set and under valgrind
# (scripts/kernel-checks.sh), then the Python package's tests (pytest, in a virtual environment
# in target/venv). Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

packages=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || packages+=(dataset-fashion-mnist)
[ -x /usr/bin/chromium ] || packages+=(chromium)
[ -x /usr/bin/chromedriver ] || packages+=(chromium-driver)
command -v unshare > /dev/null || packages+=(util-linux)
command -v valgrind > /dev/null || packages+=(valgrind)
command -v mpirun > /dev/null || packages+=(openmpi-bin)
dpkg -s libopenmpi-dev > /dev/null 2>&1 || packages+=(libopenmpi-dev)
dpkg -s libclang-dev > /dev/null 2>&1 || packages+=(libclang-dev)
command -v python3 > /dev/null || packages+=(python3)
python3 -c 'import venv, ensurepip' 2> /dev/null || packages+=(python3-venv)
if [ ${#packages[@]} -gt 0 ]; then
  echo "scripts/test.sh: installing ${packages[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" > /dev/null
fi

# The Python package's test tools (pytest, TensorBoard's reader, maturin), in target/venv,
# downloaded while Cargo builds.
venv=target/venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  -r crates/vae-python/tests/requirements.txt > "$venv/pip.log" 2>&1 &
tools=$!

# The release profile (Cargo.toml), which the README's first command built: this build reuses
# its dependencies (crates/workspace-hack keeps their features alike), and a change to the
# workspace's own crates rebuilds in seconds.
status=0
cargo test --release --workspace --features vae-cli/mpi --no-fail-fast "$@" || status=$?
bash scripts/kernel-checks.sh || status=$?

# The Python package (crates/vae-python), built by pip through maturin as a user builds it, with
# the features above so that it reuses that build and compiles only PyO3 and itself; then its
# tests.
wait "$tools" || { cat "$venv/pip.log" >&2; exit 1; }
PATH="$PWD/$venv/bin:$PATH" MATURIN_PEP517_ARGS="--features mpi" \
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-build-isolation --no-deps \
  --force-reinstall ./crates/vae-python
VAE_BIN="$PWD/target/release/vae" "$venv/bin/pytest" -q crates/vae-python/tests || status=$?
exit "$status"

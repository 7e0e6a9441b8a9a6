#!/usr/bin/env bash
# The test command of README.md, for a fresh Debian machine with Rust: installs what the tests
# need when it is missing (Debian's Fashion-MNIST for training on real data, Chromium and
# ChromeDriver for the explorer's browser test, util-linux's unshare for the disk-full tests,
# Open MPI and libclang for the `mpi` feature and its `mpirun` tests), then builds and runs
# every test of the workspace, MPI included. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

packages=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || packages+=(dataset-fashion-mnist)
[ -x /usr/bin/chromium ] || packages+=(chromium)
[ -x /usr/bin/chromedriver ] || packages+=(chromium-driver)
command -v unshare > /dev/null || packages+=(util-linux)
command -v mpirun > /dev/null || packages+=(openmpi-bin)
dpkg -s libopenmpi-dev > /dev/null 2>&1 || packages+=(libopenmpi-dev)
dpkg -s libclang-dev > /dev/null 2>&1 || packages+=(libclang-dev)
if [ ${#packages[@]} -gt 0 ]; then
  echo "scripts/test.sh: installing ${packages[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" > /dev/null
fi

# The `tests` profile (Cargo.toml): release-speed code, no debug info, incremental builds of
# the workspace's own crates.
exec cargo test --profile tests --workspace --features vae-cli/mpi --no-fail-fast "$@"

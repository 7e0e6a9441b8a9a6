#!/usr/bin/env bash
# Lets `cargo build --release --features cuda` build from the package registries alone (Debian
# and crates.io). cubecl-cuda 0.11 links LLVM through cubecl-llvm, whose build step downloads a
# prebuilt LLVM 23.1 from GitHub into ~/.local/share/tracel/tracel-llvm-23.1.0-4 unless that
# folder is marked as installed. This installs Debian's LLVM 22 (bookworm-security) and puts it
# there instead, with an llvm-config that names libz3 the way the build step can link it.
# vae's CUDA build compiles its kernels with NVRTC (cubecl-cuda's `cpp` backend, the one cubecl
# 0.10 used alone): LLVM is linked in, not used to compile kernels. See docs/gpu.md.
#
#   bash scripts/cuda-llvm.sh && cargo build --release --features cuda
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

packages=()
for p in llvm-22-dev libpolly-22-dev libzstd-dev libz3-dev; do
  dpkg -s "$p" > /dev/null 2>&1 || packages+=("$p")
done
if [ ${#packages[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" > /dev/null
fi

llvm=/usr/lib/llvm-22
prefix=${XDG_DATA_HOME:-$HOME/.local/share}/tracel/tracel-llvm-23.1.0-4
if [ -e "$prefix" ] && [ ! -e "$prefix/.from-debian" ]; then
  echo "error: $prefix exists and was not made by this script; move it away to use Debian's LLVM" >&2
  exit 1
fi
rm -rf "$prefix"
mkdir -p "$prefix/bin"
ln -s "$llvm/lib" "$prefix/lib"
ln -s "$llvm/include" "$prefix/include"
# The build step turns each word of `--system-libs` into a `-l` name, and makes `libz3` of
# Debian's full path to libz3.so, which no linker finds: say `-lz3`.
cat > "$prefix/bin/llvm-config" <<CONFIG
#!/bin/sh
$llvm/bin/llvm-config "\$@" | sed 's|[^ ]*/libz3\.so|-lz3|g'
CONFIG
chmod +x "$prefix/bin/llvm-config"
touch "$prefix/.from-debian" "$prefix/.tracel-llvm-installed"
echo "LLVM $("$prefix/bin/llvm-config" --version) from Debian is in $prefix"

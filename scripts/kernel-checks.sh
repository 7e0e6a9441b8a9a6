#!/usr/bin/env bash
# The kernels on every instruction-set level this CPU runs, and under a memory checker: part of
# the README's test command (scripts/test.sh runs it after the workspace's tests, which ran
# every test on the widest level).
#
# - The tests of `vae-kernels` and the model-level kernel tests of the library (`kernels::`,
#   `soundness::`) again with the kernels capped to each narrower level (VAE_MAX_ISA).
# - The same tests under valgrind's memcheck (`--error-exitcode=1`: an invalid read or write, or
#   a branch on a value never written, fails the run) on the scalar and AVX2 levels; valgrind
#   runs no AVX-512, so the AVX-512 level is checked by the tests alone.
set -euo pipefail
cd "$(dirname "$0")/.."

# The levels this CPU has, narrowest first, as the kernels' dispatch (pulp) detects them.
flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
has() { for f in "$@"; do [[ " $flags " == *" $f "* ]] || return 1; done; }
levels=(scalar)
if [ "$(uname -m)" = x86_64 ] && has avx avx2 fma bmi1 bmi2 abm popcnt; then
  levels+=(avx2)
  has avx512f avx512bw avx512cd avx512dq avx512vl && levels+=(avx512)
fi
echo "kernel-checks: levels of this CPU: ${levels[*]}" >&2

# The test binaries that the README's test command built (the same profile and features, so
# nothing is built again): the kernels' unit tests and the library's.
binaries=$(cargo test --release --workspace --features vae-cli/mpi --no-run --message-format=json 2> /dev/null \
  | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] in ("vae_kernels", "library"):
        print(m["target"]["name"], m["executable"])')
kernels=$(awk '$1 == "vae_kernels" { print $2 }' <<< "$binaries")
library=$(awk '$1 == "library" { print $2 }' <<< "$binaries")
[ -x "$kernels" ] && [ -x "$library" ] || { echo "kernel-checks: test binaries not found" >&2; exit 1; }

status=0
for level in "${levels[@]::${#levels[@]}-1}"; do
  echo "kernel-checks: the kernels' tests capped to $level" >&2
  (cd crates/vae-kernels && VAE_MAX_ISA=$level "$kernels" -q) || status=1
  (cd crates/vae && VAE_MAX_ISA=$level "$library" -q kernels:: soundness::) || status=1
done

for level in "${levels[@]}"; do
  [ "$level" = avx512 ] && continue
  echo "kernel-checks: the kernels' tests under valgrind on $level" >&2
  SECONDS=0
  (cd crates/vae-kernels && VAE_MAX_ISA=$level valgrind -q --error-exitcode=1 "$kernels" -q) || status=1
  (cd crates/vae && VAE_MAX_ISA=$level valgrind -q --error-exitcode=1 "$library" -q kernels:: soundness::) || status=1
  echo "kernel-checks: valgrind on $level took ${SECONDS} s" >&2
done
exit "$status"

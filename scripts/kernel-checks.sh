#!/usr/bin/env bash
# The kernels on every instruction-set level this CPU runs, and under a memory checker: part of
# the README's test command (scripts/test.sh runs it after the workspace's tests, which ran
# every test on the widest level).
#
# - The tests of `vae-kernels` and the model-level kernel tests of the library (`kernels::`,
#   `soundness::`) again with the kernels capped to each narrower level (VAE_MAX_ISA).
# - The tests of `vae-kernels` under valgrind's memcheck (`--error-exitcode=1`: an invalid read
#   or write, or a branch on a value never written, fails the run) on the scalar and AVX2
#   levels; valgrind runs no AVX-512, so the AVX-512 level is checked by the tests alone.
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

status=0
for level in "${levels[@]::${#levels[@]}-1}"; do
  echo "kernel-checks: the kernels' tests capped to $level" >&2
  VAE_MAX_ISA=$level cargo test --release -q -p vae-kernels || status=1
  VAE_MAX_ISA=$level cargo test --release -q -p vae --test library -- kernels:: soundness:: || status=1
done

# The unit-test binary of vae-kernels, as Cargo built it above.
binary=$(cargo test --release -q -p vae-kernels --no-run --message-format=json \
  | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "vae_kernels" and m.get("executable"):
        print(m["executable"])')
for level in "${levels[@]}"; do
  [ "$level" = avx512 ] && continue
  echo "kernel-checks: the kernels' tests under valgrind on $level" >&2
  SECONDS=0
  VAE_MAX_ISA=$level valgrind -q --error-exitcode=1 "$binary" --test-threads=2 || status=1
  echo "kernel-checks: valgrind on $level took ${SECONDS} s" >&2
done
exit "$status"

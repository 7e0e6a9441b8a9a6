#!/usr/bin/env bash
# Data parallelism on one machine: the same training (model, data, global batch, seed) as one
# process using every core through the shards, and as `mpirun -n R` ranks of one thread each,
# which sum their gradients over MPI. Prints images/s, the step time and the gradient bytes
# summed per step; docs/distributed.md models larger worlds from these.
#
#   bash bench/mpi.sh [--ranks 2] [--models "mlp conv conv-bn"] [--limit 6000] [--epochs 2]
#
# Needs a binary built with MPI: `cargo build --release --features mpi` (or VAE_BIN=path).
set -euo pipefail
cd "$(dirname "$0")/.."

ranks=2 models="mlp conv conv-bn" limit=6000 epochs=2
while [ $# -gt 0 ]; do
  case "$1" in
    --ranks) ranks=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    *) echo "error: unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
done
vae=${VAE_BIN:-target/release/vae}
[ -x "$vae" ] || { echo "error: no $vae; run cargo build --release --features mpi" >&2; exit 1; }
vae=$(realpath "$vae")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

flags() {
  case "$1" in
    mlp) echo "--arch mlp" ;;
    conv) echo "--arch conv" ;;
    # The CelebA family (batch norm, leaky ReLU) at 32x32 on Fashion-MNIST's 28x28 images.
    conv-bn|celeba) echo "--arch conv-bn --channels 32,64,64 --latent-dim 64 --batch-size 100" ;;
  esac
}

# Images/s of the last epoch (the first one warms up).
speed() { tail -1 "$1/metrics.jsonl" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["images_per_second"]))'; }

printf '%-7s %12s %14s %10s %10s %14s\n' model "1 process" "$ranks ranks" ratio "step ms" "gradients MB"
for model in $models; do
  args="train --limit $limit --epochs $epochs --no-pictures $(flags "$model")"
  "$vae" $args --out "$work/$model-1" > /dev/null 2>&1
  mkdir -p "$work/$model-r"
  mpirun -q --oversubscribe -n "$ranks" -x RAYON_NUM_THREADS=1 -wdir "$work/$model-r" \
    "$vae" $args --out "$work/$model-r/run" > "$work/$model-r.log" 2>&1
  one=$(speed "$work/$model-1")
  many=$(speed "$work/$model-r/run")
  batch=$(sed -n 's/^batch_size = //p' "$work/$model-1/config.toml")
  mb=$(sed -n 's/.* \([0-9.]*\) MB of gradients.*/\1/p' "$work/$model-r.log")
  python3 -c "print('%-7s %12d %14d %9.2fx %10.1f %14s' % ('$model', $one, $many, $many / $one, 1000 * ${batch:-128} / $one, '$mb'))"
done

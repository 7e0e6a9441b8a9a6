#!/usr/bin/env bash
# Side-by-side benchmark: `vae bench` against the PyTorch reference on the same models, data,
# batch and threads, alternated (A B A B ...), with medians and ratios, over the five workloads
# of bench/workloads.sh (M, C, the CelebA model, and the IWAE bound of M and of C).
#
#   bash bench/compare.sh [--pairs 3] [--threads 2] [--workloads "mlp conv conv-bn iwae-mlp iwae-conv"]
#                         [--epochs 1] [--limit N] [--celeba-pictures 2000] [--iw-samples 1000]
#                         [--iw-images-mlp 500] [--iw-images-conv 30] [--data DIR] [--ours PATH]
#
# --ours times another build of `vae` (a copy of an earlier commit's binary, to compare before and
# after a change in one sitting) instead of building this checkout's.
# --limit trains mlp and conv on the first N images (default: all 60,000).
# PyTorch is installed on first use into bench/.venv from PyPI (bench/reference/requirements.txt).
# Every raw measurement is appended to bench/results/<timestamp>.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/workloads.sh
pairs=3 threads=2 workloads=$WORKLOADS epochs=1 limit=""
celeba=2000 iw_samples=1000 iw_mlp=500 iw_conv=30 data=/usr/share/datasets/fashion-mnist ours=""
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) pairs=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --workloads|--models) workloads=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --celeba-pictures) celeba=$2; shift 2 ;;
    --iw-samples) iw_samples=$2; shift 2 ;;
    --iw-images-mlp) iw_mlp=$2; shift 2 ;;
    --iw-images-conv) iw_conv=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --ours) ours=$2; shift 2 ;;
    *) echo "error: unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
done

venv=bench/.venv
if [ ! -x "$venv/bin/python" ]; then
  echo "installing PyTorch into $venv (once)..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r bench/reference/requirements.txt
fi
py="$venv/bin/python"
if [ -z "$ours" ]; then
  cargo build --release --quiet
  ours=target/release/vae
fi

mkdir -p bench/results
out="bench/results/$(date -u +%Y%m%dT%H%M%SZ).jsonl"
# One thread pool size for every library either side may use.
export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads RAYON_NUM_THREADS=$threads

"$py" bench/reference/vae_bench.py --peak --threads "$threads" >> "$out"
for workload in $workloads; do
  mapfile -t args < <(workload_args "$workload")
  args+=(--threads "$threads")
  for i in $(seq "$pairs"); do
    echo "$workload: pair $i of $pairs" >&2
    "$ours" bench --json "${args[@]}" >> "$out"
    "$py" bench/reference/vae_bench.py "${args[@]}" >> "$out"
  done
done

"$py" bench/summarize.py "$out"

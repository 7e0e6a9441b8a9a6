#!/usr/bin/env bash
# Side-by-side training benchmark: `vae bench` against the PyTorch reference on the same
# models, data, batch and threads, alternated (A B A B ...), with medians and ratios.
#
#   bash bench/compare.sh [--pairs 3] [--threads 2] [--models "mlp conv"] [--epochs 1]
#                         [--limit N] [--data DIR]
#
# PyTorch is installed on first use into bench/.venv from PyPI (bench/reference/requirements.txt).
# Every raw measurement is appended to bench/results/<timestamp>.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."

pairs=3 threads=2 models="mlp conv" epochs=1 limit="" data=/usr/share/datasets/fashion-mnist
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) pairs=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
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
cargo build --release --quiet
ours=target/release/vae

mkdir -p bench/results
out="bench/results/$(date -u +%Y%m%dT%H%M%SZ).jsonl"
common=(--threads "$threads" --epochs "$epochs" --data "$data")
[ -n "$limit" ] && common+=(--limit "$limit")
# One thread pool size for every library either side may use.
export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads RAYON_NUM_THREADS=$threads

"$py" bench/reference/vae_bench.py --peak --threads "$threads" >> "$out"
for model in $models; do
  for i in $(seq "$pairs"); do
    echo "$model: pair $i of $pairs" >&2
    "$ours" bench --model "$model" --json "${common[@]}" >> "$out"
    "$py" bench/reference/vae_bench.py --model "$model" "${common[@]}" >> "$out"
  done
done

"$py" - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
peak = next(r["sgemm_gflops"] for r in rows if "sgemm_gflops" in r)
runs = [r for r in rows if "model" in r]
print(f"machine sgemm peak (torch 2048^3 float32, {runs[0]['threads']} threads): {peak:.1f} GFLOP/s")
print(f"raw results: {sys.argv[1]}\n")
head = "| model | framework | images/s (median) | s/epoch | GFLOP/s | % of peak | test loss | decode b1 ms | decode b256 ms/img | peak RSS MiB |"
print(head)
print("|" + "---|" * (head.count("|") - 1))
med = lambda rs, k: statistics.median(r[k] for r in rs)
for model in dict.fromkeys(r["model"] for r in runs):
    side = {}
    for fw in ("vae", "pytorch"):
        rs = [r for r in runs if r["model"] == model and r["framework"].startswith(fw)]
        side[fw] = med(rs, "images_per_second")
        flops = rs[0]["train_flops_per_image"]
        print(f"| {model} | {rs[0]['framework']} (n={len(rs)}) | {side[fw]:.0f} | {med(rs, 'seconds_per_epoch'):.2f} | "
              f"{side[fw] * flops / 1e9:.1f} | {100 * side[fw] * flops / 1e9 / peak:.0f}% | {med(rs, 'test_loss'):.2f} | "
              f"{med(rs, 'decode_ms_batch1'):.3f} | {med(rs, 'decode_ms_per_image_batch256'):.4f} | {med(rs, 'peak_rss_mib'):.0f} |")
    print(f"\n{model}: ours / PyTorch = {side['vae'] / side['pytorch']:.2f}x "
          f"({flops / 1e6:.2f} MFLOP per image per training step)\n")
PY

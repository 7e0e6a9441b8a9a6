#!/usr/bin/env bash
# Side-by-side benchmark: `vae bench` against the PyTorch reference on the same models, data,
# batch and threads, alternated (A B A B ...), with medians and ratios. Five workloads:
#
#   mlp        M: MLP VAE 784-400-20 training, batch 128, Fashion-MNIST
#   conv       C: conv VAE 32/64/128 (latent 2) training, batch 100, Fashion-MNIST
#   conv-bn    the CelebA VAE (batch norm, latent 200) training, batch 100, generated 64x64 RGB
#   iwae-mlp   the IWAE bound of M with K samples per test image
#   iwae-conv  the IWAE bound of C with K samples per test image
#
#   bash bench/compare.sh [--pairs 3] [--threads 2] [--workloads "mlp conv conv-bn iwae-mlp iwae-conv"]
#                         [--epochs 1] [--limit N] [--celeba-pictures 2000] [--iw-samples 1000]
#                         [--iw-images-mlp 500] [--iw-images-conv 30] [--data DIR]
#
# --limit trains mlp and conv on the first N images (default: all 60,000). The IWAE workloads
# evaluate the model 20 warm-up steps trained, on the first test images.
# PyTorch is installed on first use into bench/.venv from PyPI (bench/reference/requirements.txt).
# Every raw measurement is appended to bench/results/<timestamp>.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."

pairs=3 threads=2 workloads="mlp conv conv-bn iwae-mlp iwae-conv" epochs=1 limit=""
celeba=2000 iw_samples=1000 iw_mlp=500 iw_conv=30 data=/usr/share/datasets/fashion-mnist
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
# One thread pool size for every library either side may use.
export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads RAYON_NUM_THREADS=$threads

# The arguments of one workload, the same for both sides.
workload_args() {
  local args=(--threads "$threads")
  case "$1" in
    mlp|conv) args+=(--model "$1" --epochs "$epochs" --data "$data")
      [ -n "$limit" ] && args+=(--limit "$limit") ;;
    conv-bn|celeba) args+=(--model conv-bn --epochs "$epochs" --limit "$celeba") ;;
    iwae-mlp) args+=(--model mlp --task iwae --iw-samples "$iw_samples" --iw-images "$iw_mlp" --data "$data") ;;
    iwae-conv) args+=(--model conv --task iwae --iw-samples "$iw_samples" --iw-images "$iw_conv" --data "$data") ;;
    *) echo "error: unknown workload $1 (mlp, conv, conv-bn, iwae-mlp, iwae-conv)" >&2; exit 2 ;;
  esac
  printf '%s\n' "${args[@]}"
}

"$py" bench/reference/vae_bench.py --peak --threads "$threads" >> "$out"
for workload in $workloads; do
  mapfile -t args < <(workload_args "$workload")
  for i in $(seq "$pairs"); do
    echo "$workload: pair $i of $pairs" >&2
    "$ours" bench --json "${args[@]}" >> "$out"
    "$py" bench/reference/vae_bench.py "${args[@]}" >> "$out"
  done
done

"$py" - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
peak = next(r["sgemm_gflops"] for r in rows if "sgemm_gflops" in r)
runs = [r for r in rows if "model" in r]
print(f"machine sgemm peak (torch 2048^3 float32, {runs[0]['threads']} threads): {peak:.1f} GFLOP/s")
print(f"raw results: {sys.argv[1]}\n")
head = ("| workload | framework | images/s (median) | seconds | GFLOP/s | % of peak | loss | "
        "decode b1 ms | decode b256 ms/img | peak RSS MiB |")
print(head)
print("|" + "---|" * (head.count("|") - 1))
def med(rs, k):
    values = [r[k] for r in rs if r.get(k) is not None]
    return statistics.median(values) if values else None
fmt = lambda v, spec: "-" if v is None else format(v, spec)
name = lambda r: ("iwae-" if r.get("task") == "iwae" else "") + r["model"]
ratios = []
for workload in dict.fromkeys(name(r) for r in runs):
    side = {}
    for fw in ("vae", "pytorch"):
        rs = [r for r in runs if name(r) == workload and r["framework"].startswith(fw)]
        if not rs:
            continue
        side[fw] = {k: med(rs, k) for k in ("images_per_second", "seconds_per_epoch", "test_loss",
                    "decode_ms_batch1", "decode_ms_per_image_batch256", "peak_rss_mib")}
        ips, flops = side[fw]["images_per_second"], rs[0]["train_flops_per_image"]
        print(f"| {workload} | {rs[0]['framework']} (n={len(rs)}) | {ips:.1f} | "
              f"{side[fw]['seconds_per_epoch']:.2f} | {ips * flops / 1e9:.1f} | "
              f"{100 * ips * flops / 1e9 / peak:.0f}% | {side[fw]['test_loss']:.2f} | "
              f"{fmt(side[fw]['decode_ms_batch1'], '.3f')} | "
              f"{fmt(side[fw]['decode_ms_per_image_batch256'], '.4f')} | {side[fw]['peak_rss_mib']:.0f} |")
    if len(side) == 2:
        ours, theirs = side["vae"], side["pytorch"]
        line = (f"{workload}: speed ours / PyTorch = {ours['images_per_second'] / theirs['images_per_second']:.2f}x, "
                f"peak RSS ours / PyTorch = {ours['peak_rss_mib'] / theirs['peak_rss_mib']:.2f}")
        if ours["decode_ms_batch1"] is not None:
            line += (f", decode 1 image {ours['decode_ms_batch1']:.3f} vs {theirs['decode_ms_batch1']:.3f} ms"
                     f" ({theirs['decode_ms_batch1'] / ours['decode_ms_batch1']:.2f}x)")
        ratios.append(line)
print()
print("\n".join(ratios))
PY

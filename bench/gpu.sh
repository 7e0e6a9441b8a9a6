#!/usr/bin/env bash
# The GPU checks and benchmark, on a machine with an NVIDIA GPU and its driver:
#
#   1. builds the GPU binary (`cargo build --release --features cuda`, or `wgpu` with
#      `--backend wgpu`), unless VAE_BIN names one;
#   2. checks it against the CPU: a run trained on the CPU, evaluated on the GPU, gives the CPU's
#      numbers (same weights, same host noise: the deterministic loss at z_mean within 1e-4
#      relative, the sampled ELBO and the IWAE bound within 1e-3), for mlp, conv and conv-bn;
#      and each model trained on the GPU is finite and improves from epoch 1 to epoch 2;
#   3. times `vae bench` on the GPU against the PyTorch reference on CUDA over the five
#      workloads of bench/workloads.sh (alternated, medians) and prints every ratio.
#
#   bash bench/gpu.sh [--backend cuda|wgpu] [--pairs 2] [--workloads "mlp conv ..."] [--data DIR]
#                     [--limit 20000] [--check-limit 5000] [--celeba-pictures 5000]
#                     [--iw-samples 1000] [--iw-images-mlp 2000] [--iw-images-conv 100] [--out DIR]
#
# The defaults take about 6 minutes on one H200 with a built binary (most of it PyTorch's start-up
# and the first epochs' autotuning). PYTHON names a Python with a CUDA build of PyTorch (default:
# python3). NVRTC, which cubecl's CUDA runtime loads to compile its kernels, is looked for in the
# system's libraries, then in PyTorch's nvidia-* wheels; wgpu needs the Vulkan loader
# (libvulkan1) and the driver's Vulkan ICD. Writes every raw result under --out (default
# /tmp/vae-gpu; the speed results in bench.jsonl). See docs/gpu.md.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/workloads.sh
backend=cuda pairs=2 workloads=$WORKLOADS epochs=1 data=/usr/share/datasets/fashion-mnist
limit=20000 check_limit=5000 celeba=5000 iw_samples=1000 iw_mlp=2000 iw_conv=100 out=/tmp/vae-gpu
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend=$2; shift 2 ;;
    --pairs) pairs=$2; shift 2 ;;
    --workloads) workloads=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --check-limit) check_limit=$2; shift 2 ;;
    --celeba-pictures) celeba=$2; shift 2 ;;
    --iw-samples) iw_samples=$2; shift 2 ;;
    --iw-images-mlp) iw_mlp=$2; shift 2 ;;
    --iw-images-conv) iw_conv=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "error: unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
done
py=${PYTHON:-python3}
mkdir -p "$out"

case "$backend" in
  cuda | wgpu) ;;
  *) echo "error: --backend must be cuda or wgpu, not $backend" >&2; exit 2 ;;
esac
if [ -z "${VAE_BIN:-}" ]; then
  cargo build --release --features "$backend" --quiet
  VAE_BIN=target/release/vae
fi
vae=$VAE_BIN

# NVRTC: the system's, else the one PyTorch's wheels carry.
if [ "$backend" = cuda ] && ! ldconfig -p 2>/dev/null | grep -q 'libnvrtc\.so'; then
  nvrtc=$("$py" - <<'PY' 2>/dev/null || true
import glob, os
import nvidia
for root in nvidia.__path__:
    for lib in glob.glob(os.path.join(root, "**", "libnvrtc.so*"), recursive=True):
        print(os.path.dirname(lib)); raise SystemExit
PY
)
  [ -n "$nvrtc" ] || { echo "error: no libnvrtc.so found; install CUDA's NVRTC (e.g. the nvidia-cuda-nvrtc wheel)" >&2; exit 1; }
  export LD_LIBRARY_PATH=$nvrtc${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"

# Runs a command with its output in $out/log, shown if it fails.
quiet() { "$@" >"$out/log" 2>&1 || { cat "$out/log" >&2; echo "error: failed: $*" >&2; exit 1; }; }

echo "== checks: CPU-trained runs evaluated on the GPU, and training on the GPU"
for arch in mlp conv conv-bn; do
  rm -rf "$out/cpu-$arch" "$out/gpu-$arch"
  quiet "$vae" train --arch "$arch" --data "$data" --epochs 1 --limit 3000 --out "$out/cpu-$arch"
  for device in cpu "$backend"; do
    "$vae" eval "$out/cpu-$arch" --device "$device" --iw-samples 20 --limit 500 --json \
      >"$out/eval-$arch-$device.json"
  done
  quiet "$vae" train --arch "$arch" --data "$data" --epochs 2 --limit "$check_limit" --device "$backend" \
    --out "$out/gpu-$arch"
done
"$py" - "$out" "$backend" <<'PY'
import json, math, sys
out, backend = sys.argv[1:]
failed = []
for arch in ["mlp", "conv", "conv-bn"]:
    cpu, gpu = (json.load(open(f"{out}/eval-{arch}-{d}.json")) for d in ("cpu", backend))
    # Grey-level runs report the ELBO's and IWAE's formulas as neg_bce_kl and iw_bce.
    keys = [("loss_at_mean", 1e-4), ("recon", 1e-3), ("kl", 1e-3), ("elbo", 1e-3), ("nll_iw", 1e-3),
            ("neg_bce_kl", 1e-3), ("iw_bce", 1e-3)]
    for key, tol in keys:
        a, b = cpu.get(key), gpu.get(key)
        if a is None and b is None:
            continue
        rel = abs(a - b) / max(abs(a), 1e-9)
        ok = rel <= tol
        print(f"{arch:6} {key:12} cpu {a:12.5f} {backend} {b:12.5f} rel {rel:.1e} (<= {tol:.0e}) {'ok' if ok else 'FAIL'}")
        if not ok:
            failed.append(f"{arch} {key}")
    rows = [json.loads(l) for l in open(f"{out}/gpu-{arch}/metrics.jsonl")]
    losses = [r["test_total"] for r in rows]
    ok = all(math.isfinite(l) for l in losses) and losses[-1] < losses[0]
    print(f"{arch:6} trained on {backend}: test loss by epoch {[round(l, 2) for l in losses]} {'ok' if ok else 'FAIL'}")
    if not ok:
        failed.append(f"{arch} training")
if failed:
    raise SystemExit("error: GPU checks failed: " + ", ".join(failed))
print("all GPU checks passed")
PY

echo "== speed: vae bench --device $backend against PyTorch on CUDA ($pairs pairs, alternated)"
results="$out/bench.jsonl"
: >"$results"
for workload in $workloads; do
  mapfile -t args < <(workload_args "$workload")
  for i in $(seq "$pairs"); do
    echo "$workload: pair $i of $pairs" >&2
    "$vae" bench --json --device "$backend" "${args[@]}" >>"$results"
    "$py" bench/reference/vae_bench.py --device cuda "${args[@]}" >>"$results"
  done
done
"$py" bench/summarize.py "$results"

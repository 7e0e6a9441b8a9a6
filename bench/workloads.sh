# The five workloads that bench/compare.sh (CPU) and bench/gpu.sh (GPU) time side by side,
# sourced by both. `workload_args NAME` prints, one per line, the arguments that `vae bench`
# and bench/reference/vae_bench.py both take for it, from the caller's settings: $epochs,
# $limit (empty: all 60,000 images), $data, $celeba (generated pictures), $iw_samples (K), and
# $iw_mlp / $iw_conv (test images of the IWAE workloads).
#
#   mlp        M: MLP VAE 784-400-20 training, batch 128, Fashion-MNIST
#   conv       C: conv VAE 32/64/128 (latent 2) training, batch 100, Fashion-MNIST
#   conv-bn    the CelebA VAE (batch norm, latent 200) training, batch 100, generated 64x64 RGB
#   iwae-mlp   the IWAE bound of M with K samples per test image
#   iwae-conv  the IWAE bound of C with K samples per test image
#
# The IWAE workloads evaluate the model that 20 warm-up steps trained, on the first test images.
WORKLOADS="mlp conv conv-bn iwae-mlp iwae-conv"

workload_args() {
  local args=()
  case "$1" in
    mlp|conv) args+=(--model "$1" --epochs "$epochs" --data "$data")
      [ -n "$limit" ] && args+=(--limit "$limit") ;;
    conv-bn|celeba) args+=(--model conv-bn --epochs "$epochs" --limit "$celeba") ;;
    iwae-mlp) args+=(--model mlp --task iwae --iw-samples "$iw_samples" --iw-images "$iw_mlp" --data "$data") ;;
    iwae-conv) args+=(--model conv --task iwae --iw-samples "$iw_samples" --iw-images "$iw_conv" --data "$data") ;;
    *) echo "error: unknown workload $1 ($WORKLOADS)" >&2; return 2 ;;
  esac
  printf '%s\n' "${args[@]}"
}

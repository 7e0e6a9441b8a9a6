#!/usr/bin/env bash
# An example Slurm batch script: data-parallel training of the CelebA VAE on 2 machines with 4
# GPUs each, one MPI rank per GPU (docs/distributed.md). Submit with `sbatch docs/slurm-train.sh`.
#SBATCH --job-name=vae-celeba
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --time=04:00:00
#SBATCH --output=vae-celeba-%j.log
set -euo pipefail

# The binary: `cargo build --release --features mpi,cuda` on a machine with the cluster's MPI.
VAE=${VAE:-$HOME/vae/target/release/vae}
# The data must be at the same path on every node (a shared file system, or a copy per node);
# the run folder only on the node of rank 0, which alone writes it.
DATA=${DATA:-/shared/datasets/celeba}
OUT=${OUT:-/shared/runs/celeba-$SLURM_JOB_ID}

export RAYON_NUM_THREADS=$SLURM_CPUS_PER_TASK
# Each rank takes the GPU of its local rank (`--device cuda`); the global batch is split
# between the 8 ranks, so --batch-size is the batch of one optimiser step, as in one process.
srun --mpi=pmix "$VAE" train --dataset folder --data "$DATA" --arch conv-bn --device cuda \
  --batch-size 256 --epochs 10 --out "$OUT"
# Resume after a stop, on this or another number of ranks: the same line with --resume.

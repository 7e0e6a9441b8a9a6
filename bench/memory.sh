#!/usr/bin/env bash
# Peak resident memory (GNU time's "Maximum resident set size") of `vae train`, `vae eval` and
# `vae serve` for every architecture, with default settings, on the largest built-in data;
# prints a Markdown table (docs/guarantees.md holds the last one).
#
# Usage: bash bench/memory.sh [WORK_DIR]     (default /tmp/vae-memory; reruns train again)
#
# Needs: Debian's dataset-fashion-mnist and time, python3 with Pillow and NumPy (for the
# synthetic faces of the conv-bn row). Takes about 25 minutes on 2 cores.
set -euo pipefail

cd "$(dirname "$0")/.."
work=${1:-/tmp/vae-memory}
mkdir -p "$work"
cargo build --release --quiet
vae=$PWD/target/release/vae
[ -x /usr/bin/time ] || { echo "bench/memory.sh needs GNU time: apt-get install -y time" >&2; exit 1; }
if [ ! -d "$work/faces" ]; then
  python3 scripts/synthetic_faces.py "$work/faces" --count 3000 >/dev/null
fi

echo "| command | peak RSS | wall time |"
echo "| --- | --- | --- |"
# Runs one command under GNU time and prints its row.
measure() {
  local shown=$1
  shift
  /usr/bin/time -f "%M %e" -o "$work/time" "$@" >/dev/null 2>"$work/stderr" || {
    cat "$work/stderr" >&2
    exit 1
  }
  read -r kb seconds <"$work/time"
  printf '| `%s` | %d MB | %.0f s |\n' "$shown" $((kb * 1024 / 1000000)) "$seconds"
}
# Trains a run afresh (a run left by an earlier pass, finished or not, is removed first).
train() {
  local name=$1
  shift
  rm -rf "${work:?}/$name"
  measure "vae train $* --out runs/$name" "$vae" train "$@" --out "$work/$name"
}

train mlp --epochs 1
train conv --arch conv --epochs 1
train shapes --dataset shapes --arch conv --latent-dim 10 --beta 4 --epochs 1 --limit 5000 --seed 1
train faces --dataset folder --data "$work/faces" --arch conv-bn --epochs 1

# The importance-weighted bound with the default K = 1000 on the first images (its memory is
# one bounded pass, whatever the number of images; the time grows with it).
measure "vae eval runs/mlp --limit 1000" "$vae" eval "$work/mlp" --limit 1000
measure "vae eval runs/conv --limit 200" "$vae" eval "$work/conv" --limit 200
measure "vae eval runs/faces --limit 100" "$vae" eval "$work/faces" --limit 100
# The issue's command: every test image, 10 importance samples, default metric settings; then
# 4x the metrics' points, to show memory flat in the number of images encoded.
measure "vae eval runs/shapes --iw-samples 10" "$vae" eval "$work/shapes" --iw-samples 10
measure "vae eval runs/shapes --iw-samples 0 --mig-points 40000 --metric-train-points 4000 --metric-eval-points 2000" "$vae" eval "$work/shapes" \
  --iw-samples 0 --mig-points 40000 --metric-train-points 4000 --metric-eval-points 2000

# The explorer over all four runs (each encodes its test images for the map at start), asked
# for every run's map and 20 x 64 samples.
port=8765
/usr/bin/time -f "%M %e" -o "$work/time" "$vae" serve "$work/mlp" "$work/conv" "$work/shapes" \
  "$work/faces" --port $port >/dev/null 2>"$work/stderr" &
server=$!
for _ in $(seq 600); do
  curl -sf "http://127.0.0.1:$port/api/runs" >/dev/null 2>&1 && break
  sleep 0.5
done
for run in mlp conv shapes faces; do
  curl -sf "http://127.0.0.1:$port/api/runs/$run/map" >/dev/null
  for seed in $(seq 20); do
    curl -sf -X POST -H 'content-type: application/json' -d "{\"n\": 64, \"seed\": $seed}" \
      "http://127.0.0.1:$port/api/runs/$run/sample" >/dev/null
  done
done
# Stop the server itself (GNU time, its parent, passes no signal on).
pkill -INT -P $server
wait $server || true
# GNU time writes "Command terminated by signal 2" first.
read -r kb seconds < <(tail -n 1 "$work/time")
printf '| `%s` | %d MB | - |\n' "vae serve runs/mlp runs/conv runs/shapes runs/faces" \
  $((kb * 1024 / 1000000))

#!/usr/bin/env bash
# Redraws docs/images/explorer.png: `vae serve` over the quickstart's VAE and a plain
# autoencoder trained the same way, photographed by headless Chromium after the page loaded.
#   vae train --out runs/fmnist-mlp
#   vae train --autoencoder --out runs/fmnist-mlp-ae
#   bash docs/screenshot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
port=${PORT:-8791}
cargo build --release -q
./target/release/vae serve runs/fmnist-mlp runs/fmnist-mlp-ae --port "$port" &
server=$!
trap 'kill $server' EXIT
until curl -sf "http://127.0.0.1:$port/api/runs" > /dev/null; do sleep 0.2; done
profile=$(mktemp -d)
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --window-size=1500,900 --virtual-time-budget=10000 \
  --screenshot=docs/images/explorer.png "http://127.0.0.1:$port/" 2> /dev/null
rm -rf "$profile"
echo "wrote docs/images/explorer.png"

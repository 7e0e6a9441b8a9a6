"""PyTorch side of the benchmark: the same two models, loss, optimiser, batch, data and
measurements as `vae bench`, printed as one JSON object with the same keys.

M: pytorch/examples vae/main.py (784-400-20, BCE summed over pixels + KL, Adam 1e-3, batch 128).
C: the book's conv VAE (input padded to 32x32, 3x3 stride-2 convs 32/64/128, latent 2,
   transposed convs back, a final 3x3 conv; Adam 5e-4, batch 100).
Loss per batch = mean over images of (BCE summed over pixels + KL), exactly as `vae` computes it.

    python vae_bench.py --model mlp --threads 2 --data /usr/share/datasets/fashion-mnist
    python vae_bench.py --peak --threads 2     # float32 matmul 2048^3, GFLOP/s
    python vae_bench.py --model conv --device cuda   # on a GPU (bench/gpu.sh)

On a GPU, batches are gathered on the host and copied to the device each step, as `vae` does, and
the timers wait for the device (torch.cuda.synchronize) before they read the clock.
"""

import argparse
import gzip
import json
import os
import resource
import statistics
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def read_idx(path):
    """An IDX file (gzip or raw) as a numpy array; the format of MNIST and Fashion-MNIST."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise SystemExit(f"error: {path} is not an unsigned-byte IDX file")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_images(data, split):
    prefix = "train" if split == "train" else "t10k"
    for name in (f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-images-idx3-ubyte"):
        path = os.path.join(data, name)
        if os.path.exists(path):
            images = read_idx(path)
            return torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)
    raise SystemExit(f"error: no {prefix} images in {data}")


class MlpVae(nn.Module):
    def __init__(self, pixels=784, hidden=400, latent=20):
        super().__init__()
        self.fc1 = nn.Linear(pixels, hidden)
        self.fc_mean = nn.Linear(hidden, latent)
        self.fc_log_var = nn.Linear(hidden, latent)
        self.fc3 = nn.Linear(latent, hidden)
        self.fc4 = nn.Linear(hidden, pixels)

    def encode(self, x):
        h = F.relu(self.fc1(x))
        return self.fc_mean(h), self.fc_log_var(h)

    def decode(self, z):
        return self.fc4(F.relu(self.fc3(z)))


class ConvVae(nn.Module):
    def __init__(self, channels=(32, 64, 128), latent=2):
        super().__init__()
        ins = (1,) + channels[:-1]
        self.convs = nn.ModuleList(
            nn.Conv2d(i, o, 3, stride=2, padding=1) for i, o in zip(ins, channels)
        )
        flat = channels[-1] * 4 * 4
        self.fc_mean = nn.Linear(flat, latent)
        self.fc_log_var = nn.Linear(flat, latent)
        self.dense = nn.Linear(latent, flat)
        rev = channels[::-1]
        self.deconvs = nn.ModuleList(
            nn.ConvTranspose2d(i, o, 3, stride=2, padding=1, output_padding=1)
            for i, o in zip((rev[0],) + rev, rev)
        )
        self.output = nn.Conv2d(rev[-1], 1, 3, padding=1)
        self.top = channels[-1]

    def encode(self, x):
        h = F.pad(x.view(-1, 1, 28, 28), (2, 2, 2, 2))
        for conv in self.convs:
            h = F.relu(conv(h))
        h = h.flatten(1)
        return self.fc_mean(h), self.fc_log_var(h)

    def decode(self, z):
        h = self.dense(z).view(-1, self.top, 4, 4)
        for deconv in self.deconvs:
            h = F.relu(deconv(h))
        return self.output(h)[:, :, 2:30, 2:30].reshape(-1, 784)


def loss_fn(model, x, generator=None):
    z_mean, z_log_var = model.encode(x)
    eps = torch.randn(z_mean.shape, generator=generator).to(x.device)
    z = z_mean + torch.exp(0.5 * z_log_var) * eps
    logits = model.decode(z)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
    kl = -0.5 * torch.sum(1 + z_log_var - z_mean.pow(2) - z_log_var.exp(), 1)
    return recon, kl


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_epoch(model, optimizer, images, batch, generator, device):
    order = torch.randperm(len(images), generator=generator)
    sync(device)
    started = time.perf_counter()
    for start in range(0, len(images), batch):
        x = images[order[start : start + batch]].to(device)
        recon, kl = loss_fn(model, x)
        loss = (recon + kl).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if not torch.isfinite(loss).item():
            raise SystemExit("error: the loss became non-finite")
    sync(device)
    return time.perf_counter() - started


def median_ms(fn, repeats, device=torch.device("cpu")):
    times = []
    for _ in range(repeats):
        sync(device)
        started = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times)


def flops_per_image(model_name):
    """Same arithmetic as `vae::bench::training_flops_per_image`."""
    if model_name == "mlp":
        macs = [784 * 400, 2 * 400 * 20, 20 * 400, 400 * 784]
    else:
        macs = [16 * 16 * 32 * 1 * 9, 8 * 8 * 64 * 32 * 9, 4 * 4 * 128 * 64 * 9, 2 * 2048 * 2,
                2 * 2048, 4 * 4 * 128 * 128 * 9, 8 * 8 * 128 * 64 * 9, 16 * 16 * 64 * 32 * 9,
                32 * 32 * 32 * 9]
    return 2.0 * (3.0 * sum(macs) - macs[0])


def bench(args):
    torch.manual_seed(args.seed)
    train = load_images(args.data, "train")
    test = load_images(args.data, "test")
    if args.limit:
        train = train[: args.limit]
    if args.model == "mlp":
        model, lr, batch, latent = MlpVae(), 1e-3, 128, 20
    else:
        model, lr, batch, latent = ConvVae(), 5e-4, 100, 2
    device = torch.device(args.device)
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, eps=1e-8)
    generator = torch.Generator().manual_seed(args.seed)
    model.train()
    if args.warmup_steps:
        run_epoch(model, optimizer, train[: args.warmup_steps * batch], batch, generator, device)
    seconds = [
        run_epoch(model, optimizer, train, batch, generator, device) for _ in range(args.epochs)
    ]
    per_epoch = statistics.median(seconds)

    model.eval()
    with torch.no_grad():
        test_gen = torch.Generator().manual_seed(args.seed)
        total = 0.0
        for start in range(0, len(test), 500):
            recon, kl = loss_fn(model, test[start : start + 500].to(device), test_gen)
            total += (recon + kl).sum().item()
        test_loss = total / len(test)

        def decode(n):
            z = torch.randn(n, latent)
            return lambda: torch.sigmoid(model.decode(z.to(device))).cpu().numpy()

        median_ms(decode(1), 20, device)
        decode1 = median_ms(decode(1), 500, device)
        decode256 = median_ms(decode(256), 30, device) / 256

    ips = len(train) / per_epoch
    flops = flops_per_image(args.model)
    return {
        "framework": f"pytorch {torch.__version__}",
        "model": args.model,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "batch_size": batch,
        "train_images": len(train),
        "epochs": args.epochs,
        "images_per_second": ips,
        "seconds_per_epoch": per_epoch,
        "train_flops_per_image": flops,
        "gflops": ips * flops / 1e9,
        "test_loss": test_loss,
        "decode_ms_batch1": decode1,
        "decode_ms_per_image_batch256": decode256,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def sgemm_peak():
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    for _ in range(3):
        a @ b
    best = min(median_ms(lambda: a @ b, 1) for _ in range(20))
    return {"sgemm_gflops": 2 * 2048**3 / (best / 1e3) / 1e9, "threads": torch.get_num_threads()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=["mlp", "conv"], default="mlp")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--limit", type=int)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--peak", action="store_true", help="measure float32 matmul GFLOP/s and exit")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(json.dumps(sgemm_peak() if args.peak else bench(args)))


if __name__ == "__main__":
    main()

"""PyTorch side of the benchmark: the same models, loss, optimiser, batch, data and
measurements as `vae bench`, printed as one JSON object with the same keys.

M: pytorch/examples vae/main.py (784-400-20, BCE summed over pixels + KL, Adam 1e-3, batch 128).
C: the book's conv VAE (input padded to 32x32, 3x3 stride-2 convs 32/64/128, latent 2,
   transposed convs back, a final 3x3 conv; Adam 5e-4, batch 100).
conv-bn (formerly celeba): the book's CelebA VAE (3x3 stride-2 convs 32/64/64/64, each with batch norm and leaky
   ReLU 0.3, latent 200, transposed convs back with the same, a final 3x3 conv to RGB; squared
   error of sigmoid(logits) summed over pixels + KL; Adam 5e-4, batch 100) on generated 64x64 RGB
   pictures: a background and a disc of random colours, as `vae_bench::generated_pictures`.
Loss per batch = mean over images of (reconstruction summed over pixels + KL), as `vae` computes it.
--task iwae times the importance-weighted bound of `vae eval` (K samples per image, decoded in
passes of at most as many rows as `vae` uses) on the model the warm-up steps trained.

    python vae_bench.py --model mlp --threads 2 --data /usr/share/datasets/fashion-mnist
    python vae_bench.py --model mlp --task iwae --iw-samples 1000 --iw-images 200
    python vae_bench.py --peak --threads 2     # float32 matmul 2048^3, GFLOP/s
    python vae_bench.py --model conv --device cuda   # on a GPU (bench/gpu.sh)

On a GPU, batches are gathered on the host and copied to the device each step, as pytorch/examples
does, and the timers wait for the device (torch.cuda.synchronize) before they read the clock.
"""

import argparse
import gzip
import json
import math
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
    """C (28x28 grey, padded to 32x32, ReLU) or, with norm=True, the CelebA VAE (64x64 RGB,
    batch norm and leaky ReLU 0.3 after every conv and transposed conv)."""

    def __init__(self, channels=(32, 64, 128), latent=2, image=(1, 28, 28), padded=32, norm=False):
        super().__init__()
        self.image, self.padded = image, padded
        ins = (image[0],) + channels[:-1]
        self.convs = nn.ModuleList(
            nn.Conv2d(i, o, 3, stride=2, padding=1) for i, o in zip(ins, channels)
        )
        side = padded >> len(channels)
        flat = channels[-1] * side * side
        self.fc_mean = nn.Linear(flat, latent)
        self.fc_log_var = nn.Linear(flat, latent)
        self.dense = nn.Linear(latent, flat)
        rev = channels[::-1]
        self.deconvs = nn.ModuleList(
            nn.ConvTranspose2d(i, o, 3, stride=2, padding=1, output_padding=1)
            for i, o in zip((rev[0],) + rev, rev)
        )
        self.output = nn.Conv2d(rev[-1], image[0], 3, padding=1)
        self.top = (channels[-1], side, side)
        norms = lambda cs: nn.ModuleList(nn.BatchNorm2d(c) for c in cs) if norm else None
        self.enc_norms, self.dec_norms = norms(channels), norms(rev)

    def activate(self, h, norms, i):
        if norms is None:
            return F.relu(h)
        return F.leaky_relu(norms[i](h), 0.3)

    def encode(self, x):
        c, height, width = self.image
        top, left = (self.padded - height) // 2, (self.padded - width) // 2
        h = x.view(-1, c, height, width)
        if self.padded != height or self.padded != width:
            h = F.pad(h, (left, self.padded - width - left, top, self.padded - height - top))
        for i, conv in enumerate(self.convs):
            h = self.activate(conv(h), self.enc_norms, i)
        h = h.flatten(1)
        return self.fc_mean(h), self.fc_log_var(h)

    def decode(self, z):
        c, height, width = self.image
        top, left = (self.padded - height) // 2, (self.padded - width) // 2
        h = self.dense(z).view(-1, *self.top)
        for i, deconv in enumerate(self.deconvs):
            h = self.activate(deconv(h), self.dec_norms, i)
        h = self.output(h)[:, :, top : top + height, left : left + width]
        return h.reshape(-1, c * height * width)


def generated_pictures(count, generator):
    """64x64 RGB pictures, channel-planar: a background and a disc of random colours, the disc
    at a random place (centre in [16, 48)) and size (radius in [6, 20)), as the `conv-bn`
    benchmark of `vae` draws them."""
    background = torch.rand(count, 3, 1, 1, generator=generator)
    disc = torch.rand(count, 3, 1, 1, generator=generator)
    centre = 16 + 32 * torch.rand(count, 2, generator=generator)
    radius = 6 + 14 * torch.rand(count, generator=generator)
    ys, xs = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    inside = (
        (xs - centre[:, 0, None, None]) ** 2 + (ys - centre[:, 1, None, None]) ** 2
        < radius[:, None, None] ** 2
    )
    images = torch.where(inside[:, None], disc, background)
    return images.reshape(count, -1).contiguous()


def reconstruction(logits, x, kind):
    """Per-image reconstruction loss summed over pixels: BCE from logits, or the squared error
    of sigmoid(logits)."""
    if kind == "mse":
        return (torch.sigmoid(logits) - x).pow(2).sum(1)
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)


def loss_fn(model, x, kind, generator=None):
    z_mean, z_log_var = model.encode(x)
    eps = torch.randn(z_mean.shape, generator=generator).to(x.device)
    z = z_mean + torch.exp(0.5 * z_log_var) * eps
    logits = model.decode(z)
    recon = reconstruction(logits, x, kind)
    kl = -0.5 * torch.sum(1 + z_log_var - z_mean.pow(2) - z_log_var.exp(), 1)
    return recon, kl


def iwae_bound(model, images, kind, samples, rows_per_pass, generator, device):
    """`vae eval`'s IWAE bound: -log (1/K) sum_k p(x|z_k) p(z) / q(z_k|x), z_k ~ q(z|x), averaged
    over images; the log-weights summed in float64 as `vae` does."""
    per_pass = max(rows_per_pass // samples, 1)
    total = 0.0
    for start in range(0, len(images), per_pass):
        x = images[start : start + per_pass].to(device)
        z_mean, z_log_var = model.encode(x)
        n, latent = z_mean.shape
        eps = torch.randn(n, samples, latent, generator=generator).to(device)
        z = z_mean[:, None] + torch.exp(0.5 * z_log_var)[:, None] * eps
        log_w = (0.5 * (-z.pow(2) + eps.pow(2) + z_log_var[:, None])).sum(2).double()
        z = z.reshape(n * samples, latent)
        recon = []
        for row in range(0, n * samples, rows_per_pass):
            rows = torch.arange(row, min(row + rows_per_pass, n * samples), device=device)
            recon.append(reconstruction(model.decode(z[rows]), x[rows // samples], kind))
        log_w -= torch.cat(recon).double().view(n, samples)
        total -= (torch.logsumexp(log_w, 1) - math.log(samples)).sum().item()
    return total / len(images)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_epoch(model, optimizer, images, batch, kind, generator, device):
    order = torch.randperm(len(images), generator=generator)
    sync(device)
    started = time.perf_counter()
    for start in range(0, len(images), batch):
        x = images[order[start : start + batch]].to(device)
        recon, kl = loss_fn(model, x, kind)
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


def forward_macs(model_name):
    """Multiply-adds per image of each weight layer, encoder first: the arithmetic of
    `vae::bench::forward_macs`. Returns (encoder layers, decoder layers)."""
    if model_name == "mlp":
        return [784 * 400, 2 * 400 * 20], [20 * 400, 400 * 784]
    if model_name == "conv":
        image, padded, channels, latent = 1, 32, (32, 64, 128), 2
    else:
        image, padded, channels, latent = 3, 64, (32, 64, 64, 64), 200
    encoder, side, cin = [], padded, image
    for c in channels:
        side //= 2
        encoder.append(side * side * c * cin * 9)
        cin = c
    flat = side * side * cin
    encoder.append(2 * flat * latent)
    decoder = [latent * flat]
    rev = channels[::-1]
    cin = rev[0]
    for c in rev:
        decoder.append(side * side * cin * c * 9)
        side, cin = side * 2, c
    decoder.append(side * side * cin * 9 * image)
    return encoder, decoder


def flops_per_image(model_name, task, samples):
    """Same arithmetic as `vae::bench::training_flops_per_image` and `iwae_flops_per_image`."""
    encoder, decoder = forward_macs(model_name)
    if task == "iwae":
        return 2.0 * (sum(encoder) + samples * sum(decoder))
    return 2.0 * (3.0 * (sum(encoder) + sum(decoder)) - encoder[0])


# Most decoder rows per IWAE pass: `vae`'s own (`Footprint::rows_per_pass` of its 256 MiB budget).
IWAE_ROWS = {"mlp": 5000, "conv": 124, "conv-bn": 23}


def bench(args):
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    if args.model == "conv-bn":
        train = generated_pictures(args.limit or 5000, generator)
        test = generated_pictures(500, generator)
    else:
        train = load_images(args.data, "train")
        test = load_images(args.data, "test")
        if args.limit:
            train = train[: args.limit]
    if args.model == "mlp":
        model, lr, batch, latent, kind = MlpVae(), 1e-3, 128, 20, "bce"
    elif args.model == "conv":
        model, lr, batch, latent, kind = ConvVae(), 5e-4, 100, 2, "bce"
    else:
        model = ConvVae((32, 64, 64, 64), 200, (3, 64, 64), 64, norm=True)
        lr, batch, latent, kind = 5e-4, 100, 200, "mse"
    device = torch.device(args.device)
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, eps=1e-8)
    model.train()
    if args.warmup_steps:
        run_epoch(model, optimizer, train[: args.warmup_steps * batch], batch, kind, generator, device)
    flops = flops_per_image(args.model, args.task, args.iw_samples)
    report = {
        "framework": f"pytorch {torch.__version__}",
        "model": args.model,
        "task": args.task,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "batch_size": batch,
        "train_flops_per_image": flops,
        "decode_ms_batch1": None,
        "decode_ms_per_image_batch256": None,
    }

    if args.task == "iwae":
        model.eval()
        images = test[: args.iw_images]
        with torch.no_grad():
            sync(device)
            started = time.perf_counter()
            bound = iwae_bound(model, images, kind, args.iw_samples, IWAE_ROWS[args.model],
                               torch.Generator().manual_seed(args.seed), device)
            sync(device)
            seconds = time.perf_counter() - started
        ips = len(images) / seconds
        return report | {
            "train_images": len(images),
            "epochs": 0,
            "iw_samples": args.iw_samples,
            "images_per_second": ips,
            "seconds_per_epoch": seconds,
            "gflops": ips * flops / 1e9,
            "test_loss": bound,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }

    seconds = [
        run_epoch(model, optimizer, train, batch, kind, generator, device)
        for _ in range(args.epochs)
    ]
    per_epoch = statistics.median(seconds)

    model.eval()
    with torch.no_grad():
        test_gen = torch.Generator().manual_seed(args.seed)
        total = 0.0
        for start in range(0, len(test), 500):
            recon, kl = loss_fn(model, test[start : start + 500].to(device), kind, test_gen)
            total += (recon + kl).sum().item()
        test_loss = total / len(test)

        def decode(n):
            z = torch.randn(n, latent)
            return lambda: torch.sigmoid(model.decode(z.to(device))).cpu().numpy()

        median_ms(decode(1), 20, device)
        decode1 = median_ms(decode(1), 500, device)
        decode256 = median_ms(decode(256), 30, device) / 256

    ips = len(train) / per_epoch
    return report | {
        "train_images": len(train),
        "epochs": args.epochs,
        "iw_samples": None,
        "images_per_second": ips,
        "seconds_per_epoch": per_epoch,
        "gflops": ips * flops / 1e9,
        "test_loss": test_loss,
        "decode_ms_batch1": decode1,
        "decode_ms_per_image_batch256": decode256,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        # The finiteness check's `.item()` in run_epoch, as in pytorch/examples.
        "host_reads_per_step": 1.0,
    }


def sgemm_peak():
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    for _ in range(3):
        a @ b
    best = min(median_ms(lambda: a @ b, 1) for _ in range(20))
    return {"sgemm_gflops": 2 * 2048**3 / (best / 1e3) / 1e9, "threads": torch.get_num_threads()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=["mlp", "conv", "conv-bn", "celeba"], default="mlp",
                   help="celeba is the older name of conv-bn")
    p.add_argument("--task", choices=["train", "iwae"], default="train")
    p.add_argument("--iw-samples", type=int, default=1000)
    p.add_argument("--iw-images", type=int, default=200)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--limit", type=int)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--peak", action="store_true", help="measure float32 matmul GFLOP/s and exit")
    args = p.parse_args()
    if args.model == "celeba":
        args.model = "conv-bn"
    torch.set_num_threads(args.threads)
    print(json.dumps(sgemm_peak() if args.peak else bench(args)))


if __name__ == "__main__":
    main()

"""Makes crates/vae/tests/fixtures/pytorch-vae: the pytorch/examples MLP VAE trained briefly on
Fashion-MNIST, its state dict, and the test loss PyTorch computes for it.

The model and loss_function are those of pytorch/examples vae/main.py, unchanged. The one
difference from the example's test loop: z = mu instead of a random sample, so the number is
deterministic and `vae import-pytorch` can be checked against it to 1e-3 nats per image.

Usage: python3 scripts/pytorch_vae_fixture.py [--data /usr/share/datasets/fashion-mnist]
       [--out crates/vae/tests/fixtures/pytorch-vae] [--epochs 1]
"""

import argparse
import gzip
import json
import os

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


# Reconstruction + KL divergence losses summed over all elements and batch
def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndims = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndims).reshape(dims)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--out", default="crates/vae/tests/fixtures/pytorch-vae")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)

    def images(name):
        return torch.from_numpy(read_idx(os.path.join(args.data, name)).astype(np.float32) / 255.0)

    train = images("train-images-idx3-ubyte.gz").view(-1, 784)
    test = images("t10k-images-idx3-ubyte.gz").view(-1, 784)

    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train))
        for i in range(0, len(train), 128):
            data = train[order[i : i + 128]]
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            optimizer.step()

    model.eval()
    with torch.no_grad():
        total = 0.0
        for i in range(0, len(test), 1000):
            data = test[i : i + 1000]
            mu, logvar = model.encode(data)
            total += loss_function(model.decode(mu), data, mu, logvar).item()
    test_loss = total / len(test)

    os.makedirs(args.out, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(args.out, "vae.pt"))
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump(
            {
                "test_loss_at_mean": test_loss,
                "test_images": len(test),
                "data": "Fashion-MNIST t10k, grey levels in [0, 1]",
                "epochs": args.epochs,
                "seed": args.seed,
                "torch": torch.__version__,
            },
            f,
            indent=2,
        )
        f.write("\n")
    print(f"test loss (z = mu): {test_loss:.6f} nats per image")


if __name__ == "__main__":
    main()

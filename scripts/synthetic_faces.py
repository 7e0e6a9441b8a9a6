"""Writes a CelebA-shaped folder of synthetic faces, for measuring the image-folder loader and
trying attribute arithmetic without downloading CelebA.

Each picture is a 178x218 JPEG (CelebA's aligned size): a face-coloured ellipse on a random
background, with eyes, a mouth that smiles or not, and glasses or not. `list_attr_celeba.txt`
(CelebA's format) lists Smiling and Eyeglasses for every file.

Usage: python3 scripts/synthetic_faces.py OUT_DIR [--count 10000] [--seed 0]
Needs Pillow and NumPy.
"""

import argparse
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def face(rng):
    w, h = 178, 218
    bg = tuple(int(v) for v in rng.integers(0, 256, 3))
    img = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(img)
    skin = tuple(int(v) for v in np.array([224, 172, 140]) * rng.uniform(0.55, 1.1) // 1)
    cx, cy = w / 2 + rng.normal(0, 6), h / 2 + rng.normal(0, 6)
    fw, fh = rng.uniform(48, 62), rng.uniform(64, 80)
    d.ellipse([cx - fw, cy - fh, cx + fw, cy + fh], fill=skin)
    hair = tuple(int(v) for v in rng.integers(0, 120, 3))
    d.chord([cx - fw, cy - fh - 8, cx + fw, cy + fh * 0.2], 180, 360, fill=hair)
    ey = cy - fh * 0.1
    for ex in (cx - fw * 0.4, cx + fw * 0.4):
        d.ellipse([ex - 7, ey - 4, ex + 7, ey + 4], fill=(250, 250, 250))
        d.ellipse([ex - 3, ey - 3, ex + 3, ey + 3], fill=(40, 30, 20))
    glasses = rng.random() < 0.3
    if glasses:
        for ex in (cx - fw * 0.4, cx + fw * 0.4):
            d.ellipse([ex - 13, ey - 10, ex + 13, ey + 10], outline=(10, 10, 10), width=4)
        d.line([cx - fw * 0.4 + 13, ey, cx + fw * 0.4 - 13, ey], fill=(10, 10, 10), width=3)
    smiling = rng.random() < 0.5
    my = cy + fh * 0.45
    if smiling:
        d.chord([cx - 24, my - 16, cx + 24, my + 14], 0, 180, fill=(150, 30, 40))
        d.rectangle([cx - 16, my - 1, cx + 16, my + 4], fill=(250, 250, 250))
    else:
        d.line([cx - 16, my, cx + 16, my], fill=(120, 40, 40), width=4)
    return img.filter(ImageFilter.GaussianBlur(0.8)), smiling, glasses


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--count", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    images = os.path.join(args.out, "img_align_celeba")
    os.makedirs(images, exist_ok=True)
    rows = []
    for i in range(1, args.count + 1):
        img, smiling, glasses = face(rng)
        name = f"{i:06d}.jpg"
        img.save(os.path.join(images, name), quality=90)
        rows.append(f"{name} {1 if smiling else -1:2d} {1 if glasses else -1:2d}")
    with open(os.path.join(args.out, "list_attr_celeba.txt"), "w") as f:
        f.write(f"{args.count}\nSmiling Eyeglasses\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()

"""Variational autoencoders, beta-VAEs and plain autoencoders in Rust (Burn), from Python.

NumPy in, NumPy out: images are float32 arrays of shape [N, H, W] (grey) or [N, C, H, W] with
values in [0, 1]; latents are arrays of shape [N, latent_dim]. Settings, numbers and errors are
those of the `vae` command line (docs/cli.md), whose flags are the keyword arguments here
(`--latent-dim 2` is `latent_dim=2`).

A count or an array whose result cannot fit in the memory available (`run.sample(10**10)`) is a
ValueError raised before anything is allocated. Ctrl-C stops every long call (train, encode,
decode, sample, reconstruct, evaluate) with KeyboardInterrupt.
"""

import os
import pathlib
from typing import Any, Callable, Dict, List, Literal, Mapping, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

Images = npt.NDArray[np.float32]
Class = Union[str, int]

class VaeError(Exception):
    """A one-line error of the vae library: what is wrong and how to fix it."""

def train(
    config: Union[str, os.PathLike[str], Mapping[str, Any], None] = None,
    *,
    out: Union[str, os.PathLike[str]],
    resume: bool = False,
    progress: Union[Callable[[Dict[str, float]], Any], Literal[False], None] = None,
    **overrides: Any,
) -> Run:
    """Trains a model into the run folder `out` and returns the trained Run.

    `config` is a TOML config file's path or a mapping (a dict) with its keys; `overrides` give
    settings over it (`latent_dim=2`, `arch="conv"`, `beta=4.0`, `epochs=10`). Values are
    Python's or NumPy's scalars (`numpy.int64(2)`), paths or lists. `resume=True` continues
    the run in `out` from its last finished epoch. `progress` is called with a dict of each
    finished epoch's numbers (the keys of metrics.jsonl); by default each epoch is printed, and
    `progress=False` prints nothing. The run folder also gets TensorBoard event files. Ctrl-C
    stops training between two steps (KeyboardInterrupt); `resume=True` goes on from the last
    finished epoch. The GIL is released while it trains.

    Raises VaeError for settings that cannot work, missing data or a folder that already holds
    a run.
    """

class Run:
    """A trained run: its folder's settings and model, to encode, decode, sample and evaluate."""

    @staticmethod
    def load(path: Union[str, os.PathLike[str]], device: Optional[str] = None) -> Run:
        """Loads the run folder `path`, on its own device or `device` ("cpu", "wgpu", "cuda")."""
    def encode(
        self, images: Images, class_: Optional[Class] = None
    ) -> Tuple[npt.NDArray[np.float32], Optional[npt.NDArray[np.float32]]]:
        """The posteriors of `images`: (z_mean, z_log_var), each [N, latent_dim].

        z_log_var is None for a plain autoencoder, which maps each image to one point.
        """
    def decode(
        self, z: Union[npt.NDArray[np.float32], npt.NDArray[np.float64]], class_: Optional[Class] = None
    ) -> Images:
        """The images (mean pixel values) that the latents `z` ([N, latent_dim]) decode to.

        z is read a part at a time (a view is not copied); ValueError when the images cannot fit
        in memory.
        """
    def sample(
        self, n: int, class_: Optional[Class] = None, two_stage: bool = False, seed: int = 0
    ) -> Images:
        """`n` new images: z ~ N(0, I) decoded, or through the second stage (`two_stage=True`).

        The same images as `vae sample` for the same seed. ValueError when they cannot fit in
        memory.
        """
    def reconstruct(self, images: Images, class_: Optional[Class] = None) -> Images:
        """`images` through the model: decoded from their z_mean."""
    def evaluate(
        self,
        iw_samples: int = 1000,
        limit: Optional[int] = None,
        sample_quality: bool = False,
        quality_samples: int = 10000,
        class_fidelity: bool = False,
        fidelity_samples: int = 1000,
    ) -> Dict[str, Any]:
        """Measures the run on its test split with the keys of `vae eval --json` (saves eval.json).

        ValueError when `iw_samples` or `fidelity_samples` cannot fit in memory; Ctrl-C stops it
        between two passes (KeyboardInterrupt).
        """
    @property
    def config(self) -> Dict[str, Any]:
        """Every setting of the run (its config.toml)."""
    @property
    def metrics(self) -> List[Dict[str, float]]:
        """The numbers of every finished epoch (its metrics.jsonl)."""
    @property
    def path(self) -> pathlib.Path:
        """The run folder."""
    @property
    def latent_dim(self) -> int:
        """Dimensions of latent space."""
    @property
    def image_shape(self) -> Tuple[int, int, int]:
        """The shape of one image: (C, H, W)."""
    @property
    def class_names(self) -> Optional[List[str]]:
        """A conditional run's classes (or attributes); None for the others."""

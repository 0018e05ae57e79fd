"""Training-time image augmentation for the deep hashing trainer.

Augmentations run on whole float batches ``(n, c, h, w)`` on the training
device, drawing from torch's global generator, which the trainer seeds per
(stage, epoch): a seeded run stays reproducible on the CPU, and a resumed run
draws the same shifts and flips as an uninterrupted one.

``fit(..., augment=...)`` accepts:

* ``None``: no augmentation;
* ``"shift"``: a random translation of each image by up to
  ``max(1, min(h, w) // 12)`` pixels along each axis (2 pixels on 28 x 28
  and 32 x 32 images), the uncovered border filled with zeros (the raw
  background of MNIST-like images; the network normalises afterwards);
* ``"flip"``: a random horizontal flip (half the images);
* ``"shift+flip"``: both (a usual choice for Fashion-MNIST and CIFAR-10;
  not for digits, whose mirror images are other symbols);
* any callable ``f(batch) -> batch`` taking and returning a float tensor of
  the same shape, e.g. a torchvision v2 transform that works on batches.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

AUGMENT_NAMES = ("shift", "flip", "shift+flip")


def max_shift(height: int, width: int) -> int:
    """Largest translation (pixels) of ``"shift"`` for images of this size."""
    return max(1, min(int(height), int(width)) // 12)


def random_shift(x: torch.Tensor, shift: int) -> torch.Tensor:
    """Translate every image of ``x`` by its own random offset in [-shift, shift]^2.

    The pixels shifted in are zeros.  One padded copy of the batch and one
    gather: no Python loop over images.
    """
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (shift, shift, shift, shift))
    dy = torch.randint(0, 2 * shift + 1, (n,)).to(x.device)
    dx = torch.randint(0, 2 * shift + 1, (n,)).to(x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)[None, :]          # (n, h)
    cols = dx[:, None] + torch.arange(w, device=x.device)[None, :]          # (n, w)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]


def random_hflip(x: torch.Tensor) -> torch.Tensor:
    """Mirror a random half (each image with probability 1/2) left to right."""
    flip = (torch.rand(x.shape[0]) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def make_augment(augment) -> Optional[Callable]:
    """Validate ``fit``'s ``augment`` argument and return a batch function (or None).

    Raises
    ------
    ValueError
        For an unknown name or a value that is neither a name nor callable.
    """
    if augment is None:
        return None
    if callable(augment):
        return augment
    if not isinstance(augment, str) or augment not in AUGMENT_NAMES:
        raise ValueError(f"augment must be None, a callable or one of {AUGMENT_NAMES}, got {augment!r}")
    do_shift = "shift" in augment
    do_flip = "flip" in augment

    def apply(x: torch.Tensor) -> torch.Tensor:
        if do_shift:
            x = random_shift(x, max_shift(x.shape[-2], x.shape[-1]))
        if do_flip:
            x = random_hflip(x)
        return x

    return apply

"""Validation and batching of image and label inputs (the public boundary).

Accepted image layouts
----------------------
* ``uint8`` numpy arrays ``(n, h, w)`` (one channel) or ``(n, h, w, c)``
  with ``c`` in {1, 3} (channels last); values are divided by 255.
* float numpy arrays or torch tensors ``(n, c, h, w)`` (channels first) or
  ``(n, h, w)``, values expected in [0, 1] (the scale of ``uint8 / 255``).
* a uint8 torch tensor is treated like the numpy array of the same layout.
* any other array-like with ``shape``, ``dtype`` and slicing that returns
  numpy arrays (``numpy.memmap``, h5py / zarr datasets, a lazy generator
  object): read one batch at a time; float batches are checked for NaN as
  they are read.

Nothing is converted as a whole: :func:`iter_batches` turns one slice at a
time into a float32 ``(b, c, h, w)`` tensor, so a memory-mapped corpus of any
size is encoded in bounded memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

_CHECK_CHUNK = 8192


@dataclass
class ImageSource:
    """A validated image collection, converted lazily per batch."""

    data: object  # np.ndarray, torch.Tensor or a lazy array-like
    channels_last: bool
    scale: float  # multiply by this after casting to float32
    shape: tuple  # (c, h, w)
    check_batches: bool = False  # lazy float input: NaN check per batch
    name: str = "images"

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def batch(self, start: int, stop: int) -> torch.Tensor:
        """Float32 tensor (b, c, h, w) of images ``start:stop``."""
        return self._convert(self.data[start:stop], start)

    def take(self, idx: np.ndarray) -> torch.Tensor:
        """Float32 tensor of the rows ``idx`` (sorted indices)."""
        return self._convert(self.data[idx], int(idx[0]) if len(idx) else 0)

    def _convert(self, chunk, start: int) -> torch.Tensor:
        if isinstance(chunk, torch.Tensor):
            t = chunk.detach().cpu()
        else:
            t = torch.from_numpy(np.ascontiguousarray(np.asarray(chunk)))
        if self.check_batches and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{self.name} contains NaN or infinite values (in rows {start}..)")
        t = t.to(torch.float32)
        if self.scale != 1.0:
            t = t * self.scale
        if t.ndim == 3:
            t = t.unsqueeze(1)
        elif self.channels_last:
            t = t.permute(0, 3, 1, 2)
        return t.contiguous()


def as_images(images, name: str = "images", expect_shape=None) -> ImageSource:
    """Validate ``images`` and describe their layout.

    Parameters
    ----------
    images : ndarray or torch.Tensor
        See the module docstring for the accepted layouts.
    name : str
        Argument name for error messages.
    expect_shape : tuple (c, h, w), optional
        The layout a fitted model was trained on; a mismatch is a ValueError.

    Returns
    -------
    ImageSource
    """
    if isinstance(images, (list, tuple)):
        images = np.asarray(images)
    lazy = not isinstance(images, (np.ndarray, torch.Tensor))
    if lazy and not (hasattr(images, "shape") and hasattr(images, "dtype")
                     and hasattr(images, "__getitem__")):
        raise TypeError(
            f"{name} must be a numpy array, a torch tensor or an array-like with shape, "
            f"dtype and slicing; got {type(images).__name__}"
        )
    is_np = not isinstance(images, torch.Tensor)
    dtype = np.dtype(images.dtype) if is_np else images.dtype
    if is_np:
        is_uint8 = dtype == np.uint8
        is_float = dtype.kind == "f"
    else:
        is_uint8 = dtype == torch.uint8
        is_float = dtype.is_floating_point
    if not (is_uint8 or is_float):
        raise TypeError(
            f"{name} must be uint8 (n, h, w[, c]) or float (n, c, h, w); got dtype {dtype}"
        )
    shape = tuple(int(s) for s in images.shape)
    if len(shape) not in (3, 4):
        raise ValueError(
            f"{name} must be (n, h, w), uint8 (n, h, w, c) or float (n, c, h, w); "
            f"got shape {shape}"
        )
    if shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {shape})")
    if len(shape) == 3:
        chw = (1, shape[1], shape[2])
        channels_last = False
    elif is_uint8:
        if shape[3] not in (1, 3):
            raise ValueError(
                f"{name}: uint8 images are channels-last (n, h, w, c) with c in (1, 3); "
                f"got shape {shape} (pass float (n, c, h, w) for channels-first)"
            )
        chw = (shape[3], shape[1], shape[2])
        channels_last = True
    else:
        if shape[1] not in (1, 3):
            raise ValueError(
                f"{name}: float images are channels-first (n, c, h, w) with c in (1, 3); "
                f"got shape {shape}"
            )
        chw = (shape[1], shape[2], shape[3])
        channels_last = False
    if min(chw[1:]) < 4:
        raise ValueError(f"{name}: images of {chw[1]}x{chw[2]} pixels are too small (min 4x4)")
    if expect_shape is not None and tuple(expect_shape) != chw:
        raise ValueError(
            f"{name}: the model was trained on images of (channels, height, width) = "
            f"{tuple(expect_shape)}, got {chw} (from shape {shape})"
        )
    if is_float and not lazy:
        _check_finite(images, name)
    return ImageSource(images, channels_last, 1.0 / 255.0 if is_uint8 else 1.0, chw,
                       check_batches=is_float and lazy, name=name)


def _check_finite(images, name: str) -> None:
    n = images.shape[0]
    for s in range(0, n, _CHECK_CHUNK):
        chunk = images[s : s + _CHECK_CHUNK]
        ok = np.isfinite(chunk).all() if isinstance(chunk, np.ndarray) else bool(
            torch.isfinite(chunk).all()
        )
        if not ok:
            raise ValueError(f"{name} contains NaN or infinite values (in rows {s}..)")


def as_labels(labels, n: int, n_classes=None, name: str = "labels") -> np.ndarray:
    """Validate class labels: integers in ``[0, n_classes)``, one per image.

    Returns an int64 array.  ``n_classes=None`` accepts any non-negative label.
    """
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (n,), got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries but there are {n} images")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must be integer class indices (got non-integer floats)")
    elif arr.dtype.kind not in "iub":
        raise TypeError(f"{name} must be integer class indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be >= 0 (class indices), got {arr.min()}")
    if n_classes is not None and arr.size and arr.max() >= n_classes:
        raise ValueError(
            f"{name} out of range: the model has {n_classes} classes (0..{n_classes - 1}), "
            f"got label {arr.max()}"
        )
    return arr


def channel_stats(src: ImageSource, max_images: int = 10000, batch: int = 2048):
    """Per-channel mean and standard deviation over (up to) ``max_images`` images."""
    n = min(len(src), max_images)
    c = src.shape[0]
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    count = 0
    for s in range(0, n, batch):
        x = src.batch(s, min(n, s + batch)).to(torch.float64)
        total += x.sum(dim=(0, 2, 3))
        total_sq += (x * x).sum(dim=(0, 2, 3))
        count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(1e-12).sqrt().clamp_min(1e-3)
    return mean.to(torch.float32), std.to(torch.float32)

"""The network side of a deep hashing model: device choice and the net base.

A model's ``torch.nn.Module`` is a :class:`HashNet`: the input
normalisation (per-channel mean / std buffers, saved with the weights), a
backbone (:mod:`hamsearch.encoders.deep.backbones`) and a model-specific
``head``.  The helpers here move tensors between the net and numpy.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .backbones import adapt_input

__all__ = ["HashNet", "resolve_device", "cpu_state", "to_float", "take_rows"]


def resolve_device(device) -> torch.device:
    """``"auto"`` -> cuda when available, else cpu; anything else as given.

    Raises
    ------
    ValueError
        CUDA was asked for and is not available.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available")
    return dev


class HashNet(nn.Module):
    """Input normalisation + backbone + a model-specific head.

    ``forward`` returns a dict with ``"features"`` (F7), ``"hash"`` (the hash
    layer's output: sigmoid probabilities or pre-activations, per model) and,
    when the model has a class layer, ``"logits"``.
    """

    def __init__(self, backbone: nn.Module, in_channels: int):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("input_mean", torch.zeros(in_channels))
        self.register_buffer("input_std", torch.ones(in_channels))

    def head(self, features: torch.Tensor) -> dict:  # pragma: no cover - abstract
        """The model-specific layers on top of the backbone's features."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> dict:
        """Normalise ``x``, run the backbone, then :meth:`head`."""
        x = (x - self.input_mean[None, :, None, None]) / self.input_std[None, :, None, None]
        x = adapt_input(x, self.backbone)
        return self.head(self.backbone(x))


def cpu_state(net: nn.Module) -> dict:
    """A detached CPU copy of ``net``'s state dict."""
    return {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}


def to_float(out: dict) -> dict:
    """The net's output dict with every floating tensor in float32 (after autocast)."""
    return {k: (v.float() if torch.is_tensor(v) and v.is_floating_point() else v)
            for k, v in out.items()}


def take_rows(src, idx: np.ndarray) -> torch.Tensor:
    """Float32 batch of the (sorted) rows ``idx`` of an ImageSource."""
    if len(idx) and idx[-1] - idx[0] + 1 == len(idx):
        return src.batch(int(idx[0]), int(idx[-1]) + 1)
    return src.take(idx)

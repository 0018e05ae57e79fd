"""Model files and training checkpoints: what is written and how it is read back.

A model file is a ``torch.save`` dict of tensors and plain Python values
(:func:`export_model`): the format tag, the class name, the constructor
parameters, the input layout, the number of classes, the state dict and the
training history, so it loads with ``torch.load(..., weights_only=True)``.
A training checkpoint (:func:`write_checkpoint`) wraps a model blob with the
trainer's position (stage, epoch, early-stopping state, optimiser state).
Both are written with :func:`hamsearch._atomic.atomic_write` (temporary file,
fsync, rename): a crash leaves the previous file or the new one.
"""

from __future__ import annotations

import os

import torch

from ..._atomic import atomic_write
from .net import cpu_state
from .training import TrainState

__all__ = ["FORMAT", "FORMAT_VERSION", "CHECKPOINT_FORMAT", "atomic_save", "export_model",
           "model_from_export", "write_checkpoint", "read_checkpoint"]

FORMAT = "hamsearch-deep-model"
FORMAT_VERSION = 1
CHECKPOINT_FORMAT = FORMAT + "-checkpoint"


def atomic_save(obj, path) -> None:
    """``torch.save(obj)`` to ``path`` through :func:`~hamsearch._atomic.atomic_write`."""
    with atomic_write(path, "wb", what="model") as fh:
        torch.save(obj, fh)


def export_model(model) -> dict:
    """The plain-data blob of a fitted :class:`~hamsearch.encoders.deep.base.DeepHashModel`."""
    model._check_fitted()
    params = model.get_params(deep=False)
    if params.get("backbone_weights") is not None:
        params["backbone_weights"] = os.fspath(params["backbone_weights"])
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "class": type(model).__name__,
        "params": params,
        "input_shape": list(model.input_shape_),
        "n_classes": model.n_classes_,
        "state_dict": cpu_state(model.net_),
        "history": list(getattr(model, "history_", [])),
    }


def model_from_export(cls, blob: dict):
    """Inverse of :func:`export_model`: a fitted ``cls`` in eval mode."""
    model = cls(**blob["params"])
    model._setup(blob["input_shape"], blob["n_classes"], load_weights=False)
    model.net_.load_state_dict(blob["state_dict"])
    model.net_.eval()
    model.history_ = list(blob.get("history", []))
    return model


def write_checkpoint(model, path, state: TrainState) -> None:
    """Write ``model`` and the trainer's ``state`` to ``path`` (atomically)."""
    atomic_save({
        "format": CHECKPOINT_FORMAT,
        "model": model._export(),
        "stage": state.stage,
        "epoch": state.epoch,
        "history": state.history,
        "best_loss": state.best_loss,
        "bad_epochs": state.bad_epochs,
        "best_state": state.best_state,
        "optimizer": state.optimizer,
    }, path)


def read_checkpoint(path, input_shape, n_classes: int):
    """The model blob and trainer state of the checkpoint at ``path``.

    Raises
    ------
    ValueError
        Not a training checkpoint, or one made for other images or another
        number of classes.
    """
    data = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a hamsearch training checkpoint")
    blob = data["model"]
    if tuple(blob["input_shape"]) != tuple(input_shape) or blob["n_classes"] != n_classes:
        raise ValueError(
            f"checkpoint {path} was made for images {tuple(blob['input_shape'])} "
            f"and {blob['n_classes']} classes; got {tuple(input_shape)} and {n_classes}"
        )
    state = TrainState(
        stage=int(data["stage"]), epoch=int(data["epoch"]), history=list(data["history"]),
        best_loss=float(data["best_loss"]), bad_epochs=int(data["bad_epochs"]),
        best_state=data.get("best_state"), optimizer=data.get("optimizer"),
    )
    return blob, state

"""The deep hashing model base: hyper-parameters, set-up, ``fit``.

A model is a thin estimator object (hyper-parameters stored verbatim in
``__init__``, fitted state in trailing-underscore attributes) around a
``torch.nn.Module`` built at ``fit`` time from the images' layout and the
number of classes.  Subclasses provide the network (``_build_net``), the
training schedule (``_stages``) and how bits are read off the hash layer
(``_bits``).  The rest lives in one module per job:

* :mod:`~hamsearch.encoders.deep.net` -- the net base (:class:`HashNet`) and
  the device choice;
* :mod:`~hamsearch.encoders.deep.training` -- stages, the cosine schedule
  (torch's ``LambdaLR``), the trainer;
* :mod:`~hamsearch.encoders.deep.encoding` -- ``encode`` / ``features`` /
  ``encode_into``;
* :mod:`~hamsearch.encoders.deep.checkpoint` -- model files and training
  checkpoints;
* :mod:`hamsearch.encoders._params` -- parameter handling, shared with the
  shallow hashers.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch

from ...codes import check_nbits, pack
from .._params import NotFittedError, ParamsMixin, check_positive_int
from ._input import as_images, as_labels, channel_stats
from .augment import make_augment
from .backbones import check_backbone_name
from .checkpoint import (FORMAT, FORMAT_VERSION, atomic_save, export_model, model_from_export,
                         read_checkpoint, write_checkpoint)
from .encoding import EncoderMixin, unit_rows
from .net import HashNet, resolve_device, to_float
from .training import Stage, Trainer, TrainState, split_validation

__all__ = ["DeepHashModel", "EncoderMixin", "HashNet", "Stage", "NotFittedError", "FORMAT",
           "FORMAT_VERSION", "resolve_device", "unit_rows", "atomic_save"]


class DeepHashModel(ParamsMixin, EncoderMixin):
    """Base class of the end-to-end deep hashing models.

    Subclasses implement ``_build_net(in_channels, n_classes)``,
    ``_stages(epochs)`` and ``_bits(out)``.  See :meth:`fit`.  Parameter
    handling (``get_params`` / ``set_params`` / ``repr``, :class:`NotFittedError`)
    is :class:`~hamsearch.encoders._params.ParamsMixin`'s, training the
    :class:`~hamsearch.encoders.deep.training.Trainer`'s, the file format
    :mod:`~hamsearch.encoders.deep.checkpoint`'s.
    """

    _fitted_attr = "net_"
    _fit_hint = "call fit() or load()"

    @property
    def default_lr(self) -> float:
        """Learning rate used by :meth:`fit` when ``lr`` is None."""
        return 3e-3 if self.backbone == "zhong" else 1e-3

    def __init__(self, nbits: int = 48, backbone: str = "small", feature_dim=None,
                 backbone_weights=None, pretrained: bool = False, random_state: int = 0,
                 verbose: bool = True):
        self.nbits = nbits
        self.backbone = backbone
        self.feature_dim = feature_dim
        self.backbone_weights = backbone_weights
        self.pretrained = pretrained
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------ parameters
    def _validate_params(self):
        """Check the hyper-parameters (never rewriting them: sklearn's convention)."""
        check_nbits(self.nbits)
        if self.feature_dim is not None:
            check_positive_int(self.feature_dim, "feature_dim")
        if self.backbone not in getattr(self, "_extra_backbones", ()):
            check_backbone_name(self.backbone)

    # ------------------------------------------------------------ subclass API
    def _build_net(self, in_channels: int, n_classes: int) -> HashNet:  # pragma: no cover
        raise NotImplementedError

    def _stages(self, epochs: int) -> list:  # pragma: no cover
        raise NotImplementedError

    def _bits(self, out: dict) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _make_backbone(self, in_channels: int):
        from .backbones import make_backbone

        load_weights = getattr(self, "_load_weights_flag", True)

        return make_backbone(
            self.backbone, in_channels, self.feature_dim,
            weights=self.backbone_weights if load_weights else None,
            pretrained=self.pretrained and load_weights,
        )

    # ------------------------------------------------------------ fitted state
    def _input_shape(self):
        return self.input_shape_

    def _setup(self, input_shape, n_classes, load_weights=True):
        self._validate_params()
        self.input_shape_ = tuple(int(v) for v in input_shape)
        self.n_classes_ = int(n_classes)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.random_state))
            self.net_ = self._build_net_checked(self.input_shape_[0], self.n_classes_, load_weights)
        self.device_ = torch.device("cpu")

    def _build_net_checked(self, in_channels, n_classes, load_weights):
        self._load_weights_flag = load_weights
        try:
            return self._build_net(in_channels, n_classes)
        finally:
            self._load_weights_flag = True

    # ------------------------------------------------------------ training
    def fit(self, images, labels, epochs: int = 10, batch_size: int = 128, lr=None,
            weight_decay: float = 1e-4, device="auto", validation_fraction: float = 0.0,
            early_stopping=None, checkpoint=None, resume: bool = False, n_classes=None,
            augment=None, plain_final_epochs: int = 0, warm_start: bool = False):
        """Train the network on labelled images.

        Parameters
        ----------
        images : ndarray or torch.Tensor
            uint8 ``(n, h, w)`` / ``(n, h, w, c)`` or float ``(n, c, h, w)``.
        labels : array_like of int, shape (n,)
            Class indices ``0 .. n_classes - 1``.
        epochs : int
            Total passes over the training set, shared among the model's
            training stages (see the class docstring).
        batch_size, lr, weight_decay : training hyper-parameters (Adam with a
            cosine learning-rate decay within each stage:
            :func:`~hamsearch.encoders.deep.training.cosine_schedule`); ``lr=None`` takes
            the model's default (``default_lr``: 1e-3, 3e-3 for the
            batch-norm-free Zhong net).
        device : "auto", "cpu", "cuda", torch.device
            ``"auto"`` picks CUDA when available.  On CUDA, training uses
            mixed precision (autocast + gradient scaling).
        validation_fraction : float in [0, 1)
            Held-out share of the images (seeded split) for validation loss /
            accuracy after each epoch.
        early_stopping : int, optional
            Patience in epochs: a stage stops when the validation loss has not
            improved for that many epochs, and its best weights are restored.
            Needs ``validation_fraction > 0``.
        checkpoint : str or path, optional
            Written after every epoch (model, optimiser, stage, epoch, history).
        resume : bool
            Continue from ``checkpoint`` when it exists.  Shuffling and dropout
            are seeded per (stage, epoch), so a resumed run on the CPU ends
            with the same weights as an uninterrupted one.
        n_classes : int, optional
            Number of classes (default: ``max(labels) + 1``).
        augment : None, "shift", "flip", "shift+flip" or callable
            Random augmentation of every training batch (validation batches
            are not augmented): translations by up to ``min(h, w) // 12``
            pixels, horizontal flips, or a function mapping a float batch
            ``(n, c, h, w)`` to one of the same shape.  Seeded like the
            shuffling (see :mod:`hamsearch.encoders.deep.augment`).
        plain_final_epochs : int
            With ``augment``, train the last this many epochs (counted over
            the whole schedule) on the images as they are.  When the
            training set is also the database, as in the papers' protocol,
            this lets the net fit the database codes exactly after
            augmentation has made it generalise.
        warm_start : bool
            When the model is already fitted, start from its weights (and its
            input normalisation) instead of a fresh initialisation, and run a
            new schedule of ``epochs`` with a fresh optimiser: fine-tuning,
            e.g. on plain images after an augmented run.  The images must have
            the fitted shape and the same number of classes.  Ignored by an
            unfitted model and when ``resume`` finds a checkpoint.

        Returns
        -------
        self
        """
        epochs = check_positive_int(epochs, "epochs")
        batch_size = check_positive_int(batch_size, "batch_size")
        if lr is None:
            lr = self.default_lr
        if isinstance(lr, bool) or not (isinstance(lr, (int, float)) and lr > 0):
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        if isinstance(weight_decay, bool) or not (
                isinstance(weight_decay, (int, float)) and 0 <= weight_decay < math.inf):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
        if not (0.0 <= float(validation_fraction) < 1.0):
            raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
        if early_stopping is not None:
            early_stopping = check_positive_int(early_stopping, "early_stopping")
            if validation_fraction <= 0:
                raise ValueError("early_stopping needs validation_fraction > 0")
        if resume and checkpoint is None:
            raise ValueError("resume=True needs checkpoint=path")
        augment_fn = make_augment(augment)
        if isinstance(plain_final_epochs, bool) or not isinstance(plain_final_epochs, (int, np.integer)) \
                or plain_final_epochs < 0:
            raise ValueError(f"plain_final_epochs must be an int >= 0, got {plain_final_epochs!r}")
        self._validate_params()
        src = as_images(images, "images")
        if n_classes is not None:
            n_classes = check_positive_int(n_classes, "n_classes")
        y = as_labels(labels, len(src), n_classes)
        n_classes = int(n_classes if n_classes is not None else y.max() + 1)
        if n_classes < 2:
            raise ValueError("labels must contain at least 2 classes")
        if not isinstance(warm_start, (bool, np.bool_)):
            raise TypeError(f"warm_start must be True or False, got {warm_start!r}")
        warm = bool(warm_start) and getattr(self, "net_", None) is not None
        if warm and (tuple(src.shape) != tuple(self.input_shape_) or n_classes != self.n_classes_):
            raise ValueError(
                f"warm_start: the model was fitted on images {tuple(self.input_shape_)} with "
                f"{self.n_classes_} classes; got {tuple(src.shape)} and {n_classes}"
            )
        dev = resolve_device(device)

        state = TrainState()
        if resume and os.path.exists(os.fspath(checkpoint)):
            blob, state = read_checkpoint(checkpoint, src.shape, n_classes)
            self._setup(src.shape, n_classes, load_weights=False)
            self.net_.load_state_dict(blob["state_dict"])
        elif warm:
            state.history = list(getattr(self, "history_", []))
        else:
            self._setup(src.shape, n_classes)
            mean, std = channel_stats(src)
            self.net_.input_mean.copy_(mean)
            self.net_.input_std.copy_(std)

        train_idx, val_idx = split_validation(len(src), validation_fraction, int(self.random_state))
        self.net_.to(dev)
        self.device_ = dev
        self.history_ = state.history
        trainer = Trainer(self, src, y, train_idx, val_idx, batch_size=batch_size, lr=lr,
                          weight_decay=weight_decay, device=dev, patience=early_stopping,
                          checkpoint=checkpoint, augment_fn=augment_fn)
        trainer.run(self._stages(epochs), state, plain_final_epochs)
        self.net_.eval()
        if checkpoint is not None:
            self._write_checkpoint(checkpoint, state)
        return self

    def _write_checkpoint(self, path, state: TrainState):
        write_checkpoint(self, path, state)

    # ------------------------------------------------------------ encoding
    @torch.no_grad()
    def _encode_chunk(self, src, start, stop, want_codes, want_features, batch_size):
        net = self.net_
        net.eval()
        dev = self.device_
        x = src.batch(start, stop).to(dev)
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=dev.type == "cuda"):
            out = net(x)
        codes = feats = None
        if want_codes:
            codes = pack(self._bits(to_float(out)).cpu().numpy().astype(np.uint8), self.nbits)
        if want_features:
            feats = out["features"].float().cpu().numpy().astype(np.float32, copy=False)
        return codes, feats

    def to(self, device):
        """Move the fitted network to ``device``; returns self."""
        self._check_fitted()
        dev = resolve_device(device)
        self.net_.to(dev)
        self.device_ = dev
        return self

    # ------------------------------------------------------------ save / load
    def _export(self) -> dict:
        return export_model(self)

    @classmethod
    def _from_export(cls, blob: dict):
        return model_from_export(cls, blob)

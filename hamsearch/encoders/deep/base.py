"""The shared machinery of the deep hashing models: trainer, encoders, I/O.

A model is a thin estimator object (hyper-parameters stored verbatim in
``__init__``, fitted state in trailing-underscore attributes) around a
``torch.nn.Module`` built at ``fit`` time from the images' layout and the
number of classes.  Subclasses provide the network (``_build_net``), the
training schedule (``_stages``) and how bits are read off the hash layer
(``_bits``); everything else lives here.
"""

from __future__ import annotations

import copy
import inspect
import math
import os
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from ._input import as_images, as_labels, channel_stats
from ._progress import Progress
from .augment import make_augment
from .backbones import adapt_input

FORMAT = "hamsearch-deep-model"
FORMAT_VERSION = 1


def resolve_device(device) -> torch.device:
    """``"auto"`` -> cuda when available, else cpu; anything else as given."""
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
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> dict:
        x = (x - self.input_mean[None, :, None, None]) / self.input_std[None, :, None, None]
        x = adapt_input(x, self.backbone)
        return self.head(self.backbone(x))


@dataclass
class Stage:
    """One phase of training.

    ``loss(out, y)`` maps the network's output dict and the labels to a scalar;
    ``trainable(net)`` lists the parameters the phase updates (the others are
    frozen); modules returned by ``frozen(net)`` run in eval mode (fixed
    batch-norm statistics, no dropout).
    """

    name: str
    epochs: int
    loss: Callable
    trainable: Callable
    frozen: Optional[Callable] = None
    lr_scale: float = 1.0
    accuracy: bool = False


@dataclass
class _TrainState:
    stage: int = 0
    epoch: int = 0
    history: list = field(default_factory=list)
    best_loss: float = math.inf
    bad_epochs: int = 0
    best_state: Optional[dict] = None
    optimizer: Optional[dict] = None


class EncoderMixin:
    """``encode`` / ``features`` / ``encode_into`` on top of ``_encode_chunk``,
    ``save`` / ``load`` on top of ``_export`` and ``serialize.load_model``."""

    nbits: int

    def _check_fitted(self):
        raise NotImplementedError

    def _export(self) -> dict:
        raise NotImplementedError

    def save(self, path) -> None:
        """Write the model (hyper-parameters, weights, fitted state) with ``torch.save``.

        The file holds only tensors and plain Python values, so it loads with
        ``torch.load(..., weights_only=True)`` (no pickled objects).
        """
        _atomic_save(self._export(), path)

    @classmethod
    def load(cls, path, device="cpu"):
        """Read a model written by :meth:`save`; ``device`` as in ``fit``."""
        from .serialize import load_model

        model = load_model(path, device=device)
        if not isinstance(model, cls):
            raise ValueError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model

    def _input_shape(self):
        raise NotImplementedError

    def _encode_chunk(self, src, start, stop, want_codes, want_features, batch_size):
        raise NotImplementedError

    def _iter_chunks(self, images, batch_size, want_codes, want_features, name="images",
                     normalize=False):
        self._check_fitted()
        batch_size = _check_positive_int(batch_size, "batch_size")
        if not isinstance(normalize, (bool, np.bool_)):
            raise TypeError(f"normalize_features must be True or False, got {normalize!r}")
        src = as_images(images, name, expect_shape=self._input_shape())
        n = len(src)
        for s in range(0, n, batch_size):
            e = min(n, s + batch_size)
            codes, feats = self._encode_chunk(src, s, e, want_codes, want_features, batch_size)
            if normalize and feats is not None:
                feats = unit_rows(feats)
            yield s, e, (codes, feats)

    def encode(self, images, batch_size: int = 1024, return_features: bool = False,
               normalize_features: bool = False):
        """Binary codes of ``images``, packed in the FAISS layout.

        Parameters
        ----------
        images : ndarray or torch.Tensor
            uint8 ``(n, h, w)`` / ``(n, h, w, c)`` or float ``(n, c, h, w)``
            in [0, 1], with the layout the model was trained on.
        batch_size : int
            Images per forward pass; memory stays bounded by it.
        return_features : bool
            Also return the re-ranking features.
        normalize_features : bool
            Scale each feature vector to unit L2 norm, so that the index's L2
            (or inner-product) re-ranking ranks by cosine similarity -- on
            ReLU features such as F7 usually the better re-ranking metric.

        Returns
        -------
        codes : ndarray of uint8, shape (n, nbits // 8)
        features : ndarray of float32, shape (n, d)
            Only with ``return_features=True``.
        """
        codes, feats = [], []
        for _, _, (c, f) in self._iter_chunks(images, batch_size, True, return_features,
                                              normalize=normalize_features):
            codes.append(c)
            if return_features:
                feats.append(f)
        codes = np.concatenate(codes)
        return (codes, np.concatenate(feats)) if return_features else codes

    def features(self, images, batch_size: int = 1024, normalize: bool = False) -> np.ndarray:
        """Float32 re-ranking features ``(n, d)`` (F7 for the latent-layer net).

        ``normalize=True`` scales every row to unit L2 norm (see :meth:`encode`).
        """
        return np.concatenate(
            [f for _, _, (_, f) in self._iter_chunks(images, batch_size, False, True,
                                                     normalize=normalize)]
        )

    def encode_into(self, index, images, ids=None, batch_size: int = 1024,
                    features="auto", normalize_features: bool = False) -> int:
        """Encode ``images`` batch by batch straight into ``index``.

        Memory stays bounded by ``batch_size`` whatever the corpus size: pass a
        ``numpy.memmap`` (or any sliceable array) for corpora that do not fit
        in RAM.  Each batch is one ``index.add(codes, ids=ids_chunk[,
        features=feats_chunk])`` call.

        Parameters
        ----------
        index : hamsearch.Index (or anything with ``add(codes, ids=...)``)
        images : array_like
            As for :meth:`encode`.
        ids : array_like of int64, shape (n,), optional
            External ids; None lets the index number the rows.
        batch_size : int
        features : {"auto", True, False}
            Pass re-ranking features to ``index.add(..., features=...)``.
            ``"auto"`` does so when ``index.add`` accepts a ``features``
            argument (detected with :func:`inspect.signature`); ``True``
            requires it.
        normalize_features : bool
            Store unit-norm features (cosine re-ranking; see :meth:`encode`).
            Queries must then be encoded with ``normalize_features=True`` too.

        Returns
        -------
        int
            Number of images added.
        """
        accepts = _accepts_features(index)
        if features == "auto":
            want_f = accepts
        elif features is True:
            if not accepts:
                raise ValueError("features=True but index.add takes no 'features' argument")
            want_f = True
        elif features is False:
            want_f = False
        else:
            raise ValueError(f"features must be 'auto', True or False, got {features!r}")
        n_images = int(images.shape[0]) if hasattr(images, "shape") else len(images)
        if ids is not None:
            ids = np.asarray(ids)
            if ids.ndim != 1 or ids.shape[0] != n_images:
                raise ValueError(f"ids must be 1-D with {n_images} entries, got shape {ids.shape}")
            if ids.dtype.kind not in "iu":
                raise TypeError(f"ids must be integers, got dtype {ids.dtype}")
        added = 0
        for s, e, (codes, feats) in self._iter_chunks(images, batch_size, True, want_f,
                                                      normalize=normalize_features):
            kwargs = {}
            if ids is not None:
                kwargs["ids"] = ids[s:e].astype(np.int64)
            if want_f:
                kwargs["features"] = feats
            index.add(codes, **kwargs)
            added += e - s
        return added


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm (all-zero rows stay zero), float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    return (x / np.where(norms > 0, norms, 1.0)[:, None]).astype(np.float32, copy=False)


def _accepts_features(index) -> bool:
    try:
        params = inspect.signature(index.add).parameters
    except (TypeError, ValueError):
        return False
    return "features" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


class DeepHashModel(EncoderMixin):
    """Base class of the end-to-end deep hashing models.

    Subclasses implement ``_build_net(in_channels, n_classes)``,
    ``_stages(epochs)`` and ``_bits(out)``.  See :meth:`fit`.
    """

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
    @classmethod
    def _param_names(cls):
        names = []
        for klass in cls.__mro__:
            if "__init__" in vars(klass):
                sig = inspect.signature(klass.__init__)
                for p in list(sig.parameters.values())[1:]:
                    if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                        continue
                    if p.name not in names:
                        names.append(p.name)
                break
        return names

    def get_params(self, deep: bool = False) -> dict:
        """Constructor parameters (scikit-learn convention)."""
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params):
        """Set constructor parameters; returns self."""
        valid = self._param_names()
        for k, v in params.items():
            if k not in valid:
                raise ValueError(f"invalid parameter {k!r} for {type(self).__name__}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _validate_params(self):
        from ...codes import check_nbits

        self.nbits = check_nbits(self.nbits)
        from .backbones import check_backbone_name

        if self.feature_dim is not None:
            self.feature_dim = _check_positive_int(self.feature_dim, "feature_dim")

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
    def _check_fitted(self):
        if getattr(self, "net_", None) is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() or load()")

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
            cosine learning-rate decay within each stage); ``lr=None`` takes
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
        epochs = _check_positive_int(epochs, "epochs")
        batch_size = _check_positive_int(batch_size, "batch_size")
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
            early_stopping = _check_positive_int(early_stopping, "early_stopping")
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
            n_classes = _check_positive_int(n_classes, "n_classes")
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

        state = _TrainState()
        ckpt_data = None
        if resume and os.path.exists(os.fspath(checkpoint)):
            ckpt_data = torch.load(os.fspath(checkpoint), map_location="cpu", weights_only=True)
            if ckpt_data.get("format") != FORMAT + "-checkpoint":
                raise ValueError(f"{checkpoint} is not a hamsearch training checkpoint")
            model_blob = ckpt_data["model"]
            if tuple(model_blob["input_shape"]) != src.shape or model_blob["n_classes"] != n_classes:
                raise ValueError(
                    f"checkpoint {checkpoint} was made for images {tuple(model_blob['input_shape'])} "
                    f"and {model_blob['n_classes']} classes; got {src.shape} and {n_classes}"
                )
            self._setup(src.shape, n_classes, load_weights=False)
            self.net_.load_state_dict(model_blob["state_dict"])
            state = _TrainState(
                stage=int(ckpt_data["stage"]), epoch=int(ckpt_data["epoch"]),
                history=list(ckpt_data["history"]), best_loss=float(ckpt_data["best_loss"]),
                bad_epochs=int(ckpt_data["bad_epochs"]), best_state=ckpt_data.get("best_state"),
                optimizer=ckpt_data.get("optimizer"),
            )
        elif warm:
            state.history = list(getattr(self, "history_", []))
        else:
            self._setup(src.shape, n_classes)
            mean, std = channel_stats(src)
            self.net_.input_mean.copy_(mean)
            self.net_.input_std.copy_(std)

        seed = int(self.random_state)
        n = len(src)
        perm = np.random.default_rng(seed).permutation(n)
        n_val = int(round(n * float(validation_fraction)))
        if validation_fraction > 0 and n_val == 0:
            n_val = 1
        val_idx = np.sort(perm[:n_val])
        train_idx = np.sort(perm[n_val:])
        if len(train_idx) == 0:
            raise ValueError("no training images left after the validation split")

        self.net_.to(dev)
        self.device_ = dev
        stages = self._stages(epochs)
        self.history_ = state.history
        # epochs of each stage that see augmented images (the schedule's last
        # ``plain_final_epochs`` epochs do not)
        starts = np.cumsum([0] + [max(0, st.epochs) for st in stages])
        plain_from = starts[-1] - int(plain_final_epochs)
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            for si in range(state.stage, len(stages)):
                stage = stages[si]
                if stage.epochs <= 0:
                    continue
                self._run_stage(si, stage, src, y, train_idx, val_idx, batch_size, lr,
                                weight_decay, dev, early_stopping, checkpoint, state, augment_fn,
                                augment_epochs=int(plain_from - starts[si]))
                state.stage, state.epoch = si + 1, 0
                state.best_loss, state.bad_epochs, state.best_state, state.optimizer = (
                    math.inf, 0, None, None)
        self.net_.eval()
        if checkpoint is not None:
            self._write_checkpoint(checkpoint, state)
        return self

    def _run_stage(self, si, stage, src, y, train_idx, val_idx, batch_size, lr, weight_decay,
                   dev, patience, checkpoint, state, augment_fn=None, augment_epochs=0):
        net = self.net_
        trainable = list(stage.trainable(net))
        trainable_ids = {id(p) for p in trainable}
        saved_flags = [(p, p.requires_grad) for p in net.parameters()]
        for p in net.parameters():
            p.requires_grad_(id(p) in trainable_ids)
        opt = torch.optim.Adam(trainable, lr=lr * stage.lr_scale, weight_decay=weight_decay)
        if state.optimizer is not None:
            opt.load_state_dict(state.optimizer)
        steps_per_epoch = math.ceil(len(train_idx) / batch_size)
        total_steps = max(1, stage.epochs * steps_per_epoch)
        base_lr = lr * stage.lr_scale
        use_amp = dev.type == "cuda"
        scaler = torch.amp.GradScaler("cuda") if use_amp else None
        seed = int(self.random_state)
        stop = False
        try:
            for epoch in range(state.epoch, stage.epochs):
                torch.manual_seed(seed * 1_000_003 + si * 10_007 + epoch)
                gen = torch.Generator().manual_seed(seed * 7_919 + si * 101 + epoch)
                order = train_idx[torch.randperm(len(train_idx), generator=gen).numpy()]
                net.train()
                if stage.frozen is not None:
                    for m in stage.frozen(net):
                        m.eval()
                bar = Progress(len(order), f"{type(self).__name__} {stage.name} "
                               f"{epoch + 1}/{stage.epochs}", self.verbose)
                tot_loss = tot_correct = tot_n = 0.0
                for b in range(steps_per_epoch):
                    step = epoch * steps_per_epoch + b
                    for g in opt.param_groups:
                        g["lr"] = base_lr * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
                    idx = np.sort(order[b * batch_size:(b + 1) * batch_size])
                    if len(idx) < 2:
                        continue
                    xb = _take(src, idx).to(dev, non_blocking=True)
                    if augment_fn is not None and epoch < augment_epochs:
                        shape = xb.shape
                        xb = augment_fn(xb)
                        if not torch.is_tensor(xb) or xb.shape != shape:
                            raise ValueError(f"augment must return a tensor of the batch's shape "
                                             f"{tuple(shape)}, got {getattr(xb, 'shape', type(xb))}")
                    yb = torch.from_numpy(y[idx]).to(dev)
                    with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=use_amp):
                        out = net(xb)
                    loss = stage.loss(_to_float(out), yb)
                    if not torch.isfinite(loss):
                        raise RuntimeError(f"training diverged (loss={loss.item()}); lower lr")
                    opt.zero_grad(set_to_none=True)
                    if scaler is not None:
                        scaler.scale(loss).backward()
                        scaler.step(opt)
                        scaler.update()
                    else:
                        loss.backward()
                        opt.step()
                    tot_loss += loss.item() * len(idx)
                    tot_n += len(idx)
                    acc = None
                    if stage.accuracy and "logits" in out:
                        tot_correct += (out["logits"].argmax(1) == yb).sum().item()
                        acc = tot_correct / tot_n
                    bar.update(len(idx), loss=tot_loss / tot_n, acc=acc)
                record = {"stage": stage.name, "epoch": epoch + 1,
                          "loss": tot_loss / max(1.0, tot_n)}
                if stage.accuracy:
                    record["accuracy"] = tot_correct / max(1.0, tot_n)
                if len(val_idx):
                    vloss, vacc = self._evaluate(stage, src, y, val_idx, batch_size, dev)
                    record["val_loss"] = vloss
                    if vacc is not None:
                        record["val_accuracy"] = vacc
                bar.close(**{k: v for k, v in record.items() if k not in ("stage", "epoch")})
                state.history.append(record)
                state.epoch = epoch + 1
                if patience is not None and len(val_idx):
                    if record["val_loss"] < state.best_loss - 1e-6:
                        state.best_loss = record["val_loss"]
                        state.bad_epochs = 0
                        state.best_state = copy.deepcopy(_cpu_state(net))
                    else:
                        state.bad_epochs += 1
                        if state.bad_epochs >= patience:
                            stop = True
                state.optimizer = opt.state_dict()
                state.stage = si
                if checkpoint is not None:
                    self._write_checkpoint(checkpoint, state)
                if stop:
                    break
            if patience is not None and state.best_state is not None:
                net.load_state_dict(state.best_state)
        finally:
            for p, flag in saved_flags:
                p.requires_grad_(flag)

    @torch.no_grad()
    def _evaluate(self, stage, src, y, idx, batch_size, dev):
        net = self.net_
        was_training = net.training
        net.eval()
        tot = correct = 0.0
        for s in range(0, len(idx), batch_size):
            sub = idx[s:s + batch_size]
            if len(sub) < 2:
                continue
            out = _to_float(net(_take(src, sub).to(dev)))
            yb = torch.from_numpy(y[sub]).to(dev)
            tot += stage.loss(out, yb).item() * len(sub)
            if stage.accuracy and "logits" in out:
                correct += (out["logits"].argmax(1) == yb).sum().item()
        net.train(was_training)
        n = max(1, len(idx))
        return tot / n, (correct / n if stage.accuracy else None)

    def _write_checkpoint(self, path, state: _TrainState):
        blob = {
            "format": FORMAT + "-checkpoint",
            "model": self._export(),
            "stage": state.stage,
            "epoch": state.epoch,
            "history": state.history,
            "best_loss": state.best_loss,
            "bad_epochs": state.bad_epochs,
            "best_state": state.best_state,
            "optimizer": state.optimizer,
        }
        _atomic_save(blob, path)

    # ------------------------------------------------------------ encoding
    @torch.no_grad()
    def _encode_chunk(self, src, start, stop, want_codes, want_features, batch_size):
        from ...codes import pack

        net = self.net_
        net.eval()
        dev = self.device_
        x = src.batch(start, stop).to(dev)
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=dev.type == "cuda"):
            out = net(x)
        codes = feats = None
        if want_codes:
            codes = pack(self._bits(_to_float(out)).cpu().numpy().astype(np.uint8), self.nbits)
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
        self._check_fitted()
        params = self.get_params()
        if params.get("backbone_weights") is not None:
            params["backbone_weights"] = os.fspath(params["backbone_weights"])
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "class": type(self).__name__,
            "params": params,
            "input_shape": list(self.input_shape_),
            "n_classes": self.n_classes_,
            "state_dict": _cpu_state(self.net_),
            "history": list(getattr(self, "history_", [])),
        }

    @classmethod
    def _from_export(cls, blob: dict):
        model = cls(**blob["params"])
        model._setup(blob["input_shape"], blob["n_classes"], load_weights=False)
        model.net_.load_state_dict(blob["state_dict"])
        model.net_.eval()
        model.history_ = list(blob.get("history", []))
        return model


def _cpu_state(net: nn.Module) -> dict:
    return {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}


def _to_float(out: dict) -> dict:
    return {k: (v.float() if torch.is_tensor(v) and v.is_floating_point() else v)
            for k, v in out.items()}


def _take(src, idx: np.ndarray) -> torch.Tensor:
    """Float32 batch of the (sorted) rows ``idx`` of an ImageSource."""
    if len(idx) and idx[-1] - idx[0] + 1 == len(idx):
        return src.batch(int(idx[0]), int(idx[-1]) + 1)
    return src.take(idx)


def _atomic_save(obj, path) -> None:
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    torch.save(obj, tmp)
    os.replace(tmp, path)

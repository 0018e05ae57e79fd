"""The trainer: stages, the learning-rate schedule, the epoch loop.

A model describes its training as a list of :class:`Stage` objects; the
:class:`Trainer` runs them in order with Adam, a cosine decay of the learning
rate over each stage's steps (:func:`cosine_schedule`, a
:class:`torch.optim.lr_scheduler.LambdaLR`), optional augmentation, a
validation split with early stopping, and a checkpoint after every epoch.
Shuffling and dropout are seeded per (stage, epoch), so a run resumed from a
checkpoint ends, on the CPU, with the weights of an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch
from torch.optim.lr_scheduler import LambdaLR

from ..._progress import ProgressBar
from .net import cpu_state, take_rows, to_float

__all__ = ["Stage", "TrainState", "Trainer", "cosine_factor", "cosine_schedule",
           "no_denormals", "split_validation"]


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
class TrainState:
    """Where training is: what a checkpoint stores besides the model."""

    stage: int = 0
    epoch: int = 0
    history: list = field(default_factory=list)
    best_loss: float = math.inf
    bad_epochs: int = 0
    best_state: Optional[dict] = None
    optimizer: Optional[dict] = None


def cosine_factor(step: int, total_steps: int) -> float:
    """``0.5 * (1 + cos(pi * step / total_steps))``: the share of the base rate at ``step``."""
    return 0.5 * (1.0 + math.cos(math.pi * step / total_steps))


def cosine_schedule(optimizer: torch.optim.Optimizer, base_lr: float, total_steps: int,
                    start_step: int = 0) -> LambdaLR:
    """Cosine decay from ``base_lr`` over ``total_steps`` optimiser steps.

    The optimiser's rate is ``base_lr * cosine_factor(step, total_steps)``
    from ``start_step`` on (a resumed stage starts past 0); call ``step()``
    once per batch.
    """
    for group in optimizer.param_groups:
        group["initial_lr"] = base_lr
    return LambdaLR(optimizer, lambda step: cosine_factor(step, total_steps),
                    last_epoch=start_step - 1)


def split_validation(n: int, fraction: float, seed: int):
    """Seeded split of ``range(n)`` into sorted ``(train_idx, val_idx)``.

    Raises
    ------
    ValueError
        No training rows are left.
    """
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * float(fraction)))
    if fraction > 0 and n_val == 0:
        n_val = 1
    val_idx = np.sort(perm[:n_val])
    train_idx = np.sort(perm[n_val:])
    if len(train_idx) == 0:
        raise ValueError("no training images left after the validation split")
    return train_idx, val_idx


@contextlib.contextmanager
def no_denormals(device):
    """Flush denormal floats to zero while training on the CPU.

    Adam's moment estimates of parameters whose gradients are small decay
    towards 0 geometrically and reach the denormal range after enough
    epochs; every operation on a denormal then takes the CPU's slow path
    (~200x slower for a float32 matrix product on the Intel VM).  Measured
    on Fashion-MNIST, 69,000 images, 1 thread: the compact net went from
    1,950 to 140 images/s over 6 epochs, DeepHash from 1,200 to 310 over 9,
    before this was set.  Denormals (< 1.2e-38) are far below any value
    that moves a weight.  PyTorch has no getter for the setting: it is
    switched off again afterwards, its default.
    """
    flush = device.type == "cpu" and torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if flush:
            torch.set_flush_denormal(False)


class Trainer:
    """Runs a model's stages on one data set.

    Parameters
    ----------
    model : DeepHashModel
        Set up (``net_`` built and on ``device``); its ``_write_checkpoint``
        is called after every epoch when ``checkpoint`` is given.
    src : ImageSource
    y : ndarray of int64
    train_idx, val_idx : ndarray
        From :func:`split_validation`.
    batch_size, lr, weight_decay, device, patience, checkpoint, augment_fn
        As in :meth:`DeepHashModel.fit` (``patience`` is ``early_stopping``).
    """

    def __init__(self, model, src, y, train_idx, val_idx, *, batch_size, lr, weight_decay,
                 device, patience=None, checkpoint=None, augment_fn=None):
        self.model = model
        self.src, self.y = src, y
        self.train_idx, self.val_idx = train_idx, val_idx
        self.batch_size, self.lr, self.weight_decay = batch_size, lr, weight_decay
        self.device, self.patience, self.checkpoint = device, patience, checkpoint
        self.augment_fn = augment_fn

    def run(self, stages: list, state: TrainState, plain_final_epochs: int = 0) -> None:
        """Run ``stages`` from ``state`` on (the last ``plain_final_epochs``
        epochs of the whole schedule without augmentation)."""
        starts = np.cumsum([0] + [max(0, st.epochs) for st in stages])
        plain_from = starts[-1] - int(plain_final_epochs)
        dev = self.device
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []), \
                no_denormals(dev):
            for si in range(state.stage, len(stages)):
                stage = stages[si]
                if stage.epochs <= 0:
                    continue
                self.run_stage(si, stage, state, augment_epochs=int(plain_from - starts[si]))
                state.stage, state.epoch = si + 1, 0
                state.best_loss, state.bad_epochs, state.best_state, state.optimizer = (
                    math.inf, 0, None, None)

    def run_stage(self, si: int, stage: Stage, state: TrainState, augment_epochs: int = 0) -> None:
        """Run stage ``si`` from ``state.epoch``; ``state`` is updated after every epoch."""
        model, net = self.model, self.model.net_
        trainable = list(stage.trainable(net))
        trainable_ids = {id(p) for p in trainable}
        saved_flags = [(p, p.requires_grad) for p in net.parameters()]
        for p in net.parameters():
            p.requires_grad_(id(p) in trainable_ids)
        base_lr = self.lr * stage.lr_scale
        opt = torch.optim.Adam(trainable, lr=base_lr, weight_decay=self.weight_decay)
        if state.optimizer is not None:
            opt.load_state_dict(state.optimizer)
        batch_size = self.batch_size
        steps_per_epoch = math.ceil(len(self.train_idx) / batch_size)
        sched = cosine_schedule(opt, base_lr, max(1, stage.epochs * steps_per_epoch),
                                start_step=state.epoch * steps_per_epoch)
        dev = self.device
        use_amp = dev.type == "cuda"
        scaler = torch.amp.GradScaler("cuda") if use_amp else None
        seed = int(model.random_state)
        stop = False
        try:
            for epoch in range(state.epoch, stage.epochs):
                torch.manual_seed(seed * 1_000_003 + si * 10_007 + epoch)
                gen = torch.Generator().manual_seed(seed * 7_919 + si * 101 + epoch)
                order = self.train_idx[torch.randperm(len(self.train_idx), generator=gen).numpy()]
                net.train()
                if stage.frozen is not None:
                    for m in stage.frozen(net):
                        m.eval()
                bar = ProgressBar(f"{type(model).__name__} {stage.name} "
                                  f"{epoch + 1}/{stage.epochs}", len(order), enabled=model.verbose)
                tot_loss = tot_correct = tot_n = 0.0
                for b in range(steps_per_epoch):
                    idx = np.sort(order[b * batch_size:(b + 1) * batch_size])
                    if len(idx) >= 2:
                        loss, correct = self._step(net, opt, scaler, stage, idx, use_amp,
                                                   augment=epoch < augment_epochs)
                        tot_loss += loss * len(idx)
                        tot_n += len(idx)
                        acc = None
                        if correct is not None:
                            tot_correct += correct
                            acc = tot_correct / tot_n
                        bar.update(len(idx), loss=tot_loss / tot_n, acc=acc)
                    sched.step()
                record = {"stage": stage.name, "epoch": epoch + 1,
                          "loss": tot_loss / max(1.0, tot_n)}
                if stage.accuracy:
                    record["accuracy"] = tot_correct / max(1.0, tot_n)
                if len(self.val_idx):
                    vloss, vacc = self.evaluate(stage, self.val_idx)
                    record["val_loss"] = vloss
                    if vacc is not None:
                        record["val_accuracy"] = vacc
                bar.close(**{k: v for k, v in record.items() if k not in ("stage", "epoch")})
                state.history.append(record)
                state.epoch = epoch + 1
                if self.patience is not None and len(self.val_idx):
                    if record["val_loss"] < state.best_loss - 1e-6:
                        state.best_loss = record["val_loss"]
                        state.bad_epochs = 0
                        state.best_state = copy.deepcopy(cpu_state(net))
                    else:
                        state.bad_epochs += 1
                        if state.bad_epochs >= self.patience:
                            stop = True
                state.optimizer = opt.state_dict()
                state.stage = si
                if self.checkpoint is not None:
                    model._write_checkpoint(self.checkpoint, state)
                if stop:
                    break
            if self.patience is not None and state.best_state is not None:
                net.load_state_dict(state.best_state)
        finally:
            for p, flag in saved_flags:
                p.requires_grad_(flag)

    def _step(self, net, opt, scaler, stage, idx, use_amp, augment):
        """One optimiser step on the rows ``idx``: (loss, correct class predictions or None)."""
        dev = self.device
        xb = take_rows(self.src, idx).to(dev, non_blocking=True)
        if self.augment_fn is not None and augment:
            shape = xb.shape
            xb = self.augment_fn(xb)
            if not torch.is_tensor(xb) or xb.shape != shape:
                raise ValueError(f"augment must return a tensor of the batch's shape "
                                 f"{tuple(shape)}, got {getattr(xb, 'shape', type(xb))}")
        yb = torch.from_numpy(self.y[idx]).to(dev)
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=use_amp):
            out = net(xb)
        loss = stage.loss(to_float(out), yb)
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
        correct = None
        if stage.accuracy and "logits" in out:
            correct = (out["logits"].argmax(1) == yb).sum().item()
        return loss.item(), correct

    @torch.no_grad()
    def evaluate(self, stage: Stage, idx: np.ndarray):
        """Mean loss (and accuracy, for stages that report it) on the rows ``idx``."""
        net, dev, batch_size = self.model.net_, self.device, self.batch_size
        was_training = net.training
        net.eval()
        tot = correct = 0.0
        for s in range(0, len(idx), batch_size):
            sub = idx[s:s + batch_size]
            if len(sub) < 2:
                continue
            out = to_float(net(take_rows(self.src, sub).to(dev)))
            yb = torch.from_numpy(self.y[sub]).to(dev)
            tot += stage.loss(out, yb).item() * len(sub)
            if stage.accuracy and "logits" in out:
                correct += (out["logits"].argmax(1) == yb).sum().item()
        net.train(was_training)
        n = max(1, len(idx))
        return tot / n, (correct / n if stage.accuracy else None)

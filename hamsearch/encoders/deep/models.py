"""The three end-to-end deep hashing models of the seed papers."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .base import DeepHashModel
from .net import HashNet
from .training import Stage
from .losses import ExpCodeProductLoss


# ---------------------------------------------------------------- Lin et al.
class _LatentNet(HashNet):
    def __init__(self, backbone, in_channels, nbits, n_classes):
        super().__init__(backbone, in_channels)
        self.latent = nn.Linear(backbone.feature_dim, nbits)
        self.classifier = nn.Linear(nbits, n_classes)

    def head(self, f):
        h = torch.sigmoid(self.latent(f))
        return {"features": f, "hash": h, "logits": self.classifier(h)}


class LatentLayerHash(DeepHashModel):
    """Latent-layer hashing net of Lin et al. (CVPRW 2015).

    backbone -> F7 -> latent layer H (``nbits`` sigmoid units) -> F8
    (one unit per class), trained with softmax cross-entropy only.  The codes
    are ``H >= 0.5``; the re-ranking features are F7 (the backbone output).

    Parameters
    ----------
    nbits : int
        Code length (a multiple of 8).
    backbone : {"small", "cifar", "alexnet", "zhong"}
        Feature extractor (see :mod:`hamsearch.encoders.deep.backbones`).
    feature_dim : int, optional
        Width of F7 (backbone default when None).
    backbone_weights : str, optional
        State-dict file for the backbone (e.g. torchvision AlexNet weights).
    pretrained : bool
        Require pre-trained backbone weights (an error without
        ``backbone_weights``: nothing is downloaded).
    random_state : int
        Seeds initialisation, the validation split, shuffling and dropout.
    verbose : bool
        Progress bars with loss / accuracy while training.

    Examples
    --------
    >>> import numpy as np
    >>> from hamsearch.encoders.deep import LatentLayerHash
    >>> rng = np.random.default_rng(0)
    >>> x = rng.integers(0, 256, (64, 12, 12), dtype=np.uint8)
    >>> y = np.arange(64) % 4
    >>> m = LatentLayerHash(nbits=16, verbose=False).fit(x, y, epochs=1, batch_size=32)
    >>> m.encode(x).shape, m.features(x).dtype
    ((64, 2), dtype('float32'))
    """

    def __init__(self, nbits: int = 48, backbone: str = "small", feature_dim=None,
                 backbone_weights=None, pretrained: bool = False, random_state: int = 0,
                 verbose: bool = True):
        super().__init__(nbits=nbits, backbone=backbone, feature_dim=feature_dim,
                         backbone_weights=backbone_weights, pretrained=pretrained,
                         random_state=random_state, verbose=verbose)

    def _build_net(self, in_channels, n_classes):
        return _LatentNet(self._make_backbone(in_channels), in_channels, self.nbits, n_classes)

    def _stages(self, epochs):
        return [Stage("softmax", epochs, lambda out, y: F.cross_entropy(out["logits"], y),
                      lambda net: net.parameters(), accuracy=True)]

    def _bits(self, out):
        return out["hash"] >= 0.5


# ---------------------------------------------------------------- Zhong et al.
def class_target_codes(n_classes: int, nbits: int, random_state: int = 0,
                       candidates: int = 256) -> torch.Tensor:
    """Well-separated binary target codes, one per class (float 0/1, (C, nbits)).

    Greedy max-min selection among seeded random balanced codes: each class
    takes, of ``candidates`` random codes with nbits/2 ones, the one farthest
    (in minimum Hamming distance) from the codes already chosen.
    """
    g = torch.Generator().manual_seed(int(random_state) * 9_973 + 17)
    chosen = []
    for _ in range(n_classes):
        cand = torch.zeros(candidates, nbits)
        order = torch.rand(candidates, nbits, generator=g).argsort(dim=1)[:, : nbits // 2]
        cand.scatter_(1, order, 1.0)
        if chosen:
            prev = torch.stack(chosen)
            dist = (cand[:, None, :] != prev[None, :, :]).sum(-1).min(dim=1).values
            cand = cand[dist.argmax()]
        else:
            cand = cand[0]
        chosen.append(cand)
    return torch.stack(chosen)


class _SigmoidNet(HashNet):
    def __init__(self, backbone, in_channels, nbits, n_classes, random_state):
        super().__init__(backbone, in_channels)
        self.hash_layer = nn.Linear(backbone.feature_dim, nbits)
        self.register_buffer("targets", class_target_codes(n_classes, nbits, random_state))

    def head(self, f):
        z = self.hash_layer(f)
        return {"features": f, "hash": torch.sigmoid(z), "pre": z}


def target_code_loss(out: dict, y: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-bit binary cross-entropy of the sigmoid layer against class target codes."""
    return F.binary_cross_entropy_with_logits(out["pre"], targets[y])


class CompactSigmoidHash(DeepHashModel):
    """Compact sigmoid hashing net after Zhong et al.

    Three conv layers (32, 32, 64 filters of 5x5, ReLU, 2x2 pooling), a
    linear hash layer and a sigmoid, trained end to end from the labels.
    Codes are ``sigmoid >= 0.5``; features are the flattened conv output.

    Training objective (our choice: the method says only "from labels"):
    every class gets a fixed binary target code -- seeded, balanced (nbits/2
    ones) and chosen greedily to be far apart in Hamming distance (see
    :func:`class_target_codes`) -- and each sigmoid unit is trained with
    binary cross-entropy towards its bit of the image's class code.  The
    sigmoid is thus trained exactly as a probability of its bit being 1;
    images of a class converge on one code and different classes land about
    nbits/2 apart.  (A pairwise code-product regression, tried first,
    collapsed to one constant code on small data: a pointwise target has no
    such trivial minimum.)  The target codes are saved with the model.

    Parameters
    ----------
    nbits : int
    backbone : str
        ``"zhong"`` (default: the paper's 3-conv stack) or any backbone name.
    random_state, verbose, feature_dim, backbone_weights, pretrained
        As for :class:`LatentLayerHash`.
    """

    def __init__(self, nbits: int = 48, backbone: str = "zhong", feature_dim=None,
                 backbone_weights=None, pretrained: bool = False, random_state: int = 0,
                 verbose: bool = True):
        super().__init__(nbits=nbits, backbone=backbone, feature_dim=feature_dim,
                         backbone_weights=backbone_weights, pretrained=pretrained,
                         random_state=random_state, verbose=verbose)

    def _build_net(self, in_channels, n_classes):
        return _SigmoidNet(self._make_backbone(in_channels), in_channels, self.nbits,
                           n_classes, self.random_state)

    def _stages(self, epochs):
        return [Stage("targets", epochs,
                      lambda out, y: target_code_loss(out, y, self.net_.targets),
                      lambda net: net.parameters())]

    def _bits(self, out):
        return out["hash"] >= 0.5


# ---------------------------------------------------------------- DeepHash
class _ExpNet(HashNet):
    def __init__(self, backbone, in_channels, nbits, n_classes, hash_classifier=False):
        super().__init__(backbone, in_channels)
        self.hash_layer = nn.Linear(backbone.feature_dim, nbits)
        self.classifier = nn.Linear(backbone.feature_dim, n_classes)
        # DeepHash's pre-training stage 2 (Algorithm 1, line 10): the hash layer
        # learns as the first layer of a two-layer classifier on the fixed z.
        self.hash_classifier = nn.Linear(nbits, n_classes) if hash_classifier else None

    def head(self, f):
        h = self.hash_layer(f)
        out = {"features": f, "hash": h, "logits": self.classifier(f)}
        if self.hash_classifier is not None:
            out["hash_logits"] = self.hash_classifier(torch.tanh(h))
        return out


#: DeepHash's Table 3: how the parameters are initialised and learned.
STRATEGIES = ("fine-tuning", "pre-training", "random-init")
#: How pre-training stage 2 learns the hash layer on the fixed features.
HASH_INITS = ("hash-loss", "classification")


class ExpCodeProductHash(DeepHashModel):
    """DeepHash: exponentiated code-product loss with two-stage pre-training.

    backbone -> F7 -> linear hash layer ``z`` (``nbits``), codes
    ``sign(z)`` (bit = ``z >= 0``).  Training, with ``epochs`` shared out:

    1. ``softmax``: supervised pre-training of backbone + a softmax class
       layer on F7 (``round(pretrain_fraction * epochs)`` epochs, >= 1);
    2. ``hash-init``: the backbone frozen (eval mode), only the hash layer is
       trained on the fixed features (``hash_init_epochs``): as the paper's
       Algorithm 1 does, as the first layer of a two-layer classifier,
       ``softmax(V tanh(W z))`` (``hash_init="classification"``, the
       default; ``V`` is not used afterwards), or with
       :class:`ExpCodeProductLoss` (``hash_init="hash-loss"``, the only way
       before issue 17; model files from then load with it);
    3. ``finetune``: backbone and hash layer jointly with the same loss at
       ``finetune_lr_scale`` times the learning rate (the remaining epochs,
       >= 1).

    ``strategy`` selects one of the paper's Table 3 schemes: ``"fine-tuning"``
    (the three stages above), ``"pre-training"`` (stages 1-2 only: the codes
    are those of the initialised hash layer) or ``"random-init"`` (stage 3
    only, for all ``epochs``, from random weights).

    Parameters
    ----------
    nbits : int
    alpha : float
        Sigmoid steepness of the smoothing (see :class:`ExpCodeProductLoss`).
    balanced : bool
        Equal weight to similar and dissimilar pairs.
    pretrain_fraction : float in (0, 1)
    hash_init_epochs : int
    finetune_lr_scale : float
        The defaults (alpha 16, 2 hash-init epochs, fine-tuning at the full
        learning rate) were chosen on MNIST-5k, 48 bits, 10 epochs: mAP
        0.980, against 0.873 with alpha 1 / 1 epoch / 0.3, and 0.959 /
        0.968 / 0.976 / 0.979 with alpha 2 / 4 / 8 / 32.  A gentle
        sigmoid leaves the pre-activations near 0, where the smoothed bits
        barely respond to the loss.
    smoothing : {"product", "bilinear"}
        Of the loss (see :class:`ExpCodeProductLoss`): ``"bilinear"`` is the
        paper's eqs. 7-9; ``"product"`` (default) the measured choice
        (``docs/methods.md``).
    hash_init : {"hash-loss", "classification"}
        How stage 2 trains the hash layer (above).
    strategy : {"fine-tuning", "pre-training", "random-init"}
        Table 3's schemes (above).
    backbone, feature_dim, backbone_weights, pretrained, random_state, verbose
        As for :class:`LatentLayerHash`.
    """

    def __init__(self, nbits: int = 48, backbone: str = "small", alpha: float = 16.0,
                 balanced: bool = True, pretrain_fraction: float = 0.5, hash_init_epochs: int = 2,
                 finetune_lr_scale: float = 1.0, feature_dim=None, backbone_weights=None,
                 pretrained: bool = False, random_state: int = 0, verbose: bool = True,
                 smoothing: str = "product", hash_init: str = "classification",
                 strategy: str = "fine-tuning"):
        super().__init__(nbits=nbits, backbone=backbone, feature_dim=feature_dim,
                         backbone_weights=backbone_weights, pretrained=pretrained,
                         random_state=random_state, verbose=verbose)
        self.alpha = alpha
        self.balanced = balanced
        self.pretrain_fraction = pretrain_fraction
        self.hash_init_epochs = hash_init_epochs
        self.finetune_lr_scale = finetune_lr_scale
        self.smoothing = smoothing
        self.hash_init = hash_init
        self.strategy = strategy

    def _build_net(self, in_channels, n_classes):
        return _ExpNet(self._make_backbone(in_channels), in_channels, self.nbits, n_classes,
                       hash_classifier=self.hash_init == "classification")

    @classmethod
    def _from_export(cls, blob: dict):
        """Model files from before ``hash_init`` existed were trained with the hashing loss."""
        if "hash_init" not in blob["params"]:
            blob = {**blob, "params": {**blob["params"], "hash_init": "hash-loss"}}
        return super()._from_export(blob)

    def _check_choices(self):
        for name, value, choices in (("smoothing", self.smoothing, ("product", "bilinear")),
                                     ("hash_init", self.hash_init, HASH_INITS),
                                     ("strategy", self.strategy, STRATEGIES)):
            if value not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        if not 0.0 < float(self.pretrain_fraction) < 1.0:
            raise ValueError(f"pretrain_fraction must be in (0, 1), got {self.pretrain_fraction}")

    def _stages(self, epochs):
        self._check_choices()
        loss = ExpCodeProductLoss(alpha=self.alpha, balanced=self.balanced,
                                  smoothing=self.smoothing)
        joint = lambda net: list(net.backbone.parameters()) + list(net.hash_layer.parameters())  # noqa: E731
        if self.strategy == "random-init":
            return [Stage("finetune", max(1, epochs), lambda out, y: loss(out["hash"], y), joint,
                          lr_scale=float(self.finetune_lr_scale))]
        n_pre = min(max(1, round(self.pretrain_fraction * epochs)), max(1, epochs - 1))
        n_fine = max(1, epochs - n_pre)
        if self.hash_init == "classification":
            init = Stage("hash-init", int(self.hash_init_epochs),
                         lambda out, y: F.cross_entropy(out["hash_logits"], y),
                         lambda net: list(net.hash_layer.parameters())
                         + list(net.hash_classifier.parameters()),
                         frozen=lambda net: [net.backbone])
        else:
            init = Stage("hash-init", int(self.hash_init_epochs),
                         lambda out, y: loss(out["hash"], y),
                         lambda net: net.hash_layer.parameters(),
                         frozen=lambda net: [net.backbone])
        stages = [
            Stage("softmax", n_pre, lambda out, y: F.cross_entropy(out["logits"], y),
                  lambda net: list(net.backbone.parameters()) + list(net.classifier.parameters()),
                  accuracy=True),
            init,
        ]
        if self.strategy == "fine-tuning":
            stages.append(Stage("finetune", n_fine, lambda out, y: loss(out["hash"], y), joint,
                                lr_scale=float(self.finetune_lr_scale)))
        return stages

    def _bits(self, out):
        return out["hash"] >= 0

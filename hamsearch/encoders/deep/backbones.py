"""Feature extractors ("backbones") that end in an F7-style feature layer.

Every backbone maps a normalised float batch ``(b, c, h, w)`` to features
``(b, feature_dim)`` (after the ReLU of the last hidden fully-connected layer,
the layer Lin et al. call F7).  :func:`make_backbone` builds one by name:

``"small"``
    A compact CNN for 28x28 images (MNIST, Fashion-MNIST); any size >= 4x4
    works thanks to adaptive pooling (8x8 sklearn digits included).  About
    8 M multiply-adds per 28x28 image, so it trains on a CPU.
``"cifar"``
    A deeper VGG-style CNN for 32x32 colour images.
``"zhong"``
    The compact net of Zhong et al.: three 5x5 conv layers with 32, 32 and
    64 filters, each followed by ReLU and 2x2 pooling; the features are the
    flattened last feature map (adaptively pooled to 3x3: 576-d).
``"alexnet"``
    The AlexNet architecture with torchvision's layer names (``features.*``,
    ``classifier.*``), defined here so torchvision is not needed.  Inputs are
    resized to 224x224 and grey images repeated to 3 channels.  Pre-trained
    weights only come from a user-supplied state-dict file (``weights=``,
    e.g. the ``alexnet-owt-*.pth`` file of torchvision); nothing is downloaded.
"""

from __future__ import annotations

import os

import torch
from torch import nn
from torch.nn import functional as F

BACKBONES = ("small", "cifar", "alexnet", "zhong")


def _conv_bn(cin: int, cout: int, k: int = 3) -> list:
    return [nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SmallCNN(nn.Module):
    """Three conv blocks (32, 64, 128 channels) + one hidden FC layer (F7).

    Parameters
    ----------
    in_channels : int
    feature_dim : int
        Width of the F7 feature layer.
    dropout : float
    """

    input_size = None
    required_channels = None

    def __init__(self, in_channels: int = 1, feature_dim: int = 256, dropout: float = 0.3):
        super().__init__()
        self.conv = nn.Sequential(
            *_conv_bn(in_channels, 32),
            nn.MaxPool2d(2, ceil_mode=True),
            *_conv_bn(32, 64),
            nn.MaxPool2d(2, ceil_mode=True),
            *_conv_bn(64, 128),
            nn.AdaptiveAvgPool2d(3),
        )
        self.fc = nn.Sequential(
            nn.Flatten(), nn.Linear(128 * 9, feature_dim), nn.ReLU(inplace=True), nn.Dropout(dropout)
        )
        self.feature_dim = feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x))


class CifarCNN(nn.Module):
    """VGG-style CNN for 32x32 colour images: 64-64 / 128-128 / 256 + FC (F7)."""

    input_size = None
    required_channels = None

    def __init__(self, in_channels: int = 3, feature_dim: int = 512, dropout: float = 0.5):
        super().__init__()
        self.conv = nn.Sequential(
            *_conv_bn(in_channels, 64), *_conv_bn(64, 64), nn.MaxPool2d(2, ceil_mode=True),
            *_conv_bn(64, 128), *_conv_bn(128, 128), nn.MaxPool2d(2, ceil_mode=True),
            *_conv_bn(128, 256), nn.MaxPool2d(2, ceil_mode=True),
            nn.AdaptiveAvgPool2d(2),
        )
        self.fc = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(256 * 4, feature_dim), nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )
        self.feature_dim = feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x))


class ZhongCNN(nn.Module):
    """3 x (conv 5x5 -> ReLU -> 2x2 pool) with 32, 32, 64 filters; 576-d output."""

    input_size = None
    required_channels = None

    def __init__(self, in_channels: int = 1, feature_dim: int = 576, dropout: float = 0.0):
        super().__init__()
        if feature_dim != 576:
            raise ValueError(f"the zhong backbone has feature_dim=576, got {feature_dim}")
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(32, 32, 5, padding=2), nn.ReLU(inplace=True),
            nn.AvgPool2d(2, ceil_mode=True),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(inplace=True),
            nn.AvgPool2d(2, ceil_mode=True),
            nn.AdaptiveAvgPool2d(3),
            nn.Flatten(),
        )
        self.feature_dim = 576

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class AlexNetBackbone(nn.Module):
    """AlexNet (the torchvision variant) up to F7 (4096-d, after ReLU).

    Attribute names follow torchvision so that its state dict loads directly;
    the 1000-way ``classifier.6`` layer of such a file is ignored (the hashing
    model adds its own latent and class layers).
    """

    input_size = 224
    required_channels = 3

    def __init__(self, in_channels: int = 3, feature_dim: int = 4096, dropout: float = 0.5):
        super().__init__()
        if feature_dim != 4096:
            raise ValueError(f"the alexnet backbone has feature_dim=4096, got {feature_dim}")
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
        )
        self.feature_dim = 4096

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


_CLASSES = {"small": SmallCNN, "cifar": CifarCNN, "alexnet": AlexNetBackbone, "zhong": ZhongCNN}
_DEFAULT_DIM = {"small": 256, "cifar": 512, "alexnet": 4096, "zhong": 576}


def default_feature_dim(name: str) -> int:
    """F7 width used when a model's ``feature_dim`` is None."""
    check_backbone_name(name)
    return _DEFAULT_DIM[name]


def check_backbone_name(name) -> str:
    if name not in _CLASSES:
        raise ValueError(f"backbone must be one of {BACKBONES}, got {name!r}")
    return name


def make_backbone(name: str, in_channels: int, feature_dim=None, weights=None,
                  pretrained: bool = False) -> nn.Module:
    """Build a backbone by name.

    Parameters
    ----------
    name : {"small", "cifar", "alexnet", "zhong"}
    in_channels : int
        Channels of the input images (AlexNet repeats grey images to 3).
    feature_dim : int, optional
        F7 width (default per backbone: 256, 512, 4096, 576; fixed for
        "alexnet" and "zhong").
    weights : str or path, optional
        A state-dict file (``torch.save(model.state_dict())``) for the
        backbone, loaded with ``weights_only=True``.  Keys of a torchvision
        AlexNet file match :class:`AlexNetBackbone` directly.
    pretrained : bool
        Ask for pre-trained weights; an error unless ``weights`` is given
        (hamsearch never downloads anything).

    Returns
    -------
    torch.nn.Module
    """
    check_backbone_name(name)
    if pretrained and weights is None:
        raise ValueError(
            f"pretrained {name} weights were requested but no file was given: pass "
            "backbone_weights='path/to/state_dict.pth' (hamsearch does not download weights)"
        )
    dim = default_feature_dim(name) if feature_dim is None else int(feature_dim)
    module = _CLASSES[name](in_channels=in_channels, feature_dim=dim)
    if weights is not None:
        load_backbone_weights(module, weights)
    return module


def load_backbone_weights(module: nn.Module, path) -> None:
    """Load a state-dict file into ``module``; unknown trailing layers are ignored."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"backbone weights file not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict (got {type(state).__name__})")
    own = module.state_dict()
    usable = {k: v for k, v in state.items() if k in own}
    missing = [k for k in own if k not in usable]
    if missing:
        raise ValueError(
            f"{path}: the weights lack {len(missing)} tensors of the backbone "
            f"(first: {missing[:3]}); is it the right architecture?"
        )
    for k, v in usable.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise ValueError(
                f"{path}: tensor {k} has shape {tuple(v.shape)}, the backbone expects "
                f"{tuple(own[k].shape)}"
            )
    module.load_state_dict(usable, strict=True)


def adapt_input(x: torch.Tensor, backbone: nn.Module) -> torch.Tensor:
    """Repeat grey channels / resize to what the backbone requires (AlexNet)."""
    need_c = getattr(backbone, "required_channels", None)
    if need_c is not None and x.shape[1] != need_c:
        x = x.expand(-1, need_c, -1, -1) if x.shape[1] == 1 else x
    size = getattr(backbone, "input_size", None)
    if size is not None and (x.shape[2] != size or x.shape[3] != size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x

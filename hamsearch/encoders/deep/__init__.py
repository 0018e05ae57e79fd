"""Deep hashing front ends in PyTorch (optional: ``pip install -e ".[torch]"`` from a source checkout).

Importing this sub-package imports torch; ``import hamsearch`` and
``import hamsearch.encoders`` never do.

Models (all share the trainer and the encoding verbs of
:class:`~hamsearch.encoders.deep.base.DeepHashModel`):

* :class:`LatentLayerHash` -- Lin et al. (CVPRW 2015): backbone -> F7 ->
  latent sigmoid layer H (``nbits``) -> F8 (classes), cross-entropy only;
  codes are ``H >= 0.5``, re-ranking features are F7.
* :class:`CompactSigmoidHash` -- Zhong et al.: 3 conv layers (32, 32, 64
  filters, 5x5) + linear hash layer + sigmoid, trained from labels with a
  pairwise code-product regression objective (see the class docstring).
* :class:`ExpCodeProductHash` with :class:`ExpCodeProductLoss` -- DeepHash's
  exponentiated code-product loss with bilinear sigmoid smoothing and per-bit
  leave-one-out weights; two-stage supervised pre-training, then joint
  fine-tuning; ``sign()`` codes.
* :class:`LaplacianDeepHash` -- LDH: CNN features + Laplacian-eigenmap hashing.
* :class:`DeepFeatureITQ` -- ITQ on the same CNN features (the fair baseline).

:func:`load_model` reads any model written by ``save``.

Examples
--------
>>> from sklearn.datasets import load_digits            # doctest: +SKIP
>>> from hamsearch.encoders.deep import LatentLayerHash  # doctest: +SKIP
>>> d = load_digits()                                    # doctest: +SKIP
>>> images = (d.images * 16).clip(0, 255).astype("uint8")  # doctest: +SKIP
>>> model = LatentLayerHash(nbits=16).fit(images, d.target, epochs=2)  # doctest: +SKIP
>>> model.encode(images).shape                           # doctest: +SKIP
(1797, 2)
"""

from __future__ import annotations

try:  # the one place torch is required; give the install hint.
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    from ...errors import MissingDependencyError

    raise MissingDependencyError(
        "hamsearch.encoders.deep needs PyTorch: pip install -e \".[torch]\" from a source "
        "checkout (pip install hamsearch[torch] where a package index has hamsearch), or "
        "pip install torch --index-url https://download.pytorch.org/whl/cpu"
    ) from exc

from .. import registry as _registry
from .backbones import AlexNetBackbone, CifarCNN, SmallCNN, ZhongCNN, make_backbone
from .base import DeepHashModel
from .feature_hash import DeepFeatureITQ, LaplacianDeepHash  # noqa: F401 (in __all__)
from .losses import ExpCodeProductLoss
from .methods import METHODS, make_model
from .models import CompactSigmoidHash, ExpCodeProductHash, LatentLayerHash  # noqa: F401 (in __all__)
from .serialize import MODEL_CLASSES, load_model

# Every deep class of the registry is exported (``__all__``, ``__getattr__``),
# so a new model needs only its module and its ``register_method`` call.
__all__ = [
    "DeepHashModel",
    *_registry.registered_class_names("deep"),
    "ExpCodeProductLoss",
    "SmallCNN",
    "CifarCNN",
    "AlexNetBackbone",
    "ZhongCNN",
    "make_backbone",
    "load_model",
    "make_model",
    "METHODS",
    "MODEL_CLASSES",
]


__getattr__, __dir__ = _registry.export_hooks(__name__, "deep", globals())

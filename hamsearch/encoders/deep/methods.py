"""Short method names used by the CLI and the benchmarks."""

from __future__ import annotations

#: CLI name -> (class name, one-line description)
METHODS = {
    "latent": ("LatentLayerHash", "latent sigmoid layer between F7 and F8 (Lin et al.)"),
    "compact": ("CompactSigmoidHash", "3-conv net + sigmoid hash layer (Zhong et al.)"),
    "exploss": ("ExpCodeProductHash", "exponentiated code-product loss (DeepHash)"),
    "ldh": ("LaplacianDeepHash", "CNN features + Laplacian-eigenmap hashing (LDH)"),
    "itq-cnn": ("DeepFeatureITQ", "ITQ on the same CNN features"),
}


def make_model(method: str, nbits: int, backbone=None, random_state: int = 0,
               verbose: bool = True, feature_model=None, feature_dim=None):
    """Build an unfitted model from its short name (see :data:`METHODS`).

    ``backbone=None`` keeps the class default ("small"; "zhong" for compact)
    and ``feature_dim=None`` the backbone's F7 width (for ``ldh`` and
    ``itq-cnn``: of the CNN they train when no ``feature_model`` is given).
    ``feature_model`` (a fitted CNN) is only used by ``ldh`` and ``itq-cnn``.
    """
    from .serialize import MODEL_CLASSES

    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    cls = MODEL_CLASSES[METHODS[method][0]]
    kwargs = {"nbits": nbits, "random_state": random_state, "verbose": verbose}
    if backbone is not None:
        kwargs["backbone"] = backbone
    if feature_dim is not None:
        kwargs["feature_dim"] = feature_dim
    if method in ("ldh", "itq-cnn") and feature_model is not None:
        kwargs["feature_model"] = feature_model
    return cls(**kwargs)

"""The deep methods of the registry (:mod:`hamsearch.encoders.registry`) by short name."""

from __future__ import annotations

from typing import Any, Optional

from ..registry import available_methods, get_method


class _DeepMethods(dict):
    """Short name -> (class name, one-line description), read from the registry."""

    def __init__(self) -> None:
        super().__init__()
        for name in available_methods(kind="deep"):
            spec = get_method(name)
            self[name] = (spec.target.partition(":")[2], spec.description)


#: CLI name -> (class name, one-line description), for the registry's deep methods.
METHODS = _DeepMethods()


def make_model(method: str, nbits: int, backbone: Optional[str] = None, random_state: int = 0,
               verbose: bool = True, feature_model: Any = None,
               feature_dim: Optional[int] = None) -> Any:
    """Build an unfitted deep model from its registry name (see :data:`METHODS`).

    Parameters
    ----------
    method : str
        A deep method of :mod:`hamsearch.encoders.registry`.
    nbits : int
    backbone : str, optional
        None keeps the class default ("small"; "zhong" for compact).
    random_state : int
    verbose : bool
    feature_model : DeepHashModel, optional
        A fitted CNN whose features ``ldh`` and ``itq-cnn`` hash (ignored by
        the other methods).
    feature_dim : int, optional
        None keeps the backbone's F7 width (for ``ldh`` and ``itq-cnn``: of
        the CNN they train when no ``feature_model`` is given).

    Returns
    -------
    DeepHashModel or a CNN-feature hasher
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    spec = get_method(method, kind="deep")
    kwargs: dict = {"verbose": verbose}
    if backbone is not None:
        kwargs["backbone"] = backbone
    if feature_dim is not None:
        kwargs["feature_dim"] = feature_dim
    if spec.cnn_features and feature_model is not None:
        kwargs["feature_model"] = feature_model
    return spec.factory(nbits, random_state, **kwargs)

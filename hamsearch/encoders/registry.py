"""Named hashing methods for ``hamsearch eval`` and the results scripts.

A method is a :class:`MethodSpec`: a factory ``factory(nbits, random_state)``
returning an unfitted encoder, plus what the encoder eats and how it is
trained.  The shallow hashers are registered here; other modules (e.g. the
torch models of :mod:`hamsearch.encoders.deep`) add theirs with
:func:`register_method` without this module importing them.

An encoder only needs ``fit(X, y=None)`` (or ``fit(X, y)`` when
``supervised``) and ``transform(X)`` or ``encode(X)`` returning packed
``uint8`` codes (any layout :mod:`hamsearch.codes` accepts works).

Examples
--------
>>> from hamsearch.encoders.registry import make_encoder, available_methods
>>> "itq" in available_methods()
True
>>> make_encoder("itq", nbits=32, random_state=0)
ITQ(nbits=32, random_state=0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

__all__ = [
    "MethodSpec",
    "register_method",
    "get_method",
    "available_methods",
    "make_encoder",
    "encode_with",
    "load_pretrained",
]


@dataclass(frozen=True)
class MethodSpec:
    """How to build, train and feed one hashing method.

    Attributes
    ----------
    name : str
    factory : callable
        ``factory(nbits, random_state) -> encoder`` (unfitted).
    input : {"features", "images"}
        ``"features"``: flattened float32 pixels scaled to [0, 1], shape
        (n, d); ``"images"``: the uint8 images as :func:`hamsearch.datasets.load`
        returns them.
    supervised : bool
        Whether ``fit`` receives the training labels.
    max_train : int or None
        Train on a random subset of at most this many database items
        (``None``: the whole database).
    fit_kwargs : dict
        Extra keyword arguments of ``fit`` (e.g. epochs of a deep model).
    description : str
    """

    name: str
    factory: Callable[..., object]
    input: str = "features"
    supervised: bool = False
    max_train: Optional[int] = None
    fit_kwargs: dict = field(default_factory=dict)
    description: str = ""


_REGISTRY: dict = {}


def register_method(name, factory, *, input="features", supervised=False, max_train=None,
                    fit_kwargs=None, description="", replace=False) -> MethodSpec:
    """Register a hashing method under ``name`` (lower-case).

    Raises
    ------
    ValueError
        ``name`` already registered (unless ``replace``), or a bad ``input``.
    """
    key = str(name).strip().lower()
    if not key:
        raise ValueError("method name must not be empty")
    if input not in ("features", "images"):
        raise ValueError(f"input must be 'features' or 'images', got {input!r}")
    if key in _REGISTRY and not replace:
        raise ValueError(f"method {key!r} is already registered")
    spec = MethodSpec(key, factory, input, bool(supervised), max_train,
                      dict(fit_kwargs or {}), description)
    _REGISTRY[key] = spec
    return spec


def get_method(name) -> MethodSpec:
    """The :class:`MethodSpec` registered under ``name``."""
    key = str(name).strip().lower()
    try:
        return _REGISTRY[key]
    except KeyError:
        raise ValueError(
            f"unknown method {name!r}; available: {', '.join(available_methods())}"
        ) from None


def available_methods() -> list:
    """Registered method names, in registration order."""
    return list(_REGISTRY)


def make_encoder(name, nbits, random_state=0):
    """Build the unfitted encoder of method ``name``."""
    return get_method(name).factory(nbits, random_state)


def encode_with(encoder, X) -> np.ndarray:
    """Codes of ``X`` from a fitted encoder (``transform`` or ``encode``)."""
    if hasattr(encoder, "transform"):
        return encoder.transform(X)
    if hasattr(encoder, "encode"):
        out = encoder.encode(X)
        return out[0] if isinstance(out, tuple) else out
    raise TypeError(f"{type(encoder).__name__} has neither transform() nor encode()")


def load_pretrained(path):
    """Load a saved deep hashing model (``hamsearch eval --model PATH``).

    Imports :mod:`hamsearch.encoders.deep` (and so torch) only when called.
    """
    try:
        from .deep import load_model
    except ImportError as exc:
        raise ImportError(
            f"loading a model file needs the deep hashing models and torch "
            f"(pip install hamsearch[torch]): {exc}"
        ) from exc
    return load_model(path)


def _register_builtin():
    from . import DeepELMHash, ITQ, LSH, PCAH, SH, LaplacianEigenmapHash

    register_method("lsh", lambda b, rs: LSH(nbits=b, random_state=rs),
                    description="random hyperplanes (Charikar), centred")
    register_method("pcah", lambda b, rs: PCAH(nbits=b, random_state=rs),
                    description="signs of the top principal components")
    register_method("sh", lambda b, rs: SH(nbits=b, random_state=rs),
                    description="spectral hashing (Weiss et al.)")
    register_method("itq", lambda b, rs: ITQ(nbits=b, random_state=rs),
                    description="PCA + iterative quantisation, 50 iterations")
    register_method("le", lambda b, rs: LaplacianEigenmapHash(nbits=b, random_state=rs),
                    max_train=20000,
                    description="Laplacian eigenmaps of a 10-NN graph, median thresholds; "
                                "trained on at most 20,000 database items")
    register_method("delm", lambda b, rs: DeepELMHash(nbits=b, random_state=rs),
                    input="images",
                    description="D-ELM: random conv layers + ELM auto-encoder + PCA-ITQ")


_register_builtin()

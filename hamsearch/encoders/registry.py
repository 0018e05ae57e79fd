"""The one registry of named hashing methods, shallow and deep.

``hamsearch eval --method``, ``hamsearch train --method``, the model files
(:mod:`hamsearch.encoders.deep.serialize`) and ``bench/deep_table.py`` all
read it.  A method is a :class:`MethodSpec`: how to build the unfitted
encoder, what it eats and how it is trained.  Built-in methods are lazy
``"module:Class"`` entries: the module is imported only when the method is
built, so listing the methods -- or using a shallow one -- never imports
torch.  Other code adds its own with :func:`register_method` (a
``"module:Class"`` string or a factory ``factory(nbits, random_state)``).

An encoder only needs ``fit(X, y=None)`` (or ``fit(X, y)`` when
``supervised``) and ``transform(X)`` or ``encode(X)`` returning packed
``uint8`` codes (any layout :mod:`hamsearch.codes` accepts works).

Examples
--------
>>> from hamsearch.encoders.registry import make_encoder, available_methods
>>> "itq" in available_methods() and "latent" in available_methods(kind="deep")
True
>>> make_encoder("itq", nbits=32, random_state=0)
ITQ(nbits=32, random_state=0)
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

import numpy as np

from ..errors import InvalidArgumentError, MissingDependencyError

__all__ = [
    "MethodSpec",
    "register_method",
    "get_method",
    "available_methods",
    "make_encoder",
    "encode_with",
    "load_pretrained",
    "registered_class",
    "registered_class_names",
    "export_hooks",
    "UnknownMethodError",
]

KINDS = ("shallow", "deep")


class UnknownMethodError(InvalidArgumentError):
    """No method is registered under this name (a :class:`ValueError`)."""


class LazyClass:
    """A ``"module:Class"`` reference imported on first use; builds encoders.

    Parameters
    ----------
    target : str
        ``"package.module:ClassName"``.
    params : dict, optional
        Constructor keyword arguments added to ``nbits`` and ``random_state``.
    """

    def __init__(self, target: str, params: Optional[dict] = None):
        module, sep, name = target.partition(":")
        if not sep or not module or not name:
            raise InvalidArgumentError(f"a lazy method is 'module:Class', got {target!r}")
        self.target = target
        self.params = dict(params or {})

    def load(self) -> type:
        """Import the module and return the class.

        Raises
        ------
        MissingDependencyError
            The module needs an optional dependency that is not installed.
        """
        module, _, name = self.target.partition(":")
        try:
            return getattr(importlib.import_module(module), name)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] == "hamsearch":
                raise
            raise MissingDependencyError(
                f"{self.target} needs {exc.name}; from a source checkout: "
                f"pip install -e \".[torch]\" (or pip install torch)") from exc

    def __call__(self, nbits: int, random_state: Any = 0, **params: Any) -> Any:
        return self.load()(nbits=nbits, random_state=random_state, **{**self.params, **params})

    def __repr__(self) -> str:
        return f"LazyClass({self.target!r})"


@dataclass(frozen=True)
class MethodSpec:
    """How to build, train and feed one hashing method.

    Attributes
    ----------
    name : str
    factory : callable
        ``factory(nbits, random_state) -> encoder`` (unfitted); a
        :class:`LazyClass` for ``"module:Class"`` entries.
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
    kind : {"shallow", "deep"}
        ``"deep"``: a torch model (``hamsearch train`` trains it, model files
        store it).
    cnn_features : bool
        A shallow hasher on the features of a CNN it trains or is given
        (``feature_model=``): LDH, ITQ-CNN.
    label : str
        The name printed in result tables (default: ``name``).
    """

    name: str
    factory: Callable[..., object]
    input: str = "features"
    supervised: bool = False
    max_train: Optional[int] = None
    fit_kwargs: dict = field(default_factory=dict)
    description: str = ""
    kind: str = "shallow"
    cnn_features: bool = False
    label: str = ""

    @property
    def class_name(self) -> Optional[str]:
        """The class name of a lazy entry (without importing it), else None."""
        target = self.target
        return None if target is None else target.partition(":")[2]

    @property
    def target(self) -> Optional[str]:
        """The ``"module:Class"`` of a lazy entry, else None."""
        return self.factory.target if isinstance(self.factory, LazyClass) else None

    def load_class(self) -> type:
        """The encoder class of a lazy entry (imports its module)."""
        if not isinstance(self.factory, LazyClass):
            raise InvalidArgumentError(f"method {self.name!r} is a factory, not a class")
        return self.factory.load()


_REGISTRY: dict = {}


def register_method(name: str, factory: Union[str, Callable[..., object]], *,
                    input: str = "features", supervised: bool = False,
                    max_train: Optional[int] = None, fit_kwargs: Optional[dict] = None,
                    description: str = "", kind: str = "shallow", cnn_features: bool = False,
                    params: Optional[dict] = None, label: str = "",
                    replace: bool = False) -> MethodSpec:
    """Register a hashing method under ``name`` (lower-case).

    Parameters
    ----------
    name : str
    factory : str or callable
        ``"module:Class"`` (imported when the method is first built; the
        class is called with ``nbits``, ``random_state`` and ``params``) or
        ``factory(nbits, random_state) -> encoder``.
    input, supervised, max_train, fit_kwargs, description, kind, cnn_features, label
        See :class:`MethodSpec`.
    params : dict, optional
        Constructor arguments of a ``"module:Class"`` entry.
    replace : bool
        Replace a method of the same name instead of raising.

    Returns
    -------
    MethodSpec

    Raises
    ------
    ValueError
        ``name`` already registered (unless ``replace``), a bad ``input`` or
        ``kind``.
    """
    key = str(name).strip().lower()
    if not key:
        raise InvalidArgumentError("method name must not be empty")
    if input not in ("features", "images"):
        raise InvalidArgumentError(f"input must be 'features' or 'images', got {input!r}")
    if kind not in KINDS:
        raise InvalidArgumentError(f"kind must be one of {KINDS}, got {kind!r}")
    if key in _REGISTRY and not replace:
        raise InvalidArgumentError(f"method {key!r} is already registered")
    if isinstance(factory, str):
        factory = LazyClass(factory, params)
    spec = MethodSpec(key, factory, input, bool(supervised), max_train,
                      dict(fit_kwargs or {}), description, kind, bool(cnn_features),
                      str(label) or key)
    _REGISTRY[key] = spec
    return spec


def get_method(name: str, kind: Optional[str] = None) -> MethodSpec:
    """The :class:`MethodSpec` registered under ``name``.

    Parameters
    ----------
    name : str
        Case-insensitive.
    kind : {"shallow", "deep"}, optional
        Accept only a method of this kind.

    Raises
    ------
    UnknownMethodError
        No such method (of this ``kind``); a :class:`ValueError`.
    """
    key = str(name).strip().lower()
    spec = _REGISTRY.get(key)
    if spec is None or (kind is not None and spec.kind != kind):
        raise UnknownMethodError(
            f"unknown {kind + ' ' if kind else ''}method {name!r}; available: "
            f"{', '.join(available_methods(kind))}")
    return spec


def available_methods(kind: Optional[str] = None) -> list:
    """Registered method names, in registration order (of one ``kind`` if given)."""
    return [k for k, s in _REGISTRY.items() if kind is None or s.kind == kind]


def registered_class(name: str, kind: str) -> Optional[type]:
    """The class of the lazy ``kind`` entry whose class is called ``name``
    (imported now), or None: how :mod:`hamsearch.encoders` and
    :mod:`hamsearch.encoders.deep` export every registered class."""
    for spec in _REGISTRY.values():
        if spec.kind == kind and spec.class_name == name:
            return spec.load_class()
    return None


def registered_class_names(kind: str) -> list:
    """Class names of the lazy ``kind`` entries, in registration order."""
    return [s.class_name for s in _REGISTRY.values() if s.kind == kind and s.class_name]


def export_hooks(module_name: str, kind: str, namespace: dict) -> tuple:
    """``(__getattr__, __dir__)`` for a package that exports every registered
    class of ``kind`` (:mod:`hamsearch.encoders`, :mod:`hamsearch.encoders.deep`);
    ``namespace``: the package's ``globals()``."""

    def __getattr__(name: str) -> Any:
        cls = registered_class(name, kind)
        if cls is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        return cls

    def __dir__() -> list:
        return sorted(set(namespace) | set(namespace.get("__all__", ()))
                      | set(registered_class_names(kind)))

    return __getattr__, __dir__


def make_encoder(name: str, nbits: int, random_state: Any = 0, **params: Any) -> Any:
    """Build the unfitted encoder of method ``name``.

    ``params`` (constructor arguments) need a ``"module:Class"`` entry.
    """
    spec = get_method(name)
    if params:
        if not isinstance(spec.factory, LazyClass):
            raise InvalidArgumentError(f"method {spec.name!r} takes no extra parameters")
        return spec.factory(nbits, random_state, **params)
    return spec.factory(nbits, random_state)


def encode_with(encoder: Any, X: Any) -> np.ndarray:
    """Codes of ``X`` from a fitted encoder (``transform`` or ``encode``)."""
    if hasattr(encoder, "transform"):
        return encoder.transform(X)
    if hasattr(encoder, "encode"):
        out = encoder.encode(X)
        return out[0] if isinstance(out, tuple) else out
    raise TypeError(f"{type(encoder).__name__} has neither transform() nor encode()")


def load_pretrained(path: Any) -> Any:
    """Load a saved deep hashing model (``hamsearch eval --model PATH``).

    Imports :mod:`hamsearch.encoders.deep` (and so torch) only when called.
    """
    try:
        from .deep import load_model
    except ImportError as exc:
        raise MissingDependencyError(
            f"loading a model file needs the deep hashing models and torch "
            f"(from a source checkout: pip install -e \".[torch]\"): {exc}"
        ) from exc
    return load_model(path)


def _register_builtin() -> None:
    shallow = "hamsearch.encoders"
    register_method("lsh", f"{shallow}.lsh:LSH", label="LSH",
                    description="random hyperplanes (Charikar), centred")
    register_method("pcah", f"{shallow}.pcah:PCAH", label="PCAH",
                    description="signs of the top principal components")
    register_method("sh", f"{shallow}.sh:SH", label="SH",
                    description="spectral hashing (Weiss et al.)")
    register_method("itq", f"{shallow}.itq:ITQ", label="ITQ",
                    description="PCA + iterative quantisation, 50 iterations")
    register_method("le", f"{shallow}.laplacian:LaplacianEigenmapHash", max_train=20000,
                    label="LE-hash",
                    description="Laplacian eigenmaps of a 10-NN graph, median thresholds; "
                                "trained on at most 20,000 database items")
    register_method("delm", f"{shallow}.delm:DeepELMHash", input="images",
                    label="D-ELM",
                    description="D-ELM: random conv layers + ELM auto-encoder + PCA-ITQ")
    deep = dict(input="images", supervised=True, kind="deep")
    register_method("latent", "hamsearch.encoders.deep.models:LatentLayerHash", **deep,
                    description="latent sigmoid layer between F7 and F8 (Lin et al.)")
    register_method("compact", "hamsearch.encoders.deep.models:CompactSigmoidHash", **deep,
                    description="3-conv net + sigmoid hash layer (Zhong et al.)")
    register_method("exploss", "hamsearch.encoders.deep.models:ExpCodeProductHash", **deep,
                    description="exponentiated code-product loss (DeepHash)")
    register_method("ldh", "hamsearch.encoders.deep.feature_hash:LaplacianDeepHash", **deep,
                    cnn_features=True,
                    description="CNN features + Laplacian-eigenmap hashing (LDH)")
    register_method("itq-cnn", "hamsearch.encoders.deep.feature_hash:DeepFeatureITQ", **deep,
                    cnn_features=True, description="ITQ on the same CNN features")


_register_builtin()

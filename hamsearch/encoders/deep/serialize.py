"""Reading models back, and plain-data export of the shallow hashers.

Model files are ``torch.save`` dicts of tensors and plain Python values
(format tag ``"hamsearch-deep-model"``, the class name, its constructor
parameters, the input layout, the number of classes and the state dict), so
they load with ``torch.load(..., weights_only=True)``: nothing pickled is ever
executed.  The shallow hashers inside :class:`LaplacianDeepHash` and
:class:`DeepFeatureITQ` are stored the same way: their parameters and fitted
``*_`` attributes as tensors / numbers; a fitted scikit-learn
``NearestNeighbors`` is stored as its training matrix and refitted on load;
a scipy sparse matrix as its CSR arrays.  Classes are re-created only from
an allow-list: the methods of :mod:`hamsearch.encoders.registry` (deep ones
in :data:`MODEL_CLASSES`, shallow ones inside LDH and ITQ-CNN).
"""

from __future__ import annotations

import importlib
import os

import numpy as np
import torch

from ...errors import FileFormatError
from .checkpoint import CHECKPOINT_FORMAT, FORMAT
from .net import resolve_device


def _model_classes():
    """Class name -> class of every deep method of the registry."""
    from ..registry import available_methods, get_method

    classes = (get_method(name).load_class() for name in available_methods(kind="deep"))
    return {c.__name__: c for c in classes}


class _Lazy(dict):
    def _fill(self):
        if not dict.__len__(self):
            self.update(_model_classes())

    def __getitem__(self, key):
        self._fill()
        return dict.__getitem__(self, key)

    def __contains__(self, key):
        self._fill()
        return dict.__contains__(self, key)

    def __iter__(self):
        self._fill()
        return dict.__iter__(self)

    def __len__(self):
        self._fill()
        return dict.__len__(self)

    def keys(self):
        self._fill()
        return dict.keys(self)


#: Class name -> model class, for every model :func:`load_model` can read.
MODEL_CLASSES = _Lazy()


def model_from_blob(blob):
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise FileFormatError("not a hamsearch deep hashing model (missing format tag)")
    name = blob.get("class")
    if name not in MODEL_CLASSES:
        raise FileFormatError(f"unknown model class {name!r}; known: {sorted(MODEL_CLASSES.keys())}")
    return MODEL_CLASSES[name]._from_export(blob)


def load_model(path, device="cpu"):
    """Load any model written by ``save`` (the class is read from the file).

    Parameters
    ----------
    path : str or path
    device : "cpu", "cuda", "auto" or torch.device

    Returns
    -------
    model : LatentLayerHash, CompactSigmoidHash, ExpCodeProductHash,
        LaplacianDeepHash or DeepFeatureITQ
        Fitted, with ``encode``, ``features``, ``encode_into``.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise FileFormatError(f"{path}: cannot read a hamsearch model ({exc})") from exc
    if isinstance(blob, dict) and blob.get("format") == CHECKPOINT_FORMAT:
        blob = blob["model"]
    try:
        model = model_from_blob(blob)
    except ValueError as exc:
        raise FileFormatError(f"{path}: {exc}") from None
    return model.to(resolve_device(device))


# ------------------------------------------------------------ shallow hashers
def _shallow_targets() -> set:
    """``"module:Class"`` of every shallow method of the registry: the classes a
    model file may hold inside it."""
    from ..registry import available_methods, get_method

    return {get_method(m).target for m in available_methods(kind="shallow")}


def export_estimator(est) -> dict:
    """Parameters + fitted attributes of a shallow hasher as plain data."""
    cls = type(est)
    if f"{cls.__module__}:{cls.__name__}" not in _shallow_targets():
        raise ValueError(f"cannot store a {cls.__module__}.{cls.__name__}")
    params = {k: v for k, v in est.get_params(deep=False).items()}
    for k, v in params.items():
        params[k] = _plain(v, f"{cls.__name__}.{k}")
    state = {}
    for k, v in vars(est).items():
        if k.endswith("_") and not k.startswith("_"):
            state[k] = _plain(v, f"{cls.__name__}.{k}")
    return {"module": cls.__module__, "class": cls.__name__, "params": params, "state": state}


def import_estimator(blob: dict):
    """Inverse of :func:`export_estimator`."""
    module, name = blob["module"], blob["class"]
    if f"{module}:{name}" not in _shallow_targets():
        raise FileFormatError(f"refusing to import estimator class {module}.{name}: not a "
                              "shallow method of hamsearch.encoders.registry")
    cls = getattr(importlib.import_module(module), name)
    est = cls(**{k: _unplain(v) for k, v in blob["params"].items()})
    for k, v in blob["state"].items():
        setattr(est, k, _unplain(v))
    return est


def _plain(v, where):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        if v.dtype.kind not in "biuf":
            raise ValueError(f"cannot store {where}: array of dtype {v.dtype}")
        return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(v))}
    if isinstance(v, (list, tuple)):
        return {"__list__": [_plain(x, where) for x in v], "tuple": isinstance(v, tuple)}
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover
        sp = None
    if sp is not None and sp.issparse(v):
        c = sp.csr_matrix(v)
        return {"__csr__": True, "data": _plain(c.data, where), "indices": _plain(c.indices, where),
                "indptr": _plain(c.indptr, where), "shape": list(c.shape)}
    cls = type(v)
    if (cls.__module__.startswith("sklearn.") and cls.__name__ == "NearestNeighbors"
            and hasattr(v, "_fit_X")):
        return {"__nearest_neighbors__": True,
                "params": {k: _plain(x, where) for k, x in v.get_params().items()},
                "fit_X": _plain(np.asarray(v._fit_X), where)}
    raise ValueError(f"cannot store {where} of type {cls.__module__}.{cls.__name__}")


def _unplain(v):
    if isinstance(v, dict):
        if "__ndarray__" in v:
            return v["__ndarray__"].numpy()
        if "__list__" in v:
            items = [_unplain(x) for x in v["__list__"]]
            return tuple(items) if v.get("tuple") else items
        if "__csr__" in v:
            import scipy.sparse as sp

            return sp.csr_matrix((_unplain(v["data"]), _unplain(v["indices"]),
                                  _unplain(v["indptr"])), shape=tuple(v["shape"]))
        if "__nearest_neighbors__" in v:
            from sklearn.neighbors import NearestNeighbors

            params = {k: _unplain(x) for k, x in v["params"].items()}
            return NearestNeighbors(**params).fit(_unplain(v["fit_X"]))
        raise ValueError(f"unknown stored value with keys {sorted(v)}")
    return v

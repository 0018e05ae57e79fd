"""The encoding verbs every deep model shares: codes, features, straight into an index.

:class:`EncoderMixin` supplies ``encode`` / ``features`` / ``encode_into``
on top of a model's ``_encode_chunk`` (one batch of images to codes and
features), and ``save`` / ``load`` on top of its ``_export`` and
:func:`hamsearch.encoders.deep.serialize.load_model`.  Memory stays bounded
by the batch size whatever the number of images.
"""

from __future__ import annotations

import inspect

import numpy as np

from .._params import check_positive_int
from ._input import as_images
from .checkpoint import atomic_save

__all__ = ["EncoderMixin", "unit_rows"]


class EncoderMixin:
    """``encode`` / ``features`` / ``encode_into`` on top of ``_encode_chunk``,
    ``save`` / ``load`` on top of ``_export`` and ``serialize.load_model``."""

    nbits: int

    def _check_fitted(self):  # pragma: no cover - ParamsMixin supplies it
        raise NotImplementedError

    def _export(self) -> dict:
        raise NotImplementedError

    def save(self, path) -> None:
        """Write the model (hyper-parameters, weights, fitted state) with ``torch.save``.

        The file holds only tensors and plain Python values, so it loads with
        ``torch.load(..., weights_only=True)`` (no pickled objects).
        """
        atomic_save(self._export(), path)

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
        batch_size = check_positive_int(batch_size, "batch_size")
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

"""Image encoders the service uses: images in, codes and re-ranking features out.

An encoder has ``nbits``, ``image_shape`` (``(h, w, c)``), ``name`` and
``encode(images) -> (codes, features)`` on ``uint8`` images of that shape
(``(n, h, w)`` for one channel): packed ``uint8`` codes in the FAISS layout
and float32 features (or ``None``).

* :class:`DeepModelEncoder` -- a model written by ``hamsearch train``
  (:mod:`hamsearch.encoders.deep`, needs torch): its codes, and its F7
  features scaled to unit length (cosine re-ranking);
* :class:`PixelEncoder` -- the quick demo model: the leading principal
  components of the pixels as the features, ITQ on them for the codes.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DeepModelEncoder", "PixelEncoder", "load_encoder"]


class DeepModelEncoder:
    """A trained deep hashing model (``hamsearch train``'s ``.pt`` file).

    Parameters
    ----------
    model : hamsearch.encoders.deep.DeepHashModel
    name : str
        Shown by ``/v1/stats``.
    """

    def __init__(self, model, name: str = "deep"):
        self.model = model
        self.nbits = int(model.nbits)
        c, h, w = (int(v) for v in model.input_shape_)
        self.image_shape = (h, w, c)
        self.name = name

    def encode(self, images: np.ndarray):
        """Codes and unit-length features of ``uint8`` images."""
        imgs = np.asarray(images, dtype=np.uint8)
        if self.image_shape[2] == 1 and imgs.ndim == 4:
            imgs = imgs[..., 0]
        return self.model.encode(imgs, batch_size=256, return_features=True,
                                 normalize_features=True)


def load_encoder(path: str, device: str = "cpu") -> DeepModelEncoder:
    """Read a model file (needs torch)."""
    import os

    from ..encoders.deep import load_model

    return DeepModelEncoder(load_model(path, device=device), name=os.path.basename(path))


class PixelEncoder:
    """ITQ codes and PCA features of raw pixels (the quick demo model).

    Parameters
    ----------
    nbits : int
        Code length.
    n_features : int, default 128
        Principal components kept as re-ranking features.
    random_state : int, default 0
    """

    def __init__(self, nbits: int, n_features: int = 128, random_state: int = 0):
        self.nbits = int(nbits)
        self.n_features = int(n_features)
        self.random_state = random_state
        self.image_shape = None
        self.name = f"pixel-itq-{nbits}"

    def fit(self, images: np.ndarray) -> "PixelEncoder":
        """Fit ITQ and the PCA on ``uint8`` images ``(n, h, w[, c])``."""
        from ..encoders import ITQ
        from ..encoders._base import pca_fit

        images = np.asarray(images)
        h, w = images.shape[1:3]
        c = images.shape[3] if images.ndim == 4 else 1
        self.image_shape = (int(h), int(w), int(c))
        X = self._pixels(images)
        d = max(self.nbits, min(self.n_features, X.shape[1]))
        mean, comps, _ = pca_fit(X, d)
        self.mean_ = mean.astype(np.float32)
        self.components_ = comps.astype(np.float32)
        # ITQ on the principal components: its own PCA then works on d, not
        # h * w, dimensions (the leading nbits axes are the same)
        self.itq_ = ITQ(nbits=self.nbits, random_state=self.random_state).fit(
            self._features(X))
        return self

    def _features(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean_) @ self.components_

    @staticmethod
    def _pixels(images: np.ndarray) -> np.ndarray:
        return np.asarray(images, dtype=np.float32).reshape(len(images), -1) / 255.0

    def encode(self, images: np.ndarray):
        """Codes and features of ``uint8`` images of :attr:`image_shape`."""
        F = self._features(self._pixels(images))
        return self.itq_.transform(F), F

"""Shallow hashers on CNN features: LDH and "ITQ on CNN features".

Both train (or reuse) a CNN classifier, take its F7 features and fit a
shallow hasher of :mod:`hamsearch.encoders` on them.  Sharing one fitted CNN
between them (``feature_model=``) gives the fair comparison DeepHash insists
on: the same features, two ways of binarising them.
"""

from __future__ import annotations

import numpy as np

from .._params import ParamsMixin, check_positive_int
from .base import DeepHashModel
from .checkpoint import FORMAT, FORMAT_VERSION
from .encoding import EncoderMixin
from .models import LatentLayerHash
from .net import resolve_device


class _FeatureHasher(ParamsMixin, EncoderMixin):
    _shallow_name = ""
    _fitted_attr = "hasher_"
    _fit_hint = "call fit() or load()"

    def __init__(self, nbits: int = 48, feature_model=None, backbone: str = "small",
                 feature_dim=None, max_fit_points: int = 20000, random_state: int = 0,
                 verbose: bool = True):
        self.nbits = nbits
        self.feature_model = feature_model
        self.backbone = backbone
        self.feature_dim = feature_dim
        self.max_fit_points = max_fit_points
        self.random_state = random_state
        self.verbose = verbose

    def _make_shallow(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, images, labels, epochs: int = 10, device="auto", **fit_kwargs):
        """Train (or reuse) the CNN, then fit the shallow hasher on its features.

        Parameters
        ----------
        images, labels
            As for :meth:`LatentLayerHash.fit`.
        epochs, device, **fit_kwargs
            Passed to the CNN's ``fit`` when it is trained here.  A
            ``feature_model`` given already fitted is used as is (not retrained).

        Returns
        -------
        self
        """
        from ...codes import check_nbits

        check_nbits(self.nbits)
        check_positive_int(self.max_fit_points, "max_fit_points")
        fm = self.feature_model
        if fm is None:
            fm = LatentLayerHash(nbits=self.nbits, backbone=self.backbone,
                                 feature_dim=self.feature_dim, random_state=self.random_state,
                                 verbose=self.verbose)
        if not isinstance(fm, DeepHashModel):
            raise TypeError("feature_model must be a hamsearch deep model (e.g. LatentLayerHash)")
        if getattr(fm, "net_", None) is None:
            fm.fit(images, labels, epochs=epochs, device=device, **fit_kwargs)
        else:
            fm.to(resolve_device(device))
        self.feature_model_ = fm
        n = int(np.shape(images)[0])
        rng = np.random.default_rng(int(self.random_state))
        sub = np.arange(n) if n <= self.max_fit_points else np.sort(
            rng.choice(n, self.max_fit_points, replace=False))
        feats = fm.features(images[sub])
        shallow = self._make_shallow()
        shallow.fit(feats.astype(np.float64))
        self.hasher_ = shallow
        return self

    # EncoderMixin hooks
    def _input_shape(self):
        return self.feature_model_.input_shape_

    def _encode_chunk(self, src, start, stop, want_codes, want_features, batch_size):
        _, feats = self.feature_model_._encode_chunk(src, start, stop, False, True, batch_size)
        codes = self.hasher_.transform(feats.astype(np.float64)) if want_codes else None
        return codes, (feats if want_features else None)

    @property
    def input_shape_(self):
        return self.feature_model_.input_shape_

    def to(self, device):
        """Move the CNN to ``device``; returns self."""
        self._check_fitted()
        self.feature_model_.to(device)
        return self

    def _export(self) -> dict:
        from .serialize import export_estimator

        self._check_fitted()
        params = self.get_params(deep=False)
        del params["feature_model"]
        return {"format": FORMAT, "version": FORMAT_VERSION, "class": type(self).__name__,
                "params": params, "feature_model": self.feature_model_._export(),
                "hasher": export_estimator(self.hasher_)}

    @classmethod
    def _from_export(cls, blob):
        from .serialize import import_estimator, model_from_blob

        model = cls(**blob["params"])
        model.feature_model_ = model_from_blob(blob["feature_model"])
        model.hasher_ = import_estimator(blob["hasher"])
        return model


class LaplacianDeepHash(_FeatureHasher):
    """Laplacian Deep Hash (LDH): CNN features + Laplacian-eigenmap hashing.

    A CNN classifier (a :class:`LatentLayerHash` unless ``feature_model`` is
    given) is trained on the labelled images; its F7 features of (at most
    ``max_fit_points``) training images build the kNN graph of
    :class:`hamsearch.encoders.LaplacianEigenmapHash`, whose thresholded
    eigenmaps are the codes; new images are hashed by that hasher's
    out-of-sample extension.

    Parameters
    ----------
    nbits : int
    feature_model : fitted or unfitted deep model, optional
        The CNN whose features are hashed (shared with :class:`DeepFeatureITQ`
        for a fair comparison).
    n_neighbors : int
        kNN graph degree.
    backbone, feature_dim : for the default CNN.
    max_fit_points : int
        Subsample size for the graph (seeded).
    random_state, verbose
    """

    def __init__(self, nbits: int = 48, feature_model=None, n_neighbors: int = 10,
                 backbone: str = "small", feature_dim=None, max_fit_points: int = 20000,
                 random_state: int = 0, verbose: bool = True):
        super().__init__(nbits=nbits, feature_model=feature_model, backbone=backbone,
                         feature_dim=feature_dim, max_fit_points=max_fit_points,
                         random_state=random_state, verbose=verbose)
        self.n_neighbors = n_neighbors

    def _make_shallow(self):
        from ..laplacian import LaplacianEigenmapHash

        return LaplacianEigenmapHash(nbits=self.nbits, n_neighbors=self.n_neighbors,
                                     random_state=self.random_state)


class DeepFeatureITQ(_FeatureHasher):
    """ITQ (PCA + iterative quantisation) on CNN features: the fair baseline.

    Same CNN and parameters as :class:`LaplacianDeepHash`; the features are
    hashed by :class:`hamsearch.encoders.ITQ` (50 iterations).
    """

    def _make_shallow(self):
        from ..itq import ITQ

        return ITQ(nbits=self.nbits, random_state=self.random_state)

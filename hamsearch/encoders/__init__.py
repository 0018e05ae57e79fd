"""Hashers that turn feature vectors or images into binary codes.

Shallow hashers with the scikit-learn estimator API (``fit(X, y=None)``,
``transform(X)`` -> packed ``uint8`` codes in the FAISS layout,
``get_params`` / ``set_params``, ``random_state``, picklable, usable as the
last step of a :class:`sklearn.pipeline.Pipeline`):

* :class:`LSH` -- random hyperplanes (Charikar),
* :class:`PCAH` -- signs of the principal projections,
* :class:`SH` -- spectral hashing (Weiss et al.),
* :class:`ITQ` -- PCA + iterative quantisation (Gong & Lazebnik),
* :class:`LaplacianEigenmapHash` -- kNN-graph Laplacian eigenmaps with
  per-bit median thresholds (the hashing stage of Laplacian Deep Hash),
* :class:`DeepELMHash` -- random conv layers + ELM + PCA-ITQ (D-ELM).

scikit-learn and scipy are imported only inside the methods that need them.
The deep (torch) models live in :mod:`hamsearch.encoders.deep`, which this
module does not import.

Examples
--------
>>> import numpy as np
>>> from hamsearch.encoders import ITQ
>>> X = np.random.default_rng(0).normal(size=(500, 32)).astype(np.float32)
>>> codes = ITQ(nbits=16, random_state=0).fit_transform(X)
>>> codes.shape, codes.dtype
((500, 2), dtype('uint8'))
"""

from ._base import BaseHasher, NotFittedError
from .delm import DeepELMHash
from .itq import ITQ
from .laplacian import LaplacianEigenmapHash
from .lsh import LSH
from .pcah import PCAH
from .sh import SH

__all__ = [
    "BaseHasher",
    "NotFittedError",
    "LSH",
    "PCAH",
    "SH",
    "ITQ",
    "LaplacianEigenmapHash",
    "DeepELMHash",
]

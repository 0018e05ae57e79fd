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

from . import registry as _registry
from ._base import BaseHasher, NotFittedError
# The built-in hashers by name, for type checkers; every shallow class of the
# registry is exported (``__all__``, ``__getattr__``), so a new hasher needs
# only its module and its ``register_method`` call.
from .delm import DeepELMHash  # noqa: F401 (in __all__)
from .itq import ITQ  # noqa: F401 (in __all__)
from .laplacian import LaplacianEigenmapHash  # noqa: F401 (in __all__)
from .lsh import LSH  # noqa: F401 (in __all__)
from .pcah import PCAH  # noqa: F401 (in __all__)
from .sh import SH  # noqa: F401 (in __all__)

__all__ = ["BaseHasher", "NotFittedError", *_registry.registered_class_names("shallow")]


__getattr__, __dir__ = _registry.export_hooks(__name__, "shallow", globals())

"""hamsearch: fast exact search of binary hash codes in Hamming space.

>>> import numpy as np, hamsearch
>>> rng = np.random.default_rng(0)
>>> codes = rng.integers(0, 256, size=(1000, 16), dtype=np.uint8)   # 128-bit codes
>>> index = hamsearch.Index(nbits=128)
>>> index.add(codes)
>>> D, I = index.search(codes[:5], k=3)
>>> I[:, 0].tolist()
[0, 1, 2, 3, 4]
"""

from ._backend import backend, get_num_threads, set_isa, set_num_threads
from .codes import pack, unpack
from .distances import hamming_distances
from .filters import IdFilter
from .index import Index
from .results import RangeResult, RerankResult, SearchResult
from .durable import load, open_index as open  # noqa: A001 - like gzip.open
from .batcher import Batcher

__version__ = "0.1.0"

__all__ = [
    "Index",
    "IdFilter",
    "Batcher",
    "SearchResult",
    "RangeResult",
    "RerankResult",
    "load",
    "open",
    "pack",
    "unpack",
    "hamming_distances",
    "backend",
    "set_num_threads",
    "set_isa",
    "get_num_threads",
    "__version__",
]

"""What a user writes against hamsearch's public API; ``mypy --strict`` must
accept it (tests/test_typing.py).  It also runs: ``python tests/typing/user_script.py``."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import numpy.typing as npt

import hamsearch
from hamsearch import IdFilter, RangeResult, RerankResult, SearchResult
from hamsearch.synthetic import clustered_codes, clustered_features


def top_ids(index: hamsearch.Index, queries: npt.NDArray[np.uint8], k: int) -> list[int]:
    D, I = index.search(queries, k)  # still unpacks
    res: SearchResult = index.search(queries, k, filter=IdFilter.deny([0]))
    assert res.distances.shape == D.shape
    return [int(i) for i in I[:, 0]]


def main() -> int:
    X, labels = clustered_features(2000, 32, ncenters=10, seed=0)
    codes, centres = clustered_codes(2000, 64, ncenters=10, seed=0)
    index = hamsearch.Index(64, method="auto")
    index.add(codes, features=X)
    first: list[int] = top_ids(index, codes[:5], 3)

    rng: RangeResult = index.range_search(codes[:5], 4)
    lims, D, I = rng
    hits: int = int(lims[-1])
    one: SearchResult = rng.query(0)

    rr: RerankResult = index.hierarchical_search(codes[:5], 10, X[:5], pool_size=50)
    scores: npt.NDArray[np.float32] = rr.distances
    ham: npt.NDArray[np.int32] = rr.hamming
    legacy: RerankResult = index.search(codes[:5], 10, query_features=X[:5], pool_size=50,
                                        return_hamming=True)
    plain: SearchResult = index.search(codes[:5], 10, query_features=X[:5], pool_size=50)

    removed: int = index.remove([1, 2])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "index.hsx")
        index.save(path)
        again: hamsearch.Index = hamsearch.load(path, mmap=True)
        assert len(again) == len(index)
    print(first, hits, len(one.ids), scores.shape, ham.dtype, legacy.ids.shape,
          plain.ids.shape, removed, hamsearch.backend(), labels.shape, centres.shape)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

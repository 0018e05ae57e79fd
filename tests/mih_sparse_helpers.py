"""Shared pieces of the sparse multi-index table tests (``tests/test_mih_sparse_*.py``):
the ``backend`` fixture (the MIH kernels of each backend, patched in) and near
queries."""

from __future__ import annotations

import numpy as np
import pytest

from hamsearch.mih import build as mih_build
from tests.reference import random_words
from tests.test_mih import BACKENDS, _backend_module


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    mod = _backend_module(request.param)
    monkeypatch.setattr(mih_build, "_mih_kernels", lambda: mod)
    return mod


def _near(rng, db, nbits, nq):
    """Queries: database codes with a few bits flipped, and random ones."""
    q = random_words(rng, nq, nbits)
    near = db[rng.integers(0, len(db), nq)] ^ (random_words(rng, nq, nbits)
                                               & random_words(rng, nq, nbits)
                                               & random_words(rng, nq, nbits))
    q[: (2 * nq) // 3] = near[: (2 * nq) // 3]
    return np.ascontiguousarray(q)

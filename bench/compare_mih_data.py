"""The code sets of ``bench.compare_mih`` (and ``bench.ab_versions``).

Seeded database and query codes, packed ``uint8``, drawn alike: uniform,
clustered around centre codes, or real learned codes.
"""

from __future__ import annotations

import numpy as np


def make_data(kind: str, n: int, nq: int, nbits: int, seed: int = 1,
              centres: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Database and query codes of one kind.

    Parameters
    ----------
    kind : str
        ``uniform``; ``clustered-<p>`` (``centres`` centre codes, each bit of
        a code flipped with probability p); or ``fashion-itq`` (real learned
        codes, see :mod:`bench.learned_codes`).
    n, nq, nbits : int
        Database size, number of queries, code length.
    seed : int, default 1
        The database's seed; the queries use ``seed + 1`` (another draw of
        the same distribution, not database rows).
    centres : int, default 1000
        Centre codes of ``clustered-<p>``.

    Returns
    -------
    db, q : ndarray of uint8
        Packed codes, ``(n, nbits / 8)`` and ``(nq, nbits / 8)``.
    """
    from hamsearch.synthetic import clustered_codes, uniform_codes

    if kind == "fashion-itq":
        from .learned_codes import fashion_itq_codes

        return fashion_itq_codes(n, nq, nbits, seed=seed)
    if kind == "uniform":
        return uniform_codes(n, nbits, seed=seed), uniform_codes(nq, nbits, seed=seed + 1)
    p = float(kind.split("-")[1])
    db, centre_codes = clustered_codes(n, nbits, ncenters=centres, flip=p, seed=seed)
    q, _ = clustered_codes(nq, nbits, centres=centre_codes, flip=p, seed=seed + 1)
    return db, q

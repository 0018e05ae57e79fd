"""Real learned codes for the engine benchmarks: ITQ on augmented Fashion-MNIST.

The database is the 69,000 Fashion-MNIST images outside the standard query
split (100 per class) plus seeded augmented copies of them (a shift of up to
2 pixels in each direction and Gaussian pixel noise), encoded by an ITQ
model fitted on the un-augmented database images; the queries are the 1,000
held-out images.  About 14 copies give a 1M-code corpus whose structure is
that of real learned codes, not synthetic clusters.  Codes are cached under
``bench/.cache``.
"""

from __future__ import annotations

import os

import numpy as np

CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".cache")


def _augment(images: np.ndarray, rng) -> np.ndarray:
    out = np.empty(images.shape, dtype=np.float32)
    shifts = rng.integers(-2, 3, size=(len(images), 2))
    for dx in range(-2, 3):
        for dy in range(-2, 3):
            sel = np.nonzero((shifts[:, 0] == dx) & (shifts[:, 1] == dy))[0]
            if sel.size:
                out[sel] = np.roll(images[sel], (dx, dy), axis=(1, 2))
    out += rng.normal(0.0, 8.0, size=out.shape).astype(np.float32)
    np.clip(out, 0, 255, out=out)
    return out


def fashion_itq_codes(n: int, nq: int, nbits: int, seed: int = 1):
    """``(database codes, query codes)`` packed uint8, ITQ on augmented Fashion-MNIST."""
    from hamsearch import datasets
    from hamsearch.encoders import ITQ

    path = os.path.join(CACHE, f"fashion_itq_{nbits}_{n}_{nq}_{seed}.npz")
    if os.path.exists(path):
        data = np.load(path)
        return data["db"], data["q"]
    images, labels = datasets.load("fashion-mnist")
    qi, di = datasets.query_split(labels, per_class=100, random_state=0)
    qi = qi[:nq]
    base = images[di].astype(np.float32)
    model = ITQ(nbits=nbits, random_state=seed).fit(base.reshape(len(base), -1) / 255.0)
    encode = lambda x: model.transform(x.reshape(len(x), -1) / 255.0)  # noqa: E731
    rng = np.random.default_rng(seed)
    chunks = [encode(base)]
    total = len(base)
    while total < n:
        chunks.append(encode(_augment(images[di], rng)))
        total += len(di)
    db = np.concatenate(chunks)[:n]
    q = encode(images[qi].astype(np.float32))
    os.makedirs(CACHE, exist_ok=True)
    np.savez(path, db=db, q=q)
    return db, q

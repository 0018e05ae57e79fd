"""How ``bench.deep_table`` scores a trained model: the protocol's split and its figures.

The split (:func:`split_database`: 100 queries per class, the database
shuffled once), mAP and P@k of Hamming ranking with ties in database order
and tie-aware (:func:`retrieval_scores`), and for the latent net
hierarchical search against Hamming ranking (:func:`hierarchical`) and
its class layer's accuracy (:func:`class_accuracy`).
"""

from __future__ import annotations

import numpy as np

from ._common import timed

#: cut-offs of the precision@k columns (``p_at_<k>`` and ``p_at_<k>_tie``)
KS = (1, 10, 100, 1000)


def split_database(labels: np.ndarray, seed: int):
    """The protocol's split of a labelled dataset.

    Returns
    -------
    q : ndarray
        The query indices (100 per class, sorted).
    db : ndarray
        The database in ranking order (shuffled once, seeded:
        :func:`hamsearch.evaluation.shuffle_database`).
    train : ndarray
        The training indices: the database, sorted.
    """
    from hamsearch.datasets import query_split
    from hamsearch.evaluation import shuffle_database

    q, db = query_split(labels, per_class=100, random_state=seed)
    return q, shuffle_database(db, seed), db


def _precision_at(ids_or_idx, db_labels_by_id, qlabels):
    lab = db_labels_by_id[ids_or_idx]
    return float((lab == qlabels[:, None]).mean())


def retrieval_scores(qcodes, dbcodes, qlabels, dblabels, nbits: int) -> dict:
    """mAP and P@k of Hamming ranking, ties in database order and tie-aware.

    Returns
    -------
    dict
        ``map``, ``map_tie``, ``p_at_<k>`` and ``p_at_<k>_tie`` for k in
        :data:`KS` (clipped to the database size).
    """
    from hamsearch.metrics import evaluate as evaluate_codes

    ks = [min(k, len(dblabels)) for k in KS]
    res = evaluate_codes(qcodes, dbcodes, qlabels, dblabels, nbits=nbits, ks=ks)
    out = {"map": res["map"], "map_tie": res["map_tie_average"]}
    for k, got, tie in zip(res["ks"].tolist(), res["precision_at_k"],
                           res["precision_at_k_tie_average"]):
        out[f"p_at_{k}"] = float(got)
        out[f"p_at_{k}_tie"] = float(tie)
    return out


def evaluate(model, images, labels, q, db, want_hier: bool = False) -> dict:
    """mAP, P@k (and hierarchical P@100) of ``model`` on the split; ``db`` in ranking order.

    Also ``encode_images_per_s`` and ``database_order``; with ``want_hier``
    the columns of :func:`hierarchical` and :func:`class_accuracy`.
    """
    (codes, feats), enc_s = timed(
        lambda: model.encode(images, batch_size=1024, return_features=True))
    out = retrieval_scores(codes[q], codes[db], labels[q], labels[db], int(model.nbits))
    out.update(encode_images_per_s=len(images) / enc_s, database_order="shuffled")
    if want_hier:
        out.update(hierarchical(model, codes, feats, labels, q, db))
        out.update(class_accuracy(model, feats, labels, q, db))
    return out


def class_accuracy(model, feats, labels, q, db) -> dict:
    """Accuracy of the net's class layer (F8) on the queries and on the database.

    The database is the training set, so its accuracy says how well the net
    fits it; with Hamming ranking over class-clustered codes, mAP is close to
    ``acc_q * acc_db + (1 - acc_q) * (AP of a misclassified query)``.
    The logits come from the F7 ``feats`` already encoded (the head alone,
    no second pass through the backbone).  Empty for models without a class
    layer.
    """
    import torch

    net = model.net_
    net.eval()
    with torch.no_grad():
        out = net.head(torch.from_numpy(feats).to(model.device_))
    if "logits" not in out:
        return {}
    pred = out["logits"].argmax(1).cpu().numpy()
    return {"query_accuracy": float(np.mean(pred[q] == labels[q])),
            "database_accuracy": float(np.mean(pred[db] == labels[db]))}


def hierarchical(model, codes, feats, labels, q, db, k: int = 100) -> dict:
    """P@k of Hamming ranking vs hierarchical search (Lin et al.) on F7.

    Pool = the 2k nearest codes (ties at the boundary included), re-ranked by
    F7 distance; and the "bucket" variant (Hamming order, F7 distance within
    a distance bucket).  Both with the F7 vectors as they are (L2, the
    paper's choice) and scaled to unit norm (cosine: ``normalize_features``).
    A pool much larger than a class (e.g. 1000 on MNIST-5k, 400 items per
    class) lets F7 pull in other classes; 2k keeps it inside the relevant
    neighbourhood.
    """
    import hamsearch
    from hamsearch.encoders.deep.encoding import unit_rows

    out = {}
    for suffix, f in (("", feats), ("_cosine", unit_rows(feats))):
        index = hamsearch.Index(nbits=model.nbits)
        index.add(codes[db], ids=np.arange(len(db)), features=f[db])
        if not suffix:
            _, I_h = index.search(codes[q], k)
            out["p_at_100_hamming"] = _precision_at(I_h, labels[db], labels[q])
        _, I_p = index.search(codes[q], k, query_features=f[q], pool_size=min(2 * k, len(db)))
        _, I_b = index.search(codes[q], k, query_features=f[q], rerank="bucket")
        out["p_at_100_hierarchical" + suffix] = _precision_at(I_p, labels[db], labels[q])
        out["p_at_100_bucket" + suffix] = _precision_at(I_b, labels[db], labels[q])
    return out

"""The stored items of :class:`~hamsearch.serve.service.IndexService`:
:class:`ItemsMixin` (the neighbours of a stored id, image queries through
the model, the ids with thumbnails, their labels)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .errors import ApiError
from .hits import hits

__all__ = ["ItemsMixin"]


class ItemsMixin:
    """:meth:`similar`, :meth:`search_images` and :meth:`list_items` of
    :class:`~hamsearch.serve.service.IndexService` (hierarchical re-ranking
    through :class:`~hamsearch.serve.reads.ReadsMixin`)."""

    def similar(self, id_: int, k: int = 10, exclude_self: bool = True) -> dict:
        """Top-k of a stored item: Hamming only and (with features) re-ranked."""
        from ..filters import IdFilter

        self._check_k(k)
        self._readable()
        index = self._index
        try:
            code = index.reconstruct([id_])
        except KeyError:
            raise ApiError(404, "id", f"id {id_} is not in the index") from None
        flt = IdFilter.deny([id_]) if exclude_self else None
        D, I = index.search(code, k, filter=flt)
        out = {"id": id_, "label": self._label(id_), "hamming": self._labelled(hits(D, I)[0]),
               "hierarchical": None}
        if index.features_dim is not None:
            try:
                qf = index.reconstruct_features([id_]).astype(np.float32)
            except KeyError:  # removed meanwhile
                raise ApiError(404, "id", f"id {id_} is not in the index") from None
            out["hierarchical"] = self._labelled(self._hierarchical(index, code, qf, k, flt)[0])
        return out

    def _label(self, id_: int):
        return None if self.items is None else self.items.label(id_)

    def _labelled(self, row: list) -> list:
        """Hits with the items' labels (when the service has labelled thumbnails)."""
        if self.items is None or self.items.labels is None:
            return row
        for hit in row:
            hit["label"] = self.items.label(hit["id"])
        return row

    def search_images(self, images: np.ndarray, k: int = 10) -> dict:
        """Encode ``uint8`` images with the model and search: Hamming and re-ranked."""
        if self.encoder is None:
            raise ApiError(409, None, "this service has no model to encode images: start it "
                                      "with --model or --demo")
        self._check_k(k)
        self._readable()
        codes, feats = self.encoder.encode(images)
        index = self._index
        D, I = index.search(codes, k)
        out = {"results": [self._labelled(r) for r in hits(D, I)], "hierarchical": None}
        if feats is not None and index.features_dim == feats.shape[1]:
            rows = self._hierarchical(index, codes, feats.astype(np.float32), k, None)
            out["hierarchical"] = [self._labelled(r) for r in rows]
        return out

    def list_items(self, offset: int = 0, limit: int = 48, seed: Optional[int] = None) -> dict:
        """Ids with thumbnails (those in the index): in order, or a seeded sample."""
        if self.items is None:
            return {"total": 0, "items": []}
        self._readable()
        index = self._index
        n = len(self.items)
        if seed is not None:
            order = np.random.default_rng(seed).permutation(n)[: offset + 4 * limit]
        else:
            order = np.arange(offset, min(n, offset + 4 * limit))
            offset = 0
        candidates = [int(i) for i in order[offset:]]
        stored = self._backend.present(index, candidates)
        chosen = [i for i, ok in zip(candidates, stored) if ok][:limit]
        return {"total": n, "items": [{"id": i, "label": self.items.label(i)} for i in chosen]}

"""Float feature vectors stored beside the codes, for re-ranking.

An :class:`~hamsearch.Index` may keep one float vector per code (for
instance the 4096-d F7 activations of the network that produced the code):
:meth:`Index.search` can then re-rank a Hamming candidate pool by exact
Euclidean distance or inner product on those vectors (see
:mod:`hamsearch.rerank`).

Rules (checked by :meth:`FeatureStore.convert` and :meth:`FeatureStore.check`,
before the index changes):

* Features are floating point.  ``float16``, ``float32`` and ``float64``
  inputs are converted to the storage dtype (``float32`` by default,
  ``float16`` with ``Index(..., features_dtype="float16")``, half the
  memory).  Integer and bool arrays are rejected with a ``TypeError``: they
  are more often codes passed in the wrong argument than features, and an
  explicit ``.astype(np.float32)`` says what is meant.
* Every value is finite after conversion: NaN, +-inf, and values beyond the
  storage dtype's range (above 65504 for float16) are a ``ValueError``.
* The dimension ``d`` is fixed by the first :meth:`Index.add` that adds
  codes; so is whether the index holds features at all.  Later adds must
  all give features of that dimension, or all give none.  Both stay fixed
  until :meth:`Index.reset`.

Rows are aligned with the index's code storage: row ``i`` belongs to the
code at storage position ``i``.  Growth is geometric, like the codes;
:meth:`Index.remove` compacts the features with the same mask as the codes
(into new arrays, so that a running search keeps its snapshot).  Saved
indexes keep the features as one raw section, which ``hamsearch.load(path,
mmap=True)`` maps without reading: 1M x 4096 float16 (8 GB) need not fit in
memory, and a search touches only the rows of its candidate pools.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FeatureStore", "FEATURE_DTYPES", "check_features_dtype", "as_query_features"]

#: Storage dtypes an index accepts for its features.
FEATURE_DTYPES = ("float32", "float16")

# Rows converted / checked at a time (bounds temporary memory on huge inputs).
_CHUNK_BYTES = 1 << 26


def check_features_dtype(dtype) -> np.dtype:
    """Validate a storage dtype (``"float32"`` or ``"float16"``)."""
    if dtype is None:
        raise TypeError(f"features_dtype must be one of {FEATURE_DTYPES}, got None")
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(
            f"features_dtype must be one of {FEATURE_DTYPES}, got {dtype!r}"
        ) from exc
    if dt.name not in FEATURE_DTYPES:
        raise ValueError(f"features_dtype must be one of {FEATURE_DTYPES}, got {dt.name!r}")
    return dt


def _as_float_array(x, name: str) -> np.ndarray:
    if isinstance(x, np.ndarray):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be a float array, got {type(x).__name__}") from exc
    if arr.dtype.kind != "f":
        raise TypeError(
            f"{name} must be floating point (float16, float32 or float64), got dtype "
            f"{arr.dtype} with shape {arr.shape}; convert explicitly, e.g. "
            f"{name}.astype(np.float32)"
        )
    if arr.dtype.itemsize > 8:
        raise TypeError(f"{name}: dtype {arr.dtype} is not supported (float16/32/64 only)")
    return arr


def _rows_per_chunk(d: int, itemsize: int) -> int:
    return max(1, _CHUNK_BYTES // max(1, d * itemsize))


def _converted(arr: np.ndarray, dtype: np.dtype, name: str) -> np.ndarray:
    """``arr`` as a C-contiguous ``dtype`` array whose values are all finite.

    Works by row chunks, so a memory-mapped input is streamed once.  Returns
    ``arr`` itself (no copy) when it already has the right dtype and layout.
    """
    n, d = arr.shape
    same = arr.dtype == dtype and arr.flags.c_contiguous
    out = arr if same else np.empty((n, d), dtype=dtype)
    step = _rows_per_chunk(d, 8)
    with np.errstate(over="ignore", invalid="ignore"):
        for s in range(0, n, step):
            chunk = arr[s : s + step]
            conv = chunk if same else chunk.astype(dtype)
            finite = np.isfinite(conv)
            if not finite.all():
                r, c = np.argwhere(~finite)[0]
                bad = chunk[r, c]
                why = (
                    f"overflows {dtype.name} storage"
                    if np.isfinite(bad)
                    else "is not finite"
                )
                raise ValueError(
                    f"{name}[{s + int(r)}, {int(c)}] = {bad!r} {why}; features must be "
                    f"finite{' and within +-65504 for float16 storage' if dtype == np.float16 else ''}"
                )
            if not same:
                out[s : s + step] = conv
    return out


def as_query_features(x, d: int, nq: int, name: str = "query_features") -> np.ndarray:
    """Validate query features: finite floats of shape ``(nq, d)`` -> float32.

    A single vector may be given as 1-D ``(d,)`` when ``nq == 1``.
    """
    arr = _as_float_array(x, name)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape != (nq, d):
        raise ValueError(
            f"{name} must have shape ({nq}, {d}) (one row per query, the index's "
            f"feature dimension), got {arr.shape}"
        )
    return _converted(arr, np.dtype(np.float32), name)


class FeatureStore:
    """Row-aligned float features of an index (internal to :class:`Index`).

    Parameters
    ----------
    dtype : {"float32", "float16"}
        Storage dtype.

    Attributes
    ----------
    dtype : numpy.dtype
        Storage dtype.
    d : int or None
        Feature dimension, ``None`` until fixed by the first add with codes.
    enabled : bool or None
        Whether the index holds features; ``None`` until the first add.
    """

    def __init__(self, dtype="float32"):
        self.dtype = check_features_dtype(dtype)
        self.reset()

    def reset(self) -> None:
        """Forget the features, the dimension and the with/without decision."""
        self.d = None
        self.enabled = None
        self._buf = None

    # ----------------------------------------------------------- validation
    def convert(self, features, n: int, name: str = "features"):
        """Validate the features of an add of ``n`` codes and convert them.

        Returns ``None`` for an add without features, else a C-contiguous
        array in the storage dtype (the input itself when it already is one).
        Checks only the array (dtype, shape, finite values); :meth:`check`
        compares it with the index's state.
        """
        if features is None:
            return None
        arr = _as_float_array(features, name)
        if arr.ndim == 1 and n == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[0] != n:
            raise ValueError(
                f"{name} must have shape ({n}, d), one row per code, got {arr.shape}"
            )
        if arr.shape[1] == 0:
            raise ValueError(f"{name} must have at least one column, got shape {arr.shape}")
        return _converted(arr, self.dtype, name)

    def check(self, features, n: int, name: str = "features") -> None:
        """Raise if an add of ``n`` codes with ``features`` (from :meth:`convert`)
        does not match the index: dimension, or features given for some adds
        and not others.  Call under the index lock, before any change."""
        if n == 0:
            if features is not None and self.d is not None and features.shape[1] != self.d:
                raise ValueError(
                    f"{name} has dimension {features.shape[1]}, but the index holds "
                    f"{self.d}-d features"
                )
            return
        if features is None:
            if self.enabled:
                raise ValueError(
                    f"this index stores {self.d}-d features for every code: pass "
                    f"{name}= with shape ({n}, {self.d}) to add"
                )
            return
        if self.enabled is False:
            raise ValueError(
                f"this index was built without features; {name}= cannot be given "
                "now (features are all or nothing: build the index again, adding "
                "features with every batch of codes)"
            )
        if self.d is not None and features.shape[1] != self.d:
            raise ValueError(
                f"{name} has dimension {features.shape[1]}, but the index holds "
                f"{self.d}-d features"
            )

    # -------------------------------------------------------------- storage
    def capacity(self) -> int:
        return 0 if self._buf is None else int(self._buf.shape[0])

    def reserve(self, n_used: int, need: int, features) -> None:
        """Make room for rows ``n_used:need`` (may copy into a new buffer).

        ``features`` is what :meth:`convert` returned for the pending add.  Runs
        before the codes change, so a ``MemoryError`` leaves the index as it
        was (the rows kept are the same, only the capacity may differ).
        """
        if need <= n_used or features is None:
            return
        d = features.shape[1]
        buf = self._buf
        if buf is None or need > buf.shape[0] or not buf.flags.writeable:
            cap = need if n_used == 0 else max(need, int(self.capacity() * 1.5) + 16)
            new = np.empty((cap, d), dtype=self.dtype)
            if n_used:
                step = _rows_per_chunk(d, self.dtype.itemsize)
                for s in range(0, n_used, step):
                    new[s : min(s + step, n_used)] = buf[s : min(s + step, n_used)]
            buf = new
        self._buf = buf

    def write(self, start: int, features) -> None:
        """Store ``features`` (from :meth:`convert`) at rows ``start:``, after
        :meth:`reserve`; records the with/without decision of a first add."""
        if features is None:
            if self.enabled is None:
                self.enabled = False
            return
        if features.shape[0]:
            self._buf[start : start + features.shape[0]] = features
            self.d = int(features.shape[1])
            self.enabled = True

    def view(self, n: int):
        """The first ``n`` rows (a view), or ``None`` without features."""
        if not self.enabled or self._buf is None:
            return None
        return self._buf[:n]

    def restore_layout(self, meta: dict) -> None:
        """Take the dimension and the with/without decision from index metadata."""
        self.reset()
        self.enabled = meta.get("features_enabled")
        if meta.get("features_d") is not None:
            self.d = int(meta["features_d"])

    def detach(self, n: int):
        """Hand the first ``n`` rows to a sealed segment and start an empty
        buffer (the dimension and the with/without decision stay).  Returns
        them (trimmed to exactly ``n`` rows: a copy when the buffer has more
        capacity), or ``None`` without features."""
        buf, self._buf = self._buf, None
        if not self.enabled or buf is None or n == 0:
            return None
        return buf if buf.shape[0] == n else buf[:n].copy()

    def compact(self, n: int, keep: np.ndarray) -> None:
        """Keep rows ``i < n`` where ``keep[i]`` (a new array)."""
        if self.enabled and self._buf is not None:
            self._buf = self._buf[:n][keep]

    @property
    def nbytes(self) -> int:
        return 0 if self._buf is None else int(self._buf.nbytes)

    # ---------------------------------------------------------- persistence
    def restore(self, meta: dict, arrays: dict, n: int) -> None:
        """Rebuild from :meth:`meta` and the ``"features"`` section (may be a memmap)."""
        self.reset()
        self.enabled = meta.get("features_enabled")
        feats = arrays.get("features")
        if self.enabled:
            if feats is None:
                raise ValueError("the index metadata promises features but the file has none")
            if feats.ndim != 2 or feats.shape[0] < n or feats.dtype != self.dtype:
                raise ValueError(
                    f"features section has shape {feats.shape} and dtype {feats.dtype}, "
                    f"expected ({n}, d) {self.dtype.name}"
                )
            self._buf = feats
            self.d = int(feats.shape[1])
        elif meta.get("features_d") is not None:
            self.d = int(meta["features_d"])

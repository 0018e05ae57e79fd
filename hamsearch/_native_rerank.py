"""Compatibility name of the re-rank kernels of the C backend (now in
:mod:`hamsearch._kernels.c`; attributes are looked up there)."""

from __future__ import annotations

from ._kernels import c as _c


def has_rerank() -> bool:
    """True when the C backend is available (it always has the re-rank kernels)."""
    return _c.available()


def __getattr__(name):
    return getattr(_c, name)

"""Compatibility name of the MIH kernels of the C backend (now in
:mod:`hamsearch._kernels.c`; attributes are looked up there)."""

from __future__ import annotations

from ._kernels import c as _c


def has_mih() -> bool:
    """True when the C backend is available (it always has the MIH kernels)."""
    return _c.available()


def __getattr__(name):
    return getattr(_c, name)

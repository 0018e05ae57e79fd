"""Compatibility name of the C backend, :mod:`hamsearch._kernels.c`.

Every attribute is looked up on that module at access time (so ``NAME``
follows :func:`set_isa`); nothing is defined here.
"""

from __future__ import annotations

from ._kernels import c as _c


def __getattr__(name):
    return getattr(_c, name)


def __dir__():
    return dir(_c)

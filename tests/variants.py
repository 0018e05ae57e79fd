"""The C kernel variants the tests run over, read from the C variant table.

Tests never list the variants by hand: a row added to the table in
``csrc/dispatch.c`` is tested everywhere these helpers are used.
"""

from __future__ import annotations


def c_variants() -> list[tuple[str, str, bool]]:
    """``(short name, variant name, supported)`` per row of the C variant
    table, best first; ``[]`` without the C backend.  The short name is the
    row's alias when it has one (``"avx512"``), else its name."""
    from hamsearch._kernels import c

    if not c.available():
        return []
    return [(alias or name, name, ok) for name, alias, _caps, ok in c.variants()]


def supported_c_variants() -> list[str]:
    """Short names of the rows this CPU runs (see :func:`c_variants`)."""
    return [short for short, _name, ok in c_variants() if ok]

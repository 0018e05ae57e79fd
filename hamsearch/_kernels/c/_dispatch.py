"""CPU detection and the variant table of ``csrc/dispatch.c`` as Python
sees them: the variant in force (:func:`isa`), the table
(:func:`variants`), the CPU's capabilities, the re-rank variant, and the
threading testing hook.  :func:`hamsearch._kernels.c.set_isa` chooses a
row (it lives beside ``NAME``, which it updates)."""

from __future__ import annotations

from ._ext import _lib, _need, _str


def isa() -> str:
    """Kernel variant in force: a name from :func:`variants`, e.g. "avx2"."""
    _need()
    return _str(_lib.hs_isa_name())


def variants() -> list:
    """The C variant table, best first: ``[(name, alias, caps, supported)]``.

    ``alias`` is the short name :func:`set_isa` also accepts (or None),
    ``caps`` the capability names the variant needs, ``supported`` whether
    this CPU has them all.
    """
    _need()
    have = _lib.hs_cpu_caps()
    out = []
    for i in range(_lib.hs_variant_count()):
        caps = int(_lib.hs_variant_caps(i))
        names = [_str(_lib.hs_cap_name(b)) for b in range(64) if caps >> b & 1]
        out.append((_str(_lib.hs_variant_name(i)), _str(_lib.hs_variant_alias(i)) or None,
                    names, (caps & ~int(have)) == 0))
    return out


def cpu_features() -> list:
    """CPU capabilities the kernels can use on this machine, e.g. ``["popcnt", "avx2"]``."""
    _need()
    return _str(_lib.hs_cpu_features()).split()


def rerank_isa() -> str:
    """Re-rank distance variant in force: ``"avx2-fma-f16c"`` or ``"portable"``."""
    _need()
    return _str(_lib.hs_rerank_isa())


def _set_spin_ns(ns: int) -> int:
    """Benchmark / testing hook: how long (ns) idle worker threads of the C
    pool, and callers waiting for them, spin before they sleep (0: never
    spin).  Returns the old value."""
    _need()
    return int(_lib.hs_set_spin_ns(int(ns)))


def _set_min_work_per_thread(units: int) -> int:
    """Testing hook: below this much work (codes x queries x words) a search
    uses fewer threads than asked; 0 means never.  Returns the old value."""
    _need()
    return int(_lib.hs_set_min_work_per_thread(int(units)))

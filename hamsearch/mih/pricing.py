"""The prices of the ``auto`` cost model: per kernel backend, what a flat
scan and each counted part of an MIH search cost (:data:`BACKEND_COSTS`,
:data:`FLAT_WORD_COST`, fitted with ``bench.fit_auto``), the MIH kernels'
work budget, and the functions that price a query from its predicted
counts.  :class:`hamsearch.mih.cost.AutoRule` predicts the counts;
:func:`cost_constants` lists the prices for ``hamsearch info``.

Tests patch the functions here (``hamsearch.mih.pricing.flat_word_cost``):
:mod:`hamsearch.mih.cost` calls them through this module.
"""

from __future__ import annotations

import functools

import numpy as np

from .._backend import kernels

#: The terms of MIH's predicted cost of a query, each counted per query:
#: ``probe`` -- a bucket probe of a dense table whose offsets fit in L2
#: (``b <= CACHED_TABLE_BITS``); ``probe_uncached`` -- of a larger dense
#: table; ``probe_sparse`` -- a bucket visit of a sparse table (prefix
#: offsets, suffix bytes and row numbers, each a random access, overlapped
#: 32 at a time); ``verify_word`` -- a candidate verified from the inline
#: codes, per code word; ``verify_random`` -- a candidate verified by a
#: random access into the codes while they fit in RANDOM_CACHED_BYTES;
#: ``verify_random_dram`` -- beyond; ``hit_per_table`` -- a result, per
#: substring (its de-duplication).
MIH_TERMS = ("probe", "probe_uncached", "probe_sparse", "verify_word", "verify_random",
             "verify_random_dram", "hit_per_table")
#: Per backend, the cost of each MIH term and of the flat scan's parts, in
#: units of one code word of the flat scan (of the AVX2 kernel for C: see
#: FLAT_WORD_COST): ``hit_flat``, collecting a radius search's result;
#: ``hit_knn``, each unit of a k-NN's k (a larger k keeps more candidates
#: and a larger top-k: ~5x a range result on C, ~30x on Numba); optional
#: ``flat_word`` / ``flat_code``, the scan per word and per code (default:
#: FLAT_WORD_COST and 0) -- see :func:`predicted_flat_cost`.
BACKEND_COSTS = {
    "c": {"probe": 22.0, "probe_uncached": 55.1, "probe_sparse": 50.0, "verify_word": 8.63,
          "verify_random": 40.0, "verify_random_dram": 74.3, "hit_per_table": 119.0,
          "hit_flat": 304.0},
    "numba": {"probe": 19.9, "probe_uncached": 63.2, "probe_sparse": 50.0, "verify_word": 11.4,
              "verify_random": 40.0, "verify_random_dram": 115.0, "hit_per_table": 188.0,
              "hit_flat": 293.0},
    # AVX-512 VPOPCNTDQ hosts (fitted on AMD Zen 5, 2026-12-03, with the
    # budget scaled by the scan's word cost): their scan is 2.5x cheaper per
    # word, random reads of codes out of DRAM and result pushes are not.
    # The scan terms refitted on Zen 5 (three runs of bench.fit_auto, 2026-12-03
    # session 3): C's k-NN k costs ~5x a range result; Numba's scan costs
    # 0.22 per word plus 0.43 per code (its 64-bit scan is 2-3x C's, its
    # 256-bit one C's) and its k-NN k ~30x a range result.
    "c-avx512-vpopcntdq": {"probe": 22.0, "probe_uncached": 55.1, "probe_sparse": 50.0,
                           "verify_word": 11.0, "verify_random": 40.0,
                           "verify_random_dram": 121.0, "hit_per_table": 150.0,
                           "hit_flat": 360.0, "hit_knn": 1900.0},
    "numba-avx512": {"probe": 19.9, "probe_uncached": 63.2, "probe_sparse": 50.0,
                     "verify_word": 11.4, "verify_random": 40.0, "verify_random_dram": 234.0,
                     "hit_per_table": 150.0, "hit_flat": 360.0, "hit_knn": 10500.0,
                     "flat_word": 0.22, "flat_code": 0.43},
}
#: Work per query, in the MIH kernels' own units (``n * words`` for a whole
#: AVX2 scan's worth), before a query gives up and starts over with a linear
#: scan; a quarter of it when the tables' offsets do not fit in L2.  The
#: budget is scaled by the scan's cost per word (:data:`FLAT_WORD_COST`):
#: MIH's probes and random reads cost the same on a wider popcount, its scan
#: does not (with AVX-512 a query verifying 256-bit codes out of DRAM ran
#: 1.2 scans' worth before it gave up, against 0.3 with AVX2).
BUDGET_FACTOR = 0.5
#: What the MIH kernels count as work (``MIH_PROBE_COST`` and
#: ``MIH_RANDOM_COST`` of ``csrc/mih.c``, ``PROBE_COST`` and ``RANDOM_COST``
#: of :mod:`hamsearch._numba.mih.probe`): per probe and per candidate read by a
#: random access; an inline candidate counts its code words.
KERNEL_PROBE_WORK = 32
KERNEL_RANDOM_WORK = 32
#: Flat scan cost per code word of each kernel, relative to AVX2 (measured
#: with ``bench.compare_flat``-like runs: 1M x 128-bit k-NN).  Numba's scan
#: is vectorised by LLVM for the host: on a CPU with AVX-512 VPOPCNTDQ
#: (``"numba-avx512"``) it costs what the C AVX-512 scan does (0.0297 against
#: 0.0292 ns per word over the 40 points of ``bench.fit_auto`` on AMD Zen 5).
FLAT_WORD_COST = {"avx512-vpopcntdq": 0.4, "avx512": 0.6, "avx2": 1.0, "popcnt": 1.5,
                  "portable": 5.0, "numba": 1.0, "numba-avx512": 0.4}
#: MIH must be predicted this much cheaper than the scan.
AUTO_MARGIN = 0.8


def _backend_keys() -> tuple[str, str]:
    """``(backend, variant)``: ``("c", "avx2")``, ``("numba", "numba-avx512")``, ..."""
    name = kernels().NAME
    if name.startswith("c-"):
        return "c", name[2:]
    if name == "numba" and _llvm_has_vpopcntdq():
        return name, "numba-avx512"
    return name, name


@functools.lru_cache(maxsize=1)
def _llvm_has_vpopcntdq() -> bool:
    """Whether Numba compiles for a CPU with AVX-512 VPOPCNTDQ (LLVM's own
    view of the host, which is what its scan is vectorised for)."""
    try:
        from llvmlite import binding

        return bool(binding.get_host_cpu_features().get("avx512vpopcntdq", False))
    except Exception:  # no llvmlite, or a host LLVM cannot describe
        return False


def flat_word_cost() -> float:
    """:data:`FLAT_WORD_COST` of the kernels in use."""
    return FLAT_WORD_COST.get(_backend_keys()[1], 1.0)


def costs_key() -> str:
    """The :data:`BACKEND_COSTS` entry of the kernels in use: the variant's
    own (``"c-avx512-vpopcntdq"``) where one was fitted, else the backend's."""
    backend, isa = _backend_keys()
    name = f"{backend}-{isa}" if backend == "c" else isa
    if name in BACKEND_COSTS:
        return name
    return backend if backend in BACKEND_COSTS else "c"


def backend_costs() -> dict:
    """:data:`BACKEND_COSTS` of the kernels in use (the dict itself)."""
    return BACKEND_COSTS[costs_key()]


def cost_constants() -> dict:
    """The cost model's constants for the kernels in use (``hamsearch info``)."""
    return {"backend": _backend_keys()[0], "costs": costs_key(),
            "flat_word_cost": flat_word_cost(),
            **backend_costs(), "budget_factor": BUDGET_FACTOR, "margin": AUTO_MARGIN}


def work_budget(words: float, cached: bool = True, factor: float = BUDGET_FACTOR,
                word_cost: float | None = None) -> float:
    """The MIH kernels' work budget per query over ``words`` code words
    (``n * w``); ``cached``: the tables' offsets fit in L2 (else a quarter:
    their probes cost several times what the kernel counts); ``word_cost``:
    the scan's cost per word relative to AVX2 (default: the kernels in use,
    :func:`flat_word_cost`)."""
    if word_cost is None:
        word_cost = flat_word_cost()
    return (factor if cached else factor / 4) * words * word_cost + 256


def predicted_flat_cost(words: float, hits: float, constants: dict, word_cost: float,
                        n: float = 0.0, knn: bool = False) -> float:
    """The flat scan's cost of a query over ``n`` codes of ``words`` words
    in all: ``constants["flat_word"]`` per code word read (default
    ``word_cost``, the variant's :data:`FLAT_WORD_COST`), ``flat_code`` per
    code (default 0), and per result ``hit_knn`` for a k-NN search (``hits``
    = k; default ``hit_flat``) or ``hit_flat`` for a radius search.

    The Numba scan costs about as much per code as per 64-bit word, and its
    k-NN top-k costs ~50x a range result per unit of k: one cost per word
    and per result mispriced its 64-bit scans by 2-3x (AMD Zen 5).
    """
    hit = constants.get("hit_knn", constants["hit_flat"]) if knn else constants["hit_flat"]
    return (constants.get("flat_word", word_cost) * words
            + constants.get("flat_code", 0.0) * n + hit * hits)


def predicted_mih_costs(per: np.ndarray, words: float, flat: float, constants: dict,
                        word_cost: float | None = None) -> np.ndarray:
    """MIH cost of each query from its predicted terms.

    Parameters
    ----------
    per : ndarray, shape (queries, len(MIH_TERMS))
        Each query's predicted counts of :data:`MIH_TERMS`.
    words : float
        ``n * w``, the code words a scan reads.
    flat : float
        The flat scan's cost of a query.
    constants : dict
        Cost of each term (a :data:`BACKEND_COSTS` entry).
    word_cost : float, optional
        The scan's cost per word (default: the kernels in use), which scales
        the kernel's budget (:func:`work_budget`).

    Returns
    -------
    ndarray, shape (queries,)
        ``per @ constants`` for a query whose kernel work stays within
        :func:`work_budget`; otherwise the share of it done before the
        budget ran out plus the scan it then starts over with.
    """
    col = {t: per[:, i] for i, t in enumerate(MIH_TERMS)}
    each = per @ np.array([constants[t] for t in MIH_TERMS], dtype=float)
    work = (KERNEL_PROBE_WORK * (col["probe"] + col["probe_uncached"] + col["probe_sparse"])
            + col["verify_word"]
            + KERNEL_RANDOM_WORK * (col["verify_random"] + col["verify_random_dram"]))
    cached = not bool((col["probe_uncached"] + col["probe_sparse"]).any())
    budget = work_budget(words, cached, word_cost=word_cost)
    over = work > budget
    done = np.where(over, budget / np.maximum(work, 1.0), 1.0)
    return each * done + np.where(over, flat, 0.0)

"""``hamsearch info``: version, backend, CPU features, threads, optional packages."""

from __future__ import annotations

import importlib.util
import platform


def register(sub):
    p = sub.add_parser("info", help="print version, backend, CPU features and threads",
                       description="Print the hamsearch version, the kernel backend in use, "
                                   "the CPU features the kernels use, the thread count, the "
                                   "cost model of method='auto' and the optional packages "
                                   "installed.")
    p.set_defaults(func=run)


def _version(name: str) -> str:
    if importlib.util.find_spec(name) is None:
        return "not installed"
    try:
        from importlib.metadata import version

        dist = {"faiss": "faiss-cpu", "sklearn": "scikit-learn"}.get(name, name)
        return version(dist)
    except Exception:  # noqa: BLE001
        return "installed"


def _cost_line() -> str:
    try:
        from hamsearch.mih import cost_constants

        c = cost_constants()
    except RuntimeError:
        return "-"
    word = c.get("flat_word", c["flat_word_cost"])
    scan = f"flat scan {word:g} per code word"
    if c.get("flat_code"):
        scan += f" + {c['flat_code']:g} per code"
    return (f"{c['costs']}: {scan}, result {c.get('hit_knn', c['hit_flat']):g} per k (k-NN) "
            f"/ {c['hit_flat']:g} (range); MIH probe "
            f"{c['probe']:g}/{c['probe_uncached']:g}/{c['probe_sparse']:g} (cached/uncached/"
            f"sparse), verify {c['verify_word']:g}/word or {c['verify_random']:g}/"
            f"{c['verify_random_dram']:g} (random, cached/DRAM), result "
            f"{c['hit_per_table']:g}/table")


def run(args) -> int:
    import hamsearch
    from hamsearch import _backend

    try:
        name = hamsearch.backend()
    except RuntimeError as exc:
        name = f"unavailable ({exc})"
    features = None
    try:
        from hamsearch import _native

        if _native.available():
            features = _native.cpu_features()
    except ImportError:
        pass
    rows = [
        ("hamsearch", hamsearch.__version__),
        ("backend", name),
        ("C extension", "built" if features is not None else "not built (Numba kernels)"),
        ("CPU", platform.processor() or platform.machine()),
        # the C kernels' own CPUID detection (csrc/dispatch.c), not /proc/cpuinfo
        ("CPU features (kernels)", ", ".join(features) if features else "-"),
        ("threads", str(_backend.get_num_threads())),
        ("auto cost model", _cost_line()),
        ("python", platform.python_version()),
    ]
    for pkg in ("numpy", "numba", "cffi", "faiss", "sklearn", "scipy", "torch", "matplotlib"):
        rows.append((pkg, _version(pkg)))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0

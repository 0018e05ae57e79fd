"""This checkout against another one, interleaved in one process (A/B).

``python -m bench.ab_versions --base /path/to/other/checkout``

On a shared 2-core machine two benchmark runs minutes apart differ by more
than the effect of most changes (FAISS's own figures moved by 2x between
consecutive ``bench.compare_flat`` runs here).  This script imports the other
checkout's built package under the name ``hamsearch_base`` beside this one
and times the two, and ``faiss.IndexBinaryFlat``, call by call in rotation
(``--reps`` rounds in changing order, the median per engine), so that machine noise hits all
three alike.  The grid is that of ``bench.compare_flat`` (flat k-NN, 64/128/256
bits, 1 and 2 threads, k 1/10/100, clustered codes) and of ``bench.compare_mih
--nbits 64 --data clustered-0.05`` (MIH k-NN and radius search, 2 threads).
It prints, per point, each version's ratio against FAISS and new/base, and
their geometric means.

Run it once with ``--base`` a plain copy of this checkout to see the
harness's own bias: on 1M x 64-bit MIH the index built first (``new``) came
out ~5% slower at k=1..10 against an identical copy (memory placement of the
two 49 MB table sets), so read small differences against that figure.

The other checkout must have its C extension built (``python setup.py
build_ext --inplace`` there).
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import math
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from ._common import bench_env, machine_line, omp_line, print_table


def import_base(checkout: str):
    """Import ``checkout/hamsearch`` as the package ``hamsearch_base``."""
    src = os.path.join(os.path.abspath(checkout), "hamsearch")
    if not os.path.isdir(src):
        raise SystemExit(f"{checkout}: no hamsearch package there")
    tmp = tempfile.mkdtemp(prefix="hamsearch-ab-")
    shutil.copytree(src, os.path.join(tmp, "hamsearch_base"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, tmp)
    base = importlib.import_module("hamsearch_base")
    if not base.backend().startswith("c-"):
        raise SystemExit(f"{checkout}: its C extension is not built (backend {base.backend()})")
    _own_kernels(base, checkout)
    return base


def _own_kernels(base, checkout: str) -> None:
    """Make the base copy dispatch to its own kernel modules.  Checkouts from
    the kernel layer (9562b37) to 2026-12-04 name their backends by absolute
    module (``hamsearch._kernels.c``), which in this process is *this*
    checkout's: their searches would run the new kernels, and every ratio
    would compare a build with itself."""
    if not hasattr(base._backend, "kernels"):
        return  # older than the kernel layer: it imports its own _native relatively
    table = getattr(getattr(base, "_kernels", None), "BACKENDS", None)
    if isinstance(table, dict):
        for name, module in list(table.items()):
            if module.startswith("hamsearch."):
                table[name] = "hamsearch_base." + module[len("hamsearch."):]
        base._backend._kernels = None  # chosen anew, from the table as fixed
    used = getattr(base._backend.kernels(), "__name__", "")
    if not used.startswith("hamsearch_base."):
        raise SystemExit(f"{checkout}: its searches run the kernels of {used!r}, not its own")


def _median_times(fns, reps: int):
    """Median seconds of each callable over ``reps`` rounds; each round calls
    them all, in an order that changes from round to round (what runs right
    after another engine finds its caches evicted)."""
    times = [[] for _ in fns]
    for f in fns:  # warm up
        f()
    orders = list(itertools.permutations(range(len(fns))))
    for r in range(reps):
        for i in orders[r % len(orders)]:
            t0 = time.perf_counter()
            fns[i]()
            times[i].append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]


def _threads(mods, faiss, n):
    for m in mods:
        m.set_num_threads(n)
    faiss.omp_set_num_threads(n)


def _gm(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="path of the other checkout")
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--nq", type=int, default=1000)
    p.add_argument("--reps", type=int, default=12)
    p.add_argument("--skip-flat", action="store_true")
    p.add_argument("--skip-mih", action="store_true")
    p.add_argument("--mih-balanced", action="store_true",
                   help="MIH: time the two versions against each other only (no FAISS "
                        "between calls), once per build order, and average")
    args = p.parse_args(argv)

    import hamsearch
    from hamsearch.synthetic import clustered_codes

    def _c_lib(pkg):
        """The cffi library a checkout loaded (the kernel layer's C module,
        or ``_native`` in checkouts older than it)."""
        for name in ("_kernels.c", "_native"):
            try:
                mod = importlib.import_module(f"{pkg.__name__}.{name}")
            except ImportError:
                continue
            return getattr(mod, "_lib", None)
        return None

    from .compare_mih import make_data

    hamsearch.backend()  # load this checkout's extension first (cffi names both alike)
    base = import_base(args.base)
    if _c_lib(base) is _c_lib(hamsearch):
        raise SystemExit("both versions got the same C extension; cannot compare")
    faiss = bench_env(faiss_required=True)  # OMP_WAIT_POLICY=PASSIVE first
    print(machine_line())
    print(omp_line())
    print(f"new: {os.path.dirname(hamsearch.__file__)}  base: {args.base}  "
          f"median of {args.reps} interleaved calls, {args.nq} queries")
    print(f"kernels: new {hamsearch._backend.kernels().__name__}, "
          f"base {base._backend.kernels().__name__}\n")
    summary = []
    if not args.skip_flat:
        rows, ratios = [], []
        for nbits in (64, 128, 256):
            db, centres = clustered_codes(args.n, nbits, ncenters=1000, flip=0.1, seed=1)
            q, _ = clustered_codes(args.nq, nbits, centres=centres, flip=0.1, seed=2)
            new, old = hamsearch.Index(nbits, method="flat"), base.Index(nbits, method="flat")
            new.add(db)
            old.add(db)
            fi = faiss.IndexBinaryFlat(nbits)
            fi.add(db)
            for threads in (1, 2):
                _threads((hamsearch, base), faiss, threads)
                for k in (1, 10, 100):
                    assert np.array_equal(new.search(q, k)[0], old.search(q, k)[0])
                    t_new, t_old, t_f = _median_times(
                        [lambda: new.search(q, k), lambda: old.search(q, k),
                         lambda: fi.search(q, k)], args.reps)
                    ratios.append((t_f / t_new, t_f / t_old))
                    rows.append([nbits, threads, k, f"{t_f / t_old:.2f}x", f"{t_f / t_new:.2f}x",
                                 f"{t_old / t_new:.3f}"])
            del new, old, fi, db
        print("flat k-NN vs faiss.IndexBinaryFlat (1M clustered codes, flip 0.1)")
        print_table(["bits", "threads", "k", "base / faiss", "new / faiss", "new speed / base"],
                    rows)
        g_new, g_old = _gm([r[0] for r in ratios]), _gm([r[1] for r in ratios])
        print(f"geometric mean: base {g_old:.2f}x, new {g_new:.2f}x faiss "
              f"(new/base {g_new / g_old:.3f})\n")
        summary.append(("flat", g_old, g_new))
    if not args.skip_mih:
        rows, ratios = [], []
        db, q = make_data("clustered-0.05", args.n, args.nq, 64)
        new, old = hamsearch.Index(64, method="mih"), base.Index(64, method="mih")
        new.add(db)
        old.add(db)
        fi = faiss.IndexBinaryFlat(64)
        fi.add(db)
        _threads((hamsearch, base), faiss, 2)
        cases = [("k", k) for k in (1, 10, 100)] + [("r", r) for r in (2, 4, 8, 16)]
        for kind, v in cases:
            if kind == "k":
                calls = [lambda: new.search(q, v), lambda: old.search(q, v),
                         lambda: fi.search(q, v)]
            else:  # FAISS's range search is strict: r + 1 gives the same results
                calls = [lambda: new.range_search(q, v), lambda: old.range_search(q, v),
                         lambda: fi.range_search(q, v + 1)]
            t_new, t_old, t_f = _median_times(calls, args.reps)
            ratios.append((t_f / t_new, t_f / t_old))
            rows.append([f"{kind}={v}", f"{t_f / t_old:.1f}x", f"{t_f / t_new:.1f}x",
                         f"{t_old / t_new:.3f}"])
        print("MIH vs faiss.IndexBinaryFlat (1M x 64-bit, clustered-0.05, 2 threads)")
        print_table(["search", "base / faiss", "new / faiss", "new speed / base"], rows)
        g_new, g_old = _gm([r[0] for r in ratios]), _gm([r[1] for r in ratios])
        print(f"geometric mean: base {g_old:.1f}x, new {g_new:.1f}x faiss "
              f"(new/base {g_new / g_old:.3f})\n")
        summary.append(("mih", g_old, g_new))
    if args.mih_balanced:
        db, q = make_data("clustered-0.05", args.n, args.nq, 64)
        _threads((hamsearch, base), faiss, 2)
        speed = {}
        for order in ((hamsearch, base), (base, hamsearch)):
            built = {}
            for mod in order:  # the first-built index gets other memory placement
                built[mod.__name__] = mod.Index(64, method="mih")
                built[mod.__name__].add(db)
            new, old = built["hamsearch"], built[base.__name__]
            for kind, v in [("k", k) for k in (1, 10, 100)] + [("r", r) for r in (2, 8)]:
                if kind == "k":
                    calls = [lambda: new.search(q, v), lambda: old.search(q, v)]
                else:
                    calls = [lambda: new.range_search(q, v), lambda: old.range_search(q, v)]
                t_new, t_old = _median_times(calls, args.reps)
                speed.setdefault(f"{kind}={v}", []).append(t_old / t_new)
            del built, new, old
        rows = [[name, f"{v[0]:.3f}", f"{v[1]:.3f}", f"{np.mean(v):.3f}"]
                for name, v in speed.items()]
        print("MIH, the two versions only, both build orders (1M x 64-bit, clustered-0.05)")
        print_table(["search", "new first", "base first", "new speed / base (mean)"], rows)
        g = _gm([np.mean(v) for v in speed.values()])
        print(f"geometric mean new speed / base: {g:.3f}\n")
        summary.append(("mih balanced", 1.0, g))
    for name, g_old, g_new in summary:
        print(f"{name}: new/base = {g_new / g_old:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

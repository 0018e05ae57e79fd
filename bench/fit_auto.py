"""Fit the constants of ``method="auto"``'s cost model to measured searches.

``python -m bench.fit_auto measure --data fashion64,fashion128,fashion256,clustered64,clustered256 --out c.json``
(under ``HAMSEARCH_BACKEND=numba`` for the Numba backend), then
``python -m bench.fit_auto fit c.json``.

``measure`` builds a flat and an MIH index over each data set (those of
:mod:`bench.auto_rule`), times k-NN (k = 1, 10, 100) and radius searches
(r = 2, 4, 8, 12, 16) with each (best of 3), and records per point the MIH
kernel's own counts (probes, codes verified, queries that fell back to a
scan), the results per query, and the counts the cost model *predicts*
for the profiled queries (:meth:`hamsearch.mih.AutoRule.terms`).

``fit`` solves, by bounded least squares on relative error, for

* the flat scan: per code word (``flat_word``), per code (``flat_code``),
  per k of a k-NN search (``hit_knn``) and per range result (``hit_flat``);
* MIH: ns per term of :data:`hamsearch.mih.MIH_TERMS`, from the kernel's
  counts (points where more than 2% of the queries fell back are left
  out), pulled gently towards the current constants so terms the grid
  barely exercises keep their value,

and prints them in the model's units (one flat-scan code word of the
kernel, divided by :data:`~hamsearch.mih.FLAT_WORD_COST`), with, per point,
the measured MIH / flat time ratio, the ratio the model predicts with the
current constants, the current MIH constants with the refitted scan
terms, and all fitted constants, and ``auto``'s regret (time of the method
it would pick / the better one's) under each.
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

from ._common import best_time, machine_line, print_table, set_threads

SEARCHES = [("k", 1), ("k", 10), ("k", 100), ("r", 2), ("r", 4), ("r", 8), ("r", 12), ("r", 16)]
#: Points where more of the queries fell back to a scan are left out of the MIH fit.
MAX_FALLBACK = 0.02
#: Weight of the pull towards the current constants (relative error units).
PRIOR_WEIGHT = 0.3


def _kernel_terms(rec, terms):
    """The kernel's counts arranged as the model's terms at this point."""
    from hamsearch.mih import MIH_TERMS

    pred = rec["predicted_mean"]
    out = dict.fromkeys(MIH_TERMS, 0.0)
    probe = next((t for t in ("probe", "probe_uncached", "probe_sparse") if pred[t] > 0), "probe")
    out[probe] = rec["probes"]
    verify = next((t for t in ("verify_word", "verify_random", "verify_random_dram")
                   if pred[t] > 0), "verify_word")
    out[verify] = rec["verified"] * (rec["words"] if verify == "verify_word" else 1)
    out["hit_per_table"] = rec["m"] * rec["hits"]
    return np.array([out[t] for t in terms])


def measure(args) -> int:
    import hamsearch
    from hamsearch.codes import as_words
    from hamsearch.mih import MIH_TERMS, AutoRule

    from .auto_rule import _data

    set_threads(args.threads)
    records = []
    for name in args.data.split(","):
        db, q, nbits = _data(name, args.n, args.nq)
        flat, mih = hamsearch.Index(nbits, method="flat"), hamsearch.Index(nbits, method="mih")
        flat.add(db)
        mih.add(db)
        (view,) = [v for v in mih._view().views if v.n]
        m, inline = mih._planner.plan_inputs(view.seg)
        rule = AutoRule()
        rule.observe(as_words(q, nbits))  # the planner profiles code words
        for kind, v in SEARCHES:
            call = (lambda ix: ix.search(q, v)) if kind == "k" else \
                (lambda ix: ix.range_search(q, v))
            t_flat = best_time(lambda: call(flat), 3, warmup=True)
            t_mih = best_time(lambda: call(mih), 3, warmup=True)
            stats = mih._planner.last_mih_stats
            res = call(flat)
            hits = float(v) if kind == "k" else float(res[0][-1]) / len(q)
            kw = {"k": v} if kind == "k" else {"radius": v}
            per, words, _ = rule._query_terms(view.seg.codes, nbits, m, inline,
                                              kw.get("k"), kw.get("radius"), None)
            rec = {"data": name, "search": f"{kind}={v}", "n": int(db.shape[0]),
                   "nbits": nbits, "words": int(view.seg.codes.shape[1]), "m": int(m),
                   "inline": bool(inline), "flat_ns": 1e9 * t_flat / len(q),
                   "mih_ns": 1e9 * t_mih / len(q), "probes": float(stats[:, 0].mean()),
                   "verified": float(stats[:, 1].mean()),
                   "fallback": float((stats[:, 2] > 0).mean()), "hits": hits,
                   "flat_words": float(words),
                   "predicted": per.tolist(),
                   "predicted_mean": dict(zip(MIH_TERMS, per.mean(axis=0).tolist()))}
            records.append(rec)
            print(f"{name} {kind}={v}: flat {rec['flat_ns'] / 1e3:.1f} us, mih "
                  f"{rec['mih_ns'] / 1e3:.1f} us, probes {rec['probes']:.0f}, verified "
                  f"{rec['verified']:.0f}, fallback {rec['fallback']:.2f}", flush=True)
    from hamsearch.mih.pricing import costs_key, flat_word_cost

    out = {"backend": hamsearch.backend(), "machine": machine_line(), "records": records,
           "costs_key": costs_key(), "flat_word_cost": flat_word_cost()}
    with open(args.out, "w") as f:
        json.dump(out, f)
    print(f"wrote {args.out}")
    return 0


def _solve(A, t, prior, weight):
    """Non-negative ``x`` minimising ``|(A x - t) / t|^2 + weight^2 |(x - prior) / prior|^2``
    over the columns of ``A`` that are not all zero (the others keep ``prior``)."""
    from scipy.optimize import lsq_linear

    used = np.flatnonzero(np.abs(A).sum(axis=0) > 0)
    rows = A[:, used] / t[:, None]
    rhs = np.ones(len(t))
    if weight > 0:
        rows = np.vstack([rows, weight * np.diag(1.0 / prior[used])])
        rhs = np.concatenate([rhs, weight * np.ones(len(used))])
    x = prior.astype(float).copy()
    x[used] = lsq_linear(rows, rhs, bounds=(0, np.inf)).x
    return x


def _choice_regret(rec, costs, word_cost):
    """``(predicted mih / flat, regret)`` of the model with ``costs`` at one point."""
    from hamsearch.mih.pricing import AUTO_MARGIN, predicted_flat_cost, predicted_mih_costs

    per = np.asarray(rec["predicted"])
    flat = predicted_flat_cost(rec["flat_words"], rec["hits"], costs, word_cost, n=rec["n"],
                               knn=rec["search"].startswith("k="))
    mih = float(predicted_mih_costs(per, rec["flat_words"], flat, costs, word_cost).mean())
    pick_mih = mih < AUTO_MARGIN * flat
    t = rec["mih_ns"] if pick_mih else rec["flat_ns"]
    return mih / flat, t / min(rec["mih_ns"], rec["flat_ns"])


def fit(args) -> int:
    from hamsearch.mih import BACKEND_COSTS, FLAT_WORD_COST, MIH_TERMS

    with open(args.json) as f:
        run = json.load(f)
    recs = run["records"]
    backend = run["backend"]
    family, isa = ("c", backend[2:]) if backend.startswith("c-") else (backend, backend)
    # the entry the measured run used (older runs: the variant's own, else the backend's)
    key = run.get("costs_key", backend if backend in BACKEND_COSTS else family)
    word_cost = run.get("flat_word_cost", FLAT_WORD_COST.get(isa, 1.0))
    current = BACKEND_COSTS.get(key, BACKEND_COSTS[family])
    print(run["machine"])
    print(f"{backend}: {len(recs)} points (current constants: BACKEND_COSTS[{key!r}])")

    # the model unit: ns of the scan's cost per word in ns = a * words + b * hits
    # (the fit the constants were first expressed in)
    A = np.array([[r["flat_words"], r["hits"]] for r in recs])
    t = np.array([r["flat_ns"] for r in recs])
    a, b = _solve(A, t, np.array([1.0, 1.0]), 0.0)
    unit = a / word_cost  # ns of one model unit
    print(f"model unit {unit:.4f} ns (one-term scan fit: {a:.4f} ns per code word, "
          f"{b:.1f} ns per result)")
    # the scan in that unit: ns = per word, per code, per k of a k-NN, per range result
    knn = np.array([r["search"].startswith("k=") for r in recs])
    hits = np.array([r["hits"] for r in recs])
    A = np.array([[r["flat_words"], r["n"]] for r in recs])
    A = np.column_stack([A, np.where(knn, hits, 0.0), np.where(knn, 0.0, hits)])
    flat_terms = ("flat_word", "flat_code", "hit_knn", "hit_flat")
    fx = _solve(A, t, np.ones(4), 0.0) / unit
    flat_fit = dict(zip(flat_terms, fx.tolist()))
    print("scan fit (model units): " + ", ".join(f"{k} {v:.3g}" for k, v in flat_fit.items()))

    keep = [r for r in recs if r["fallback"] <= MAX_FALLBACK]
    A = np.array([_kernel_terms(r, MIH_TERMS) for r in keep])
    t = np.array([r["mih_ns"] for r in keep])
    prior = np.array([current[x] for x in MIH_TERMS]) * unit
    x = _solve(A, t, prior, args.prior_weight) / unit
    fitted = {**dict(zip(MIH_TERMS, x.tolist())), **flat_fit}
    print(f"MIH fit on {len(keep)} points (fallback <= {MAX_FALLBACK}), residual per point:")
    pred_ns = A @ (x * unit)
    rows = [[r["data"], r["search"], f"{r['mih_ns'] / 1e3:.1f}", f"{p / 1e3:.1f}"]
            for r, p in zip(keep, pred_ns)]
    print_table(["data", "search", "MIH us", "fitted us"], rows)
    print("\nconstants (model units):")
    print_table(["term", "current", "fitted"],
                [[k, f"{current[k]:g}" if k in current else "-", f"{fitted[k]:.3g}"]
                 for k in (*MIH_TERMS, *flat_terms)])

    # the current MIH constants with the fitted scan terms, too
    models = {"current": current, "scan refit": {**current, **flat_fit}, "fitted": fitted}
    rows, regrets = [], {label: [] for label in models}
    for r in recs:
        row = [r["data"], r["search"], f"{r['mih_ns'] / r['flat_ns']:.2f}"]
        for label, costs in models.items():
            ratio, regret = _choice_regret(r, costs, word_cost)
            regrets[label].append(regret)
            row += [f"{ratio:.2f}", f"{regret:.2f}"]
        rows.append(row)
    print("\nmih / flat time, measured and predicted; auto's regret (picked / best):")
    print_table(["data", "search", "measured"]
                + [h for label in models for h in (label, "regret")], rows)
    for label, rs in regrets.items():
        gm = math.exp(sum(math.log(v) for v in rs) / len(rs))
        print(f"{label}: geometric mean regret {gm:.3f}, worst {max(rs):.2f}")
    for label in ("scan refit", "fitted"):
        print(f"\nBACKEND_COSTS entry ({label}): {{"
              + ", ".join(f'"{k}": {v:.3g}' for k, v in models[label].items()) + "}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pm = sub.add_parser("measure", help="time the grid and record the counts")
    pm.add_argument("--data", default="fashion64,fashion128,fashion256,clustered64,clustered256")
    pm.add_argument("--n", type=int, default=1_000_000)
    pm.add_argument("--nq", type=int, default=1000)
    pm.add_argument("--threads", type=int, default=2)
    pm.add_argument("--out", default="fit_auto.json")
    pf = sub.add_parser("fit", help="fit the constants to a measure run")
    pf.add_argument("json")
    pf.add_argument("--prior-weight", type=float, default=PRIOR_WEIGHT)
    args = p.parse_args(argv)
    return measure(args) if args.cmd == "measure" else fit(args)


if __name__ == "__main__":
    raise SystemExit(main())

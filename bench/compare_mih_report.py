"""The tables and the plot of ``bench.compare_mih``.

Plain-text tables (:func:`bench._common.print_table`) of one code set's
engines, the summary of MIH's speed-ups, the kernel backends side by side,
and the k-NN time vs n plot of ``--scaling``.
"""

from __future__ import annotations

from ._common import print_table
from .compare_mih_timing import KS


def print_case(kind: str, nbits: int, n: int, rows: dict, stats: dict, segments: str,
               radii) -> list:
    """Print one code set's table (:func:`bench.compare_mih_timing.run_case`'s
    ``rows`` and ``stats``), auto's plans, MIH's probe statistics and its
    speed-up over each peer at k = 10.

    Returns
    -------
    list
        The summary line of the case: data, bits and ``peer=ratio`` items.
    """
    cols = ["build s", "B/code"] + [f"k={k} q/s" for k in KS] + ["recall@10"] + \
        [f"r={r} q/s" for r in radii] + ["note"]
    print(f"== {kind}, {n:,} x {nbits} bits  ({segments})")
    table = []
    for name, R in rows.items():
        table.append([name, R["build"], R["bpc"]] + [R.get(f"k{k}", float("nan")) for k in KS]
                     + [R.get("recall10", 1.0 if "faiss IVF" not in name else "")]
                     + [R.get(f"r{r}", float("nan")) for r in radii]
                     + [R.get("note", "exact")])
    print_table(["engine"] + cols, table)
    print(f"   method='auto' would run: {rows['hamsearch MIH']['auto']}")
    for k, (pr, ver, fb) in stats.items():
        print(f"   MIH k={k}: {pr:.0f} probes, {ver:.0f} codes verified per query, "
              f"{100 * fb:.1f}% of queries fell back to a scan")
    mq = rows["hamsearch MIH"]["k10"]
    line = [kind, nbits]
    for name in rows:
        if name != "hamsearch MIH":
            ratio = mq / rows[name]["k10"]
            print(f"   MIH / {name} at k=10: {ratio:.2f}x")
            line.append(f"{name.split('(')[0]}={ratio:.1f}x")
    print()
    return line


def print_summary(summary: list) -> None:
    """The summary lines of every case (:func:`print_case`)."""
    print("k=10 speed of exact MIH relative to each peer (queries/s ratio, same run):")
    for line in summary:
        print("  ", *line)


def print_backends(runs: dict, backends: list) -> None:
    """The hamsearch figures of each backend's run side by side, with auto's
    regret (the better method's queries/s over the queries/s of auto's pick).

    Parameters
    ----------
    runs : dict
        Per backend, what its run wrote with ``--json``.
    backends : list of str
        The backends, in column order.
    """
    table = []
    worst = {b: 1.0 for b in backends}
    first = runs[backends[0]]["records"]
    for i, rec in enumerate(first):
        line = [rec["data"], rec["nbits"], rec["query"]]
        for b in backends:
            r = runs[b]["records"][i]
            best = max(r["mih"], r["flat"])
            regret = best / r[r["auto"]]
            worst[b] = max(worst[b], regret)
            line += [r["mih"], r["flat"], r["auto"], regret]
        table.append(line)
    cols = ["data", "nbits", "query"]
    for b in backends:
        name = runs[b]["backend"]
        cols += [f"{name} MIH q/s", f"{name} flat q/s", f"{name} auto", f"{name} regret"]
    print()
    print_table(cols, table)
    for b in backends:
        print(f"{runs[b]['backend']}: worst auto regret {worst[b]:.2f}x "
              "(best method's queries/s over auto's pick)")


def plot_scaling(series: dict, nbits: int, threads: int, path: str) -> None:
    """Save the time per query vs n of each engine and data set (log-log) as a PNG.

    Parameters
    ----------
    series : dict
        ``{(kind, engine): [(n, microseconds per query), ...]}``.
    nbits, threads : int
        For the title.
    path : str
        Where the PNG goes.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for (kind, name), pts in series.items():
        xs, ys = zip(*pts)
        ax.loglog(xs, ys, marker="o", label=f"{name} ({kind})",
                  linestyle="-" if name == "MIH" else "--")
    ax.set_xlabel("codes in the index (n)")
    ax.set_ylabel("time per query, k=10 (us)")
    ax.set_title(f"{nbits}-bit codes, {threads} threads")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)

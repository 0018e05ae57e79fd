"""Precision-recall and precision@k plots of evaluation results (needs matplotlib)."""

from __future__ import annotations

import os

__all__ = ["plot_curves"]


def plot_curves(results: list, out_dir: str, prefix: str) -> list:
    """Save ``<prefix>_pr.png`` and ``<prefix>_precision_at_k.png`` in ``out_dir``.

    Parameters
    ----------
    results : list of dict
        From :func:`~hamsearch.evaluation.evaluate_method` (one line each).
    out_dir : str
    prefix : str

    Returns
    -------
    list of str
        The two paths written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    paths = []
    methods = list(dict.fromkeys(r["method"] for r in results))
    bits = sorted({r["nbits"] for r in results})
    styles = ["-", "--", "-.", ":"]

    def style(r):
        return {"color": f"C{methods.index(r['method']) % 10}",
                "linestyle": styles[bits.index(r["nbits"]) % len(styles)],
                "label": f"{r['method']} {r['nbits']} bits"}

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for r in results:
        ax.plot(r["pr_recall"], r["pr_precision"], marker=".", markersize=3, **style(r))
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision-recall (Hamming radius 0..nbits)")
    ax.text(0.99, 0.01, "precision over queries retrieving >= 1 item", fontsize=6,
            ha="right", va="bottom", transform=ax.transAxes)
    ax.set_xlim(0, 1)
    paths.append(_save(plt, fig, ax, os.path.join(out_dir, f"{prefix}_pr.png")))

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for r in results:
        ks = sorted(r["precision_at_k"])
        ax.plot(ks, [r["precision_at_k"][k] for k in ks], marker="o", markersize=3,
                **style(r))
    ax.set_xscale("log")
    ax.set_xlabel("number of retrieved items k")
    ax.set_ylabel("precision@k")
    ax.set_title("Precision of the top k (Hamming ranking)")
    paths.append(_save(plt, fig, ax, os.path.join(out_dir, f"{prefix}_precision_at_k.png")))
    return paths


def _save(plt, fig, ax, path: str) -> str:
    """Precision axis 0..1, grid and legend; write ``path`` and close the figure."""
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

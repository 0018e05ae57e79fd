"""The results document of ``bench.deep_table``, in markdown.

:func:`markdown_text` renders every row of the results JSON: the protocol
and the commands that produced the rows, then per dataset the mAP / P@1000
table, the tie-aware figures, hierarchical search and the latent net's
class layer; the encode benchmark's throughput when its JSON is there; the
targets; and the seed papers' figures (:mod:`bench.literature`).
"""

from __future__ import annotations

import json
import os
import platform

from hamsearch._atomic import atomic_write
from hamsearch.encoders.registry import get_method

from . import literature
from .deep_table_training import ALL_METHODS

#: the encode benchmark's figures (``bench/bench_deep_encode.py``), beside the table or in docs/
BENCH_JSON = "bench_deep_encode.json"




def _training(row) -> str:
    """Epochs of a row, with its augmentation and any non-default settings:
    '30 (shift+flip, last 10 plain; F7 1024, wd 1e-05)'."""
    text = str(row["epochs"])
    notes = []
    if row.get("augment"):
        plain = row.get("plain_final_epochs") or 0
        notes.append(row["augment"] + (f", last {plain} plain" if plain else ""))
    extra = []
    if row.get("feature_dim") is not None:
        extra.append(f"F7 {row['feature_dim']}")
    if row.get("weight_decay") not in (None, 1e-4):
        extra.append(f"wd {row['weight_decay']:g}")
    if extra:
        notes.append(", ".join(extra))
    if row.get("model_options"):
        notes.append(", ".join(f"{k}={v}" for k, v in sorted(row["model_options"].items())))
    if notes:
        text += " (" + "; ".join(notes) + ")"
    if row.get("finetune_epochs"):
        text += (f" + {row['finetune_epochs']} plain fine-tuning (lr {row['finetune_lr']:g}, "
                 f"wd {row['finetune_weight_decay']:g})")
    return text


def _epochs_cell(mrows, bits):
    present = [b for b in bits if b in mrows]
    if not any(mrows[b]["epochs"] for b in present):
        return "CNN of latent"
    cells = {b: _training(mrows[b]) for b in present}
    if len(set(cells.values())) == 1:
        return cells[present[0]]
    return " / ".join(f"{cells[b]} ({b}b)" for b in present)


def _variants(rows) -> list:
    """(method, tag) pairs present in ``rows``: registry order, untagged rows first."""
    present = {(r["method"], r.get("tag")) for r in rows}
    return sorted(present, key=lambda mt: (ALL_METHODS.index(mt[0]), mt[1] or ""))


def _label(method: str, tag) -> str:
    return f"{method}[{tag}]" if tag else method


def _ties_table(rows) -> list:
    """Stable-order vs tie-aware mAP, P@1 and P@10 of the rows that have both."""
    tied = [r for r in rows if "map_tie" in r]
    if not tied:
        return []
    out = ["", ("Ties: each figure with ties in database order / tie-aware (the expectation "
           "over the orders of tied items):"), "",
           "| method | bits | mAP | P@1 | P@10 | P@100 |", "|---|---|---|---|---|---|"]
    order = {mt: i for i, mt in enumerate(_variants(rows))}
    for r in sorted(tied, key=lambda r: (order[(r["method"], r.get("tag"))], r["bits"])):
        cells = [f"{r['map']:.4f} / {r['map_tie']:.4f}"]
        for k in (1, 10, 100):
            a, t = r.get(f"p_at_{k}"), r.get(f"p_at_{k}_tie")
            cells.append("-" if a is None else f"{a:.4f} / {t:.4f}")
        out.append(f"| {_label(r['method'], r.get('tag'))} | {r['bits']} | "
                   + " | ".join(cells) + " |")
    return out


def _budgets_table(rows) -> list:
    """The training budget of every row: epochs, images, image-epochs, fit time."""
    out = ["", ("Budgets: the training of each row (epochs with augmentation and fine-tuning "
                "as in the commands; DeepHash rows also run 2 frozen-backbone epochs of "
                "hash-layer initialisation, not counted; LDH and ITQ-CNN fit on the "
                "latent row's CNN, so their budget is that row's), the image-epochs it saw "
                "and its fit time in seconds (2 shared CPU cores, one torch thread; the "
                "load of other jobs differed between runs):"), "",
           "| method | bits | epochs | train images | image-epochs | fit s | mAP |",
           "|---|---|---|---|---|---|---|"]
    order = {mt: i for i, mt in enumerate(_variants(rows))}
    for r in sorted(rows, key=lambda r: (order[(r["method"], r.get("tag"))], r["bits"])):
        epochs = (r.get("epochs") or 0) + (r.get("finetune_epochs") or 0)
        seen = f"{epochs * r['n_train'] / 1e6:.2f}M" if epochs else "-"
        fit = r.get("fit_s")
        out.append(f"| {_label(r['method'], r.get('tag'))} | {r['bits']} | "
                   f"{_training(r) if r.get('epochs') else 'CNN of latent'} | {r['n_train']} | "
                   f"{seen} | {'-' if fit is None else f'{fit:.0f}'} | {r['map']:.4f} |")
    return out


def _preamble(results: dict, args_line: str) -> list[str]:
    """The title, the protocol, the commands that produced the rows and the machine."""
    lines = [
        "# Deep hashing results",
        "",
        "Produced by `python -m bench.deep_table` (see `bench/deep_table.py`); the raw",
        "numbers are in `docs/results_deep.json`.  Protocol: 1000 queries (100 per",
        "class, seed 0) against the rest as database; networks train on the database",
        "part; mAP over the whole database by Hamming ranking (ties by database",
        "position), P@1000 the mean precision of the first 1000 results.  LDH and",
        "ITQ-CNN hash the F7 features of the same trained latent-layer CNN.",
        "The \"db order\" column says how ties were ranked: *shuffled* -- the",
        "database in a seeded random order (the protocol since issue 17) -- or",
        "*stored* (dataset order; MNIST-5k is stored sorted by label, which moves",
        "P@1 by several points, see `docs/methods.md`).  Rows scored since issue",
        "17 also have tie-aware figures (expected over the orders of tied items)",
        "in the \"Ties\" table of their dataset.  Rows named `method[tag]` are",
        "variants (`--tag`) trained with the `--model-options` shown in their",
        "epochs cell; the `exploss[...]` rows of MNIST-5k reproduce DeepHash's",
        "Table 3 schemes and compare its stage-2 initialisation (`docs/methods.md`).",
        "",
        "Commands that produced the rows below (in order):",
        "",
    ]
    cmds = []
    for r in results.values():
        c = r.get("command")
        if c and c not in cmds:
            cmds.append(c)
    if args_line not in cmds:
        cmds.append(args_line)
    lines += [f"    {c}" for c in cmds]
    lines += [
        "",
        (f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs, "
         "no GPU; CPU training of the small CNN for the epochs in each row (few,"),
        "for CPU time), so these are not converged numbers.  P@1000 cannot exceed the",
        "share of relevant items in the first 1000: on MNIST-5k each class has only",
        "about 400 database items, so P@1000 <= ~0.4 there.  LDH (Laplacian",
        "eigenmaps) loses with many bits on well-separated features: only the first",
        "~(classes - 1) eigenvectors separate classes, the rest encode within-class",
        "structure and dilute the Hamming distance.  The papers' 12-bit column is",
        "replaced by 16 bits: hamsearch codes are whole bytes (a `--bits 24,12`",
        "run stopped at 12 with that error).  Rows of one dataset may come from",
        "different runs: the epochs and train-images columns say how each was trained.",
        "",
        "Rows whose epochs cell adds \"+ N plain fine-tuning\" went on training the latent",
        "net on the plain images (`--finetune-epochs`, `fit(..., warm_start=True)`).  The",
        "database is the training set in this protocol, so a net that fits it exactly",
        "gives almost every database item the codes of its class, and mAP follows query",
        "accuracy times database accuracy (the class-layer table of each dataset).",
        "With codes that clean, re-ranking a Hamming pool by F7 has little left to fix:",
        "compare the hierarchical rows before and after fine-tuning.",
        "",
    ]
    return lines


def _fmt(value) -> str:
    """A score to 4 places; "-" when the row has none (P@1000 of a database
    smaller than 1000, such as digits: its scores stop at the database size)."""
    return "-" if value is None else f"{value:.4f}"


def _scores_table(rows: list) -> list[str]:
    """mAP and P@1000 per bits of each method of one dataset, with how it was trained."""
    bits = sorted({r["bits"] for r in rows})
    lines = ["| method | " + " | ".join(f"mAP {b}b | P@1000 {b}b" for b in bits)
             + " | epochs | train images | train img/s | db order |",
             "|---|" + "---|---|" * len(bits) + "---|---|---|---|"]
    for m, tag in _variants(rows):
        mrows = {r["bits"]: r for r in rows if r["method"] == m and r.get("tag") == tag}
        cells = []
        for b in bits:
            r = mrows.get(b)
            cells.append(f"{r['map']:.4f} | {_fmt(r.get('p_at_1000'))}" if r else "- | -")
        any_r = next(iter(mrows.values()))
        ips = any_r.get("train_images_per_s")
        cls = get_method(m).target.partition(":")[2]
        orders = sorted({r.get("database_order", "stored") for r in mrows.values()})
        lines.append(f"| {_label(m, tag)} ({cls}) | " + " | ".join(cells)
                     + f" | {_epochs_cell(mrows, bits)} | {any_r['n_train']} | "
                     + (f"{ips:.0f}" if ips else "-") + f" | {'/'.join(orders)} |")
    return lines


def _bits_then_tag(r: dict) -> tuple:
    return r["bits"], r.get("tag") or ""


def _bits_cell(r: dict) -> str:
    """``48``, or ``48 [tag]`` for a tagged variant's row."""
    return f"{r['bits']} [{r['tag']}]" if r.get("tag") else str(r["bits"])


def _hierarchical_table(hier: list) -> list[str]:
    """P@100 of Hamming ranking vs hierarchical search, per bits (latent rows)."""
    def cell(v):
        return "-" if v is None else f"{v:.4f}"

    lines = ["", ("Hierarchical search (latent net, `Index.search` with F7 features): "
                  "P@100 of Hamming ranking alone vs a Hamming pool of 200 re-ranked by "
                  "F7 distance, and vs Hamming order with F7 distance inside each distance "
                  "bucket; F7 as it is (L2, the paper's choice) or scaled to unit norm "
                  "(cosine, `normalize_features=True`):"), "",
             ("| bits | P@100 Hamming | pool 200 + F7 L2 | bucket + F7 L2 "
              "| pool 200 + F7 cosine | bucket + F7 cosine |"),
             "|---|---|---|---|---|---|"]
    for r in sorted(hier, key=_bits_then_tag):
        lines.append("| " + " | ".join(
            [_bits_cell(r)] + [cell(r.get("p_at_100_" + c)) for c in (
                "hamming", "hierarchical", "bucket", "hierarchical_cosine",
                "bucket_cosine")]) + " |")
    return lines


def _class_layer_table(acc: list) -> list[str]:
    """The latent net's class-layer accuracy beside mAP, per bits."""
    lines = ["", ("Class layer (F8) of the latent net: accuracy on the queries and on the "
                  "database, its training set.  Codes cluster by predicted class, so a "
                  "query's AP is about the database accuracy when the query is classified "
                  "right and low when not: mAP follows acc_q * acc_db."), "",
             "| bits | query accuracy | database accuracy | acc_q * acc_db | mAP |",
             "|---|---|---|---|---|"]
    for r in sorted(acc, key=_bits_then_tag):
        qa, da = r["query_accuracy"], r["database_accuracy"]
        lines.append(f"| {_bits_cell(r)} | {qa:.4f} | {da:.4f} | {qa * da:.4f} | {r['map']:.4f} |")
    return lines


def _throughput(path: str) -> list[str]:
    """The encode benchmark's figures, when its JSON is beside ``path`` or in docs/."""
    bench_json = next((c for c in (os.path.join(os.path.dirname(path) or ".", BENCH_JSON),
                                   os.path.join("docs", BENCH_JSON)) if os.path.exists(c)), None)
    if bench_json is None:
        return []
    with open(bench_json) as fh:
        b = json.load(fh)
    return ["## CPU throughput (`bench/bench_deep_encode.py`)", "",
            f"    {b['command']}", "",
            (f"{b['machine']}, torch threads {b['torch_threads']}, {b['method']} "
             f"{b['bits']} bits, synthetic 28x28 images:"), "",
            f"* training: {b['train_images_per_s']:.0f} images/s",
            (f"* encoding: {b['encode_images_per_s']:.0f} images/s (bare torch forward of the "
             f"same net, the peer: {b['forward_images_per_s']:.0f} images/s)"),
            (f"* end to end, {b['n']} images streamed into an Index (one encode_into "
             f"call, codes only, batches of 2048): "
             f"{b['end_to_end_images_per_s']:.0f} images/s; RSS {b['rss_before_mb']:.0f} MB "
             f"before, at most {b['max_rss_during_mb']:.0f} MB during the run "
             f"(process peak {b['peak_rss_mb']:.0f} MB, reached in the earlier steps)"), ""]


def _targets(results: dict) -> list[str]:
    """Issue 6's targets and the best 48-bit mAP of each dataset."""
    lines = ["## Targets", "",
             "Issue 6 asks for mAP >= 0.98 on MNIST-5k at 48 bits and >= 0.92 on",
             "Fashion-MNIST at 48 bits with the best method.", ""]
    best = {}
    for r in results.values():
        if r["bits"] == 48:
            k = r["dataset"]
            if k not in best or r["map"] > best[k]["map"]:
                best[k] = r
    for ds, r in sorted(best.items()):
        lines.append(f"* {ds}, 48 bits: best {_label(r['method'], r.get('tag'))} "
                     f"mAP {r['map']:.4f}")
    lines.append("")
    return lines


def markdown_text(results: dict, path: str, args_line: str) -> str:
    """The whole results document.

    Parameters
    ----------
    results : dict
        The rows, by :func:`bench.deep_table_training.row_key`.
    path : str
        Where the document will go (the encode benchmark's JSON is looked
        for beside it, then in ``docs/``).
    args_line : str
        The command of this run (listed after the rows' own).

    Returns
    -------
    str
    """
    lines = _preamble(results, args_line)
    for ds in sorted({r["dataset"] for r in results.values()}):
        rows = [r for r in results.values() if r["dataset"] == ds]
        lines += [f"## {ds}", ""] + _scores_table(rows) + _ties_table(rows) + _budgets_table(rows)
        hier = [r for r in rows if "p_at_100_hierarchical" in r]
        if hier:
            lines += _hierarchical_table(hier)
        acc = [r for r in hier if "database_accuracy" in r]
        if acc:
            lines += _class_layer_table(acc)
        lines.append("")
    lines += _throughput(path) + _targets(results)
    lines.append(literature.markdown("deep"))
    return "\n".join(lines)


def write_markdown(results: dict, path: str, args_line: str) -> None:
    """Write :func:`markdown_text` to ``path`` (atomically)."""
    with atomic_write(path, "w", what="markdown") as fh:
        fh.write(markdown_text(results, path, args_line))

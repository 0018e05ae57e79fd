"""The figures quoted from the seed papers, as data (see :mod:`bench.literature`).

Every number is the string the paper prints, with the paper and the table
(or section) it comes from.  A quoted table is written as the paper lays it
out, one row a line (``method | values | note``), and so is a paper's list
of single figures (``where | value | what``); :func:`quoted_table` and
:func:`quoted_figures` turn that text into :class:`Table` and
:class:`Figure` records, so the figures stay data to read against the
paper, not code repeated for each row.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Paper:
    """A seed paper: its citation and its text file in ``shared/seeds/``."""

    key: str
    cite: str
    file: str


PAPERS: dict[str, Paper] = {p.key: p for p in (
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
    values: tuple[str | None, ...]
    note: str = ""


@dataclass(frozen=True)
class Table:
    """A table quoted from a paper."""

    paper: str
    table: str
    caption: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Figure:
    """A single number quoted from a paper's text (or a table given in running text)."""

    paper: str
    where: str
    what: str
    value: str


#: how the papers print a missing cell (a hyphen or an en dash)
_DASHES = ("-", "\u2013")


def _records(text: str, nfields: int) -> list[list[str]]:
    """The ``|``-separated fields of a block of quoted figures, one record a line.

    Fields left out at the end of a line are empty; a line that starts with
    ``|`` continues the last field of the record above (a long description or
    note wrapped onto the next line).  Blank lines are skipped.
    """
    records: list[list[str]] = []
    for line in filter(str.strip, text.splitlines()):
        fields = [f.strip() for f in line.split("|")]
        if not fields[0]:
            records[-1][-1] = " ".join(filter(None, (records[-1][-1], *fields[1:])))
            continue
        records.append(fields + [""] * (nfields - len(fields)))
    return records


def quoted_table(paper: str, table: str, caption: str, columns: tuple[str, ...],
                 text: str) -> Table:
    """A :class:`Table` from its rows as the paper prints them.

    Parameters
    ----------
    paper, table, caption : str
        The paper's key in :data:`PAPERS`, the table's name there and what it
        measures (our words).
    columns : tuple of str
        The column headers (after the method column).
    text : str
        One row a line, ``method | values | note``: the values separated by
        white space, as printed (``-`` or an en dash for an empty cell, which
        becomes None); the note is optional (see :func:`_records` for a note
        on a line of its own).

    Returns
    -------
    Table
    """
    rows = tuple(Row(method, tuple(None if v in _DASHES else v for v in values.split()), note)
                 for method, values, note in _records(text, 3))
    return Table(paper, table, caption, columns, rows)


def quoted_figures(paper: str, text: str) -> tuple[Figure, ...]:
    """The :class:`Figure` s quoted from one paper's text.

    Parameters
    ----------
    paper : str
        The paper's key in :data:`PAPERS`.
    text : str
        One figure a line, ``where | value | what`` (the section or table, the
        figure as printed, what it is in our words; see :func:`_records` for
        a description wrapped onto the next line).

    Returns
    -------
    tuple of Figure
    """
    return tuple(Figure(paper, where, what, value)
                 for where, value, what in _records(text, 3))


# ------------------------------------------------------------ Zhong et al.
_Z_COLS = tuple(f"{ds} {b}" for ds in ("MNIST", "CIFAR-10") for b in (16, 24, 32, 48))

ZHONG_TABLE1 = quoted_table("zhong", "Table 1", "mAP of Hamming ranking", _Z_COLS, """
    LSH      | 0.250 0.284 0.310 0.430 0.298 0.344 0.331 0.389
    SH       | 0.347 0.383 0.393 0.387 0.352 0.355 0.379 0.381
    PCAH     | 0.351 0.344 0.332 0.309 0.291 0.280 0.272 0.261
    PCA-ITQ  | 0.515 0.550 0.581 0.610 0.427 0.445 0.453 0.469
    SKLSH    | 0.182 0.231 0.218 0.256 0.288 0.312 0.334 0.394
    KSH      | -     0.891 0.897 0.900 0.303 0.337 0.346 0.356
             | figures the paper takes from Xia et al. (CNNH)
    BRE      | -     0.593 0.613 0.634 0.159 0.181 0.193 0.196 | as KSH
    CNN+     | -     0.975 0.971 0.975 0.465 0.521 0.521 0.532
             | CNNH+ of Xia et al.; the row is labelled CNN+ in the text
    Ours (compact CNN + sigmoid) | 0.992 0.993 0.995 0.993 0.714 0.718 0.736 0.728
""")
ZHONG_SHALLOW = ("LSH", "SH", "PCAH", "PCA-ITQ", "SKLSH")

ZHONG_FIGURES = quoted_figures("zhong", """
    Sect. 4.1 | 70K        | MNIST images (all of them are used)
    Sect. 4.1 | 60000      | CIFAR-10 images
    Sect. 4.2 | 1000       | random queries; unsupervised baselines train on every other image,
                           | supervised ones on the original training split
    Sect. 4.2 | 784        | baseline input on MNIST: grey pixel vector (dimensions;
                           | mean-centred, unit norm)
    Sect. 4.2 | 512        | baseline input on CIFAR-10: GIST (dimensions)
    Sect. 4.3 | 32, 32, 64 | filters of the three conv layers (5x5, ReLU)
""")

# ------------------------------------------------------------ DeepHash
_D_COLS = tuple(f"{ds} {b}" for ds in ("MNIST", "CIFAR10", "Kaggle-Face", "SUN397")
                for b in (12, 24, 48))

DEEPHASH_TABLE2 = quoted_table(
    "deephash", "Table 2", "mAP of Hamming ranking; every non-deep baseline hashes the "
    "CNN features of the layer below the hash layer", _D_COLS, """
    LSH    | 0.3717 0.4933 0.5725 0.1311 0.1619 0.2034 0.1911 0.2011 0.1976 0.0057 0.0060 0.0071
    ITQ    | 0.7578 0.8132 0.8293 0.2711 0.2825 0.2909 0.2435 0.2513 0.2514 0.0268 0.0361 0.0471
    PCAH   | 0.4997 0.4607 0.3641 0.2056 0.1867 0.1695 0.2169 0.2058 0.1991 0.0218 0.0261 0.0315
    SH     | 0.5175 0.5330 0.4898 0.1935 0.1921 0.1750 0.2117 0.2054 0.2015 0.0210 0.0236 0.0273
    LDAH   | 0.5052 0.3685 0.3093 0.2187 0.1794 0.1587 0.2154 0.2032 0.1961 0.0224 0.0262 0.0306
    BRE    | 0.6950 0.7498 0.7785 0.2552 0.2668 0.2864 0.2414 0.2522 0.2587 0.0226 0.0293 0.0372
    MLH    | 0.6731 0.4404 0.4258 0.1737 0.1675 0.1737 0.2000 0.2115 0.2162 0.0070 0.0100 0.0210
    KSH    | 0.9537 0.9713 0.9817 0.3441 0.4617 0.5482 0.2862 0.3668 0.4132 0.0194 0.0261 0.0325
    DH-1   | 0.957  0.963  0.960  0.439  0.511  0.522  -      -      -      -      -      -
           | deep baselines: figures cited from their papers
    DH*-1  | 0.969  0.975  0.975  0.465  0.521  0.532  -      -      -      -      -      -
    DH-2   | 0.4675 0.5101 0.5250 0.1880 0.2083 0.2251 -      -      -      -      -      -
    DH-3   | -      -      -      0.552  0.566  0.581  -      -      -      -      -      -
    DRSCH  | 0.9692 0.9737 0.9791 0.6246 0.6219 0.6305 -      -      -      -      -      -
    DeepHash | 0.9918 0.9931 0.9938 0.6874 0.7289 0.7410 0.5487 0.5552 0.5615 0.0748 0.1054 0.1293
""")
DEEPHASH_SHALLOW = ("LSH", "ITQ", "PCAH", "SH")
DEEPHASH_DEEP = ("KSH", "DH-1", "DH*-1", "DH-2", "DH-3", "DRSCH", "DeepHash")

DEEPHASH_TABLE3 = quoted_table(
    "deephash", "Table 3", "mAP of DeepHash by how its parameters are initialised and "
    "learned", _D_COLS, """
    random init. | 0.9806 0.9862 0.9873 0.5728 0.6503 0.6585 0.4125 0.4473 0.4620 0.0211 0.0384 0.0360
                 | no pre-training: all layers from random weights, trained jointly
    pre-training | 0.9673 0.9753 0.9796 0.4986 0.5588 0.5966 0.4282 0.4484 0.4589 0.0335 0.0430 0.0592
                 | the two pre-training stages of Algorithm 1 only, no joint fine-tuning
    fine-tuning  | 0.9918 0.9931 0.9938 0.6874 0.7289 0.7410 0.5487 0.5552 0.5615 0.0748 0.1054 0.1293
                 | both pre-training stages, then joint fine-tuning (= Table 2's DeepHash)
""")

DEEPHASH_TABLE1 = quoted_table(
    "deephash", "Table 1", "the benchmarks: train / query images, classes, width of the "
    "feature layer z", ("train", "query", "classes", "z width"), """
    MNIST       | 50,000  10,000 10  500
    CIFAR10     | 50,000  10,000 10  1,024
    Kaggle-Face | 315,799 7,178  7   2,304
    SUN397      | 87,003  21,751 397 9,216
""")

# ------------------------------------------------------------ Lin et al.
LIN_TABLE1 = quoted_table("lin", "Table 1", "MNIST classification test error (%)",
                          ("test error %",), """
    2-Layer CNN + 2-Layer NN    | 0.53
    Stochastic Pooling          | 0.47
    NIN + Dropout               | 0.47
    Conv. maxout + Dropout      | 0.45
    Ours, 48-node latent layer  | 0.47
    Ours, 128-node latent layer | 0.50
""")

LIN_TABLE2 = quoted_table("lin", "Table 2", "CIFAR-10 classification accuracy (%)",
                          ("accuracy %",), """
    Stochastic Pooling           | 84.87
    CNN + Spearmint              | 85.02
    MCDNN                        | 88.79
    AlexNet + Fine-tuning        | 89
    NIN + Dropout                | 89.59
    NIN + Dropout + Augmentation | 91.2
    Ours, 48-node latent layer   | 89.4
    Ours, 128-node latent layer  | 89.6
""")

LIN_PROTOCOL = quoted_figures("lin", """
    Sect. 4.3 | 1,000             | queries, drawn at random from the test set; the database is
                                  | the training set
    Sect. 4.1 | 60,000            | MNIST training images (the database)
    Sect. 4.1 | 50,000 and 10,000 | CIFAR-10 training / test images
""")

LIN_FIGURES = quoted_figures("lin", """
    Sect. 4.3 (Fig. 4) | 98.5    | MNIST, 48 bits: retrieval precision over the number of
                                 | retrieved images (percent)
    Sect. 4.3 (Fig. 4) | 98.2    | MNIST, 48 bits: precision stays within 98.2 +- 0.3 whatever
                                 | the number retrieved (percent, centre)
    Sect. 4.3 (Fig. 4) | 97.5    | MNIST, 48 bits: CNNH+ precision it is compared with (percent)
    Sect. 4.4 (Fig. 6) | 89      | CIFAR-10, 48 bits: retrieval precision, about the same for
                                 | every number retrieved (percent)
    Sect. 4.3          | 50,000  | training: SGD iterations on MNIST (also on CIFAR-10)
    Sect. 4.3          | 0.001   | training: learning rate
    Sect. 4.5          | 109.767 | Yahoo-1M: 4096-d L2 exhaustive search time (ms)
    Sect. 4.5          | 0.113   | Yahoo-1M: 128-bit Hamming search time (ms)
    Sect. 4.5          | 971.3   | speed-up of Hamming over L2 exhaustive search (x)
""")

# ------------------------------------------------------------ D-ELM
DELM_TABLE1 = quoted_table(
    "delm", "Table 1", "the network's layer parameters: feature-map size FM, kernels K_l, "
    "kernel size c_l, pooling size s_l", ("Layer1", "Layer2", "Layer3", "Layer4"), """
    FM  | 16×16 12×12 8×8 4×4
    K_l | 8 16 32 64
    c_l | 4 4 4 4
    s_l | 2 2 2 1
""")

DELM_TABLE3 = quoted_table(
    "delm", "Table 3", "CIFAR-10 at 64 bits by depth (precision %, training seconds)",
    ("one layer", "two layer", "four layer"), """
    precision % | 41.5% 42.3% 43.6%
    training s  | 13.4sec 16.3sec 23.7sec
""")

DELM_FIGURES = quoted_figures("delm", """
    Sect. 5 | 1000  | queries per dataset (100 per class)
    Sect. 5 | 69000 | MNIST: training set = database, images
    Sect. 5 | 59000 | CIFAR-10: training set = database, images
    Sect. 5 | 320   | CIFAR-10: GIST feature bins (the baselines' input)
    Sect. 5 | 0.001 | ELM regularisation parameter lambda
    Table 2 | 23.7  | CIFAR-10, 16 bits: D-ELM training time (s)
    Table 2 | 4.8   | CIFAR-10, 16 bits: ITQ training time (s)
    Table 2 | 354.6 | CIFAR-10, 16 bits: CNNH training time (s)
    Sect. 5 | 2.6   | average precision gain over CNNH on CIFAR-10 (percent)
""")

# ------------------------------------------------------------ LDH
LDH_FIGURES = quoted_figures("ldh", """
    Sect. III     | 10     | neighbours of the kNN graph (the number of classes)
    Sect. III-A   | 10,000 | MNIST: training images sampled per class from the training set
                           | (fine-tune the CNN, train the LE hash)
    Sect. III-A/B | 48     | code length of every experiment (bits)
    Sect. II-A    | 13     | VGG-16: convolutional layers of the feature CNN
""")

TABLES = (ZHONG_TABLE1, DEEPHASH_TABLE1, DEEPHASH_TABLE2, DEEPHASH_TABLE3, LIN_TABLE1,
          LIN_TABLE2, DELM_TABLE1, DELM_TABLE3)
FIGURES = ZHONG_FIGURES + LIN_PROTOCOL + LIN_FIGURES + DELM_FIGURES + LDH_FIGURES

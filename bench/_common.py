"""Helpers shared by every benchmark script and suite in ``bench/``.

* **Environment**: :func:`bench_env` (``OMP_WAIT_POLICY=PASSIVE`` before
  FAISS starts its OpenMP runtime, FAISS imported on request, thread counts
  of hamsearch and FAISS), :func:`set_threads`, :func:`machine_line` and
  :func:`omp_line` (what the run was measured on).
* **Timing** (from :mod:`hamsearch.evaluation.throughput`): :func:`timed`
  (result and best wall time of a call), :func:`best_time`,
  :func:`median_time`, :func:`median_latency`.
* **Tables**: :func:`format_table` / :func:`print_table` (plain text for the
  terminal, or markdown).
* **Command lines**: :func:`bench_parser` (the options every comparison
  script takes: ``--n``, ``--nq``, ``--k``, ``--threads``, ``--repeats``).
* **Results documents**: :func:`results_paths` (``bench-results/`` by
  default, ``docs/`` on request), :func:`merge_markdown` /
  :func:`update_docs` (a reduced run's rows merged into the committed
  document, hand-written sections kept).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import warnings

import numpy as np

# the timing helpers are the library's (``hamsearch demo`` uses them too)
from hamsearch.evaluation.throughput import best_time, median_latency, median_time, timed

__all__ = ["bench_env", "set_threads", "import_faiss", "cpu_mhz", "machine_line", "omp_line",
           "timed", "best_time", "median_time", "median_latency", "format_table", "print_table",
           "bench_parser", "results_paths", "merge_markdown", "merge_md_table", "update_docs"]

# ----------------------------------------------------------------- environment
OMP_POLICY = "OMP_WAIT_POLICY"


def bench_env(threads: int | None = None, *, omp_passive: bool = True,
              faiss_required: bool = False):
    """Prepare this process for a benchmark; call it before FAISS is imported.

    Parameters
    ----------
    threads : int, optional
        Pin hamsearch and FAISS (when importable) to this many threads.
    omp_passive : bool, default True
        Set ``OMP_WAIT_POLICY=PASSIVE`` unless the environment already sets
        it.  OpenMP reads it once, when its runtime loads (with FAISS); on a
        shared, oversubscribed machine its default spin-waiting makes FAISS
        several times slower (measured: ``IndexBinaryFlat`` 7.4 ms vs
        0.96 ms per query, 1M codes, 2 threads), which would flatter
        hamsearch.  A warning says when FAISS was imported first.
    faiss_required : bool, default False
        Import FAISS and exit with a clear message when it is not installed.

    Returns
    -------
    module or None
        The ``faiss`` module when ``faiss_required``, else ``None``.
    """
    if omp_passive and OMP_POLICY not in os.environ:
        if "faiss" in sys.modules:
            warnings.warn("bench_env: faiss was imported before OMP_WAIT_POLICY=PASSIVE was "
                          "set; its OpenMP threads keep spin-waiting", RuntimeWarning,
                          stacklevel=2)
        os.environ[OMP_POLICY] = "PASSIVE"
    faiss = import_faiss() if faiss_required else None
    if threads is not None:
        set_threads(threads)
    return faiss


def set_threads(n: int) -> None:
    """Pin hamsearch and FAISS (when importable) to ``n`` threads."""
    import hamsearch

    hamsearch.set_num_threads(n)
    try:
        import faiss

        faiss.omp_set_num_threads(n)
    except ImportError:
        pass


def import_faiss():
    try:
        import faiss
    except ImportError:
        raise SystemExit("this benchmark compares with FAISS: pip install faiss-cpu") from None
    return faiss


def cpu_mhz() -> float | None:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1])
    except OSError:
        pass
    return None


def _version(module: str, dist: str) -> str | None:
    """Version of ``module`` without importing it (importing FAISS would start
    its OpenMP runtime before :func:`bench_env` could configure it)."""
    mod = sys.modules.get(module)
    if mod is not None:
        return getattr(mod, "__version__", "?")
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version(dist)
    except PackageNotFoundError:
        return None


def machine_line() -> str:
    """One line: machine, CPUs, hamsearch backend, FAISS and numpy versions."""
    import hamsearch

    fv = _version("faiss", "faiss-cpu")
    fv = f"faiss {fv}" if fv else "faiss not installed"
    return (f"{platform.machine()}, {os.cpu_count()} CPUs, backend {hamsearch.backend()}, "
            f"{fv}, numpy {np.__version__}")


def omp_line() -> str:
    return f"{OMP_POLICY}={os.environ.get(OMP_POLICY, '(default)')}"


# ---------------------------------------------------------------------- tables
def format_table(headers, rows, floatfmt: str = "{:.3g}", align: str | None = None,
                 markdown: bool = False) -> str:
    """A table as text: columns padded to their widest cell, or markdown.

    Parameters
    ----------
    headers : sequence of str
    rows : sequence of sequences
        Floats are formatted with ``floatfmt``, anything else with ``str``.
    align : str, optional
        One letter per column, ``"l"`` or ``"r"`` (default: all right; a
        shorter string is padded with its last letter).
    markdown : bool, default False
        A markdown table (``|``-separated, alignment row) instead.
    """
    ncol = len(headers)
    align = (align or "r").ljust(ncol, (align or "r")[-1])
    cells = [[str(h) for h in headers]] + [
        [floatfmt.format(c) if isinstance(c, float) else str(c) for c in row] for row in rows
    ]
    if markdown:
        rule = "|" + "|".join("---" if a == "l" else "---:" for a in align[:ncol]) + "|"
        lines = ["| " + " | ".join(r) + " |" for r in cells]
        return "\n".join([lines[0], rule, *lines[1:]])
    widths = [max(len(r[i]) for r in cells) for i in range(ncol)]

    def line(row):
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w)
                         for c, w, a in zip(row, widths, align)).rstrip()

    out = [line(cells[0]), line(["-" * w for w in widths])]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def print_table(headers, rows, floatfmt: str = "{:.3g}", align: str | None = None) -> None:
    """Print :func:`format_table` (plain text)."""
    print(format_table(headers, rows, floatfmt, align))


# --------------------------------------------------------------- command lines
def bench_parser(description: str, *, n: int, nq: int, k: int | None = None,
                 threads: int = 2, repeats: int = 3) -> argparse.ArgumentParser:
    """An argument parser with the options every comparison script takes.

    Parameters
    ----------
    description : str
        Shown as written by ``--help`` (the scripts' docstrings are their
        manuals, line breaks included).
    n, nq : int
        Defaults of ``--n`` (codes in the database) and ``--nq`` (queries).
    k : int, optional
        Default of ``--k`` (neighbours); no ``--k`` option when None.
    threads, repeats : int
        Defaults of ``--threads`` and ``--repeats`` (timings are the best of
        that many runs).

    Returns
    -------
    argparse.ArgumentParser
        The caller adds its own options.
    """
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=n)
    p.add_argument("--nq", type=int, default=nq)
    if k is not None:
        p.add_argument("--k", type=int, default=k)
    p.add_argument("--threads", type=int, default=threads)
    p.add_argument("--repeats", type=int, default=repeats)
    return p


# ------------------------------------------------------ results documents
def results_paths(name: str, out_dir: str = "bench-results") -> tuple:
    """``(default output path, committed docs path)`` of a results document.

    The table scripts write to ``out_dir`` (git-ignored) by default and touch
    ``docs/`` only when asked (``--update-docs``), merging their rows into
    the committed document with :func:`merge_markdown`.
    """
    return os.path.join(out_dir, name), os.path.join("docs", name)


def _md_sections(text: str):
    """``(preamble lines, [(key, lines)])``: the document cut at its ``## `` headings.

    A block between ``<!-- name:begin`` and ``<!-- name:end -->`` markers (the
    literature section) is one section of its own, keyed by its marker, whatever
    headings it holds.
    """
    import re

    pre, sections, cur, opaque = [], [], None, None
    for line in text.split("\n"):
        if opaque is None:
            m = re.match(r"<!-- ([\w-]+):begin", line)
            if m:
                opaque = f"<!-- {m.group(1)}:end"
                cur = (f"<!-- {m.group(1)}", [line])
                sections.append(cur)
                continue
            if line.startswith("## "):
                cur = (line.strip(), [line])
                sections.append(cur)
                continue
        elif line.startswith(opaque):
            cur[1].append(line)
            opaque, cur = None, ("", [])
            sections.append(cur)
            continue
        (cur[1] if cur is not None else pre).append(line)
    return pre, [(k, ls) for k, ls in sections if k or any(s.strip() for s in ls)]


def _md_subsections(lines):
    """A section's lines cut at its ``### `` headings: ``[(key, lines)]`` (the
    first key is ``""``: the lines before the first sub-heading)."""
    subs = [("", [])]
    for line in lines:
        if line.startswith("### "):
            subs.append((line.strip(), []))
        subs[-1][1].append(line)
    return subs


def _md_blocks(lines):
    """Lines grouped into text runs and table runs: ``[(is_table, lines)]``."""
    blocks = []
    for line in lines:
        is_table = line.startswith("|")
        if blocks and blocks[-1][0] == is_table:
            blocks[-1][1].append(line)
        else:
            blocks.append((is_table, [line]))
    return blocks


def _md_cells(line: str) -> list:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def merge_md_table(old: list, new: list, missing=("n/a", "-", "")) -> list:
    """Merge two markdown tables (lists of lines) keyed by their first column.

    Rows and columns of both are kept; a cell of ``new`` replaces the one of
    ``old`` unless it is a ``missing`` marker.  Columns whose headers all start
    with a number (``"16 bits"``) are put in numeric order; others keep the
    order of ``old``, then of ``new``.
    """
    import re

    (oh, orule, *obody), (nh, nrule, *nbody) = old, new
    oh, nh = _md_cells(oh), _md_cells(nh)
    align = dict(zip(oh, _md_cells(orule)))
    for h, a in zip(nh, _md_cells(nrule)):
        align.setdefault(h, a)
    cols = oh[1:] + [h for h in nh[1:] if h not in oh]
    if all(re.match(r"\d+", h) for h in cols):
        cols.sort(key=lambda h: int(re.match(r"\d+", h).group()))
    rows = {}
    for heads, body, fresh in ((oh, obody, False), (nh, nbody, True)):
        for line in body:
            cells = dict(zip(heads, _md_cells(line)))
            row = rows.setdefault(cells.get(heads[0], ""), {})
            for h, v in cells.items():
                if not fresh or v not in missing or h not in row:
                    row[h] = v
    filler = next((m for m in missing if m), "-")
    header = [oh[0]] + cols
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join(align.get(h, "---") for h in header) + "|"]
    for key, row in rows.items():
        out.append("| " + " | ".join([key] + [row.get(h, filler) for h in cols]) + " |")
    return out


def _merge_md_lines(old: list, new: list) -> list:
    """Old lines with each table merged with the table at the same place in ``new``."""
    new_tables = [ls for t, ls in _md_blocks(new) if t]
    out, i = [], 0
    for is_table, ls in _md_blocks(old):
        if is_table and i < len(new_tables):
            ls = merge_md_table(ls, new_tables[i])
            i += 1
        out += ls
    for ls in new_tables[i:]:
        out += ["", *ls, ""]
    return out


def merge_markdown(old: str, new: str, *, tables: bool = True, note: str | None = None) -> str:
    """Merge a regenerated results document ``new`` into the committed ``old``.

    Sections (``## ``) only ``old`` has -- hand-written prose, datasets this
    run did not cover -- stay as they are, in place; sections only ``new`` has
    are inserted after the last section both have.  For sections both have:

    * ``tables=True`` (documents made of tables keyed by their first column,
      as ``bench.shallow_table`` writes): every table is merged row by row and
      column by column (:func:`merge_md_table`), so a reduced run replaces
      only the cells it produced; sub-sections (``### ``) only one side has
      are kept; the preamble is ``old``'s, with ``note`` added after it;
    * ``tables=False`` (documents regenerated from all the rows, as
      ``bench.deep_table`` writes from its merged JSON): ``new``'s section
      and preamble replace ``old``'s.

    A ``<!-- name:begin`` ... ``<!-- name:end -->`` block is replaced by
    ``new``'s copy.
    """
    opre, osecs = _md_sections(old)
    npre, nsecs = _md_sections(new)
    ndict = dict(nsecs)
    if tables:
        pre = list(opre)
        if note:
            while pre and not pre[-1].strip():
                pre.pop()
            pre += ["", note, ""]
    else:
        pre = list(npre)
    merged, seen, last_common = [], set(), -1
    for key, lines in osecs:
        if key in ndict:
            seen.add(key)
            if tables and not key.startswith("<!--"):
                osubs, nsubs = _md_subsections(lines), dict(_md_subsections(ndict[key]))
                lines = []
                for skey, sl in osubs:
                    lines += _merge_md_lines(sl, nsubs[skey]) if skey in nsubs else sl
                okeys = {k for k, _ in osubs}
                for skey, sl in _md_subsections(ndict[key]):
                    if skey not in okeys:
                        while lines and not lines[-1].strip():
                            lines.pop()
                        lines += ["", *sl]
            else:
                lines = ndict[key]
            if not key.startswith("<!--"):
                last_common = len(merged)
        merged.append((key, lines))
    fresh = [(k, ls) for k, ls in nsecs if k not in seen]
    merged[last_common + 1:last_common + 1] = fresh
    out = list(pre)
    for _, lines in merged:
        out += lines
    return "\n".join(out).rstrip("\n") + "\n"


def update_docs(doc_path: str, new_text: str, *, tables: bool = True,
                note: str | None = None) -> None:
    """Merge ``new_text`` into the document at ``doc_path`` (:func:`merge_markdown`),
    written atomically; a missing document is created with ``new_text``."""
    from hamsearch._atomic import atomic_write

    old = None
    if os.path.exists(doc_path):
        with open(doc_path, encoding="utf-8") as fh:
            old = fh.read()
    text = new_text if old is None else merge_markdown(old, new_text, tables=tables, note=note)
    with atomic_write(doc_path, "w", encoding="utf-8", what="results document") as fh:
        fh.write(text)

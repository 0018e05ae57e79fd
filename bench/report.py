"""Ratio tables and plots from a pytest-benchmark JSON file.

``python -m pytest bench/ --benchmark-only --benchmark-json=out.json``
then ``python -m bench.report out.json [--out DIR]``.

For every benchmark group (one comparison: the same data, the same query
type, every engine) it prints a table -- engine, best time per call,
throughput (queries, codes or rows per second), the ratio of the engine's
throughput to the group's baseline (> 1: faster than the baseline) and what
the engine returned (exact, or its recall) -- and writes the same tables as
``DIR/report.md`` with one PNG per family of groups (``DIR/<family>.png``:
throughput per engine, log scale).  The baseline is the one each suite names
(``extra_info["baseline"]``; a list means the fastest of them, as the 971x
comparison takes the fastest exhaustive L2 search), or ``--baseline NAME``
for every group that has that engine.

Every ratio compares engines measured in the same run.  The default output
directory is ``bench-report/``; nothing under ``docs/`` is written unless
``--out`` names it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys

try:  # ``python -m bench.report`` or ``python bench/report.py``
    from ._common import format_table
except ImportError:  # pragma: no cover
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from bench._common import format_table

STATS = ("min", "median", "mean")
DEFAULT_OUT = "bench-report"


def load(path: str) -> dict:
    with open(path) as fh:
        data = json.load(fh)
    if not isinstance(data, dict) or "benchmarks" not in data:
        raise SystemExit(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks')")
    return data


def _family_and_group(b: dict) -> tuple[str, str]:
    group = b.get("group") or b.get("name", "?")
    info = b.get("extra_info") or {}
    family = info.get("family") or group.split(":")[0]
    return family, group


def collect(data: dict, stat: str = "min", baseline: str | None = None) -> list[dict]:
    """One record per group: its rows (engine, seconds, rate, ratio, result),
    the baseline used, the unit, in the order the groups first appear."""
    groups: dict[str, dict] = {}
    for b in data["benchmarks"]:
        family, group = _family_and_group(b)
        info = b.get("extra_info") or {}
        g = groups.setdefault(group, {"family": family, "group": group, "rows": [],
                                      "baseline": info.get("baseline"),
                                      "unit": info.get("unit", "calls")})
        seconds = float(b["stats"][stat])
        items = float(info.get("items", 1))
        g["rows"].append({"engine": info.get("engine") or b.get("param") or b["name"],
                          "seconds": seconds, "rate": items / seconds if seconds > 0 else math.inf,
                          "rounds": b["stats"].get("rounds"), "info": info})
    out = []
    for g in groups.values():
        names = {r["engine"]: r for r in g["rows"]}
        wanted = g["baseline"]
        if baseline is not None and baseline in names:
            wanted = baseline
        candidates = [wanted] if isinstance(wanted, str) else list(wanted or [])
        present = [names[c] for c in candidates if c in names]
        base = max(present, key=lambda r: r["rate"]) if present else None
        g["base"] = base["engine"] if base else None
        g["wanted"] = candidates
        for r in g["rows"]:
            r["ratio"] = r["rate"] / base["rate"] if base else None
        g["rows"].sort(key=lambda r: (r is not base, -r["rate"]))
        out.append(g)
    return out


def _result(info: dict) -> str:
    if info.get("exact") and info.get("recall", 1.0) == 1.0:
        return "exact"
    if "recall" in info:
        return f"recall {info['recall']:.3f}"
    return ""


def _settings(info: dict) -> str:
    keys = ("m", "nflip", "nhash", "b", "nlist", "nprobe", "M", "efSearch", "connectivity",
            "expansion_search", "k_prime", "bit_balance")
    return ", ".join(f"{k}={info[k]}" for k in keys if k in info)


def _fmt_rate(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:,.2f}M"
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _fmt_ratio(r) -> str:
    if r is None:
        return "-"
    if r < 0.1:
        return f"{r:.2g}x"
    return f"{r:.2f}x" if r < 10 else f"{r:,.1f}x" if r < 1000 else f"{r:,.0f}x"


def _fmt_time(s: float) -> str:
    return f"{s * 1e3:.3f}" if s < 1 else f"{s * 1e3:,.0f}"


def table(g: dict, stat: str, markdown: bool = False) -> str:
    unit = g["unit"]
    base = g["base"] or "(baseline not in this run)"
    headers = ["engine", f"{stat} ms/call", f"{unit}/s", f"vs {base}", "result", "settings"]
    rows = [[r["engine"], _fmt_time(r["seconds"]), _fmt_rate(r["rate"]), _fmt_ratio(r["ratio"]),
             _result(r["info"]), _settings(r["info"])] for r in g["rows"]]
    if not any(r[-1] for r in rows):
        headers, rows = headers[:-1], [r[:-1] for r in rows]
    return format_table(headers, rows, align="lrrrll", markdown=markdown)


def header_lines(data: dict, stat: str) -> list[str]:
    mi = data.get("machine_info") or {}
    hs = mi.get("hamsearch") or {}
    lines = []
    if hs:
        lines.append(f"{hs.get('machine', '')}; {hs.get('omp', '')}; {hs.get('threads')} threads; "
                     f"N={hs.get('n'):,}, {hs.get('nq')} queries a batch, 971x N={hs.get('rerank_n'):,}, "
                     f"encoders {hs.get('enc_n'):,} rows")
        if hs.get("load_average"):
            lines.append("load average at the start: " +
                         " ".join(f"{x:.1f}" for x in hs["load_average"]))
    else:
        lines.append(f"{mi.get('cpu', {}).get('brand_raw', mi.get('processor', '?'))}")
    lines.append(f"{data.get('datetime', '?')}, pytest-benchmark {data.get('version', '?')}; "
                 f"time = {stat} over the rounds; ratio = engine throughput / baseline "
                 "throughput, same run")
    return lines


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "benchmarks"


def plot(groups: list[dict], family: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    engines = []
    for g in groups:
        for r in g["rows"]:
            if r["engine"] not in engines:
                engines.append(r["engine"])
    width = 0.8 / max(1, len(engines))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 + 0.9 * len(groups) * max(1, len(engines)) * 0.3),
                                    4.8))
    cmap = plt.get_cmap("tab20" if len(engines) > 10 else "tab10")
    for j, name in enumerate(engines):
        xs, ys = [], []
        for i, g in enumerate(groups):
            for r in g["rows"]:
                if r["engine"] == name:
                    xs.append(i + (j - (len(engines) - 1) / 2) * width)
                    ys.append(r["rate"])
        ax.bar(xs, ys, width=width, label=name, color=cmap(j % cmap.N))
    ax.set_yscale("log")
    labels = [g["group"].split(":", 1)[-1].strip() for g in groups]
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(f"{groups[0]['unit']} per second (log)")
    ax.set_title(family)
    ax.legend(fontsize=7, ncol=2 if len(engines) > 6 else 1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(data: dict, stat: str = "min", baseline: str | None = None):
    """``(text for stdout, markdown, {family: [groups]})``."""
    groups = collect(data, stat, baseline)
    families: dict[str, list] = {}
    for g in groups:
        families.setdefault(g["family"], []).append(g)
    head = header_lines(data, stat)
    text, md = list(head), [f"- {h}" for h in head]
    for family, gs in families.items():
        text.append(f"\n== {family}")
        md.append(f"\n## {family}")
        for g in gs:
            note = ""
            if g["base"] is None:
                note = f" (baseline {' / '.join(g['wanted']) or '?'} not in this run: no ratios)"
            elif len(g["wanted"]) > 1:
                note = f" (baseline: the fastest of {', '.join(g['wanted'])})"
            title = g["group"].split(":", 1)[-1].strip()
            text += [f"\n{title}{note}", table(g, stat)]
            md += [f"\n### {title}{note}\n", table(g, stat, markdown=True)]
    return "\n".join(text) + "\n", "\n".join(md) + "\n", families


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("json", help="a pytest-benchmark --benchmark-json file")
    p.add_argument("--out", default=None,
                   help=f"directory for report.md and the PNGs (default: {DEFAULT_OUT}/)")
    p.add_argument("--stat", choices=STATS, default="min",
                   help="time per call taken from the rounds (default min: the best, as "
                        "the scripts' best-of-N)")
    p.add_argument("--baseline", default=None,
                   help="engine name to compare with in every group that has it")
    p.add_argument("--no-plot", action="store_true", help="tables only")
    args = p.parse_args(argv)

    data = load(args.json)
    if not data["benchmarks"]:
        print(f"{args.json}: no benchmarks (was it run with --benchmark-disable?)")
        return 1
    text, md, families = render(data, args.stat, args.baseline)
    print(text, end="")
    out = args.out or DEFAULT_OUT
    os.makedirs(out, exist_ok=True)
    written = [os.path.join(out, "report.md")]
    from hamsearch._atomic import atomic_write

    with atomic_write(written[0], "w") as fh:
        fh.write(f"# Benchmark report: {os.path.basename(args.json)}\n\n{md}")
    if not args.no_plot:
        for family, gs in families.items():
            path = os.path.join(out, f"{_slug(family)}.png")
            plot(gs, family, path)
            written.append(path)
    print("\nwritten: " + ", ".join(written))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

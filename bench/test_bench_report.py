"""``python -m bench.report``: ratios, baselines and files from a pytest-benchmark JSON.

Not a benchmark: a test of the report on a small JSON written here (it runs
with ``--benchmark-disable`` and is skipped by ``--benchmark-only``).
"""

import json
import os

import pytest

from . import report


def _bench(group, engine, seconds, items=100, baseline="faiss IndexBinaryFlat", **info):
    family = group.split(":")[0]
    return {"group": group, "name": f"test[{engine}]", "param": engine,
            "extra_info": {"family": family, "engine": engine, "baseline": baseline,
                           "items": items, "unit": "queries", **info},
            "stats": {"min": seconds, "median": 2 * seconds, "mean": 3 * seconds, "rounds": 5}}


@pytest.fixture
def results(tmp_path):
    data = {"machine_info": {"hamsearch": {"machine": "test machine", "omp": "OMP_WAIT_POLICY=PASSIVE",
                                           "threads": 2, "n": 1000, "nq": 100, "rerank_n": 100,
                                           "enc_n": 300}},
            "datetime": "2026-01-01T00:00:00", "version": "5.2.3",
            "benchmarks": [
                _bench("flat k-NN: a, k=10", "hamsearch flat", 0.001, exact=True, recall=1.0),
                _bench("flat k-NN: a, k=10", "faiss IndexBinaryFlat", 0.004, exact=True),
                _bench("flat k-NN: a, k=10", "faiss IndexBinaryHNSW", 0.002, exact=False,
                       recall=0.875, efSearch=64),
                _bench("flat k-NN: b, k=1", "hamsearch flat", 0.5),  # no baseline in this group
                _bench("971x: 1 query", "numpy L2", 0.010, items=1, baseline=["numpy L2", "faiss L2"]),
                _bench("971x: 1 query", "faiss L2", 0.020, items=1, baseline=["numpy L2", "faiss L2"]),
                _bench("971x: 1 query", "hamsearch flat", 0.0001, items=1,
                       baseline=["numpy L2", "faiss L2"]),
            ]}
    path = tmp_path / "out.json"
    path.write_text(json.dumps(data))
    return path


def test_ratios_and_baselines(results):
    groups = {g["group"]: g for g in report.collect(report.load(str(results)))}
    flat = groups["flat k-NN: a, k=10"]
    rows = {r["engine"]: r for r in flat["rows"]}
    assert flat["base"] == "faiss IndexBinaryFlat" and flat["rows"][0]["engine"] == flat["base"]
    assert rows["hamsearch flat"]["rate"] == pytest.approx(100 / 0.001)
    assert rows["hamsearch flat"]["ratio"] == pytest.approx(4.0)
    assert rows["faiss IndexBinaryHNSW"]["ratio"] == pytest.approx(2.0)
    assert groups["flat k-NN: b, k=1"]["base"] is None
    assert groups["flat k-NN: b, k=1"]["rows"][0]["ratio"] is None
    # a list of baselines: the fastest of them
    l2 = groups["971x: 1 query"]
    assert l2["base"] == "numpy L2"
    assert {r["engine"]: r["ratio"] for r in l2["rows"]}["hamsearch flat"] == pytest.approx(100)
    # another statistic, another baseline
    med = {g["group"]: g for g in report.collect(report.load(str(results)), "median",
                                                 baseline="hamsearch flat")}
    rows = {r["engine"]: r for r in med["flat k-NN: a, k=10"]["rows"]}
    assert rows["faiss IndexBinaryFlat"]["ratio"] == pytest.approx(0.25)
    assert rows["hamsearch flat"]["seconds"] == pytest.approx(0.002)


def test_main_prints_and_writes(results, tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    assert report.main([str(results)]) == 0
    out = capsys.readouterr().out
    assert "4.00x" in out and "recall 0.875" in out and "efSearch=64" in out
    assert "baseline faiss IndexBinaryFlat not in this run" in out
    assert "the fastest of numpy L2, faiss L2" in out and "100.0x" in out
    default = tmp_path / report.DEFAULT_OUT
    md = (default / "report.md").read_text()
    assert "| hamsearch flat | 1.000 | 100,000 | 4.00x | exact |" in md
    pngs = sorted(p for p in os.listdir(default) if p.endswith(".png"))
    assert pngs == ["971x.png", "flat-k-nn.png"]
    assert all((default / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    other = tmp_path / "elsewhere"
    assert report.main([str(results), "--out", str(other), "--no-plot"]) == 0
    assert sorted(os.listdir(other)) == ["report.md"]


def test_refuses_what_is_not_a_benchmark_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    with pytest.raises(SystemExit, match="not a pytest-benchmark JSON"):
        report.main([str(bad)])

"""``hamsearch speedup`` / ``python -m bench.speedup_971x`` run end to end (tiny N)."""

import re

from hamsearch.cli import main


def _run(capsys, *extra):
    rc = main(["speedup", "--n", "2000", "--single", "2", "--batch", "4",
               "--pool-sizes", "20", "--no-faiss", *extra])
    return rc, capsys.readouterr().out


def _ratio(line):
    return float(re.findall(r"([\d,.]+)x", line)[0].replace(",", ""))


def test_speedup_command_prints_the_table(capsys):
    rc, out = _run(capsys)
    assert rc == 0
    assert "971.3x" in out and "(a) per pair" in out and "(b) per query" in out
    lines = out.splitlines()
    ham = next(v for v in lines if v.strip().startswith("Hamming, hamsearch Index(method='flat')"))
    l2 = [v for v in lines if v.strip().startswith("L2 exhaustive")]
    # the fastest exhaustive L2 row is the reference (ratio 1); Hamming search beats it
    assert _ratio(ham) > 1.0
    assert min(_ratio(v) for v in l2) <= 1.0 + 1e-9
    assert re.search(r"hierarchical, pool_size=20 \(mean pool \d+\)", out)
    assert re.search(r"recall@10 of the exact L2 top 10: [01]\.\d{3}", out)


def test_speedup_command_mmap_float16(capsys, tmp_path):
    rc, out = _run(capsys, "--mmap", "--workdir", str(tmp_path))
    assert rc == 0
    assert "float16, memory-mapped" in out
    assert "L2 exhaustive, hamsearch C kernel (float16)" in out or "(float16)" in out
    assert list(tmp_path.iterdir()) == []  # temporary files removed


def test_speedup_rejects_bad_arguments(capsys):
    assert main(["speedup", "--n", "10"]) == 1
    assert "--n must be" in capsys.readouterr().err


def test_speedup_command_restores_the_thread_count(capsys):
    import hamsearch

    before = hamsearch.get_num_threads()
    _run(capsys)
    assert hamsearch.get_num_threads() == before


def test_measurement_lives_in_bench(monkeypatch):
    """The command parses the options and calls bench.speedup_971x.run."""
    import bench.speedup_971x as bench_speedup

    seen = []
    monkeypatch.setattr(bench_speedup, "run", lambda args: seen.append(args) or 0)
    assert main(["speedup", "--n", "5000", "--no-faiss"]) == 0
    assert [(a.n, a.no_faiss, a.k) for a in seen] == [(5000, True, 10)]


def test_bench_module_runs_the_same_code(capsys):
    from bench.speedup_971x import main as bench_main

    assert bench_main(["--n", "2000", "--single", "2", "--batch", "4", "--pool-sizes", "20",
                       "--no-faiss"]) == 0
    assert "(b) per query" in capsys.readouterr().out

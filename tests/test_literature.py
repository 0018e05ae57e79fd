"""bench.literature: every quoted figure is in the seed paper it names."""

import dataclasses

import pytest

from bench import literature

SEEDS = literature.seeds_dir()
needs_seeds = pytest.mark.skipif(SEEDS is None, reason="the seed texts (shared/seeds) are "
                                 f"not here; set ${literature.SEEDS_ENV}")


@needs_seeds
def test_every_quoted_number_is_in_its_paper():
    assert literature.check_against_seeds(SEEDS) == []


@needs_seeds
def test_the_check_catches_a_wrong_figure(monkeypatch):
    t = literature.ZHONG_TABLE1
    bad_row = dataclasses.replace(t.rows[0], values=("0.251",) + t.rows[0].values[1:])
    bad = dataclasses.replace(t, rows=(bad_row,) + t.rows[1:])
    monkeypatch.setattr(literature, "TABLES", (bad,))
    wrong = literature.Figure("lin", "Sect. 4.3", "made up", "98.6")
    monkeypatch.setattr(literature, "FIGURES", (wrong,))
    problems = literature.check_against_seeds(SEEDS)
    assert len(problems) == 2
    assert "LSH" in problems[0] and "98.6" in problems[1]


@needs_seeds
def test_a_row_must_be_a_run_in_the_papers_order(monkeypatch):
    """The right numbers in the wrong order (columns swapped) fail."""
    t = literature.DEEPHASH_TABLE2
    row = t.rows[0]
    swapped = dataclasses.replace(row, values=(row.values[1], row.values[0]) + row.values[2:])
    monkeypatch.setattr(literature, "TABLES", (dataclasses.replace(t, rows=(swapped,)),))
    monkeypatch.setattr(literature, "FIGURES", ())
    assert len(literature.check_against_seeds(SEEDS)) == 1


def test_numbers_as_printed():
    assert literature._numbers("FM 16×16 12×12, 41.5% 13.4sec 1,024 and 0.9817, 0.5") == [
        "16", "16", "12", "12", "41.5", "13.4", "1,024", "0.9817", "0.5"]


def test_tables_have_one_value_per_column():
    for t in literature.TABLES:
        for row in t.rows:
            assert len(row.values) == len(t.columns), (t.table, row.method)
        assert t.paper in literature.PAPERS


@pytest.mark.parametrize("kind", ["shallow", "deep"])
def test_markdown_sections_name_paper_and_table(kind):
    text = literature.markdown(kind)
    assert text.startswith(literature.BEGIN) and text.rstrip().endswith(literature.END)
    assert "Zhong" in text and "Table 1" in text and "DeepHash" in text and "Table 2" in text
    assert "MNIST-5k" in text and "Fashion-MNIST" in text
    if kind == "deep":
        assert "Table 3" in text and "98.5" in text and "0.9938" in text
    else:
        assert "PCA-ITQ" in text and "0.515" in text


def test_insert_replaces_the_section(tmp_path):
    path = tmp_path / "r.md"
    path.write_text("# results\n\nbody\n")
    literature.insert(str(path), "shallow")
    literature.insert(str(path), "shallow")
    text = path.read_text()
    assert text.count(literature.BEGIN) == 1 and text.startswith("# results\n\nbody\n")


def test_seeds_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(literature.SEEDS_ENV, str(tmp_path))
    (tmp_path / literature.PAPERS["lin"].file).write_text("x")
    assert literature.seeds_dir() == str(tmp_path)

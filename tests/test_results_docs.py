"""The table scripts' docs update: a reduced run's rows merged into the committed
documents, hand-written sections kept (small fake tables, no training)."""

import json
import os

import pytest

from bench._common import merge_markdown, merge_md_table, update_docs

LIT = ["<!-- literature:begin (bench/literature.py) -->", "## The seed papers' figures", "",
       "old quotes", "<!-- literature:end -->"]


def _doc(preamble, sections, lit="old quotes"):
    lines = ["# Results", "", preamble, ""]
    for title, subs in sections:
        lines += [f"## {title}", "", "100 queries.", ""]
        for sub, table in subs:
            lines += [f"### {sub}", "", *table, ""]
    lines += [x.replace("old quotes", lit) for x in LIT]
    return "\n".join(lines) + "\n"


def _table(cols, rows):
    return (["| method | " + " | ".join(f"{c} bits" for c in cols) + " |",
             "|---|" + "---:|" * len(cols)]
            + [f"| {m} | " + " | ".join(v) + " |" for m, v in rows])


OLD = _doc("Produced by the full run.", [
    ("fashion-mnist", [("mAP", _table([16, 32], [("LSH", ["0.1", "0.2"]), ("ITQ", ["0.3", "0.4"])])),
                       ("Training time", _table([16, 32], [("LSH", ["1.0", "2.0"])]))]),
    ("mnist-5k", [("mAP", _table([16, 32], [("LSH", ["0.5", "0.6"])]))]),
]).replace("<!-- literature:begin", "## Reading the table\n\nHand-written prose.\n\n"
           "<!-- literature:begin")


def test_a_reduced_run_replaces_only_its_cells():
    new = _doc("Produced by a reduced run.", [
        ("fashion-mnist", [("mAP", _table([32, 64], [("ITQ", ["0.9", "0.95"]),
                                                     ("SH", ["0.7", "n/a"])]))]),
    ], lit="new quotes")
    out = merge_markdown(OLD, new, note="Rows updated by `x`.")
    # the old preamble stays, the note joins it
    assert "Produced by the full run." in out and "reduced run" not in out
    assert "Rows updated by `x`." in out
    fm = out.split("## fashion-mnist")[1].split("## mnist-5k")[0]
    assert "| method | 16 bits | 32 bits | 64 bits |" in fm
    assert "| LSH | 0.1 | 0.2 | n/a |" in fm            # not in the run: kept
    assert "| ITQ | 0.3 | 0.9 | 0.95 |" in fm           # 32 replaced, 64 added, 16 kept
    assert "| SH | n/a | 0.7 | n/a |" in fm             # a new row
    assert "### Training time" in fm and "| LSH | 1.0 | 2.0 |" in fm   # sub-section kept
    # a dataset the run did not cover, the prose and the order of sections stay
    assert "| LSH | 0.5 | 0.6 |" in out.split("## mnist-5k")[1]
    assert out.index("## fashion-mnist") < out.index("## mnist-5k") < out.index(
        "## Reading the table") < out.index("literature:begin")
    assert "Hand-written prose." in out
    # the literature block is the new one
    assert "new quotes" in out and "old quotes" not in out
    assert out.endswith("<!-- literature:end -->\n")


def test_a_new_dataset_goes_after_the_generated_sections():
    new = _doc("run", [("mnist-5k", [("mAP", _table([16], [("LSH", ["0.55"])]))]),
                       ("digits", [("mAP", _table([16], [("LSH", ["0.8"])]))])])
    out = merge_markdown(OLD, new)
    assert out.index("## mnist-5k") < out.index("## digits") < out.index("## Reading the table")
    assert "| LSH | 0.55 | 0.6 |" in out.split("## mnist-5k")[1].split("## digits")[0]


def test_merging_the_same_document_changes_nothing():
    assert merge_markdown(OLD, OLD) == OLD


def test_table_merge_keeps_alignment_and_sorts_bit_columns():
    old = ["| method | 16 bits | 64 bits |", "|---|---:|---:|", "| A | 1 | 3 |"]
    new = ["| method | 32 bits |", "|---|---:|", "| A | 2 |", "| B | 5 |"]
    assert merge_md_table(old, new) == [
        "| method | 16 bits | 32 bits | 64 bits |", "|---|---:|---:|---:|",
        "| A | 1 | 2 | 3 |", "| B | n/a | 5 | n/a |"]


def test_regenerated_documents_keep_hand_written_sections(tmp_path):
    path = tmp_path / "r.md"
    path.write_text(OLD)
    new = _doc("fresh preamble", [("fashion-mnist", [("mAP", _table([16], [("LSH", ["0.11"])]))])])
    update_docs(str(path), new, tables=False)
    out = path.read_text()
    assert "fresh preamble" in out and "Produced by the full run." not in out
    assert "| LSH | 0.11 |" in out and "0.3" not in out.split("## mnist-5k")[0]
    assert "| LSH | 0.5 | 0.6 |" in out and "Hand-written prose." in out
    missing = tmp_path / "new.md"
    update_docs(str(missing), new)
    assert missing.read_text() == new


def test_deep_table_update_docs_keeps_rows_it_did_not_produce(tmp_path):
    from bench import deep_table

    with open(os.path.join("docs", "results_deep.json")) as fh:
        committed = json.load(fh)
    keys = sorted(committed)[:3]
    if len(keys) < 3:
        pytest.skip("docs/results_deep.json has too few rows")
    docs_json, docs_md = tmp_path / "results_deep.json", tmp_path / "results_deep.md"
    docs_json.write_text(json.dumps({k: committed[k] for k in keys[:2]}))
    docs_md.write_text(deep_table.markdown_text({k: committed[k] for k in keys[:2]}, str(docs_md),
                                                "python -m bench.deep_table")
                       + "\n## By hand\n\nKept.\n")
    fresh = dict(committed[keys[2]], map=0.123456)
    merged = deep_table.update_docs_rows({keys[2]: fresh}, "python -m bench.deep_table --x",
                                         docs_json=str(docs_json), docs_md=str(docs_md))
    assert sorted(merged) == keys
    assert sorted(json.loads(docs_json.read_text())) == keys
    text = docs_md.read_text()
    assert "0.1235" in text and "## By hand" in text and "Kept." in text
    assert "python -m bench.deep_table --x" in text


def test_table_scripts_default_to_an_output_directory():
    from bench import deep_table, shallow_table  # noqa: F401
    from bench._common import results_paths

    assert results_paths("results_shallow.md") == (os.path.join("bench-results", "results_shallow.md"),
                                                   os.path.join("docs", "results_shallow.md"))
    args = deep_table._parse([])
    assert args.out.startswith("bench-results") and args.results.startswith("bench-results")
    assert not args.update_docs
    with pytest.raises(SystemExit):
        shallow_table.main(["--update-docs", "--limit", "100"])


def test_deep_table_markdown_of_a_database_smaller_than_1000(tmp_path):
    """digits has 797 database items: its rows have P@797, not P@1000; the
    table shows "-" in the P@1000 column instead of failing with a KeyError."""
    from bench import deep_table

    with open(os.path.join("docs", "results_deep.json")) as fh:
        committed = json.load(fh)
    row = dict(committed[sorted(committed)[0]], dataset="digits", map=0.4321)
    for name in [n for n in row if n.startswith("p_at_1000")]:
        row[name.replace("1000", "797")] = row.pop(name)
    text = deep_table.markdown_text({"digits|%d|%s" % (row["bits"], row["method"]): row},
                                    str(tmp_path / "r.md"), "python -m bench.deep_table")
    line = next(x for x in text.splitlines() if x.startswith("| " + row["method"]))
    assert "| 0.4321 | - |" in line


def test_deep_table_hierarchical_and_class_rows_name_their_tag(tmp_path):
    """Two latent rows at the same bits, one a tagged variant: the
    hierarchical-search and class-layer tables must tell them apart."""
    from bench import deep_table

    with open(os.path.join("docs", "results_deep.json")) as fh:
        committed = json.load(fh)
    base = next(r for r in committed.values()
                if "p_at_100_hierarchical" in r and "database_accuracy" in r and not r.get("tag"))
    rows = {"x|48|latent": dict(base, dataset="x", bits=48, map=0.5),
            "x|48|latent|long": dict(base, dataset="x", bits=48, tag="long", map=0.6)}
    text = deep_table.markdown_text(rows, str(tmp_path / "r.md"), "python -m bench.deep_table")
    lines = text.splitlines()
    hier = lines.index(next(x for x in lines if x.startswith("Hierarchical search")))
    acc = lines.index(next(x for x in lines if x.startswith("Class layer")))
    for start in (hier, acc):
        cells = [x.split("|")[1].strip() for x in lines[start + 4:start + 6]]
        assert cells == ["48", "48 [long]"]


def test_deep_table_budgets_list_every_row(tmp_path):
    """The budgets table has one line per row, with its image-epochs."""
    from bench import deep_table

    with open(os.path.join("docs", "results_deep.json")) as fh:
        committed = json.load(fh)
    base = next(r for r in committed.values() if r.get("epochs"))
    rows = {"x|16|latent": dict(base, dataset="x", bits=16, epochs=3, finetune_epochs=2,
                                finetune_lr=5e-4, finetune_weight_decay=0.0, n_train=1000,
                                fit_s=12.3),
            "x|16|itq-cnn": dict(base, dataset="x", bits=16, method="itq-cnn", epochs=0,
                                 finetune_epochs=None, n_train=1000, fit_s=1.0)}
    lines = deep_table.markdown_text(rows, str(tmp_path / "r.md"), "cmd").splitlines()
    start = lines.index(next(x for x in lines if x.startswith("Budgets")))
    body = lines[start + 4:start + 6]
    assert body[0].startswith("| latent | 16 |") and "| 1000 | 0.01M | 12 |" in body[0]
    assert body[1].startswith("| itq-cnn | 16 | CNN of latent | 1000 | - | 1 |")

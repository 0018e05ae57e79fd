"""hamsearch._progress: the one progress bar (tqdm, or plain lines without it)."""

import builtins
import io
import sys

import pytest

from hamsearch._progress import ProgressBar
from hamsearch.synthetic import clustered_codes


def _without_tqdm(monkeypatch):
    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError("no tqdm")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)


def test_callback_counts_absolute_progress_and_disabled_draws_nothing():
    out = io.StringIO()
    with ProgressBar("codes", 100_000, enabled=False, stream=out) as bar:
        clustered_codes(100_000, 64, ncenters=10, progress=bar)
    assert bar.done == 100_000 and out.getvalue() == ""


def test_enabled_none_follows_the_terminal():
    assert ProgressBar("x", 1, enabled=None, stream=io.StringIO()).enabled is False


def test_plain_lines_without_tqdm(monkeypatch):
    _without_tqdm(monkeypatch)
    out = io.StringIO()
    bar = ProgressBar("train", 10, stream=out)
    for _ in range(10):
        bar.update(1, loss=0.5, acc=None)
    bar.close(loss=0.25)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("train: 1/10 (") and lines[0].endswith("loss=0.5000")
    assert lines[-2].startswith("train: 10/10")
    assert lines[-1].startswith("train: done in ") and lines[-1].endswith("loss=0.2500")
    bar.close()  # a second close prints nothing
    assert len(out.getvalue().splitlines()) == len(lines)


def test_tqdm_renders_when_installed():
    pytest.importorskip("tqdm")
    out = io.StringIO()
    bar = ProgressBar("encode", 4, stream=out)
    bar(2, 4)
    bar(4, 8)  # a new total is taken
    bar.close(acc=0.9)
    text = out.getvalue()
    assert "encode" in text and "acc=0.9000" in text and "4/8" in text


def test_importing_hamsearch_does_not_import_tqdm():
    import subprocess

    code = ("import sys, hamsearch, hamsearch._progress, hamsearch.cli.demo; "
            "print('tqdm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"

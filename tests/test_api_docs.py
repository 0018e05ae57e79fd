"""The API reference (docs/api) builds from the docstrings with warnings as errors."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_api_reference_builds_without_warnings(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html",
         os.path.join(ROOT, "docs", "api"), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-4000:]
    for page in ("index", "engine", "encoders", "evaluation"):
        assert (tmp_path / "html" / f"{page}.html").exists(), page
    text = (tmp_path / "html" / "engine.html").read_text()
    assert "hamsearch.Index" in text and "ShardedIndex" in text

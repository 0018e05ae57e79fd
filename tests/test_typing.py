"""``mypy --strict`` accepts a small user script against the public API
(``hamsearch`` ships ``py.typed``), and rejects one that misuses the results."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("mypy")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCRIPT = os.path.join(HERE, "typing", "user_script.py")


def _mypy(tmp_path, *files):
    # --follow-imports=silent: hamsearch's own modules are analysed for their
    # types but their errors are not the user's (as for an installed package)
    cmd = [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
           "--cache-dir", str(tmp_path / "mypy-cache"), "--no-error-summary", *files]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_py_typed_is_shipped():
    assert os.path.exists(os.path.join(ROOT, "hamsearch", "py.typed"))


def test_mypy_strict_accepts_the_user_script_and_catches_misuse(tmp_path):
    bad = tmp_path / "bad_script.py"
    bad.write_text(
        "import numpy as np\n"
        "import hamsearch\n"
        "index = hamsearch.Index(64)\n"
        "q = np.zeros((1, 8), np.uint8)\n"
        "D, I, H = index.search(q, 3)\n"
        "r: hamsearch.SearchResult = index.hierarchical_search(q, 3, np.zeros((1, 4)))\n")
    out = _mypy(tmp_path, SCRIPT, str(bad))
    lines = [v for v in out.stdout.splitlines() if v.strip()]
    assert not [v for v in lines if "user_script.py" in v], out.stdout + out.stderr
    assert any("bad_script.py:5" in v and "unpack" in v for v in lines), out.stdout
    assert any("bad_script.py:6" in v and "RerankResult" in v for v in lines), out.stdout


def test_the_user_script_runs():
    out = subprocess.run([sys.executable, SCRIPT], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr

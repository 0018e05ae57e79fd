"""setup.py's optional C build: a failed build warns, leaves the install
to the Numba backend, and removes an earlier build of the extension (which
would otherwise still be imported, running stale kernels)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                    reason="needs a C compiler")
def test_a_failed_build_removes_the_earlier_build(tmp_path):
    for name in ("setup.py", "ffibuild.py", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "csrc", tmp_path / "csrc")
    (tmp_path / "hamsearch").mkdir()
    (tmp_path / "hamsearch" / "__init__.py").write_text("")
    with open(tmp_path / "csrc" / "hamsearch.h", "a") as f:
        f.write("\n#error a broken header\n")
    stale = tmp_path / "hamsearch" / "_hamsearch_c.abi3.so"
    stale.write_bytes(b"not a library")
    env = {k: v for k, v in os.environ.items() if k != "HAMSEARCH_REQUIRE_C"}
    run = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "failed to build" in run.stderr
    assert not stale.exists(), run.stderr[-2000:]
    env["HAMSEARCH_REQUIRE_C"] = "1"  # asked for: the failure is an error
    strict = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert strict.returncode != 0

"""The ``hamsearch`` command: info and a small demo run end to end."""

import subprocess
import sys

import pytest

from hamsearch.cli import main


def test_info(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "backend" in out and "threads" in out


def test_demo_small(capsys):
    pytest.importorskip("faiss")
    code = main(["demo", "--n", "20000", "--nq", "50", "--latency-runs", "5", "--nbits", "64"])
    out = capsys.readouterr().out
    assert code == 0
    assert "faiss IndexBinaryFlat" in out
    assert "distances identical to FAISS: yes" in out


def test_demo_rejects_bad_arguments(capsys):
    assert main(["demo", "--n", "0"]) == 1
    assert "must be positive" in capsys.readouterr().err


def test_console_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "hamsearch", "--version"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "hamsearch" in proc.stdout

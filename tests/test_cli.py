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


def test_expected_errors_are_one_line_and_bugs_keep_their_traceback(capsys, monkeypatch):
    from hamsearch.cli import demo

    def bug(args):
        raise TypeError("a bug")

    monkeypatch.setattr(demo, "run", bug)
    with pytest.raises(TypeError, match="a bug"):
        main(["demo"])
    monkeypatch.setattr(demo, "run", lambda args: (_ for _ in ()).throw(RuntimeError("x")))
    with pytest.raises(RuntimeError):
        main(["demo"])


def test_debug_shows_the_traceback_of_expected_errors(capsys):
    from hamsearch.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="must be positive"):
        main(["--debug", "demo", "--n", "0"])
    assert main(["demo", "--n", "0"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_error_hierarchy_keeps_the_builtin_bases():
    from hamsearch.errors import (DatasetError, FileFormatError, HamsearchError,
                                  InvalidArgumentError, MissingDependencyError,
                                  ResourceBusyError)
    from hamsearch.storage import IndexFileError
    from hamsearch.wal import WalCorruptError, WalLockedError

    for cls, base in ((InvalidArgumentError, ValueError), (FileFormatError, ValueError),
                      (DatasetError, ValueError), (MissingDependencyError, ImportError),
                      (ResourceBusyError, OSError), (IndexFileError, ValueError),
                      (WalCorruptError, ValueError), (WalLockedError, OSError)):
        assert issubclass(cls, HamsearchError) and issubclass(cls, base), cls


def test_missing_files_and_packages_are_expected_errors():
    from hamsearch.cli import is_expected

    assert is_expected(FileNotFoundError("x"))
    assert is_expected(ModuleNotFoundError("no faiss", name="faiss"))
    assert not is_expected(ModuleNotFoundError("typo", name="hamsearch.nope"))
    assert not is_expected(ValueError("a bug"))
    assert not is_expected(KeyError("a bug"))


def test_unknown_dataset_is_one_line(capsys):
    assert main(["eval", "--dataset", "nope", "--bits", "16"]) == 1
    assert "unknown dataset" in capsys.readouterr().err


def test_info_reports_the_kernels_cpu_features(capsys):
    """CPU features come from the C extension's detector, not /proc/cpuinfo."""
    from hamsearch import _native

    if not _native.available():
        pytest.skip("C extension not built")
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    line = next(v for v in out.splitlines() if v.startswith("CPU features (kernels)"))
    assert line.split(None, 3)[3] == (", ".join(_native.cpu_features()) or "-")
    assert "/proc/cpuinfo" not in out


def test_demo_with_shards_matches_the_single_index():
    """``hamsearch demo --shards 2`` (issue 14): a local Ray cluster, a
    sharded index of the demo's codes, its results identical to the single
    index's.  In a subprocess: the demo starts and stops its own cluster."""
    pytest.importorskip("ray")
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from hamsearch.cli import main; "
         "sys.exit(main(sys.argv[1:]))", "demo", "--n", "20000", "--nq", "50",
         "--latency-runs", "5", "--nbits", "64", "--shards", "2", "--no-faiss"],
        capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "sharded results identical to the single index (ids and distances): yes" in out.stdout
    rows = [line for line in out.stdout.splitlines() if "shard" in line.lower()]
    assert rows, out.stdout

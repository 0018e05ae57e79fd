"""The kernel layer (hamsearch._kernels): one interface, complete backends,
one dispatch point, and the C variant table as the only list of ISAs."""

import ast
import os
import subprocess
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

from hamsearch import _backend, _kernels
from hamsearch._kernels import BACKENDS, KERNEL_NAMES, PAD_DISTANCE, Kernels, missing
from hamsearch._kernels import c as C

ROOT = Path(__file__).resolve().parent.parent
needs_c = pytest.mark.skipif(not C.available(), reason=C.unavailable_reason() or "no C")


def _numba():
    return pytest.importorskip("hamsearch._numba")


def test_pad_distance_has_one_definition():
    from hamsearch import _native, rerank

    assert PAD_DISTANCE == 2**31 - 1
    assert _backend.PAD_DISTANCE == rerank.PAD_DISTANCE == PAD_DISTANCE
    assert _native.PAD_DISTANCE == _numba().PAD_DISTANCE == PAD_DISTANCE
    if C.available():
        assert C._lib.HS_PAD_DISTANCE == PAD_DISTANCE


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_backend_is_complete(name):
    if name == "c" and not C.available():
        pytest.skip(C.unavailable_reason())
    if name == "numba":
        _numba()
    module = _backend._load(name)
    assert missing(module) == []
    assert isinstance(module, Kernels)
    # the Protocol and KERNEL_NAMES list the same kernels
    proto = {n for n in vars(Kernels) if not n.startswith("_")} - {"NAME"}
    assert proto == set(KERNEL_NAMES)


def test_old_module_names_are_the_c_backend():
    from hamsearch import _native, _native_mih, _native_rerank

    for name in ("knn", "mih_knn", "rerank", "set_isa", "check_status", "_ptr"):
        assert getattr(_native, name) is getattr(C, name)
    assert _native_mih.mih_knn is C.mih_knn
    assert _native_rerank.feature_distances is C.feature_distances
    if C.available():
        assert _native.NAME == C.NAME


# ---------------------------------------------------------------- backends
@pytest.fixture
def fresh_backend(monkeypatch):
    """kernels() reloads under the test's BACKENDS / HAMSEARCH_BACKEND."""
    monkeypatch.setattr(_backend, "_kernels", None)
    monkeypatch.setattr(_kernels, "BACKENDS", dict(BACKENDS))
    monkeypatch.setattr(_backend, "BACKENDS", _kernels.BACKENDS)
    yield _kernels.BACKENDS
    _backend._kernels = None


def _fake_backend(monkeypatch, modname, drop=()):
    """A module wrapping the Numba kernels, lacking the names in ``drop``."""
    nb = _numba()
    mod = types.ModuleType(modname)
    mod.NAME = "fake"
    for n in KERNEL_NAMES:
        if n not in drop:
            setattr(mod, n, getattr(nb, n))
    monkeypatch.setitem(sys.modules, modname, mod)
    return mod


def test_a_new_backend_plugs_in_with_one_registry_entry(fresh_backend, monkeypatch):
    _fake_backend(monkeypatch, "fake_hamsearch_backend")
    fresh_backend["fake"] = "fake_hamsearch_backend"
    monkeypatch.setenv("HAMSEARCH_BACKEND", "fake")
    import hamsearch

    assert hamsearch.backend() == "fake"
    codes = np.random.default_rng(0).integers(0, 256, (200, 8), dtype=np.uint8)
    index = hamsearch.Index(nbits=64)
    index.add(codes)
    D, I = index.search(codes[:3], k=1)
    assert I[:, 0].tolist() == [0, 1, 2] and D[:, 0].tolist() == [0, 0, 0]


def test_an_incomplete_backend_is_refused_when_forced(fresh_backend, monkeypatch):
    _fake_backend(monkeypatch, "fake_partial_backend", drop=("mih_knn", "rerank"))
    fresh_backend["partial"] = "fake_partial_backend"
    monkeypatch.setenv("HAMSEARCH_BACKEND", "partial")
    with pytest.raises(RuntimeError, match="lacks mih_knn, rerank"):
        _backend.kernels()


def test_an_incomplete_backend_warns_and_is_skipped_under_auto(fresh_backend, monkeypatch):
    _numba()
    _fake_backend(monkeypatch, "fake_partial_backend", drop=("mih_range_search",))
    fresh_backend.clear()
    fresh_backend.update({"partial": "fake_partial_backend", "numba": "hamsearch._numba"})
    monkeypatch.setenv("HAMSEARCH_BACKEND", "auto")
    with pytest.warns(RuntimeWarning, match="lacks mih_range_search"):
        assert _backend.kernels().NAME == "numba"


_STALE = """
import sys, types, warnings
from hamsearch import _hamsearch_c as real
lib = types.SimpleNamespace(**{n: getattr(real.lib, n) for n in dir(real.lib)
                               if not n.startswith(("hs_mih", "hs_rerank"))})
sys.modules["hamsearch._hamsearch_c"] = types.SimpleNamespace(ffi=real.ffi, lib=lib)
from hamsearch._kernels import c
assert not c.available() and c.stale(), c.unavailable_reason()
assert "stale build" in c.unavailable_reason() and "hs_mih" in c.unavailable_reason()
import hamsearch
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    name = hamsearch.backend()
print(name, "|", w[0].category.__name__ if w else None, "|", w[0].message if w else "")
"""


@needs_c
@pytest.mark.parametrize("forced", ["auto", "c"])
def test_a_stale_c_build_is_never_mixed_with_numba(forced):
    """A build lacking the MIH / re-rank kernels was reported as ``c-...``
    while those ran on Numba; now the C backend is unavailable as a whole."""
    env = dict(os.environ, HAMSEARCH_BACKEND=forced)
    out = subprocess.run([sys.executable, "-c", _STALE], env=env, capture_output=True,
                         text=True, cwd=ROOT)
    if forced == "c":
        assert out.returncode != 0
        assert "HAMSEARCH_BACKEND=c but that backend is not available" in out.stderr
        assert "stale build" in out.stderr
    else:
        assert out.returncode == 0, out.stderr
        name, category, message = out.stdout.strip().split(" | ")
        assert name == "numba" and category == "RuntimeWarning"
        assert "stale build" in message and "rebuild" in message


# -------------------------------------------------------- the variant table
@needs_c
def test_every_variant_of_the_table_is_selectable_and_reported():
    import hamsearch

    table = C.variants()
    names = [v[0] for v in table]
    assert len(set(names)) == len(names) and table[-1][2] == [] and table[-1][3]
    feats = set(C.cpu_features())
    before = C.isa()
    try:
        for i, (name, alias, caps, supported) in enumerate(table):
            assert supported == set(caps).issubset(feats)
            expect = name if supported else next(v[0] for v in table[i:] if v[3])
            assert C.set_isa(name) == expect
            assert C.NAME == "c-" + expect
            if hamsearch.backend().startswith("c-"):
                assert hamsearch.backend() == C.NAME
            if alias:
                assert C.set_isa(alias) == expect
            # the re-rank and MIH kernels follow the same row
            assert C.rerank_isa() in ("portable", "avx2-fma-f16c")
            if "fma" not in caps:
                assert C.rerank_isa() == "portable"
        assert C.set_isa(None) == next(v[0] for v in table if v[3])
        with pytest.raises(ValueError, match="set_isa: name must be one of"):
            C.set_isa("sse9")
    finally:
        C.set_isa(before)


@needs_c
def test_capabilities_are_one_bitmask():
    caps = int(C._lib.hs_cpu_caps())
    names = [C._str(C._lib.hs_cap_name(b)) for b in range(64) if caps >> b & 1]
    assert names == C.cpu_features()
    for want in ("popcnt", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vbmi",
                 "avx512vpopcntdq", "neon", "sve"):
        assert want in [C._str(C._lib.hs_cap_name(b)) for b in range(64)]


@needs_c
def test_hamsearch_set_isa_is_public():
    import hamsearch

    before = C.isa()
    try:
        if not hamsearch.backend().startswith("c-"):
            with pytest.raises(RuntimeError, match="belong to the C backend"):
                hamsearch.set_isa("portable")
            return
        assert hamsearch.set_isa("portable") == "c-portable"
        assert hamsearch.set_isa(None) == "c-" + next(v[0] for v in C.variants() if v[3])
    finally:
        C.set_isa(before)


@needs_c
def test_env_var_takes_any_variant_name_or_alias():
    for name, alias, _, supported in C.variants():
        if not supported:
            continue
        env = dict(os.environ, HAMSEARCH_ISA=alias or name, HAMSEARCH_BACKEND="c")
        out = subprocess.run([sys.executable, "-c", "import hamsearch; print(hamsearch.backend())"],
                             env=env, capture_output=True, text=True, check=True, cwd=ROOT)
        assert out.stdout.strip() == "c-" + name


def test_python_lists_no_isa_variant():
    """The C variant table is the only list of variants: no Python module
    under hamsearch/ compares against or lists variant names (docstrings
    aside).  ``mih.FLAT_WORD_COST`` (a cost per variant, optional: unknown
    variants cost 1.0) is the one known exception; ``mih.BACKEND_COSTS``
    keys a variant's own fitted constants as ``"c-<variant>"``, optional
    likewise (others use the ``"c"`` entry)."""
    names = {"portable", "popcnt", "avx2", "avx512", "avx512-vpopcntdq"}
    hits = []
    for path in sorted((ROOT / "hamsearch").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef))
                and n.body and isinstance(n.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(
                    getattr(t, "id", None) == "FLAT_WORD_COST" for t in node.targets):
                docs.update(id(x) for x in ast.walk(node))
            if (isinstance(node, ast.Constant) and node.value in names
                    and id(node) not in docs):
                hits.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert hits == []


def test_tests_list_no_isa_variants():
    """Tests read the variants from the C table (tests/variants.py): no test
    module spells out a list of three or more variant names, which would
    leave a new row of the table untested."""
    names = {"portable", "popcnt", "avx2", "avx512", "avx512-vpopcntdq"}
    hits = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if path.name == "test_kernel_layer.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                found = [e.value for e in node.elts
                         if isinstance(e, ast.Constant) and e.value in names]
                if len(found) >= 3:
                    hits.append(f"{path.relative_to(ROOT)}:{node.lineno} {found}")
    assert hits == []


def test_ffibuild_reads_the_one_header():
    sys.path.insert(0, str(ROOT))
    try:
        import ffibuild
    finally:
        sys.path.remove(str(ROOT))
    src = ffibuild.read_cdef()
    assert src == (ROOT / "csrc" / "hamsearch_api.h").read_text(encoding="utf-8")
    assert "CDEF" not in vars(ffibuild)
    from cffi import FFI

    FFI().cdef(src)  # cdef-clean as it stands
    for decl in ("hs_knn(", "hs_mih_knn(", "hs_rerank(", "hs_variant_count(", "HS_EINVAL"):
        assert decl in src


@needs_c
def test_status_codes_map_to_exceptions_in_one_place():
    assert (C.HS_OK, C.HS_ENOMEM, C.HS_EINVAL) == (C._lib.HS_OK, C._lib.HS_ENOMEM,
                                                   C._lib.HS_EINVAL)
    C.check_status(C.HS_OK, "x")
    with pytest.raises(MemoryError):
        C.check_status(C.HS_ENOMEM, "x")
    with pytest.raises(ValueError):
        C.check_status(C.HS_EINVAL, "x")


_RENAMED = """
import importlib, sys
sys.path.insert(0, sys.argv[1])
copy = importlib.import_module("hamsearch_copy")
print(copy.backend(), copy._backend.kernels().__name__)
"""


@pytest.mark.parametrize("backend", ["c", "numba"])
def test_a_renamed_copy_of_the_package_runs_its_own_kernels(backend, tmp_path):
    """bench.ab_versions imports another checkout as ``hamsearch_base``: its
    kernel table must load that copy's backend modules, not this package's
    (an absolute ``hamsearch._kernels.c`` made both versions run the same
    kernels, so every A/B ratio compared a build with itself)."""
    if backend == "c" and not C.available():
        pytest.skip(C.unavailable_reason())
    if backend == "numba":
        _numba()
    import shutil

    shutil.copytree(ROOT / "hamsearch", tmp_path / "hamsearch_copy",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, HAMSEARCH_BACKEND=backend)
    out = subprocess.run([sys.executable, "-c", _RENAMED, str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    name, module = out.stdout.split()
    assert module.startswith("hamsearch_copy."), module
    assert name.startswith("c-") if backend == "c" else name == "numba"

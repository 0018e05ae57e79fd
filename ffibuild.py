"""cffi build script for the C kernels in ``csrc/`` (API, out-of-line mode).

``setup.py`` uses it through ``cffi_modules=["ffibuild.py:ffibuilder"]``; run
``python ffibuild.py`` to compile ``hamsearch/_hamsearch_c*.so`` in place for
development.  Only plain ``-O3`` is used: each CPU-feature family in ``csrc/``
enables its own instruction set per function, and ``csrc/dispatch.c`` picks
one at run time, so the build runs on any x86-64 (or other) machine.
"""

import glob
import os
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(HERE, "csrc")

#: The one public header: every entry point Python calls, the status codes
#: and the capability bits.  It is cdef-clean (comments, integer #defines,
#: enums, typedefs, prototypes), so cffi reads it as it is.
API_HEADER = os.path.join(CSRC, "hamsearch_api.h")


def read_cdef(path=API_HEADER):
    """The cdef source: ``csrc/hamsearch_api.h`` verbatim."""
    with open(path, encoding="utf-8") as f:
        return f.read()


def _files(suffix, root):
    return sorted(
        os.path.join(root, f) for f in os.listdir(CSRC) if f.endswith(suffix)
    )


if sys.platform == "win32":  # pragma: no cover - MSVC has no pthreads / -O3
    _cflags, _lflags = ["/O2"], []
else:
    _cflags, _lflags = ["-O3", "-pthread"], ["-pthread"]


def make_builder(root="csrc"):
    """An FFI builder for ``hamsearch._hamsearch_c``.

    ``root`` is how the sources are named: relative ``"csrc"`` for setuptools
    (run from the project root), absolute for :func:`build_in_place` (cffi's
    ``compile`` runs the compiler from its temporary directory).
    """
    builder = FFI()
    builder.cdef(read_cdef())
    builder.set_source(
        "hamsearch._hamsearch_c",
        '#include "hamsearch.h"\n',
        sources=_files(".c", root),
        include_dirs=[root],
        extra_compile_args=_cflags,
        extra_link_args=_lflags,
        depends=_files(".h", root),
    )
    return builder


ffibuilder = make_builder()


def build_in_place():
    """Compile the extension into ``hamsearch/`` (development build)."""
    old = os.getcwd()
    os.chdir(HERE)
    try:
        tmpdir = os.path.join("build", "cffi")
        so = make_builder(CSRC).compile(tmpdir=tmpdir, verbose=False)
        dest = os.path.join("hamsearch", os.path.basename(so))
        os.replace(so, dest)
        # an older build under another suffix (e.g. .abi3.so from pip install
        # -e) would shadow or be shadowed by this one: keep only the new file
        for f in glob.glob(os.path.join("hamsearch", "_hamsearch_c.*")):
            if f != dest and f.endswith((".so", ".pyd")):
                os.remove(f)
        return dest
    finally:
        os.chdir(old)


if __name__ == "__main__":
    print(build_in_place())

"""Build script: compiles the C kernels in csrc/ through cffi (API mode).

If the C build fails (no compiler, unsupported platform) the install still
succeeds and hamsearch runs on its Numba kernels; ``hamsearch.backend()`` says
which backend is live.  Set ``HAMSEARCH_REQUIRE_C=1`` to make a failed C build
an error instead.
"""

import glob
import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that warns instead of failing when the C kernels cannot build."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any compiler failure
            self._warn(exc)
            return
        here = os.path.dirname(os.path.abspath(__file__))
        for ext in self.extensions:
            name = self.get_ext_filename(ext.name)
            for built in (os.path.join(self.build_lib, name), os.path.join(here, name)):
                if os.path.exists(built):
                    self._remove_shadowing_builds(built)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._warn(exc)
            self._remove_stale_build(ext)

    def _remove_stale_build(self, ext):
        # an earlier build of this extension (in place, or in build/) would
        # still be imported, running the old kernels: the Numba backend the
        # warning promises takes over only without it
        here = os.path.dirname(os.path.abspath(__file__))
        name = self.get_ext_filename(ext.name)
        stem = os.path.basename(name).split(".", 1)[0]
        for where in {os.path.dirname(self.get_ext_fullpath(ext.name)),
                      os.path.join(self.build_lib, os.path.dirname(name)),
                      os.path.join(here, os.path.dirname(name))}:
            for old in glob.glob(os.path.join(where, stem + ".*")):
                if old.endswith((".so", ".pyd")):
                    os.remove(old)
                    sys.stderr.write("WARNING: removed the earlier build %s\n" % old)

    @staticmethod
    def _remove_shadowing_builds(built):
        # ``python ffibuild.py`` names its build after the interpreter
        # (``_hamsearch_c.cpython-311-...so``) while setuptools builds
        # ``_hamsearch_c.abi3.so``; the interpreter-specific name is imported
        # first, so a stale one would silently shadow this fresh build.
        stem = os.path.basename(built).split(".", 1)[0]
        for other in glob.glob(os.path.join(os.path.dirname(built), stem + ".*")):
            if os.path.abspath(other) != os.path.abspath(built) and other.endswith(
                (".so", ".pyd")
            ):
                os.remove(other)

    @staticmethod
    def _warn(exc):
        if os.environ.get("HAMSEARCH_REQUIRE_C"):
            raise exc
        sys.stderr.write(
            "WARNING: hamsearch C kernels failed to build (%s); "
            "the Numba backend will be used.\n" % (exc,)
        )


setup(
    cffi_modules=["ffibuild.py:ffibuilder"],
    cmdclass={"build_ext": OptionalBuildExt},
)

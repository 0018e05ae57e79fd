"""Numba's on-disk cache of the kernels, invalidated by any change to this
package.

``@numba.njit(cache=True)`` keys a function's cached machine code on its own
source file only, while the kernels inline helpers from other modules of
this package: after an edit of a helper (``mih/seen.py``, say) the cached
``mih/knn.py`` entry points went on running the old code.  The locator here
keeps Numba's in-tree ``__pycache__`` layout but stamps every cache entry
with the names, sizes and modification times of all the package's source
files, so that any change recompiles every kernel.  It replaces Numba's own
in-tree locator only for functions of this package, and only where Numba
exposes its locator list (an internal; without it the default applies).
"""

from __future__ import annotations

import hashlib
import os

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_stamps: dict[str, str] = {}


def package_stamp(root: str = PACKAGE_DIR) -> str:
    """A digest of every ``.py`` file's relative path, size and
    modification time under ``root`` (computed once per process)."""
    got = _stamps.get(root)
    if got is None:
        h = hashlib.sha256()
        for where, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(where, name)
                    st = os.stat(path)
                    h.update(f"{os.path.relpath(path, root)}:{st.st_size}:{st.st_mtime_ns}\n"
                             .encode())
        got = _stamps[root] = h.hexdigest()
    return got


def install() -> bool:
    """Put the package-stamped locator first for this package's functions;
    whether Numba took it."""
    try:
        from numba.core import caching

        classes = caching.CacheImpl._locator_classes
        base = caching.InTreeCacheLocator
    except (ImportError, AttributeError):
        return False
    for cls in classes:
        if getattr(cls, "_hamsearch", False):
            return True

    class PackageCacheLocator(base):
        """In-tree cache whose stamp covers the whole package."""

        _hamsearch = True

        def get_source_stamp(self):
            return package_stamp()

        @classmethod
        def from_function(cls, py_func, py_file):
            if not os.path.abspath(py_file).startswith(PACKAGE_DIR + os.sep):
                return None
            return super().from_function(py_func, py_file)

    # after the user's NUMBA_CACHE_DIR locator, before the in-tree one
    classes.insert(1 if classes and classes[0].__name__ == "UserProvidedCacheLocator" else 0,
                   PackageCacheLocator)
    return True

"""The 971x measurement of Lin et al. (2015): ``python -m bench.speedup_971x``.

Same code as ``hamsearch speedup`` (implemented in :mod:`hamsearch.cli.speedup`,
so that the installed command has it too); see that module for what is
measured.  Options: ``--n`` (default 100k, up to 1M with float16 memory-mapped
features), ``--k``, ``--single``, ``--batch``, ``--pool-sizes``, ``--mmap``,
``--no-faiss``, ``--seed``.
"""

import sys

from hamsearch.cli.speedup import main

if __name__ == "__main__":
    sys.exit(main())

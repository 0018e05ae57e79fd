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

# The part of csrc/hamsearch.h that Python calls.
CDEF = """
const char *hs_isa_name(void);
const char *hs_set_isa(const char *name);
const char *hs_cpu_features(void);
int64_t hs_set_min_work_per_thread(int64_t units);

int hs_hamming_matrix(const uint64_t *a, int64_t na, const uint64_t *b,
                      int64_t nb, int w, int32_t *out, int nthreads);
void hs_hamming_rows(const uint64_t *a, const uint64_t *b, int64_t n, int w,
                     int32_t *out);
int hs_knn(const uint64_t *db, const int64_t *ids, int64_t n, int w,
           const uint64_t *queries, int64_t nq, int64_t k, int32_t *D,
           int64_t *I, int nthreads, const uint64_t *skip);

typedef struct hs_range_result hs_range_result;
hs_range_result *hs_range_search(const uint64_t *db, const int64_t *ids,
                                 int64_t n, int w, const uint64_t *queries,
                                 int64_t nq, int32_t radius, int nthreads,
                                 const uint64_t *skip, int *err);
int64_t hs_range_total(const hs_range_result *res);
void hs_range_lims(const hs_range_result *res, int64_t *lims);
void hs_range_copy(const hs_range_result *res, int32_t *D, int64_t *I);
void hs_range_free(hs_range_result *res);

/* csrc/rerank.h: re-ranking candidate pools on float features */
const char *hs_rerank_isa(void);
int hs_rerank(const void *feats, int ftype, int64_t d, const float *qf,
              int64_t nq, const int64_t *lims, const int64_t *pos,
              const int32_t *ham, const int64_t *ids, int metric, int order,
              int64_t k, float *D, int64_t *I, int32_t *H, int nthreads);
void hs_feature_distances(const void *feats, int ftype, int64_t d,
                          const float *q, const int64_t *pos, int64_t npos,
                          int metric, float *out);
/* csrc/mih.h: multi-index hashing */
typedef struct hs_mih_segment {
    const int64_t *meta; const int32_t *offs; const uint32_t *hkeys;
    const int32_t *hvals; const int32_t *pos; const uint64_t *occ;
    const uint64_t *tcodes; int64_t seg_n; const uint8_t *sfx;
} hs_mih_segment;
void hs_mih_counting_sort(const uint32_t *keys, int64_t n, int64_t nbuckets,
                          int64_t lo, int32_t *offs, int32_t *pos);
void hs_mih_key_counts(const uint64_t *codes, int64_t n, int w, int start,
                       int len, int32_t *counts);
void hs_mih_key_scatter(const uint64_t *codes, int64_t n, int w, int start,
                        int len, int64_t row0, int32_t *fill, int32_t *pos);
void hs_mih_key_scatter_sparse(const uint64_t *codes, int64_t n, int w,
                               int start, int len, int sb, int64_t row0,
                               int32_t *fill, int32_t *pos, uint8_t *sfx);
void hs_mih_hash_insert(const uint32_t *uniq, int64_t nu, uint32_t *hkeys,
                        int32_t *hvals, int64_t hmask);
int hs_mih_knn(const uint64_t *codes, const int64_t *ids, int64_t n, int w,
               const uint64_t *queries, int64_t nq, int64_t k,
               const int32_t *sub_start, const int32_t *sub_len, int m,
               const hs_mih_segment *segs, int nseg, int64_t budget,
               int32_t *D, int64_t *I, int64_t *stats, int nthreads,
               const uint64_t *skip);
typedef struct hs_mih_range hs_mih_range;
hs_mih_range *hs_mih_range_search(const uint64_t *codes, const int64_t *ids,
        int64_t n, int w, const uint64_t *queries, int64_t nq, int32_t radius,
        const int32_t *sub_start, const int32_t *sub_len, int m,
        const hs_mih_segment *segs, int nseg, int64_t budget, int64_t *stats,
        int nthreads, const uint64_t *skip, int *err);
int64_t hs_mih_range_total(const hs_mih_range *res);
void hs_mih_range_lims(const hs_mih_range *res, int64_t *lims);
void hs_mih_range_copy(const hs_mih_range *res, int32_t *D, int64_t *I);
void hs_mih_range_free(hs_mih_range *res);
"""



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
    builder.cdef(CDEF)
    builder.set_source(
        "hamsearch._hamsearch_c",
        '#include "hamsearch.h"\n#include "rerank.h"\n#include "mih.h"\n',
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

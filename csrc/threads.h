/*
 * threads.h -- fork-join over a persistent pthread pool, internal to csrc/.
 */
#ifndef HAMSEARCH_THREADS_H
#define HAMSEARCH_THREADS_H

#include <stdint.h>

typedef void (*hs_task_fn)(void *ctx, int tid, int ntasks);

/* Run fn(ctx, tid, ntasks) for tid in [0, ntasks): task 0 and any task no
 * worker has claimed on the calling thread, the others on the persistent
 * worker pool (threads.c).  Returns when all tasks are done. */
void hs_parallel(int ntasks, hs_task_fn fn, void *ctx);

/* [*lo, *hi) = the part of [0, n) that task tid of ntasks gets. */
static inline void hs_split(int64_t n, int tid, int ntasks, int64_t *lo,
                            int64_t *hi)
{
    *lo = n * tid / ntasks;
    *hi = n * (tid + 1) / ntasks;
}

/* Number of threads worth using for `work` units (codes x queries x words)
 * with at most `nthreads` threads. */
int hs_threads_for(int64_t work, int nthreads);

/* Work units below which a second thread is not worth starting (tests set
 * it to 0 to exercise the threaded paths on small inputs). */
int64_t hs_set_min_work_per_thread(int64_t units);

#endif /* HAMSEARCH_THREADS_H */

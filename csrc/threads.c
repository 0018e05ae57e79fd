/*
 * threads.c -- fork-join over a persistent worker pool.
 *
 * hs_parallel(ntasks, fn, ctx) runs fn(ctx, tid, ntasks) for every tid.  The
 * calling thread runs task 0 and then any task of its job no worker has
 * claimed yet; the pool's workers (started on first need, never stopped,
 * grown to the largest ntasks - 1 asked for) claim the others.  So:
 *
 *   - no thread is created on the search path once the pool has grown;
 *   - concurrent calls share the pool: their tasks queue, first come first
 *     served, instead of each call starting its own threads (a machine with
 *     8 callers x 2 kernel threads runs 8 callers + 1 worker, not 16);
 *   - a call never waits for a busy pool: its own thread runs whatever is
 *     left unclaimed, so progress needs no worker at all;
 *   - after fork() the child starts with an empty pool (pthread_atfork).
 */
#include "threads.h"

#include <pthread.h>
#include <stdlib.h>

#include "hamsearch.h"

/* Most workers the pool starts (set_num_threads caps callers far below). */
#define HS_POOL_MAX 1024

typedef struct hs_job {
    hs_task_fn fn;
    void *ctx;
    int ntasks;
    int next;    /* next task id to claim */
    int running; /* tasks claimed by workers and not finished */
    int queued;  /* in the pool's queue */
    pthread_cond_t done;
    struct hs_job *qnext;
} hs_job;

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;
static hs_job *queue_head = 0, *queue_tail = 0;
static int pool_workers = 0;
static int pool_atfork_done = 0;

static void queue_remove(hs_job *job) /* pool_mu held */
{
    hs_job *prev = 0;
    for (hs_job *j = queue_head; j; prev = j, j = j->qnext) {
        if (j != job)
            continue;
        if (prev)
            prev->qnext = j->qnext;
        else
            queue_head = j->qnext;
        if (queue_tail == j)
            queue_tail = prev;
        j->qnext = 0;
        j->queued = 0;
        return;
    }
}

/* Claim the next task of `job` (pool_mu held): its id, or -1. */
static int claim(hs_job *job)
{
    if (job->next >= job->ntasks)
        return -1;
    int tid = job->next++;
    if (job->next >= job->ntasks && job->queued)
        queue_remove(job);
    return tid;
}

static void *worker_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pool_mu);
    for (;;) {
        while (!queue_head)
            pthread_cond_wait(&pool_cv, &pool_mu);
        hs_job *job = queue_head;
        int tid = claim(job);
        if (tid < 0)
            continue;
        job->running++;
        pthread_mutex_unlock(&pool_mu);
        job->fn(job->ctx, tid, job->ntasks);
        pthread_mutex_lock(&pool_mu);
        if (--job->running == 0 && job->next >= job->ntasks)
            pthread_cond_signal(&job->done);
    }
    return 0; /* not reached */
}

static void atfork_prepare(void) { pthread_mutex_lock(&pool_mu); }
static void atfork_parent(void) { pthread_mutex_unlock(&pool_mu); }
static void atfork_child(void)
{
    /* only the forking thread exists in the child: no workers, no jobs */
    pthread_mutex_init(&pool_mu, 0);
    pthread_cond_init(&pool_cv, 0);
    queue_head = queue_tail = 0;
    pool_workers = 0;
}

/* Start workers until there are `want` (pool_mu held); fewer when the
 * system refuses threads -- the callers then run more tasks themselves. */
static void grow_pool(int want)
{
    if (!pool_atfork_done) {
        pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
        pool_atfork_done = 1;
    }
    if (want > HS_POOL_MAX)
        want = HS_POOL_MAX;
    while (pool_workers < want) {
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&th, &attr, worker_main, 0);
        pthread_attr_destroy(&attr);
        if (rc != 0)
            break;
        pool_workers++;
    }
}

void hs_parallel(int ntasks, hs_task_fn fn, void *ctx)
{
    if (ntasks <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    hs_job job;
    job.fn = fn;
    job.ctx = ctx;
    job.ntasks = ntasks;
    job.next = 1; /* task 0 is the caller's */
    job.running = 0;
    job.queued = 1;
    job.qnext = 0;
    pthread_cond_init(&job.done, 0);

    pthread_mutex_lock(&pool_mu);
    grow_pool(ntasks - 1);
    if (queue_tail)
        queue_tail->qnext = &job;
    else
        queue_head = &job;
    queue_tail = &job;
    if (ntasks - 1 == 1)
        pthread_cond_signal(&pool_cv);
    else
        pthread_cond_broadcast(&pool_cv);
    pthread_mutex_unlock(&pool_mu);

    fn(ctx, 0, ntasks);

    pthread_mutex_lock(&pool_mu);
    int tid;
    while ((tid = claim(&job)) >= 0) { /* what no worker took yet */
        pthread_mutex_unlock(&pool_mu);
        fn(ctx, tid, ntasks);
        pthread_mutex_lock(&pool_mu);
    }
    if (job.queued)
        queue_remove(&job);
    while (job.running > 0)
        pthread_cond_wait(&job.done, &pool_mu);
    pthread_mutex_unlock(&pool_mu);
    pthread_cond_destroy(&job.done);
}

static int64_t hs_min_work = 1 << 18;

int64_t hs_set_min_work_per_thread(int64_t units)
{
    const int64_t old = hs_min_work;
    hs_min_work = units < 0 ? 0 : units;
    return old;
}

int hs_threads_for(int64_t work, int nthreads)
{
    if (nthreads < 1)
        nthreads = 1;
    if (hs_min_work <= 0)
        return nthreads;
    int64_t t = work / hs_min_work;
    if (t < 1)
        t = 1;
    return t < nthreads ? (int)t : nthreads;
}

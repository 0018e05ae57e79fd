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
 *
 * Idle workers spin for up to hs_spin_ns (default HS_SPIN_NS) before they
 * sleep on the condition variable, and a caller waiting for the tasks a
 * worker took spins the same while before it sleeps.  Waking a sleeping
 * thread costs a futex call and, on a virtual machine whose other vCPU
 * went idle, an inter-processor interrupt through the hypervisor: 20-40 us
 * measured on a 2-vCPU AMD EPYC VM, which made a 2-thread scan of 500k
 * 64-bit codes slower (72 us) than 1 thread (42 us).  A service's next
 * query usually comes within the spin, so its workers never sleep under
 * load; an idle process stops spinning after hs_spin_ns.  A spinning
 * thread calls sched_yield() every 64 pauses, so a runnable thread on its
 * core (a caller holding the GIL, another caller's task) goes first.
 * 50 us: one caller's 2-thread scan of 1M x 128-bit codes takes 0.10 ms
 * (0.17-0.19 ms without spinning); 200 us raised 2 callers' p99 from 0.8
 * to 1.5 ms (spinners kept the cores from callers' work).
 */
#include "threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

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

/* How long an idle worker (or a waiting caller) spins before it sleeps. */
#define HS_SPIN_NS 50000
static int64_t hs_spin_ns = HS_SPIN_NS;

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

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Spin (pool_mu not held) for up to hs_spin_ns until the condition holds;
 * whether it did.  The condition: *ptr is not NULL (ptr given: a job was
 * queued), else *val is zero (the caller's job.running). */
static int spin_until(const void *const *ptr, const int *val)
{
    const int64_t budget = __atomic_load_n(&hs_spin_ns, __ATOMIC_RELAXED);
    if (budget <= 0)
        return 0;
    int64_t start = 0;
    for (unsigned i = 0;; i++) {
        const int ready = ptr ? __atomic_load_n(ptr, __ATOMIC_ACQUIRE) != 0
                              : __atomic_load_n(val, __ATOMIC_ACQUIRE) == 0;
        if (ready)
            return 1;
        cpu_relax();
        if ((i & 63) == 0) {
            /* a thread that wants this core (a caller holding the GIL,
             * say) gets it: spinning must never delay real work */
            if (i)
                sched_yield();
            const int64_t t = now_ns();
            if (i == 0)
                start = t;
            else if (t - start > budget)
                return 0;
        }
    }
}

int64_t hs_set_spin_ns(int64_t ns)
{
    return __atomic_exchange_n(&hs_spin_ns, ns < 0 ? 0 : ns, __ATOMIC_RELAXED);
}

static void *worker_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pool_mu);
    for (;;) {
        while (!queue_head) {
            pthread_mutex_unlock(&pool_mu);
            const int seen = spin_until((const void *const *)&queue_head, 0);
            pthread_mutex_lock(&pool_mu);
            if (!seen && !queue_head)
                pthread_cond_wait(&pool_cv, &pool_mu);
        }
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
    if (job.running > 0) { /* a worker still runs a task: spin, then sleep */
        pthread_mutex_unlock(&pool_mu);
        spin_until(0, &job.running);
        pthread_mutex_lock(&pool_mu);
    }
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

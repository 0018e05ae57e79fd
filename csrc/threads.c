/*
 * threads.c -- fork-join helper: one pthread per task beyond the first,
 * created per call (a search call is milliseconds; creating a thread is
 * tens of microseconds).
 */
#include "threads.h"

#include <pthread.h>
#include <stdlib.h>

#include "hamsearch.h"

typedef struct {
    hs_task_fn fn;
    void *ctx;
    int tid;
    int ntasks;
} hs_task;

static void *hs_task_main(void *arg)
{
    hs_task *t = (hs_task *)arg;
    t->fn(t->ctx, t->tid, t->ntasks);
    return 0;
}

void hs_parallel(int ntasks, hs_task_fn fn, void *ctx)
{
    if (ntasks <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    hs_task *tasks = (hs_task *)malloc(sizeof(hs_task) * (size_t)ntasks);
    pthread_t *th = (pthread_t *)malloc(sizeof(pthread_t) * (size_t)ntasks);
    char *started = (char *)calloc((size_t)ntasks, 1);
    if (!tasks || !th || !started) {
        /* no memory for bookkeeping: run the tasks one after another */
        free(tasks);
        free(th);
        free(started);
        for (int t = 0; t < ntasks; t++)
            fn(ctx, t, ntasks);
        return;
    }
    for (int t = 1; t < ntasks; t++) {
        tasks[t].fn = fn;
        tasks[t].ctx = ctx;
        tasks[t].tid = t;
        tasks[t].ntasks = ntasks;
        started[t] = pthread_create(&th[t], 0, hs_task_main, &tasks[t]) == 0;
    }
    fn(ctx, 0, ntasks);
    for (int t = 1; t < ntasks; t++) {
        if (started[t])
            pthread_join(th[t], 0);
        else
            fn(ctx, t, ntasks);
    }
    free(tasks);
    free(th);
    free(started);
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

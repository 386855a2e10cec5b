/* The engine's own worker pool: one process-wide set of threads that run the
 * tasks of a job (task i on worker i, task 0 on the caller), waiting on
 * condition variables between jobs, never spinning.
 *
 * A job's result never depends on the pool: tasks write only to their own
 * buffers, so when the pool is busy with another caller's job, or cannot start
 * threads, the caller runs every task itself, in order.
 *
 * fork: the prepare handler waits for the job running (if any) to finish and
 * holds the pool, so a child never inherits a pool in mid-job; in the child
 * the workers do not exist, and the pool starts again empty.
 *
 * Included by _pool.pyx only (its statics are the one pool of the process);
 * other modules call _pool's run_tasks.
 */
#ifndef DNN_POOL_H
#define DNN_POOL_H

#include <pthread.h>
#include <string.h>

#define DNN_POOL_MAX_WORKERS 256

typedef void (*dnn_task)(void *context, int task);

typedef struct {
    pthread_mutex_t busy;         /* held by the caller of a job (and by fork) */
    pthread_mutex_t mutex;        /* guards the fields below */
    pthread_cond_t work;          /* a new job, or stop */
    pthread_cond_t done;          /* a worker finished its task */
    pthread_t threads[DNN_POOL_MAX_WORKERS];
    int n_threads;                /* workers started; worker i runs task i (from 1) */
    long generation;              /* counts jobs; a worker runs each once */
    int n_tasks;                  /* of the current job */
    int pending;                  /* workers yet to finish the current job */
    dnn_task task;
    void *context;
} dnn_pool_t;

typedef struct {
    dnn_pool_t *pool;
    int index;
    long seen;                    /* the generation of the last job it saw */
} dnn_worker_t;

/* Jobs of more than one task run so far, and of those the ones the caller ran
 * alone because the pool was busy (benchmarks and tests count a step's jobs). */
static long dnn_pool_jobs_run;
static long dnn_pool_jobs_busy;

static dnn_pool_t dnn_pool = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER};
static dnn_worker_t dnn_workers[DNN_POOL_MAX_WORKERS];
static pthread_once_t dnn_pool_once = PTHREAD_ONCE_INIT;

static void *dnn_pool_worker(void *arg)
{
    dnn_worker_t *self = (dnn_worker_t *)arg;
    dnn_pool_t *pool = self->pool;
    pthread_mutex_lock(&pool->mutex);
    for (;;) {
        while (pool->generation == self->seen)
            pthread_cond_wait(&pool->work, &pool->mutex);
        self->seen = pool->generation;
        if (self->index < pool->n_tasks) {
            dnn_task task = pool->task;
            void *context = pool->context;
            pthread_mutex_unlock(&pool->mutex);
            task(context, self->index);
            pthread_mutex_lock(&pool->mutex);
            if (--pool->pending == 0)
                pthread_cond_signal(&pool->done);
        }
    }
    return NULL;
}

static void dnn_pool_prepare(void) { pthread_mutex_lock(&dnn_pool.busy); }
static void dnn_pool_parent(void) { pthread_mutex_unlock(&dnn_pool.busy); }

static void dnn_pool_child(void)
{
    /* only the forking thread exists here; it held busy, so no job was running */
    pthread_mutex_t fresh_mutex = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t fresh_cond = PTHREAD_COND_INITIALIZER;
    dnn_pool.n_threads = 0;
    dnn_pool.pending = 0;
    dnn_pool.n_tasks = 0;
    memcpy(&dnn_pool.mutex, &fresh_mutex, sizeof fresh_mutex);
    memcpy(&dnn_pool.work, &fresh_cond, sizeof fresh_cond);
    memcpy(&dnn_pool.done, &fresh_cond, sizeof fresh_cond);
    memcpy(&dnn_pool.busy, &fresh_mutex, sizeof fresh_mutex);
}

static void dnn_pool_register(void)
{
    pthread_atfork(dnn_pool_prepare, dnn_pool_parent, dnn_pool_child);
}

/* Register the fork handlers; once, at import, before any job can run (glibc
 * skips, for a fork under way, a handler registered during its prepare
 * phase: registering at the first job let a child inherit a pool in mid-job,
 * its mutex held by a thread that does not exist there). */
static void dnn_pool_init(void) { pthread_once(&dnn_pool_once, dnn_pool_register); }

/* Start workers until n_tasks - 1 exist (or threads cannot start). Call with
 * busy and mutex held. Returns the number of workers available. */
static int dnn_pool_grow(dnn_pool_t *pool, int n_tasks)
{
    pthread_attr_t attr;
    int want = n_tasks - 1;
    if (want > DNN_POOL_MAX_WORKERS - 1)
        want = DNN_POOL_MAX_WORKERS - 1;
    if (pool->n_threads >= want)
        return pool->n_threads;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    while (pool->n_threads < want) {
        int index = pool->n_threads + 1;
        dnn_workers[index].pool = pool;
        dnn_workers[index].index = index;
        /* started before this job's generation is counted: it runs this job */
        dnn_workers[index].seen = pool->generation;
        if (pthread_create(&pool->threads[index], &attr, dnn_pool_worker,
                           &dnn_workers[index]) != 0)
            break;
        pool->n_threads++;
    }
    pthread_attr_destroy(&attr);
    return pool->n_threads;
}

/* Run task(context, i) for i in [0, n_tasks): on the pool's workers when it is
 * free, else all in this thread. Returns the number of threads that ran them. */
static int dnn_pool_run(dnn_task task, void *context, int n_tasks)
{
    dnn_pool_t *pool = &dnn_pool;
    int i, workers;
    if (n_tasks > 1)
        __atomic_fetch_add(&dnn_pool_jobs_run, 1, __ATOMIC_RELAXED);
    if (n_tasks <= 1 || pthread_mutex_trylock(&pool->busy) != 0) {
        if (n_tasks > 1)
            __atomic_fetch_add(&dnn_pool_jobs_busy, 1, __ATOMIC_RELAXED);
        for (i = 0; i < n_tasks; i++)
            task(context, i);
        return 1;
    }
    pthread_mutex_lock(&pool->mutex);
    workers = dnn_pool_grow(pool, n_tasks);
    if (workers > n_tasks - 1)
        workers = n_tasks - 1;
    pool->task = task;
    pool->context = context;
    pool->n_tasks = workers + 1;
    pool->pending = workers;
    pool->generation++;
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->mutex);
    task(context, 0);
    /* tasks no worker took (threads that could not start) run here */
    for (i = workers + 1; i < n_tasks; i++)
        task(context, i);
    pthread_mutex_lock(&pool->mutex);
    while (pool->pending > 0)
        pthread_cond_wait(&pool->done, &pool->mutex);
    pthread_mutex_unlock(&pool->mutex);
    pthread_mutex_unlock(&pool->busy);
    return workers + 1;
}

/* The job counts above (jobs of more than one task; of those, busy). */
static void dnn_pool_job_counts(long *jobs, long *busy)
{
    *jobs = __atomic_load_n(&dnn_pool_jobs_run, __ATOMIC_RELAXED);
    *busy = __atomic_load_n(&dnn_pool_jobs_busy, __ATOMIC_RELAXED);
}

/* Workers started so far (the caller not counted). */
static int dnn_pool_size(void)
{
    int n;
    pthread_mutex_lock(&dnn_pool.mutex);
    n = dnn_pool.n_threads;
    pthread_mutex_unlock(&dnn_pool.mutex);
    return n;
}

#endif

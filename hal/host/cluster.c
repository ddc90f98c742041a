/* SPDX-License-Identifier: Apache-2.0 */
/* host cluster service: cluster cores are POSIX threads; core 0 is the thread running main.
 * Workers are created once and sleep on a condition variable between forks. */
#include <pthread.h>
#include <stdint.h>

#include "hal.h"

#ifndef ET_HOST_CORES
#define ET_HOST_CORES HAL_CLUSTER_MAX_CORES
#endif

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t g_done = PTHREAD_COND_INITIALIZER;
static pthread_cond_t g_bar = PTHREAD_COND_INITIALIZER;
static pthread_t g_threads[HAL_CLUSTER_MAX_CORES];
static int g_started;
static unsigned g_team = 1;
static unsigned long g_fork_gen; /* incremented per fork: wakes the workers */
static unsigned g_running;       /* workers still inside the current fork */
static unsigned g_bar_count;
static unsigned long g_bar_gen;
static int g_in_fork;
static void (*g_fn)(void *);
static void *g_arg;
static __thread unsigned t_core_id; /* 0 for the main thread */

unsigned hal_cluster_core_id(void) { return t_core_id; }
unsigned hal_cluster_num_cores(void) { return g_team; }
unsigned hal_cluster_max_cores(void) { return ET_HOST_CORES; }

static void *worker(void *p)
{
    t_core_id = (unsigned)(uintptr_t)p;
    unsigned long seen = 0;
    pthread_mutex_lock(&g_lock);
    for (;;) {
        while (g_fork_gen == seen) pthread_cond_wait(&g_wake, &g_lock);
        seen = g_fork_gen;
        if (t_core_id >= g_team) continue;
        pthread_mutex_unlock(&g_lock);
        g_fn(g_arg);
        pthread_mutex_lock(&g_lock);
        if (--g_running == 0) pthread_cond_signal(&g_done);
    }
    return NULL;
}

et_status hal_cluster_fork(unsigned ncores, void (*fn)(void *), void *arg)
{
    if (!fn || ncores == 0 || ncores > ET_HOST_CORES || g_in_fork || t_core_id != 0) return ET_ERR_ARG;
    pthread_mutex_lock(&g_lock);
    if (!g_started) {
        for (unsigned c = 1; c < ET_HOST_CORES; ++c)
            if (pthread_create(&g_threads[c], NULL, worker, (void *)(uintptr_t)c) != 0) {
                pthread_mutex_unlock(&g_lock);
                return ET_ERR_HW;
            }
        g_started = 1;
    }
    g_in_fork = 1;
    g_team = ncores;
    g_fn = fn;
    g_arg = arg;
    g_running = ncores - 1;
    g_fork_gen++;
    pthread_cond_broadcast(&g_wake);
    pthread_mutex_unlock(&g_lock);

    fn(arg);

    pthread_mutex_lock(&g_lock);
    while (g_running) pthread_cond_wait(&g_done, &g_lock);
    g_team = 1;
    g_in_fork = 0;
    pthread_mutex_unlock(&g_lock);
    return ET_OK;
}

void hal_cluster_barrier(void)
{
    if (g_team == 1) return;
    pthread_mutex_lock(&g_lock);
    unsigned long gen = g_bar_gen;
    if (++g_bar_count == g_team) {
        g_bar_count = 0;
        g_bar_gen++;
        pthread_cond_broadcast(&g_bar);
    } else {
        while (gen == g_bar_gen) pthread_cond_wait(&g_bar, &g_lock);
    }
    pthread_mutex_unlock(&g_lock);
}

/* db_test_util.h — what the DB's fault and power-loss campaigns share: the
 * keys of their workloads and a wait for the background thread. Include
 * after test_util.h; needs db_internal.h (the test reaches into the handle). */
#ifndef LSMLOG_DB_TEST_UTIL_H
#define LSMLOG_DB_TEST_UTIL_H

#include "test_util.h"

#include "db_internal.h"

#include <time.h>

/* Key i of a workload: "k001".."k999", and key 0 the empty key. */
static inline size_t dbt_key_of(int i, char *buf) {
    if (i == 0) {
        buf[0] = '\0';
        return 0;
    }
    return (size_t)snprintf(buf, 16, "k%03d", i);
}

/* The index of a user key made by dbt_key_of with index < nkeys, or -1
 * (iterators hand out keys that are not NUL-terminated). */
static inline int dbt_key_index(const void *k, size_t len, int nkeys) {
    if (len == 0) return 0;
    const char *s = k;
    if (len != 4 || s[0] != 'k') return -1;
    long i = tu_atoi_n(s + 1, 3);
    return i >= 1 && i < nkeys ? (int)i : -1;
}

/* Returns once the background threads have no flush or compaction to do (or
 * has stopped on an error), so that runs repeat the same operations. */
static inline void dbt_wait_idle(lsmlog_db *db) {
    double t0 = tu_mono_ms();
    for (;;) {
        pthread_mutex_lock(&db->mu);
        int busy = !db_bg_idle(db);
        pthread_mutex_unlock(&db->mu);
        if (!busy) return;
        CHECKF(tu_mono_ms() - t0 < 30000, "the background thread did not finish its work in 30 s");
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
}

#endif

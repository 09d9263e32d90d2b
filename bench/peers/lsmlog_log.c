/*
 * lsmlog_log.c — the lsmlog Log as a kv_bench peer, for the log-shaped
 * workloads only (a Log has offsets, not keys): the 8-byte key of record i is
 * its offset, which the Log assigns itself (checked), and the value's first 8
 * bytes are the record's timestamp. Durability "os" (each batch handed to the
 * OS with one write, no fsync). The same figures as bench_log's, measured
 * under the same rules as the peers here (store calls only).
 */
#include "../bench_util.h"
#include "../kv_bench.h"

#include "lsmlog.h"

#define LSM_BATCH_MAX 1000

typedef struct lsm {
    lsmlog_log *log;
    lsmlog_entry e[LSM_BATCH_MAX];
} lsm;

static void check(int rc, const char *what) {
    if (rc != LSMLOG_OK)
        bu_die("lsmlog: %s: %d (%s): %s", what, rc, lsmlog_strerror(rc), lsmlog_errmsg());
}

static const char *version(void) {
    return LSMLOG_VERSION;
}

static void *open_(const char *dir, int mode, uint64_t n) {
    (void)n;
    if (mode != KV_MODE_LOG) bu_die("lsmlog Log: the key-value shape is the DB's (bench_db)");
    lsm *h = calloc(1, sizeof *h);
    if (!h) bu_die("lsmlog: out of memory");
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.durability = LSMLOG_DURABILITY_OS;
    check(lsmlog_log_open(dir, &o, &h->log), "lsmlog_log_open");
    return h;
}

static void close_(void *p) {
    lsm *h = p;
    check(lsmlog_log_close(h->log), "lsmlog_log_close");
    free(h);
}

static void write_(void *p, const kv_rec *r, size_t n) {
    lsm *h = p;
    if (n > LSM_BATCH_MAX) bu_die("lsmlog: batch of %zu", n);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *v = r[i].val;
        h->e[i].data = v + KV_LOG_TS_LEN;
        h->e[i].len = r[i].vlen - KV_LOG_TS_LEN;
        h->e[i].ts = (int64_t)bu_get_be64(v);
    }
    uint64_t first = 0;
    check(lsmlog_log_append_batch(h->log, h->e, n, &first), "lsmlog_log_append_batch");
    if (first != bu_get_be64(r[0].key)) bu_die("lsmlog: append_batch gave an unexpected offset");
}

static uint64_t scan_(void *p, uint64_t *bytes) {
    lsm *h = p;
    lsmlog_log_iter *it = NULL;
    check(lsmlog_log_iter_open(h->log, NULL, &it), "lsmlog_log_iter_open");
    lsmlog_record rec;
    uint64_t count = 0;
    int rc;
    while ((rc = lsmlog_log_iter_next(it, &rec)) == LSMLOG_OK) {
        if (rec.offset != count) bu_die("lsmlog: scan out of order");
        bu_touch(rec.value, rec.len);
        *bytes += KV_LOG_KEY_LEN + KV_LOG_TS_LEN + rec.len;
        count++;
    }
    if (rc != LSMLOG_NOTFOUND) check(rc, "lsmlog_log_iter_next");
    lsmlog_log_iter_close(it);
    return count;
}

const kv_peer kv_peer_lsmlog_log = {
    "lsmlog-log",
    "durability=os (each batch handed to the OS with one write, no fsync); log shape only",
    KV_MODE_LOG,
    version,
    open_,
    close_,
    write_,
    NULL,
    scan_,
    NULL,
};

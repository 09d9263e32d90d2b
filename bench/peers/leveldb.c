/*
 * leveldb.c — LevelDB through its C API (leveldb/c.h), for kv_bench.
 *
 * Settings: the library's defaults (4 MiB write buffer, 8 MiB block cache,
 * Snappy compression where built in) plus a bloom filter of 10 bits per key,
 * as lsmlog's DB has by default. Writes: WriteOptions.sync = false, LevelDB's
 * default: each batch is written to the log file (write(), no fsync) before
 * the call returns — it survives a kill -9 of the process, not a power loss:
 * lsmlog's "os". Each get and seek sees the latest state (no snapshot; a new
 * iterator per seek, as db_bench's seekrandom does).
 */
#include "../bench_util.h"
#include "../kv_bench.h"

#include <leveldb/c.h>

typedef struct ldb {
    leveldb_t *db;
    leveldb_options_t *opt;
    leveldb_filterpolicy_t *bloom;
    leveldb_writeoptions_t *wopt;
    leveldb_readoptions_t *ropt;
    leveldb_writebatch_t *batch;
} ldb;

static void check(char *err, const char *what) {
    if (err) bu_die("leveldb: %s: %s", what, err);
}

static const char *version(void) {
    static char v[32];
    snprintf(v, sizeof v, "%d.%d", leveldb_major_version(), leveldb_minor_version());
    return v;
}

static void *open_(const char *dir, int mode, uint64_t n) {
    (void)mode;
    (void)n;
    ldb *h = calloc(1, sizeof *h);
    if (!h) bu_die("leveldb: out of memory");
    h->opt = leveldb_options_create();
    leveldb_options_set_create_if_missing(h->opt, 1);
    h->bloom = leveldb_filterpolicy_create_bloom(10);
    leveldb_options_set_filter_policy(h->opt, h->bloom);
    h->wopt = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(h->wopt, 0);
    h->ropt = leveldb_readoptions_create();
    h->batch = leveldb_writebatch_create();
    char *err = NULL;
    h->db = leveldb_open(h->opt, dir, &err);
    check(err, "open");
    return h;
}

static void close_(void *p) {
    ldb *h = p;
    leveldb_close(h->db);
    leveldb_writebatch_destroy(h->batch);
    leveldb_readoptions_destroy(h->ropt);
    leveldb_writeoptions_destroy(h->wopt);
    leveldb_options_destroy(h->opt);
    leveldb_filterpolicy_destroy(h->bloom);
    free(h);
}

static void write_(void *p, const kv_rec *r, size_t n) {
    ldb *h = p;
    leveldb_writebatch_clear(h->batch);
    for (size_t i = 0; i < n; i++)
        leveldb_writebatch_put(h->batch, r[i].key, r[i].klen, r[i].val, r[i].vlen);
    char *err = NULL;
    leveldb_write(h->db, h->wopt, h->batch, &err);
    check(err, "write");
}

static int get_(void *p, const void *key, size_t klen, size_t *vlen) {
    ldb *h = p;
    char *err = NULL;
    char *v = leveldb_get(h->db, h->ropt, key, klen, vlen, &err);
    check(err, "get");
    if (!v) return 0;
    bu_touch(v, *vlen);
    leveldb_free(v);
    return 1;
}

static uint64_t scan_(void *p, uint64_t *bytes) {
    ldb *h = p;
    leveldb_iterator_t *it = leveldb_create_iterator(h->db, h->ropt);
    uint64_t count = 0;
    for (leveldb_iter_seek_to_first(it); leveldb_iter_valid(it); leveldb_iter_next(it)) {
        size_t kl, vl;
        const void *kp = leveldb_iter_key(it, &kl);
        bu_touch(kp, kl);
        const void *vp = leveldb_iter_value(it, &vl);
        bu_touch(vp, vl);
        *bytes += kl + vl;
        count++;
    }
    char *err = NULL;
    leveldb_iter_get_error(it, &err);
    check(err, "scan");
    leveldb_iter_destroy(it);
    return count;
}

static int seek_(void *p, const void *key, size_t klen, void *found, size_t cap, size_t *flen) {
    ldb *h = p;
    leveldb_iterator_t *it = leveldb_create_iterator(h->db, h->ropt);
    leveldb_iter_seek(it, key, klen);
    int ok = leveldb_iter_valid(it);
    if (ok) {
        size_t vl;
        const char *k = leveldb_iter_key(it, flen);
        const void *vp = leveldb_iter_value(it, &vl);
        bu_touch(vp, vl);
        memcpy(found, k, *flen < cap ? *flen : cap);
    }
    char *err = NULL;
    leveldb_iter_get_error(it, &err);
    check(err, "seek");
    leveldb_iter_destroy(it);
    return ok;
}

const kv_peer kv_peer_leveldb = {
    "leveldb",
    "sync=false (each batch written to the log, no fsync: like lsmlog os); defaults: 4 MiB "
    "write buffer, 8 MiB cache, snappy; + bloom 10 bits/key",
    KV_MODE_KV | KV_MODE_LOG,
    version,
    open_,
    close_,
    write_,
    get_,
    scan_,
    seek_,
};

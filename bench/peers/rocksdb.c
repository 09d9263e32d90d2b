/*
 * rocksdb.c — RocksDB through its C API (rocksdb/c.h), for kv_bench.
 *
 * Settings: the library's defaults (64 MiB write buffer, 32 MiB block cache,
 * Snappy compression where built in, 2 background jobs) plus a bloom filter
 * of 10 bits per key, as lsmlog's DB has by default. Writes:
 * WriteOptions.sync = false with the WAL on, RocksDB's default: each batch is
 * written to the WAL (write(), no fsync) before the call returns — lsmlog's
 * "os". Each get and seek sees the latest state (a new iterator per seek, as
 * db_bench's seekrandom does).
 */
#include "../bench_util.h"
#include "../kv_bench.h"

#include <rocksdb/c.h>

#ifndef ROCKSDB_VERSION_STR
#define ROCKSDB_VERSION_STR "unknown" /* CMake reads it from rocksdb/version.h */
#endif

typedef struct rdb {
    rocksdb_t *db;
    rocksdb_options_t *opt;
    rocksdb_block_based_table_options_t *table;
    rocksdb_writeoptions_t *wopt;
    rocksdb_readoptions_t *ropt;
    rocksdb_writebatch_t *batch;
} rdb;

static void check(char *err, const char *what) {
    if (err) bu_die("rocksdb: %s: %s", what, err);
}

static const char *version(void) {
    return ROCKSDB_VERSION_STR;
}

static void *open_(const char *dir, int mode, uint64_t n) {
    (void)mode;
    (void)n;
    rdb *h = calloc(1, sizeof *h);
    if (!h) bu_die("rocksdb: out of memory");
    h->opt = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(h->opt, 1);
    h->table = rocksdb_block_based_options_create();
    /* The table options take ownership of the policy. */
    rocksdb_block_based_options_set_filter_policy(h->table, rocksdb_filterpolicy_create_bloom(10));
    rocksdb_options_set_block_based_table_factory(h->opt, h->table);
    h->wopt = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(h->wopt, 0);
    h->ropt = rocksdb_readoptions_create();
    h->batch = rocksdb_writebatch_create();
    char *err = NULL;
    h->db = rocksdb_open(h->opt, dir, &err);
    check(err, "open");
    return h;
}

static void close_(void *p) {
    rdb *h = p;
    rocksdb_close(h->db);
    rocksdb_writebatch_destroy(h->batch);
    rocksdb_readoptions_destroy(h->ropt);
    rocksdb_writeoptions_destroy(h->wopt);
    rocksdb_options_destroy(h->opt);
    rocksdb_block_based_options_destroy(h->table);
    free(h);
}

static void write_(void *p, const kv_rec *r, size_t n) {
    rdb *h = p;
    rocksdb_writebatch_clear(h->batch);
    for (size_t i = 0; i < n; i++)
        rocksdb_writebatch_put(h->batch, r[i].key, r[i].klen, r[i].val, r[i].vlen);
    char *err = NULL;
    rocksdb_write(h->db, h->wopt, h->batch, &err);
    check(err, "write");
}

static int get_(void *p, const void *key, size_t klen, size_t *vlen) {
    rdb *h = p;
    char *err = NULL;
    char *v = rocksdb_get(h->db, h->ropt, key, klen, vlen, &err);
    check(err, "get");
    if (!v) return 0;
    bu_touch(v, *vlen);
    rocksdb_free(v);
    return 1;
}

static uint64_t scan_(void *p, uint64_t *bytes) {
    rdb *h = p;
    rocksdb_iterator_t *it = rocksdb_create_iterator(h->db, h->ropt);
    uint64_t count = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const void *kp = rocksdb_iter_key(it, &kl);
        bu_touch(kp, kl);
        const void *vp = rocksdb_iter_value(it, &vl);
        bu_touch(vp, vl);
        *bytes += kl + vl;
        count++;
    }
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    check(err, "scan");
    rocksdb_iter_destroy(it);
    return count;
}

static int seek_(void *p, const void *key, size_t klen, void *found, size_t cap, size_t *flen) {
    rdb *h = p;
    rocksdb_iterator_t *it = rocksdb_create_iterator(h->db, h->ropt);
    rocksdb_iter_seek(it, key, klen);
    int ok = rocksdb_iter_valid(it);
    if (ok) {
        size_t vl;
        const char *k = rocksdb_iter_key(it, flen);
        const void *vp = rocksdb_iter_value(it, &vl);
        bu_touch(vp, vl);
        memcpy(found, k, *flen < cap ? *flen : cap);
    }
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    check(err, "seek");
    rocksdb_iter_destroy(it);
    return ok;
}

const kv_peer kv_peer_rocksdb = {
    "rocksdb",
    "sync=false, WAL on (each batch written to the WAL, no fsync: like lsmlog os); defaults: "
    "64 MiB write buffer, 32 MiB cache, snappy; + bloom 10 bits/key",
    KV_MODE_KV | KV_MODE_LOG,
    version,
    open_,
    close_,
    write_,
    get_,
    scan_,
    seek_,
};

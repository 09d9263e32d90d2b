/*
 * lmdb.c — LMDB (lmdb.h), for kv_bench.
 *
 * Settings: MDB_NOSYNC: a commit writes its pages to the file (pwrite) but
 * does not fsync — it survives a kill -9 of the process, not a power loss:
 * lsmlog's "os". No MDB_WRITEMAP (the pages go through write calls, so
 * /proc/self/io sees them). Map size: 1 GiB + 1 KiB per record (a sparse
 * reservation). One write transaction per batch; each get takes a read
 * transaction (mdb_txn_renew of a reset one: the cheapest way to see the
 * latest commit); the log shape appends with MDB_APPEND, LMDB's fast path for
 * keys in order.
 */
#include "../bench_util.h"
#include "../kv_bench.h"

#include <lmdb.h>

typedef struct lmdb_h {
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *rtxn; /* a reset read-only transaction, renewed per read */
    unsigned put_flags;
} lmdb_h;

static void check(int rc, const char *what) {
    if (rc) bu_die("lmdb: %s: %s", what, mdb_strerror(rc));
}

static const char *version(void) {
    static char v[32];
    int a, b, c;
    mdb_version(&a, &b, &c);
    snprintf(v, sizeof v, "%d.%d.%d", a, b, c);
    return v;
}

static void *open_(const char *dir, int mode, uint64_t n) {
    lmdb_h *h = calloc(1, sizeof *h);
    if (!h) bu_die("lmdb: out of memory");
    check(mdb_env_create(&h->env), "env_create");
    check(mdb_env_set_mapsize(h->env, (size_t)(1ull << 30) + (size_t)n * 1024), "set_mapsize");
    check(mdb_env_open(h->env, dir, MDB_NOSYNC, 0644), "env_open");
    MDB_txn *txn;
    check(mdb_txn_begin(h->env, NULL, 0, &txn), "txn_begin");
    check(mdb_dbi_open(txn, NULL, 0, &h->dbi), "dbi_open");
    check(mdb_txn_commit(txn), "commit");
    check(mdb_txn_begin(h->env, NULL, MDB_RDONLY, &h->rtxn), "txn_begin (read)");
    mdb_txn_reset(h->rtxn);
    h->put_flags = mode == KV_MODE_LOG ? MDB_APPEND : 0;
    return h;
}

static void close_(void *p) {
    lmdb_h *h = p;
    mdb_txn_abort(h->rtxn);
    mdb_env_close(h->env);
    free(h);
}

static void write_(void *p, const kv_rec *r, size_t n) {
    lmdb_h *h = p;
    MDB_txn *txn;
    check(mdb_txn_begin(h->env, NULL, 0, &txn), "txn_begin");
    for (size_t i = 0; i < n; i++) {
        MDB_val k = {r[i].klen, (void *)r[i].key}, v = {r[i].vlen, (void *)r[i].val};
        check(mdb_put(txn, h->dbi, &k, &v, h->put_flags), "put");
    }
    check(mdb_txn_commit(txn), "commit");
}

static int get_(void *p, const void *key, size_t klen, size_t *vlen) {
    lmdb_h *h = p;
    check(mdb_txn_renew(h->rtxn), "txn_renew");
    MDB_val k = {klen, (void *)key}, v;
    int rc = mdb_get(h->rtxn, h->dbi, &k, &v);
    if (rc != MDB_NOTFOUND) check(rc, "get");
    if (rc == 0) {
        bu_touch(v.mv_data, v.mv_size);
        *vlen = v.mv_size;
    }
    mdb_txn_reset(h->rtxn);
    return rc == 0;
}

static uint64_t scan_(void *p, uint64_t *bytes) {
    lmdb_h *h = p;
    check(mdb_txn_renew(h->rtxn), "txn_renew");
    MDB_cursor *c;
    check(mdb_cursor_open(h->rtxn, h->dbi, &c), "cursor_open");
    MDB_val k, v;
    uint64_t count = 0;
    int rc;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        bu_touch(k.mv_data, k.mv_size);
        bu_touch(v.mv_data, v.mv_size);
        *bytes += k.mv_size + v.mv_size;
        count++;
    }
    if (rc != MDB_NOTFOUND) check(rc, "cursor_get");
    mdb_cursor_close(c);
    mdb_txn_reset(h->rtxn);
    return count;
}

static int seek_(void *p, const void *key, size_t klen, void *found, size_t cap, size_t *flen) {
    lmdb_h *h = p;
    check(mdb_txn_renew(h->rtxn), "txn_renew");
    MDB_cursor *c;
    check(mdb_cursor_open(h->rtxn, h->dbi, &c), "cursor_open");
    MDB_val k = {klen, (void *)key}, v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    if (rc != MDB_NOTFOUND) check(rc, "cursor_get");
    if (rc == 0) {
        bu_touch(v.mv_data, v.mv_size);
        *flen = k.mv_size;
        memcpy(found, k.mv_data, k.mv_size < cap ? k.mv_size : cap);
    }
    mdb_cursor_close(c);
    mdb_txn_reset(h->rtxn);
    return rc == 0;
}

const kv_peer kv_peer_lmdb = {
    "lmdb",
    "MDB_NOSYNC (each commit written with pwrite, no fsync: like lsmlog os); one write txn per "
    "batch, a renewed read txn per get/seek; log shape with MDB_APPEND",
    KV_MODE_KV | KV_MODE_LOG,
    version,
    open_,
    close_,
    write_,
    get_,
    scan_,
    seek_,
};

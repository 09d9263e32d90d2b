/*
 * sqlite.c — SQLite (sqlite3.h), for kv_bench.
 *
 * Settings: journal_mode=WAL, synchronous=OFF: a commit writes its pages to
 * the WAL file (write(), no fsync) — it survives a kill -9 of the process, not
 * a power loss: lsmlog's "os". Otherwise defaults (2 MiB page cache, 4 KiB
 * pages, automatic checkpoints every 1,000 pages). One transaction per batch
 * of 1,000, prepared statements throughout.
 *
 * KV shape: CREATE TABLE kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID (rows
 * kept in key order, the natural key-value table), INSERT OR REPLACE.
 * Log shape: CREATE TABLE log(off INTEGER PRIMARY KEY, ts INTEGER, v BLOB),
 * what one would write to keep a log in SQLite.
 */
#include "../bench_util.h"
#include "../kv_bench.h"

#include <sqlite3.h>

typedef struct sq {
    sqlite3 *db;
    int mode;
    sqlite3_stmt *begin, *commit, *put, *get, *scan, *seek;
} sq;

static const char *version(void) {
    return sqlite3_libversion();
}

static void check(sq *h, int rc, int want, const char *what) {
    if (rc != want) bu_die("sqlite: %s: %s", what, sqlite3_errmsg(h->db));
}

static sqlite3_stmt *prep(sq *h, const char *sql) {
    sqlite3_stmt *st = NULL;
    check(h, sqlite3_prepare_v2(h->db, sql, -1, &st, NULL), SQLITE_OK, sql);
    return st;
}

static void exec(sq *h, const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(h->db, sql, NULL, NULL, &err) != SQLITE_OK) bu_die("sqlite: %s: %s", sql, err);
}

static void step_done(sq *h, sqlite3_stmt *st, const char *what) {
    check(h, sqlite3_step(st), SQLITE_DONE, what);
    sqlite3_reset(st);
}

static void *open_(const char *dir, int mode, uint64_t n) {
    (void)n;
    sq *h = calloc(1, sizeof *h);
    if (!h) bu_die("sqlite: out of memory");
    h->mode = mode;
    char path[4200];
    snprintf(path, sizeof path, "%s/bench.sqlite", dir);
    if (sqlite3_open(path, &h->db) != SQLITE_OK) bu_die("sqlite: open %s", path);
    exec(h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF");
    if (mode == KV_MODE_LOG) {
        exec(h, "CREATE TABLE log(off INTEGER PRIMARY KEY, ts INTEGER NOT NULL, v BLOB NOT NULL)");
        h->put = prep(h, "INSERT INTO log(off, ts, v) VALUES(?, ?, ?)");
        h->scan = prep(h, "SELECT off, ts, v FROM log ORDER BY off");
    } else {
        exec(h, "CREATE TABLE kv(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID");
        h->put = prep(h, "INSERT OR REPLACE INTO kv(k, v) VALUES(?, ?)");
        h->get = prep(h, "SELECT v FROM kv WHERE k = ?");
        h->scan = prep(h, "SELECT k, v FROM kv ORDER BY k");
        h->seek = prep(h, "SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT 1");
    }
    h->begin = prep(h, "BEGIN");
    h->commit = prep(h, "COMMIT");
    return h;
}

static void close_(void *p) {
    sq *h = p;
    sqlite3_stmt *st[] = {h->begin, h->commit, h->put, h->get, h->scan, h->seek};
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++)
        sqlite3_finalize(st[i]);
    if (sqlite3_close(h->db) != SQLITE_OK) bu_die("sqlite: close: %s", sqlite3_errmsg(h->db));
    free(h);
}

static void write_(void *p, const kv_rec *r, size_t n) {
    sq *h = p;
    step_done(h, h->begin, "BEGIN");
    for (size_t i = 0; i < n; i++) {
        if (h->mode == KV_MODE_LOG) {
            const uint8_t *v = r[i].val;
            sqlite3_bind_int64(h->put, 1, (sqlite3_int64)bu_get_be64(r[i].key));
            sqlite3_bind_int64(h->put, 2, (sqlite3_int64)bu_get_be64(v));
            sqlite3_bind_blob(h->put, 3, v + KV_LOG_TS_LEN, (int)(r[i].vlen - KV_LOG_TS_LEN),
                              SQLITE_STATIC);
        } else {
            sqlite3_bind_blob(h->put, 1, r[i].key, (int)r[i].klen, SQLITE_STATIC);
            sqlite3_bind_blob(h->put, 2, r[i].val, (int)r[i].vlen, SQLITE_STATIC);
        }
        step_done(h, h->put, "INSERT");
    }
    step_done(h, h->commit, "COMMIT");
}

static int get_(void *p, const void *key, size_t klen, size_t *vlen) {
    sq *h = p;
    sqlite3_bind_blob(h->get, 1, key, (int)klen, SQLITE_STATIC);
    int rc = sqlite3_step(h->get);
    if (rc == SQLITE_ROW) {
        const void *v = sqlite3_column_blob(h->get, 0);
        *vlen = (size_t)sqlite3_column_bytes(h->get, 0);
        bu_touch(v, *vlen);
    } else {
        check(h, rc, SQLITE_DONE, "SELECT");
    }
    sqlite3_reset(h->get);
    return rc == SQLITE_ROW;
}

static uint64_t scan_(void *p, uint64_t *bytes) {
    sq *h = p;
    uint64_t count = 0;
    int rc;
    while ((rc = sqlite3_step(h->scan)) == SQLITE_ROW) {
        int last = h->mode == KV_MODE_LOG ? 2 : 1;
        if (h->mode == KV_MODE_LOG) {
            *bytes += KV_LOG_KEY_LEN + KV_LOG_TS_LEN;
            sqlite3_column_int64(h->scan, 0);
            sqlite3_column_int64(h->scan, 1);
        } else {
            const void *k = sqlite3_column_blob(h->scan, 0);
            size_t kl = (size_t)sqlite3_column_bytes(h->scan, 0);
            bu_touch(k, kl);
            *bytes += kl;
        }
        const void *v = sqlite3_column_blob(h->scan, last);
        size_t vl = (size_t)sqlite3_column_bytes(h->scan, last);
        bu_touch(v, vl);
        *bytes += vl;
        count++;
    }
    check(h, rc, SQLITE_DONE, "SELECT (scan)");
    sqlite3_reset(h->scan);
    return count;
}

static int seek_(void *p, const void *key, size_t klen, void *found, size_t cap, size_t *flen) {
    sq *h = p;
    sqlite3_bind_blob(h->seek, 1, key, (int)klen, SQLITE_STATIC);
    int rc = sqlite3_step(h->seek);
    if (rc == SQLITE_ROW) {
        const void *k = sqlite3_column_blob(h->seek, 0);
        *flen = (size_t)sqlite3_column_bytes(h->seek, 0);
        memcpy(found, k, *flen < cap ? *flen : cap);
        bu_touch(sqlite3_column_blob(h->seek, 1), (size_t)sqlite3_column_bytes(h->seek, 1));
    } else {
        check(h, rc, SQLITE_DONE, "SELECT (seek)");
    }
    sqlite3_reset(h->seek);
    return rc == SQLITE_ROW;
}

const kv_peer kv_peer_sqlite = {
    "sqlite",
    "journal_mode=WAL, synchronous=OFF (each commit written to the WAL, no fsync: like lsmlog "
    "os); one transaction per batch; kv: WITHOUT ROWID table, log: INTEGER PRIMARY KEY table",
    KV_MODE_KV | KV_MODE_LOG,
    version,
    open_,
    close_,
    write_,
    get_,
    scan_,
    seek_,
};

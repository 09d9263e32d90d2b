/* fuzz_db_ops.c — libFuzzer target: the DB driven by a sequence of operations
 * read from the input, checked against an in-memory model after every step.
 *
 * Input: a byte stream of operations. Each starts with an opcode byte (taken
 * modulo the number of operations) and is followed by its arguments:
 *   put k len bytes{len}   delete k   get k   batch n (put|delete ...)
 *   scan lo hi dir         snapshot (take / check and release)
 *   flush_memtable         compact lo hi      reopen
 * Keys are one byte: key i is "k" + i (32 keys, so keys collide and overwrite),
 * value lengths are at most 64 bytes, taken from the input. The memtable is
 * tiny (4 KiB), so a short input already flushes and compacts.
 *
 * Every get and scan is compared with the model (and snapshot reads with the
 * model as it was when the snapshot was taken); a difference aborts. Errors
 * are failures too: on an undamaged directory nothing may fail. */
#include "fuzz_util.h"

#include <stdbool.h>

#define NK 32
#define MAXV 64
#define MAX_OPS 400

typedef struct mv {
    bool present;
    uint8_t len;
    uint8_t data[MAXV];
} mv;

typedef struct rd {
    const uint8_t *p;
    size_t n;
} rd;

static bool take(rd *r, uint8_t *b) {
    if (r->n == 0) return false;
    *b = *r->p++;
    r->n--;
    return true;
}

static void key_of(unsigned i, char k[3]) {
    k[0] = 'k';
    k[1] = (char)('A' + i % NK);
    k[2] = 0;
}

static lsmlog_db *open_db(const char *dir) {
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.memtable_bytes = 4096;
    o.cache_bytes = 16 << 10;
    lsmlog_db *db = NULL;
    int rc = lsmlog_db_open(dir, &o, &db);
    FUZZ_CHECK(rc == LSMLOG_OK, "open: %d", rc);
    return db;
}

static void check_get(lsmlog_db *db, const lsmlog_snapshot *s, const mv *m, unsigned i) {
    char k[3];
    key_of(i, k);
    void *v = NULL;
    size_t len = 0;
    int rc = lsmlog_db_get(db, s, k, 2, &v, &len);
    if (m[i].present) {
        FUZZ_CHECK(rc == LSMLOG_OK, "get %s: %d, want %u bytes", k, rc, m[i].len);
        FUZZ_CHECK(len == m[i].len && (len == 0 || memcmp(v, m[i].data, len) == 0), "get %s: wrong value", k);
    } else {
        FUZZ_CHECK(rc == LSMLOG_NOTFOUND, "get %s: %d, want NOTFOUND", k, rc);
    }
    lsmlog_free(v);
}

static void check_scan(lsmlog_db *db, const lsmlog_snapshot *s, const mv *m, unsigned lo, unsigned hi,
                       bool reverse) {
    char klo[3], khi[3];
    key_of(lo, klo);
    key_of(hi, khi);
    lsmlog_db_iter_opts o;
    lsmlog_db_iter_opts_init(&o);
    o.snapshot = s;
    o.start = klo;
    o.start_len = 2;
    if (hi < NK) {
        o.stop = khi;
        o.stop_len = 2;
    }
    lsmlog_db_iter *it = NULL;
    int rc = lsmlog_db_iter_open(db, &o, &it);
    FUZZ_CHECK(rc == LSMLOG_OK, "iter_open: %d", rc);
    rc = reverse ? lsmlog_db_iter_last(it) : lsmlog_db_iter_first(it);
    int i = reverse ? (int)hi - 1 : (int)lo;
    for (;;) {
        while (i >= (int)lo && i < (int)hi && !m[i].present) i += reverse ? -1 : 1;
        bool want = i >= (int)lo && i < (int)hi;
        FUZZ_CHECK(rc == LSMLOG_OK, "scan: %d", rc);
        FUZZ_CHECK(lsmlog_db_iter_valid(it) == want, "scan: valid %d, want key %d", lsmlog_db_iter_valid(it), i);
        if (!want) break;
        size_t kl, vl;
        const char *k = lsmlog_db_iter_key(it, &kl);
        const void *v = lsmlog_db_iter_value(it, &vl);
        FUZZ_CHECK(kl == 2 && k[1] == 'A' + i, "scan: key %.*s, want index %d", (int)kl, k, i);
        FUZZ_CHECK(vl == m[i].len && (vl == 0 || memcmp(v, m[i].data, vl) == 0), "scan: wrong value at %d", i);
        i += reverse ? -1 : 1;
        rc = reverse ? lsmlog_db_iter_prev(it) : lsmlog_db_iter_next(it);
    }
    lsmlog_db_iter_close(it);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *dir = fz_dir();
    fz_empty_dir(dir);
    lsmlog_db *db = open_db(dir);
    static mv m[NK], snapm[NK];
    memset(m, 0, sizeof m);
    lsmlog_snapshot *snap = NULL;
    rd r = {data, size};
    uint8_t op, a, b, c;
    for (int step = 0; step < MAX_OPS && take(&r, &op); step++) {
        char k[3];
        switch (op % 9) {
        case 0: /* put */
            if (!take(&r, &a) || !take(&r, &b)) break;
            b %= MAXV + 1;
            if (r.n < b) b = (uint8_t)r.n;
            key_of(a, k);
            FUZZ_CHECK(lsmlog_db_put(db, k, 2, r.p, b) == LSMLOG_OK, "put");
            m[a % NK].present = true;
            m[a % NK].len = b;
            if (b) memcpy(m[a % NK].data, r.p, b);
            r.p += b;
            r.n -= b;
            break;
        case 1: /* delete */
            if (!take(&r, &a)) break;
            key_of(a, k);
            FUZZ_CHECK(lsmlog_db_delete(db, k, 2) == LSMLOG_OK, "delete");
            m[a % NK].present = false;
            break;
        case 2: /* get */
            if (take(&r, &a)) check_get(db, NULL, m, a % NK);
            break;
        case 3: { /* batch: n ops, puts of the key's own name or deletes */
            if (!take(&r, &a)) break;
            lsmlog_batch *bt = NULL;
            FUZZ_CHECK(lsmlog_batch_new(&bt) == LSMLOG_OK, "batch_new");
            mv next[NK];
            memcpy(next, m, sizeof m);
            for (unsigned j = 0; j < a % 8u && take(&r, &b); j++) {
                key_of(b, k);
                if (b & 0x80) {
                    FUZZ_CHECK(lsmlog_batch_delete(bt, k, 2) == LSMLOG_OK, "batch_delete");
                    next[b % NK].present = false;
                } else {
                    FUZZ_CHECK(lsmlog_batch_put(bt, k, 2, &b, 1) == LSMLOG_OK, "batch_put");
                    next[b % NK] = (mv){true, 1, {b}};
                }
            }
            FUZZ_CHECK(lsmlog_db_write(db, bt) == LSMLOG_OK, "write");
            lsmlog_batch_free(bt);
            memcpy(m, next, sizeof m);
            break;
        }
        case 4: /* scan */
            if (!take(&r, &a) || !take(&r, &b) || !take(&r, &c)) break;
            a %= NK;
            b = (uint8_t)(a + b % (NK - a + 1));
            check_scan(db, NULL, m, a, b, c & 1);
            break;
        case 5: /* snapshot: take, or check and release */
            if (snap) {
                for (unsigned i = 0; i < NK; i++) check_get(db, snap, snapm, i);
                check_scan(db, snap, snapm, 0, NK, false);
                lsmlog_db_snapshot_release(snap);
                snap = NULL;
            } else {
                FUZZ_CHECK(lsmlog_db_snapshot(db, &snap) == LSMLOG_OK, "snapshot");
                memcpy(snapm, m, sizeof m);
            }
            break;
        case 6:
            FUZZ_CHECK(lsmlog_db_flush_memtable(db) == LSMLOG_OK, "flush_memtable");
            break;
        case 7: { /* compact a range */
            if (!take(&r, &a) || !take(&r, &b)) break;
            char klo[3], khi[3];
            key_of(a, klo);
            key_of(b, khi);
            FUZZ_CHECK(lsmlog_db_compact(db, klo, 2, khi, 2, NULL, NULL) == LSMLOG_OK, "compact");
            break;
        }
        case 8: /* reopen */
            if (snap) break;
            FUZZ_CHECK(lsmlog_db_close(db) == LSMLOG_OK, "close");
            db = open_db(dir);
            break;
        }
    }
    if (snap) lsmlog_db_snapshot_release(snap);
    check_scan(db, NULL, m, 0, NK, false);
    FUZZ_CHECK(lsmlog_db_close(db) == LSMLOG_OK, "close");
    db = open_db(dir);
    for (unsigned i = 0; i < NK; i++) check_get(db, NULL, m, i);
    check_scan(db, NULL, m, 0, NK, true);
    FUZZ_CHECK(lsmlog_db_close(db) == LSMLOG_OK, "close");
    return 0;
}

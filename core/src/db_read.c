/* db_read.c — reading the DB: point gets (memtables, then level 0 newest
 * first, then one table per level, each behind its bloom filter), iterators
 * that merge every source under a pinned version, and the table readers,
 * opened on first use and kept until the table is dropped. */
#include "db_internal.h"

#include "alloc.h"
#include "bloom.h"
#include "db_iter.h"
#include "dbformat.h"
#include "env.h"
#include "merge_iter.h"
#include "status.h"

#include <stddef.h>
#include <string.h>

struct lsmlog_db_iter {
    lsmlog_db *db;
    db_iter *it;
};

/* ---- table readers ------------------------------------------------------- */

static void reader_free(void *r) {
    sst_reader_close(r);
}

/* An open table's reader, without the lock (NULL: not opened yet). The
 * pointer is set once, with release order after the reader is made. */
static sst_reader *open_reader(const table_file *t) {
    return __atomic_load_n(&t->reader, __ATOMIC_ACQUIRE);
}

int db_table_reader(lsmlog_db *db, table_file *t, sst_reader **out) {
    if ((*out = open_reader(t))) return LSMLOG_OK;
    pthread_mutex_lock(&db->tables_mu);
    int rc = LSMLOG_OK;
    if (!t->reader) {
        char *path = db_table_path(db, t->meta.number);
        sst_reader *r = NULL;
        rc = path ? sst_reader_open(path, t->meta.number, db->cache, ikey_cmp, &r)
                  : st_error(LSMLOG_E_NOMEM, "out of memory");
        if (rc == LSMLOG_E_NOENT)
            rc = st_error(LSMLOG_E_NOENT, "%s: table %llu, named by the manifest, is missing", db->dir,
                          (unsigned long long)t->meta.number);
        lm_free(path);
        if (rc == LSMLOG_OK) {
            t->reader_free = reader_free;
            __atomic_store_n(&t->reader, r, __ATOMIC_RELEASE);
        }
    }
    *out = t->reader;
    pthread_mutex_unlock(&db->tables_mu);
    return rc;
}

static int table_iter(lsmlog_db *db, table_file *t, int cached, iiter **out) {
    sst_reader *r;
    int rc = db_table_reader(db, t, &r);
    if (rc) return rc;
    return cached ? iter_from_sst(r, out) : iter_from_sst_uncached(r, out);
}

int db_table_iter(lsmlog_db *db, table_file *t, iiter **out) {
    return table_iter(db, t, 1, out);
}

int db_compaction_table_iter(lsmlog_db *db, table_file *t, iiter **out) {
    return table_iter(db, t, 0, out);
}

static table_file *file_of(const file_meta *f) {
    return (table_file *)((char *)f - offsetof(table_file, meta));
}

static int open_level_table(void *ctx, const file_meta *f, iiter **out) {
    return table_iter(ctx, file_of(f), 1, out);
}

static int open_level_table_uncached(void *ctx, const file_meta *f, iiter **out) {
    return table_iter(ctx, file_of(f), 0, out);
}

int db_level_iter(lsmlog_db *db, table_file *const *files, size_t n, iiter **out) {
    return iter_level(files, n, open_level_table, db, out);
}

int db_compaction_level_iter(lsmlog_db *db, table_file *const *files, size_t n, iiter **out) {
    return iter_level(files, n, open_level_table_uncached, db, out);
}

/* ---- views ------------------------------------------------------------------- */

/* What a read looks at, each piece referenced: the memtables, the version,
 * and the sequence number it sees. A snapshot of a read-only handle brings
 * its own pinned view; otherwise the DB's current one. */
typedef struct view {
    memtable *mems[2];
    version *v;
    uint64_t seq;
} view;

static void view_acquire(lsmlog_db *db, const lsmlog_snapshot *snap, view *w) {
    pthread_mutex_lock(&db->mu);
    if (snap && snap->v) {
        w->mems[0] = snap->mem;
        w->mems[1] = snap->imm;
        w->v = snap->v;
        version_ref(w->v);
    } else {
        w->mems[0] = db->mem;
        w->mems[1] = db->imm;
        w->v = vset_current(db->vs);
    }
    w->seq = snap ? snap->seq : db->last_seq;
    for (int i = 0; i < 2; i++)
        if (w->mems[i]) memtable_ref(w->mems[i]);
    pthread_mutex_unlock(&db->mu);
}

/* ---- point gets ---------------------------------------------------------- */

/* Whether user key k lies in the table's key range. */
static int in_range(const file_meta *m, const uint8_t *k, size_t klen) {
    return ukey_cmp(k, klen, m->smallest, m->smallest_len - 8) >= 0 &&
           ukey_cmp(k, klen, m->largest, m->largest_len - 8) <= 0;
}

/* The table of a level >= 1 that may hold k, or NULL. */
static table_file *level_find(const version *v, int l, const uint8_t *k, size_t klen) {
    size_t lo = 0, hi = v->nfiles[l];
    while (lo < hi) { /* the first table whose largest user key >= k */
        size_t mid = lo + (hi - lo) / 2;
        const file_meta *m = &v->files[l][mid]->meta;
        if (ukey_cmp(m->largest, m->largest_len - 8, k, klen) < 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo == v->nfiles[l]) return NULL;
    table_file *t = v->files[l][lo];
    return in_range(&t->meta, k, klen) ? t : NULL;
}

/* The tables that may hold user key k, in the order a get asks them: level
 * 0's whose range covers it, newest first, then at most one per deeper
 * level. The first `cap` go to out; returns how many there are. */
static size_t candidates(const version *v, const uint8_t *k, size_t klen, table_file **out, size_t cap) {
    size_t n = 0;
    for (size_t i = v->nfiles[0]; i > 0; i--) {
        table_file *t = v->files[0][i - 1];
        if (in_range(&t->meta, k, klen) && n++ < cap) out[n - 1] = t;
    }
    for (int l = 1; l < DB_LEVELS; l++) {
        table_file *t = level_find(v, l, k, klen);
        if (t && n++ < cap) out[n - 1] = t;
    }
    return n;
}

/* Turns the newest entry found into the answer: a put's value (copied, the
 * TTL's expiry stripped), or NOTFOUND for a delete or an expired put. The
 * clock is read only for an entry with a TTL (a clock read is a sizeable
 * part of a get from the memtable). */
static int answer(const lsmlog_db *db, int type, const uint8_t *v, size_t vlen, int owned, void **val,
                  size_t *vlen_out) {
    const uint8_t *data = v;
    size_t n = vlen;
    if (type == KT_DELETE) return LSMLOG_NOTFOUND;
    if (type == KT_PUT_TTL) {
        if (vlen < 8) return st_error(LSMLOG_E_CORRUPT, "a value with a TTL is shorter than its expiry");
        if (get_i64(v) <= db_now(db)) return LSMLOG_NOTFOUND;
        data += 8;
        n -= 8;
    }
    if (vlen_out) *vlen_out = n;
    if (!val) return LSMLOG_OK;
    uint8_t *copy;
    if (owned && type == KT_PUT) {
        copy = (uint8_t *)v; /* hand over the reader's copy as it is */
    } else {
        copy = lm_malloc(n ? n : 1);
        if (!copy) return st_error(LSMLOG_E_NOMEM, "out of memory copying a value of %zu bytes", n);
        if (n) memcpy(copy, data, n);
    }
    *val = copy;
    return LSMLOG_OK;
}

int lsmlog_db_get(lsmlog_db *db, const lsmlog_snapshot *snap, const void *key, size_t klen,
                  void **val, size_t *vlen) {
    if (!db) return st_error(LSMLOG_E_INVALID, "NULL DB handle");
    if (!key && klen) return st_error(LSMLOG_E_INVALID, "NULL key with length %zu", klen);
    if (snap && snap->db != db) return st_error(LSMLOG_E_INVALID, "a snapshot of another DB");
    if (val) *val = NULL;
    if (vlen) *vlen = 0;
    int rc = db_refresh(db);
    if (rc) return rc;
    const uint8_t *k = key;
    view w;
    view_acquire(db, snap, &w);
    memtable **mems = w.mems;
    version *v = w.v;
    uint64_t seq = w.seq;

    rc = LSMLOG_NOTFOUND;
    int found = 0, type = 0;
    for (int i = 0; i < 2 && !found; i++) {
        const void *mv;
        size_t ml;
        if (mems[i] && memtable_get(mems[i], k, klen, seq, &type, &mv, &ml) == LSMLOG_OK) {
            found = 1;
            rc = answer(db, type, mv, ml, 0, val, vlen);
        }
    }
    /* The tables are asked in order, but the filters of all of them are
     * asked for from memory at once: one cache miss's wait instead of one
     * per table. The last (the deepest level's, which holds most of the
     * data) is read as the likely one while recent gets found their keys
     * there (not while they mostly ask for absent keys: the early lookup of
     * the data block is then wasted). */
    table_file *few[16], **cand = few;
    size_t nc = 0;
    uint64_t h = 0;
    if (!found) {
        h = bloom_hash(k, klen);
        nc = candidates(v, k, klen, few, 16);
        if (nc > 16 && (cand = lm_malloc(nc * sizeof *cand)) != NULL) candidates(v, k, klen, cand, nc);
        if (!cand) {
            cand = few;
            rc = st_error(LSMLOG_E_NOMEM, "out of memory reading %s", db->dir);
            found = 1;
        }
        for (size_t i = 0; !found && i < nc; i++) {
            sst_reader *r = open_reader(cand[i]);
            if (r) sst_reader_prefetch_filter(r, h);
        }
    }
    for (size_t i = 0; !found && i < nc; i++) {
        table_file *t = cand[i];
        sst_reader *r;
        uint8_t *tv = NULL;
        size_t tl = 0;
        /* the value is read when it or its length is asked for */
        int want = val || vlen;
        int last = i + 1 == nc;
        int likely = last && atomic_load_explicit(&db->last_table_hits, memory_order_relaxed) >= 0;
        int trc = db_table_reader(db, t, &r);
        if (trc == LSMLOG_OK)
            trc = sst_reader_get_hashed(r, k, klen, h, likely, seq, &type, NULL, want ? &tv : NULL, &tl);
        if (last) {
            int score = atomic_load_explicit(&db->last_table_hits, memory_order_relaxed);
            if (trc == LSMLOG_NOTFOUND ? score > -DB_LIKELY_SPAN : score < DB_LIKELY_SPAN)
                atomic_store_explicit(&db->last_table_hits, score + (trc == LSMLOG_NOTFOUND ? -1 : 1),
                                      memory_order_relaxed);
        }
        if (trc == LSMLOG_NOTFOUND) continue;
        found = 1;
        if (trc) {
            rc = trc; /* never an older value in place of a damaged one */
        } else if (!want && type == KT_PUT_TTL) {
            /* the expiry is needed: read the value after all */
            trc = sst_reader_get_hashed(r, k, klen, h, 0, seq, &type, NULL, &tv, &tl);
            rc = trc ? trc : answer(db, type, tv, tl, 0, NULL, vlen);
            lm_free(tv);
        } else {
            rc = answer(db, type, tv, tl, 1, val, vlen);
            if (!(val && rc == LSMLOG_OK && type == KT_PUT)) lm_free(tv);
        }
    }
    if (cand != few) lm_free(cand);
    version_unref(v);
    for (int i = 0; i < 2; i++) memtable_unref(mems[i]);
    if (rc != LSMLOG_OK && val && *val) {
        lm_free(*val);
        *val = NULL;
    }
    return rc;
}

/* ---- iterators ----------------------------------------------------------- */

static void unpin_version(void *v) {
    version_unref(v);
}

void lsmlog_db_iter_opts_init(lsmlog_db_iter_opts *o) {
    if (o) memset(o, 0, sizeof *o);
}

/* The merged internal iterator over the DB's current state: memtables
 * newest first, level-0 tables newest first, then one iterator per level. */
static int merged_iter(lsmlog_db *db, const lsmlog_snapshot *snap, iiter **out, uint64_t *seq) {
    view w;
    view_acquire(db, snap, &w);
    memtable **mems = w.mems;
    version *v = w.v;
    *seq = w.seq;

    size_t cap = 2 + v->nfiles[0] + DB_LEVELS, n = 0;
    iiter **kids = lm_calloc(cap, sizeof *kids);
    int rc = kids ? LSMLOG_OK : st_error(LSMLOG_E_NOMEM, "out of memory");
    for (int i = 0; rc == LSMLOG_OK && i < 2; i++)
        if (mems[i] && (rc = iter_from_memtable(mems[i], &kids[n])) == LSMLOG_OK) n++;
    for (size_t i = v->nfiles[0]; rc == LSMLOG_OK && i > 0; i--)
        if ((rc = db_table_iter(db, v->files[0][i - 1], &kids[n])) == LSMLOG_OK) n++;
    for (int l = 1; rc == LSMLOG_OK && l < DB_LEVELS; l++)
        if (v->nfiles[l] && (rc = db_level_iter(db, v->files[l], v->nfiles[l], &kids[n])) == LSMLOG_OK)
            n++;
    for (int i = 0; i < 2; i++) memtable_unref(mems[i]); /* the memtable iterators hold their own */
    iiter *m = NULL;
    if (rc == LSMLOG_OK) {
        rc = merge_iter_new(kids, n, &m); /* takes the children over, even when it fails */
        n = 0;
    }
    for (size_t i = 0; i < n; i++) iiter_close(kids[i]);
    lm_free(kids);
    if (rc) {
        version_unref(v);
        return rc;
    }
    iiter_set_cleanup(m, unpin_version, v);
    *out = m;
    return LSMLOG_OK;
}

int lsmlog_db_iter_open(lsmlog_db *db, const lsmlog_db_iter_opts *opts, lsmlog_db_iter **out) {
    if (!db || !out) return st_error(LSMLOG_E_INVALID, "NULL DB handle or output");
    *out = NULL;
    lsmlog_db_iter_opts none;
    if (!opts) {
        lsmlog_db_iter_opts_init(&none);
        opts = &none;
    }
    if (opts->snapshot && opts->snapshot->db != db) return st_error(LSMLOG_E_INVALID, "a snapshot of another DB");
    if ((!opts->start && opts->start_len) || (!opts->stop && opts->stop_len) || (!opts->prefix && opts->prefix_len))
        return st_error(LSMLOG_E_INVALID, "NULL bound with a length");
    int rc = db_refresh(db);
    if (rc) return rc;
    lsmlog_db_iter *d = lm_calloc(1, sizeof *d);
    if (!d) return st_error(LSMLOG_E_NOMEM, "out of memory");
    iiter *m = NULL;
    uint64_t seq;
    if ((rc = merged_iter(db, opts->snapshot, &m, &seq))) {
        lm_free(d);
        return rc;
    }
    db_iter_options o;
    db_iter_options_init(&o);
    o.snapshot = seq;
    o.start = opts->start;
    o.start_len = opts->start_len;
    o.stop = opts->stop;
    o.stop_len = opts->stop_len;
    o.prefix = opts->prefix;
    o.prefix_len = opts->prefix_len;
    o.clock = db->clock;
    o.clock_ctx = db->clock_ctx;
    if ((rc = db_iter_new(m, &o, &d->it))) { /* closes m on failure */
        lm_free(d);
        return rc;
    }
    d->db = db;
    pthread_mutex_lock(&db->mu);
    db->niters++;
    pthread_mutex_unlock(&db->mu);
    *out = d;
    return LSMLOG_OK;
}

void lsmlog_db_iter_close(lsmlog_db_iter *d) {
    if (!d) return;
    db_iter_close(d->it);
    pthread_mutex_lock(&d->db->mu);
    d->db->niters--;
    pthread_mutex_unlock(&d->db->mu);
    lm_free(d);
}

#define CHECK_IT(d)                                                                    \
    do {                                                                               \
        if (!(d)) return st_error(LSMLOG_E_INVALID, "NULL iterator");                  \
    } while (0)

int lsmlog_db_iter_first(lsmlog_db_iter *d) {
    CHECK_IT(d);
    return db_iter_seek_to_first(d->it);
}

int lsmlog_db_iter_last(lsmlog_db_iter *d) {
    CHECK_IT(d);
    return db_iter_seek_to_last(d->it);
}

int lsmlog_db_iter_seek(lsmlog_db_iter *d, const void *key, size_t klen) {
    CHECK_IT(d);
    if (!key && klen) return st_error(LSMLOG_E_INVALID, "NULL key with length %zu", klen);
    return db_iter_seek(d->it, key, klen);
}

int lsmlog_db_iter_seek_for_prev(lsmlog_db_iter *d, const void *key, size_t klen) {
    CHECK_IT(d);
    if (!key && klen) return st_error(LSMLOG_E_INVALID, "NULL key with length %zu", klen);
    return db_iter_seek_for_prev(d->it, key, klen);
}

int lsmlog_db_iter_next(lsmlog_db_iter *d) {
    CHECK_IT(d);
    if (!db_iter_valid(d->it)) {
        int st = db_iter_status(d->it);
        return st ? st : st_error(LSMLOG_E_INVALID, "next on an iterator that is not on a key");
    }
    return db_iter_next(d->it);
}

int lsmlog_db_iter_prev(lsmlog_db_iter *d) {
    CHECK_IT(d);
    if (!db_iter_valid(d->it)) {
        int st = db_iter_status(d->it);
        return st ? st : st_error(LSMLOG_E_INVALID, "prev on an iterator that is not on a key");
    }
    return db_iter_prev(d->it);
}

int lsmlog_db_iter_valid(const lsmlog_db_iter *d) {
    return d && db_iter_valid(d->it);
}

const void *lsmlog_db_iter_key(const lsmlog_db_iter *d, size_t *len) {
    if (!lsmlog_db_iter_valid(d)) {
        if (len) *len = 0;
        return NULL;
    }
    size_t n;
    const void *k = db_iter_key(d->it, &n);
    if (len) *len = n;
    return k;
}

const void *lsmlog_db_iter_value(const lsmlog_db_iter *d, size_t *len) {
    if (!lsmlog_db_iter_valid(d)) {
        if (len) *len = 0;
        return NULL;
    }
    size_t n;
    const void *v = db_iter_value(d->it, &n);
    if (len) *len = n;
    return v;
}

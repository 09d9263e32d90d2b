/* iter.c — the internal iterator's head, and its three basic kinds: over a
 * memtable, over one table, and over a level of tables opened one at a time
 * (iter.h). */
#include "iter.h"

#include <assert.h>

#include "alloc.h"
#include "dbformat.h"
#include "status.h"

void iiter_init(iiter *it, const iiter_ops *ops) {
    it->ops = ops;
    it->cleanup = NULL;
    it->cleanup_arg = NULL;
}

void iiter_set_cleanup(iiter *it, iiter_cleanup_fn fn, void *arg) {
    assert(it->cleanup == NULL);
    it->cleanup = fn;
    it->cleanup_arg = arg;
}

void iiter_close(iiter *it) {
    if (!it) return;
    iiter_cleanup_fn fn = it->cleanup;
    void *arg = it->cleanup_arg;
    it->ops->destroy(it);
    if (fn) fn(arg);
}

/* ---- memtable -------------------------------------------------------------
 * memtable_iter cannot fail: every move returns LSMLOG_OK. */

typedef struct mem_iiter {
    iiter base;
    memtable_iter mi;
} mem_iiter;

#define MEM(it) ((mem_iiter *)(it))
#define CMEM(it) ((const mem_iiter *)(it))

static int mem_first(iiter *it) {
    memtable_iter_seek_to_first(&MEM(it)->mi);
    return LSMLOG_OK;
}
static int mem_last(iiter *it) {
    memtable_iter_seek_to_last(&MEM(it)->mi);
    return LSMLOG_OK;
}
static int mem_seek(iiter *it, const uint8_t *k, size_t len) {
    assert(len >= IKEY_TRAILER_SIZE);
    memtable_iter_seek(&MEM(it)->mi, k, len);
    return LSMLOG_OK;
}
static int mem_next(iiter *it) {
    memtable_iter_next(&MEM(it)->mi);
    return LSMLOG_OK;
}
static int mem_prev(iiter *it) {
    memtable_iter_prev(&MEM(it)->mi);
    return LSMLOG_OK;
}
static int mem_valid(const iiter *it) {
    return memtable_iter_valid(&CMEM(it)->mi);
}
static const uint8_t *mem_key(const iiter *it, size_t *len) {
    return memtable_iter_key(&CMEM(it)->mi, len);
}
static const uint8_t *mem_value(const iiter *it, size_t *len) {
    return memtable_iter_value(&CMEM(it)->mi, len);
}
static int mem_status(const iiter *it) {
    (void)it;
    return LSMLOG_OK;
}
static void mem_destroy(iiter *it) {
    memtable_iter_done(&MEM(it)->mi);
    lm_free(it);
}

static const iiter_ops mem_ops = {mem_first, mem_last, mem_seek,  mem_next,   mem_prev,
                                  mem_valid, mem_key,  mem_value, mem_status, mem_destroy};

int iter_from_memtable(memtable *m, iiter **out) {
    mem_iiter *it = lm_malloc(sizeof *it);
    if (!it) return st_error(LSMLOG_E_NOMEM, "out of memory iterating a memtable");
    iiter_init(&it->base, &mem_ops);
    memtable_iter_init(&it->mi, m);
    *out = &it->base;
    return LSMLOG_OK;
}

/* ---- one table -------------------------------------------------------------
 * sst_iter already keeps the iiter rules (sticky errors, moves return the
 * status); this only forwards. */

typedef struct sst_iiter {
    iiter base;
    sst_iter *si;
} sst_iiter;

#define SST(it) (((sst_iiter *)(it))->si)
#define CSST(it) (((const sst_iiter *)(it))->si)

static int sst_first(iiter *it) {
    return sst_iter_first(SST(it));
}
static int sst_last(iiter *it) {
    return sst_iter_last(SST(it));
}
static int sst_seek(iiter *it, const uint8_t *k, size_t len) {
    assert(len >= IKEY_TRAILER_SIZE);
    return sst_iter_seek(SST(it), k, len);
}
static int sst_next(iiter *it) {
    return sst_iter_next(SST(it));
}
static int sst_prev(iiter *it) {
    return sst_iter_prev(SST(it));
}
static int sst_valid(const iiter *it) {
    return sst_iter_valid(CSST(it));
}
static const uint8_t *sst_key(const iiter *it, size_t *len) {
    return sst_iter_key(CSST(it), len);
}
static const uint8_t *sst_value(const iiter *it, size_t *len) {
    return sst_iter_value(CSST(it), len);
}
static int sst_status(const iiter *it) {
    return sst_iter_status(CSST(it));
}
static void sst_destroy(iiter *it) {
    sst_iter_close(SST(it));
    lm_free(it);
}

static const iiter_ops sst_ops = {sst_first, sst_last, sst_seek,  sst_next,   sst_prev,
                                  sst_valid, sst_key,  sst_value, sst_status, sst_destroy};

static int sst_iiter_new(sst_reader *r, int cached, iiter **out) {
    sst_iiter *it = lm_malloc(sizeof *it);
    if (!it) return st_error(LSMLOG_E_NOMEM, "out of memory iterating a table");
    int rc = sst_iter_new(r, &it->si);
    if (rc) {
        lm_free(it);
        return rc;
    }
    if (!cached) sst_iter_bypass_cache(it->si);
    iiter_init(&it->base, &sst_ops);
    *out = &it->base;
    return LSMLOG_OK;
}

int iter_from_sst(sst_reader *r, iiter **out) {
    return sst_iiter_new(r, 1, out);
}

int iter_from_sst_uncached(sst_reader *r, iiter **out) {
    return sst_iiter_new(r, 0, out);
}

/* ---- a level ----------------------------------------------------------------
 * The tables of a level >= 1 hold disjoint, ascending ranges of internal
 * keys, so the level is their concatenation. Only the table under the cursor
 * is open: a scan of a large level costs one table iterator (and its pinned
 * block) at a time, and a seek opens just the one table that can hold the
 * target, found by binary search over the tables' largest keys. */

typedef struct level_iiter {
    iiter base;
    table_file *const *files; /* borrowed */
    size_t n;
    iter_open_table_fn open;
    void *ctx;
    size_t idx; /* the table `cur` walks (meaningless when cur is NULL) */
    iiter *cur; /* NULL: not valid */
    int status; /* first error: sticky */
} level_iiter;

#define LVL(it) ((level_iiter *)(it))
#define CLVL(it) ((const level_iiter *)(it))

static void lvl_drop(level_iiter *l) {
    iiter_close(l->cur);
    l->cur = NULL;
}

static int lvl_fail(level_iiter *l, int rc) {
    assert(rc != LSMLOG_OK);
    l->status = rc;
    lvl_drop(l);
    return rc;
}

/* Puts `cur` on table i, opening it unless it is the one already open. */
static int lvl_open(level_iiter *l, size_t i) {
    assert(i < l->n);
    if (l->cur && l->idx == i) return LSMLOG_OK;
    lvl_drop(l);
    iiter *t = NULL;
    int rc = l->open(l->ctx, &l->files[i]->meta, &t);
    if (rc) return lvl_fail(l, rc);
    l->cur = t;
    l->idx = i;
    return LSMLOG_OK;
}

/* After a forward move of `cur` (returning rc): on an entry, or on into the
 * next tables (one may be empty), or past the end. */
static int lvl_skip_forward(level_iiter *l, int rc) {
    for (;;) {
        if (rc) return lvl_fail(l, rc);
        if (iiter_valid(l->cur)) return LSMLOG_OK;
        if (l->idx + 1 >= l->n) {
            lvl_drop(l);
            return LSMLOG_OK;
        }
        if ((rc = lvl_open(l, l->idx + 1))) return rc;
        rc = iiter_seek_to_first(l->cur);
    }
}

static int lvl_skip_backward(level_iiter *l, int rc) {
    for (;;) {
        if (rc) return lvl_fail(l, rc);
        if (iiter_valid(l->cur)) return LSMLOG_OK;
        if (l->idx == 0) {
            lvl_drop(l);
            return LSMLOG_OK;
        }
        if ((rc = lvl_open(l, l->idx - 1))) return rc;
        rc = iiter_seek_to_last(l->cur);
    }
}

static int lvl_first(iiter *it) {
    level_iiter *l = LVL(it);
    if (l->status) return l->status;
    if (l->n == 0) return LSMLOG_OK;
    int rc = lvl_open(l, 0);
    if (rc) return rc;
    return lvl_skip_forward(l, iiter_seek_to_first(l->cur));
}

static int lvl_last(iiter *it) {
    level_iiter *l = LVL(it);
    if (l->status) return l->status;
    if (l->n == 0) return LSMLOG_OK;
    int rc = lvl_open(l, l->n - 1);
    if (rc) return rc;
    return lvl_skip_backward(l, iiter_seek_to_last(l->cur));
}

static int lvl_seek(iiter *it, const uint8_t *k, size_t len) {
    level_iiter *l = LVL(it);
    assert(len >= IKEY_TRAILER_SIZE);
    if (l->status) return l->status;
    /* The first table whose largest key is >= the target: every earlier one
     * ends below it, and this one holds an entry >= it. */
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const file_meta *f = &l->files[mid]->meta;
        if (ikey_cmp(f->largest, f->largest_len, k, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == l->n) {
        lvl_drop(l);
        return LSMLOG_OK;
    }
    int rc = lvl_open(l, lo);
    if (rc) return rc;
    return lvl_skip_forward(l, iiter_seek(l->cur, k, len));
}

static int lvl_next(iiter *it) {
    level_iiter *l = LVL(it);
    if (l->status) return l->status;
    assert(l->cur && iiter_valid(l->cur));
    return lvl_skip_forward(l, iiter_next(l->cur));
}

static int lvl_prev(iiter *it) {
    level_iiter *l = LVL(it);
    if (l->status) return l->status;
    assert(l->cur && iiter_valid(l->cur));
    return lvl_skip_backward(l, iiter_prev(l->cur));
}

static int lvl_valid(const iiter *it) {
    const level_iiter *l = CLVL(it);
    return l->cur != NULL && iiter_valid(l->cur);
}

static const uint8_t *lvl_key(const iiter *it, size_t *len) {
    assert(lvl_valid(it));
    return iiter_key(CLVL(it)->cur, len);
}

static const uint8_t *lvl_value(const iiter *it, size_t *len) {
    assert(lvl_valid(it));
    return iiter_value(CLVL(it)->cur, len);
}

static int lvl_status(const iiter *it) {
    return CLVL(it)->status;
}

static void lvl_destroy(iiter *it) {
    lvl_drop(LVL(it));
    lm_free(it);
}

static const iiter_ops lvl_ops = {lvl_first, lvl_last, lvl_seek,  lvl_next,   lvl_prev,
                                  lvl_valid, lvl_key,  lvl_value, lvl_status, lvl_destroy};

int iter_level(table_file *const *files, size_t n, iter_open_table_fn open, void *ctx,
               iiter **out) {
    assert(open != NULL);
    assert(n == 0 || files != NULL);
    level_iiter *l = lm_malloc(sizeof *l);
    if (!l) return st_error(LSMLOG_E_NOMEM, "out of memory iterating a level");
    iiter_init(&l->base, &lvl_ops);
    l->files = files;
    l->n = n;
    l->open = open;
    l->ctx = ctx;
    l->idx = 0;
    l->cur = NULL;
    l->status = LSMLOG_OK;
    *out = &l->base;
    return LSMLOG_OK;
}

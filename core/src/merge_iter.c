/* merge_iter.c — the merging iterator (merge_iter.h).
 *
 * Invariant, moving forward: every valid child is at its first entry > the
 * entries already yielded, and the current child holds the smallest of
 * them. Moving backward: every valid child is at its last entry < the
 * entries already yielded (walking down), and the current child holds the
 * largest. A direction switch re-establishes the other invariant around the
 * current key by seeking every other child to it (LevelDB's MergingIterator). */
#include "merge_iter.h"

#include <assert.h>

#include "alloc.h"
#include "dbformat.h"
#include "status.h"

enum { DIR_FORWARD, DIR_REVERSE };

typedef struct merge_iiter {
    iiter base;
    iiter **kids; /* owned, each closed at close */
    size_t n;
    iiter *cur; /* the child under the cursor; NULL: not valid */
    int dir;
    int status; /* first error of any child: sticky */
} merge_iiter;

#define MRG(it) ((merge_iiter *)(it))
#define CMRG(it) ((const merge_iiter *)(it))

static int mrg_fail(merge_iiter *m, int rc) {
    assert(rc != LSMLOG_OK);
    m->status = rc;
    m->cur = NULL;
    return rc;
}

static int key_cmp(const iiter *a, const iiter *b) {
    size_t al, bl;
    const uint8_t *ak = iiter_key(a, &al), *bk = iiter_key(b, &bl);
    return ikey_cmp(ak, al, bk, bl);
}

/* The valid child with the smallest key; on a tie, the earlier (newer). */
static void find_smallest(merge_iiter *m) {
    iiter *best = NULL;
    for (size_t i = 0; i < m->n; i++) {
        iiter *c = m->kids[i];
        if (iiter_valid(c) && (!best || key_cmp(c, best) < 0)) best = c;
    }
    m->cur = best;
}

/* The valid child with the largest key; on a tie, the later (older), so
 * that walking backward yields ties in the reverse of the forward order. */
static void find_largest(merge_iiter *m) {
    iiter *best = NULL;
    for (size_t i = m->n; i-- > 0;) {
        iiter *c = m->kids[i];
        if (iiter_valid(c) && (!best || key_cmp(c, best) > 0)) best = c;
    }
    m->cur = best;
}

static int mrg_first(iiter *it) {
    merge_iiter *m = MRG(it);
    if (m->status) return m->status;
    for (size_t i = 0; i < m->n; i++) {
        int rc = iiter_seek_to_first(m->kids[i]);
        if (rc) return mrg_fail(m, rc);
    }
    m->dir = DIR_FORWARD;
    find_smallest(m);
    return LSMLOG_OK;
}

static int mrg_last(iiter *it) {
    merge_iiter *m = MRG(it);
    if (m->status) return m->status;
    for (size_t i = 0; i < m->n; i++) {
        int rc = iiter_seek_to_last(m->kids[i]);
        if (rc) return mrg_fail(m, rc);
    }
    m->dir = DIR_REVERSE;
    find_largest(m);
    return LSMLOG_OK;
}

static int mrg_seek(iiter *it, const uint8_t *k, size_t len) {
    merge_iiter *m = MRG(it);
    assert(len >= IKEY_TRAILER_SIZE);
    if (m->status) return m->status;
    for (size_t i = 0; i < m->n; i++) {
        int rc = iiter_seek(m->kids[i], k, len);
        if (rc) return mrg_fail(m, rc);
    }
    m->dir = DIR_FORWARD;
    find_smallest(m);
    return LSMLOG_OK;
}

static int mrg_next(iiter *it) {
    merge_iiter *m = MRG(it);
    if (m->status) return m->status;
    assert(m->cur && iiter_valid(m->cur));
    int rc;
    if (m->dir != DIR_FORWARD) {
        /* The others stand before the current key: put each on its first
         * entry after it. The current key stays put (and its bytes valid)
         * while the others move, since only `cur` owns them. */
        size_t klen;
        const uint8_t *k = iiter_key(m->cur, &klen);
        for (size_t i = 0; i < m->n; i++) {
            iiter *c = m->kids[i];
            if (c == m->cur) continue;
            if ((rc = iiter_seek(c, k, klen))) return mrg_fail(m, rc);
            if (iiter_valid(c) && key_cmp(c, m->cur) == 0 && (rc = iiter_next(c)))
                return mrg_fail(m, rc);
        }
        m->dir = DIR_FORWARD;
    }
    if ((rc = iiter_next(m->cur))) return mrg_fail(m, rc);
    find_smallest(m);
    return LSMLOG_OK;
}

static int mrg_prev(iiter *it) {
    merge_iiter *m = MRG(it);
    if (m->status) return m->status;
    assert(m->cur && iiter_valid(m->cur));
    int rc;
    if (m->dir != DIR_REVERSE) {
        /* The others stand after the current key: put each on its last entry
         * before it — one back from the first entry >= it, or its very last
         * entry when it has none >= it. */
        size_t klen;
        const uint8_t *k = iiter_key(m->cur, &klen);
        for (size_t i = 0; i < m->n; i++) {
            iiter *c = m->kids[i];
            if (c == m->cur) continue;
            if ((rc = iiter_seek(c, k, klen))) return mrg_fail(m, rc);
            rc = iiter_valid(c) ? iiter_prev(c) : iiter_seek_to_last(c);
            if (rc) return mrg_fail(m, rc);
        }
        m->dir = DIR_REVERSE;
    }
    if ((rc = iiter_prev(m->cur))) return mrg_fail(m, rc);
    find_largest(m);
    return LSMLOG_OK;
}

static int mrg_valid(const iiter *it) {
    return CMRG(it)->cur != NULL;
}

static const uint8_t *mrg_key(const iiter *it, size_t *len) {
    assert(mrg_valid(it));
    return iiter_key(CMRG(it)->cur, len);
}

static const uint8_t *mrg_value(const iiter *it, size_t *len) {
    assert(mrg_valid(it));
    return iiter_value(CMRG(it)->cur, len);
}

static int mrg_status(const iiter *it) {
    return CMRG(it)->status;
}

static void mrg_destroy(iiter *it) {
    merge_iiter *m = MRG(it);
    for (size_t i = 0; i < m->n; i++)
        iiter_close(m->kids[i]);
    lm_free(m->kids);
    lm_free(m);
}

static const iiter_ops mrg_ops = {mrg_first, mrg_last, mrg_seek,  mrg_next,   mrg_prev,
                                  mrg_valid, mrg_key,  mrg_value, mrg_status, mrg_destroy};

int merge_iter_new(iiter **children, size_t n, iiter **out) {
    merge_iiter *m = lm_malloc(sizeof *m);
    iiter **kids = n ? lm_malloc(n * sizeof *kids) : NULL;
    if (!m || (n && !kids)) {
        lm_free(m);
        lm_free(kids);
        for (size_t i = 0; i < n; i++)
            iiter_close(children[i]);
        return st_error(LSMLOG_E_NOMEM, "out of memory merging %zu iterators", n);
    }
    for (size_t i = 0; i < n; i++)
        kids[i] = children[i];
    iiter_init(&m->base, &mrg_ops);
    m->kids = kids;
    m->n = n;
    m->cur = NULL;
    m->dir = DIR_FORWARD;
    m->status = LSMLOG_OK;
    *out = &m->base;
    return LSMLOG_OK;
}

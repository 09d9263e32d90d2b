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

/* A child, with its current key cached (valid until the child moves: only
 * the child being moved changes, and its key is refreshed right after). */
typedef struct mkid {
    iiter *it;
    const uint8_t *k; /* NULL: the child is not valid */
    size_t klen;
} mkid;

typedef struct merge_iiter {
    iiter base;
    mkid *kids;   /* owned, each child closed at close; kids[i] is children[i] */
    size_t *heap; /* indexes of the valid children, a binary heap ordered by
                   * `before` in the current direction; heap[0] is current */
    size_t n, hn;
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
    m->hn = 0;
    return rc;
}

static void refresh(mkid *c) {
    c->k = iiter_valid(c->it) ? iiter_key(c->it, &c->klen) : NULL;
}

/* Whether child a comes out before child b: forward, the smaller key, and on
 * a tie the earlier (newer) child; backward, the larger key, and on a tie
 * the later (older) child, so that walking backward yields ties in the
 * reverse of the forward order. */
static int before(const merge_iiter *m, size_t a, size_t b) {
    int c = ikey_cmp(m->kids[a].k, m->kids[a].klen, m->kids[b].k, m->kids[b].klen);
    if (m->dir == DIR_FORWARD) return c < 0 || (c == 0 && a < b);
    return c > 0 || (c == 0 && a > b);
}

static void sift_down(merge_iiter *m, size_t i) {
    size_t *h = m->heap, x = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m->hn) break;
        if (c + 1 < m->hn && before(m, h[c + 1], h[c])) c++;
        if (!before(m, h[c], x)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static void set_cur(merge_iiter *m) {
    m->cur = m->hn ? m->kids[m->heap[0]].it : NULL;
}

/* After every child moved: the heap of the valid ones, in direction dir. */
static void rebuild(merge_iiter *m, int dir) {
    m->dir = dir;
    m->hn = 0;
    for (size_t i = 0; i < m->n; i++) {
        refresh(&m->kids[i]);
        if (m->kids[i].k) m->heap[m->hn++] = i;
    }
    for (size_t i = m->hn / 2; i-- > 0;) sift_down(m, i);
    set_cur(m);
}

/* After the current child moved one step in the heap's direction. */
static void advance_top(merge_iiter *m) {
    mkid *top = &m->kids[m->heap[0]];
    refresh(top);
    if (!top->k) m->heap[0] = m->heap[--m->hn];
    if (m->hn) sift_down(m, 0);
    set_cur(m);
}

static int key_cmp(const iiter *a, const iiter *b) {
    size_t al, bl;
    const uint8_t *ak = iiter_key(a, &al), *bk = iiter_key(b, &bl);
    return ikey_cmp(ak, al, bk, bl);
}

static int mrg_first(iiter *it) {
    merge_iiter *m = MRG(it);
    if (m->status) return m->status;
    for (size_t i = 0; i < m->n; i++) {
        int rc = iiter_seek_to_first(m->kids[i].it);
        if (rc) return mrg_fail(m, rc);
    }
    rebuild(m, DIR_FORWARD);
    return LSMLOG_OK;
}

static int mrg_last(iiter *it) {
    merge_iiter *m = MRG(it);
    if (m->status) return m->status;
    for (size_t i = 0; i < m->n; i++) {
        int rc = iiter_seek_to_last(m->kids[i].it);
        if (rc) return mrg_fail(m, rc);
    }
    rebuild(m, DIR_REVERSE);
    return LSMLOG_OK;
}

static int mrg_seek(iiter *it, const uint8_t *k, size_t len) {
    merge_iiter *m = MRG(it);
    assert(len >= IKEY_TRAILER_SIZE);
    if (m->status) return m->status;
    for (size_t i = 0; i < m->n; i++) {
        int rc = iiter_seek(m->kids[i].it, k, len);
        if (rc) return mrg_fail(m, rc);
    }
    rebuild(m, DIR_FORWARD);
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
            iiter *c = m->kids[i].it;
            if (c == m->cur) continue;
            if ((rc = iiter_seek(c, k, klen))) return mrg_fail(m, rc);
            if (iiter_valid(c) && key_cmp(c, m->cur) == 0 && (rc = iiter_next(c)))
                return mrg_fail(m, rc);
        }
        if ((rc = iiter_next(m->cur))) return mrg_fail(m, rc);
        rebuild(m, DIR_FORWARD);
        return LSMLOG_OK;
    }
    if ((rc = iiter_next(m->cur))) return mrg_fail(m, rc);
    advance_top(m);
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
            iiter *c = m->kids[i].it;
            if (c == m->cur) continue;
            if ((rc = iiter_seek(c, k, klen))) return mrg_fail(m, rc);
            rc = iiter_valid(c) ? iiter_prev(c) : iiter_seek_to_last(c);
            if (rc) return mrg_fail(m, rc);
        }
        if ((rc = iiter_prev(m->cur))) return mrg_fail(m, rc);
        rebuild(m, DIR_REVERSE);
        return LSMLOG_OK;
    }
    if ((rc = iiter_prev(m->cur))) return mrg_fail(m, rc);
    advance_top(m);
    return LSMLOG_OK;
}

static int mrg_valid(const iiter *it) {
    return CMRG(it)->cur != NULL;
}

static const uint8_t *mrg_key(const iiter *it, size_t *len) {
    assert(mrg_valid(it));
    const mkid *top = &CMRG(it)->kids[CMRG(it)->heap[0]];
    *len = top->klen;
    return top->k;
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
        iiter_close(m->kids[i].it);
    lm_free(m->kids);
    lm_free(m->heap);
    lm_free(m);
}

static const iiter_ops mrg_ops = {mrg_first, mrg_last, mrg_seek,  mrg_next,   mrg_prev,
                                  mrg_valid, mrg_key,  mrg_value, mrg_status, mrg_destroy};

int merge_iter_new(iiter **children, size_t n, iiter **out) {
    merge_iiter *m = lm_malloc(sizeof *m);
    mkid *kids = n ? lm_malloc(n * sizeof *kids) : NULL;
    size_t *heap = n ? lm_malloc(n * sizeof *heap) : NULL;
    if (!m || (n && (!kids || !heap))) {
        lm_free(m);
        lm_free(kids);
        lm_free(heap);
        for (size_t i = 0; i < n; i++)
            iiter_close(children[i]);
        return st_error(LSMLOG_E_NOMEM, "out of memory merging %zu iterators", n);
    }
    for (size_t i = 0; i < n; i++)
        kids[i] = (mkid){children[i], NULL, 0};
    iiter_init(&m->base, &mrg_ops);
    m->kids = kids;
    m->heap = heap;
    m->n = n;
    m->hn = 0;
    m->cur = NULL;
    m->dir = DIR_FORWARD;
    m->status = LSMLOG_OK;
    *out = &m->base;
    return LSMLOG_OK;
}

/* sst_index.c — a table's index block as a flat array (sst_index.h). */
#include "sst_index.h"

#include "alloc.h"
#include "coding.h"
#include "lsmlog.h"
#include "status.h"

#include <string.h>

#define TRAILER 8u /* an internal key's trailer (seq << 8 | type) */

/* The number a user key is searched by: a key below every key that starts
 * with the common prefix counts as 0, one above them all as UINT64_MAX, and
 * one that starts with it as its next 8 bytes (zero past its end),
 * big-endian. Keys with the prefix are one run of the bytewise order, so
 * this never reverses two keys; it only ties some. */
static uint64_t key_word(const sst_index *x, const uint8_t *k, size_t len) {
    size_t m = len < x->clen ? len : x->clen;
    int c = m ? memcmp(k, x->common, m) : 0;
    if (c < 0 || (c == 0 && len < x->clen)) return 0;
    if (c > 0) return UINT64_MAX;
    size_t from = x->clen;
    if (from + 8 <= len) return get_be64(k + from);
    uint8_t w[8] = {0};
    if (from < len) memcpy(w, k + from, len - from);
    return get_be64(w);
}

/* Restart i's key, which must hold a trailer, and its value. */
static int entry_of(const block *ix, uint32_t i, const block_loc *loc, const uint8_t **k, size_t *klen,
                    const uint8_t **v, size_t *vlen) {
    int rc = block_restart_entry(ix, i, loc, k, klen, v, vlen);
    if (rc == LSMLOG_OK && *klen < TRAILER)
        rc = st_error(LSMLOG_E_CORRUPT, "%s: %s block at byte %llu: key shorter than a trailer (entry %u)",
                      loc->file ? loc->file : "?", loc->kind ? loc->kind : "?",
                      (unsigned long long)loc->offset, i);
    return rc;
}

static int key_of(const block *ix, uint32_t i, const block_loc *loc, const uint8_t **k, size_t *klen) {
    const uint8_t *v;
    size_t vlen;
    return entry_of(ix, i, loc, k, klen, &v, &vlen);
}

void sst_index_free(sst_index *x) {
    lm_free(x->common);
    lm_free(x->key8);
    lm_free(x->start);
    memset(x, 0, sizeof *x);
}

int sst_index_build(sst_index *x, const block *ix, const block_loc *loc, uint64_t data_end, uint32_t trailer) {
    memset(x, 0, sizeof *x);
    uint64_t expect = 0; /* where the next block must start */
    uint32_t n = ix->nrestarts;
    if (n == 0) return LSMLOG_OK;
    const uint8_t *first, *last;
    size_t flen, llen;
    int rc;
    /* The prefix is what the first and the last but one separator share:
     * the last is often a short successor of the table's last key ("1" after
     * "0999"), which would share nothing. Separators outside the prefix's run
     * count as 0 or UINT64_MAX (key_word). */
    if ((rc = key_of(ix, 0, loc, &first, &flen)) || (rc = key_of(ix, n > 1 ? n - 2 : 0, loc, &last, &llen)))
        return rc;
    size_t fu = flen - TRAILER, lu = llen - TRAILER;
    size_t clen = bytes_shared(first, last, fu < lu ? fu : lu);
    x->common = lm_malloc(clen ? clen : 1);
    x->key8 = lm_malloc((size_t)n * sizeof *x->key8);
    if (data_end <= UINT32_MAX) x->start = lm_malloc(((size_t)n + 1) * sizeof *x->start);
    if (!x->common || !x->key8 || (data_end <= UINT32_MAX && !x->start)) {
        sst_index_free(x);
        return st_error(LSMLOG_E_NOMEM, "out of memory reading %s", loc->file ? loc->file : "a table");
    }
    if (clen) memcpy(x->common, first, clen);
    x->clen = clen;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *k, *v;
        size_t klen, vlen;
        if ((rc = entry_of(ix, i, loc, &k, &klen, &v, &vlen))) break;
        size_t ulen = klen - TRAILER;
        if (x->start) {
            /* The handle, checked again here (the caller's walk checked the
             * entries; these are the restarts): the blocks must follow each
             * other, so that the sizes derived from the offsets are theirs. */
            uint64_t off, size;
            const uint8_t *p = get_varint(v, v + vlen, &off, 10);
            if (!p || !(p = get_varint(p, v + vlen, &size, 10)) || p != v + vlen || off != expect ||
                size > data_end - off || trailer > data_end - off - size) {
                rc = st_error(LSMLOG_E_CORRUPT, "%s: index block at byte %llu: block handle %u out of place",
                              loc->file ? loc->file : "?", (unsigned long long)loc->offset, i);
                break;
            }
            x->start[i] = (uint32_t)off;
            expect = off + size + trailer;
        }
        uint64_t w = key_word(x, k, ulen);
        /* What the search relies on, checked rather than trusted: the order
         * is bytewise over user keys */
        if (i > 0 && w < x->key8[i - 1]) {
            rc = LSMLOG_E_INVALID; /* no message: the caller goes on without the array */
            break;
        }
        x->key8[i] = w;
    }
    if (rc == LSMLOG_OK && x->start && expect != data_end)
        rc = st_error(LSMLOG_E_CORRUPT, "%s: index block at byte %llu: blocks do not fill the data",
                      loc->file ? loc->file : "?", (unsigned long long)loc->offset);
    if (rc) {
        sst_index_free(x);
        return rc;
    }
    if (x->start) x->start[n] = (uint32_t)data_end;
    x->n = n;
    return LSMLOG_OK;
}

int sst_index_find(const sst_index *x, const block *ix, const block_loc *loc, sst_cmp_fn cmp,
                   const uint8_t *ikey, size_t klen, uint32_t *entry) {
    uint64_t w = key_word(x, ikey, klen - TRAILER);
    /* [lo, hi): the entries whose 8 bytes tie with the target's. Those
     * before are smaller than it, those after larger. */
    uint32_t lo = 0, hi = x->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (x->key8[mid] < w) lo = mid + 1;
        else hi = mid;
    }
    uint32_t end = x->n;
    for (uint32_t a = lo; a < end;) {
        uint32_t mid = a + (end - a) / 2;
        if (x->key8[mid] <= w) a = mid + 1;
        else end = mid;
    }
    /* among the ties, whole keys decide */
    hi = end;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const uint8_t *k;
        size_t kl;
        int rc = key_of(ix, mid, loc, &k, &kl);
        if (rc) return rc;
        if (cmp(k, kl, ikey, klen) < 0) lo = mid + 1;
        else hi = mid;
    }
    *entry = lo;
    return LSMLOG_OK;
}

/* block.c — parsing and iterating one block. Offsets inside a block are u32:
 * block_init refuses larger blocks, so every offset below fits. */
#include "block.h"

#include "alloc.h"
#include "coding.h"
#include "lsmlog.h"
#include "status.h"

#include <assert.h>
#include <string.h>

static int corrupt(const block_loc *loc, const char *what, uint64_t at) {
    return st_error(LSMLOG_E_CORRUPT, "%s: %s block at byte %llu: %s (block offset %llu)",
                    loc->file ? loc->file : "?", loc->kind ? loc->kind : "?",
                    (unsigned long long)loc->offset, what, (unsigned long long)at);
}

int block_init(block *b, const uint8_t *data, size_t size, const block_loc *loc) {
    memset(b, 0, sizeof *b);
    if (size < 4) return corrupt(loc, "shorter than its restart count", size);
    if (size > UINT32_MAX) return corrupt(loc, "larger than 4 GiB", size);
    uint32_t n = get_u32(data + size - 4);
    if (n > (size - 4) / 4) return corrupt(loc, "restart count larger than the block", size - 4);
    uint32_t at = (uint32_t)(size - 4 - 4 * (size_t)n);
    if (n == 0 && at != 0) return corrupt(loc, "entries but no restart points", size - 4);
    uint32_t prev = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = get_u32(data + at + 4 * (size_t)i);
        /* The first restart is the first entry; the rest strictly ascend and
         * stay inside the entries, so any restart is a place to start
         * decoding that lies in the block. */
        if ((i == 0 && r != 0) || (i > 0 && r <= prev) || r >= at)
            return corrupt(loc, "bad restart offset", at + 4 * (uint64_t)i);
        prev = r;
    }
    b->data = data;
    b->size = size;
    b->restarts_at = at;
    b->nrestarts = n;
    return LSMLOG_OK;
}

void block_release(block *b) {
    lm_free(b->owned);
    b->owned = NULL;
}

static inline uint32_t restart_at(const block *b, uint32_t i) {
    return get_u32(b->data + b->restarts_at + 4 * (size_t)i);
}

void block_iter_init(block_iter *it, sst_cmp_fn cmp, size_t min_key) {
    memset(it, 0, sizeof *it);
    it->cmp = cmp;
    it->min_key = min_key;
}

void block_iter_set(block_iter *it, const block *b, const block_loc *loc) {
    it->b = b;
    it->loc = *loc;
    it->cur = it->next_off = b->restarts_at;
    it->ridx = 0;
    it->klen = 0;
    it->val = NULL;
    it->vlen = 0;
    it->valid = 0;
    it->status = LSMLOG_OK;
}

void block_iter_release(block_iter *it) {
    lm_free(it->key);
    it->key = NULL;
    it->kcap = it->klen = 0;
    it->valid = 0;
}

static int fail(block_iter *it, int code) {
    it->status = code;
    it->valid = 0;
    it->klen = 0;
    return code;
}

/* The entry header at `off` (< restarts_at): shared, non_shared and value
 * lengths and where the key delta starts. The delta and the value are checked
 * to end inside the entries. */
typedef struct entry_hdr {
    uint32_t shared, non_shared, vlen;
    uint32_t delta_at; /* offset of the key delta */
    uint32_t end;      /* offset after the value */
} entry_hdr;

static int decode_hdr(block_iter *it, uint32_t off, entry_hdr *h) {
    const block *b = it->b;
    const uint8_t *p = b->data + off, *end = b->data + b->restarts_at;
    uint64_t s, ns, vl;
    if (!(p = get_varint(p, end, &s, 5)) || !(p = get_varint(p, end, &ns, 5)) ||
        !(p = get_varint(p, end, &vl, 5)))
        return fail(it, corrupt(&it->loc, "malformed entry header", off));
    if (s > UINT32_MAX || ns > UINT32_MAX || vl > UINT32_MAX || ns + vl > (uint64_t)(end - p))
        return fail(it, corrupt(&it->loc, "entry runs past the end of the entries", off));
    h->shared = (uint32_t)s;
    h->non_shared = (uint32_t)ns;
    h->vlen = (uint32_t)vl;
    h->delta_at = (uint32_t)(p - b->data);
    h->end = h->delta_at + h->non_shared + h->vlen;
    return LSMLOG_OK;
}

/* Decodes the entry at next_off into the current position, or goes past the
 * end (not valid) when there is none. Its key shares a prefix with the
 * current key, so klen must be the previous entry's key (0 at a restart). */
static int parse_next(block_iter *it) {
    const block *b = it->b;
    uint32_t off = it->next_off;
    if (off >= b->restarts_at) {
        it->cur = it->next_off = b->restarts_at;
        it->valid = 0;
        return LSMLOG_OK;
    }
    entry_hdr h;
    if (decode_hdr(it, off, &h)) return it->status;
    if (h.shared > it->klen)
        return fail(it,
                    corrupt(&it->loc, "entry shares more bytes than the previous key has", off));
    size_t klen = (size_t)h.shared + h.non_shared;
    if (klen < it->min_key) return fail(it, corrupt(&it->loc, "key shorter than a trailer", off));
    if (klen > it->kcap) {
        size_t cap = it->kcap ? it->kcap : 64;
        while (cap < klen)
            cap *= 2;
        uint8_t *nk = lm_realloc(it->key, cap);
        if (!nk)
            return fail(it, st_error(LSMLOG_E_NOMEM, "out of memory reading %s", it->loc.file));
        it->key = nk;
        it->kcap = cap;
    }
    if (h.non_shared) memcpy(it->key + h.shared, b->data + h.delta_at, h.non_shared);
    it->klen = klen;
    it->val = b->data + h.delta_at + h.non_shared;
    it->vlen = h.vlen;
    it->cur = off;
    it->next_off = h.end;
    while (it->ridx + 1 < b->nrestarts && restart_at(b, it->ridx + 1) <= off)
        it->ridx++;
    it->valid = 1;
    return LSMLOG_OK;
}

/* Before restart run i: the next parse_next decodes its first entry. */
static void to_restart(block_iter *it, uint32_t i) {
    it->ridx = i;
    it->klen = 0;
    it->valid = 0;
    it->next_off = restart_at(it->b, i);
}

int block_iter_first(block_iter *it) {
    if (it->status) return it->status;
    if (it->b->nrestarts == 0) {
        it->valid = 0;
        return LSMLOG_OK;
    }
    to_restart(it, 0);
    return parse_next(it);
}

int block_iter_last(block_iter *it) {
    if (it->status) return it->status;
    const block *b = it->b;
    if (b->nrestarts == 0) {
        it->valid = 0;
        return LSMLOG_OK;
    }
    to_restart(it, b->nrestarts - 1);
    do {
        if (parse_next(it)) return it->status;
    } while (it->next_off < b->restarts_at);
    return LSMLOG_OK;
}

int block_iter_next(block_iter *it) {
    if (it->status) return it->status;
    assert(it->valid);
    return parse_next(it);
}

int block_iter_prev(block_iter *it) {
    if (it->status) return it->status;
    assert(it->valid);
    const block *b = it->b;
    uint32_t orig = it->cur;
    /* Back to the last restart before the current entry, then forward to the
     * entry that ends where the current one starts. */
    uint32_t i = it->ridx;
    while (restart_at(b, i) >= orig) {
        if (i == 0) { /* the current entry is the first */
            it->cur = it->next_off = b->restarts_at;
            it->valid = 0;
            it->klen = 0;
            return LSMLOG_OK;
        }
        i--;
    }
    to_restart(it, i);
    do {
        if (parse_next(it)) return it->status;
        if (!it->valid) break;
    } while (it->next_off < orig);
    /* In a sound block the entries tile the space exactly; if one straddles
     * the old position, they do not. */
    if (!it->valid || it->next_off != orig)
        return fail(it, corrupt(&it->loc, "entries do not line up", orig));
    return LSMLOG_OK;
}

uint32_t block_restart_offset(const block *b, uint32_t i) {
    assert(i < b->nrestarts);
    return restart_at(b, i);
}

int block_iter_seek_restart(block_iter *it, uint32_t i) {
    if (it->status) return it->status;
    assert(i < it->b->nrestarts);
    to_restart(it, i);
    return parse_next(it);
}

int block_restart_entry(const block *b, uint32_t i, const block_loc *loc, const uint8_t **key, size_t *klen,
                        const uint8_t **val, size_t *vlen) {
    block_iter it; /* decode_hdr reports through an iterator; nothing is allocated */
    block_iter_init(&it, NULL, 0);
    block_iter_set(&it, b, loc);
    uint32_t off = restart_at(b, i);
    entry_hdr h;
    if (decode_hdr(&it, off, &h)) return it.status;
    if (h.shared != 0) return corrupt(loc, "restart entry shares a prefix", off);
    *key = b->data + h.delta_at;
    *klen = h.non_shared;
    *val = *key + h.non_shared;
    *vlen = h.vlen;
    return LSMLOG_OK;
}

int block_iter_seek(block_iter *it, const uint8_t *target, size_t tlen) {
    if (it->status) return it->status;
    const block *b = it->b;
    if (b->nrestarts == 0) {
        it->valid = 0;
        return LSMLOG_OK;
    }
    /* Binary search for the last restart whose key is < target: the answer is
     * in its run or, when every key of the run is smaller, at the start of the
     * next run (the scan below reaches it). Restart keys are whole in the
     * block (shared == 0), so they are compared where they lie. */
    uint32_t lo = 0, hi = b->nrestarts - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        uint32_t off = restart_at(b, mid);
        /* the next probe is one of two entries: ask for both now, so that
         * their cache misses overlap this probe's */
        uint32_t up = mid + (hi - mid + 1) / 2, down = lo + (mid - lo) / 2;
        if (up < hi + 1 && up != mid) __builtin_prefetch(b->data + restart_at(b, up));
        if (down < mid && down != lo) __builtin_prefetch(b->data + restart_at(b, down));
        entry_hdr h;
        if (decode_hdr(it, off, &h)) return it->status;
        if (h.shared != 0) return fail(it, corrupt(&it->loc, "restart entry shares a prefix", off));
        if (h.non_shared < it->min_key)
            return fail(it, corrupt(&it->loc, "key shorter than a trailer", off));
        if (it->cmp(b->data + h.delta_at, h.non_shared, target, tlen) < 0)
            lo = mid;
        else
            hi = mid - 1;
    }
    /* the run is read from its start: ask for its cache lines at once */
    uint32_t run = restart_at(b, lo), run_end = lo + 1 < b->nrestarts ? restart_at(b, lo + 1) : b->restarts_at;
    for (uint32_t at = run; at < run_end; at += 64) __builtin_prefetch(b->data + at);
    to_restart(it, lo);
    for (;;) {
        if (parse_next(it)) return it->status;
        if (!it->valid) return LSMLOG_OK;
        if (it->cmp(it->key, it->klen, target, tlen) >= 0) return LSMLOG_OK;
    }
}

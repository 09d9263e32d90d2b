/* block_builder.c — prefix-compressed block contents with restart points. */
#include "block_builder.h"

#include "alloc.h"
#include "coding.h"
#include "lsmlog.h"
#include "sst_format.h"
#include "status.h"

#include <assert.h>
#include <string.h>

void block_builder_init(block_builder *bb, uint32_t interval) {
    memset(bb, 0, sizeof *bb);
    bb->interval = interval ? interval : 1;
}

void block_builder_release(block_builder *bb) {
    lm_free(bb->buf);
    lm_free(bb->restarts);
    lm_free(bb->last);
    memset(bb, 0, sizeof *bb);
}

void block_builder_reset(block_builder *bb) {
    bb->len = 0;
    bb->nrestarts = 0;
    bb->counter = 0;
    bb->last_len = 0;
    bb->entries = 0;
    bb->finished = 0;
}

/* The new capacity for `need` elements, doubling from `cap`. */
static size_t new_cap(size_t cap, size_t need) {
    size_t ncap = cap ? cap : 64;
    while (ncap < need)
        ncap *= 2;
    return ncap;
}

static int nomem(void) {
    return st_error(LSMLOG_E_NOMEM, "out of memory building a table block");
}

/* Grows a byte buffer to hold at least `need` bytes. */
static int grow_bytes(uint8_t **p, size_t *cap, size_t need) {
    if (need <= *cap) return LSMLOG_OK;
    size_t ncap = new_cap(*cap, need);
    uint8_t *np = lm_realloc(*p, ncap);
    if (!np) return nomem();
    *p = np;
    *cap = ncap;
    return LSMLOG_OK;
}

static int grow_u32(uint32_t **p, size_t *cap, size_t need) {
    if (need <= *cap) return LSMLOG_OK;
    size_t ncap = new_cap(*cap, need);
    uint32_t *np = lm_realloc(*p, ncap * sizeof *np);
    if (!np) return nomem();
    *p = np;
    *cap = ncap;
    return LSMLOG_OK;
}

int block_builder_add(block_builder *bb, const uint8_t *key, size_t klen, const uint8_t *val,
                      size_t vlen) {
    assert(!bb->finished);
    assert((uint64_t)klen + vlen <= SST_MAX_ENTRY_BYTES);
    size_t shared = 0;
    int restart = bb->counter == 0 || bb->counter >= bb->interval;
    if (!restart) shared = bytes_shared(bb->last, key, klen < bb->last_len ? klen : bb->last_len);
    size_t non_shared = klen - shared;
    size_t need = bb->len + 15 + non_shared + vlen;
    /* Every allocation first, so that a failure leaves the builder as it was. */
    if (grow_bytes(&bb->buf, &bb->cap, need) ||
        (restart && grow_u32(&bb->restarts, &bb->rcap, bb->nrestarts + 1)) ||
        grow_bytes(&bb->last, &bb->last_cap, klen))
        return LSMLOG_E_NOMEM;
    if (restart) {
        bb->restarts[bb->nrestarts++] = (uint32_t)bb->len;
        bb->counter = 0;
    }
    uint8_t *p = bb->buf + bb->len;
    p = put_varint(p, shared);
    p = put_varint(p, non_shared);
    p = put_varint(p, vlen);
    if (non_shared) memcpy(p, key + shared, non_shared);
    p += non_shared;
    if (vlen) memcpy(p, val, vlen);
    p += vlen;
    bb->len = (size_t)(p - bb->buf);
    /* Only the differing tail of the key changes. */
    if (non_shared) memcpy(bb->last + shared, key + shared, non_shared);
    bb->last_len = klen;
    bb->counter++;
    bb->entries++;
    return LSMLOG_OK;
}

size_t block_builder_size(const block_builder *bb) {
    if (bb->finished) return bb->len;
    return bb->len + 4 * bb->nrestarts + 4;
}

int block_builder_finish(block_builder *bb, const uint8_t **data, size_t *len) {
    if (!bb->finished) {
        if (grow_bytes(&bb->buf, &bb->cap, bb->len + 4 * bb->nrestarts + 4)) return LSMLOG_E_NOMEM;
        uint8_t *p = bb->buf + bb->len;
        for (size_t i = 0; i < bb->nrestarts; i++, p += 4)
            put_u32(p, bb->restarts[i]);
        put_u32(p, (uint32_t)bb->nrestarts);
        bb->len += 4 * bb->nrestarts + 4;
        bb->finished = 1;
    }
    *data = bb->buf;
    *len = bb->len;
    return LSMLOG_OK;
}

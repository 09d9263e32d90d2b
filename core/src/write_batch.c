/* write_batch.c — building and walking DB write batches. */
#include "write_batch.h"

#include "alloc.h"
#include "coding.h"
#include "lsmlog.h"
#include "status.h"

#include <string.h>

void wbatch_init(wbatch *b) { memset(b, 0, sizeof *b); }

void wbatch_free(wbatch *b) {
    lm_free(b->rep);
    wbatch_init(b);
}

void wbatch_clear(wbatch *b) {
    b->len = b->rep ? WB_HEADER : 0;
    if (b->rep) memset(b->rep, 0, WB_HEADER);
    b->count = 0;
    b->user_bytes = 0;
}

static int reserve(wbatch *b, size_t more) {
    size_t need = (b->len ? b->len : WB_HEADER) + more;
    if (need <= b->cap) {
        if (!b->len) b->len = WB_HEADER;
        return LSMLOG_OK;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    uint8_t *r = lm_realloc(b->rep, cap);
    if (!r) return st_error(LSMLOG_E_NOMEM, "out of memory growing a write batch to %zu bytes", need);
    if (!b->rep) memset(r, 0, WB_HEADER);
    b->rep = r;
    b->cap = cap;
    if (!b->len) b->len = WB_HEADER;
    return LSMLOG_OK;
}

static int check_key(size_t klen) {
    if (klen > WB_MAX_KEY)
        return st_error(LSMLOG_E_TOOBIG, "a key of %zu bytes is over the limit of %u bytes", klen, WB_MAX_KEY);
    return LSMLOG_OK;
}

static void count_op(wbatch *b) {
    b->count++;
    put_u32(b->rep + 8, b->count);
}

int wbatch_put(wbatch *b, const void *key, size_t klen, const void *val, size_t vlen, int64_t expire_ms) {
    int rc = check_key(klen);
    size_t stored = vlen + (expire_ms > 0 ? 8 : 0);
    if (rc == LSMLOG_OK && (vlen > WB_MAX_VALUE || stored > WB_MAX_VALUE))
        rc = st_error(LSMLOG_E_TOOBIG, "a value of %zu bytes is over the limit of %u bytes", vlen, WB_MAX_VALUE);
    if (rc == LSMLOG_OK) rc = reserve(b, 1 + 5 + klen + 5 + stored);
    if (rc) return rc;
    uint8_t *p = b->rep + b->len;
    *p++ = expire_ms > 0 ? WB_PUT_TTL : WB_PUT;
    p = put_varint(p, klen);
    if (klen) memcpy(p, key, klen);
    p += klen;
    p = put_varint(p, stored);
    if (expire_ms > 0) {
        put_i64(p, expire_ms);
        p += 8;
    }
    if (vlen) memcpy(p, val, vlen);
    p += vlen;
    b->len = (size_t)(p - b->rep);
    b->user_bytes += klen + vlen;
    count_op(b);
    return LSMLOG_OK;
}

int wbatch_delete(wbatch *b, const void *key, size_t klen) {
    int rc = check_key(klen);
    if (rc == LSMLOG_OK) rc = reserve(b, 1 + 5 + klen);
    if (rc) return rc;
    uint8_t *p = b->rep + b->len;
    *p++ = WB_DELETE;
    p = put_varint(p, klen);
    if (klen) memcpy(p, key, klen);
    p += klen;
    b->len = (size_t)(p - b->rep);
    b->user_bytes += klen;
    count_op(b);
    return LSMLOG_OK;
}

int wbatch_append(wbatch *dst, const wbatch *src) {
    if (src->count == 0) return LSMLOG_OK;
    int rc = reserve(dst, src->len - WB_HEADER);
    if (rc) return rc;
    memcpy(dst->rep + dst->len, src->rep + WB_HEADER, src->len - WB_HEADER);
    dst->len += src->len - WB_HEADER;
    dst->count += src->count;
    put_u32(dst->rep + 8, dst->count);
    dst->user_bytes += src->user_bytes;
    return LSMLOG_OK;
}

void wbatch_set_seq(wbatch *b, uint64_t seq) {
    if (reserve(b, 0) == LSMLOG_OK) put_u64(b->rep, seq);
}

uint64_t wbatch_rep_seq(const uint8_t *rep) { return get_u64(rep); }
uint32_t wbatch_rep_count(const uint8_t *rep) { return get_u32(rep + 8); }

/* One op at p: 1 and its fields, or 0 if malformed. */
static int next_op(const uint8_t **pp, const uint8_t *end, int *type, const uint8_t **key, size_t *klen,
                   const uint8_t **val, size_t *vlen) {
    const uint8_t *p = *pp;
    uint64_t k, v = 0;
    if (p >= end) return 0;
    *type = *p++;
    if (*type > WB_PUT_TTL) return 0;
    if (!(p = get_varint(p, end, &k, 5)) || k > (uint64_t)(end - p) || k > WB_MAX_KEY) return 0;
    *key = p;
    *klen = (size_t)k;
    p += k;
    if (*type != WB_DELETE) {
        if (!(p = get_varint(p, end, &v, 5)) || v > (uint64_t)(end - p)) return 0;
        if (*type == WB_PUT_TTL && v < 8) return 0;
    }
    *val = p;
    *vlen = (size_t)v;
    *pp = p + v;
    return 1;
}

int wbatch_iterate(const uint8_t *rep, size_t len, wbatch_fn fn, void *ctx) {
    if (len < WB_HEADER) return st_error(LSMLOG_E_CORRUPT, "write batch of %zu bytes is shorter than its header", len);
    const uint8_t *end = rep + len, *p = rep + WB_HEADER, *key, *val;
    uint32_t count = get_u32(rep + 8);
    size_t klen, vlen;
    int type;
    /* check the whole batch before applying any of it */
    for (uint32_t i = 0; i < count; i++)
        if (!next_op(&p, end, &type, &key, &klen, &val, &vlen))
            return st_error(LSMLOG_E_CORRUPT, "write batch: op %u of %u is malformed at byte %zu", i, count,
                            (size_t)(p - rep));
    if (p != end) return st_error(LSMLOG_E_CORRUPT, "write batch: %zu bytes after its %u ops", (size_t)(end - p), count);
    uint64_t seq = get_u64(rep);
    p = rep + WB_HEADER;
    for (uint32_t i = 0; i < count; i++) {
        next_op(&p, end, &type, &key, &klen, &val, &vlen);
        int rc = fn(ctx, seq + i, type, key, klen, val, vlen);
        if (rc) return rc;
    }
    return LSMLOG_OK;
}

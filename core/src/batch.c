/* batch.c — encoding and checking record batches. */
#include "batch.h"

#include "crc32c.h"

#include <string.h>

static inline int64_t resolve_ts(int64_t ts, int64_t now) { return ts == LSMLOG_NOW ? now : ts; }

/* Timestamps are stored as deltas from the first; the subtraction wraps in
 * unsigned arithmetic and the decoder wraps back, so any int64 pair works. */
static inline uint64_t ts_delta(int64_t ts, int64_t first) {
    return zigzag_enc((int64_t)((uint64_t)ts - (uint64_t)first));
}

uint64_t batch_size(const lsmlog_entry *e, size_t n, int64_t now, uint64_t max) {
    if (n == 0 || n > UINT32_MAX) return 0;
    int64_t first = resolve_ts(e[0].ts, now);
    uint64_t size = BATCH_HEADER_SIZE;
    for (size_t i = 0; i < n; i++) {
        if (e[i].len > max) return 0;
        size += (uint64_t)varint_len(ts_delta(resolve_ts(e[i].ts, now), first)) +
                (uint64_t)varint_len(e[i].len) + e[i].len;
        if (size > max) return 0;
    }
    return size;
}

uint64_t batch_bound(const lsmlog_entry *e, size_t n, size_t *null_at, size_t *runs) {
    uint64_t sum = 0;
    size_t r = 0;
    const uint8_t *next = NULL; /* where the current run ends */
    *null_at = n;
    for (size_t i = 0; i < n; i++) {
        if (!e[i].data && e[i].len && *null_at == n) *null_at = i;
        if (e[i].len) {
            if ((const uint8_t *)e[i].data != next) r++;
            next = (const uint8_t *)e[i].data + e[i].len;
        }
        sum += e[i].len;
    }
    *runs = r;
    return BATCH_HEADER_SIZE + sum + (uint64_t)n * BATCH_MAX_RECORD_OVERHEAD;
}

uint64_t batch_encode(uint8_t *dst, uint64_t base, const lsmlog_entry *e, size_t n, int64_t now,
                      int copy_values, int64_t *max_ts, uint64_t *total, batch_run *runs,
                      size_t *nruns) {
    int64_t first = resolve_ts(e[0].ts, now), mx = first;
    uint8_t *p = dst + BATCH_HEADER_SIZE;
    uint64_t values = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t ts = resolve_ts(e[i].ts, now);
        if (ts > mx) mx = ts;
        p = put_varint(p, ts_delta(ts, first));
        p = put_varint(p, e[i].len);
        values += e[i].len;
    }
    uint64_t prefixes = (uint64_t)(p - dst - BATCH_HEADER_SIZE);
    uint32_t crc;
    if (copy_values) {
        for (size_t i = 0; i < n; i++) {
            if (e[i].len) memcpy(p, e[i].data, e[i].len);
            p += e[i].len;
        }
        crc = crc32c_value(dst + BATCH_HEADER_SIZE, prefixes + values);
    } else { /* checksum the values where they lie, a run at a time */
        *nruns = 0;
        crc = crc32c_value(dst + BATCH_HEADER_SIZE, prefixes);
        for (size_t i = 0; i < n;) {
            if (!e[i].len) {
                i++;
                continue;
            }
            const uint8_t *run = e[i].data;
            size_t len = 0;
            while (i < n && (!e[i].len || (const uint8_t *)e[i].data == run + len)) len += e[i++].len;
            crc = crc32c_extend(crc, run, len);
            runs[(*nruns)++] = (batch_run){run, len};
        }
    }
    put_u32(dst + 4, (uint32_t)(prefixes + values));
    put_u64(dst + 8, base);
    put_i64(dst + 16, first);
    put_u32(dst + 24, (uint32_t)n);
    put_u32(dst + 28, crc32c_mask(crc));
    put_u32(dst, crc32c_mask(crc32c_value(dst + 4, BATCH_HEADER_SIZE - 4)));
    *max_ts = mx;
    *total = BATCH_HEADER_SIZE + prefixes + values;
    return (uint64_t)(p - dst);
}

int batch_parse_header(const uint8_t *p, batch_hdr *h) {
    if (crc32c_unmask(get_u32(p)) != crc32c_value(p + 4, BATCH_HEADER_SIZE - 4)) return -1;
    h->body_len = get_u32(p + 4);
    h->base = get_u64(p + 8);
    h->first_ts = get_i64(p + 16);
    h->count = get_u32(p + 24);
    h->body_crc = get_u32(p + 28);
    /* each record takes at least 2 bytes (two one-byte varints) */
    if (h->count == 0 || h->body_len / 2 < h->count) return -1;
    if (h->base > UINT64_MAX - h->count) return -1;
    return 0;
}

int batch_check_body(batch_hdr *h, const uint8_t *body, int64_t *max_ts) {
    if (crc32c_unmask(h->body_crc) != crc32c_value(body, h->body_len)) return -1;
    /* the prefixes, then exactly the values they describe */
    const uint8_t *p = body, *end = body + h->body_len;
    uint64_t values = 0;
    int64_t mx = h->first_ts;
    for (uint32_t i = 0; i < h->count; i++) {
        uint64_t zz, len;
        if (!(p = get_varint(p, end, &zz, 10)) || !(p = get_varint(p, end, &len, 5))) return -1;
        /* first_ts is the first record's timestamp: a header claiming a time
         * no record has would make it the segment's newest or first, and time
         * lookups would stop in a segment that has no such record */
        if (i == 0 && zz != 0) return -1;
        int64_t ts = (int64_t)((uint64_t)h->first_ts + (uint64_t)zigzag_dec(zz));
        if (ts > mx) mx = ts;
        values += len;
    }
    if (values != (uint64_t)(end - p)) return -1;
    h->values_at = (uint32_t)(p - body);
    if (max_ts) *max_ts = mx;
    return 0;
}

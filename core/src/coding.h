/* coding.h — fixed little-endian integers and varints (decoders take an end
 * pointer and never read past it), and the byte-string helpers built on
 * them. */
#ifndef LSMLOG_CODING_H
#define LSMLOG_CODING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void put_u64(uint8_t *p, uint64_t v) {
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t get_u64(const uint8_t *p) {
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}
/* Big-endian: such words order as their bytes do (for key compares). */
static inline uint64_t get_be64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8); /* one load */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}
static inline void put_i64(uint8_t *p, int64_t v) { put_u64(p, (uint64_t)v); }
static inline int64_t get_i64(const uint8_t *p) { return (int64_t)get_u64(p); }

/* How many leading bytes a[0..n) and b[0..n) share. Eight at a time: the
 * first differing byte of a little-endian word is its lowest set byte of
 * a ^ b. Table builders ask this of every key they add. */
static inline size_t bytes_shared(const uint8_t *a, const uint8_t *b, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x = get_u64(a + i) ^ get_u64(b + i);
        if (x) return i + (size_t)__builtin_ctzll(x) / 8;
    }
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

static inline uint64_t zigzag_enc(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t zigzag_dec(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

static inline int varint_len(uint64_t v) {
    int n = 1;
    while (v >= 0x80) { v >>= 7; n++; }
    return n;
}

static inline uint8_t *put_varint(uint8_t *p, uint64_t v) {
    while (v >= 0x80) { *p++ = (uint8_t)(v | 0x80); v >>= 7; }
    *p++ = (uint8_t)v;
    return p;
}

/* Decodes a varint of at most `maxbytes` bytes; NULL if malformed or past end. */
static inline const uint8_t *get_varint(const uint8_t *p, const uint8_t *end, uint64_t *v,
                                        int maxbytes) {
    if (p < end && *p < 0x80) { *v = *p; return p + 1; } /* the common case */
    uint64_t r = 0;
    for (int shift = 0, i = 0; i < maxbytes && p < end; i++, shift += 7) {
        uint8_t b = *p++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            *v = r;
            return p;
        }
    }
    return NULL;
}

#endif

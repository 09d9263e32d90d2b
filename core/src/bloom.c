/* bloom.c — building and probing a table's bloom filter. */
#include "bloom.h"

#include "alloc.h"
#include "coding.h"
#include "lsmlog.h"
#include "sst_format.h"
#include "status.h"

#include <string.h>

uint64_t bloom_murmur64(const uint8_t *key, size_t n, uint64_t seed) {
    const uint64_t m = SST_BLOOM_HASH_MUL;
    const int r = SST_BLOOM_HASH_SHIFT;
    uint64_t h = seed ^ ((uint64_t)n * m);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t k = get_u64(key + i);
        k *= m;
        k ^= k >> r;
        k *= m;
        h ^= k;
        h *= m;
    }
    switch (n & 7) {
    case 7:
        h ^= (uint64_t)key[i + 6] << 48;
        /* fall through */
    case 6:
        h ^= (uint64_t)key[i + 5] << 40;
        /* fall through */
    case 5:
        h ^= (uint64_t)key[i + 4] << 32;
        /* fall through */
    case 4:
        h ^= (uint64_t)key[i + 3] << 24;
        /* fall through */
    case 3:
        h ^= (uint64_t)key[i + 2] << 16;
        /* fall through */
    case 2:
        h ^= (uint64_t)key[i + 1] << 8;
        /* fall through */
    case 1:
        h ^= (uint64_t)key[i];
        h *= m;
        break;
    default:
        break;
    }
    h ^= h >> r;
    h *= m;
    h ^= h >> r;
    return h;
}

uint64_t bloom_hash(const uint8_t *key, size_t n) {
    return bloom_murmur64(key, n, SST_BLOOM_SEED);
}

uint32_t bloom_k(int bits_per_key) {
    /* k = bits * ln 2 minimises the false-positive rate; rounding down trades
     * a hair of accuracy for one probe less. Integer arithmetic, so every
     * build of the library agrees. */
    long k = (long)bits_per_key * 69 / 100;
    if (k < 1) k = 1;
    if (k > (long)SST_BLOOM_MAX_K) k = SST_BLOOM_MAX_K;
    return (uint32_t)k;
}

void bloom_builder_init(bloom_builder *bb, int bits_per_key) {
    memset(bb, 0, sizeof *bb);
    bb->bits_per_key = bits_per_key > 0 ? bits_per_key : 1;
}

void bloom_builder_release(bloom_builder *bb) {
    lm_free(bb->hashes);
    bb->hashes = NULL;
    bb->n = bb->cap = 0;
}

int bloom_builder_add(bloom_builder *bb, const uint8_t *key, size_t n) {
    if (bb->n == bb->cap) {
        size_t cap = bb->cap ? bb->cap * 2 : 1024;
        uint64_t *nh = lm_realloc(bb->hashes, cap * sizeof *nh);
        if (!nh) return st_error(LSMLOG_E_NOMEM, "out of memory building a bloom filter");
        bb->hashes = nh;
        bb->cap = cap;
    }
    bb->hashes[bb->n++] = bloom_hash(key, n);
    return LSMLOG_OK;
}

/* ---- CLASSIC (format version 1) ------------------------------------------- */

static size_t classic_size(const bloom_builder *bb) {
    uint64_t bits = (uint64_t)bb->n * (uint64_t)bb->bits_per_key;
    /* A floor, because a filter of a handful of keys would otherwise be a few
     * bits wide and match nearly everything. */
    if (bits < SST_BLOOM_MIN_BITS) bits = SST_BLOOM_MIN_BITS;
    uint64_t bytes = (bits + 7) / 8;
    if (bytes > SST_BLOOM_MAX_BYTES) bytes = SST_BLOOM_MAX_BYTES;
    return (size_t)bytes + 1;
}

/* Double hashing (Kirsch and Mitzenmacher, 2006): k probes from two hashes,
 * h, h + delta, h + 2 delta, ... (mod 2^32, then mod the bit count), h the
 * low and delta the high half of the 64-bit hash, made odd: the bit count is
 * a multiple of 8 (64 in a small table's filter, dividing 2^32), and an even
 * delta would walk a shorter cycle — at worst, a multiple of 64, every probe
 * on one bit. */
static void classic_finish(const bloom_builder *bb, uint8_t *dst) {
    size_t len = classic_size(bb);
    uint64_t bits = (uint64_t)(len - 1) * 8;
    uint32_t k = bloom_k(bb->bits_per_key);
    memset(dst, 0, len - 1);
    dst[len - 1] = (uint8_t)k;
    for (size_t i = 0; i < bb->n; i++) {
        uint32_t h = (uint32_t)bb->hashes[i];
        uint32_t delta = (uint32_t)(bb->hashes[i] >> 32) | 1;
        for (uint32_t j = 0; j < k; j++) {
            uint64_t pos = h % bits;
            dst[pos / 8] |= (uint8_t)(1u << (pos % 8));
            h += delta;
        }
    }
}

static int classic_may_match(const bloom_filter *f, uint64_t h64) {
    uint32_t h = (uint32_t)h64, delta = (uint32_t)(h64 >> 32) | 1;
    for (uint32_t j = 0; j < f->k; j++) {
        uint64_t pos = h % f->size;
        if (!(f->bits[pos / 8] & (1u << (pos % 8)))) return 0;
        h += delta;
    }
    return 1;
}

/* ---- BLOCKED (format version 2) ------------------------------------------- */

/* Lines for n keys: n * bits_per_key bits rounded up to whole lines, at
 * least one, at most SST_BLOOM_MAX_BYTES of them. */
static uint64_t blocked_lines(const bloom_builder *bb) {
    uint64_t bits = (uint64_t)bb->n * (uint64_t)bb->bits_per_key;
    uint64_t lines = (bits + SST_BLOOM_LINE_BITS - 1) / SST_BLOOM_LINE_BITS;
    if (lines < 1) lines = 1;
    if (lines > SST_BLOOM_MAX_BYTES / SST_BLOOM_LINE_BYTES) lines = SST_BLOOM_MAX_BYTES / SST_BLOOM_LINE_BYTES;
    return lines;
}

static size_t blocked_pad(uint64_t at) {
    return (size_t)((SST_BLOOM_LINE_BYTES - at % SST_BLOOM_LINE_BYTES) % SST_BLOOM_LINE_BYTES);
}

/* A key's line: the high half of its hash scaled to the line count (a
 * multiply and a shift, no division). */
static uint64_t blocked_line(uint64_t h64, uint64_t lines) {
    return ((h64 >> 32) * lines) >> 32;
}

/* Probe j is the top 9 bits of h * SST_BLOOM_PROBE_MUL^j (mod 2^32), h the
 * low half of the hash: independent of the line, which took the high half. */
#define NEXT_PROBE(h) ((h) *= SST_BLOOM_PROBE_MUL)
#define PROBE_BIT(h) ((h) >> (32 - SST_BLOOM_LINE_SHIFT))

static void blocked_finish(const bloom_builder *bb, uint64_t at, uint8_t *dst) {
    size_t pad = blocked_pad(at);
    uint64_t lines = blocked_lines(bb);
    uint32_t k = bloom_k(bb->bits_per_key);
    uint8_t *line0 = dst + pad;
    memset(dst, 0, pad + (size_t)lines * SST_BLOOM_LINE_BYTES);
    line0[lines * SST_BLOOM_LINE_BYTES] = (uint8_t)k;
    line0[lines * SST_BLOOM_LINE_BYTES + 1] = (uint8_t)pad;
    for (size_t i = 0; i < bb->n; i++) {
        uint8_t *line = line0 + blocked_line(bb->hashes[i], lines) * SST_BLOOM_LINE_BYTES;
        uint32_t h = (uint32_t)bb->hashes[i];
        for (uint32_t j = 0; j < k; j++) {
            uint32_t bit = PROBE_BIT(h);
            line[bit / 8] |= (uint8_t)(1u << (bit % 8));
            NEXT_PROBE(h);
        }
    }
}

static int blocked_may_match(const bloom_filter *f, uint64_t h64) {
    const uint8_t *line = f->bits + blocked_line(h64, f->size) * SST_BLOOM_LINE_BYTES;
    uint32_t h = (uint32_t)h64;
    for (uint32_t j = 0; j < f->k; j++) {
        uint32_t bit = PROBE_BIT(h);
        if (!(line[bit / 8] & (1u << (bit % 8)))) return 0;
        NEXT_PROBE(h);
    }
    return 1;
}

/* ---- both ----------------------------------------------------------------- */

size_t bloom_builder_size(const bloom_builder *bb, bloom_layout lay, uint64_t at) {
    if (lay == BLOOM_CLASSIC) return classic_size(bb);
    return blocked_pad(at) + (size_t)blocked_lines(bb) * SST_BLOOM_LINE_BYTES + 2;
}

void bloom_builder_finish(const bloom_builder *bb, bloom_layout lay, uint64_t at, uint8_t *dst) {
    if (lay == BLOOM_CLASSIC)
        classic_finish(bb, dst);
    else
        blocked_finish(bb, at, dst);
}

int bloom_filter_parse(const uint8_t *block, size_t len, bloom_layout lay, bloom_filter *f) {
    f->layout = lay;
    if (lay == BLOOM_CLASSIC) {
        if (len < 2 || block[len - 1] < 1 || block[len - 1] > SST_BLOOM_MAX_K) return 0;
        f->bits = block;
        f->size = (uint64_t)(len - 1) * 8;
        f->k = block[len - 1];
        return 1;
    }
    if (lay != BLOOM_BLOCKED || len < 2 + SST_BLOOM_LINE_BYTES) return 0;
    size_t pad = block[len - 1];
    uint32_t k = block[len - 2];
    if (pad >= SST_BLOOM_LINE_BYTES || k < 1 || k > SST_BLOOM_MAX_K || len - 2 < pad + SST_BLOOM_LINE_BYTES ||
        (len - 2 - pad) % SST_BLOOM_LINE_BYTES != 0)
        return 0;
    f->bits = block + pad;
    f->size = (len - 2 - pad) / SST_BLOOM_LINE_BYTES;
    f->k = k;
    return 1;
}

int bloom_may_match_hash(const bloom_filter *f, uint64_t h) {
    return f->layout == BLOOM_CLASSIC ? classic_may_match(f, h) : blocked_may_match(f, h);
}

int bloom_may_match(const bloom_filter *f, const uint8_t *key, size_t n) {
    return bloom_may_match_hash(f, bloom_hash(key, n));
}

void bloom_prefetch(const bloom_filter *f, uint64_t h) {
    if (f->layout == BLOOM_CLASSIC)
        __builtin_prefetch(f->bits + ((uint32_t)h % f->size) / 8);
    else
        __builtin_prefetch(f->bits + blocked_line(h, f->size) * SST_BLOOM_LINE_BYTES);
}

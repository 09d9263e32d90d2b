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

size_t bloom_builder_size(const bloom_builder *bb) {
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
void bloom_builder_finish(const bloom_builder *bb, uint8_t *dst) {
    size_t len = bloom_builder_size(bb);
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

int bloom_filter_ok(const uint8_t *filter, size_t len) {
    return len >= 2 && filter[len - 1] >= 1 && filter[len - 1] <= SST_BLOOM_MAX_K;
}

int bloom_may_match(const uint8_t *filter, size_t len, const uint8_t *key, size_t n) {
    uint64_t bits = (uint64_t)(len - 1) * 8;
    uint32_t k = filter[len - 1];
    uint64_t h64 = bloom_hash(key, n);
    uint32_t h = (uint32_t)h64, delta = (uint32_t)(h64 >> 32) | 1;
    for (uint32_t j = 0; j < k; j++) {
        uint64_t pos = h % bits;
        if (!(filter[pos / 8] & (1u << (pos % 8)))) return 0;
        h += delta;
    }
    return 1;
}

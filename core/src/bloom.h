/* bloom.h — the bloom filter of a table: one filter over the distinct user
 * keys of the whole table (a "full" filter, as RocksDB's, rather than
 * LevelDB's filter per 2 KiB of data), so that a point lookup that misses
 * costs one probe of memory and no block read. Layout and hash in
 * sst_format.h and docs/format-sst.md.
 *
 * (LevelDB's util/bloom.cc: the same k and layout, double hashing too, but
 * with two independent 32-bit hashes, the halves of one 64-bit MurmurHash64A,
 * where LevelDB derives the second from the first by a rotation: that
 * measured up to 1.75x the theoretical false-positive rate at 10^5 keys, even
 * with an ideal hash; two independent halves meet the theory at every size.
 * See docs/format-sst.md.) */
#ifndef LSMLOG_BLOOM_H
#define LSMLOG_BLOOM_H

#include <stddef.h>
#include <stdint.h>

/* MurmurHash64A (Austin Appleby's, public domain) of key[0..n) with `seed`,
 * reading 8-byte words little-endian on every platform. */
uint64_t bloom_murmur64(const uint8_t *key, size_t n, uint64_t seed);

/* The filter's hash of a key: bloom_murmur64(key, n, SST_BLOOM_SEED). Stable:
 * it is part of the file format. */
uint64_t bloom_hash(const uint8_t *key, size_t n);

/* Probes per key for `bits_per_key` (>= 1): bits * 0.69 (~ln 2, rounded down
 * to probe a little less), clamped to [1, SST_BLOOM_MAX_K]. */
uint32_t bloom_k(int bits_per_key);

/* Collects key hashes while a table is built; the filter is made at the end,
 * when the number of keys is known. 8 bytes per key. */
typedef struct bloom_builder {
    int bits_per_key; /* >= 1 */
    uint64_t *hashes; /* owned */
    size_t n, cap;
} bloom_builder;

void bloom_builder_init(bloom_builder *bb, int bits_per_key);
void bloom_builder_release(bloom_builder *bb);

/* Adds a key (borrowed for the call). LSMLOG_OK or LSMLOG_E_NOMEM. */
int bloom_builder_add(bloom_builder *bb, const uint8_t *key, size_t n);

/* Bytes of the filter for the keys added so far (bits, then the k byte). */
size_t bloom_builder_size(const bloom_builder *bb);

/* Writes the filter into dst, which holds bloom_builder_size() bytes. */
void bloom_builder_finish(const bloom_builder *bb, uint8_t *dst);

/* Checks a filter's shape: at least one byte of bits and k in [1, 30].
 * 1 if sound, 0 if not. */
int bloom_filter_ok(const uint8_t *filter, size_t len);

/* 0 if `key` was certainly not added to the filter, 1 if it may have been.
 * The filter must have passed bloom_filter_ok. Pure: any threads at once. */
int bloom_may_match(const uint8_t *filter, size_t len, const uint8_t *key, size_t n);

#endif

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

/* The filter layouts. CLASSIC (tables of format version 1): one bit array,
 * each probe anywhere in it — up to k cache misses per lookup. BLOCKED
 * (format version 2, written now): 64-byte lines, every probe of a key in
 * the line its hash picks — one cache miss per lookup, and no division
 * (RocksDB's FastLocalBloom; the idea is Putze, Sanders and Singler's
 * "cache-, hash- and space-efficient bloom filters", 2007). Byte layouts in
 * sst_format.h and docs/format-sst.md. */
typedef enum bloom_layout { BLOOM_CLASSIC = 1, BLOOM_BLOCKED = 2 } bloom_layout;

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

/* Bytes of the filter block for the keys added so far, in layout `lay`, when
 * the block's contents start at file offset `at` (a BLOCKED filter is padded
 * so that its lines start on a 64-byte boundary of the file, and so of its
 * mapping; CLASSIC ignores `at`). */
size_t bloom_builder_size(const bloom_builder *bb, bloom_layout lay, uint64_t at);

/* Writes the filter into dst, which holds bloom_builder_size() bytes (same
 * lay and at). */
void bloom_builder_finish(const bloom_builder *bb, bloom_layout lay, uint64_t at, uint8_t *dst);

/* A filter block, parsed once (when its table is opened). */
typedef struct bloom_filter {
    const uint8_t *bits; /* CLASSIC: the bit array; BLOCKED: the first line */
    uint64_t size;       /* CLASSIC: bits in the array; BLOCKED: lines */
    uint32_t k;          /* probes per key */
    bloom_layout layout;
} bloom_filter;

/* Checks a filter block's shape and parses it into *f (which borrows the
 * block). CLASSIC: at least one byte of bits, k in [1, 30]; BLOCKED: a pad
 * under 64 bytes, at least one whole line, k in [1, 30]. 1 if sound, 0 if
 * not. */
int bloom_filter_parse(const uint8_t *block, size_t len, bloom_layout lay, bloom_filter *f);

/* 0 if `key` was certainly not added to the filter, 1 if it may have been.
 * Pure: any threads at once. */
int bloom_may_match(const bloom_filter *f, const uint8_t *key, size_t n);

/* The same for a key whose bloom_hash is h. */
int bloom_may_match_hash(const bloom_filter *f, uint64_t h);

/* Asks the CPU for the memory bloom_may_match_hash(f, h) reads first (the
 * blocked filter's one line), so that its cache miss overlaps other work. */
void bloom_prefetch(const bloom_filter *f, uint64_t h);

#endif

/* sst_format.h — constants of the sorted string table (SST) format: the DB's
 * immutable, sorted files of internal keys. The prose, with the byte grammar,
 * a worked example and the reasons, is docs/format-sst.md. All fixed integers
 * are little-endian; varints are LEB128 (coding.h). Every stored CRC is a
 * masked CRC32C (crc32c_mask).
 *
 * A table is
 *     data_block* [filter_block] props_block index_block footer
 * laid end to end with no gaps. Every block is followed by a block trailer. */
#ifndef LSMLOG_SST_FORMAT_H
#define LSMLOG_SST_FORMAT_H

#include <stdint.h>

/* Version 2: the filter block is BLOCKED (below); version 1 tables (CLASSIC
 * filter) are still read. */
#define SST_FORMAT_VERSION 2u

/* ---- blocks ----------------------------------------------------------------
 * Block contents (data, index, props use the same entry layout; the filter
 * block has its own, below):
 *     entry*  restart:u32*  num_restarts:u32
 *     entry := shared:varint32 non_shared:varint32 value_len:varint32
 *              key_delta[non_shared] value[value_len]
 * An entry's key is the first `shared` bytes of the previous entry's key
 * followed by key_delta. Every SST_RESTART_INTERVAL-th entry (the first of the
 * block included) is a restart point: shared == 0 and its offset is listed in
 * the restart array, so a reader can binary-search the restarts. A block with
 * no entries has no restarts (num_restarts == 0). */

/* A data block is cut once its contents reach this many bytes (soft: the entry
 * that crosses the line stays in the block, so one large value makes one
 * large block). */
#define SST_BLOCK_SIZE 4096u
#define SST_RESTART_INTERVAL 16u
/* The index block makes every entry a restart: its keys are few and are
 * binary-searched on every lookup, so no linear scan is worth the bytes. */
#define SST_INDEX_RESTART_INTERVAL 1u

/* Block trailer, after the contents of every block:
 *     0  u8  type   SST_BLOCK_RAW (the only type yet; compression later)
 *     1  u32 crc    masked crc32c of contents followed by the type byte */
#define SST_BLOCK_TRAILER_SIZE 5u
#define SST_BLOCK_RAW 0u

/* Limits that keep every offset inside a block a u32 (restart offsets) with
 * room to spare: one key plus its value may not exceed 1 GiB. */
#define SST_MAX_ENTRY_BYTES (1u << 30)

/* A block handle (index values, footer): where a block's contents start in the
 * file and how many bytes they are, the trailer not included. In the index
 * block: offset:varint64 size:varint64. In the footer: two u64. */
#define SST_HANDLE_MAX_ENCODED 20u

/* ---- internal keys ---------------------------------------------------------
 * Keys are the DB's internal keys (dbformat.h): user key | u64 trailer
 * (seq << 8 | type). The SST code needs only the trailer's size and layout to
 * find user keys (the bloom filter is over user keys) and count deletions. */
#define SST_IKEY_TRAILER 8u
#define SST_TYPE_DELETE 0u
#define SST_MAX_SEQ ((1ull << 56) - 1)
/* The trailer of a separator or lookup key: seq MAX, type 0xff sorts first
 * among all keys of its user key (seq descending, then type descending). */
#define SST_TRAILER_FIRST UINT64_MAX

/* ---- bloom filter block ----------------------------------------------------
 * Format version 2 (BLOCKED):
 *     pad[p]  line[64]{L}  k:u8  p:u8
 * over the distinct user keys of the table; p < 64 makes the lines start on a
 * 64-byte boundary of the file; L = ceil(n * bits_per_key / 512), at least 1;
 * k as below. With H = MurmurHash64A(x, seed SST_BLOOM_SEED), key x's line is
 * ((H >> 32) * L) >> 32, and with h = H mod 2^32, probe j (0 <= j < k) is bit
 * (h * 0x9e3779b9^j mod 2^32) >> 23 of that line (bit b: byte b/8, bit b%8,
 * LSB first).
 *
 * Format version 1 (CLASSIC):
 *     bits[m/8]  k:u8
 * over the distinct user keys of the table, m = max(n * bits_per_key, 64)
 * rounded up to a multiple of 8; k = bits_per_key * 69 / 100 clamped to
 * [1, 30]. With H = MurmurHash64A(x, seed SST_BLOOM_SEED), h = H mod 2^32
 * and delta = (H >> 32) | 1, probe j (0 <= j < k) of key x is bit
 * ((h + j*delta) mod 2^32) mod m. Bit b is byte b/8, bit b%8 (LSB first). */
#define SST_BLOOM_BITS_DEFAULT 10
#define SST_BLOOM_MIN_BITS 64u
#define SST_BLOOM_MAX_K 30u
#define SST_BLOOM_SEED 0xbc9f1d34u               /* LevelDB's bloom seed */
#define SST_BLOOM_HASH_MUL 0xc6a4a7935bd1e995ull /* MurmurHash64A's m */
#define SST_BLOOM_HASH_SHIFT 47                  /* MurmurHash64A's r */
/* A filter past this many bytes is capped (2^32 bits: the hash is 32-bit, so
 * more bits could not be reached). */
#define SST_BLOOM_MAX_BYTES (1ull << 29)
#define SST_BLOOM_LINE_BYTES 64u
#define SST_BLOOM_LINE_BITS 512u
#define SST_BLOOM_LINE_SHIFT 9 /* log2(SST_BLOOM_LINE_BITS) */
#define SST_BLOOM_PROBE_MUL 0x9e3779b9u

/* ---- properties block ------------------------------------------------------
 *     num_entries:varint64  num_deletions:varint64  num_data_blocks:varint64
 *     raw_key_bytes:varint64  raw_value_bytes:varint64
 *     smallest_seq:varint64  largest_seq:varint64  created_ms:i64
 *     smallest_key_len:varint32 smallest_key  largest_key_len:varint32 largest_key
 *     (bytes after these: fields of later minor additions, ignored) */

/* ---- footer, the last SST_FOOTER_SIZE bytes of the file --------------------
 *     0  u64 index_offset    8  u64 index_size
 *    16  u64 filter_offset  24  u64 filter_size    (both 0: no filter)
 *    32  u64 props_offset   40  u64 props_size
 *    48  u32 version        52  u32 crc   masked crc32c of bytes 0..51
 *    56  u64 magic */
#define SST_FOOTER_SIZE 64u
#define SST_FOOTER_CRC_AT 52u
#define SST_FOOTER_MAGIC_AT 56u
#define SST_MAGIC 0x5453676f6c6d736cull /* the bytes "lsmlogST" read as a LE u64 */

#endif

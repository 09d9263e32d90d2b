/* sst_reader.h — reading one sorted string table (docs/format-sst.md): open
 * (footer, index, filter and properties read and checked once), point
 * lookups of a user key at a snapshot, and a two-level iterator (index block
 * -> data block) over the whole table.
 *
 * The file is mapped read-only when it can be (tables never change), and
 * its blocks are then read in place, past the block cache (the page cache is
 * their cache, as in LevelDB); else blocks are read with env_pread_all into
 * the block cache. Every block's CRC is checked before it is parsed: a block
 * taken from the block cache was checked when it was loaded, and a block of
 * a mapped file is checked the first time it is read (a per-block flag
 * remembers it, so it is not checksummed twice).
 * Any damage found, at open or later, is LSMLOG_E_CORRUPT with a message
 * (lsmlog_errmsg) naming the file and the block's byte position.
 *
 * Threads: after open a reader is immutable (its counters are atomic), so any
 * number of threads may call sst_reader_get and run their own iterators on
 * one reader at once. An iterator is used by one thread at a time. Every
 * iterator must be closed before the reader.
 *
 * (LevelDB's table/table.cc and table/two_level_iterator.cc.) */
#ifndef LSMLOG_SST_READER_H
#define LSMLOG_SST_READER_H

#include "block.h"
#include "block_cache.h"
#include "sst_builder.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sst_reader sst_reader;
typedef struct sst_iter sst_iter;

/* Counters of one reader since open. */
typedef struct sst_reader_stats {
    uint64_t gets;          /* sst_reader_get calls */
    uint64_t bloom_useful;  /* gets the filter answered "absent": no block read */
    uint64_t bloom_useless; /* gets the filter let through that found nothing (a false
                               positive, or only versions newer than the snapshot) */
    uint64_t block_reads;   /* data blocks read (from the mapping, or cache misses) */
} sst_reader_stats;

/* Opens the table at `path`. file_number keys its blocks in `cache` when the
 * file cannot be mapped (cache may be NULL: no caching; borrowed, it must
 * outlive the reader). cmp is the internal key order the table was built
 * with, and must be ikey_cmp's (user keys bytewise, then trailers
 * descending): gets look for user key + trailer, and seeks search the index
 * as 8-byte numbers (sst_index.h), which only a bytewise order allows (an
 * index found out of that order is searched as a block, but not every
 * other order shows in an index). Reads and checks the footer, the index
 * (every entry: order, handles that tile the data region, restart points
 * that are entries), the filter and the properties. *out is owned: close with
 * sst_reader_close. LSMLOG_OK; LSMLOG_E_CORRUPT (any damage, with the file
 * and byte position); LSMLOG_E_VERSION (a newer format); LSMLOG_E_NOENT,
 * LSMLOG_E_IO, LSMLOG_E_NOMEM. */
int sst_reader_open(const char *path, uint64_t file_number, block_cache *cache, sst_cmp_fn cmp,
                    sst_reader **out);

/* Closes the reader (its iterators must be closed already). A mapped
 * file's blocks are read in place and never cached; a pread file's blocks
 * stay in the cache, still valid for a reader of the same file number, and a
 * deleted table's are dropped with block_cache_erase_file. NULL is a no-op. */
void sst_reader_close(sst_reader *r);

/* The newest entry of user key ukey[0..ulen) with seq <= snapshot_seq (a
 * snapshot above the largest seq, e.g. UINT64_MAX, sees every entry).
 * The filter is consulted first.
 * LSMLOG_OK: *type is the entry's type (the trailer's low byte: 0 delete,
 * 1 put, 2 put with TTL), *seq its seq (seq may be NULL); when val is not
 * NULL, *val / *vlen receive an owned copy of the value (free with lm_free,
 * which is also lsmlog_free): NULL and 0 for a deletion, otherwise a buffer
 * even when the value is empty.
 * LSMLOG_NOTFOUND: the table has no such entry (nothing is set).
 * LSMLOG_E_CORRUPT, LSMLOG_E_IO, LSMLOG_E_NOMEM. */
int sst_reader_get(sst_reader *r, const uint8_t *ukey, size_t ulen, uint64_t snapshot_seq,
                   int *type, uint64_t *seq, uint8_t **val, size_t *vlen);

/* sst_reader_get for a key whose bloom_hash (bloom.h) is h: a DB hashes a
 * key once for every table it asks. `likely`: the key is likely in this
 * table (a DB's deepest table for it), so its data block is looked up and
 * asked for before the filter answers — a cache miss saved when the key is
 * there, a lookup wasted when it is not. Same answers either way. */
int sst_reader_get_hashed(sst_reader *r, const uint8_t *ukey, size_t ulen, uint64_t h, int likely,
                          uint64_t snapshot_seq, int *type, uint64_t *seq, uint8_t **val, size_t *vlen);

/* Asks the CPU for the part of the filter a get of a key whose bloom_hash
 * is h reads, so that a DB can have the filters of all the tables a key may
 * be in fetched at once rather than one cache miss after another. A hint:
 * no effect on any answer. */
void sst_reader_prefetch_filter(const sst_reader *r, uint64_t h);

/* The table's properties; borrowed, valid until the reader is closed. */
const sst_props *sst_reader_props(const sst_reader *r);

uint64_t sst_reader_file_number(const sst_reader *r);

/* The file position where the data for internal key ikey (>= 8 bytes) would
 * be: the offset of the block that holds it (the start of the metadata when
 * past the last key). For size estimates of key ranges. LSMLOG_OK,
 * LSMLOG_E_INVALID, LSMLOG_E_CORRUPT. */
int sst_reader_approx_offset(sst_reader *r, const uint8_t *ikey, size_t klen, uint64_t *off);

void sst_reader_get_stats(const sst_reader *r, sst_reader_stats *out);

/* ---- salvage (the DB's repair) ---------------------------------------------
 * Walks the table's data blocks in order, each on its own: a block that fails
 * its checksum or does not parse goes to `bad` (its byte position, its size
 * with the trailer, and the message naming file and block) and none of its
 * entries is handed out — not even those before the damage; then the walk goes
 * on with the next block. Every entry of a whole block goes to `entry`, key
 * and value borrowed for the call. The index was checked at open, so the
 * blocks' positions are known even when some are damaged. Returns LSMLOG_OK
 * at the end, the first non-zero status a callback returns, or
 * LSMLOG_E_IO / LSMLOG_E_NOMEM (which say nothing about the bytes). Blocks are
 * read past the reader's cache. */
typedef int (*sst_entry_fn)(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen);
typedef int (*sst_bad_block_fn)(void *ctx, uint64_t off, uint64_t bytes, const char *why);
int sst_reader_salvage(sst_reader *r, sst_entry_fn entry, sst_bad_block_fn bad, void *ctx);

/* ---- iterator -------------------------------------------------------------
 * A position in the table's entries, in key order. Each move returns the
 * iterator's status: LSMLOG_OK (then sst_iter_valid says whether it is on an
 * entry) or an error (LSMLOG_E_CORRUPT, LSMLOG_E_IO, LSMLOG_E_NOMEM), after
 * which it is not valid and every move returns the same error (also
 * sst_iter_status). The current key and value stay valid until the next move
 * or close: the iterator pins the data block they lie in. */

/* A new iterator, not positioned. *out is owned: sst_iter_close. */
int sst_iter_new(sst_reader *r, sst_iter **out);
void sst_iter_close(sst_iter *it); /* NULL is a no-op */

/* From now on the iterator reads its blocks past the reader's block cache:
 * neither looked up nor inserted (RocksDB's fill_cache = false). For a scan
 * that reads each block once, as a compaction does: through the cache, it
 * would pay a lookup and an insert per block and push out the blocks that
 * readers come back to. */
void sst_iter_bypass_cache(sst_iter *it);

int sst_iter_first(sst_iter *it);
int sst_iter_last(sst_iter *it);
/* The first entry whose internal key is >= ikey (ikey borrowed for the call;
 * klen >= 8, else LSMLOG_E_INVALID and the iterator is unchanged). */
int sst_iter_seek(sst_iter *it, const uint8_t *ikey, size_t klen);
int sst_iter_next(sst_iter *it); /* requires valid */
int sst_iter_prev(sst_iter *it); /* requires valid; before the first: not valid */

int sst_iter_valid(const sst_iter *it);
int sst_iter_status(const sst_iter *it);
/* The current internal key / value; require valid. Borrowed (above). */
const uint8_t *sst_iter_key(const sst_iter *it, size_t *len);
const uint8_t *sst_iter_value(const sst_iter *it, size_t *len);

#endif

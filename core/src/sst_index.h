/* sst_index.h — a table's index block as a flat array, for lookups.
 *
 * The index holds one separator per data block, every entry a restart, so a
 * lookup binary-searches it: about log2(blocks) steps, each decoding an
 * entry somewhere in a block of tens of KiB, each step a cache miss. Here
 * each separator's user key is reduced to 8 bytes, the ones after the prefix
 * the table's separators share, read as a big-endian number (zero padded; a
 * separator outside that prefix, as the last often is, counts as 0 or as
 * the largest number): the search runs over an array of those numbers, which is 8 bytes
 * per data block (0.2 % of the data) and stays in the CPU's caches, and whole
 * keys are compared only among entries whose 8 bytes tie with the target's.
 * Beside them, where each data block starts (4 bytes per block, for tables
 * under 4 GiB), so that a lookup goes from the array to its data block
 * without touching the index block at all.
 *
 * This relies on the table's order sorting user keys bytewise first, as the
 * internal key order does (dbformat.h ikey_cmp): reading 8 bytes of a key
 * as a number never reverses two keys' order, it can only tie them.
 * (RocksDB reaches the same end with its index's key prefixes, LevelDB
 * searches the block.) */
#ifndef LSMLOG_SST_INDEX_H
#define LSMLOG_SST_INDEX_H

#include "block.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sst_index {
    uint8_t *common; /* the user-key prefix of the first and last but one separators; owned */
    size_t clen;
    uint64_t *key8;  /* per entry: the 8 user-key bytes after it; owned */
    uint32_t *start; /* n + 1 offsets: data block i is [start[i], start[i + 1] - trailer);
                        NULL for a table of 4 GiB or more; owned */
    uint32_t n;      /* entries */
} sst_index;

/* Builds the array over index block `ix` (internal keys: user key + 8-byte
 * trailer; values: block handles that tile the data region [0, data_end),
 * each block followed by `trailer` bytes — checked again), whose restarts
 * must be its entries, one each (checked by the caller). LSMLOG_OK;
 * LSMLOG_E_INVALID, with no message, when the order is not bytewise (then
 * there is no array: search the block); LSMLOG_E_CORRUPT (a key or handle
 * that does not decode or is out of place, named by loc); LSMLOG_E_NOMEM. On
 * failure *x is empty. */
int sst_index_build(sst_index *x, const block *ix, const block_loc *loc, uint64_t data_end, uint32_t trailer);

/* Data block i's offset and size, given the size of a block's trailer
 * (x->start must not be NULL). */
static inline void sst_index_block(const sst_index *x, uint32_t i, uint32_t trailer, uint64_t *off,
                                   uint64_t *size) {
    *off = x->start[i];
    *size = x->start[i + 1] - x->start[i] - trailer;
}

/* The number of the first entry whose key is >= the internal key
 * ikey[0..klen) (klen >= 8) in the order cmp, or n when there is none.
 * LSMLOG_OK, or LSMLOG_E_CORRUPT if a key to compare does not decode. */
int sst_index_find(const sst_index *x, const block *ix, const block_loc *loc, sst_cmp_fn cmp,
                   const uint8_t *ikey, size_t klen, uint32_t *entry);

void sst_index_free(sst_index *x);

#endif

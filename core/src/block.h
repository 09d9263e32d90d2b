/* block.h — reading one SST block (the layout of block_builder.h): a parsed
 * view of its contents and an iterator over its entries with first, last,
 * next, prev and seek (binary search over the restart points, then a short
 * linear scan).
 *
 * Every decode is bounds-checked against the block: a damaged block yields
 * LSMLOG_E_CORRUPT with a message naming the file and the block's byte
 * position, never a read outside it. The block's checksum is the caller's
 * business (sst_reader checks it before a block is parsed); these checks are
 * for blocks that are damaged yet pass it, or were never checksummed.
 *
 * (LevelDB's table/block.cc.) */
#ifndef LSMLOG_BLOCK_H
#define LSMLOG_BLOCK_H

#include <stddef.h>
#include <stdint.h>

/* The order of keys: <0, 0, >0 like memcmp. For tables, the DB's internal key
 * order (dbformat.h ikey_cmp); called only with keys of at least the
 * iterator's min_key bytes. */
typedef int (*sst_cmp_fn)(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* Where a block lies, for error messages. */
typedef struct block_loc {
    const char *file; /* the table's path; borrowed */
    const char *kind; /* "data", "index", ... */
    uint64_t offset;  /* file position of the block's contents */
} block_loc;

/* A parsed block. Immutable once made, so any number of iterators in any
 * number of threads may read it at once. */
typedef struct block {
    const uint8_t *data;  /* contents: entries, restart array, restart count */
    size_t size;          /* bytes of contents */
    uint32_t restarts_at; /* offset of the restart array = end of the entries */
    uint32_t nrestarts;   /* 0 iff the block has no entries */
    uint8_t *owned;       /* freed by block_release (NULL: data is borrowed) */
} block;

/* Parses `size` bytes of contents at `data` (borrowed: they must outlive the
 * block) and checks the restart array: a count that fits, offsets strictly
 * ascending from 0 and inside the entries. LSMLOG_E_CORRUPT otherwise. The
 * caller may set b->owned afterwards to hand the buffer to the block. */
int block_init(block *b, const uint8_t *data, size_t size, const block_loc *loc);

/* Frees b->owned. The struct is the caller's. */
void block_release(block *b);

/* A position in a block. One thread at a time. The key is rebuilt into a
 * buffer the iterator owns; the value points into the block. Both stay valid
 * until the iterator next moves (or is pointed at another block). */
typedef struct block_iter {
    const block *b;     /* borrowed; NULL until block_iter_set */
    sst_cmp_fn cmp;     /* key order, for seek */
    size_t min_key;     /* shorter keys are corrupt (8 for internal keys) */
    block_loc loc;      /* for messages */
    uint32_t cur;       /* offset of the current entry (restarts_at when not valid) */
    uint32_t next_off;  /* offset of the entry after it */
    uint32_t ridx;      /* restart run holding the current entry */
    uint8_t *key;       /* the current key; owned */
    size_t klen, kcap;  /* its length / the buffer's size */
    const uint8_t *val; /* the current value, inside the block */
    uint32_t vlen;
    int valid;  /* 1 when positioned on an entry */
    int status; /* LSMLOG_OK, or the first error (sticky until block_iter_set) */
} block_iter;

/* Prepares an iterator (allocating nothing) with no block. */
void block_iter_init(block_iter *it, sst_cmp_fn cmp, size_t min_key);

/* Points the iterator at block `b` (borrowed: it must outlive its use here),
 * not positioned, status cleared. Keeps the key buffer. */
void block_iter_set(block_iter *it, const block *b, const block_loc *loc);

/* Frees the key buffer. */
void block_iter_release(block_iter *it);

/* Each move returns the iterator's status: LSMLOG_OK (then block_iter_valid
 * says whether it is on an entry), LSMLOG_E_CORRUPT or LSMLOG_E_NOMEM (then it
 * is not valid, and stays failed until the next block_iter_set). */
int block_iter_first(block_iter *it);
int block_iter_last(block_iter *it);
int block_iter_next(block_iter *it); /* requires valid */
int block_iter_prev(block_iter *it); /* requires valid; before the first: not valid */
/* Positions at the first entry whose key is >= target (not valid if none). */
int block_iter_seek(block_iter *it, const uint8_t *target, size_t tlen);
/* The offset of restart run i's first entry (i < the block's nrestarts). */
uint32_t block_restart_offset(const block *b, uint32_t i);

/* Positions at the first entry of restart run i (< the block's nrestarts):
 * for a block whose every entry is a restart, at entry i. */
int block_iter_seek_restart(block_iter *it, uint32_t i);

/* The key and value of restart run i's first entry (its key whole in the
 * block, as every restart entry's is), bounds-checked: LSMLOG_OK with *key
 * and *val pointing into the block, else LSMLOG_E_CORRUPT (a message naming
 * loc). */
int block_restart_entry(const block *b, uint32_t i, const block_loc *loc, const uint8_t **key, size_t *klen,
                        const uint8_t **val, size_t *vlen);

static inline int block_iter_valid(const block_iter *it) {
    return it->valid;
}

#endif

/* block_builder.h — builds the contents of one SST block: sorted entries with
 * prefix-compressed keys and a restart array (sst_format.h,
 * docs/format-sst.md). The caller adds keys in its order; the builder does not
 * compare them (the table builder does), it only shares prefixes.
 *
 * (LevelDB's table/block_builder.cc.) */
#ifndef LSMLOG_BLOCK_BUILDER_H
#define LSMLOG_BLOCK_BUILDER_H

#include <stddef.h>
#include <stdint.h>

typedef struct block_builder {
    uint8_t *buf;           /* entries, then (after finish) the restart array; owned */
    size_t len, cap;        /* bytes used / allocated in buf */
    uint32_t *restarts;     /* offsets of restart entries; owned */
    size_t nrestarts, rcap; /* used / allocated */
    uint32_t interval;      /* entries per restart run, >= 1 */
    uint32_t counter;       /* entries since the last restart */
    uint8_t *last;          /* the previous entry's key, to share its prefix; owned */
    size_t last_len, last_cap;
    uint64_t entries; /* entries added since the last reset */
    int finished;     /* finish was called: add is not allowed until reset */
} block_builder;

/* Makes an empty builder with a restart every `interval` (>= 1) entries. It
 * allocates nothing until the first add. */
void block_builder_init(block_builder *bb, uint32_t interval);

/* Frees the builder's buffers. The struct itself is the caller's. */
void block_builder_release(block_builder *bb);

/* Forgets all entries, keeping the buffers for the next block. */
void block_builder_reset(block_builder *bb);

/* Appends an entry; key and value are copied (borrowed for the call). The key
 * must sort after the previous one (the caller checks). klen + vlen must not
 * exceed SST_MAX_ENTRY_BYTES. LSMLOG_OK or LSMLOG_E_NOMEM (the builder is then
 * unchanged). */
int block_builder_add(block_builder *bb, const uint8_t *key, size_t klen, const uint8_t *val,
                      size_t vlen);

/* Bytes the block would have if finished now (entries + restart array). */
size_t block_builder_size(const block_builder *bb);

static inline int block_builder_empty(const block_builder *bb) {
    return bb->entries == 0;
}

/* Appends the restart array and returns the block contents in *data / *len,
 * borrowed: valid until the next reset or release. LSMLOG_OK or
 * LSMLOG_E_NOMEM. */
int block_builder_finish(block_builder *bb, const uint8_t **data, size_t *len);

#endif

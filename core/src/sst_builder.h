/* sst_builder.h — writes one sorted string table (docs/format-sst.md) from
 * internal keys added in ascending order: data blocks as they fill, then the
 * bloom filter, properties, index and footer at finish.
 *
 * A builder is one object used by one thread: open, add*, finish, then free
 * (keeping the file) or abandon (removing it). The file is written through
 * env_* (fault injection) and is complete only after a successful finish; the
 * caller makes its name durable by fsyncing the directory.
 *
 * (LevelDB's table/table_builder.cc.) */
#ifndef LSMLOG_SST_BUILDER_H
#define LSMLOG_SST_BUILDER_H

#include "block.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sst_options {
    sst_cmp_fn cmp;    /* internal key order (dbformat.h ikey_cmp); required */
    size_t block_size; /* data block target in bytes; default SST_BLOCK_SIZE */
    uint32_t
        restart_interval; /* entries per restart in data blocks; default SST_RESTART_INTERVAL */
    int bloom_bits;       /* filter bits per user key; default 10; 0: no filter block */
    int64_t created_ms;   /* stored creation time; 0 (default): the wall clock at open */
    uint32_t format_version; /* SST_FORMAT_VERSION (default); 1 writes the version 1
                                layout (CLASSIC filter), for tests of reading old tables */
} sst_options;

/* Fills *o with the defaults and the comparator. */
void sst_options_init(sst_options *o, sst_cmp_fn cmp);

/* What a table holds, from its properties block (docs/format-sst.md). */
typedef struct sst_props {
    uint64_t num_entries;   /* entries (every version of every key) */
    uint64_t num_deletions; /* entries of type 0 (tombstones) */
    uint64_t num_data_blocks;
    uint64_t raw_key_bytes;   /* sum of the internal key lengths */
    uint64_t raw_value_bytes; /* sum of the value lengths */
    uint64_t smallest_seq;    /* smallest and largest seq of any entry; 0 when empty */
    uint64_t largest_seq;
    int64_t created_ms; /* wall clock when the builder was opened (or opts->created_ms) */
    /* The first and the last internal key of the table (their user keys are
     * the smallest and largest user keys: user key = all but the last 8
     * bytes). NULL and 0 when the table is empty. */
    uint8_t *smallest_key;
    size_t smallest_len;
    uint8_t *largest_key;
    size_t largest_len;
    uint64_t file_size; /* bytes of the whole file (not stored: known from the file) */
} sst_props;

/* Frees the keys of *p (when the caller owns them) and zeroes it. */
void sst_props_clear(sst_props *p);

typedef struct sst_builder sst_builder;

/* Creates (or truncates) the file at `path` and starts a table. opts is
 * copied; opts->cmp is required. *out is owned: end it with sst_builder_free
 * or sst_builder_abandon. LSMLOG_OK, LSMLOG_E_INVALID (bad options),
 * LSMLOG_E_NOENT / LSMLOG_E_IO (cannot create), LSMLOG_E_NOMEM. */
int sst_builder_open(const char *path, const sst_options *opts, sst_builder **out);

/* Adds one entry: an internal key (>= 8 bytes) and its value, both copied
 * (borrowed for the call). Keys must strictly ascend in opts->cmp.
 * LSMLOG_OK; LSMLOG_E_INVALID for a key out of order or shorter than a
 * trailer, or after finish (the builder is unchanged and usable);
 * LSMLOG_E_TOOBIG if klen + vlen exceeds SST_MAX_ENTRY_BYTES (likewise);
 * LSMLOG_E_IO / LSMLOG_E_NOMEM: the builder is failed, every later call
 * returns the same error, and the caller should abandon it. */
int sst_builder_add(sst_builder *b, const uint8_t *ikey, size_t klen, const uint8_t *val,
                    size_t vlen);

/* Writes the last data block, the filter, properties, index and footer, then
 * fdatasyncs the file when `sync`, and closes it. The caller fsyncs the
 * directory (env_fsync_dir) to make a new name durable. When out is not NULL
 * it receives the table's properties with owned keys (sst_props_clear).
 * LSMLOG_OK or the builder's error (LSMLOG_E_IO, LSMLOG_E_NOMEM); on an error
 * the file is incomplete: abandon the builder. Calling it twice is
 * LSMLOG_E_INVALID. */
int sst_builder_finish(sst_builder *b, int sync, sst_props *out);

/* Entries added so far. */
uint64_t sst_builder_entries(const sst_builder *b);

/* The file's size if it were finished now, nearly (the filter, properties and
 * index not counted): for cutting compaction output at a target size. */
uint64_t sst_builder_file_size(const sst_builder *b);

/* Frees the builder and keeps the file (complete after a successful finish,
 * partial otherwise). NULL is a no-op. */
void sst_builder_free(sst_builder *b);

/* Frees the builder and removes its file, whatever state it is in (also after
 * a successful finish). NULL is a no-op. */
void sst_builder_abandon(sst_builder *b);

#endif

/* index.h — a segment's sparse offset and time indexes (Kafka's .index and
 * .timeindex): in memory for every segment, in files for sealed ones. The
 * files are caches, never the truth: missing or stale ones are rebuilt. */
#ifndef LSMLOG_INDEX_H
#define LSMLOG_INDEX_H

#include "segment.h"

/* Adds an entry for a batch at pos, if it is the first or INDEX_INTERVAL_BYTES
 * past the previous entry. 0, or LSMLOG_E_NOMEM. */
int idx_maybe_add(segment *s, uint64_t pos, uint64_t base, int64_t max_before);

/* Drops entries at positions >= pos (after a failed write). */
void idx_truncate(segment *s, uint64_t pos);

/* The file position from which to scan for `offset`: the last entry with
 * base <= offset (or the first batch). */
uint64_t idx_pos_for_offset(const segment *s, uint64_t offset);

/* The file position from which to scan for the first record with timestamp
 * >= ts: the last entry whose max_before < ts. */
uint64_t idx_pos_for_time(const segment *s, int64_t ts);

/* Writes the .index and .timeindex files describing s (sealed). */
int idx_save(const segment *s, const char *dir);

/* Loads both files if they exist, agree with the segment (size, base) and
 * their checksums hold: 0. LSMLOG_NOTFOUND when missing or stale (rebuild by
 * scanning), or an I/O error. On success s->size, end, timestamps and the
 * index are set. */
int idx_load(segment *s, const char *dir, uint64_t file_size);

/* Removes both index files. */
void idx_remove(const char *dir, uint64_t base);

#endif

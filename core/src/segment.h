/* segment.h — one segment file of a Log: its header, its mapping, the scan
 * that checks its batches, and the in-memory description readers use. */
#ifndef LSMLOG_SEGMENT_H
#define LSMLOG_SEGMENT_H

#include "batch.h"

#include <stdatomic.h>
#include <stdint.h>

/* A sparse index entry, made at the start of a batch (index.c). */
typedef struct idx_entry {
    uint32_t rel;       /* batch base offset - segment base */
    uint32_t pos;       /* file position of the batch */
    int64_t max_before; /* largest timestamp before this batch in the segment */
} idx_entry;

typedef struct segment {
    uint64_t base;     /* from the file name and header */
    char *path;        /* owned */
    int fd;            /* read-only descriptor, for fstat and mmap */
    uint32_t max_len;  /* the file never grows past this (header) */
    int64_t created_ms;
    uint8_t *map;      /* max_len bytes mapped read-only, made lazily */

    /* What readers may see; guarded by the log's mutex once published. */
    uint64_t size;     /* bytes of whole, checked batches (header included) */
    uint64_t first_off;/* offset of the first record; == end when none */
    uint64_t end;      /* offset after the last record; base when none */
    int64_t first_ts, max_ts; /* of the records; 0 when none */
    int sealed;        /* a later segment exists: size and end are final */

    idx_entry *idx;    /* sparse index, ascending */
    size_t nidx, idx_cap;
    uint64_t idx_last_pos; /* position of the last entry, for the interval */

    int refs;          /* the log's list + iterators; guarded by the log's mutex */

    /* Batches whose body has passed its checksum, for point reads: a lossy
     * table of position + 1 (and what the check found: seg_check_batch_once),
     * slot chosen by a hash of the position (a
     * collision forgets the older one, which is then checked again). The
     * bytes of a batch readers were shown never change while the segment
     * lives, so one check serves every later read. NULL: none (made at
     * open or create; an allocation failure only costs speed). */
    atomic_uint_fast64_t *checked;
    uint32_t checked_mask;
} segment;

/* "<20 digits>.log" → 1 and *base; else 0. */
int seg_parse_name(const char *name, const char *suffix, uint64_t *base);

/* dir/<base><suffix>, owned. */
char *seg_file_path(const char *dir, uint64_t base, const char *suffix);

/* Creates a new, empty segment file (header only), fsynced with its
 * directory when `sync`. *out has refs == 1. */
int seg_create(const char *dir, uint64_t base, uint32_t max_len, int64_t created_ms, int sync,
               segment **out);

/* Opens an existing segment and checks its header. LSMLOG_E_CORRUPT (bad
 * header), LSMLOG_E_VERSION. A file shorter than a header, or of zeros,
 * returns LSMLOG_NOTFOUND with *out set (a torn creation: the caller decides). */
int seg_open(const char *dir, uint64_t base, segment **out);

/* Writes a fresh header over a torn one (the last segment only). */
int seg_rewrite_header(segment *s, uint32_t max_len, int64_t created_ms, int sync);

void seg_header_encode(uint8_t *dst, uint64_t base, uint32_t max_len, int64_t created_ms);

/* Maps the segment if it is not yet mapped. Callers serialize (log mutex). */
int seg_map(segment *s);

void seg_free(segment *s);

/* Why a scan stopped. SCAN_NOMEM is no verdict on the bytes: the index could
 * not grow, and the caller must fail with LSMLOG_E_NOMEM, never treat it as
 * damage (a "torn tail" cut there would destroy valid batches). */
enum { SCAN_END = 0, SCAN_INCOMPLETE = 1, SCAN_BAD = 2, SCAN_NOMEM = 3 };

typedef struct scan_result {
    int why;          /* SCAN_* */
    uint64_t pos;     /* where it stopped: the first byte not accepted */
    const char *what; /* for SCAN_BAD / INCOMPLETE: what was wrong */
    uint64_t batches, records;
} scan_result;

/* Checks batches from s->size to `limit` bytes of the file, accepting each
 * whole, valid batch whose base is >= s->end: extends s->size, s->end,
 * timestamps and the index. The mapping must exist. Callers serialize. */
void seg_scan(segment *s, uint64_t limit, scan_result *r);

/* Looks for the next position in [from, limit) where a whole valid batch with
 * base >= min_off starts; 1 and *pos if found, else 0. For telling a torn
 * tail (nothing valid after the damage) from damage in the middle. */
int seg_find_valid(const segment *s, uint64_t from, uint64_t limit, uint64_t min_off,
                   uint64_t *pos);

/* Checks the batch at pos (mapping made): 1 valid (*h, *max_ts filled), 0
 * incomplete (runs past limit), -1 damaged; *what says what was wrong. */
int seg_check_batch(const segment *s, uint64_t pos, uint64_t limit, uint64_t min_off, batch_hdr *h,
                    int64_t *max_ts, const char **what);

/* seg_check_batch for a read of a published batch (pos < the published
 * size, so complete): the body's checksum is verified only the first time
 * (s->checked remembers it). 1 valid, -1 damaged (*what says what). */
int seg_check_batch_once(segment *s, uint64_t pos, uint64_t limit, batch_hdr *h, const char **what);

/* Describes one checked batch to the segment: timestamps, end, index. */
void seg_note_batch(segment *s, uint64_t pos, const batch_hdr *h, int64_t max_ts);

#endif

/* batch.h — the record batch: the unit of writing, checksumming and
 * recovery, shared by the Log and (later) the DB's write-ahead log. Layout in
 * log_format.h and docs/format-log.md. */
#ifndef LSMLOG_BATCH_H
#define LSMLOG_BATCH_H

#include "coding.h"
#include "log_format.h"
#include "lsmlog.h"

#include <stddef.h>
#include <stdint.h>

typedef struct batch_hdr {
    uint64_t base;     /* offset of the first record */
    int64_t first_ts;  /* timestamp of the first record */
    uint32_t count;    /* records, >= 1 */
    uint32_t body_len; /* bytes after the header */
    uint32_t body_crc; /* masked crc32c of the body */
    uint32_t values_at; /* body offset of the first value: set by batch_check_body */
} batch_hdr;

/* Bytes the batch of these entries takes, header included; 0 if it would be
 * larger than max (the caller then reports LSMLOG_E_TOOBIG). Timestamps equal
 * to LSMLOG_NOW count as `now`. */
uint64_t batch_size(const lsmlog_entry *e, size_t n, int64_t now, uint64_t max);

/* An upper bound of batch_size, in one cheap pass: header + values + the
 * largest record overhead. *null_at: index of an entry with NULL data and a
 * length, or n if none. *runs: how many separate memory runs the values
 * occupy (adjacent values in the caller's memory make one run). */
uint64_t batch_bound(const lsmlog_entry *e, size_t n, size_t *null_at, size_t *runs);

/* Encodes the batch at dst. With copy_values, the whole batch (header,
 * prefixes, values: batch_size bytes); without, only the header and the
 * prefixes, the checksum still covering the values where they lie: the
 * caller writes them from there. *max_ts: the batch's largest timestamp.
 * Returns the bytes written at dst; *total: the batch's size on disk. */
typedef struct batch_run {
    const void *data;
    size_t len;
} batch_run;

/* ... Without copy_values, runs[] (room for batch_bound's *runs) receives
 * the memory runs of the values, in order, and *nruns their number. */
uint64_t batch_encode(uint8_t *dst, uint64_t base, const lsmlog_entry *e, size_t n, int64_t now,
                      int copy_values, int64_t *max_ts, uint64_t *total, batch_run *runs,
                      size_t *nruns);

/* Parses and checks the header at p (BATCH_HEADER_SIZE bytes): 0, or -1 when
 * its checksum or fields are wrong. */
int batch_parse_header(const uint8_t *p, batch_hdr *h);

/* Checks the body's checksum and that it holds exactly h->count well-formed
 * prefixes (the first with ts_delta 0: first_ts is the first record's
 * timestamp) followed by exactly the values they describe; sets h->values_at.
 * 0, or -1. *max_ts (may be NULL): the batch's largest timestamp. */
int batch_check_body(batch_hdr *h, const uint8_t *body, int64_t *max_ts);

/* Walks the records of a checked batch: prefixes from the front of the
 * body, values from values_at. */
typedef struct batch_cursor {
    const uint8_t *p, *v, *end; /* next prefix, next value, end of body */
    uint64_t next_off;
    int64_t first_ts;
    uint32_t left;
} batch_cursor;

static inline void batch_cursor_init(batch_cursor *c, const batch_hdr *h, const uint8_t *body) {
    c->p = body;
    c->v = body + h->values_at;
    c->end = body + h->body_len;
    c->next_off = h->base;
    c->first_ts = h->first_ts;
    c->left = h->count;
}

/* The next record of the batch: 1, or 0 at its end (or -1 if malformed,
 * which a checked batch never is). rec->value points into the body. */
static inline int batch_cursor_next(batch_cursor *c, lsmlog_record *rec) {
    if (c->left == 0) return 0;
    uint64_t zz, len;
    const uint8_t *p = get_varint(c->p, c->v, &zz, 10);
    if (!p) return -1;
    p = get_varint(p, c->v, &len, 5);
    if (!p || len > (uint64_t)(c->end - c->v)) return -1;
    rec->offset = c->next_off++;
    rec->timestamp = (int64_t)((uint64_t)c->first_ts + (uint64_t)zigzag_dec(zz));
    rec->value = c->v;
    rec->len = (size_t)len;
    c->p = p;
    c->v += len;
    c->left--;
    return 1;
}

#endif

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
} batch_hdr;

/* Bytes the batch of these entries takes, header included; 0 if it would be
 * larger than max (the caller then reports LSMLOG_E_TOOBIG). Timestamps equal
 * to LSMLOG_NOW count as `now`. */
uint64_t batch_size(const lsmlog_entry *e, size_t n, int64_t now, uint64_t max);

/* An upper bound of batch_size, in one cheap pass: header + values + the
 * largest record overhead. *null_at: index of an entry with NULL data and a
 * length, or n if none. */
uint64_t batch_bound(const lsmlog_entry *e, size_t n, size_t *null_at);

/* Encodes the batch at dst (at most its bound). *max_ts: its largest
 * timestamp. Returns the bytes written (== batch_size). */
uint64_t batch_encode(uint8_t *dst, uint64_t base, const lsmlog_entry *e, size_t n, int64_t now,
                  int64_t *max_ts);

/* Parses and checks the header at p (BATCH_HEADER_SIZE bytes): 0, or -1 when
 * its checksum or fields are wrong. */
int batch_parse_header(const uint8_t *p, batch_hdr *h);

/* Checks the body's checksum and that it holds exactly h->count well-formed
 * records. 0, or -1. *max_ts (may be NULL): the batch's largest timestamp. */
int batch_check_body(const batch_hdr *h, const uint8_t *body, int64_t *max_ts);

/* Walks the records of a checked batch. */
typedef struct batch_cursor {
    const uint8_t *p, *end;
    uint64_t next_off;
    int64_t first_ts;
    uint32_t left;
} batch_cursor;

static inline void batch_cursor_init(batch_cursor *c, const batch_hdr *h, const uint8_t *body) {
    c->p = body;
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
    const uint8_t *p = get_varint(c->p, c->end, &zz, 10);
    if (!p) return -1;
    p = get_varint(p, c->end, &len, 5);
    if (!p || len > (uint64_t)(c->end - p)) return -1;
    rec->offset = c->next_off++;
    rec->timestamp = (int64_t)((uint64_t)c->first_ts + (uint64_t)zigzag_dec(zz));
    rec->value = p;
    rec->len = (size_t)len;
    c->p = p + len;
    c->left--;
    return 1;
}

#endif

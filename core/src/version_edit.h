/* version_edit.h — one change to the DB's set of live tables: what the
 * manifest records, one edit per record (the manifest is a Log in sync mode,
 * so each edit is checksummed and a torn last edit is cut at open).
 *
 * edit  := field*
 * field := tag:varint32 payload
 *   1 wal_offset   varint64   WAL records below this offset are all in tables
 *   2 next_file    varint64   the next table file number to hand out
 *   3 last_seq     varint64   the largest sequence number used
 *   4 deleted      level:varint32 number:varint64
 *   5 added        level:varint32 number:varint64 size:varint64
 *                  smallest:bytes largest:bytes smallest_seq:varint64 largest_seq:varint64
 *                  (bytes := len:varint32 byte{len}; the keys are internal keys)
 * An unknown tag is corruption: an edit is never half understood.
 * (docs/format-manifest.md) */
#ifndef LSMLOG_VERSION_EDIT_H
#define LSMLOG_VERSION_EDIT_H

#include <stddef.h>
#include <stdint.h>

#define DB_LEVELS 7

typedef struct file_meta {
    int level;
    uint64_t number;           /* names the file: <number>.sst */
    uint64_t size;             /* bytes */
    uint8_t *smallest, *largest; /* internal keys, owned */
    size_t smallest_len, largest_len;
    uint64_t smallest_seq, largest_seq;
} file_meta;

typedef struct vedit_deleted {
    int level;
    uint64_t number;
} vedit_deleted;

typedef struct vedit {
    int has_wal_offset, has_next_file, has_last_seq;
    uint64_t wal_offset, next_file, last_seq;
    vedit_deleted *deleted;
    size_t ndeleted, deleted_cap;
    file_meta *added;
    size_t nadded, added_cap;
} vedit;

void vedit_init(vedit *e);
void vedit_free(vedit *e);

void vedit_set_wal_offset(vedit *e, uint64_t v);
void vedit_set_next_file(vedit *e, uint64_t v);
void vedit_set_last_seq(vedit *e, uint64_t v);

/* Records a table leaving `level`. LSMLOG_E_NOMEM. */
int vedit_delete_file(vedit *e, int level, uint64_t number);

/* Records a table joining `level`; the keys are copied. LSMLOG_E_NOMEM. */
int vedit_add_file(vedit *e, int level, uint64_t number, uint64_t size, const uint8_t *smallest,
                   size_t slen, const uint8_t *largest, size_t llen, uint64_t smallest_seq,
                   uint64_t largest_seq);

/* Encodes e into a new buffer (*out owned by the caller, lm_free). */
int vedit_encode(const vedit *e, uint8_t **out, size_t *len);

/* Decodes an edit into e (initialised). LSMLOG_E_CORRUPT names `what` (the
 * manifest's path and record offset) and the byte position; e is left empty. */
int vedit_decode(vedit *e, const uint8_t *p, size_t len, const char *what);

void file_meta_free(file_meta *f);

#endif

/* version_edit.c — encoding and decoding manifest edits. */
#include "version_edit.h"

#include "alloc.h"
#include "coding.h"
#include "dbformat.h"
#include "lsmlog.h"
#include "status.h"

#include <string.h>

enum { TAG_WAL_OFFSET = 1, TAG_NEXT_FILE = 2, TAG_LAST_SEQ = 3, TAG_DELETED = 4, TAG_ADDED = 5 };

void vedit_init(vedit *e) { memset(e, 0, sizeof *e); }

void file_meta_free(file_meta *f) {
    lm_free(f->smallest);
    lm_free(f->largest);
    f->smallest = f->largest = NULL;
}

void vedit_free(vedit *e) {
    for (size_t i = 0; i < e->nadded; i++) file_meta_free(&e->added[i]);
    lm_free(e->added);
    lm_free(e->deleted);
    vedit_init(e);
}

void vedit_set_wal_offset(vedit *e, uint64_t v) { e->has_wal_offset = 1, e->wal_offset = v; }
void vedit_set_next_file(vedit *e, uint64_t v) { e->has_next_file = 1, e->next_file = v; }
void vedit_set_last_seq(vedit *e, uint64_t v) { e->has_last_seq = 1, e->last_seq = v; }

static int grow(void **v, size_t *cap, size_t n, size_t size) {
    if (n < *cap) return LSMLOG_OK;
    size_t c = *cap ? *cap * 2 : 4;
    void *nv = lm_realloc(*v, c * size);
    if (!nv) return st_error(LSMLOG_E_NOMEM, "out of memory building a version edit");
    *v = nv;
    *cap = c;
    return LSMLOG_OK;
}

int vedit_delete_file(vedit *e, int level, uint64_t number) {
    int rc = grow((void **)&e->deleted, &e->deleted_cap, e->ndeleted, sizeof *e->deleted);
    if (rc) return rc;
    e->deleted[e->ndeleted++] = (vedit_deleted){level, number};
    return LSMLOG_OK;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n) {
    uint8_t *d = lm_malloc(n);
    if (d && n) memcpy(d, p, n);
    return d;
}

int vedit_add_file(vedit *e, int level, uint64_t number, uint64_t size, const uint8_t *smallest,
                   size_t slen, const uint8_t *largest, size_t llen, uint64_t smallest_seq,
                   uint64_t largest_seq) {
    if (level < 0 || level >= DB_LEVELS || slen < IKEY_TRAILER_SIZE || llen < IKEY_TRAILER_SIZE ||
        ikey_cmp(smallest, slen, largest, llen) > 0)
        return st_error(LSMLOG_E_INVALID, "version edit: table %llu has a bad level or key range",
                        (unsigned long long)number);
    int rc = grow((void **)&e->added, &e->added_cap, e->nadded, sizeof *e->added);
    if (rc) return rc;
    file_meta f = {level, number, size, dup_bytes(smallest, slen), dup_bytes(largest, llen), slen, llen,
                   smallest_seq, largest_seq};
    if (!f.smallest || !f.largest) {
        file_meta_free(&f);
        return st_error(LSMLOG_E_NOMEM, "out of memory building a version edit");
    }
    e->added[e->nadded++] = f;
    return LSMLOG_OK;
}

int vedit_encode(const vedit *e, uint8_t **out, size_t *len) {
    size_t cap = 3 * 15 + e->ndeleted * 20;
    for (size_t i = 0; i < e->nadded; i++) cap += 60 + e->added[i].smallest_len + e->added[i].largest_len;
    uint8_t *b = lm_malloc(cap), *p = b;
    if (!b) return st_error(LSMLOG_E_NOMEM, "out of memory encoding a version edit");
    if (e->has_wal_offset) p = put_varint(put_varint(p, TAG_WAL_OFFSET), e->wal_offset);
    if (e->has_next_file) p = put_varint(put_varint(p, TAG_NEXT_FILE), e->next_file);
    if (e->has_last_seq) p = put_varint(put_varint(p, TAG_LAST_SEQ), e->last_seq);
    for (size_t i = 0; i < e->ndeleted; i++) {
        p = put_varint(p, TAG_DELETED);
        p = put_varint(p, (uint64_t)e->deleted[i].level);
        p = put_varint(p, e->deleted[i].number);
    }
    for (size_t i = 0; i < e->nadded; i++) {
        const file_meta *f = &e->added[i];
        p = put_varint(p, TAG_ADDED);
        p = put_varint(p, (uint64_t)f->level);
        p = put_varint(p, f->number);
        p = put_varint(p, f->size);
        p = put_varint(p, f->smallest_len);
        memcpy(p, f->smallest, f->smallest_len);
        p += f->smallest_len;
        p = put_varint(p, f->largest_len);
        memcpy(p, f->largest, f->largest_len);
        p += f->largest_len;
        p = put_varint(p, f->smallest_seq);
        p = put_varint(p, f->largest_seq);
    }
    *out = b;
    *len = (size_t)(p - b);
    return LSMLOG_OK;
}

static const uint8_t *get_level(const uint8_t *p, const uint8_t *end, int *level) {
    uint64_t v;
    if (!(p = get_varint(p, end, &v, 5)) || v >= DB_LEVELS) return NULL;
    *level = (int)v;
    return p;
}

static const uint8_t *get_bytes(const uint8_t *p, const uint8_t *end, const uint8_t **b, size_t *n) {
    uint64_t v;
    if (!(p = get_varint(p, end, &v, 5)) || v > (uint64_t)(end - p)) return NULL;
    *b = p;
    *n = (size_t)v;
    return p + v;
}

int vedit_decode(vedit *e, const uint8_t *p, size_t len, const char *what) {
    const uint8_t *start = p, *end = p + len;
    vedit_init(e);
    while (p && p < end) {
        const uint8_t *field = p;
        uint64_t tag, v;
        int rc = LSMLOG_OK;
        if (!(p = get_varint(p, end, &tag, 5))) break;
        switch (tag) {
        case TAG_WAL_OFFSET:
        case TAG_NEXT_FILE:
        case TAG_LAST_SEQ:
            if ((p = get_varint(p, end, &v, 10)) == NULL) break;
            if (tag == TAG_WAL_OFFSET) vedit_set_wal_offset(e, v);
            else if (tag == TAG_NEXT_FILE) vedit_set_next_file(e, v);
            else vedit_set_last_seq(e, v);
            break;
        case TAG_DELETED: {
            int level;
            if (!(p = get_level(p, end, &level)) || !(p = get_varint(p, end, &v, 10))) break;
            rc = vedit_delete_file(e, level, v);
            break;
        }
        case TAG_ADDED: {
            int level;
            uint64_t number, size, sseq, lseq;
            const uint8_t *s, *l;
            size_t sl, ll;
            if (!(p = get_level(p, end, &level)) || !(p = get_varint(p, end, &number, 10)) ||
                !(p = get_varint(p, end, &size, 10)) || !(p = get_bytes(p, end, &s, &sl)) ||
                !(p = get_bytes(p, end, &l, &ll)) || !(p = get_varint(p, end, &sseq, 10)) ||
                !(p = get_varint(p, end, &lseq, 10)))
                break;
            /* keys without a trailer, or in the wrong order, would mislead
             * every comparison made with them */
            if (sl < IKEY_TRAILER_SIZE || ll < IKEY_TRAILER_SIZE || ikey_cmp(s, sl, l, ll) > 0) {
                p = NULL;
                break;
            }
            rc = vedit_add_file(e, level, number, size, s, sl, l, ll, sseq, lseq);
            break;
        }
        default:
            p = NULL;
        }
        if (rc) {
            vedit_free(e);
            return rc;
        }
        if (!p) {
            vedit_free(e);
            return st_error(LSMLOG_E_CORRUPT, "%s: malformed version edit field (tag %llu) at byte %zu", what,
                            (unsigned long long)tag, (size_t)(field - start));
        }
    }
    if (!p) {
        vedit_free(e);
        return st_error(LSMLOG_E_CORRUPT, "%s: malformed version edit", what);
    }
    return LSMLOG_OK;
}

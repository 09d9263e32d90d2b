/* db_iter.c — the user-level DB iterator (db_iter.h).
 *
 * The internal iterator holds, for each user key, its entries newest first.
 * Entries newer than the snapshot are invisible; of the visible ones only the
 * newest counts, and it shows the key (a live put) or hides it (a delete or
 * an expired TTL put) together with everything older.
 *
 * Forward (LevelDB's DBIter): the internal iterator stands ON the newest
 * visible entry of the current key; key and value point into it. To step,
 * remember the current user key in skey and skip every entry of it (and of
 * any key whose newest visible entry hides it).
 *
 * Reverse: the internal iterator stands BEFORE every entry of the current
 * key (on an entry of a smaller key, or not valid), and the current key and
 * value are copies in skey / sval. Walking backward meets a key's entries
 * oldest first, so each visible entry overwrites the saved one, and the key
 * is settled only when an entry of a smaller key (or the start) is reached.
 *
 * Switching from reverse to forward steps the internal iterator into the
 * current key's entries and skips them; from forward to reverse, it walks
 * back until the user key changes. */
#include "db_iter.h"

#include <assert.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "coding.h"
#include "dbformat.h"
#include "status.h"

enum { DIR_FORWARD, DIR_REVERSE };

#define TTL_BYTES 8

/* A growable byte buffer. */
typedef struct dbuf {
    uint8_t *p;
    size_t len, cap;
} dbuf;

static int dbuf_reserve(dbuf *b, size_t len) {
    if (len <= b->cap && b->p) return LSMLOG_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < len)
        cap *= 2;
    uint8_t *p = lm_realloc(b->p, cap);
    if (!p) return st_error(LSMLOG_E_NOMEM, "out of memory saving %zu bytes", len);
    b->p = p;
    b->cap = cap;
    return LSMLOG_OK;
}

static int dbuf_set(dbuf *b, const uint8_t *src, size_t len) {
    int rc = dbuf_reserve(b, len);
    if (rc) return rc;
    if (len) memcpy(b->p, src, len);
    b->len = len;
    return LSMLOG_OK;
}

/* Sets b to user key ukey followed by the trailer (a lookup key). */
static int dbuf_set_ikey(dbuf *b, const uint8_t *ukey, size_t ulen, uint64_t trailer) {
    int rc = dbuf_reserve(b, ulen + IKEY_TRAILER_SIZE);
    if (rc) return rc;
    if (ulen) memcpy(b->p, ukey, ulen);
    put_u64(b->p + ulen, trailer);
    b->len = ulen + IKEY_TRAILER_SIZE;
    return LSMLOG_OK;
}

struct db_iter {
    iiter *it; /* owned */
    uint64_t seq;
    db_clock_fn clock;
    void *clock_ctx;
    int64_t now;     /* read at each positioning */
    uint8_t *bounds; /* owned: copies of start, stop, prefix, the prefix's successor */
    const uint8_t *lower, *upper;
    size_t lower_len, upper_len;
    int has_lower, has_upper;
    int dir;
    int valid;
    int status; /* sticky */
    /* Forward: the user key to skip past; also scratch for lookup keys.
     * Reverse: the current user key. */
    dbuf skey;
    dbuf sval; /* reverse: the current value (expiry stripped) */
    /* The current entry, whichever direction. */
    const uint8_t *key, *val;
    size_t klen, vlen;
    int64_t expiry;
};

static const uint8_t empty_bytes[1];

static int64_t system_clock(void *ctx) {
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void db_iter_options_init(db_iter_options *o) {
    memset(o, 0, sizeof *o);
    o->snapshot = UINT64_MAX;
}

static int fail(db_iter *d, int rc) {
    assert(rc != LSMLOG_OK);
    d->status = rc;
    d->valid = 0;
    return rc;
}

static int at_end(db_iter *d) {
    d->valid = 0;
    return LSMLOG_OK;
}

/* The internal iterator's current entry, parsed. */
typedef struct entry {
    const uint8_t *ukey;
    size_t ulen;
    uint64_t seq;
    int type;
} entry;

static int parse_cur(db_iter *d, entry *e) {
    size_t klen;
    const uint8_t *k = iiter_key(d->it, &klen);
    if (ikey_parse(k, klen, &e->ulen, &e->seq, &e->type))
        return fail(
            d, st_error(LSMLOG_E_CORRUPT, "iterator: a malformed internal key of %zu bytes", klen));
    e->ukey = e->ulen ? k : empty_bytes;
    return LSMLOG_OK;
}

/* For a visible entry: its type as the reader sees it (an expired TTL put is
 * a delete), and its value with the expiry stripped. */
static int visible_type(db_iter *d, const entry *e, int *type, const uint8_t **val, size_t *vlen,
                        int64_t *expiry) {
    *expiry = INT64_MAX;
    *type = e->type;
    if (e->type == KT_DELETE) return LSMLOG_OK;
    const uint8_t *v = iiter_value(d->it, vlen);
    if (e->type == KT_PUT_TTL) {
        if (*vlen < TTL_BYTES)
            return fail(d, st_error(LSMLOG_E_CORRUPT,
                                    "iterator: a TTL value of %zu bytes (seq %llu) has no expiry",
                                    *vlen, (unsigned long long)e->seq));
        *expiry = (int64_t)get_u64(v);
        if (*expiry <= d->now) {
            *type = KT_DELETE;
            return LSMLOG_OK;
        }
        v += TTL_BYTES;
        *vlen -= TTL_BYTES;
    }
    *val = *vlen ? v : empty_bytes;
    return LSMLOG_OK;
}

static int below_lower(const db_iter *d, const entry *e) {
    return d->has_lower && ukey_cmp(e->ukey, e->ulen, d->lower, d->lower_len) < 0;
}

static int at_or_above_upper(const db_iter *d, const entry *e) {
    return d->has_upper && ukey_cmp(e->ukey, e->ulen, d->upper, d->upper_len) >= 0;
}

/* Forward: from the internal iterator's position on, the first entry that
 * shows a key. With `skipping`, entries of user keys <= skey are hidden. */
static int find_next(db_iter *d, int skipping) {
    assert(d->dir == DIR_FORWARD);
    int rc;
    while (iiter_valid(d->it)) {
        entry e;
        if ((rc = parse_cur(d, &e))) return rc;
        if (at_or_above_upper(d, &e)) break;
        if (e.seq <= d->seq) {
            int type;
            const uint8_t *v = NULL;
            size_t vlen = 0;
            int64_t expiry;
            if ((rc = visible_type(d, &e, &type, &v, &vlen, &expiry))) return rc;
            if (type == KT_DELETE) {
                /* hides every older entry of the key */
                if ((rc = dbuf_set(&d->skey, e.ukey, e.ulen))) return fail(d, rc);
                skipping = 1;
            } else if (!skipping || ukey_cmp(e.ukey, e.ulen, d->skey.p, d->skey.len) > 0) {
                d->valid = 1;
                d->key = e.ukey;
                d->klen = e.ulen;
                d->val = v;
                d->vlen = vlen;
                d->expiry = expiry;
                return LSMLOG_OK;
            }
        }
        if ((rc = iiter_next(d->it))) return fail(d, rc);
    }
    return at_end(d);
}

/* Reverse: from the internal iterator's position back, the last key shown;
 * leaves the internal iterator before all of its entries. */
static int find_prev(db_iter *d) {
    assert(d->dir == DIR_REVERSE);
    int rc, have = 0; /* skey/sval hold a key that shows */
    int64_t have_expiry = INT64_MAX;
    while (iiter_valid(d->it)) {
        entry e;
        if ((rc = parse_cur(d, &e))) return rc;
        if (below_lower(d, &e)) break;
        if (e.seq <= d->seq) {
            /* A visible entry of a smaller key than the one held settles it:
             * nothing newer of the held key is left to see. */
            if (have && ukey_cmp(e.ukey, e.ulen, d->skey.p, d->skey.len) < 0) break;
            int type;
            const uint8_t *v = NULL;
            size_t vlen = 0;
            int64_t expiry;
            if ((rc = visible_type(d, &e, &type, &v, &vlen, &expiry))) return rc;
            if (type == KT_DELETE) {
                have = 0;
            } else {
                if ((rc = dbuf_set(&d->skey, e.ukey, e.ulen)) || (rc = dbuf_set(&d->sval, v, vlen)))
                    return fail(d, rc);
                have = 1;
                have_expiry = expiry;
            }
        }
        if ((rc = iiter_prev(d->it))) return fail(d, rc);
    }
    if (!have) {
        d->dir = DIR_FORWARD; /* nothing current: the next positioning sets it */
        return at_end(d);
    }
    d->valid = 1;
    d->key = d->skey.len ? d->skey.p : empty_bytes;
    d->klen = d->skey.len;
    d->val = d->sval.len ? d->sval.p : empty_bytes;
    d->vlen = d->sval.len;
    d->expiry = have_expiry;
    return LSMLOG_OK;
}

static void start_positioning(db_iter *d, int dir) {
    d->now = d->clock(d->clock_ctx);
    d->dir = dir;
    d->valid = 0;
}

/* Forward from the first key >= k (k already clamped to the range). */
static int seek_forward(db_iter *d, const uint8_t *k, size_t len) {
    /* The lookup key lands on the newest entry of k visible at the snapshot
     * (or on a later key). skey is free: find_next(.., 0) does not read it. */
    int rc = dbuf_set_ikey(&d->skey, k, len, ikey_lookup_trailer(d->seq));
    if (rc) return fail(d, rc);
    if ((rc = iiter_seek(d->it, d->skey.p, d->skey.len))) return fail(d, rc);
    return find_next(d, 0);
}

int db_iter_seek_to_first(db_iter *d) {
    if (d->status) return d->status;
    start_positioning(d, DIR_FORWARD);
    if (d->has_lower) return seek_forward(d, d->lower, d->lower_len);
    int rc = iiter_seek_to_first(d->it);
    if (rc) return fail(d, rc);
    return find_next(d, 0);
}

int db_iter_seek(db_iter *d, const void *key, size_t len) {
    if (d->status) return d->status;
    start_positioning(d, DIR_FORWARD);
    const uint8_t *k = len ? key : empty_bytes;
    if (d->has_lower && ukey_cmp(k, len, d->lower, d->lower_len) < 0)
        return seek_forward(d, d->lower, d->lower_len);
    return seek_forward(d, k, len);
}

int db_iter_seek_to_last(db_iter *d) {
    if (d->status) return d->status;
    start_positioning(d, DIR_REVERSE);
    int rc;
    if (d->has_upper) {
        /* Before the first entry of `upper`: the trailer of (MAX_SEQ, KT_MAX)
         * sorts before all of them. */
        if ((rc = dbuf_set_ikey(&d->skey, d->upper, d->upper_len, ikey_lookup_trailer(MAX_SEQ))))
            return fail(d, rc);
        if ((rc = iiter_seek(d->it, d->skey.p, d->skey.len))) return fail(d, rc);
        rc = iiter_valid(d->it) ? iiter_prev(d->it) : iiter_seek_to_last(d->it);
    } else {
        rc = iiter_seek_to_last(d->it);
    }
    if (rc) return fail(d, rc);
    return find_prev(d);
}

int db_iter_seek_for_prev(db_iter *d, const void *key, size_t len) {
    if (d->status) return d->status;
    const uint8_t *k = len ? key : empty_bytes;
    if (d->has_upper && ukey_cmp(k, len, d->upper, d->upper_len) >= 0)
        return db_iter_seek_to_last(d);
    start_positioning(d, DIR_REVERSE);
    if (d->has_lower && ukey_cmp(k, len, d->lower, d->lower_len) < 0) {
        d->dir = DIR_FORWARD;
        return at_end(d);
    }
    /* Past every entry of k: the trailer 0 (seq 0, delete) is the last one a
     * key can have; step over it when it is there. */
    int rc = dbuf_set_ikey(&d->skey, k, len, 0);
    if (rc) return fail(d, rc);
    if ((rc = iiter_seek(d->it, d->skey.p, d->skey.len))) return fail(d, rc);
    if (iiter_valid(d->it)) {
        size_t klen;
        const uint8_t *ik = iiter_key(d->it, &klen);
        if (klen == d->skey.len && memcmp(ik, d->skey.p, klen) == 0 && (rc = iiter_next(d->it)))
            return fail(d, rc);
    }
    rc = iiter_valid(d->it) ? iiter_prev(d->it) : iiter_seek_to_last(d->it);
    if (rc) return fail(d, rc);
    return find_prev(d);
}

int db_iter_next(db_iter *d) {
    if (d->status) return d->status;
    assert(d->valid);
    int rc;
    if (d->dir == DIR_REVERSE) {
        /* The internal iterator stands before the current key's entries and
         * skey holds the key: step into them, and skip them below. */
        d->dir = DIR_FORWARD;
        rc = iiter_valid(d->it) ? iiter_next(d->it) : iiter_seek_to_first(d->it);
    } else {
        if ((rc = dbuf_set(&d->skey, d->key, d->klen))) return fail(d, rc);
        rc = iiter_next(d->it);
    }
    if (rc) return fail(d, rc);
    return find_next(d, 1);
}

int db_iter_prev(db_iter *d) {
    if (d->status) return d->status;
    assert(d->valid);
    int rc;
    if (d->dir == DIR_FORWARD) {
        /* The internal iterator stands on the current key's newest visible
         * entry: walk back before all of its entries. */
        if ((rc = dbuf_set(&d->skey, d->key, d->klen))) return fail(d, rc);
        for (;;) {
            if ((rc = iiter_prev(d->it))) return fail(d, rc);
            if (!iiter_valid(d->it)) return at_end(d);
            entry e;
            if ((rc = parse_cur(d, &e))) return rc;
            if (ukey_cmp(e.ukey, e.ulen, d->skey.p, d->skey.len) < 0) break;
        }
        d->dir = DIR_REVERSE;
    }
    return find_prev(d);
}

int db_iter_valid(const db_iter *d) {
    return d->valid;
}

int db_iter_status(const db_iter *d) {
    return d->status;
}

const uint8_t *db_iter_key(const db_iter *d, size_t *len) {
    assert(d->valid);
    *len = d->klen;
    return d->key;
}

const uint8_t *db_iter_value(const db_iter *d, size_t *len) {
    assert(d->valid);
    *len = d->vlen;
    return d->val;
}

int64_t db_iter_expiry(const db_iter *d) {
    assert(d->valid);
    return d->expiry;
}

/* Copies len bytes to *p (advancing it); an empty key is empty_bytes. */
static const uint8_t *copy_bound(uint8_t **p, const uint8_t *src, size_t len) {
    if (!len) return empty_bytes;
    uint8_t *dst = *p;
    memcpy(dst, src, len);
    *p += len;
    return dst;
}

int db_iter_new(iiter *internal, const db_iter_options *o, db_iter **out) {
    db_iter_options defaults;
    if (!o) {
        db_iter_options_init(&defaults);
        o = &defaults;
    }
    /* The range [lower, upper): the larger of start and prefix below, the
     * smaller of stop and the prefix's successor above. The successor is
     * the prefix with its last byte below 0xff raised by one and the rest
     * cut: every key beginning with the prefix sorts below it, every other
     * key >= the prefix at or above it. A prefix of only 0xff bytes (or an
     * empty one) has none: no upper bound from it. */
    const uint8_t *start = o->start, *stop = o->stop, *pre = o->prefix;
    size_t succ_len = 0;
    if (pre)
        for (succ_len = o->prefix_len; succ_len > 0 && pre[succ_len - 1] == 0xff; succ_len--)
            ;
    size_t nbytes = (start ? o->start_len : 0) + (stop ? o->stop_len : 0) +
                    (pre ? o->prefix_len + succ_len : 0);
    db_iter *d = lm_calloc(1, sizeof *d);
    uint8_t *bounds = nbytes ? lm_malloc(nbytes) : NULL;
    if (!d || (nbytes && !bounds)) {
        lm_free(d);
        lm_free(bounds);
        iiter_close(internal);
        return st_error(LSMLOG_E_NOMEM, "out of memory making a DB iterator");
    }
    d->it = internal;
    d->seq = o->snapshot > MAX_SEQ ? MAX_SEQ : o->snapshot;
    d->clock = o->clock ? o->clock : system_clock;
    d->clock_ctx = o->clock ? o->clock_ctx : NULL;
    d->bounds = bounds;
    d->dir = DIR_FORWARD;

    uint8_t *p = bounds;
    if (start) {
        d->has_lower = 1;
        d->lower = copy_bound(&p, start, o->start_len);
        d->lower_len = o->start_len;
    }
    if (stop) {
        d->has_upper = 1;
        d->upper = copy_bound(&p, stop, o->stop_len);
        d->upper_len = o->stop_len;
    }
    if (pre) {
        const uint8_t *cp = copy_bound(&p, pre, o->prefix_len);
        if (!d->has_lower || ukey_cmp(cp, o->prefix_len, d->lower, d->lower_len) > 0) {
            d->has_lower = 1;
            d->lower = cp;
            d->lower_len = o->prefix_len;
        }
        if (succ_len) {
            uint8_t *succ = p;
            memcpy(succ, pre, succ_len);
            succ[succ_len - 1]++;
            p += succ_len;
            if (!d->has_upper || ukey_cmp(succ, succ_len, d->upper, d->upper_len) < 0) {
                d->has_upper = 1;
                d->upper = succ;
                d->upper_len = succ_len;
            }
        }
    }
    assert(nbytes == 0 || (size_t)(p - bounds) == nbytes);
    *out = d;
    return LSMLOG_OK;
}

void db_iter_close(db_iter *d) {
    if (!d) return;
    iiter_close(d->it);
    lm_free(d->bounds);
    lm_free(d->skey.p);
    lm_free(d->sval.p);
    lm_free(d);
}

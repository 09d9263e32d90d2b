/* test_db_iter.c — the internal iterators (iter.h: memtable, table and level
 * adapters), the merging iterator (merge_iter.h) and the user-level DB
 * iterator (db_iter.h), checked against a reference model.
 *
 * A "world" is a random history of puts, deletes and TTL puts over a small
 * key space (many versions per key; keys of 0-4 bytes from {00, 'a', 'b',
 * ff}, so prefixes, the empty key and 0xff successors all occur), spread at
 * random over real memtables, level-0 tables and three levels of
 * non-overlapping tables opened lazily. The model is the sorted array of all
 * entries; from it, what a user should see at a snapshot, a time and within
 * bounds is computed the slow, obvious way, and every step of random walks
 * (first, last, seek, seek_for_prev, next, prev, direction switches) is
 * compared with it. Damage to a table read after open, a table that will not
 * open, a malformed TTL value and failing allocations must surface as a
 * status, never as wrong data. SEED= replays a run. */
#include "alloc.h"
#include "db_iter.h"
#include "dbformat.h"
#include "iter.h"
#include "memtable.h"
#include "merge_iter.h"
#include "sst_builder.h"
#include "sst_reader.h"
#include "status.h"
#include "test_util.h"
#include "version.h"

#include <stdatomic.h>

#define MAXK 4 /* longest user key */
#define NMEM 3 /* memtables */
#define NL0 4  /* level-0 tables */
#define NLEV 3 /* levels >= 1 */
#define NSRC (NMEM + NL0 + NLEV)

static const uint8_t alphabet[4] = {0x00, 'a', 'b', 0xff};

/* ---- the model ----------------------------------------------------------- */

typedef struct ent {
    uint8_t uk[MAXK];
    size_t ulen;
    uint64_t seq;
    int type;
    uint8_t *val; /* as stored: a TTL value starts with its expiry */
    size_t vlen;
    int64_t expiry; /* TTL puts only */
    uint8_t ik[MAXK + 8];
    size_t iklen;
    int src;
} ent;

/* CHECK_OK as an expression, for loop headers. */
static void must(int rc) {
    CHECK_OK(rc);
}

static int ent_cmp(const void *a, const void *b) {
    const ent *x = a, *y = b;
    return ikey_cmp(x->ik, x->iklen, y->ik, y->iklen);
}

static size_t rand_ukey(uint8_t *k) {
    size_t n = (size_t)tu_rand_below(MAXK + 1);
    for (size_t i = 0; i < n; i++)
        k[i] = alphabet[tu_rand_below(4)];
    return n;
}

/* What the user sees: one key with its value, or its expiry. */
typedef struct vis {
    const uint8_t *k;
    size_t klen;
    const uint8_t *v;
    size_t vlen;
    int64_t expiry;
} vis;

typedef struct bounds {
    int has_start, has_stop, has_prefix;
    uint8_t start[MAXK], stop[MAXK], prefix[MAXK];
    size_t start_len, stop_len, prefix_len;
} bounds;

static int in_bounds(const bounds *b, const uint8_t *k, size_t klen) {
    if (b->has_start && ukey_cmp(k, klen, b->start, b->start_len) < 0) return 0;
    if (b->has_stop && ukey_cmp(k, klen, b->stop, b->stop_len) >= 0) return 0;
    if (b->has_prefix &&
        (klen < b->prefix_len || (b->prefix_len && memcmp(k, b->prefix, b->prefix_len) != 0)))
        return 0;
    return 1;
}

/* The keys shown at (snap, now) within b, in order: for each user key, its
 * newest entry with seq <= snap decides; a delete or an expired TTL put
 * hides the key. out holds n entries at most. */
static size_t model_visible(const ent *e, size_t n, uint64_t snap, int64_t now, const bounds *b,
                            vis *out) {
    size_t nv = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && ukey_cmp(e[j].uk, e[j].ulen, e[i].uk, e[i].ulen) == 0)
            j++;
        for (size_t k = i; k < j; k++) {
            if (e[k].seq > snap) continue;
            const ent *x = &e[k];
            int shown = x->type == KT_PUT || (x->type == KT_PUT_TTL && x->expiry > now);
            if (shown && in_bounds(b, x->uk, x->ulen)) {
                vis *v = &out[nv++];
                v->k = x->uk;
                v->klen = x->ulen;
                v->v = x->type == KT_PUT_TTL ? x->val + 8 : x->val;
                v->vlen = x->type == KT_PUT_TTL ? x->vlen - 8 : x->vlen;
                v->expiry = x->type == KT_PUT_TTL ? x->expiry : INT64_MAX;
            }
            break;
        }
        i = j;
    }
    return nv;
}

/* ---- tables and levels ----------------------------------------------------- */

/* One level's opener state: it counts opens and the table iterators alive. */
typedef struct level_ctx {
    const char *dir;
    int live, max_live;
    unsigned long opens;
    uint64_t last_opened;
    uint64_t fail_number; /* the opener refuses this table (0: none) */
} level_ctx;

typedef struct opened {
    sst_reader *r;
    level_ctx *l;
} opened;

static void table_path(char *buf, size_t cap, const char *dir, uint64_t number) {
    snprintf(buf, cap, "%s/%06llu.sst", dir, (unsigned long long)number);
}

static void close_opened(void *arg) {
    opened *o = arg;
    sst_reader_close(o->r);
    o->l->live--;
    free(o);
}

static int open_table(void *ctx, const file_meta *f, iiter **out) {
    level_ctx *l = ctx;
    CHECKF(l->live == 0, "a level opened table %llu with %d table(s) still open",
           (unsigned long long)f->number, l->live);
    if (f->number == l->fail_number)
        return st_error(LSMLOG_E_IO, "test: table %llu refused", (unsigned long long)f->number);
    char path[512];
    table_path(path, sizeof path, l->dir, f->number);
    sst_reader *r = NULL;
    int rc = sst_reader_open(path, f->number, NULL, ikey_cmp, &r);
    if (rc) return rc;
    iiter *it = NULL;
    if ((rc = iter_from_sst(r, &it))) {
        sst_reader_close(r);
        return rc;
    }
    opened *o = malloc(sizeof *o);
    o->r = r;
    o->l = l;
    iiter_set_cleanup(it, close_opened, o);
    l->opens++;
    l->last_opened = f->number;
    if (++l->live > l->max_live) l->max_live = l->live;
    *out = it;
    return LSMLOG_OK;
}

typedef struct world {
    const char *dir;
    ent *e; /* every entry, in internal key order */
    size_t n;
    memtable *mem[NMEM];
    sst_reader *l0[NL0];
    uint64_t l0_number[NL0];
    table_file **lev[NLEV];
    size_t nlev[NLEV];
    level_ctx lctx[NLEV];
    uint64_t next_number;
} world;

/* Writes entries (pointers, in order) to a new table; returns its number. */
static uint64_t build_table(world *w, ent **es, size_t n) {
    uint64_t number = w->next_number++;
    char path[512];
    table_path(path, sizeof path, w->dir, number);
    sst_options o;
    sst_options_init(&o, ikey_cmp);
    o.block_size = 64 + (size_t)tu_rand_below(400); /* many blocks per table */
    o.restart_interval = 1 + (uint32_t)tu_rand_below(8);
    o.bloom_bits = (int)tu_rand_below(2) * 10;
    sst_builder *b = NULL;
    CHECK_OK(sst_builder_open(path, &o, &b));
    for (size_t i = 0; i < n; i++)
        CHECK_OK(sst_builder_add(b, es[i]->ik, es[i]->iklen, es[i]->val, es[i]->vlen));
    CHECK_OK(sst_builder_finish(b, 0, NULL));
    sst_builder_free(b);
    return number;
}

static table_file *make_file(int level, uint64_t number, const ent *first, const ent *last) {
    table_file *t = calloc(1, sizeof *t);
    t->meta.level = level;
    t->meta.number = number;
    t->meta.smallest = malloc(first->iklen);
    memcpy(t->meta.smallest, first->ik, first->iklen);
    t->meta.smallest_len = first->iklen;
    t->meta.largest = malloc(last->iklen);
    memcpy(t->meta.largest, last->ik, last->iklen);
    t->meta.largest_len = last->iklen;
    return t;
}

/* A random world of n entries (seqs 1..n) over nkeys user keys. Each entry
 * goes to a random source: a memtable, a level-0 table (either may end up
 * empty) or a level, whose entries are cut into tables of random sizes at
 * arbitrary points (a user key may straddle two tables; their internal key
 * ranges never overlap). maxval > 300 makes some values span blocks. */
static void world_make(world *w, const char *dir, size_t nkeys, size_t n, size_t maxval) {
    memset(w, 0, sizeof *w);
    w->dir = dir;
    w->next_number = 1;
    uint8_t keys[400][MAXK];
    size_t klens[400];
    if (nkeys > 400) nkeys = 400;
    size_t nk = 0;
    for (int tries = 0; nk < nkeys && tries < 100000; tries++) {
        uint8_t k[MAXK];
        size_t kl = rand_ukey(k);
        int dup = 0;
        for (size_t i = 0; i < nk && !dup; i++)
            dup = klens[i] == kl && memcmp(keys[i], k, kl) == 0;
        if (dup) continue;
        memcpy(keys[nk], k, kl);
        klens[nk++] = kl;
    }
    w->e = calloc(n ? n : 1, sizeof *w->e);
    w->n = n;
    for (size_t i = 0; i < n; i++) {
        ent *x = &w->e[i];
        /* half the writes go to a few hot keys: long version chains */
        size_t ki = tu_rand_below(2) ? tu_rand_below(nk < 6 ? nk : 6) : tu_rand_below(nk);
        memcpy(x->uk, keys[ki], klens[ki]);
        x->ulen = klens[ki];
        x->seq = i + 1;
        uint64_t r = tu_rand_below(100);
        x->type = r < 22 ? KT_DELETE : r < 50 ? KT_PUT_TTL : KT_PUT;
        size_t vl = x->type == KT_DELETE ? 0
                    : tu_rand_below(20)  ? (size_t)tu_rand_below(24)
                                         : (size_t)tu_rand_below(maxval + 1);
        if (x->type == KT_PUT_TTL) {
            x->expiry = 900 + (int64_t)tu_rand_below(1201); /* now is 1000..2000 */
            x->vlen = vl + 8;
        } else {
            x->vlen = vl;
        }
        x->val = malloc(x->vlen ? x->vlen : 1);
        uint64_t st = tu_rand();
        tu_fill_random(&st, x->val, x->vlen);
        if (x->type == KT_PUT_TTL) tu_put_u64(x->val, (uint64_t)x->expiry);
        memcpy(x->ik, x->uk, x->ulen);
        tu_put_u64(x->ik + x->ulen, ikey_pack(x->seq, x->type));
        x->iklen = x->ulen + 8;
        x->src = (int)tu_rand_below(NSRC);
    }
    qsort(w->e, n, sizeof *w->e, ent_cmp);

    ent **pick = malloc((n ? n : 1) * sizeof *pick);
    for (int m = 0; m < NMEM; m++) {
        CHECK_OK(memtable_new(&w->mem[m], 4096));
        for (size_t i = 0; i < n; i++)
            if (w->e[i].src == m)
                CHECK_OK(memtable_add(w->mem[m], w->e[i].seq, w->e[i].type, w->e[i].uk,
                                      w->e[i].ulen, w->e[i].val, w->e[i].vlen));
    }
    for (int t = 0; t < NL0; t++) {
        size_t np = 0;
        for (size_t i = 0; i < n; i++)
            if (w->e[i].src == NMEM + t) pick[np++] = &w->e[i];
        w->l0_number[t] = build_table(w, pick, np);
        char path[512];
        table_path(path, sizeof path, dir, w->l0_number[t]);
        CHECK_OK(sst_reader_open(path, w->l0_number[t], NULL, ikey_cmp, &w->l0[t]));
    }
    for (int L = 0; L < NLEV; L++) {
        size_t np = 0;
        for (size_t i = 0; i < n; i++)
            if (w->e[i].src == NMEM + NL0 + L) pick[np++] = &w->e[i];
        w->lev[L] = calloc(np + 1, sizeof *w->lev[L]);
        for (size_t s = 0; s < np;) {
            size_t take = 1 + (size_t)tu_rand_below(np / 4 + 8);
            if (take > np - s) take = np - s;
            uint64_t number = build_table(w, pick + s, take);
            w->lev[L][w->nlev[L]++] = make_file(L + 1, number, pick[s], pick[s + take - 1]);
            s += take;
        }
        w->lctx[L].dir = dir;
    }
    free(pick);
}

static void world_free(world *w) {
    for (int m = 0; m < NMEM; m++)
        memtable_unref(w->mem[m]);
    for (int t = 0; t < NL0; t++)
        sst_reader_close(w->l0[t]);
    for (int L = 0; L < NLEV; L++) {
        for (size_t i = 0; i < w->nlev[L]; i++) {
            free(w->lev[L][i]->meta.smallest);
            free(w->lev[L][i]->meta.largest);
            free(w->lev[L][i]);
        }
        free(w->lev[L]);
    }
    for (size_t i = 0; i < w->n; i++)
        free(w->e[i].val);
    free(w->e);
}

/* The merged internal iterator over every source, newest first as the DB
 * orders them. */
static int world_merged(world *w, iiter **out) {
    iiter *kids[NSRC];
    size_t nk = 0;
    int rc = LSMLOG_OK;
    for (int m = NMEM - 1; m >= 0 && !rc; m--)
        if (!(rc = iter_from_memtable(w->mem[m], &kids[nk]))) nk++;
    for (int t = NL0 - 1; t >= 0 && !rc; t--)
        if (!(rc = iter_from_sst(w->l0[t], &kids[nk]))) nk++;
    for (int L = 0; L < NLEV && !rc; L++)
        if (!(rc = iter_level(w->lev[L], w->nlev[L], open_table, &w->lctx[L], &kids[nk]))) nk++;
    if (rc) {
        for (size_t i = 0; i < nk; i++)
            iiter_close(kids[i]);
        return rc;
    }
    return merge_iter_new(kids, nk, out);
}

/* ---- the clock ---------------------------------------------------------- */

static int64_t g_now;
static unsigned long g_clock_calls;

static int64_t test_clock(void *ctx) {
    CHECK(ctx == &g_now);
    g_clock_calls++;
    return *(int64_t *)ctx;
}

static void random_bounds(bounds *b) {
    memset(b, 0, sizeof *b);
    if (tu_rand_below(3) == 0) {
        b->has_start = 1;
        b->start_len = rand_ukey(b->start);
    }
    if (tu_rand_below(3) == 0) {
        b->has_stop = 1;
        b->stop_len = rand_ukey(b->stop);
    }
    if (tu_rand_below(3) == 0) {
        b->has_prefix = 1;
        b->prefix_len = (size_t)tu_rand_below(3);
        for (size_t i = 0; i < b->prefix_len; i++)
            b->prefix[i] = alphabet[tu_rand_below(4)];
    }
}

static int open_db_iter(world *w, uint64_t snap, const bounds *b, db_iter **out) {
    iiter *m = NULL;
    int rc = world_merged(w, &m);
    if (rc) return rc;
    db_iter_options o;
    db_iter_options_init(&o);
    o.snapshot = snap;
    static const uint8_t nothing[1];
    if (b && b->has_start) {
        o.start = b->start_len ? b->start : nothing;
        o.start_len = b->start_len;
    }
    if (b && b->has_stop) {
        o.stop = b->stop_len ? b->stop : nothing;
        o.stop_len = b->stop_len;
    }
    if (b && b->has_prefix) {
        o.prefix = b->prefix_len ? b->prefix : nothing;
        o.prefix_len = b->prefix_len;
    }
    o.clock = test_clock;
    o.clock_ctx = &g_now;
    return db_iter_new(m, &o, out);
}

/* ---- comparing -------------------------------------------------------------- */

static char *hex(const uint8_t *p, size_t n, char *buf) {
    char *q = buf;
    for (size_t i = 0; i < n && i < 16; i++)
        q += sprintf(q, "%02x", p[i]);
    *q = 0;
    return buf;
}

/* The iterator must be on v[idx] (idx in range) or not valid. */
static void check_at(const db_iter *d, const vis *v, size_t nv, long idx, const char *op,
                     int step) {
    CHECKF(db_iter_status(d) == LSMLOG_OK, "step %d (%s): status %d", step, op, db_iter_status(d));
    if (idx < 0 || (size_t)idx >= nv) {
        if (db_iter_valid(d)) {
            size_t kl;
            const uint8_t *k = db_iter_key(d, &kl);
            char hb[40];
            CHECKF(0, "step %d (%s): valid at key %s (%zu bytes), want the end", step, op,
                   hex(k, kl, hb), kl);
        }
        return;
    }
    char h1[40], h2[40];
    CHECKF(db_iter_valid(d), "step %d (%s): not valid, want key %s (%zu bytes), #%ld of %zu", step,
           op, hex(v[idx].k, v[idx].klen, h1), v[idx].klen, idx, nv);
    size_t kl, vl;
    const uint8_t *k = db_iter_key(d, &kl);
    const uint8_t *val = db_iter_value(d, &vl);
    CHECK(k != NULL && val != NULL);
    CHECKF(kl == v[idx].klen && (kl == 0 || memcmp(k, v[idx].k, kl) == 0),
           "step %d (%s): key %s (%zu bytes), want %s (%zu bytes), #%ld of %zu", step, op,
           hex(k, kl, h1), kl, hex(v[idx].k, v[idx].klen, h2), v[idx].klen, idx, nv);
    CHECKF(vl == v[idx].vlen && (vl == 0 || memcmp(val, v[idx].v, vl) == 0),
           "step %d (%s): key %s: value of %zu bytes differs (want %zu)", step, op, hex(k, kl, h1),
           vl, v[idx].vlen);
    CHECK_EQ_INT(db_iter_expiry(d), v[idx].expiry);
}

/* The first visible index with key >= k, or the last with key <= k. */
static long lower_idx(const vis *v, size_t nv, const uint8_t *k, size_t kl) {
    size_t i = 0;
    while (i < nv && ukey_cmp(v[i].k, v[i].klen, k, kl) < 0)
        i++;
    return (long)i;
}
static long floor_idx(const vis *v, size_t nv, const uint8_t *k, size_t kl) {
    long i = (long)nv - 1;
    while (i >= 0 && ukey_cmp(v[i].k, v[i].klen, k, kl) > 0)
        i--;
    return i;
}

/* ---- the user iterator against the model ------------------------------------ */

static uint64_t random_snapshot(const world *w) {
    switch (tu_rand_below(6)) {
    case 0:
        return 0;
    case 1:
        return UINT64_MAX;
    case 2:
        return w->n;
    default:
        return 1 + tu_rand_below(w->n ? w->n : 1);
    }
}

static void walk_world(world *w, int rounds, int ops) {
    vis *v = malloc((w->n + 1) * sizeof *v);
    for (int round = 0; round < rounds; round++) {
        uint64_t snap = random_snapshot(w);
        bounds b;
        random_bounds(&b);
        db_iter *d = NULL;
        CHECK_OK(open_db_iter(w, snap, &b, &d));
        CHECK(!db_iter_valid(d));
        size_t nv = 0;
        long idx = -1;
        int positioned = 0;
        for (int step = 0; step < ops; step++) {
            /* time moves whenever it likes; the iterator reads it only
             * when positioned */
            if (tu_rand_below(3) == 0) g_now = 1000 + (int64_t)tu_rand_below(1001);
            unsigned long calls = g_clock_calls;
            int op = (int)tu_rand_below(10);
            if (!positioned || !db_iter_valid(d)) op = (int)tu_rand_below(4);
            /* 8 bytes at least: GCC's -Warray-bounds cannot see that kl <=
             * MAXK and judges ukey_cmp's 8-byte loads against the array */
            uint8_t k[MAXK < 8 ? 8 : MAXK];
            size_t kl = 0;
            const char *name = "?";
            switch (op) {
            case 0:
                name = "first";
                CHECK_OK(db_iter_seek_to_first(d));
                nv = model_visible(w->e, w->n, snap, g_now, &b, v);
                idx = 0;
                break;
            case 1:
                name = "last";
                CHECK_OK(db_iter_seek_to_last(d));
                nv = model_visible(w->e, w->n, snap, g_now, &b, v);
                idx = (long)nv - 1;
                break;
            case 2:
                name = "seek";
                kl = rand_ukey(k);
                CHECK_OK(db_iter_seek(d, k, kl));
                nv = model_visible(w->e, w->n, snap, g_now, &b, v);
                idx = lower_idx(v, nv, k, kl);
                break;
            case 3:
                name = "seek_for_prev";
                kl = rand_ukey(k);
                CHECK_OK(db_iter_seek_for_prev(d, k, kl));
                nv = model_visible(w->e, w->n, snap, g_now, &b, v);
                idx = floor_idx(v, nv, k, kl);
                break;
            default:
                /* runs in one direction, with switches between them */
                if (op < 7) {
                    name = "next";
                    CHECK_OK(db_iter_next(d));
                    idx++;
                } else {
                    name = "prev";
                    CHECK_OK(db_iter_prev(d));
                    idx--;
                }
                CHECKF(g_clock_calls == calls, "%s read the clock", name);
                break;
            }
            if (op < 4) CHECKF(g_clock_calls == calls + 1, "%s did not read the clock once", name);
            positioned = 1;
            check_at(d, v, nv, idx, name, step);
        }
        /* now a whole walk one way, sometimes the other */
        if (tu_rand_below(2)) {
            CHECK_OK(db_iter_seek_to_first(d));
            nv = model_visible(w->e, w->n, snap, g_now, &b, v);
            for (size_t i = 0; i < nv; i++) {
                check_at(d, v, nv, (long)i, "scan", (int)i);
                CHECK_OK(db_iter_next(d));
            }
            check_at(d, v, nv, (long)nv, "scan end", (int)nv);
        } else {
            CHECK_OK(db_iter_seek_to_last(d));
            nv = model_visible(w->e, w->n, snap, g_now, &b, v);
            for (long i = (long)nv - 1; i >= 0; i--) {
                check_at(d, v, nv, i, "reverse scan", (int)i);
                CHECK_OK(db_iter_prev(d));
            }
            check_at(d, v, nv, -1, "reverse scan end", 0);
        }
        db_iter_close(d);
        for (int L = 0; L < NLEV; L++) {
            CHECK_EQ_INT(w->lctx[L].live, 0); /* closing closed the level's table */
            CHECK(w->lctx[L].max_live <= 1);
        }
    }
    free(v);
}

/* ---- the merged internal iterator against the model -------------------------- */

static void check_ikey_at(const iiter *it, const world *w, long idx, int step) {
    CHECK_OK(iiter_status(it));
    if (idx < 0 || (size_t)idx >= w->n) {
        CHECKF(!iiter_valid(it), "step %d: valid, want the end (idx %ld)", step, idx);
        return;
    }
    CHECKF(iiter_valid(it), "step %d: not valid, want #%ld of %zu", step, idx, w->n);
    size_t kl, vl;
    const uint8_t *k = iiter_key(it, &kl), *val = iiter_value(it, &vl);
    const ent *x = &w->e[idx];
    CHECKF(kl == x->iklen && memcmp(k, x->ik, kl) == 0, "step %d: key differs at #%ld", step, idx);
    CHECKF(vl == x->vlen && (vl == 0 || memcmp(val, x->val, vl) == 0),
           "step %d: value differs at #%ld", step, idx);
}

static void walk_merged(world *w, int rounds, int ops) {
    for (int round = 0; round < rounds; round++) {
        iiter *m = NULL;
        CHECK_OK(world_merged(w, &m));
        CHECK(!iiter_valid(m));
        long idx = -1;
        for (int step = 0; step < ops; step++) {
            int op = (int)tu_rand_below(8);
            if (!iiter_valid(m)) op = (int)tu_rand_below(3);
            switch (op) {
            case 0:
                CHECK_OK(iiter_seek_to_first(m));
                idx = 0;
                break;
            case 1:
                CHECK_OK(iiter_seek_to_last(m));
                idx = (long)w->n - 1;
                break;
            case 2: {
                uint8_t k[MAXK + 8];
                size_t kl = rand_ukey(k);
                uint64_t seq = tu_rand_below(w->n + 2);
                tu_put_u64(k + kl, ikey_pack(seq, (int)tu_rand_below(3)));
                CHECK_OK(iiter_seek(m, k, kl + 8));
                idx = 0;
                while ((size_t)idx < w->n && ikey_cmp(w->e[idx].ik, w->e[idx].iklen, k, kl + 8) < 0)
                    idx++;
                break;
            }
            default:
                if (op < 5) {
                    CHECK_OK(iiter_next(m));
                    idx++;
                } else {
                    CHECK_OK(iiter_prev(m));
                    idx--;
                }
                break;
            }
            check_ikey_at(m, w, idx, step);
        }
        iiter_close(m);
    }
    /* one whole walk each way */
    iiter *m = NULL;
    CHECK_OK(world_merged(w, &m));
    CHECK_OK(iiter_seek_to_first(m));
    for (size_t i = 0; i < w->n; i++) {
        check_ikey_at(m, w, (long)i, (int)i);
        CHECK_OK(iiter_next(m));
    }
    CHECK(!iiter_valid(m));
    CHECK_OK(iiter_seek_to_last(m));
    for (long i = (long)w->n - 1; i >= 0; i--) {
        check_ikey_at(m, w, i, (int)i);
        CHECK_OK(iiter_prev(m));
    }
    CHECK(!iiter_valid(m));
    iiter_close(m);
}

/* ---- cases ------------------------------------------------------------------ */

static void random_worlds(void) {
    struct {
        size_t nkeys, n, maxval;
        int worlds, rounds, ops;
    } shapes[] = {
        {3, 12, 10, 8, 40, 30},       /* tiny: ends, empty sources and tables */
        {5, 40, 30, 4, 60, 40},       /* small */
        {20, 1500, 40, 1, 200, 60},   /* long version chains */
        {150, 3000, 600, 1, 200, 60}, /* many keys, values across blocks */
        {300, 600, 30, 1, 100, 40},   /* sparse: few versions per key */
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        for (int k = 0; k < shapes[s].worlds; k++) {
            const char *dir = tu_mkdtemp();
            world w;
            world_make(&w, dir, shapes[s].nkeys, shapes[s].n, shapes[s].maxval);
            walk_merged(&w, shapes[s].rounds / 2, shapes[s].ops);
            walk_world(&w, shapes[s].rounds, shapes[s].ops);
            world_free(&w);
            tu_rmtemp(dir);
        }
    }
}

/* A few facts spelled out by hand: TTL at the boundary, an expired put
 * hiding older ones, a delete under a live TTL put, empty keys and values,
 * bounds with empty keys and 0xff prefixes. */
struct hand {
    const char *k;
    size_t kl;
    uint64_t seq;
    int type;
    int64_t expiry;
    const char *v;
};

static memtable *mt_with(const struct hand *h, size_t n) {
    memtable *m;
    CHECK_OK(memtable_new(&m, 0));
    for (size_t i = 0; i < n; i++) {
        uint8_t val[64];
        size_t vl = strlen(h[i].v);
        if (h[i].type == KT_PUT_TTL) {
            tu_put_u64(val, (uint64_t)h[i].expiry);
            memcpy(val + 8, h[i].v, vl);
            vl += 8;
        } else {
            memcpy(val, h[i].v, vl);
        }
        CHECK_OK(memtable_add(m, h[i].seq, h[i].type, h[i].k, h[i].kl, val, vl));
    }
    return m;
}

static void collect(memtable *m, db_iter_options *o, char *out, size_t cap) {
    iiter *it, *mg;
    CHECK_OK(iter_from_memtable(m, &it));
    CHECK_OK(merge_iter_new(&it, 1, &mg));
    db_iter *d;
    CHECK_OK(db_iter_new(mg, o, &d));
    out[0] = 0;
    for (must(db_iter_seek_to_first(d)); db_iter_valid(d); must(db_iter_next(d))) {
        size_t kl, vl;
        const uint8_t *k = db_iter_key(d, &kl), *v = db_iter_value(d, &vl);
        char one[64];
        snprintf(one, sizeof one, "%s%.*s=%.*s", out[0] ? " " : "", (int)kl, (const char *)k,
                 (int)vl, (const char *)v);
        CHECK(strlen(out) + strlen(one) < cap);
        strcat(out, one);
    }
    /* and the same backward */
    char back[512] = "";
    for (must(db_iter_seek_to_last(d)); db_iter_valid(d); must(db_iter_prev(d))) {
        size_t kl, vl;
        const uint8_t *k = db_iter_key(d, &kl), *v = db_iter_value(d, &vl);
        char one[64], tmp[sizeof back + sizeof one + 1];
        snprintf(one, sizeof one, "%.*s=%.*s", (int)kl, (const char *)k, (int)vl, (const char *)v);
        snprintf(tmp, sizeof tmp, "%s%s%s", one, back[0] ? " " : "", back);
        size_t tl = strlen(tmp);
        CHECK(tl < sizeof back); /* the test's keys and values are short */
        memcpy(back, tmp, tl + 1);
    }
    CHECKF(strcmp(out, back) == 0, "forward [%s] backward [%s]", out, back);
    db_iter_close(d);
}

static void by_hand(void) {
    static const struct hand h[] = {
        {"", 0, 1, KT_PUT, 0, "empty"},
        {"a", 1, 2, KT_PUT, 0, "a-old"},
        {"a", 1, 5, KT_PUT_TTL, 1500, "a-ttl"}, /* expires at 1500 */
        {"b", 1, 3, KT_PUT, 0, "b-old"},
        {"b", 1, 4, KT_DELETE, 0, ""},
        {"b", 1, 6, KT_PUT_TTL, 3000, "b-ttl"}, /* over a delete */
        {"c", 1, 7, KT_PUT, 0, ""},             /* empty value */
        {"\xff", 1, 8, KT_PUT, 0, "ff"},
        {"\xff\xff", 2, 9, KT_PUT, 0, "ffff"},
        {"\xff\xff", 2, 10, KT_DELETE, 0, ""},
    };
    memtable *m = mt_with(h, sizeof h / sizeof h[0]);
    char out[512];
    db_iter_options o;
    db_iter_options_init(&o);
    o.clock = test_clock;
    o.clock_ctx = &g_now;

    g_now = 1499;
    collect(m, &o, out, sizeof out);
    CHECKF(strcmp(out, "=empty a=a-ttl b=b-ttl c= \xff=ff") == 0, "[%s]", out);
    g_now = 1500; /* expiry <= now: gone, and it hides a-old */
    collect(m, &o, out, sizeof out);
    CHECKF(strcmp(out, "=empty b=b-ttl c= \xff=ff") == 0, "[%s]", out);
    o.snapshot = 4; /* before the TTL puts: b deleted, a old */
    collect(m, &o, out, sizeof out);
    CHECKF(strcmp(out, "=empty a=a-old") == 0, "[%s]", out);
    o.snapshot = 9; /* ffff not yet deleted */
    collect(m, &o, out, sizeof out);
    CHECKF(strcmp(out, "=empty b=b-ttl c= \xff=ff \xff\xff=ffff") == 0, "[%s]", out);
    o.snapshot = 0;
    collect(m, &o, out, sizeof out);
    CHECKF(strcmp(out, "") == 0, "[%s]", out);

    /* bounds */
    db_iter_options_init(&o);
    o.clock = test_clock;
    o.clock_ctx = &g_now;
    o.stop = ""; /* an empty stop: nothing */
    collect(m, &o, out, sizeof out);
    CHECKF(strcmp(out, "") == 0, "[%s]", out);
    o.stop = NULL;
    o.start = ""; /* an empty start: everything */
    collect(m, &o, out, sizeof out);
    CHECKF(strcmp(out, "=empty b=b-ttl c= \xff=ff") == 0, "[%s]", out);
    o.start = "b";
    o.start_len = 1;
    o.stop = "c";
    o.stop_len = 1;
    collect(m, &o, out, sizeof out);
    CHECKF(strcmp(out, "b=b-ttl") == 0, "[%s]", out);
    db_iter_options_init(&o);
    o.clock = test_clock;
    o.clock_ctx = &g_now;
    o.prefix = "\xff"; /* no successor: no upper bound from it */
    o.prefix_len = 1;
    collect(m, &o, out, sizeof out);
    CHECKF(strcmp(out, "\xff=ff") == 0, "[%s]", out);
    o.prefix = "";
    o.prefix_len = 0;
    collect(m, &o, out, sizeof out);
    CHECKF(strcmp(out, "=empty b=b-ttl c= \xff=ff") == 0, "[%s]", out);
    o.prefix = "b";
    o.prefix_len = 1;
    o.start = "a";
    o.start_len = 1;
    o.stop = "z";
    o.stop_len = 1;
    collect(m, &o, out, sizeof out);
    CHECKF(strcmp(out, "b=b-ttl") == 0, "[%s]", out);

    /* seeks outside the range clamp to it; seek_for_prev below it ends */
    iiter *it, *mg;
    CHECK_OK(iter_from_memtable(m, &it));
    CHECK_OK(merge_iter_new(&it, 1, &mg));
    db_iter_options_init(&o);
    o.clock = test_clock;
    o.clock_ctx = &g_now;
    o.start = "a";
    o.start_len = 1;
    o.stop = "c";
    o.stop_len = 1;
    db_iter *d;
    CHECK_OK(db_iter_new(mg, &o, &d));
    size_t kl;
    CHECK_OK(db_iter_seek(d, "", 0));
    CHECK(db_iter_valid(d) && memcmp(db_iter_key(d, &kl), "b", 1) == 0 && kl == 1);
    CHECK_OK(db_iter_seek_for_prev(d, "", 0));
    CHECK(!db_iter_valid(d));
    CHECK_OK(db_iter_seek_for_prev(d, "zz", 2));
    CHECK(db_iter_valid(d) && memcmp(db_iter_key(d, &kl), "b", 1) == 0 && kl == 1);
    CHECK_OK(db_iter_seek(d, "c", 1));
    CHECK(!db_iter_valid(d));
    db_iter_close(d);
    memtable_unref(m);

    /* no children at all */
    CHECK_OK(merge_iter_new(NULL, 0, &mg));
    CHECK_OK(db_iter_new(mg, NULL, &d));
    CHECK_OK(db_iter_seek_to_first(d));
    CHECK(!db_iter_valid(d));
    CHECK_OK(db_iter_seek_to_last(d));
    CHECK(!db_iter_valid(d));
    db_iter_close(d);
}

/* The level iterator alone: lazy, one table at a time, seeks by the tables'
 * largest keys, an empty level. */
static void level_lazy(void) {
    const char *dir = tu_mkdtemp();
    world w;
    memset(&w, 0, sizeof w);
    w.dir = dir;
    w.next_number = 1;
    /* keys k00..k99, one version each, 10 tables of 10 */
    size_t n = 100;
    w.e = calloc(n, sizeof *w.e);
    w.n = n;
    ent *ptr[100];
    for (size_t i = 0; i < n; i++) {
        ent *x = &w.e[i];
        x->ulen = 3;
        x->uk[0] = 'k';
        x->uk[1] = (uint8_t)('0' + i / 10);
        x->uk[2] = (uint8_t)('0' + i % 10);
        x->seq = 100 + i;
        x->type = KT_PUT;
        x->val = malloc(1);
        x->vlen = 1;
        x->val[0] = (uint8_t)i;
        memcpy(x->ik, x->uk, 3);
        tu_put_u64(x->ik + 3, ikey_pack(x->seq, KT_PUT));
        x->iklen = 11;
        ptr[i] = x;
    }
    table_file *files[10];
    for (int t = 0; t < 10; t++) {
        uint64_t num = build_table(&w, ptr + t * 10, 10);
        files[t] = make_file(1, num, ptr[t * 10], ptr[t * 10 + 9]);
    }
    level_ctx lc = {.dir = dir};
    iiter *it;
    CHECK_OK(iter_level(files, 10, open_table, &lc, &it));
    CHECK_EQ_INT(lc.opens, 0); /* nothing opened before the first move */
    /* a seek opens exactly the table that can hold the target */
    uint8_t k[11] = {'k', '4', '5'};
    tu_put_u64(k + 3, ikey_lookup_trailer(MAX_SEQ));
    CHECK_OK(iiter_seek(it, k, 11));
    CHECK_EQ_INT(lc.opens, 1);
    CHECK_EQ_U64(lc.last_opened, files[4]->meta.number);
    check_ikey_at(it, &w, 45, 0);
    /* a key between two tables' ranges: k49 with seq 0 sorts after k49@149
     * (table 4's largest), so table 5 */
    k[1] = '4';
    k[2] = '9';
    tu_put_u64(k + 3, ikey_pack(0, KT_DELETE));
    CHECK_OK(iiter_seek(it, k, 11));
    CHECK_EQ_U64(lc.last_opened, files[5]->meta.number);
    check_ikey_at(it, &w, 50, 1);
    CHECK_OK(iiter_prev(it)); /* back across a boundary */
    check_ikey_at(it, &w, 49, 2);
    CHECK_EQ_U64(lc.last_opened, files[4]->meta.number);
    /* past the last table: nothing open */
    k[0] = 'z';
    CHECK_OK(iiter_seek(it, k, 11));
    CHECK(!iiter_valid(it));
    CHECK_EQ_INT(lc.live, 0);
    /* a whole scan: each table once, one at a time */
    lc.opens = 0;
    CHECK_OK(iiter_seek_to_first(it));
    for (long i = 0; i < 100; i++) {
        check_ikey_at(it, &w, i, (int)i);
        CHECK_OK(iiter_next(it));
    }
    CHECK(!iiter_valid(it));
    CHECK_EQ_INT(lc.opens, 10);
    CHECK_EQ_INT(lc.max_live, 1);
    CHECK_EQ_INT(lc.live, 0);
    CHECK_OK(iiter_seek_to_last(it));
    for (long i = 99; i >= 0; i--) {
        check_ikey_at(it, &w, i, (int)i);
        CHECK_OK(iiter_prev(it));
    }
    CHECK(!iiter_valid(it));
    CHECK_EQ_INT(lc.live, 0);
    CHECK_OK(iiter_seek_to_first(it));
    CHECK_EQ_INT(lc.live, 1);
    iiter_close(it); /* closes the open table */
    CHECK_EQ_INT(lc.live, 0);

    /* a table that will not open: a sticky status */
    lc.fail_number = files[3]->meta.number;
    CHECK_OK(iter_level(files, 10, open_table, &lc, &it));
    CHECK_OK(iiter_seek_to_first(it));
    int rc = LSMLOG_OK, seen = 0;
    while (iiter_valid(it)) {
        check_ikey_at(it, &w, seen, seen);
        seen++;
        if ((rc = iiter_next(it))) break;
    }
    CHECK_EQ_INT(rc, LSMLOG_E_IO);
    CHECK_EQ_INT(seen, 30);
    CHECK(!iiter_valid(it));
    CHECK_EQ_INT(iiter_status(it), LSMLOG_E_IO);
    CHECK_EQ_INT(iiter_seek_to_first(it), LSMLOG_E_IO);
    CHECK_EQ_INT(lc.live, 0);
    iiter_close(it);

    /* an empty level */
    CHECK_OK(iter_level(NULL, 0, open_table, &lc, &it));
    CHECK_OK(iiter_seek_to_first(it));
    CHECK(!iiter_valid(it));
    CHECK_OK(iiter_seek_to_last(it));
    CHECK(!iiter_valid(it));
    CHECK_OK(iiter_seek(it, k, 11));
    CHECK(!iiter_valid(it));
    iiter_close(it);

    for (int t = 0; t < 10; t++) {
        free(files[t]->meta.smallest);
        free(files[t]->meta.largest);
        free(files[t]);
    }
    for (size_t i = 0; i < n; i++)
        free(w.e[i].val);
    free(w.e);
    tu_rmtemp(dir);
}

/* Walks d one way to the end or an error; every key shown must be the
 * model's next one. Returns the final status and how many keys were seen. */
static int walk_until_error(db_iter *d, const vis *v, size_t nv, int reverse, size_t *seen) {
    int rc = reverse ? db_iter_seek_to_last(d) : db_iter_seek_to_first(d);
    *seen = 0;
    while (rc == LSMLOG_OK && db_iter_valid(d)) {
        long idx = reverse ? (long)nv - 1 - (long)*seen : (long)*seen;
        check_at(d, v, nv, idx, reverse ? "prev" : "next", (int)*seen);
        (*seen)++;
        rc = reverse ? db_iter_prev(d) : db_iter_next(d);
    }
    if (rc == LSMLOG_OK) {
        CHECK_OK(db_iter_status(d));
        CHECK_EQ_U64(*seen, nv);
    } else {
        CHECK(!db_iter_valid(d));
        CHECK_EQ_INT(db_iter_status(d), rc);
        /* sticky: every later move says the same */
        CHECK_EQ_INT(db_iter_seek_to_first(d), rc);
        CHECK_EQ_INT(db_iter_seek(d, "a", 1), rc);
        CHECK_EQ_INT(db_iter_seek_to_last(d), rc);
        CHECK(!db_iter_valid(d));
    }
    return rc;
}

/* The start of a table's metadata (its data blocks fill [0, end)). */
static uint64_t data_end(const char *path) {
    sst_reader *r;
    CHECK_OK(sst_reader_open(path, 999, NULL, ikey_cmp, &r));
    uint8_t k[MAXK + 1 + 8];
    memset(k, 0xff, MAXK + 1);
    tu_put_u64(k + MAXK + 1, 0);
    uint64_t off = 0;
    CHECK_OK(sst_reader_approx_offset(r, k, sizeof k, &off));
    sst_reader_close(r);
    return off;
}

/* A table damaged after it was opened (a level-0 table), or before its
 * lazy open (a level table): a walk either way ends in LSMLOG_E_CORRUPT
 * naming the file, after showing only what the model shows. */
static void damage(void) {
    for (int which = 0; which < 6; which++) {
        const char *dir = tu_mkdtemp();
        world w;
        world_make(&w, dir, 60, 800, 100);
        char path[512];
        if (which < 3) {
            table_path(path, sizeof path, dir, w.l0_number[which]);
        } else {
            int L = which - 3;
            CHECK(w.nlev[L] > 0);
            table_path(path, sizeof path, dir, w.lev[L][tu_rand_below(w.nlev[L])]->meta.number);
        }
        uint64_t end = data_end(path);
        CHECK(end > 0);
        long long pos = (long long)tu_rand_below(end);
        CHECK(tu_flip_byte(path, pos, (unsigned char)(1 + tu_rand_below(255))) == 0);

        vis *v = malloc((w.n + 1) * sizeof *v);
        bounds none;
        memset(&none, 0, sizeof none);
        g_now = 1500;
        size_t nv = model_visible(w.e, w.n, UINT64_MAX, g_now, &none, v);
        for (int reverse = 0; reverse < 2; reverse++) {
            db_iter *d;
            CHECK_OK(open_db_iter(&w, UINT64_MAX, NULL, &d));
            size_t seen;
            int rc = walk_until_error(d, v, nv, reverse, &seen);
            CHECKF(rc == LSMLOG_E_CORRUPT, "table %s damaged at %lld: walk ended with %d after %zu",
                   path, pos, rc, seen);
            CHECKF(strstr(lsmlog_errmsg(), path) != NULL, "message [%s] does not name %s",
                   lsmlog_errmsg(), path);
            db_iter_close(d);
        }
        /* the merged iterator fails the same way, and stays failed */
        iiter *m;
        CHECK_OK(world_merged(&w, &m));
        int rc = iiter_seek_to_first(m);
        size_t i = 0;
        while (rc == LSMLOG_OK && iiter_valid(m)) {
            check_ikey_at(m, &w, (long)i++, 0);
            rc = iiter_next(m);
        }
        CHECK_EQ_INT(rc, LSMLOG_E_CORRUPT);
        CHECK(!iiter_valid(m));
        CHECK_EQ_INT(iiter_status(m), LSMLOG_E_CORRUPT);
        CHECK_EQ_INT(iiter_seek_to_last(m), LSMLOG_E_CORRUPT);
        iiter_close(m);
        free(v);
        world_free(&w);
        tu_rmtemp(dir);
    }

    /* a level table that will not open */
    const char *dir = tu_mkdtemp();
    world w;
    world_make(&w, dir, 60, 800, 30);
    CHECK(w.nlev[1] > 0);
    w.lctx[1].fail_number = w.lev[1][w.nlev[1] - 1]->meta.number;
    vis *v = malloc((w.n + 1) * sizeof *v);
    bounds none;
    memset(&none, 0, sizeof none);
    size_t nv = model_visible(w.e, w.n, UINT64_MAX, g_now, &none, v);
    for (int reverse = 0; reverse < 2; reverse++) {
        db_iter *d;
        CHECK_OK(open_db_iter(&w, UINT64_MAX, NULL, &d));
        size_t seen;
        CHECK_EQ_INT(walk_until_error(d, v, nv, reverse, &seen), LSMLOG_E_IO);
        db_iter_close(d);
    }
    free(v);
    world_free(&w);
    tu_rmtemp(dir);
}

/* A TTL value too short to hold its expiry is damage, reported when the
 * iterator reaches it (and not when it is invisible at the snapshot). */
static void short_ttl_value(void) {
    memtable *m;
    CHECK_OK(memtable_new(&m, 0));
    CHECK_OK(memtable_add(m, 1, KT_PUT, "a", 1, "1", 1));
    CHECK_OK(memtable_add(m, 2, KT_PUT, "b", 1, "2", 1));
    CHECK_OK(memtable_add(m, 3, KT_PUT, "c", 1, "3", 1));
    CHECK_OK(memtable_add(m, 4, KT_PUT_TTL, "b", 1, "xyz", 3));
    for (int reverse = 0; reverse < 2; reverse++) {
        for (uint64_t snap = 3; snap <= 4; snap++) {
            iiter *it, *mg;
            CHECK_OK(iter_from_memtable(m, &it));
            CHECK_OK(merge_iter_new(&it, 1, &mg));
            db_iter_options o;
            db_iter_options_init(&o);
            o.snapshot = snap;
            db_iter *d;
            CHECK_OK(db_iter_new(mg, &o, &d));
            int rc = reverse ? db_iter_seek_to_last(d) : db_iter_seek_to_first(d);
            int n = 0;
            while (rc == LSMLOG_OK && db_iter_valid(d)) {
                n++;
                rc = reverse ? db_iter_prev(d) : db_iter_next(d);
            }
            if (snap == 3) {
                CHECK_OK(rc);
                CHECK_EQ_INT(n, 3);
            } else {
                CHECK_EQ_INT(rc, LSMLOG_E_CORRUPT);
                CHECK_EQ_INT(n, 1); /* "a" or "c", then the damage */
                CHECK_EQ_INT(db_iter_status(d), LSMLOG_E_CORRUPT);
            }
            db_iter_close(d);
        }
    }
    memtable_unref(m);
}

/* ---- failing allocations ------------------------------------------------------ */

static atomic_ulong fail_calls, fail_at;

static void *failing_malloc(size_t n) {
    unsigned long c = atomic_fetch_add(&fail_calls, 1) + 1;
    if (c == atomic_load(&fail_at)) return NULL;
    return malloc(n);
}

static void *failing_realloc(void *p, size_t n) {
    unsigned long c = atomic_fetch_add(&fail_calls, 1) + 1;
    if (c == atomic_load(&fail_at)) return NULL;
    return realloc(p, n);
}

/* Each allocation of making and walking the whole stack fails in turn: the
 * failure is LSMLOG_E_NOMEM from whichever call met it, data shown before it
 * is right, and nothing leaks (ASan). */
static void alloc_failures(void) {
    const char *dir = tu_mkdtemp();
    world w;
    world_make(&w, dir, 30, 300, 40);
    vis *v = malloc((w.n + 1) * sizeof *v);
    bounds none;
    memset(&none, 0, sizeof none);
    g_now = 1500;
    size_t nv = model_visible(w.e, w.n, 250, g_now, &none, v);
    alloc_hooks h = {failing_malloc, failing_realloc, free};
    alloc_set_hooks(&h);
    int failures = 0;
    for (unsigned long nth = 1;; nth++) {
        atomic_store(&fail_calls, 0);
        atomic_store(&fail_at, nth);
        db_iter *d = NULL;
        int rc = open_db_iter(&w, 250, NULL, &d);
        if (rc == LSMLOG_OK) {
            size_t seen;
            rc = walk_until_error(d, v, nv, 0, &seen);
            if (rc == LSMLOG_OK) rc = walk_until_error(d, v, nv, 1, &seen);
            db_iter_close(d);
        }
        for (int L = 0; L < NLEV; L++)
            CHECK_EQ_INT(w.lctx[L].live, 0);
        if (atomic_load(&fail_calls) < nth) { /* nothing failed: done */
            CHECK_OK(rc);
            break;
        }
        CHECK_EQ_INT(rc, LSMLOG_E_NOMEM);
        failures++;
        CHECK(nth < 100000);
    }
    alloc_set_hooks(NULL);
    CHECK(failures > 10);
    if (getenv("VERBOSE")) fprintf(stderr, "    %d allocations failed in turn\n", failures);
    free(v);
    world_free(&w);
    tu_rmtemp(dir);
}

int main(void) {
    tu_init("test_db_iter");
    TU_CASE(by_hand);
    TU_CASE(level_lazy);
    TU_CASE(random_worlds);
    TU_CASE(short_ttl_value);
    TU_CASE(damage);
    TU_CASE(alloc_failures);
    return tu_finish();
}

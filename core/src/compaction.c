/* compaction.c — leveled compaction (LevelDB's db/version_set.cc picking and
 * db/db_impl.cc DoCompactionWork, written anew, with TTL), with two of
 * RocksDB's refinements: the table a level >= 1 gives up is picked as
 * kMinOverlappingRatio picks it, and output tables end at the boundaries of
 * the tables below them (level_compaction_dynamic_file_size).
 *
 * Level 0 holds flushed memtables, whose ranges may overlap; once it holds
 * DB_L0_COMPACT_TRIGGER tables, its oldest table and every table that
 * overlaps what is taken (transitively) are compacted into level 1. Level n >= 1
 * is compacted into n+1 once it holds more than its size (10 MiB for level 1,
 * x10 per level), one table at a time: the one with the fewest bytes of level
 * n+1 under it per byte of its own, widened to the level's other tables that
 * fit inside the key range of the next level's tables it overlaps. The
 * tables of the next level that overlap the input are merged with it; the
 * output is cut into tables of about DB_TABLE_BYTES, or where a table would
 * overlap more than DB_GRANDPARENT_TABLES tables' bytes of the level below
 * it, or, once past half that size, where a table of the level below starts
 * or ends (gp_cut); and only between user keys (so every version of a key
 * stays in one table of a level). A single input table that overlaps
 * nothing below moves down without being rewritten.
 *
 * What is dropped: an entry hidden by a newer entry of its key that every
 * snapshot sees; a tombstone (or an expired TTL put) that every snapshot sees,
 * when no deeper level may hold the key. An expired TTL put that must stay
 * becomes a tombstone, so that it keeps hiding older versions. */
#include "db_internal.h"

#include "alloc.h"
#include "dbformat.h"
#include "env.h"
#include "merge_iter.h"
#include "status.h"

#include <assert.h>
#include <string.h>

#define PROGRESS_STEP (1u << 20) /* call the progress callback every MiB read */

static uint64_t level_max_bytes(const lsmlog_db *db, int level) {
    uint64_t b = db->l1_bytes;
    for (int l = 1; l < level; l++) b *= 10;
    return b;
}

/* How far over its limit a level is (>= 1: compact it). */
static double level_score(const lsmlog_db *db, const version *v, int l) {
    if (l == 0) return (double)v->nfiles[0] / DB_L0_COMPACT_TRIGGER;
    return (double)version_level_bytes(v, l) / (double)level_max_bytes(db, l);
}

static int pick_level(const lsmlog_db *db, const version *v) {
    int best = -1;
    double top = 1.0;
    for (int l = 0; l < DB_LEVELS - 1; l++) {
        double s = level_score(db, v, l);
        if (s >= top) {
            top = s;
            best = l;
        }
    }
    return best;
}

int compaction_needed(lsmlog_db *db, const version *v) {
    return pick_level(db, v) >= 0;
}

/* ---- key ranges ------------------------------------------------------------ */

typedef struct ukey_range { /* user keys; NULL: unbounded */
    const uint8_t *lo, *hi;  /* lo inclusive */
    size_t lo_len, hi_len;
    int hi_inclusive;       /* hi included (a table's largest key) or not (a stop bound) */
} ukey_range;

static int overlaps(const file_meta *m, const ukey_range *r) {
    if (r->lo && ukey_cmp(m->largest, m->largest_len - 8, r->lo, r->lo_len) < 0) return 0;
    if (r->hi) {
        int c = ukey_cmp(m->smallest, m->smallest_len - 8, r->hi, r->hi_len);
        if (c > 0 || (c == 0 && !r->hi_inclusive)) return 0;
    }
    return 1;
}

/* Whether any table of the levels below `level` may hold user key k. */
static int deeper_may_hold(const version *v, int level, const uint8_t *k, size_t klen) {
    ukey_range r = {k, k, klen, klen, 1};
    for (int l = level + 1; l < DB_LEVELS; l++) {
        size_t lo = 0, hi = v->nfiles[l];
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            const file_meta *m = &v->files[l][mid]->meta;
            if (ukey_cmp(m->largest, m->largest_len - 8, k, klen) < 0) lo = mid + 1;
            else hi = mid;
        }
        if (lo < v->nfiles[l] && overlaps(&v->files[l][lo]->meta, &r)) return 1;
    }
    return 0;
}

/* ---- one compaction ------------------------------------------------------- */

typedef struct tlist {
    table_file **v;
    size_t n, cap;
} tlist;

static int tlist_push(tlist *t, table_file *f) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        table_file **nv = lm_realloc(t->v, cap * sizeof *nv);
        if (!nv) return st_error(LSMLOG_E_NOMEM, "out of memory");
        t->v = nv;
        t->cap = cap;
    }
    t->v[t->n++] = f;
    return LSMLOG_OK;
}

static uint64_t tlist_bytes(const tlist *t) {
    uint64_t b = 0;
    for (size_t i = 0; i < t->n; i++) b += t->v[i]->meta.size;
    return b;
}

/* The union of the user key ranges of the tables. */
static void tlist_range(const tlist *t, ukey_range *r) {
    memset(r, 0, sizeof *r);
    r->hi_inclusive = 1;
    for (size_t i = 0; i < t->n; i++) {
        const file_meta *m = &t->v[i]->meta;
        if (!r->lo || ukey_cmp(m->smallest, m->smallest_len - 8, r->lo, r->lo_len) < 0) {
            r->lo = m->smallest;
            r->lo_len = m->smallest_len - 8;
        }
        if (!r->hi || ukey_cmp(m->largest, m->largest_len - 8, r->hi, r->hi_len) > 0) {
            r->hi = m->largest;
            r->hi_len = m->largest_len - 8;
        }
    }
}

static int add_overlapping(tlist *t, const version *v, int l, const ukey_range *r) {
    for (size_t i = 0; i < v->nfiles[l]; i++)
        if (overlaps(&v->files[l][i]->meta, r)) {
            int rc = tlist_push(t, v->files[l][i]);
            if (rc) return rc;
        }
    return LSMLOG_OK;
}

typedef struct progress {
    lsmlog_progress_fn fn;
    void *ctx;
    uint64_t done, total, next_call;
} progress;

static int progress_report(progress *p, uint64_t add, int force) {
    p->done += add;
    if (!p->fn || (!force && p->done < p->next_call)) return LSMLOG_OK;
    if (p->done > p->total) p->total = p->done;
    p->next_call = p->done + PROGRESS_STEP;
    if (p->fn(p->ctx, p->done, p->total)) return st_error(LSMLOG_E_CANCELED, "compaction canceled by its progress callback");
    return LSMLOG_OK;
}

typedef struct outputs {
    lsmlog_db *db;
    sst_builder *b;
    uint64_t number;
    vedit *e;
    int level;
    uint64_t *numbers; /* every table written, to remove them on failure */
    size_t n, cap;
    uint64_t bytes;
} outputs;

static int out_open(outputs *o) {
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 8;
        uint64_t *nv = lm_realloc(o->numbers, cap * sizeof *nv);
        if (!nv) return st_error(LSMLOG_E_NOMEM, "out of memory");
        o->numbers = nv;
        o->cap = cap;
    }
    o->number = vset_new_file_number(o->db->vs);
    o->numbers[o->n++] = o->number;
    char *path = db_table_path(o->db, o->number);
    if (!path) return st_error(LSMLOG_E_NOMEM, "out of memory");
    sst_options so;
    sst_options_init(&so, ikey_cmp);
    so.bloom_bits = o->db->opts.bloom_bits;
    int rc = sst_builder_open(path, &so, &o->b);
    lm_free(path);
    return rc;
}

static int out_finish(outputs *o) {
    sst_props p;
    memset(&p, 0, sizeof p);
    int rc = sst_builder_finish(o->b, 1, &p);
    if (rc == LSMLOG_OK)
        rc = vedit_add_file(o->e, o->level, o->number, p.file_size, p.smallest_key, p.smallest_len,
                            p.largest_key, p.largest_len, p.smallest_seq, p.largest_seq);
    o->bytes += p.file_size;
    sst_props_clear(&p);
    sst_builder_free(o->b);
    o->b = NULL;
    return rc;
}

/* Removes every table written (the compaction failed or was canceled). */
static void out_abandon(outputs *o) {
    sst_builder_free(o->b);
    o->b = NULL;
    for (size_t i = 0; i < o->n; i++) {
        char *path = db_table_path(o->db, o->numbers[i]);
        if (path) env_unlink(path);
        lm_free(path);
    }
}

/* Where an output table ends, besides at DB_TABLE_BYTES. Two rules look at
 * the tables of the level below the output's (the grandparents):
 *
 * - LevelDB's: a table ends before it would overlap more than
 *   DB_GRANDPARENT_TABLES tables' bytes there, so that compacting it later
 *   reads a bounded amount.
 * - RocksDB's alignment (level_compaction_dynamic_file_size, 7.8 and later):
 *   a table that has reached half its size ends where a grandparent starts
 *   or ends, so that moving it down later merges it with whole tables and
 *   not also with the edges of tables that lie mostly under its neighbours
 *   (each such edge is a whole table rewritten for a sliver of overlap). The
 *   size it must reach grows by 5 % with each grandparent boundary it has
 *   spanned, to 90 %, so tables stay close to their size. And a table ends
 *   before a key past a whole grandparent (of over 1/8 of a table's size)
 *   that none of its keys fall in, so that its compaction skips that one. */
typedef struct grandparents {
    table_file *const *files; /* the level below the output, sorted by key */
    size_t n, i;              /* files[i]: the first that does not end before the last key */
    int in_gap;               /* the last key lies before files[i], not in it */
    int seen;                 /* a key of this compaction went out */
    uint64_t overlap, limit;  /* bytes of the grandparents the current output overlaps */
    unsigned crossed;         /* grandparent boundaries the current output spans */
} grandparents;

/* Called with each new user key of the output, in order, and the size of
 * the output table so far (0: none open): whether the table should end
 * before this key. */
static int gp_cut(grandparents *g, const uint8_t *k, size_t klen, uint64_t size, uint64_t target) {
    unsigned crossed = 0;
    uint64_t skipped = 0; /* bytes of the grandparents this key steps over whole */
    int entered = 0;
    while (g->i < g->n) {
        const file_meta *m = &g->files[g->i]->meta;
        if (g->in_gap) {
            if (ukey_cmp(k, klen, m->smallest, m->smallest_len - 8) < 0) break;
            g->in_gap = 0; /* into files[i] */
            entered = 1;
            crossed++;
            g->overlap += m->size;
        } else {
            if (ukey_cmp(k, klen, m->largest, m->largest_len - 8) <= 0) break;
            g->in_gap = 1; /* past files[i] */
            g->i++;
            crossed++;
            if (entered) skipped += m->size;
            entered = 0;
        }
    }
    /* the bytes of the grandparent k lies in, if any */
    uint64_t here = !g->in_gap && g->i < g->n ? g->files[g->i]->meta.size : 0;
    if (!g->seen) { /* the compaction's first key: its table starts here */
        g->seen = 1;
        g->overlap = here;
        g->crossed = 0;
        return 0;
    }
    g->crossed += crossed;
    int cut = size >= target;
    if (!cut && size && crossed) {
        unsigned pct = 50 + (g->crossed < 8 ? 5 * g->crossed : 40);
        cut = g->overlap > g->limit || skipped > target / 8 || size >= target / 100 * pct;
    }
    if (cut) { /* the next table starts at k */
        g->overlap = here;
        g->crossed = 0;
    }
    return cut;
}

/* Merges inputs (tables of `level` and of `out`, which is level+1, or level
 * itself for a rewrite in place) of version v into new tables of `out`, cut
 * at about table_bytes, and installs the result. */
static int merge_tables(lsmlog_db *db, const version *v, int level, int out, const tlist *in,
                        uint64_t table_bytes, progress *pr) {
    /* the inputs, by level: a level-0 table is a child of the merge on its
     * own (their ranges overlap); the tables of a level >= 1 (disjoint, in
     * key order, as the picking keeps them) are one concatenating child */
    tlist up = {0}, down = {0};
    size_t nk = 0;
    int rc = LSMLOG_OK;
    for (size_t i = 0; rc == LSMLOG_OK && i < in->n; i++) {
        int below = 0;
        for (size_t j = 0; out != level && j < v->nfiles[out] && !below; j++) below = v->files[out][j] == in->v[i];
        rc = tlist_push(below ? &down : &up, in->v[i]);
    }
    iiter **kids = lm_calloc(in->n + 2, sizeof *kids), *m = NULL;
    if (rc == LSMLOG_OK && !kids) rc = st_error(LSMLOG_E_NOMEM, "out of memory");
    if (rc == LSMLOG_OK && level == 0) {
        for (size_t i = 0; rc == LSMLOG_OK && i < up.n; i++)
            if ((rc = db_compaction_table_iter(db, up.v[i], &kids[nk])) == LSMLOG_OK) nk++;
    } else if (rc == LSMLOG_OK && up.n) {
        if ((rc = db_compaction_level_iter(db, up.v, up.n, &kids[nk])) == LSMLOG_OK) nk++;
    }
    if (rc == LSMLOG_OK && down.n && (rc = db_compaction_level_iter(db, down.v, down.n, &kids[nk])) == LSMLOG_OK) nk++;
    if (rc == LSMLOG_OK) {
        rc = merge_iter_new(kids, nk, &m);
        nk = 0;
    }
    for (size_t i = 0; i < nk; i++) iiter_close(kids[i]);
    lm_free(kids);

    pthread_mutex_lock(&db->mu);
    uint64_t oldest = db_oldest_snapshot(db);
    pthread_mutex_unlock(&db->mu);
    int64_t now = db_now(db);
    vedit e;
    vedit_init(&e);
    outputs o = {.db = db, .e = &e, .level = out};
    uint8_t *cur = NULL, *last_out = NULL; /* the current user key; the last one written */
    size_t cur_len = 0, cur_cap = 0, last_len = 0, last_cap = 0;
    int have_cur = 0, have_last = 0;
    uint64_t last_seq_for_key = UINT64_MAX;
    uint8_t *tomb = NULL;
    size_t tomb_cap = 0;
    uint64_t entries = 0;
    grandparents gp = {.limit = DB_GRANDPARENT_TABLES * table_bytes};
    if (out + 1 < DB_LEVELS) {
        gp.files = v->files[out + 1];
        gp.n = v->nfiles[out + 1];
    }

    if (rc == LSMLOG_OK) rc = iiter_seek_to_first(m);
    while (rc == LSMLOG_OK && iiter_valid(m)) {
        size_t kl, vl, ul;
        const uint8_t *k = iiter_key(m, &kl), *val = iiter_value(m, &vl);
        uint64_t seq;
        int type;
        if (ikey_parse(k, kl, &ul, &seq, &type) != 0) {
            rc = st_error(LSMLOG_E_CORRUPT, "%s: compaction met a malformed key", db->dir);
            break;
        }
        if (!have_cur || ukey_cmp(k, ul, cur, cur_len) != 0) {
            if (ul > cur_cap) {
                uint8_t *nb = lm_realloc(cur, ul);
                if (!nb) {
                    rc = st_error(LSMLOG_E_NOMEM, "out of memory");
                    break;
                }
                cur = nb;
                cur_cap = ul;
            }
            if (ul) memcpy(cur, k, ul);
            cur_len = ul;
            have_cur = 1;
            last_seq_for_key = UINT64_MAX;
        }
        int expired = type == KT_PUT_TTL && (vl < 8 || get_i64(val) <= now);
        int drop = 0;
        if (last_seq_for_key <= oldest) drop = 1; /* a newer entry hides it from everyone */
        else if ((type == KT_DELETE || expired) && seq <= oldest && !deeper_may_hold(v, out, k, ul))
            drop = 1;
        last_seq_for_key = seq;
        if (!drop) {
            if (expired) { /* keep hiding older versions, without the value */
                if (kl > tomb_cap) {
                    uint8_t *nb = lm_realloc(tomb, kl);
                    if (!nb) {
                        rc = st_error(LSMLOG_E_NOMEM, "out of memory");
                        break;
                    }
                    tomb = nb;
                    tomb_cap = kl;
                }
                memcpy(tomb, k, ul);
                ikey_put_trailer(tomb + ul, seq, KT_DELETE);
                k = tomb;
                vl = 0;
            }
            int new_key = !have_last || ukey_cmp(k, ul, last_out, last_len) != 0;
            if (new_key &&
                gp_cut(&gp, k, ul, o.b ? sst_builder_file_size(o.b) : 0, table_bytes) && o.b)
                rc = out_finish(&o);
            if (rc == LSMLOG_OK && !o.b) rc = out_open(&o);
            if (rc == LSMLOG_OK) rc = sst_builder_add(o.b, k, kl, val, vl);
            if (rc == LSMLOG_OK && new_key) {
                if (ul > last_cap) {
                    uint8_t *nb = lm_realloc(last_out, ul);
                    if (!nb) {
                        rc = st_error(LSMLOG_E_NOMEM, "out of memory");
                        break;
                    }
                    last_out = nb;
                    last_cap = ul;
                }
                if (ul) memcpy(last_out, k, ul);
                last_len = ul;
                have_last = 1;
            }
        }
        if (rc == LSMLOG_OK) rc = progress_report(pr, kl + vl, 0);
        if (rc == LSMLOG_OK && ++entries % 4096 == 0) rc = db_flush_pending(db);
        if (rc == LSMLOG_OK) rc = iiter_next(m);
    }
    iiter_close(m);
    lm_free(cur);
    lm_free(last_out);
    lm_free(tomb);
    if (rc == LSMLOG_OK && o.b) rc = out_finish(&o);
    if (rc == LSMLOG_OK && o.n) rc = env_fsync_dir(db->dir);
    for (size_t i = 0; rc == LSMLOG_OK && i < up.n; i++) rc = vedit_delete_file(&e, level, up.v[i]->meta.number);
    for (size_t i = 0; rc == LSMLOG_OK && i < down.n; i++) rc = vedit_delete_file(&e, out, down.v[i]->meta.number);
    lm_free(up.v);
    lm_free(down.v);
    /* once vset_apply is tried, the edit may be in the manifest even if it
     * failed (its fsync did): the outputs stay (orphans go at the next open) */
    int tried = rc == LSMLOG_OK;
    if (tried) {
        pthread_mutex_lock(&db->edit_mu);
        rc = vset_apply(db->vs, &e);
        pthread_mutex_unlock(&db->edit_mu);
    }
    if (rc && !tried) out_abandon(&o);
    vedit_free(&e);
    if (rc == LSMLOG_OK) {
        pthread_mutex_lock(&db->mu);
        db->compactions++;
        db->compact_read += tlist_bytes(in);
        db->compact_write += o.bytes;
        /* level 0 may have shrunk: writers stalled at its stop need not
         * wait for the rest of a manual compaction */
        pthread_cond_broadcast(&db->done_cv);
        pthread_mutex_unlock(&db->mu);
    }
    lm_free(o.numbers);
    return rc;
}

/* Moves one table a level down without rewriting it. */
static int trivial_move(lsmlog_db *db, int level, const table_file *t) {
    vedit e;
    vedit_init(&e);
    const file_meta *m = &t->meta;
    int rc = vedit_delete_file(&e, level, m->number);
    if (rc == LSMLOG_OK)
        rc = vedit_add_file(&e, level + 1, m->number, m->size, m->smallest, m->smallest_len, m->largest,
                            m->largest_len, m->smallest_seq, m->largest_seq);
    if (rc == LSMLOG_OK) {
        pthread_mutex_lock(&db->edit_mu);
        rc = vset_apply(db->vs, &e);
        pthread_mutex_unlock(&db->edit_mu);
    }
    vedit_free(&e);
    if (rc == LSMLOG_OK) {
        pthread_mutex_lock(&db->mu);
        db->trivial_moves++;
        pthread_cond_broadcast(&db->done_cv); /* as in merge_tables */
        pthread_mutex_unlock(&db->mu);
    }
    return rc;
}

/* LevelDB's input expansion: takes in every table of `level` that lies within
 * the key range of the whole compaction, when that does not pull in more
 * tables of the next level and the compaction stays under
 * DB_EXPAND_LIMIT_TABLES tables' bytes: the next level's tables are read anyway, so more
 * moves down for the same rewrite. `first` grows in place. */
static int expand_inputs(const lsmlog_db *db, const version *v, int level, tlist *first, const tlist *below) {
    tlist all = {0}, wider = {0}, wider_below = {0};
    ukey_range r;
    int rc = LSMLOG_OK;
    for (size_t i = 0; rc == LSMLOG_OK && i < first->n; i++) rc = tlist_push(&all, first->v[i]);
    for (size_t i = 0; rc == LSMLOG_OK && i < below->n; i++) rc = tlist_push(&all, below->v[i]);
    if (rc == LSMLOG_OK) {
        tlist_range(&all, &r);
        rc = add_overlapping(&wider, v, level, &r);
    }
    if (rc == LSMLOG_OK && wider.n > first->n &&
        tlist_bytes(&wider) + tlist_bytes(below) < DB_EXPAND_LIMIT_TABLES * db->table_bytes) {
        tlist_range(&wider, &r);
        rc = add_overlapping(&wider_below, v, level + 1, &r);
        if (rc == LSMLOG_OK && wider_below.n == below->n) {
            tlist t = *first;
            *first = wider;
            wider = t;
        }
    }
    lm_free(all.v);
    lm_free(wider.v);
    lm_free(wider_below.v);
    return rc;
}

/* Compacts the tables `first` of `level` of version v, with the tables of
 * the next level under them, one level down (a manual compaction). */
static int compact_level(lsmlog_db *db, const version *v, int level, const tlist *first,
                         uint64_t table_bytes, progress *pr) {
    ukey_range r;
    tlist_range(first, &r);
    tlist in = {0};
    int rc = LSMLOG_OK;
    for (size_t i = 0; rc == LSMLOG_OK && i < first->n; i++) rc = tlist_push(&in, first->v[i]);
    if (rc == LSMLOG_OK) rc = add_overlapping(&in, v, level + 1, &r);
    if (rc == LSMLOG_OK) rc = merge_tables(db, v, level, level + 1, &in, table_bytes, pr);
    lm_free(in.v);
    return rc;
}

/* The level-0 tables to compact: the oldest, and every table whose range
 * overlaps what is taken, until the range stops growing (LevelDB's
 * GetOverlappingInputs). A table left behind overlaps none of them, so it
 * cannot shadow what moves down. With sequential keys this is one table,
 * which can then move down whole. */
static int pick_level0(const version *v, tlist *first) {
    size_t n = v->nfiles[0];
    if (n == 0) return LSMLOG_OK;
    unsigned char *in = lm_calloc(n, 1);
    if (!in) return st_error(LSMLOG_E_NOMEM, "out of memory");
    in[0] = 1;
    tlist one = {&v->files[0][0], 1, 1};
    ukey_range r;
    tlist_range(&one, &r);
    for (int grew = 1; grew;) {
        grew = 0;
        for (size_t i = 0; i < n; i++) {
            const file_meta *m = &v->files[0][i]->meta;
            if (in[i] || !overlaps(m, &r)) continue;
            in[i] = 1;
            grew = 1;
            if (ukey_cmp(m->smallest, m->smallest_len - 8, r.lo, r.lo_len) < 0) {
                r.lo = m->smallest;
                r.lo_len = m->smallest_len - 8;
            }
            if (ukey_cmp(m->largest, m->largest_len - 8, r.hi, r.hi_len) > 0) {
                r.hi = m->largest;
                r.hi_len = m->largest_len - 8;
            }
        }
    }
    int rc = LSMLOG_OK;
    for (size_t i = 0; rc == LSMLOG_OK && i < n; i++)
        if (in[i]) rc = tlist_push(first, v->files[0][i]);
    lm_free(in);
    return rc;
}

/* Level n >= 1: the table that rewrites the fewest bytes of level n+1 per
 * byte it moves down — the smallest (bytes of the level n+1 tables it
 * overlaps) / (its own bytes) — RocksDB's kMinOverlappingRatio, its default
 * since 6.x. LevelDB's round robin in key order (a pointer per level) took
 * the table next in line whatever lay under it; this one goes where level
 * n+1 is thinnest, and takes a table that overlaps nothing (moved down
 * whole) before any other. Ties: the first in key order. RocksDB also
 * favours tables near the end of a compaction TTL (a no-op until half the
 * TTL, 15 days by default, has passed); tables here have no creation time
 * and there is no such TTL, so the ratio alone decides. Tables with skip[i]
 * set (NULL: none) are passed over; n when every table is. */
static size_t pick_table(const version *v, int level, const unsigned char *skip) {
    table_file *const *f = v->files[level], *const *g = v->files[level + 1];
    size_t n = v->nfiles[level], gn = v->nfiles[level + 1], j = 0, best = n;
    double best_ratio = 0;
    assert(level >= 1 && level + 1 < DB_LEVELS);
    for (size_t i = 0; i < n; i++) {
        const file_meta *m = &f[i]->meta;
        /* both levels are sorted and disjoint: the next level's tables that
         * end before this table starts end before every later one too */
        while (j < gn && ukey_cmp(g[j]->meta.largest, g[j]->meta.largest_len - 8, m->smallest,
                                  m->smallest_len - 8) < 0)
            j++;
        if (skip && skip[i]) continue;
        uint64_t over = 0;
        for (size_t k = j; k < gn; k++) {
            const file_meta *o = &g[k]->meta;
            if (ukey_cmp(o->smallest, o->smallest_len - 8, m->largest, m->largest_len - 8) > 0)
                break;
            over += o->size;
        }
        double ratio = (double)over / (double)(m->size ? m->size : 1);
        if (best == n || ratio < best_ratio) {
            best = i;
            best_ratio = ratio;
        }
    }
    return best;
}

size_t compaction_pick_table(const version *v, int level) {
    assert(v->nfiles[level] > 0);
    return pick_table(v, level, NULL);
}

/* ---- background compactions, several at a time ---------------------------- */

struct compaction {
    int level, out;       /* level -> out = level + 1 */
    version *v;           /* the version it was picked from, pinned */
    tlist first, in;      /* its tables of `level`; every input (first, and those of `out` under them) */
    ukey_range range;     /* the user keys of its inputs: its output lands inside */
    uint64_t table_bytes; /* db->table_bytes when it was picked */
    int move;             /* one table that overlaps nothing below: moved down whole */
    compaction *next;     /* db->running */
};

void compaction_free(compaction *c) {
    if (!c) return;
    version_unref(c->v);
    lm_free(c->first.v);
    lm_free(c->in.v);
    lm_free(c);
}

/* Whether c may run beside the compactions running: none of its inputs is
 * another's, and no other writes into its output level within its range.
 * (Two compactions may still share a range one level apart: one into level
 * n inside a gap between the tables of level n another moves to n+1 —
 * newer data lands above older, as it should.) The last two rules — output
 * ranges, one level-0 compaction at a time — follow from the first when c
 * is picked from the current version (its range is covered by its inputs,
 * and level 0 goes from its oldest table); they guard the moment between a
 * compaction installing its result and leaving db->running, when the
 * current version no longer shows its inputs. No test can tell them apart
 * from the first. */
static int clashes(const lsmlog_db *db, const compaction *c) {
    for (size_t i = 0; i < c->in.n; i++)
        if (c->in.v[i]->compacting) return 1;
    for (const compaction *o = db->running; o; o = o->next) {
        if (c->level == 0 && o->level == 0) return 1; /* level 0's tables overlap: one at a time */
        if (o->out != c->out) continue;
        const ukey_range *r = &o->range;
        if (ukey_cmp(c->range.hi, c->range.hi_len, r->lo, r->lo_len) >= 0 &&
            ukey_cmp(r->hi, r->hi_len, c->range.lo, c->range.lo_len) >= 0)
            return 1;
    }
    return 0;
}

/* Builds the compaction of the tables `first` of `level` (taken over) with
 * what lies under them: a level >= 1 widens `first` (expand_inputs); a
 * single table over nothing moves down. */
static int build(lsmlog_db *db, version *v, int level, tlist *first, compaction **out) {
    *out = NULL;
    compaction *c = lm_calloc(1, sizeof *c);
    if (!c) {
        lm_free(first->v);
        return st_error(LSMLOG_E_NOMEM, "out of memory");
    }
    c->level = level;
    c->out = level + 1;
    c->first = *first;
    c->table_bytes = db->table_bytes;
    memset(first, 0, sizeof *first);
    ukey_range r;
    tlist_range(&c->first, &r);
    int rc = LSMLOG_OK;
    if (level > 0) {
        tlist below = {0};
        rc = add_overlapping(&below, v, level + 1, &r);
        if (rc == LSMLOG_OK && below.n) rc = expand_inputs(db, v, level, &c->first, &below);
        lm_free(below.v);
        tlist_range(&c->first, &r);
    }
    for (size_t i = 0; rc == LSMLOG_OK && i < c->first.n; i++) rc = tlist_push(&c->in, c->first.v[i]);
    if (rc == LSMLOG_OK) rc = add_overlapping(&c->in, v, level + 1, &r);
    if (rc) {
        compaction_free(c);
        return rc;
    }
    c->move = c->first.n == 1 && c->in.n == 1;
    tlist_range(&c->in, &c->range);
    version_ref(v);
    c->v = v;
    *out = c;
    return LSMLOG_OK;
}

/* The compaction of `level` that clashes with no running one, or NULL. */
static int pick_in_level(lsmlog_db *db, version *v, int level, compaction **out) {
    *out = NULL;
    int rc = LSMLOG_OK;
    if (level == 0) {
        tlist first = {0};
        rc = pick_level0(v, &first);
        if (rc == LSMLOG_OK) rc = build(db, v, 0, &first, out);
        if (rc == LSMLOG_OK && clashes(db, *out)) {
            compaction_free(*out);
            *out = NULL;
        }
        return rc;
    }
    /* the best table by pick_table's ratio whose compaction clashes with
     * nothing running: tables of running compactions, then the ones whose
     * compaction clashed, are passed over */
    size_t n = v->nfiles[level];
    unsigned char *skip = lm_calloc(n ? n : 1, 1);
    if (!skip) return st_error(LSMLOG_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) skip[i] = (unsigned char)v->files[level][i]->compacting;
    for (size_t i; rc == LSMLOG_OK && (i = pick_table(v, level, skip)) < n;) {
        tlist first = {0};
        rc = tlist_push(&first, v->files[level][i]);
        if (rc == LSMLOG_OK) rc = build(db, v, level, &first, out);
        else lm_free(first.v);
        if (rc || !clashes(db, *out)) break;
        compaction_free(*out);
        *out = NULL;
        skip[i] = 1;
    }
    lm_free(skip);
    return rc;
}

int compaction_pick(lsmlog_db *db, compaction **out) {
    *out = NULL;
    if (db->manual) return LSMLOG_OK;
    version *v = vset_current(db->vs);
    if (db->nrunning > 0 && !db->stalling && v->nfiles[0] < DB_L0_SPEEDUP) {
        version_unref(v);
        return LSMLOG_OK;
    }
    /* the levels over their limits, most over first */
    double score[DB_LEVELS];
    for (int l = 0; l < DB_LEVELS - 1; l++) score[l] = level_score(db, v, l);
    compaction *c = NULL;
    int rc = LSMLOG_OK, level0_waits = 0;
    for (;;) {
        int best = -1;
        for (int l = 0; l < DB_LEVELS - 1; l++)
            if (score[l] >= 1.0 && (best < 0 || score[l] > score[best])) best = l;
        if (best < 0) break;
        score[best] = 0;
        /* level 0 needs a level-1 table a compaction holds (with random
         * keys, every one): starting another compaction of level 1 now
         * would keep it waiting longer — and the writers behind it */
        if (best == 1 && level0_waits) continue;
        rc = pick_in_level(db, v, best, &c);
        if (rc || c) break;
        if (best == 0) {
            level0_waits = 1;
            for (const compaction *o = db->running; o; o = o->next)
                if (o->level == 0) level0_waits = 0; /* it waits for itself, not level 1 */
        }
    }
    version_unref(v);
    if (c) {
        for (size_t i = 0; i < c->in.n; i++) c->in.v[i]->compacting = 1;
        c->next = db->running;
        db->running = c;
        db->nrunning++;
    }
    *out = c;
    return rc;
}

void compaction_release(lsmlog_db *db, compaction *c) {
    for (size_t i = 0; i < c->in.n; i++) c->in.v[i]->compacting = 0;
    for (compaction **p = &db->running; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    db->nrunning--;
}

int compaction_level(const compaction *c) {
    return c->level;
}

int compaction_is_move(const compaction *c) {
    return c->move;
}

size_t compaction_inputs(const compaction *c, table_file *const **out) {
    *out = c->in.v;
    return c->in.n;
}

int compaction_run(lsmlog_db *db, compaction *c) {
    progress pr = {0};
    if (c->move) return trivial_move(db, c->level, c->first.v[0]);
    return merge_tables(db, c->v, c->level, c->out, &c->in, c->table_bytes, &pr);
}

int compaction_range(lsmlog_db *db, const void *start, size_t slen, const void *stop, size_t stoplen,
                     lsmlog_progress_fn fn, void *ctx) {
    ukey_range r = {start, stop, slen, stoplen, 0};
    pthread_mutex_lock(&db->mu);
    uint64_t table_bytes = db->table_bytes;
    pthread_mutex_unlock(&db->mu);
    /* the deepest level holding keys of the range, and the work's size: each
     * level's bytes are read where they are and again one level down */
    version *v = vset_current(db->vs);
    int deepest = -1;
    progress pr = {fn, ctx, 0, 0, 0};
    for (int l = 0; l < DB_LEVELS; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++)
            if (l == 0 || overlaps(&v->files[l][i]->meta, &r)) {
                deepest = l;
                pr.total += v->files[l][i]->meta.size * (l == 0 ? 1 : 2);
            }
    version_unref(v);
    uint64_t first_new = vset_new_file_number(db->vs); /* tables from here on are this call's */
    int rc = progress_report(&pr, 0, 1);
    if (deepest < 0) return rc;
    if (deepest == 0) deepest = 1;
    /* each level down into the next; then the deepest rewritten in place, so
     * that what expired or was deleted down there goes too */
    for (int level = 0; rc == LSMLOG_OK && level <= deepest; level++) {
        v = vset_current(db->vs);
        tlist first = {0};
        /* level 0: every table (their ranges overlap: moving only some would
         * let an older one shadow what moved below it) */
        for (size_t i = 0; rc == LSMLOG_OK && i < v->nfiles[level]; i++) {
            table_file *t = v->files[level][i];
            /* in place: only tables this call has not just written */
            if (level == deepest && t->meta.number >= first_new) continue;
            if (level == 0 || overlaps(&t->meta, &r)) rc = tlist_push(&first, t);
        }
        if (rc == LSMLOG_OK && first.n) {
            if (level < deepest && level < DB_LEVELS - 1) {
                rc = compact_level(db, v, level, &first, table_bytes, &pr);
            } else if (level > 0) {
                /* one table at a time: what it becomes stays inside its own
                 * range, clear of the level's other tables */
                for (size_t i = 0; rc == LSMLOG_OK && i < first.n; i++) {
                    tlist one = {&first.v[i], 1, 1};
                    rc = merge_tables(db, v, level, level, &one, table_bytes, &pr);
                }
            }
        }
        lm_free(first.v);
        version_unref(v);
    }
    if (rc == LSMLOG_OK) {
        pr.total = pr.done;
        rc = progress_report(&pr, 0, 1);
    }
    return rc;
}

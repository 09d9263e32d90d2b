/* db.c — the DB handle: open and recovery, the write path (a writer queue
 * with group commit over the write-ahead log), memtable switches, the
 * background thread that flushes memtables and compacts, snapshots, stats.
 * docs/db.md tells the design; db_internal.h the locks. */
#include "db_internal.h"

#include "alloc.h"
#include "dbformat.h"
#include "env.h"
#include "log_internal.h"
#include "status.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define WAL_DIR "wal"
#define LOCK_NAME "LOCK"

char *db_table_path(const lsmlog_db *db, uint64_t number) {
    char name[32];
    snprintf(name, sizeof name, "%06llu.sst", (unsigned long long)number);
    return env_join(db->dir, name);
}

void db_set_bg_error(lsmlog_db *db, int rc) {
    if (db->bg_error) return;
    db->bg_error = rc;
    snprintf(db->bg_msg, sizeof db->bg_msg, "%s", lsmlog_errmsg());
    pthread_cond_broadcast(&db->done_cv);
}

static int bg_error_status(lsmlog_db *db) {
    return st_error(db->bg_error, "%s: the DB takes no more writes after an earlier failure: %s", db->dir,
                    db->bg_msg);
}

int64_t db_now(const lsmlog_db *db) {
    return db->clock ? db->clock(db->clock_ctx) : env_now_ms();
}

/* The clock of the DBs opened from now on (db_set_test_clock). */
static db_clock_fn test_clock;
static void *test_clock_ctx;

void db_set_test_clock(db_clock_fn fn, void *ctx) {
    test_clock = fn;
    test_clock_ctx = ctx;
}

/* The number of background threads of the DBs opened from now on
 * (db_set_test_bg_threads; 0: DB_BG_THREADS). */
static int test_bg_threads;

void db_set_test_bg_threads(int n) {
    test_bg_threads = n > 0 && n <= DB_BG_THREADS ? n : 0;
}

void db_set_shape(lsmlog_db *db, uint64_t l1_bytes, uint64_t table_bytes) {
    pthread_mutex_lock(&db->mu);
    db->l1_bytes = l1_bytes;
    db->table_bytes = table_bytes;
    /* a smaller shape may call for a compaction the background threads,
     * asleep, decided against with the old one */
    pthread_cond_broadcast(&db->bg_cv);
    pthread_mutex_unlock(&db->mu);
}

uint64_t db_oldest_snapshot(lsmlog_db *db) {
    return db->snaps.next != &db->snaps ? db->snaps.next->seq : db->last_seq;
}

/* The table of an obsolete number leaves the disk and the cache. Called with
 * the version set's mutex held: takes no DB lock. */
static void on_obsolete(void *ctx, uint64_t number) {
    lsmlog_db *db = ctx;
    char *path = db_table_path(db, number);
    if (path) env_unlink(path);
    lm_free(path);
    block_cache_erase_file(db->cache, number);
}

/* ---- applying write batches to a memtable -------------------------------- */

typedef struct apply_ctx {
    memtable *m;
    uint64_t max_seq;
} apply_ctx;

static int apply_op(void *arg, uint64_t seq, int type, const uint8_t *key, size_t klen,
                    const uint8_t *val, size_t vlen) {
    apply_ctx *a = arg;
    int kt = type == WB_DELETE ? KT_DELETE : type == WB_PUT ? KT_PUT : KT_PUT_TTL;
    if (seq > MAX_SEQ) return st_error(LSMLOG_E_CORRUPT, "sequence number %llu out of range", (unsigned long long)seq);
    int rc = memtable_add(a->m, seq, kt, key, klen, val, vlen);
    if (rc == LSMLOG_E_INVALID) rc = st_error(LSMLOG_E_CORRUPT, "write-ahead log: a sequence number is used twice");
    if (seq > a->max_seq) a->max_seq = seq;
    return rc;
}

/* ---- flushing a memtable to a level-0 table ------------------------------ */

/* Writes m to a new table, fsynced with its directory, and fills e with the
 * edit that adds it (nothing when m is empty). */
static int write_level0(lsmlog_db *db, memtable *m, vedit *e, uint64_t *bytes) {
    *bytes = 0;
    if (memtable_count(m) == 0) return LSMLOG_OK;
    uint64_t number = vset_new_file_number(db->vs);
    char *path = db_table_path(db, number);
    if (!path) return st_error(LSMLOG_E_NOMEM, "out of memory");
    sst_options so;
    sst_options_init(&so, ikey_cmp);
    so.bloom_bits = db->opts.bloom_bits;
    sst_builder *b = NULL;
    sst_props props;
    memset(&props, 0, sizeof props);
    int rc = sst_builder_open(path, &so, &b);
    memtable_iter it;
    memtable_iter_init(&it, m);
    for (memtable_iter_seek_to_first(&it); rc == LSMLOG_OK && memtable_iter_valid(&it); memtable_iter_next(&it)) {
        size_t kl, vl;
        const uint8_t *k = memtable_iter_key(&it, &kl), *v = memtable_iter_value(&it, &vl);
        rc = sst_builder_add(b, k, kl, v, vl);
    }
    memtable_iter_done(&it);
    if (rc == LSMLOG_OK) rc = sst_builder_finish(b, 1, &props);
    if (rc == LSMLOG_OK) rc = env_fsync_dir(db->dir);
    if (rc == LSMLOG_OK)
        rc = vedit_add_file(e, 0, number, props.file_size, props.smallest_key, props.smallest_len,
                            props.largest_key, props.largest_len, props.smallest_seq, props.largest_seq);
    if (rc == LSMLOG_OK) {
        vedit_set_last_seq(e, props.largest_seq);
        *bytes = props.file_size;
        sst_builder_free(b);
    } else {
        sst_builder_abandon(b);
    }
    sst_props_clear(&props);
    lm_free(path);
    return rc;
}

/* Flushes the immutable memtable, which the caller found there and marked
 * as being flushed (db->flushing; no lock held). */
static int flush_imm(lsmlog_db *db) {
    pthread_mutex_lock(&db->mu);
    memtable *m = db->imm;
    uint64_t wal_end = db->imm_wal_end;
    pthread_mutex_unlock(&db->mu);
    vedit e;
    vedit_init(&e);
    uint64_t bytes = 0;
    int rc = write_level0(db, m, &e, &bytes);
    if (rc == LSMLOG_OK) {
        vedit_set_wal_offset(&e, wal_end);
        pthread_mutex_lock(&db->edit_mu);
        rc = vset_apply(db->vs, &e);
        pthread_mutex_unlock(&db->edit_mu);
    }
    vedit_free(&e);
    /* the WAL's records below wal_end are in a table now; a failure here
     * only keeps some segments longer. Not during a repair: until CURRENT
     * names its manifest, the WAL is still the old state's (db_repair.c) */
    if (rc == LSMLOG_OK && !db->repair) lsmlog_log_truncate_before(db->wal, wal_end);
    pthread_mutex_lock(&db->mu);
    db->flushing = 0;
    if (rc == LSMLOG_OK) {
        db->imm = NULL;
        db->flushes++;
        db->flush_bytes += bytes;
    } else {
        db_set_bg_error(db, rc);
    }
    pthread_cond_broadcast(&db->done_cv);
    pthread_cond_broadcast(&db->bg_cv); /* level 0 grew: a compaction may be due */
    pthread_mutex_unlock(&db->mu);
    if (rc == LSMLOG_OK) memtable_unref(m);
    return rc;
}

/* mu held: whether imm waits for a flush that nobody runs; if so, the
 * caller runs it. */
static int take_flush(lsmlog_db *db) {
    if (!db->imm || db->flushing || db->bg_error) return 0;
    db->flushing = 1;
    return 1;
}

int db_flush_pending(lsmlog_db *db) {
    pthread_mutex_lock(&db->mu);
    int mine = take_flush(db);
    pthread_mutex_unlock(&db->mu);
    return mine ? flush_imm(db) : LSMLOG_OK;
}

int db_bg_idle(lsmlog_db *db) {
    if (db->bg_error || db->closing) return 1;
    if (db->imm || db->flushing || db->nrunning || db->nfreeing || db->manual_running) return 0;
    version *v = vset_current(db->vs);
    int needed = compaction_needed(db, v);
    version_unref(v);
    return !needed;
}

/* ---- the background threads ---------------------------------------------- */

/* DB_BG_THREADS of them (RocksDB's default of two background jobs; LevelDB
 * has one): a flush first, else the compaction the levels most need that
 * clashes with none running (compaction_pick; a second one only while
 * writes are held up). With two, a flush or a compaction of level 0 need not
 * wait for a long one further down, which is what makes writers stall at
 * level 0's stop. */
static void *bg_main(void *arg) {
    lsmlog_db *db = arg;
    pthread_mutex_lock(&db->mu);
    while (!db->closing) {
        if (db->bg_error) {
            pthread_cond_wait(&db->bg_cv, &db->mu);
            continue;
        }
        if (take_flush(db)) {
            pthread_mutex_unlock(&db->mu);
            flush_imm(db); /* records its own failure */
            pthread_mutex_lock(&db->mu);
            continue;
        }
        compaction *c = NULL;
        int rc = compaction_pick(db, &c);
        if (rc) {
            db_set_bg_error(db, rc); /* out of memory: as a compaction failing */
            continue;
        }
        if (!c) {
            pthread_cond_wait(&db->bg_cv, &db->mu);
            continue;
        }
        pthread_mutex_unlock(&db->mu);
        rc = compaction_run(db, c);
        pthread_mutex_lock(&db->mu);
        /* recorded before the compaction leaves db->running: a manual
         * compaction waiting for it must find it, not write on after it */
        if (rc) db_set_bg_error(db, rc);
        compaction_release(db, c);
        db->nfreeing++;
        pthread_cond_broadcast(&db->done_cv);
        pthread_cond_broadcast(&db->bg_cv); /* what it held may be free to compact now */
        pthread_mutex_unlock(&db->mu);
        compaction_free(c); /* may delete tables: not under mu */
        pthread_mutex_lock(&db->mu);
        db->nfreeing--;
    }
    pthread_mutex_unlock(&db->mu);
    return NULL;
}

/* ---- the write path ------------------------------------------------------ */

static int64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Makes room in the memtable for the leader's write (mu held): switches a
 * full memtable (or, with force, any non-empty one) to immutable; waits while
 * the previous one is still being flushed or level 0 is at its stop. */
static int make_room(lsmlog_db *db, int force) {
    int stalled = 0;
    int64_t t0 = 0;
    int rc = LSMLOG_OK;
    for (;;) {
        if (db->bg_error) {
            rc = bg_error_status(db);
            break;
        }
        /* never an empty memtable: an empty arena already holds a block,
         * which may be over a small memtable_bytes, and flushing nothing
         * would still cost a manifest fsync per write */
        if (memtable_count(db->mem) == 0) break;
        if (!force && memtable_data_bytes(db->mem) < db->opts.memtable_bytes) break;
        version *v = vset_current(db->vs);
        size_t l0 = v->nfiles[0];
        version_unref(v);
        if (db->imm || l0 >= DB_L0_STOP) {
            if (!stalled) {
                stalled = 1;
                t0 = mono_us();
                db->stalls++;
                db->stalling = 1;
            }
            /* both: a waiting writer lets a second compaction start */
            pthread_cond_broadcast(&db->bg_cv);
            pthread_cond_wait(&db->done_cv, &db->mu);
            continue;
        }
        memtable *fresh = NULL;
        uint64_t end = 0;
        if ((rc = memtable_new(&fresh, db->opts.memtable_bytes))) break;
        if ((rc = lsmlog_log_bounds(db->wal, NULL, &end))) {
            memtable_unref(fresh);
            break;
        }
        db->imm = db->mem;
        db->imm_wal_end = end;
        db->mem = fresh;
        pthread_cond_signal(&db->bg_cv);
        break;
    }
    if (stalled) {
        db->stall_us += (uint64_t)(mono_us() - t0);
        db->stalling = 0;
    }
    return rc;
}

/* Queues b (NULL: a memtable switch) and returns when it is applied. */
static int db_write(lsmlog_db *db, const wbatch *b) {
    if (db->lock_fd < 0) return st_error(LSMLOG_E_READONLY, "%s: the DB is open read-only", db->dir);
    db_writer w = {.batch = b};
    pthread_cond_init(&w.cv, NULL);
    pthread_mutex_lock(&db->mu);
    if (db->wq_tail) db->wq_tail->next = &w;
    else db->wq_head = &w;
    db->wq_tail = &w;
    while (!w.done && db->wq_head != &w) pthread_cond_wait(&w.cv, &db->mu);
    if (w.done) { /* a leader wrote our batch with its group */
        if (w.rc) st_error(w.rc, "%s", db->group_msg);
        pthread_mutex_unlock(&db->mu);
        pthread_cond_destroy(&w.cv);
        return w.rc;
    }
    /* the leader */
    int rc = make_room(db, b == NULL);
    db_writer *last = &w;
    if (rc == LSMLOG_OK && b) {
        wbatch *g = &db->group;
        wbatch_clear(g);
        rc = wbatch_append(g, b);
        size_t max = b->len <= (128u << 10) ? b->len + (128u << 10) : DB_GROUP_MAX_BYTES;
        for (db_writer *n = w.next; rc == LSMLOG_OK && n && n->batch && g->len + n->batch->len <= max; n = n->next) {
            if ((rc = wbatch_append(g, n->batch))) break;
            last = n;
        }
        uint64_t seq = db->last_seq + 1;
        if (rc == LSMLOG_OK && seq + g->count - 1 > MAX_SEQ)
            rc = st_error(LSMLOG_E_INVALID, "%s: sequence numbers exhausted", db->dir);
        if (rc == LSMLOG_OK && g->count > 0) {
            wbatch_set_seq(g, seq);
            pthread_mutex_unlock(&db->mu);
            /* only the leader appends and inserts: the WAL order is the
             * memtable's order, and one batch is one WAL record */
            rc = lsmlog_log_append(db->wal, g->rep, g->len, LSMLOG_NOW, NULL);
            int applied = LSMLOG_OK; /* a failed insert: WAL and memtable disagree */
            if (rc == LSMLOG_OK) {
                apply_ctx a = {db->mem, 0};
                applied = rc = wbatch_iterate(g->rep, g->len, apply_op, &a);
            }
            pthread_mutex_lock(&db->mu);
            if (rc == LSMLOG_OK) {
                db->last_seq = seq + g->count - 1;
                db->user_bytes += g->user_bytes;
                db->wal_bytes += g->len;
            } else if (rc == LSMLOG_E_FAILED || applied != LSMLOG_OK) {
                /* the WAL may hold what the memtable does not: stop here */
                db_set_bg_error(db, rc);
            }
        }
    }
    int err = rc;
    if (rc) snprintf(db->group_msg, sizeof db->group_msg, "%s", lsmlog_errmsg());
    /* wake the group and hand leadership on */
    for (;;) {
        db_writer *h = db->wq_head;
        db->wq_head = h->next;
        if (!db->wq_head) db->wq_tail = NULL;
        if (h != &w) {
            h->rc = err;
            h->done = 1;
            pthread_cond_signal(&h->cv);
        }
        if (h == last) break;
    }
    if (db->wq_head) pthread_cond_signal(&db->wq_head->cv);
    pthread_mutex_unlock(&db->mu);
    pthread_cond_destroy(&w.cv);
    return rc;
}

/* ---- the public write API ------------------------------------------------ */

#define CHECK_DB(db)                                                                   \
    do {                                                                               \
        if (!(db)) return st_error(LSMLOG_E_INVALID, "NULL DB handle");                \
    } while (0)

static int64_t expiry_of(int64_t ttl_ms, int64_t now, int *rc) {
    *rc = LSMLOG_OK;
    if (ttl_ms <= 0) {
        *rc = st_error(LSMLOG_E_INVALID, "a TTL must be > 0 ms (got %lld)", (long long)ttl_ms);
        return 0;
    }
    return ttl_ms > INT64_MAX - now ? INT64_MAX : now + ttl_ms;
}

static int value_too_big(size_t vlen) {
    return st_error(LSMLOG_E_TOOBIG, "a value of %zu bytes is over the limit of %u bytes", vlen, DB_MAX_VALUE);
}

static int write_one(lsmlog_db *db, int type, const void *key, size_t klen, const void *val,
                     size_t vlen, int64_t ttl_ms) {
    CHECK_DB(db);
    if (!key && klen) return st_error(LSMLOG_E_INVALID, "NULL key with length %zu", klen);
    if (!val && vlen) return st_error(LSMLOG_E_INVALID, "NULL value with length %zu", vlen);
    if (vlen > DB_MAX_VALUE) return value_too_big(vlen);
    wbatch b;
    wbatch_init(&b);
    int rc = LSMLOG_OK;
    if (type == WB_DELETE) {
        rc = wbatch_delete(&b, key, klen);
    } else {
        int64_t exp = type == WB_PUT_TTL ? expiry_of(ttl_ms, db_now(db), &rc) : 0;
        if (rc == LSMLOG_OK) rc = wbatch_put(&b, key, klen, val, vlen, exp);
    }
    if (rc == LSMLOG_OK) rc = db_write(db, &b);
    wbatch_free(&b);
    return rc;
}

int lsmlog_db_put(lsmlog_db *db, const void *key, size_t klen, const void *val, size_t vlen) {
    return write_one(db, WB_PUT, key, klen, val, vlen, 0);
}

int lsmlog_db_put_ttl(lsmlog_db *db, const void *key, size_t klen, const void *val, size_t vlen,
                      int64_t ttl_ms) {
    return write_one(db, WB_PUT_TTL, key, klen, val, vlen, ttl_ms);
}

int lsmlog_db_delete(lsmlog_db *db, const void *key, size_t klen) {
    return write_one(db, WB_DELETE, key, klen, NULL, 0, 0);
}

int lsmlog_db_write(lsmlog_db *db, const lsmlog_batch *b) {
    CHECK_DB(db);
    if (!b) return st_error(LSMLOG_E_INVALID, "NULL batch");
    if (b->b.count == 0) return db->lock_fd < 0 ? st_error(LSMLOG_E_READONLY, "%s: the DB is open read-only", db->dir) : LSMLOG_OK;
    return db_write(db, &b->b);
}

int lsmlog_batch_new(lsmlog_batch **out) {
    if (!out) return st_error(LSMLOG_E_INVALID, "NULL output");
    lsmlog_batch *b = lm_calloc(1, sizeof *b);
    if (!b) return st_error(LSMLOG_E_NOMEM, "out of memory");
    wbatch_init(&b->b);
    *out = b;
    return LSMLOG_OK;
}

void lsmlog_batch_free(lsmlog_batch *b) {
    if (!b) return;
    wbatch_free(&b->b);
    lm_free(b);
}

int lsmlog_batch_put(lsmlog_batch *b, const void *key, size_t klen, const void *val, size_t vlen) {
    if (!b) return st_error(LSMLOG_E_INVALID, "NULL batch");
    if ((!key && klen) || (!val && vlen)) return st_error(LSMLOG_E_INVALID, "NULL key or value with a length");
    if (vlen > DB_MAX_VALUE) return value_too_big(vlen);
    return wbatch_put(&b->b, key, klen, val, vlen, 0);
}

int lsmlog_batch_put_ttl(lsmlog_batch *b, const void *key, size_t klen, const void *val,
                         size_t vlen, int64_t ttl_ms) {
    if (!b) return st_error(LSMLOG_E_INVALID, "NULL batch");
    if ((!key && klen) || (!val && vlen)) return st_error(LSMLOG_E_INVALID, "NULL key or value with a length");
    if (vlen > DB_MAX_VALUE) return value_too_big(vlen);
    int rc;
    int64_t exp = expiry_of(ttl_ms, env_now_ms(), &rc);
    return rc ? rc : wbatch_put(&b->b, key, klen, val, vlen, exp);
}

int lsmlog_batch_delete(lsmlog_batch *b, const void *key, size_t klen) {
    if (!b) return st_error(LSMLOG_E_INVALID, "NULL batch");
    if (!key && klen) return st_error(LSMLOG_E_INVALID, "NULL key with length %zu", klen);
    return wbatch_delete(&b->b, key, klen);
}

void lsmlog_batch_clear(lsmlog_batch *b) {
    if (b) wbatch_clear(&b->b);
}

size_t lsmlog_batch_count(const lsmlog_batch *b) {
    return b ? b->b.count : 0;
}

int lsmlog_db_flush(lsmlog_db *db) {
    CHECK_DB(db);
    if (db->lock_fd < 0) return st_error(LSMLOG_E_READONLY, "%s: the DB is open read-only", db->dir);
    return lsmlog_log_flush(db->wal);
}

int lsmlog_db_sync(lsmlog_db *db) {
    CHECK_DB(db);
    if (db->lock_fd < 0) return st_error(LSMLOG_E_READONLY, "%s: the DB is open read-only", db->dir);
    int rc = lsmlog_log_sync(db->wal);
    if (rc == LSMLOG_E_FAILED) {
        pthread_mutex_lock(&db->mu);
        db_set_bg_error(db, rc);
        pthread_mutex_unlock(&db->mu);
    }
    return rc;
}

int lsmlog_db_flush_memtable(lsmlog_db *db) {
    CHECK_DB(db);
    int rc = db_write(db, NULL); /* switch the memtable, in the writers' order */
    if (rc) return rc;
    pthread_mutex_lock(&db->mu);
    while (db->imm && !db->bg_error) pthread_cond_wait(&db->done_cv, &db->mu);
    rc = db->bg_error ? bg_error_status(db) : LSMLOG_OK;
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int lsmlog_db_compact(lsmlog_db *db, const void *start, size_t start_len, const void *stop,
                      size_t stop_len, lsmlog_progress_fn progress, void *ctx) {
    CHECK_DB(db);
    if ((!start && start_len) || (!stop && stop_len)) return st_error(LSMLOG_E_INVALID, "NULL bound with a length");
    int rc = lsmlog_db_flush_memtable(db);
    if (rc) return rc;
    /* no background compaction starts from here on; the manual one waits
     * for those running (and for another manual one), then runs alone */
    pthread_mutex_lock(&db->mu);
    db->manual++;
    while ((db->nrunning || db->manual_running) && !db->bg_error) pthread_cond_wait(&db->done_cv, &db->mu);
    /* the background may have failed since the flush (a compaction it
     * started before `manual` was raised): nothing more is written then */
    rc = db->bg_error ? bg_error_status(db) : LSMLOG_OK;
    int ran = rc == LSMLOG_OK;
    if (ran) db->manual_running = 1;
    pthread_mutex_unlock(&db->mu);
    if (ran) rc = compaction_range(db, start, start_len, stop, stop_len, progress, ctx);
    pthread_mutex_lock(&db->mu);
    if (ran) db->manual_running = 0;
    db->manual--;
    if (rc && rc != LSMLOG_E_CANCELED && !db->bg_error) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", lsmlog_errmsg());
        db_set_bg_error(db, rc);
        st_error(rc, "%s", msg);
    }
    pthread_cond_broadcast(&db->bg_cv); /* the background may have work waiting */
    /* level 0 may have shrunk: writers stalled at its stop wait for this
     * (nothing else would wake them when the background has no work) */
    pthread_cond_broadcast(&db->done_cv);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* ---- snapshots ----------------------------------------------------------- */

int lsmlog_db_snapshot(lsmlog_db *db, lsmlog_snapshot **out) {
    CHECK_DB(db);
    if (!out) return st_error(LSMLOG_E_INVALID, "NULL output");
    lsmlog_snapshot *s = lm_calloc(1, sizeof *s);
    if (!s) return st_error(LSMLOG_E_NOMEM, "out of memory");
    int rc = db_refresh(db);
    if (rc) {
        lm_free(s);
        return rc;
    }
    pthread_mutex_lock(&db->mu);
    s->db = db;
    s->seq = db->last_seq;
    if (db->lock_fd < 0) {
        s->v = vset_current(db->vs);
        if ((s->mem = db->mem)) memtable_ref(s->mem);
        if ((s->imm = db->imm)) memtable_ref(s->imm);
    }
    s->prev = db->snaps.prev;
    s->next = &db->snaps;
    db->snaps.prev->next = s;
    db->snaps.prev = s;
    db->nsnaps++;
    pthread_mutex_unlock(&db->mu);
    *out = s;
    return LSMLOG_OK;
}

void lsmlog_db_snapshot_release(lsmlog_snapshot *s) {
    if (!s) return;
    lsmlog_db *db = s->db;
    pthread_mutex_lock(&db->mu);
    s->prev->next = s->next;
    s->next->prev = s->prev;
    db->nsnaps--;
    pthread_mutex_unlock(&db->mu);
    version_unref(s->v);
    memtable_unref(s->mem);
    memtable_unref(s->imm);
    lm_free(s);
}

/* ---- stats --------------------------------------------------------------- */

int lsmlog_db_get_stats(lsmlog_db *db, lsmlog_db_stats *out) {
    CHECK_DB(db);
    if (!out) return st_error(LSMLOG_E_INVALID, "NULL output");
    memset(out, 0, sizeof *out);
    int rc = db_refresh(db);
    if (rc) return rc;
    pthread_mutex_lock(&db->mu);
    version *v = vset_current(db->vs);
    for (int l = 0; l < LSMLOG_DB_LEVELS && l < DB_LEVELS; l++) {
        out->levels[l].files = v->nfiles[l];
        out->levels[l].bytes = version_level_bytes(v, l);
    }
    out->memtable_bytes = memtable_bytes(db->mem) + (db->imm ? memtable_bytes(db->imm) : 0);
    out->last_seq = db->last_seq;
    out->user_bytes = db->user_bytes;
    out->wal_bytes = db->wal_bytes;
    out->flush_bytes = db->flush_bytes;
    out->compact_read_bytes = db->compact_read;
    out->compact_write_bytes = db->compact_write;
    uint64_t written = db->wal_bytes + db->flush_bytes + db->compact_write;
    out->write_amp = db->user_bytes ? (double)written / (double)db->user_bytes : 0.0;
    out->flushes = db->flushes;
    out->compactions = db->compactions;
    out->trivial_moves = db->trivial_moves;
    out->stalls = db->stalls;
    out->stall_us = db->stall_us;
    pthread_mutex_unlock(&db->mu);
    block_cache_stats cs;
    block_cache_get_stats(db->cache, &cs);
    out->cache_hits = cs.hits;
    out->cache_misses = cs.misses;
    pthread_mutex_lock(&db->tables_mu);
    for (int l = 0; l < DB_LEVELS; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++) {
            sst_reader *r = v->files[l][i]->reader;
            if (!r) continue;
            sst_reader_stats rs;
            sst_reader_get_stats(r, &rs);
            out->bloom_useful += rs.bloom_useful;
            out->bloom_useless += rs.bloom_useless;
        }
    pthread_mutex_unlock(&db->tables_mu);
    version_unref(v);
    return LSMLOG_OK;
}

const lsmlog_recovery *lsmlog_db_recovery(lsmlog_db *db) {
    return db ? db_recovery(db) : NULL;
}

/* ---- open and close ------------------------------------------------------ */

/* Replays the WAL into db->mem from offset `from`; *next receives the offset
 * after the last record replayed. A writer turns every memtable that fills up
 * on the way into a level-0 table, so recovery needs no more memory than
 * normal running. A read-only view reports a gap in the offsets (the writer
 * dropped segments it had not read) as LSMLOG_E_BUSY: start again. */
static int replay_wal(lsmlog_db *db, uint64_t from, uint64_t *next) {
    lsmlog_iter_opts io;
    lsmlog_iter_opts_init(&io);
    io.start = from;
    lsmlog_log_iter *it = NULL;
    int rc = lsmlog_log_iter_open(db->wal, &io, &it);
    lsmlog_record r;
    uint64_t max_seq = db->last_seq;
    *next = from;
    while (rc == LSMLOG_OK && (rc = lsmlog_log_iter_next(it, &r)) == LSMLOG_OK) {
        if (db->lock_fd < 0 && r.offset != *next) {
            rc = LSMLOG_E_BUSY;
            break;
        }
        apply_ctx a = {db->mem, 0};
        rc = wbatch_iterate(r.value, r.len, apply_op, &a);
        if (rc) {
            rc = st_append(rc, " (%s/%s, record %llu)", db->dir, WAL_DIR, (unsigned long long)r.offset);
            break;
        }
        if (a.max_seq > max_seq) max_seq = a.max_seq;
        *next = r.offset + 1;
        if (db->lock_fd >= 0 && memtable_data_bytes(db->mem) >= db->opts.memtable_bytes) {
            db->imm = db->mem;
            db->imm_wal_end = r.offset + 1;
            db->mem = NULL;
            if ((rc = memtable_new(&db->mem, db->opts.memtable_bytes))) break;
            if ((rc = db_flush_pending(db))) break; /* the background threads have not started */
        }
    }
    if (rc == LSMLOG_NOTFOUND) rc = LSMLOG_OK;
    lsmlog_log_iter_close(it);
    pthread_mutex_lock(&db->mu);
    db->last_seq = max_seq;
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* ---- read-only views ----------------------------------------------------- */

/* The number of records in manifest `number` (read-only handles keep the
 * manifest open to ask cheaply). */
static int manifest_end(lsmlog_db *db, uint64_t number, uint64_t *end) {
    if (!db->ro_mlog || db->ro_mlog_number != number) {
        lsmlog_log_close(db->ro_mlog);
        db->ro_mlog = NULL;
        char *path = vset_manifest_path(db->dir, number);
        if (!path) return st_error(LSMLOG_E_NOMEM, "out of memory");
        lsmlog_options o;
        lsmlog_options_init(&o);
        o.readonly = 1;
        o.create = 0;
        int rc = lsmlog_log_open(path, &o, &db->ro_mlog);
        lm_free(path);
        if (rc) return rc;
        db->ro_mlog_number = number;
    }
    return lsmlog_log_bounds(db->ro_mlog, NULL, end);
}

/* Rebuilds a read-only view from the manifest CURRENT names now: the version
 * (every table opened at once, so a compaction deleting one later cannot
 * take it away), then a memtable replayed from the WAL. edit_mu held. */
static int rebuild_view(lsmlog_db *db) {
    int rc = vset_reload(db->vs);
    version *v = rc ? NULL : vset_current(db->vs);
    for (int l = 0; rc == LSMLOG_OK && l < DB_LEVELS; l++)
        for (size_t i = 0; rc == LSMLOG_OK && i < v->nfiles[l]; i++) {
            sst_reader *r;
            rc = db_table_reader(db, v->files[l][i], &r); /* NOENT: db_refresh tells why */
        }
    version_unref(v);
    memtable *fresh = NULL, *old;
    if (rc == LSMLOG_OK) rc = memtable_new(&fresh, db->opts.memtable_bytes);
    if (rc) return rc;
    pthread_mutex_lock(&db->mu);
    old = db->mem;
    db->mem = fresh;
    db->last_seq = db->vs->last_seq;
    pthread_mutex_unlock(&db->mu);
    memtable_unref(old);
    return replay_wal(db, db->vs->wal_offset, &db->ro_wal_next);
}

int db_refresh(lsmlog_db *db) {
    if (db->lock_fd >= 0) return LSMLOG_OK;
    pthread_mutex_lock(&db->edit_mu);
    int rc = LSMLOG_OK;
    for (int attempt = 0; attempt < 50; attempt++) {
        uint64_t number = 0, mend = 0, wal_end = 0;
        rc = vset_read_current(db->dir, &number);
        if (rc == LSMLOG_OK) rc = manifest_end(db, number, &mend);
        if (rc == LSMLOG_E_NOENT || rc == LSMLOG_E_CORRUPT) {
            rc = LSMLOG_E_BUSY; /* a writer starting a new manifest: look again */
            continue;
        }
        if (rc == LSMLOG_OK) rc = lsmlog_log_bounds(db->wal, NULL, &wal_end);
        if (rc) break;
        if (number == db->ro_manifest && mend == db->ro_manifest_end) {
            if (wal_end == db->ro_wal_next) break; /* nothing new */
            rc = replay_wal(db, db->ro_wal_next, &db->ro_wal_next);
            if (rc != LSMLOG_E_BUSY) break;
        }
        rc = rebuild_view(db);
        if (rc == LSMLOG_OK) {
            db->ro_manifest = number;
            db->ro_manifest_end = mend;
            /* edits may have landed while we read: compare again */
            continue;
        }
        if (rc == LSMLOG_E_NOENT) {
            /* a table the manifest names is missing: either a compaction
             * removed it after an edit this view has not read (the manifest
             * has grown or been replaced since: look again), or the DB is
             * damaged (the manifest has not moved: say which table) */
            char msg[512];
            snprintf(msg, sizeof msg, "%s", lsmlog_errmsg());
            uint64_t n2 = 0, m2 = 0;
            int rc2 = vset_read_current(db->dir, &n2);
            if (rc2 == LSMLOG_OK) rc2 = manifest_end(db, n2, &m2);
            if (rc2 == LSMLOG_OK && n2 == number && m2 == mend) {
                rc = st_error(LSMLOG_E_NOENT, "%s", msg);
                break;
            }
            rc = LSMLOG_E_BUSY;
            continue;
        }
        if (rc != LSMLOG_E_BUSY) break;
    }
    if (rc == LSMLOG_E_BUSY)
        rc = st_error(LSMLOG_E_BUSY, "%s: the writer keeps changing the DB faster than this read-only handle can follow", db->dir);
    pthread_mutex_unlock(&db->edit_mu);
    return rc;
}

/* Stops the background threads: each finishes what it is doing first. */
static void stop_bg(lsmlog_db *db) {
    pthread_mutex_lock(&db->mu);
    db->closing = 1;
    pthread_cond_broadcast(&db->bg_cv);
    pthread_mutex_unlock(&db->mu);
    for (int i = 0; i < db->bg_started; i++) pthread_join(db->bg[i], NULL);
    db->bg_started = 0;
}

static void db_free(lsmlog_db *db) {
    db_repair_free(db);
    if (db->wal) lsmlog_log_close(db->wal);
    lsmlog_log_close(db->ro_mlog);
    memtable_unref(db->mem);
    memtable_unref(db->imm);
    vset_close(db->vs);
    block_cache_free(db->cache);
    if (db->lock_fd >= 0) env_close(db->lock_fd);
    wbatch_free(&db->group);
    pthread_mutex_destroy(&db->edit_mu);
    pthread_mutex_destroy(&db->mu);
    pthread_mutex_destroy(&db->tables_mu);
    pthread_cond_destroy(&db->bg_cv);
    pthread_cond_destroy(&db->done_cv);
    lm_free(db->dir);
    lm_free(db);
}

static int check_options(const lsmlog_options *o) {
    if (o->durability < LSMLOG_DURABILITY_BUFFERED || o->durability > LSMLOG_DURABILITY_SYNC)
        return st_error(LSMLOG_E_INVALID, "durability must be buffered, os or sync");
    if (o->memtable_bytes < 4096 || o->memtable_bytes > (1ull << 32))
        return st_error(LSMLOG_E_INVALID, "memtable_bytes must be between 4096 and 4 GiB (got %llu)",
                        (unsigned long long)o->memtable_bytes);
    if (o->bloom_bits < 0 || o->bloom_bits > 64)
        return st_error(LSMLOG_E_INVALID, "bloom_bits must be between 0 and 64 (got %d)", o->bloom_bits);
    if (o->cache_bytes > (1ull << 40))
        return st_error(LSMLOG_E_INVALID, "cache_bytes too large (%llu)", (unsigned long long)o->cache_bytes);
    return LSMLOG_OK;
}

/* Opens the WAL Log. */
static int open_wal(lsmlog_db *db) {
    char *path = env_join(db->dir, WAL_DIR);
    if (!path) return st_error(LSMLOG_E_NOMEM, "out of memory");
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.durability = db->opts.durability;
    o.readonly = db->opts.readonly;
    o.repair = db->opts.repair;
    o.create = !db->opts.readonly;
    o.segment_bytes = DB_WAL_SEGMENT_BYTES;
    int rc = lsmlog_log_open(path, &o, &db->wal);
    if (rc == LSMLOG_E_NOENT && db->opts.readonly) {
        rc = st_error(LSMLOG_E_NOENT, "%s: no DB here (no %s)", db->dir, WAL_DIR);
    }
    lm_free(path);
    return rc;
}

uint64_t db_table_number(const char *name) {
    unsigned long long num;
    char extra, canonical[32];
    if (name[0] < '0' || name[0] > '9' || sscanf(name, "%llu.sst%c", &num, &extra) != 1) return 0;
    snprintf(canonical, sizeof canonical, "%06llu.sst", num);
    return strcmp(canonical, name) == 0 ? (uint64_t)num : 0;
}

void db_remove_unnamed_tables(lsmlog_db *db) {
    char **names = NULL;
    size_t n = 0;
    if (env_list_dir(db->dir, &names, &n) != LSMLOG_OK) return;
    version *v = vset_current(db->vs);
    for (size_t i = 0; i < n; i++) {
        uint64_t num = db_table_number(names[i]);
        int live = !num; /* not a name the DB makes: left alone */
        for (int l = 0; l < DB_LEVELS && !live; l++)
            for (size_t j = 0; j < v->nfiles[l] && !live; j++) live = v->files[l][j]->meta.number == num;
        if (live) continue;
        char *p = env_join(db->dir, names[i]);
        if (p) env_unlink(p);
        lm_free(p);
    }
    version_unref(v);
    env_free_names(names, n);
}

/* Removes the table files no version names: the output of a flush or a
 * compaction that a crash cut short before its manifest edit, or inputs a
 * crash kept from being removed after it. Only a writer does this, at open,
 * before any flush or compaction of its own can have started; a file that
 * cannot be removed only wastes space. A version that names a missing
 * table, or none at all, disagrees with the files (a damaged or lost
 * manifest): then every file is kept for a repair. */
static void remove_orphan_tables(lsmlog_db *db) {
    version *v = vset_current(db->vs);
    size_t tables = 0, missing = 0;
    for (int l = 0; l < DB_LEVELS; l++)
        for (size_t j = 0; j < v->nfiles[l]; j++) {
            char *p = db_table_path(db, v->files[l][j]->meta.number);
            tables++;
            missing += !p || !env_exists(p);
            lm_free(p);
        }
    version_unref(v);
    if (tables > 0 && missing == 0) db_remove_unnamed_tables(db);
}

int lsmlog_db_open(const char *path, const lsmlog_options *opts, lsmlog_db **out) {
    if (!out) return st_error(LSMLOG_E_INVALID, "NULL output");
    *out = NULL;
    if (!path || !*path) return st_error(LSMLOG_E_INVALID, "empty path");
    lsmlog_options o;
    if (opts) o = *opts;
    else lsmlog_options_init(&o);
    int rc = check_options(&o);
    if (rc) return rc;
    rc = env_check_dir(path);
    if (rc == LSMLOG_E_NOENT && (!o.create || o.readonly)) return st_error(LSMLOG_E_NOENT, "%s: no such DB", path);
    /* a writer makes the directory and its missing parents with durable
     * names: CURRENT, the manifest and the tables are always fsynced, and
     * would be lost with an unsynced directory entry all the same */
    if ((rc == LSMLOG_OK || rc == LSMLOG_E_NOENT) && !o.readonly) rc = log_mkdirs_durable(path);
    if (rc) return rc;

    lsmlog_db *db = lm_calloc(1, sizeof *db);
    if (!db || !(db->dir = lm_strdup(path))) {
        lm_free(db);
        return st_error(LSMLOG_E_NOMEM, "out of memory");
    }
    db->opts = o;
    atomic_init(&db->last_table_hits, 0);
    /* before the background thread starts: a compaction must not judge TTLs
     * by another clock than the writes were given */
    db->clock = test_clock;
    db->clock_ctx = test_clock_ctx;
    db->lock_fd = -1;
    db->l1_bytes = DB_L1_MAX_BYTES;
    db->table_bytes = DB_TABLE_BYTES;
    pthread_mutex_init(&db->edit_mu, NULL);
    pthread_mutex_init(&db->mu, NULL);
    pthread_mutex_init(&db->tables_mu, NULL);
    pthread_cond_init(&db->bg_cv, NULL);
    pthread_cond_init(&db->done_cv, NULL);
    db->snaps.next = db->snaps.prev = &db->snaps;
    wbatch_init(&db->group);

    if (!o.readonly) rc = env_lock(path, LOCK_NAME, &db->lock_fd);
    if (rc == LSMLOG_OK) rc = block_cache_new(o.cache_bytes, &db->cache);
    if (rc == LSMLOG_OK) rc = db_open_view(db);
    if (rc == LSMLOG_OK && !o.readonly) {
        remove_orphan_tables(db);
        db->vs->obsolete = on_obsolete;
        db->vs->obsolete_ctx = db;
        int nbg = test_bg_threads ? test_bg_threads : DB_BG_THREADS;
        for (int i = 0; rc == LSMLOG_OK && i < nbg; i++) {
            if (pthread_create(&db->bg[i], NULL, bg_main, db) != 0)
                rc = st_error(LSMLOG_E_NOMEM, "cannot start a background thread");
            else db->bg_started++;
        }
    }
    if (rc) {
        stop_bg(db);
        db_free(db);
        return rc;
    }
    *out = db;
    return LSMLOG_OK;
}

/* A writer whose WAL now ends below the offset the manifest says is in
 * tables (its tail was lost after the tables were written: a cut, a repair,
 * a power loss under durability os) writes the lower offset to the
 * manifest. Otherwise the next writes would take offsets below the old one,
 * and the next open, replaying from it, would skip them. */
static int lower_wal_offset(lsmlog_db *db) {
    uint64_t end = 0;
    if (db->lock_fd < 0) return LSMLOG_OK;
    int rc = lsmlog_log_bounds(db->wal, NULL, &end);
    if (rc || end >= db->vs->wal_offset) return rc;
    vedit e;
    vedit_init(&e);
    vedit_set_wal_offset(&e, end);
    rc = vset_apply(db->vs, &e);
    vedit_free(&e);
    return rc;
}

/* 1 if path exists, 0 if not (ENOENT), else the error (LSMLOG_E_IO): a
 * stat that fails for another reason says nothing either way. */
static int path_exists(const char *path) {
    struct stat st;
    if (env_get_ops()->stat(path, &st) == 0) return 1;
    return errno == ENOENT ? 0 : st_errno(LSMLOG_E_IO, "stat %s", path);
}

/* A writer finding no CURRENT would start a new, empty DB: new manifest
 * and table numbers from 1, over whatever files are there. Only right when
 * there are none: the write-ahead log is made after CURRENT (so a crash in
 * a DB's very first open leaves no log), and tables after both. With
 * either present, CURRENT was lost: refuse rather than overwrite. */
static int check_current_not_lost(lsmlog_db *db) {
    char *cur = env_join(db->dir, "CURRENT"), *wal = env_join(db->dir, WAL_DIR);
    int rc = cur && wal ? LSMLOG_OK : st_error(LSMLOG_E_NOMEM, "out of memory");
    int have = rc == LSMLOG_OK ? path_exists(cur) : 1;
    if (have < 0) rc = have;
    if (have == 0) {
        int stray = path_exists(wal);
        char **names = NULL;
        size_t n = 0;
        if (stray < 0) rc = stray;
        else if (!stray && (rc = env_list_dir(db->dir, &names, &n)) == LSMLOG_OK) {
            for (size_t i = 0; i < n && !stray; i++) {
                size_t len = strlen(names[i]);
                stray = len > 4 && strcmp(names[i] + len - 4, ".sst") == 0;
            }
            env_free_names(names, n);
        }
        if (rc == LSMLOG_OK && stray)
            rc = st_error(LSMLOG_E_CORRUPT, "%s: CURRENT is missing, but the directory holds a DB's files "
                          "(a write-ahead log or tables): refusing to start a new DB over them", cur);
    }
    lm_free(cur);
    lm_free(wal);
    return rc;
}

/* Builds the handle's view: version set, WAL, memtable (replayed). On a
 * read-only handle, also what db_refresh compares against. */
int db_open_view(lsmlog_db *db) {
    int rc = db_repair_begin(db); /* with repair, and damage: db->vs is the repaired set */
    if (rc == LSMLOG_OK && db->lock_fd >= 0 && !db->vs) rc = check_current_not_lost(db);
    if (rc == LSMLOG_OK && !db->vs) rc = vset_open(db->dir, db->opts.create, db->opts.readonly, &db->vs);
    if (rc == LSMLOG_OK) rc = db_check_tables(db); /* a missing table: refused (db_repair.c) */
    if (rc == LSMLOG_OK && !db->wal) rc = open_wal(db);
    if (rc == LSMLOG_OK) rc = memtable_new(&db->mem, db->opts.memtable_bytes);
    if (rc == LSMLOG_OK) {
        db->last_seq = db->vs->last_seq;
        if (db->lock_fd < 0) return db_refresh(db); /* sets the view's marks */
        rc = replay_wal(db, db->vs->wal_offset, &db->ro_wal_next);
    }
    if (rc == LSMLOG_OK) rc = lower_wal_offset(db);
    if (rc == LSMLOG_OK) rc = db_repair_end(db);
    return rc;
}

int lsmlog_db_close(lsmlog_db *db) {
    if (!db) return LSMLOG_OK;
    pthread_mutex_lock(&db->mu);
    if (db->niters || db->nsnaps) {
        int n = db->niters, s = db->nsnaps;
        pthread_mutex_unlock(&db->mu);
        return st_error(LSMLOG_E_BUSY, "%s: %d iterator(s) and %d snapshot(s) still open", db->dir, n, s);
    }
    db->closing = 1;
    pthread_mutex_unlock(&db->mu);
    stop_bg(db);
    int rc = LSMLOG_OK;
    if (db->wal && db->lock_fd >= 0) rc = lsmlog_log_flush(db->wal);
    if (rc == LSMLOG_E_FAILED) rc = LSMLOG_OK; /* reported when it happened (as the Log's close does) */
    if (db->wal) {
        int rc2 = lsmlog_log_close(db->wal);
        db->wal = NULL;
        if (rc == LSMLOG_OK) rc = rc2;
    }
    db_free(db);
    return rc;
}

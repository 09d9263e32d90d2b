/* db_repair.c — the DB's repair (opts.repair): a DB whose CURRENT, manifest
 * or tables are damaged or missing is rebuilt from what is valid, and the
 * open reports what was set aside (LevelDB's db/repair.cc, written anew).
 *
 * Without repair such a DB does not open (LSMLOG_E_CORRUPT naming the file),
 * or a read meets the damage and fails the same way: never wrong data. With
 * repair, a writer's open first checks everything:
 *
 *  1. CURRENT and the manifest are read (as a read-only handle would). When
 *     they are whole, the tables to check are the ones the manifest names;
 *     when not, every table file in the directory (the manifest's word on
 *     which of them are live is gone, as in LevelDB) — and also when a
 *     whole manifest names a missing table, or none while there are table
 *     files (it disagrees with the files: say, it lost its last edits).
 *  2. Every one of those tables is read in full, block by block, each block
 *     checked (sst_reader_salvage). A table whose blocks are all whole is
 *     kept as it is, with the key and sequence ranges the scan saw. A table
 *     with damaged blocks has the entries of its whole blocks copied to a new
 *     table; the entries of a damaged block are lost, none of them is guessed
 *     at. A table that cannot be opened at all (its footer, index or
 *     properties damaged) is lost whole. The damaged files are moved to
 *     <dir>/lost/ (as the Log's repair does), not deleted: people may look.
 *  3. Nothing damaged, nothing missing, the manifest whole: the repair is
 *     over and has changed nothing (the WAL's own repair still runs as the
 *     WAL opens).
 *
 * Otherwise the DB is rebuilt:
 *
 *  4. A new version set holds every kept and salvaged table in level 0, with
 *     the WAL to be replayed from its start and the largest sequence number
 *     and file number seen; it is recorded in a new manifest that CURRENT
 *     does not name yet (vset_open_repaired).
 *  5. The open goes on as usual: the WAL (opened with repair) is replayed
 *     into the memtable, full memtables flushed to level 0 on the way — but
 *     the WAL is not truncated after those flushes (db.c flush_imm), since
 *     the old state, which a crash would go back to, still needs it.
 *  6. db_repair_end flushes the rest of the memtable, merges all of level 0
 *     into level 1 by internal key (compaction_range, the path of
 *     lsmlog_db_compact), and only then points CURRENT at the new manifest
 *     (vset_publish) and truncates the WAL. Last, the damaged files go to
 *     lost/, the manifests before go there too, and every table file the
 *     new version does not name is removed.
 *
 * Why merge before anything can read, and before CURRENT moves: a get stops
 * at the first level-0 table, newest number first, that holds the key
 * (db_read.c), which is right only because a flush or compaction gives newer
 * data a larger number. The tables a repair puts in level 0 break that: they
 * come from different levels, their numbers say nothing about which holds
 * the newer version of a key (a level-1 table may have a smaller number than
 * a level-2 table and newer entries, and a salvaged copy gets the largest
 * number of all), and their sequence ranges overlap. Replaying the WAL from
 * its start also puts versions that are already in tables into the
 * memtable, which gets read first. Only a merge by internal key — sequence
 * numbers — sorts this out; a compaction is such a merge, and it drops the
 * copies that are there twice (the same internal key, from the WAL and a
 * table, or from a compaction's inputs and its output both left by a crash).
 * Until CURRENT is switched, a crash leaves the DB as it was before the
 * repair (plus files no version names): the unmerged level 0 is never seen
 * by an open, and an open with repair does it all again. Replaying the
 * whole WAL rather than the part past the old manifest's offset gets back
 * what a lost table held, as far as the WAL still has it.
 *
 * What a repair cannot do: bring back entries of a damaged block, of a table
 * that cannot be opened, or of a missing table, unless the WAL still holds
 * them. For such a key an older version, from another table, may show again
 * (also LevelDB's behaviour). And when the manifest itself is lost, a table
 * that a compaction had already replaced but a crash left behind (its
 * removal cut short) comes back with the rest, and may bring back versions
 * that compaction had dropped. */
#include "db_internal.h"

#include "alloc.h"
#include "dbformat.h"
#include "env.h"
#include "log_format.h"
#include "status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The work of one repair, from db_repair_begin to db_repair_end. */
typedef struct db_repair {
    char *msg; /* the report, a sentence per finding */
    size_t len, cap;
    int msg_failed;        /* out of memory growing msg: the report is cut short */
    uint64_t lost_entries; /* entries of damaged blocks and of tables set aside whole, as known */
    uint64_t lost_bytes;   /* bytes of damaged blocks, unreadable and missing tables */
    uint64_t *aside; /* damaged table files, to move to lost/ once CURRENT names the new manifest */
    size_t naside, aside_cap;
    uint64_t tables; /* tables the rebuilt version starts with */
} db_repair;

static void note(db_repair *rp, const char *fmt, ...) LSMLOG_PRINTF(2, 3);
static void note(db_repair *rp, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || rp->msg_failed) return;
    size_t need = rp->len + (rp->len ? 1 : 0) + (size_t)n + 1;
    if (need > rp->cap) {
        size_t cap = rp->cap ? rp->cap : 256;
        while (cap < need)
            cap *= 2;
        char *m = lm_realloc(rp->msg, cap);
        if (!m) {
            rp->msg_failed = 1;
            return;
        }
        rp->msg = m;
        rp->cap = cap;
    }
    if (rp->len) rp->msg[rp->len++] = ' ';
    va_start(ap, fmt);
    vsnprintf(rp->msg + rp->len, rp->cap - rp->len, fmt, ap);
    va_end(ap);
    rp->len += (size_t)n;
}

static int push_u64(uint64_t **v, size_t *n, size_t *cap, uint64_t x) {
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        uint64_t *nv = lm_realloc(*v, c * sizeof *nv);
        if (!nv) return st_error(LSMLOG_E_NOMEM, "out of memory");
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = x;
    return LSMLOG_OK;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The number a name in the directory or in lost/ holds, table or manifest
 * (whatever follows it, e.g. the ".1" of a second file set aside under one
 * name), or 0: numbers are never handed out twice, not even after a repair. */
static uint64_t any_number(const char *name) {
    unsigned long long num = 0;
    if (strncmp(name, "manifest-", 9) == 0) name += 9;
    if (name[0] < '0' || name[0] > '9' || sscanf(name, "%llu", &num) != 1) return 0;
    return (uint64_t)num;
}

/* Largest number named in dir (0 when none, or dir missing). */
static int max_number_in(const char *dir, uint64_t *max) {
    char **names = NULL;
    size_t n = 0;
    int rc = env_list_dir(dir, &names, &n);
    if (rc == LSMLOG_E_NOENT) return LSMLOG_OK;
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = any_number(names[i]);
        if (x > *max) *max = x;
    }
    env_free_names(names, n);
    return LSMLOG_OK;
}

/* Moves dir/name into dir/lost/, under a name not taken there yet. */
static int set_aside(const char *dir, const char *name) {
    char *lost = env_join(dir, LOST_DIR), *from = env_join(dir, name), *to = NULL;
    int rc = lost && from ? env_mkdirs(lost) : st_error(LSMLOG_E_NOMEM, "out of memory");
    for (int k = 0; rc == LSMLOG_OK; k++) {
        char n2[300];
        if (k)
            snprintf(n2, sizeof n2, "%s.%d", name, k);
        else
            snprintf(n2, sizeof n2, "%s", name);
        lm_free(to);
        if (!(to = env_join(lost, n2)))
            rc = st_error(LSMLOG_E_NOMEM, "out of memory");
        else if (!env_exists(to))
            break;
    }
    if (rc == LSMLOG_OK) rc = env_rename(from, to);
    if (rc == LSMLOG_OK) rc = env_fsync_dir(lost);
    lm_free(lost);
    lm_free(from);
    lm_free(to);
    return rc;
}

/* ---- reading one table -------------------------------------------------- */

/* What a walk over a table's blocks saw; with b, it copies the entries too. */
typedef struct scan {
    sst_builder *b;        /* the salvaged copy (second walk), or NULL */
    uint8_t *first, *last; /* the first and last entries taken (internal keys) */
    size_t first_len, last_len, last_cap;
    uint64_t min_seq, max_seq;
    uint64_t taken, skipped; /* entries taken; entries refused (malformed, out of order) */
    uint64_t bad_blocks, bad_bytes;
    char why[400]; /* the first damage met */
} scan;

static int take_entry(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
    scan *s = ctx;
    size_t ul;
    uint64_t seq;
    int type;
    /* a whole block passed its checksum, so this is the writer's bug if it
     * happens at all: the entry is not trusted, the table counts as damaged */
    if (ikey_parse(k, kl, &ul, &seq, &type) != 0 ||
        (s->taken && ikey_cmp(s->last, s->last_len, k, kl) >= 0)) {
        if (!s->skipped && !s->bad_blocks)
            snprintf(s->why, sizeof s->why, "an entry out of order or malformed");
        s->skipped++;
        return LSMLOG_OK;
    }
    if (kl > s->last_cap) {
        uint8_t *nb = lm_realloc(s->last, kl);
        if (!nb) return st_error(LSMLOG_E_NOMEM, "out of memory");
        s->last = nb;
        s->last_cap = kl;
    }
    memcpy(s->last, k, kl);
    s->last_len = kl;
    if (!s->taken) {
        if (!(s->first = lm_malloc(kl))) return st_error(LSMLOG_E_NOMEM, "out of memory");
        memcpy(s->first, k, kl);
        s->first_len = kl;
        s->min_seq = s->max_seq = seq;
    }
    if (seq < s->min_seq) s->min_seq = seq;
    if (seq > s->max_seq) s->max_seq = seq;
    s->taken++;
    return s->b ? sst_builder_add(s->b, k, kl, v, vl) : LSMLOG_OK;
}

static int bad_block(void *ctx, uint64_t off, uint64_t bytes, const char *why) {
    scan *s = ctx;
    (void)off;
    if (!s->bad_blocks && !s->skipped) snprintf(s->why, sizeof s->why, "%s", why);
    s->bad_blocks++;
    s->bad_bytes += bytes;
    return LSMLOG_OK;
}

static void scan_free(scan *s) {
    lm_free(s->first);
    lm_free(s->last);
}

/* What the check of the tables gathers. */
typedef struct found {
    vedit e;            /* the rebuilt version: every table kept, level 0 */
    uint64_t next_file; /* the next number to hand out */
    uint64_t max_seq;   /* the largest sequence number in a table kept */
    int damage;         /* something was lost or set aside */
} found;

/* Copies the whole blocks of table r into a new table (the second walk). */
static int salvage_copy(lsmlog_db *db, db_repair *rp, found *fd, sst_reader *r, uint64_t *number) {
    *number = fd->next_file++;
    char *path = db_table_path(db, *number);
    if (!path) return st_error(LSMLOG_E_NOMEM, "out of memory");
    sst_options so;
    sst_options_init(&so, ikey_cmp);
    so.bloom_bits = db->opts.bloom_bits;
    scan s;
    memset(&s, 0, sizeof s);
    sst_props p;
    memset(&p, 0, sizeof p);
    int rc = sst_builder_open(path, &so, &s.b);
    if (rc == LSMLOG_OK) rc = sst_reader_salvage(r, take_entry, bad_block, &s);
    if (rc == LSMLOG_OK) rc = sst_builder_finish(s.b, 1, &p);
    if (rc == LSMLOG_OK)
        rc = vedit_add_file(&fd->e, 0, *number, p.file_size, p.smallest_key, p.smallest_len,
                            p.largest_key, p.largest_len, p.smallest_seq, p.largest_seq);
    if (rc == LSMLOG_OK) {
        sst_builder_free(s.b);
        if (p.largest_seq > fd->max_seq) fd->max_seq = p.largest_seq;
        rp->tables++;
    } else {
        sst_builder_abandon(s.b);
    }
    sst_props_clear(&p);
    scan_free(&s);
    lm_free(path);
    return rc;
}

/* Checks table `number` (named: its entry in a whole manifest, or NULL) and
 * keeps it, salvages it, or sets it aside. Errors that say nothing about the
 * bytes (I/O, memory, a newer format) end the repair: it does not set aside
 * what it could not read for a passing reason. */
static int check_table(lsmlog_db *db, db_repair *rp, found *fd, uint64_t number,
                       const file_meta *named) {
    char name[32];
    snprintf(name, sizeof name, "%06llu.sst", (unsigned long long)number);
    char *path = db_table_path(db, number);
    if (!path) return st_error(LSMLOG_E_NOMEM, "out of memory");
    sst_reader *r = NULL;
    int rc = sst_reader_open(path, number, NULL, ikey_cmp, &r);
    if (rc == LSMLOG_E_NOENT) {
        if (named) {
            note(rp,
                 "%s, named by the manifest, is missing: its entries are lost (unless another "
                 "table or the write-ahead log holds them).",
                 name);
            rp->lost_bytes += named->size;
            fd->damage = 1;
        }
        lm_free(path);
        return LSMLOG_OK;
    }
    if (rc == LSMLOG_E_CORRUPT) {
        uint64_t size = 0;
        struct stat st;
        if (env_get_ops()->stat(path, &st) == 0) size = (uint64_t)st.st_size;
        note(rp, "%s cannot be read (%s): it is set aside whole, its entries are lost.", name,
             lsmlog_errmsg());
        rp->lost_bytes += size;
        fd->damage = 1;
        lm_free(path);
        return push_u64(&rp->aside, &rp->naside, &rp->aside_cap, number);
    }
    lm_free(path);
    if (rc) return rc;

    scan s;
    memset(&s, 0, sizeof s);
    rc = sst_reader_salvage(r, take_entry, bad_block, &s);
    const sst_props *props = sst_reader_props(r);
    if (rc == LSMLOG_OK && !s.bad_blocks && !s.skipped) {
        /* whole: kept as it is (a table with no entries is not kept: no
         * version may hold one, and it holds nothing) */
        if (s.taken) {
            rc = vedit_add_file(&fd->e, 0, number, props->file_size, s.first, s.first_len, s.last,
                                s.last_len, s.min_seq, s.max_seq);
            if (s.max_seq > fd->max_seq) fd->max_seq = s.max_seq;
            rp->tables++;
        }
    } else if (rc == LSMLOG_OK) {
        uint64_t lost = props->num_entries > s.taken ? props->num_entries - s.taken : s.skipped;
        uint64_t copy = 0;
        fd->damage = 1;
        rp->lost_entries += lost;
        rp->lost_bytes += s.bad_bytes;
        if (s.taken) rc = salvage_copy(db, rp, fd, r, &copy);
        if (rc == LSMLOG_OK) rc = push_u64(&rp->aside, &rp->naside, &rp->aside_cap, number);
        if (rc == LSMLOG_OK && s.taken)
            note(rp,
                 "%s: %llu damaged data block(s) (%llu bytes) and %llu of its %llu entries lost "
                 "(%s); the other %llu entries are kept in %06llu.sst; the damaged file is set "
                 "aside in %s/.",
                 name, (unsigned long long)s.bad_blocks, (unsigned long long)s.bad_bytes,
                 (unsigned long long)lost, (unsigned long long)props->num_entries, s.why,
                 (unsigned long long)s.taken, (unsigned long long)copy, LOST_DIR);
        else if (rc == LSMLOG_OK)
            note(rp,
                 "%s: %llu damaged data block(s) (%llu bytes) and all its %llu entries lost (%s); "
                 "the damaged file is set aside in %s/.",
                 name, (unsigned long long)s.bad_blocks, (unsigned long long)s.bad_bytes,
                 (unsigned long long)props->num_entries, s.why, LOST_DIR);
    }
    scan_free(&s);
    sst_reader_close(r);
    return rc;
}

/* ---- the steps ------------------------------------------------------------ */

void db_repair_free(lsmlog_db *db) {
    db_repair *rp = db->repair;
    if (rp) {
        lm_free(rp->msg);
        lm_free(rp->aside);
        lm_free(rp);
        db->repair = NULL;
    }
    lm_free(db->recovery_msg);
    db->recovery_msg = NULL;
}

/* Whether sorted list v[0..n) holds x. */
static int holds(const uint64_t *v, size_t n, uint64_t x) {
    return n && bsearch(&x, v, n, sizeof *v, cmp_u64) != NULL;
}

/* The tables the check covers, sorted: those a whole manifest names (*old,
 * the set it makes, read-only), or every table file there is when CURRENT or
 * the manifest cannot be used (*old NULL; *rebuild set: the manifest is the
 * damage). Also every table file when a whole manifest names a missing
 * table, or none while there are table files: the manifest and the files
 * disagree (the open's tidying keeps every file then, for a repair), and
 * the tables it does not name may hold what the missing one did. Returns
 * LSMLOG_NOTFOUND for a directory that holds no DB yet (nothing to repair). */
static int what_to_check(lsmlog_db *db, db_repair *rp, found *fd, vset **old, uint64_t **nums,
                         size_t *n, int *rebuild) {
    size_t cap = 0, nall = 0, acap = 0;
    uint64_t *all = NULL; /* the table files there are */
    char **names = NULL;
    size_t nn = 0;
    int rc = env_list_dir(db->dir, &names, &nn);
    int has_wal = 0;
    for (size_t i = 0; rc == LSMLOG_OK && i < nn; i++) {
        uint64_t x = db_table_number(names[i]);
        if (x) rc = push_u64(&all, &nall, &acap, x);
        has_wal |= strcmp(names[i], "wal") == 0;
    }
    env_free_names(names, nn);
    if (rc == LSMLOG_OK && nall > 1) qsort(all, nall, sizeof *all, cmp_u64);

    int mrc = rc ? rc : vset_open(db->dir, 0, 1, old); /* as a read-only handle: changes nothing */
    size_t missing = 0;
    if (mrc == LSMLOG_OK) {
        version *v = (*old)->current;
        for (int l = 0; rc == LSMLOG_OK && l < DB_LEVELS; l++)
            for (size_t i = 0; rc == LSMLOG_OK && i < v->nfiles[l]; i++) {
                uint64_t x = v->files[l][i]->meta.number;
                missing += !holds(all, nall, x);
                rc = push_u64(nums, n, &cap, x);
            }
        fd->next_file = (*old)->next_file;
        fd->max_seq = (*old)->last_seq;
        if (rc == LSMLOG_OK && *n == 0 && nall > 0) {
            note(rp, "The manifest names no table, but the directory holds %zu table file(s).",
                 nall);
            *rebuild = 1;
        }
        if (rc == LSMLOG_OK && (missing > 0 || *n == 0)) /* with the rest, once each */
            for (size_t i = 0; rc == LSMLOG_OK && i < nall; i++) {
                int named = 0;
                for (size_t j = 0; j < *n && !named; j++)
                    named = (*nums)[j] == all[i];
                if (!named) rc = push_u64(nums, n, &cap, all[i]);
            }
    } else if (mrc == LSMLOG_E_NOENT && nall == 0 && !has_wal) {
        rc = LSMLOG_NOTFOUND; /* a new DB */
    } else if (mrc == LSMLOG_E_NOENT || mrc == LSMLOG_E_CORRUPT) {
        if (mrc == LSMLOG_E_NOENT)
            note(rp, "CURRENT is missing.");
        else
            note(rp, "The manifest cannot be used (%s).", lsmlog_errmsg());
        *rebuild = 1;
        for (size_t i = 0; rc == LSMLOG_OK && i < nall; i++)
            rc = push_u64(nums, n, &cap, all[i]);
    } else {
        rc = mrc; /* I/O, memory, a newer format: nothing to repair here */
    }
    if (rc == LSMLOG_OK && *n > 1) qsort(*nums, *n, sizeof **nums, cmp_u64);
    lm_free(all);
    return rc;
}

int db_repair_begin(lsmlog_db *db) {
    if (!db->opts.repair) return LSMLOG_OK;
    if (db->lock_fd < 0)
        return st_error(LSMLOG_E_INVALID, "%s: repair needs a writer: it cannot be read-only",
                        db->dir);
    db_repair *rp = lm_calloc(1, sizeof *rp);
    if (!rp) return st_error(LSMLOG_E_NOMEM, "out of memory");
    db->repair = rp;
    found fd;
    memset(&fd, 0, sizeof fd);
    vedit_init(&fd.e);
    fd.next_file = 1;
    vset *old = NULL;
    uint64_t *nums = NULL;
    size_t n = 0;
    int rebuild = 0;
    int rc = what_to_check(db, rp, &fd, &old, &nums, &n, &rebuild);
    /* numbers past every one in use or set aside: never one handed out twice */
    uint64_t max = 0;
    if (rc == LSMLOG_OK) rc = max_number_in(db->dir, &max);
    char *lost = rc == LSMLOG_OK ? env_join(db->dir, LOST_DIR) : NULL;
    if (rc == LSMLOG_OK)
        rc = lost ? max_number_in(lost, &max) : st_error(LSMLOG_E_NOMEM, "out of memory");
    lm_free(lost);
    if (rc == LSMLOG_OK && max >= fd.next_file) fd.next_file = max + 1;

    for (size_t i = 0; rc == LSMLOG_OK && i < n; i++) {
        const file_meta *named = NULL;
        for (int l = 0; old && !named && l < DB_LEVELS; l++)
            for (size_t j = 0; !named && j < old->current->nfiles[l]; j++)
                if (old->current->files[l][j]->meta.number == nums[i])
                    named = &old->current->files[l][j]->meta;
        rc = check_table(db, rp, &fd, nums[i], named);
    }
    vset_close(old);
    lm_free(nums);
    if (rc == LSMLOG_OK && !rebuild && !fd.damage) {
        /* all whole: nothing to do, nothing to report; the tables a version
         * does not name are left to the open's usual tidying */
        rc = LSMLOG_NOTFOUND;
    }
    if (rc == LSMLOG_OK) {
        /* the salvaged copies' names are durable before a manifest names them */
        rc = env_fsync_dir(db->dir);
        vedit_set_last_seq(&fd.e, fd.max_seq);
        vedit_set_wal_offset(&fd.e, 0); /* the whole WAL: db_repair_end merges what is twice */
        vedit_set_next_file(&fd.e, fd.next_file);
    }
    if (rc == LSMLOG_OK) rc = vset_open_repaired(db->dir, &fd.e, &db->vs);
    vedit_free(&fd.e);
    if (rc == LSMLOG_NOTFOUND) { /* nothing to repair: the open goes on as without repair */
        db_repair_free(db);
        return LSMLOG_OK;
    }
    /* on failure the salvaged copies stay as files no version names: the
     * next open removes them, or the next repair sees them again */
    return rc;
}

/* Moves the manifests other than the new one into lost/. */
static void set_aside_manifests(lsmlog_db *db) {
    char **names = NULL;
    size_t n = 0;
    if (env_list_dir(db->dir, &names, &n) != LSMLOG_OK) return;
    char keep[48];
    snprintf(keep, sizeof keep, "manifest-%llu", (unsigned long long)db->vs->manifest_number);
    for (size_t i = 0; i < n; i++)
        if (strncmp(names[i], "manifest-", 9) == 0 && strcmp(names[i], keep) != 0)
            set_aside(db->dir, names[i]);
    env_free_names(names, n);
}

int db_repair_end(lsmlog_db *db) {
    db_repair *rp = db->repair;
    if (!rp) return LSMLOG_OK;
    /* the writes replayed from the WAL join the merge: the memtable is read
     * before every table, and may hold versions older than a table's */
    int rc = LSMLOG_OK; /* the background threads have not started */
    if (memtable_count(db->mem) > 0) {
        memtable *fresh = NULL;
        uint64_t end = 0;
        rc = lsmlog_log_bounds(db->wal, NULL, &end);
        if (rc == LSMLOG_OK) rc = memtable_new(&fresh, db->opts.memtable_bytes);
        if (rc == LSMLOG_OK) {
            pthread_mutex_lock(&db->mu);
            db->imm = db->mem;
            db->imm_wal_end = end;
            db->mem = fresh;
            pthread_mutex_unlock(&db->mu);
            rc = db_flush_pending(db);
        }
    }
    /* every table is in level 0 now: merged by internal key into level 1 */
    if (rc == LSMLOG_OK) rc = compaction_range(db, NULL, 0, NULL, 0, NULL, NULL);
    if (rc == LSMLOG_OK) rc = vset_publish(db->vs);
    if (rc) return rc; /* CURRENT still names what was there before */
    /* the flushes above kept the WAL whole (db.c flush_imm): until now a
     * crash went back to the old state, which needs it */
    lsmlog_log_truncate_before(db->wal, db->vs->wal_offset);

    /* what was damaged goes to lost/, then what no version names goes */
    for (size_t i = 0; i < rp->naside; i++) {
        char name[32];
        snprintf(name, sizeof name, "%06llu.sst", (unsigned long long)rp->aside[i]);
        set_aside(db->dir, name);
    }
    set_aside_manifests(db);
    db_remove_unnamed_tables(db); /* the merge's inputs and what damaged tables left */
    env_fsync_dir(db->dir);

    version *v = vset_current(db->vs);
    uint64_t merged = v->nfiles[1];
    version_unref(v);
    note(rp,
         "Repair rebuilt the manifest from %llu table(s) and the write-ahead log, merged into "
         "%llu table(s) in level 1.",
         (unsigned long long)rp->tables, (unsigned long long)merged);
    if (rp->lost_bytes || rp->lost_entries || rp->naside)
        note(rp, "The entries set aside are lost unless the write-ahead log still held them; "
                 "for a key whose newest version was lost, an older one may show again.");
    if (rp->msg_failed) note(rp, "(report cut short: out of memory)");

    const lsmlog_recovery *w = lsmlog_log_recovery(db->wal);
    const char *wm = w->message ? w->message : "";
    const char *tm = rp->msg ? rp->msg : "";
    size_t len = strlen(wm) + 1 + strlen(tm) + 1;
    char *m = lm_malloc(len);
    if (m) snprintf(m, len, "%s%s%s", wm, *wm && *tm ? " " : "", tm);
    db->recovery = *w;
    db->recovery.dropped_batches += rp->lost_entries;
    db->recovery.dropped_bytes += rp->lost_bytes;
    db->recovery.message = m ? m : "repair rebuilt the DB (report lost: out of memory)";
    db->recovery_msg = m;
    lm_free(rp->msg);
    lm_free(rp->aside);
    lm_free(rp);
    db->repair = NULL;
    return LSMLOG_OK;
}

int db_check_tables(lsmlog_db *db) {
    if (db->lock_fd < 0) return LSMLOG_OK; /* read-only views look again (db_refresh) */
    version *v = vset_current(db->vs);
    int rc = LSMLOG_OK;
    for (int l = 0; rc == LSMLOG_OK && l < DB_LEVELS; l++)
        for (size_t i = 0; rc == LSMLOG_OK && i < v->nfiles[l]; i++) {
            uint64_t num = v->files[l][i]->meta.number;
            char *path = db_table_path(db, num);
            struct stat st;
            if (!path)
                rc = st_error(LSMLOG_E_NOMEM, "out of memory");
            else if (env_get_ops()->stat(path, &st) == 0)
                rc = LSMLOG_OK;
            else if (errno != ENOENT)
                rc = st_errno(LSMLOG_E_IO, "stat %s", path);
            else
                rc = st_error(LSMLOG_E_CORRUPT,
                              "%s: table %06llu.sst, named by the manifest (level %d), is missing; "
                              "open with repair to rebuild the DB from the tables there are",
                              db->dir, (unsigned long long)num, l);
            lm_free(path);
        }
    version_unref(v);
    return rc;
}

const lsmlog_recovery *db_recovery(lsmlog_db *db) {
    return db->recovery.message ? &db->recovery : lsmlog_log_recovery(db->wal);
}

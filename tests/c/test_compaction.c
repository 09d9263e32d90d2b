/* Tests of compaction.c's choices, which no answer of the DB shows:
 *
 * - the table a background compaction of a level >= 1 takes
 *   (compaction_pick_table): the one with the fewest bytes of the next level
 *   overlapping it per byte of its own. Versions are built through a real
 *   version set (vset_apply), so the levels are sorted and disjoint as the
 *   DB keeps them; hand-made shapes, then random ones against a brute-force
 *   pick (SEED= replays them);
 * - where a compaction's output tables end: short of their size, at the
 *   boundaries of the tables of the level below (through a DB whose levels
 *   the test shapes with db_set_shape);
 * - which compactions the two background threads may run side by side
 *   (compaction_pick, on a handle holding only what picking reads): a second
 *   only while writes are held up, never sharing a table, one of level 0 at
 *   a time. */
#include "test_util.h"

#include "db_test_util.h" /* dbt_wait_idle; db_internal.h: compaction_pick_table, db_set_shape */
#include "dbformat.h"
#include "version.h"

typedef struct tdesc {
    int level;
    const char *lo, *hi; /* user keys, inclusive */
    uint64_t size;
} tdesc;

static void ikey(uint8_t *out, const char *ukey, uint64_t seq, size_t *len) {
    size_t n = strlen(ukey);
    memcpy(out, ukey, n);
    ikey_put_trailer(out + n, seq, KT_PUT);
    *len = n + IKEY_TRAILER_SIZE;
}

/* A version holding the tables t[0..n), in a fresh version set in a new
 * directory *dir; *vs to close after the version is released. */
static version *make(const tdesc *t, size_t n, vset **vs, const char **dir) {
    *dir = tu_mkdtemp();
    CHECK_OK(vset_open(*dir, 1, 0, vs));
    vedit e;
    vedit_init(&e);
    for (size_t i = 0; i < n; i++) {
        uint8_t a[64], b[64];
        size_t al, bl;
        ikey(a, t[i].lo, 20, &al);
        ikey(b, t[i].hi, 10, &bl);
        uint64_t number = vset_new_file_number(*vs);
        CHECK_OK(vedit_add_file(&e, t[i].level, number, t[i].size, a, al, b, bl, 10, 20));
    }
    CHECK_OK(vset_apply(*vs, &e));
    vedit_free(&e);
    return vset_current(*vs);
}

/* The smallest user key of the table compaction_pick_table takes. */
static void check_pick(const tdesc *t, size_t n, int level, const char *want) {
    vset *vs;
    const char *dir;
    version *v = make(t, n, &vs, &dir);
    size_t i = compaction_pick_table(v, level);
    CHECK(i < v->nfiles[level]);
    const file_meta *m = &v->files[level][i]->meta;
    CHECKF(m->smallest_len - IKEY_TRAILER_SIZE == strlen(want) &&
               memcmp(m->smallest, want, strlen(want)) == 0,
           "picked the table starting at '%.*s', want the one at '%s'",
           (int)(m->smallest_len - IKEY_TRAILER_SIZE), (const char *)m->smallest, want);
    version_unref(v);
    vset_close(vs);
    tu_rmtemp(dir);
}

/* The least overlapped table, not the first in key order (LevelDB's round
 * robin from an empty pointer would take "a"). */
static void least_overlap(void) {
    /* clang-format off */
    const tdesc t[] = {
        {1, "a", "c", 1000}, {1, "d", "f", 1000}, {1, "g", "i", 1000},
        {2, "a", "b", 2000}, {2, "c", "c", 1000}, /* under a..c: 3000 */
        {2, "e", "e", 500},                       /* under d..f: 500 */
        {2, "g", "i", 2000},                      /* under g..i: 2000 */
    };
    /* clang-format on */
    check_pick(t, sizeof t / sizeof *t, 1, "d");
}

/* Bytes below per byte of the table, not bytes below: the big table that
 * overlaps the most wins on its ratio. */
static void ratio_not_bytes(void) {
    /* clang-format off */
    const tdesc t[] = {
        {2, "a", "c", 1000}, {2, "d", "f", 4000},
        {2, "g", "h", 10},   /* level 2: the level picked from */
        {3, "a", "c", 2000}, /* a..c: 2000 / 1000 = 2 */
        {3, "d", "f", 4000}, /* d..f: 4000 / 4000 = 1 */
        {3, "g", "h", 40},   /* g..h: 40 / 10 = 4 */
    };
    /* clang-format on */
    check_pick(t, sizeof t / sizeof *t, 2, "d");
}

/* A table with nothing under it (a trivial move) goes first; among equals,
 * the first in key order. */
static void zero_and_ties(void) {
    /* clang-format off */
    const tdesc t[] = {
        {1, "a", "b", 1000}, {1, "c", "d", 1000}, {1, "e", "f", 1000}, {1, "g", "h", 1000},
        {2, "a", "a", 10},   /* a..b: 0.01 */
        {2, "g", "g", 5000}, /* g..h: 5; c..d and e..f: nothing below */
    };
    /* clang-format on */
    check_pick(t, sizeof t / sizeof *t, 1, "c");
    /* clang-format off */
    const tdesc u[] = {
        {1, "a", "b", 1000}, {1, "c", "d", 2000}, {1, "e", "f", 1000},
        {2, "b", "b", 3000}, /* a..b: 3 */
        {2, "c", "d", 6000}, /* c..d: 3 */
        {2, "e", "f", 3000}, /* e..f: 3 */
    };
    /* clang-format on */
    check_pick(u, sizeof u / sizeof *u, 1, "a");
}

/* A next-level table across the boundary of two tables counts for both; a
 * next-level table that starts at the user key a table ends with (another
 * version of that key) overlaps it. */
static void boundaries(void) {
    /* clang-format off */
    const tdesc t[] = {
        {1, "b", "d", 1000}, {1, "f", "h", 1000},
        {2, "c", "g", 3000}, /* under both */
        {2, "h", "z", 100},  /* under f..h only: 3100 against 3000 */
    };
    /* clang-format on */
    check_pick(t, sizeof t / sizeof *t, 1, "b");
    /* clang-format off */
    const tdesc u[] = {
        {1, "a", "c", 1000}, {1, "m", "p", 1000},
        {2, "c", "d", 5000}, /* starts at "c", a..c's last key: 5 */
        {2, "n", "o", 2000}, /* m..p: 2 */
    };
    /* clang-format on */
    check_pick(u, sizeof u / sizeof *u, 1, "m");
    /* clang-format off */
    const tdesc w[] = {
        {1, "b", "c", 1000}, {1, "x", "y", 1000},
        {2, "a", "a", 9000}, /* ends before b..c */
        {2, "d", "w", 9000}, /* between the two: under neither */
        {2, "y", "z", 500},  /* starts at x..y's last key */
    };
    /* clang-format on */
    check_pick(w, sizeof w / sizeof *w, 1, "b");
}

/* Random disjoint levels: the pick is a table of least ratio, and the first
 * such in key order (brute force over every pair). */
static void random_against_brute_force(void) {
    char names[400][16];
    for (int round = 0; round < 200; round++) {
        /* 2 * n1 + 2 * n2 sorted distinct key numbers, cut into tables */
        size_t n1 = 1 + (size_t)tu_rand_below(20), n2 = (size_t)tu_rand_below(40), nk = 0;
        uint64_t last = 0;
        uint64_t k1[80], k2[80];
        for (size_t i = 0; i < 2 * n1; i++) {
            last += 1 + tu_rand_below(i % 2 ? 50 : 5); /* a table spans up to 50 keys */
            k1[i] = last;
        }
        last = 0;
        for (size_t i = 0; i < 2 * n2; i++) {
            /* one-key tables, and ends shared with level 1's, happen */
            last += i % 2 ? tu_rand_below(30) : (i > 0) + tu_rand_below(20);
            k2[i] = last;
        }
        tdesc t[60];
        size_t n = 0;
        for (size_t i = 0; i < n1; i++) {
            snprintf(names[nk++], 16, "%06llu", (unsigned long long)k1[2 * i]);
            snprintf(names[nk++], 16, "%06llu", (unsigned long long)k1[2 * i + 1]);
            t[n++] = (tdesc){1, names[nk - 2], names[nk - 1], 1 + tu_rand_below(5000)};
        }
        for (size_t i = 0; i < n2; i++) {
            snprintf(names[nk++], 16, "%06llu", (unsigned long long)k2[2 * i]);
            snprintf(names[nk++], 16, "%06llu", (unsigned long long)k2[2 * i + 1]);
            t[n++] = (tdesc){2, names[nk - 2], names[nk - 1], 1 + tu_rand_below(5000)};
        }
        size_t want = 0;
        double best = 0;
        for (size_t i = 0; i < n1; i++) {
            uint64_t over = 0;
            for (size_t j = 0; j < n2; j++)
                if (k2[2 * j] <= k1[2 * i + 1] && k2[2 * j + 1] >= k1[2 * i])
                    over += t[n1 + j].size;
            double r = (double)over / (double)t[i].size;
            if (i == 0 || r < best) {
                want = i;
                best = r;
            }
        }
        check_pick(t, n, 1, t[want].lo);
    }
}

/* Level 2 in tables of 1 KiB (even keys), then four level-0 tables of odd
 * keys over the same range compacted into level 1 in tables of 4 KiB: each
 * output table crosses several level-2 boundaries after half its size, so it
 * ends at one of them — the key after it is not in the level-2 table its
 * last key is in. (Cut anywhere, as by size alone, a boundary between two
 * level-1 tables falls inside a level-2 table about 8 times in 9.) */
static void aligned_cuts(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_options o;
    lsmlog_options_init(&o);
    lsmlog_db *db;
    CHECK_OK(lsmlog_db_open(dir, &o, &db));
    char k[16], val[100];
    memset(val, 'v', sizeof val);
    lsmlog_batch *b;
    CHECK_OK(lsmlog_batch_new(&b));
    /* ~130 KiB of even keys: one table, compacted into level 1 in 1 KiB
     * tables, which then move to level 2 until level 1 is under 16 KiB */
    db_set_shape(db, 16 << 10, 1 << 10);
    for (int i = 0; i < 2400; i += 2) {
        snprintf(k, sizeof k, "%06d", i);
        CHECK_OK(lsmlog_batch_put(b, k, 6, val, sizeof val));
    }
    CHECK_OK(lsmlog_db_write(db, b));
    CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL));
    dbt_wait_idle(db);
    /* now only level 0 compacts (at 4 tables), into 4 KiB tables */
    db_set_shape(db, 1ull << 40, 4 << 10);
    for (int t = 0; t < 4; t++) {
        lsmlog_batch_clear(b);
        for (int i = 2 * t + 1; i < 2400; i += 8) {
            snprintf(k, sizeof k, "%06d", i);
            CHECK_OK(lsmlog_batch_put(b, k, 6, val, sizeof val));
        }
        CHECK_OK(lsmlog_db_write(db, b));
        CHECK_OK(lsmlog_db_flush_memtable(db));
    }
    dbt_wait_idle(db);
    lsmlog_batch_free(b);

    version *v = vset_current(db->vs);
    CHECKF(v->nfiles[0] == 0 && v->nfiles[1] >= 20 && v->nfiles[2] >= 80,
           "levels 0-2 hold %zu, %zu, %zu tables", v->nfiles[0], v->nfiles[1], v->nfiles[2]);
    size_t aligned = 0, small = 0, n1 = v->nfiles[1];
    for (size_t i = 0; i + 1 < n1; i++) {
        const file_meta *a = &v->files[1][i]->meta, *c = &v->files[1][i + 1]->meta;
        int inside = 0; /* a level-2 table holds a's last key and c's first */
        for (size_t j = 0; j < v->nfiles[2] && !inside; j++) {
            const file_meta *g = &v->files[2][j]->meta;
            inside =
                ukey_cmp(g->smallest, g->smallest_len - 8, a->largest, a->largest_len - 8) <= 0 &&
                ukey_cmp(g->largest, g->largest_len - 8, c->smallest, c->smallest_len - 8) >= 0;
        }
        aligned += !inside;
        small += a->size < (4 << 10);
        /* only a table cut at its size may end inside a level-2 table */
        CHECKF(!inside || a->size >= (4 << 10),
               "level-1 table %zu of %zu (%llu bytes) ends inside a level-2 table", i, n1,
               (unsigned long long)a->size);
    }
    CHECKF(aligned * 10 >= (n1 - 1) * 9,
           "%zu of %zu level-1 tables end at a level-2 boundary (%zu short ones)", aligned, n1 - 1,
           small);
    version_unref(v);
    CHECK_OK(lsmlog_db_close(db));
    tu_rmtemp(dir);
}

/* ---- compactions side by side ------------------------------------------- */

/* A handle holding only what compaction_pick reads of a DB: a version set
 * with the tables t[0..n) (in a new directory), the level shape, the running
 * compactions; no threads. */
static lsmlog_db *picker(const tdesc *t, size_t n, uint64_t l1_bytes) {
    lsmlog_db *db = calloc(1, sizeof *db);
    CHECK(db != NULL);
    const char *dir;
    version_unref(make(t, n, &db->vs, &dir));
    db->dir = (char *)dir;
    db->l1_bytes = l1_bytes;
    db->table_bytes = 1 << 20;
    return db;
}

static void picker_free(lsmlog_db *db) {
    CHECK(db->running == NULL && db->nrunning == 0);
    vset_close(db->vs);
    tu_rmtemp(db->dir);
    free(db);
}

/* Picks one; checks that none of its inputs belonged to a compaction
 * running before, and that all are marked now. NULL when none was picked. */
static compaction *pick(lsmlog_db *db) {
    version *v = vset_current(db->vs);
    size_t busy_before = 0, busy_after = 0;
    for (int l = 0; l < DB_LEVELS; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++) busy_before += v->files[l][i]->compacting;
    compaction *c = NULL;
    CHECK_OK(compaction_pick(db, &c));
    for (int l = 0; l < DB_LEVELS; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++) busy_after += v->files[l][i]->compacting;
    if (c) {
        table_file *const *in;
        size_t n = compaction_inputs(c, &in);
        CHECK(n > 0);
        /* every input newly marked: none was another's */
        CHECK_EQ_U64(busy_after, busy_before + n);
    } else {
        CHECK_EQ_U64(busy_after, busy_before);
    }
    version_unref(v);
    return c;
}

static int starts_at(const compaction *c, size_t i, const char *key) {
    table_file *const *in;
    size_t n = compaction_inputs(c, &in);
    if (i >= n) return 0;
    const file_meta *m = &in[i]->meta;
    return m->smallest_len - IKEY_TRAILER_SIZE == strlen(key) && memcmp(m->smallest, key, strlen(key)) == 0;
}

static void done(lsmlog_db *db, compaction *c) {
    compaction_release(db, c);
    compaction_free(c);
}

/* Level 1 over its size with three tables: the first pick takes the best;
 * a second waits while writes flow, and starts while a writer waits, on
 * another table, and a third on the last; then nothing is left. */
static void second_only_under_pressure(void) {
    /* clang-format off */
    const tdesc t[] = {
        {1, "a", "b", 3000}, {1, "c", "d", 3000}, {1, "e", "f", 3000},
        {2, "a", "a", 100},  /* under a..b: 0.03 */
        {2, "e", "e", 6000}, /* under e..f: 2 */
    };
    /* clang-format on */
    lsmlog_db *db = picker(t, sizeof t / sizeof *t, 1000);
    compaction *c1 = pick(db);
    CHECK(c1 && compaction_level(c1) == 1 && compaction_is_move(c1) && starts_at(c1, 0, "c"));
    CHECK(pick(db) == NULL); /* one at a time while nothing is held up */
    db->stalling = 1;
    compaction *c2 = pick(db);
    CHECK(c2 && compaction_level(c2) == 1 && !compaction_is_move(c2) && starts_at(c2, 0, "a"));
    compaction *c3 = pick(db);
    CHECK(c3 && starts_at(c3, 0, "e") && starts_at(c3, 1, "e"));
    CHECK(pick(db) == NULL); /* every table of level 1 is taken */
    CHECK_EQ_U64(db->nrunning, 3);
    done(db, c2);
    done(db, c1);
    done(db, c3);
    /* all free again: the first pick is the same */
    db->stalling = 0;
    c1 = pick(db);
    CHECK(c1 && starts_at(c1, 0, "c"));
    done(db, c1);
    picker_free(db);
}

/* Level 0 at 8 tables lets a second compaction start too; but level 0
 * does not compact into a level-1 table another compaction holds, and
 * compacts one at a time. */
static void level0_one_at_a_time(void) {
    /* clang-format off */
    const tdesc t[] = {
        {0, "a", "b", 100}, {0, "a", "b", 100}, {0, "a", "b", 100}, {0, "a", "b", 100},
        {0, "x", "y", 100}, {0, "x", "y", 100}, {0, "x", "y", 100}, {0, "x", "y", 100},
        {1, "a", "c", 5000}, {1, "m", "n", 4000}, {1, "w", "z", 5000},
        {2, "b", "b", 100}, {2, "w", "w", 100},
    };
    /* clang-format on */
    /* level 1 at 14000 over 1000: 14, before level 0's 2; m..n has nothing
     * under it */
    lsmlog_db *db = picker(t, sizeof t / sizeof *t, 1000);
    compaction *c1 = pick(db);
    CHECK(c1 && compaction_level(c1) == 1 && compaction_is_move(c1) && starts_at(c1, 0, "m"));
    /* 8 level-0 tables: a second may start without a waiting writer; a..c
     * and w..z tie at 0.02, the first in key order goes */
    compaction *c2 = pick(db);
    CHECK(c2 && compaction_level(c2) == 1 && starts_at(c2, 0, "a") && starts_at(c2, 1, "b"));
    /* level 1 within its size from here on: only level 0 needs compacting,
     * and its oldest tables (a..b) need level 1's a..c, which c2 holds */
    db->l1_bytes = 1ull << 40;
    CHECK(pick(db) == NULL);
    done(db, c2);
    compaction *c3 = pick(db);
    table_file *const *in;
    CHECK(c3 && compaction_level(c3) == 0 && compaction_inputs(c3, &in) == 5);
    CHECK(starts_at(c3, 0, "a") && starts_at(c3, 3, "a") && starts_at(c3, 4, "a"));
    /* the x..y tables share nothing with it, but level 0 goes from its
     * oldest table, which c3 holds: one level-0 compaction at a time */
    CHECK(pick(db) == NULL);
    done(db, c3);
    done(db, c1);
    picker_free(db);
}

int main(void) {
    tu_init("test_compaction");
    TU_CASE(least_overlap);
    TU_CASE(ratio_not_bytes);
    TU_CASE(zero_and_ties);
    TU_CASE(boundaries);
    TU_CASE(random_against_brute_force);
    TU_CASE(aligned_cuts);
    TU_CASE(second_only_under_pressure);
    TU_CASE(level0_one_at_a_time);
    return tu_finish();
}

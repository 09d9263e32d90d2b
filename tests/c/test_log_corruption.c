/* test_log_corruption.c — recovery and integrity, LevelDB log_test.cc style:
 * many small named cases over a small log, each damaging the files in one
 * precise way (truncate, flip a byte, fix up a checksum) and checking what
 * the Log makes of it.
 *
 * The rules under test (docs/format-log.md, "Recovery"):
 *  - damage in the last segment with no valid batch after it is a torn tail:
 *    a writer's open cuts it and keeps the whole-batch prefix;
 *  - damage followed by a valid batch is corruption: open fails with
 *    LSMLOG_E_CORRUPT naming the file and byte position, changing nothing,
 *    unless repair is set, which keeps every valid batch and never reuses the
 *    offsets it set aside;
 *  - damage in a sealed segment makes the reads that reach it (and verify)
 *    fail with LSMLOG_E_CORRUPT; index files are caches, rebuilt when bad;
 *  - a segment of a newer format version is LSMLOG_E_VERSION.
 * And always: nothing corrupt is ever returned. Every value read is compared
 * byte for byte with what was written. */
#include "crc32c.h"
#include "log_format.h"
#include "test_util.h"

/* ---- fixtures --------------------------------------------------------------
 * A fixture is a log written once and snapshotted (every file's bytes), so
 * each case can restore the pristine files, damage them, and look. */

#define MAX_FILES 64
#define MAX_BATCHES 256

typedef struct file_img {
    char name[64];
    unsigned char *data;
    size_t len;
} file_img;

typedef struct fixture {
    const char *name;
    char dir[300];
    uint64_t segment_bytes;
    tu_model m;                /* what was written */
    file_img files[MAX_FILES]; /* the pristine files */
    int nfiles;
    uint64_t bases[MAX_FILES]; /* segment bases, ascending */
    size_t nseg;
    int last_file;           /* index in files[] of the last segment */
    tu_batch b[MAX_BATCHES]; /* batches of the last segment */
    size_t nb;
} fixture;

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const file_img *)a)->name, ((const file_img *)b)->name);
}

static void snapshot(fixture *fx) {
    DIR *d = opendir(fx->dir);
    CHECK(d != NULL);
    struct dirent *e;
    fx->nfiles = 0;
    while ((e = readdir(d)) != NULL) {
        char p[700];
        snprintf(p, sizeof p, "%.299s/%.63s", fx->dir, e->d_name);
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        CHECK(fx->nfiles < MAX_FILES && strlen(e->d_name) < 64);
        file_img *f = &fx->files[fx->nfiles++];
        snprintf(f->name, sizeof f->name, "%.63s", e->d_name);
        f->data = tu_read_file(p, &f->len);
        CHECK(f->data != NULL);
    }
    closedir(d);
    qsort(fx->files, (size_t)fx->nfiles, sizeof fx->files[0], cmp_name);
}

/* Puts the pristine files back, removing anything else (lost/, new files). */
static void restore(const fixture *fx) {
    CHECK(tu_rmrf(fx->dir) == 0);
    CHECK(mkdir(fx->dir, 0755) == 0);
    for (int i = 0; i < fx->nfiles; i++) {
        char p[700];
        snprintf(p, sizeof p, "%.299s/%.63s", fx->dir, fx->files[i].name);
        CHECK(tu_write_file(p, fx->files[i].data, fx->files[i].len) == 0);
    }
}

static const file_img *find_file(const fixture *fx, const char *name) {
    for (int i = 0; i < fx->nfiles; i++)
        if (strcmp(fx->files[i].name, name) == 0) return &fx->files[i];
    return NULL;
}

/* The files are exactly the pristine ones (LOCK aside, which any open may
 * create): "nothing on disk changes on failure". */
static void check_unchanged(const fixture *fx) {
    DIR *d = opendir(fx->dir);
    CHECK(d != NULL);
    struct dirent *e;
    int seen = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (strcmp(e->d_name, LOCK_NAME) == 0) continue;
        const file_img *f = find_file(fx, e->d_name);
        CHECKF(f != NULL, "a new entry %s appeared", e->d_name);
        char p[700];
        snprintf(p, sizeof p, "%.299s/%.63s", fx->dir, e->d_name);
        size_t len = 0;
        unsigned char *now = tu_read_file(p, &len);
        CHECKF(now != NULL && len == f->len && memcmp(now, f->data, len) == 0, "%s changed",
               e->d_name);
        free(now);
        seen++;
    }
    closedir(d);
    int want = fx->nfiles - (find_file(fx, LOCK_NAME) != NULL);
    CHECKF(seen == want, "%d files, want %d", seen, want);
}

static void seg_name(char *buf, size_t cap, uint64_t base) {
    snprintf(buf, cap, "%020" PRIu64 ".log", base);
}

/* The damaged copy of a file, to write back after changing it. */
static unsigned char *copy_of(const file_img *f) {
    unsigned char *c = malloc(f->len ? f->len : 1);
    memcpy(c, f->data, f->len);
    return c;
}

static void write_back(const fixture *fx, const char *name, const void *data, size_t len) {
    char p[700];
    snprintf(p, sizeof p, "%.299s/%.63s", fx->dir, name);
    CHECK(tu_write_file(p, data, len) == 0);
}

/* ---- checksums, computed from the documented layout ----------------------- */

static uint32_t masked(const void *p, size_t n) {
    return crc32c_mask(crc32c_value(p, n));
}

/* Recomputes a batch's body CRC and then its header CRC (which covers the
 * body CRC): a "fixed-up" batch whose checksums match whatever it now holds. */
static void fix_batch_crcs(unsigned char *seg, long long pos) {
    unsigned char *h = seg + pos;
    uint32_t body_len = tu_get_u32(h + 4);
    tu_put_u32(h + 28, masked(h + BATCH_HEADER_SIZE, body_len));
    tu_put_u32(h, masked(h + 4, BATCH_HEADER_SIZE - 4));
}

static void fix_header_crc_only(unsigned char *seg, long long pos) {
    tu_put_u32(seg + pos, masked(seg + pos + 4, BATCH_HEADER_SIZE - 4));
}

static void fix_seg_header_crc(unsigned char *seg) {
    tu_put_u32(seg + 36, masked(seg, 36));
}

static void fix_index_crcs(unsigned char *idx, size_t len) {
    tu_put_u32(idx + 56, masked(idx + IDX_HEADER_SIZE, len - IDX_HEADER_SIZE));
    tu_put_u32(idx + 60, masked(idx, 60));
}

/* The checksums of pristine files are what the format says they are: this
 * checks our reading of the format before any case relies on it. */
static void check_pristine_crcs(const fixture *fx) {
    for (int i = 0; i < fx->nfiles; i++) {
        const file_img *f = &fx->files[i];
        size_t nl = strlen(f->name);
        if (nl > 4 && strcmp(f->name + nl - 4, ".log") == 0) {
            CHECK(f->len >= SEG_HEADER_SIZE);
            CHECKF(tu_get_u32(f->data + 36) == masked(f->data, 36), "%s header crc", f->name);
            tu_batch bt[MAX_BATCHES];
            size_t nb = tu_parse_batches(f->data, f->len, bt, MAX_BATCHES);
            CHECK(nb <= MAX_BATCHES);
            CHECKF(nb == 0 || bt[nb - 1].end == (long long)f->len, "%s: trailing bytes", f->name);
            for (size_t k = 0; k < nb; k++) {
                const unsigned char *h = f->data + bt[k].pos;
                CHECK(tu_get_u32(h) == masked(h + 4, 28));
                CHECK(tu_get_u32(h + 28) == masked(h + 32, bt[k].body_len));
            }
        } else if ((nl > 6 && strcmp(f->name + nl - 6, ".index") == 0) ||
                   (nl > 10 && strcmp(f->name + nl - 10, ".timeindex") == 0)) {
            CHECK(f->len >= IDX_HEADER_SIZE);
            CHECKF(tu_get_u32(f->data + 60) == masked(f->data, 60), "%s header crc", f->name);
            CHECKF(tu_get_u32(f->data + 56) == masked(f->data + 64, f->len - 64), "%s entries crc",
                   f->name);
        }
    }
}

/* Writes the log: batches of 1..4 records (a single append when the batch
 * has one record), values of 0..maxlen deterministic bytes, timestamps that
 * mostly rise but sometimes go back; until there are `min_segs` segments and
 * the last one holds `min_last` batches. */
static void build(fixture *fx, const char *name, uint64_t segment_bytes, size_t min_segs,
                  size_t min_last, size_t maxlen) {
    memset(fx, 0, sizeof *fx);
    fx->name = name;
    fx->segment_bytes = segment_bytes;
    snprintf(fx->dir, sizeof fx->dir, "%s/log", tu_mkdtemp());
    lsmlog_options o = tu_opts(LSMLOG_DURABILITY_OS, segment_bytes);
    lsmlog_log *log = NULL;
    CHECK_OK(lsmlog_log_open(fx->dir, &o, &log));
    int64_t ts = 1700000000000LL;
    size_t nseg = 0, in_last = 0;
    while (nseg < min_segs || in_last < min_last) {
        size_t k = 1 + (size_t)tu_rand_below(4);
        lsmlog_entry ents[4];
        unsigned char vals[4][1024];
        for (size_t j = 0; j < k; j++) {
            uint64_t off = fx->m.n + j;
            ents[j].len = tu_make_value(tu_seed, off, maxlen, vals[j]);
            ents[j].data = vals[j];
            ts += (int64_t)tu_rand_below(20) - 3;
            ents[j].ts = ts;
        }
        uint64_t first = UINT64_MAX;
        if (k == 1)
            CHECK_OK(lsmlog_log_append(log, ents[0].data, ents[0].len, ents[0].ts, &first));
        else
            CHECK_OK(lsmlog_log_append_batch(log, ents, k, &first));
        CHECK_EQ_U64(first, fx->m.n);
        for (size_t j = 0; j < k; j++)
            tu_model_add(&fx->m, ents[j].data, ents[j].len, ents[j].ts);
        uint64_t none[1];
        size_t now = tu_list_segments(fx->dir, none, 0);
        in_last = now == nseg ? in_last + 1 : 1;
        nseg = now;
        CHECK(fx->m.n < 100000);
    }
    CHECK_OK(lsmlog_log_close(log));
    snapshot(fx);
    fx->nseg = tu_list_segments(fx->dir, fx->bases, MAX_FILES);
    CHECK(fx->nseg == nseg && fx->nseg <= MAX_FILES);
    char nm[64];
    seg_name(nm, sizeof nm, fx->bases[fx->nseg - 1]);
    fx->last_file = -1;
    for (int i = 0; i < fx->nfiles; i++)
        if (strcmp(fx->files[i].name, nm) == 0) fx->last_file = i;
    CHECK(fx->last_file >= 0);
    const file_img *lf = &fx->files[fx->last_file];
    fx->nb = tu_parse_batches(lf->data, lf->len, fx->b, MAX_BATCHES);
    CHECK_EQ_U64(fx->nb, in_last);
    CHECK_EQ_U64(fx->b[fx->nb - 1].end, lf->len);
    CHECK_EQ_U64(fx->b[fx->nb - 1].base + fx->b[fx->nb - 1].count, fx->m.n);
    check_pristine_crcs(fx);
}

static void free_fixture(fixture *fx) {
    for (int i = 0; i < fx->nfiles; i++)
        free(fx->files[i].data);
    tu_model_free(&fx->m);
}

static const file_img *last_seg(const fixture *fx) {
    return &fx->files[fx->last_file];
}

/* A copy of the model. */
static void model_copy(tu_model *dst, const tu_model *src) {
    memset(dst, 0, sizeof *dst);
    for (size_t i = 0; i < src->n; i++) {
        tu_model_add(dst, src->r[i].data, src->r[i].len, src->r[i].ts);
        dst->r[i].present = src->r[i].present;
    }
}

/* ---- opening ---------------------------------------------------------------- */

static int open_log(const fixture *fx, int repair, int readonly, lsmlog_log **out) {
    lsmlog_options o = tu_opts(LSMLOG_DURABILITY_OS, fx->segment_bytes);
    o.repair = repair;
    o.readonly = readonly;
    o.create = 0;
    *out = NULL;
    return lsmlog_log_open(fx->dir, &o, out);
}

/* After recovery kept `m` (a prefix, maybe with holes): the log holds exactly
 * that, a new batch lands at m->n, and a plain reopen sees it all with nothing
 * more to recover. Consumes the open handle. */
static void check_then_append(const fixture *fx, lsmlog_log *log, tu_model *m, uint64_t start) {
    tu_verify_log(log, m, start);
    uint64_t count = 0, present = 0;
    CHECK_OK(lsmlog_log_verify(log, &count));
    for (uint64_t off = start; off < m->n; off++)
        present += m->r[off].present;
    CHECK_EQ_U64(count, present);
    lsmlog_entry e[2] = {{"after-1", 7, 42}, {"", 0, 43}};
    uint64_t first = UINT64_MAX;
    CHECK_OK(lsmlog_log_append_batch(log, e, 2, &first));
    CHECKF(first == m->n, "new batch at %" PRIu64 ", want %zu", first, m->n);
    tu_model_add(m, e[0].data, e[0].len, e[0].ts);
    tu_model_add(m, e[1].data, e[1].len, e[1].ts);
    tu_verify_log(log, m, start);
    CHECK_OK(lsmlog_log_close(log));

    CHECK_OK(open_log(fx, 0, 0, &log));
    const lsmlog_recovery *r = lsmlog_log_recovery(log);
    CHECKF(r->truncated_bytes == 0, "second open cut %" PRIu64 " bytes", r->truncated_bytes);
    CHECK_EQ_U64(r->dropped_batches, 0);
    tu_verify_log(log, m, start);
    CHECK_OK(lsmlog_log_close(log));
}

/* The model of a log whose last segment keeps only batches [0, keep). */
static void kept_model(const fixture *fx, size_t keep, tu_model *out) {
    model_copy(out, &fx->m);
    uint64_t n = keep ? fx->b[keep - 1].base + fx->b[keep - 1].count : fx->bases[fx->nseg - 1];
    tu_model_cut(out, n);
}

/* ---- (a) truncation at every length ------------------------------------------ */

/* Cutting the last segment anywhere is a crash at that point: a writer keeps
 * the whole batches, reports the cut, and carries on. */
static void truncate_everywhere(const fixture *fx) {
    const file_img *lf = last_seg(fx);
    char path[700];
    snprintf(path, sizeof path, "%.299s/%.63s", fx->dir, lf->name);
    for (size_t len = 0; len <= lf->len; len++) {
        size_t keep = 0;
        while (keep < fx->nb && (size_t)fx->b[keep].end <= len)
            keep++;
        long long kept_pos = keep ? fx->b[keep - 1].end : SEG_HEADER_SIZE;
        tu_model m;
        kept_model(fx, keep, &m);

        restore(fx);
        CHECK(tu_truncate_file(path, (long long)len) == 0);
        lsmlog_log *log = NULL;
        int rc = open_log(fx, 0, 0, &log);
        CHECKF(rc == LSMLOG_OK, "%s: open at length %zu: %d (%s)", fx->name, len, rc,
               tu_status_name(rc));
        const lsmlog_recovery *r = lsmlog_log_recovery(log);
        CHECK(r != NULL && r->message != NULL);
        if (len >= SEG_HEADER_SIZE) {
            uint64_t cut = (uint64_t)((long long)len - kept_pos);
            CHECKF(r->truncated_bytes == cut,
                   "%s: length %zu: truncated %" PRIu64 ", want %" PRIu64, fx->name, len,
                   r->truncated_bytes, cut);
            CHECKF(tu_file_size(path) == kept_pos, "%s: length %zu: file is %lld bytes, want %lld",
                   fx->name, len, tu_file_size(path), kept_pos);
            if (cut) CHECKF(r->message[0] != '\0', "no message for a cut of %" PRIu64, cut);
        } else {
            /* a header torn while being created: it is written again */
            CHECK(r->truncated_bytes <= len);
        }
        CHECK_EQ_U64(r->dropped_batches, 0);
        check_then_append(fx, log, &m, 0);
        tu_model_free(&m);
    }
}

/* A read-only handle on the same cut files (a writer still writing, or one
 * that crashed) sees the whole-batch prefix and changes nothing. */
static void truncate_everywhere_readonly(const fixture *fx) {
    const file_img *lf = last_seg(fx);
    char path[700];
    snprintf(path, sizeof path, "%.299s/%.63s", fx->dir, lf->name);
    for (size_t len = 0; len <= lf->len; len++) {
        size_t keep = 0;
        while (keep < fx->nb && (size_t)fx->b[keep].end <= len)
            keep++;
        tu_model m;
        kept_model(fx, keep, &m);
        restore(fx);
        CHECK(tu_truncate_file(path, (long long)len) == 0);
        lsmlog_log *log = NULL;
        int rc = open_log(fx, 0, 1, &log);
        CHECKF(rc == LSMLOG_OK, "%s: read-only open at length %zu: %d (%s)", fx->name, len, rc,
               tu_status_name(rc));
        tu_verify_log(log, &m, 0);
        CHECK_OK(lsmlog_log_close(log));
        CHECKF(tu_file_size(path) == (long long)len, "read-only open changed the file (len %zu)",
               len);
        tu_model_free(&m);
    }
}

static fixture small_fx, multi_fx;

static void case_truncate_every_length_small(void) {
    truncate_everywhere(&small_fx);
}
static void case_truncate_every_length_multi(void) {
    truncate_everywhere(&multi_fx);
}
static void case_truncate_every_length_readonly_small(void) {
    truncate_everywhere_readonly(&small_fx);
}
static void case_truncate_every_length_readonly_multi(void) {
    truncate_everywhere_readonly(&multi_fx);
}

/* Bytes after the last batch that are not a batch (zeros from a file system
 * that extended the file before the data landed, or garbage) are a tail. */
static void case_garbage_tail(void) {
    const fixture *fx = &small_fx;
    const file_img *lf = last_seg(fx);
    for (int kind = 0; kind < 3; kind++) {
        size_t extra = kind == 2 ? 3 : 100;
        unsigned char *img = malloc(lf->len + extra);
        memcpy(img, lf->data, lf->len);
        uint64_t st = tu_seed + (uint64_t)kind;
        if (kind == 0)
            memset(img + lf->len, 0, extra);
        else
            tu_fill_random(&st, img + lf->len, extra);
        restore(fx);
        write_back(fx, lf->name, img, lf->len + extra);
        free(img);
        lsmlog_log *log = NULL;
        CHECK_OK(open_log(fx, 0, 0, &log));
        CHECK_EQ_U64(lsmlog_log_recovery(log)->truncated_bytes, extra);
        tu_model m;
        model_copy(&m, &fx->m);
        check_then_append(fx, log, &m, 0);
        tu_model_free(&m);
    }
}

/* ---- (b) a damaged last batch --------------------------------------------------- */

static void flip_last_batch(const fixture *fx) {
    const file_img *lf = last_seg(fx);
    const tu_batch *lb = &fx->b[fx->nb - 1];
    char path[700];
    snprintf(path, sizeof path, "%.299s/%.63s", fx->dir, lf->name);
    tu_model m;
    kept_model(fx, fx->nb - 1, &m);
    static const unsigned char masks[2] = {0xFF, 0x01};
    for (long long pos = lb->pos; pos < lb->end; pos++) {
        for (int k = 0; k < 2; k++) {
            restore(fx);
            CHECK(tu_flip_byte(path, pos, masks[k]) == 0);
            lsmlog_log *log = NULL;
            int rc = open_log(fx, 0, 0, &log);
            CHECKF(rc == LSMLOG_OK, "%s: flip at %lld: open %d (%s)", fx->name, pos, rc,
                   tu_status_name(rc));
            const lsmlog_recovery *r = lsmlog_log_recovery(log);
            CHECKF(r->truncated_bytes == (uint64_t)(lb->end - lb->pos),
                   "%s: flip at %lld: truncated %" PRIu64 ", want %lld", fx->name, pos,
                   r->truncated_bytes, lb->end - lb->pos);
            CHECK_EQ_INT(tu_file_size(path), lb->pos);
            tu_model mm;
            model_copy(&mm, &m);
            check_then_append(fx, log, &mm, 0);
            tu_model_free(&mm);
        }
    }
    tu_model_free(&m);
}

static void case_flip_last_batch_small(void) {
    flip_last_batch(&small_fx);
}
static void case_flip_last_batch_multi(void) {
    flip_last_batch(&multi_fx);
}

/* ---- (c), (d) damage before the tail ------------------------------------------- */

/* The message names the segment file and the damaged batch's byte position
 * (or `alt_pos`, when the damage makes two batches disagree and either may
 * be blamed; -1: none). */
static void check_corrupt_message2(const fixture *fx, long long batch_pos, long long alt_pos) {
    const char *msg = lsmlog_errmsg();
    CHECKF(strstr(msg, last_seg(fx)->name) != NULL, "message does not name the file: %s", msg);
    if (batch_pos >= 0) {
        char num[32], alt[32];
        snprintf(num, sizeof num, "%lld", batch_pos);
        snprintf(alt, sizeof alt, "%lld", alt_pos);
        CHECKF(strstr(msg, num) != NULL || (alt_pos >= 0 && strstr(msg, alt) != NULL),
               "message does not name byte %s: %s", num, msg);
    }
}

static void check_corrupt_message(const fixture *fx, long long batch_pos) {
    check_corrupt_message2(fx, batch_pos, -1);
}

/* Repair of damage in batch `bi` of the last segment: every other batch is
 * kept, the damaged batch's offsets stay missing (get NOTFOUND, iterators
 * skip), new appends do not reuse them, and a plain open afterwards works. */
static void check_repair(const fixture *fx, size_t bi, const char *what) {
    lsmlog_log *log = NULL;
    int rc = open_log(fx, 1, 0, &log);
    CHECKF(rc == LSMLOG_OK, "%s: repair open: %d (%s)", what, rc, tu_status_name(rc));
    const lsmlog_recovery *r = lsmlog_log_recovery(log);
    CHECKF(r->dropped_batches >= 1, "%s: dropped_batches %" PRIu64, what, r->dropped_batches);
    CHECKF(r->dropped_bytes >= 1, "%s: dropped_bytes %" PRIu64, what, r->dropped_bytes);
    CHECK(r->message != NULL && r->message[0] != '\0');

    tu_model m;
    model_copy(&m, &fx->m);
    for (uint32_t j = 0; j < fx->b[bi].count; j++)
        m.r[fx->b[bi].base + j].present = 0;
    uint64_t first_present = 0;
    while (!m.r[first_present].present)
        first_present++;
    uint64_t start = 0;
    CHECK_OK(lsmlog_log_bounds(log, &start, NULL));
    CHECKF(start <= first_present, "%s: start %" PRIu64 " hides offset %" PRIu64, what, start,
           first_present);
    char lost[400];
    snprintf(lost, sizeof lost, "%.299s/%.63s", fx->dir, LOST_DIR);
    CHECKF(tu_is_dir(lost), "%s: no %s/ after a repair", what, LOST_DIR);
    check_then_append(fx, log, &m, start);
    tu_model_free(&m);
}

/* Flips every byte of every batch of the last segment but the last one (and
 * the bytes of the segment header): the damage is followed by valid batches. */
static void flip_before_tail(const fixture *fx, int repair, int stride) {
    const file_img *lf = last_seg(fx);
    char path[700];
    snprintf(path, sizeof path, "%.299s/%.63s", fx->dir, lf->name);
    for (size_t bi = 0; bi + 1 < fx->nb; bi++) {
        for (long long pos = fx->b[bi].pos; pos < fx->b[bi].end; pos += stride) {
            restore(fx);
            CHECK(tu_flip_byte(path, pos, 0xFF) == 0);
            char what[200];
            snprintf(what, sizeof what, "%s: batch %zu at %lld, flip at %lld", fx->name, bi,
                     fx->b[bi].pos, pos);
            if (!repair) {
                lsmlog_log *log = NULL;
                int rc = open_log(fx, 0, 0, &log);
                CHECKF(rc == LSMLOG_E_CORRUPT, "%s: open %d (%s)", what, rc, tu_status_name(rc));
                check_corrupt_message(fx, fx->b[bi].pos);
                /* the damaged file is as it was: nothing was cut */
                CHECK(tu_flip_byte(path, pos, 0xFF) == 0);
                check_unchanged(fx);
            } else {
                check_repair(fx, bi, what);
            }
        }
    }
}

static void case_flip_before_tail_small(void) {
    flip_before_tail(&small_fx, 0, 1);
}
static void case_flip_before_tail_multi(void) {
    flip_before_tail(&multi_fx, 0, 3);
}
static void case_repair_small(void) {
    flip_before_tail(&small_fx, 1, 1);
}
static void case_repair_multi(void) {
    flip_before_tail(&multi_fx, 1, 7);
}

/* A damaged segment header, with valid batches after it, is corruption too:
 * cutting the whole segment as a "torn tail" would lose acknowledged data. */
static void case_flip_segment_header(void) {
    const fixture *fx = &small_fx;
    char path[700];
    snprintf(path, sizeof path, "%.299s/%.63s", fx->dir, last_seg(fx)->name);
    for (long long pos = 0; pos < SEG_HEADER_SIZE; pos++) {
        restore(fx);
        CHECK(tu_flip_byte(path, pos, 0x10) == 0);
        lsmlog_log *log = NULL;
        int rc = open_log(fx, 0, 0, &log);
        CHECKF(rc == LSMLOG_E_CORRUPT, "segment header flip at %lld: %d (%s)", pos, rc,
               tu_status_name(rc));
        check_corrupt_message(fx, -1);
        CHECK(tu_flip_byte(path, pos, 0x10) == 0);
        check_unchanged(fx);
    }
}

/* ---- (e) lengths and fixed-up checksums ------------------------------------------ */

/* Opens the damaged log and expects either a torn-tail cut of the last batch
 * (want_cut) or LSMLOG_E_CORRUPT with the files unchanged. */
static void expect_tail_cut(const fixture *fx, unsigned char *img, size_t len, const char *what) {
    restore(fx);
    write_back(fx, last_seg(fx)->name, img, len);
    lsmlog_log *log = NULL;
    int rc = open_log(fx, 0, 0, &log);
    CHECKF(rc == LSMLOG_OK, "%s: open %d (%s)", what, rc, tu_status_name(rc));
    const tu_batch *lb = &fx->b[fx->nb - 1];
    CHECKF(lsmlog_log_recovery(log)->truncated_bytes == len - (size_t)lb->pos,
           "%s: truncated %" PRIu64 ", want %zu", what, lsmlog_log_recovery(log)->truncated_bytes,
           len - (size_t)lb->pos);
    tu_model m;
    kept_model(fx, fx->nb - 1, &m);
    check_then_append(fx, log, &m, 0);
    tu_model_free(&m);
}

static void expect_corrupt2(const fixture *fx, unsigned char *img, size_t len, long long batch_pos,
                            long long alt_pos, const char *what) {
    restore(fx);
    write_back(fx, last_seg(fx)->name, img, len);
    lsmlog_log *log = NULL;
    int rc = open_log(fx, 0, 0, &log);
    CHECKF(rc == LSMLOG_E_CORRUPT, "%s: open %d (%s)", what, rc, tu_status_name(rc));
    check_corrupt_message2(fx, batch_pos, alt_pos);
    size_t now_len = 0;
    char path[700];
    snprintf(path, sizeof path, "%.299s/%.63s", fx->dir, last_seg(fx)->name);
    unsigned char *now = tu_read_file(path, &now_len);
    CHECKF(now && now_len == len && memcmp(now, img, len) == 0, "%s: the file changed", what);
    free(now);
}

static void expect_corrupt(const fixture *fx, unsigned char *img, size_t len, long long batch_pos,
                           const char *what) {
    expect_corrupt2(fx, img, len, batch_pos, -1, what);
}

/* Position of the first value byte of the first non-empty record of batch
 * `bi`, or -1. */
static long long first_value_byte(const unsigned char *seg, const tu_batch *b) {
    const unsigned char *body = seg + b->pos + BATCH_HEADER_SIZE;
    for (uint32_t i = 0; i < b->count; i++) {
        uint64_t vlen = 0;
        size_t vpos;
        CHECK(tu_body_record(body, b->body_len, b->count, i, &vlen, &vpos));
        if (vlen > 0) return (long long)(b->pos + BATCH_HEADER_SIZE + vpos);
    }
    return -1;
}

static void case_bad_length_last_batch(void) {
    const fixture *fx = &small_fx;
    const file_img *lf = last_seg(fx);
    const tu_batch *lb = &fx->b[fx->nb - 1];
    uint32_t lens[3] = {0xFFFFFFFFu, lb->body_len + 1, 0x7FFFFFFFu};
    for (int i = 0; i < 3; i++) {
        unsigned char *img = copy_of(lf);
        tu_put_u32(img + lb->pos + 4, lens[i]);
        fix_header_crc_only(img, lb->pos); /* a header that passes: its body runs off the end */
        expect_tail_cut(fx, img, lf->len, "last batch, long body_len");
        free(img);
    }
    /* and without fixing the header CRC */
    unsigned char *img = copy_of(lf);
    tu_put_u32(img + lb->pos + 4, lb->body_len - 1);
    expect_tail_cut(fx, img, lf->len, "last batch, short body_len");
    free(img);
}

static void case_bad_length_earlier_batch(void) {
    const fixture *fx = &small_fx;
    const file_img *lf = last_seg(fx);
    for (size_t bi = 0; bi + 1 < fx->nb; bi++) {
        const tu_batch *b = &fx->b[bi];
        int64_t deltas[4] = {-1, 1, 1000000, -(int64_t)b->body_len};
        for (int i = 0; i < 4; i++) {
            unsigned char *img = copy_of(lf);
            tu_put_u32(img + b->pos + 4, (uint32_t)((int64_t)b->body_len + deltas[i]));
            fix_header_crc_only(img, b->pos);
            char what[100];
            snprintf(what, sizeof what, "batch %zu body_len %+" PRId64 " (header crc fixed)", bi,
                     deltas[i]);
            expect_corrupt(fx, img, lf->len, b->pos, what);
            free(img);
        }
    }
}

/* A value byte changed and both CRCs recomputed: the batch is valid again,
 * and must be returned as it now is — the CRC is the only judge. */
static void case_fixed_up_checksum(void) {
    const fixture *fx = &small_fx;
    const file_img *lf = last_seg(fx);
    int done = 0;
    for (size_t bi = 0; bi < fx->nb; bi++) {
        long long vp = first_value_byte(lf->data, &fx->b[bi]);
        if (vp < 0) continue;
        unsigned char *img = copy_of(lf);
        img[vp] ^= 0x5A;
        fix_batch_crcs(img, fx->b[bi].pos);
        restore(fx);
        write_back(fx, lf->name, img, lf->len);
        free(img);

        /* which record and byte changed */
        tu_model m;
        model_copy(&m, &fx->m);
        const unsigned char *body = lf->data + fx->b[bi].pos + BATCH_HEADER_SIZE;
        uint64_t vlen = 0;
        uint64_t off = fx->b[bi].base;
        for (uint32_t i = 0;; i++, off++) {
            size_t vpos;
            CHECK(tu_body_record(body, fx->b[bi].body_len, fx->b[bi].count, i, &vlen, &vpos));
            if (vlen > 0) break;
        }
        CHECK(m.r[off].len == vlen);
        m.r[off].data[0] ^= 0x5A;

        lsmlog_log *log = NULL;
        CHECK_OK(open_log(fx, 0, 0, &log));
        CHECK_EQ_U64(lsmlog_log_recovery(log)->truncated_bytes, 0);
        check_then_append(fx, log, &m, 0);
        tu_model_free(&m);
        done++;
    }
    CHECK(done >= 2);
}

/* Structure that passes both CRCs but breaks the rules: a count of zero, a
 * count beyond the body, offsets that overlap a neighbour, a value length
 * running off the body, a first record whose timestamp is not first_ts.
 * Followed by valid batches, it is corruption. */
static void case_fixed_up_bad_structure(void) {
    const fixture *fx = &small_fx;
    const file_img *lf = last_seg(fx);
    for (size_t bi = 0; bi + 1 < fx->nb; bi++) {
        const tu_batch *b = &fx->b[bi];
        for (int kind = 0; kind < 6; kind++) {
            unsigned char *img = copy_of(lf);
            unsigned char *h = img + b->pos;
            const char *what = "";
            switch (kind) {
            case 0:
                tu_put_u32(h + 24, 0);
                what = "count 0";
                break;
            case 1:
                tu_put_u32(h + 24, b->count + 1);
                what = "count + 1";
                break;
            case 2:
                if (bi + 2 >= fx->nb) { /* see case_fixed_up_overlap_before_last */
                    free(img);
                    continue;
                }
                tu_put_u64(h + 8, b->base + 1);
                what = "base_offset + 1 (overlaps the next batch)";
                break;
            case 3:
                if (bi == 0) {
                    free(img);
                    continue;
                }
                tu_put_u64(h + 8, b->base - 1);
                what = "base_offset - 1 (overlaps the previous batch)";
                break;
            case 4: {
                /* the first record's value length: past the body */
                const unsigned char *p = h + BATCH_HEADER_SIZE;
                uint64_t d;
                size_t k = tu_get_varint(p, 10, &d);
                /* a 5-byte varint32 would change the body length; a one-byte
                 * length of 127 works when the first value is short */
                uint64_t vlen;
                size_t k2 = tu_get_varint(p + k, 10, &vlen);
                if (k2 != 1 || b->body_len >= 120) {
                    free(img);
                    continue;
                }
                h[BATCH_HEADER_SIZE + k] = 127;
                what = "value length past the body";
                break;
            }
            case 5:
                /* the writer's is 0, one byte: first_ts is the first record's */
                CHECK(h[BATCH_HEADER_SIZE] == 0);
                h[BATCH_HEADER_SIZE] = 2; /* zigzag(1) */
                what = "first record's ts_delta not 0";
                break;
            }
            fix_batch_crcs(img, b->pos);
            char w[160];
            snprintf(w, sizeof w, "batch %zu: %s", bi, what);
            /* an overlap may be blamed on either of the two batches */
            long long alt = kind == 2 ? fx->b[bi + 1].pos : kind == 3 ? fx->b[bi - 1].pos : -1;
            expect_corrupt2(fx, img, lf->len, b->pos, alt, w);
            free(img);
        }
    }
}

/* The same structural damage in the last batch: nothing of it may be
 * returned. The Log may cut it as a corrupt tail or refuse the open. */
static void case_fixed_up_bad_structure_last(void) {
    const fixture *fx = &small_fx;
    const file_img *lf = last_seg(fx);
    const tu_batch *b = &fx->b[fx->nb - 1];
    for (int kind = 0; kind < 3; kind++) {
        unsigned char *img = copy_of(lf);
        unsigned char *h = img + b->pos;
        if (kind == 0) tu_put_u32(h + 24, 0);
        if (kind == 1) tu_put_u32(h + 24, b->count + 1);
        if (kind == 2) tu_put_u64(h + 8, b->base - 1);
        fix_batch_crcs(img, b->pos);
        restore(fx);
        write_back(fx, lf->name, img, lf->len);
        free(img);
        lsmlog_log *log = NULL;
        int rc = open_log(fx, 0, 0, &log);
        CHECKF(rc == LSMLOG_OK || rc == LSMLOG_E_CORRUPT, "kind %d: open %d (%s)", kind, rc,
               tu_status_name(rc));
        if (rc == LSMLOG_OK) {
            CHECK_EQ_U64(lsmlog_log_recovery(log)->truncated_bytes, (uint64_t)(b->end - b->pos));
            tu_model m;
            kept_model(fx, fx->nb - 1, &m);
            check_then_append(fx, log, &m, 0);
            tu_model_free(&m);
        }
    }
}

/* Two CRC-valid batches at the end that overlap (the one before the last
 * claims one offset too high): which of the two is wrong cannot be known.
 * The Log may refuse the open, or cut the last batch as a corrupt tail and
 * keep the one before it as written (one offset up, leaving a hole); it may
 * not return anything else. */
static void case_fixed_up_overlap_before_last(void) {
    const fixture *fx = &small_fx;
    const file_img *lf = last_seg(fx);
    const tu_batch *b = &fx->b[fx->nb - 2], *lb = &fx->b[fx->nb - 1];
    unsigned char *img = copy_of(lf);
    tu_put_u64(img + b->pos + 8, b->base + 1);
    fix_batch_crcs(img, b->pos);
    restore(fx);
    write_back(fx, lf->name, img, lf->len);
    free(img);
    lsmlog_log *log = NULL;
    int rc = open_log(fx, 0, 0, &log);
    CHECKF(rc == LSMLOG_OK || rc == LSMLOG_E_CORRUPT, "open %d (%s)", rc, tu_status_name(rc));
    if (rc != LSMLOG_OK) {
        check_corrupt_message2(fx, b->pos, lb->pos);
        return;
    }
    CHECK_EQ_U64(lsmlog_log_recovery(log)->truncated_bytes, (uint64_t)(lb->end - lb->pos));
    tu_model m;
    model_copy(&m, &fx->m);
    tu_model_cut(&m, b->base);
    tu_model_add(&m, NULL, 0, 0); /* the hole at b->base */
    m.r[b->base].present = 0;
    for (uint32_t j = 0; j < b->count; j++) {
        const tu_rec *r = &fx->m.r[b->base + j];
        tu_model_add(&m, r->data, r->len, r->ts);
    }
    check_then_append(fx, log, &m, 0);
    tu_model_free(&m);
}

/* ---- (f) sealed segments and index files ------------------------------------------ */

/* A sealed segment's batches, read from the pristine image. */
static size_t sealed_batches(const fixture *fx, size_t seg, tu_batch *bt, const file_img **f) {
    char nm[64];
    seg_name(nm, sizeof nm, fx->bases[seg]);
    *f = find_file(fx, nm);
    CHECK(*f != NULL);
    size_t nb = tu_parse_batches((*f)->data, (*f)->len, bt, MAX_BATCHES);
    CHECK(nb >= 2 && nb <= MAX_BATCHES);
    return nb;
}

/* Damage inside sealed segment 0: open may notice (if it must scan) or not;
 * either way no read returns wrong bytes, the reads that need the damaged
 * batch fail with LSMLOG_E_CORRUPT, and verify reports it with the file. */
/* Which way the either-or cases went, printed for the record. */
static int sealed_open_refused, sealed_open_ok;

static void damage_sealed(const fixture *fx, size_t bi, long long pos, unsigned char mask) {
    tu_batch bt[MAX_BATCHES];
    const file_img *f = NULL;
    size_t nb = sealed_batches(fx, 0, bt, &f);
    CHECK(bi < nb);
    restore(fx);
    char path[700];
    snprintf(path, sizeof path, "%.299s/%.63s", fx->dir, f->name);
    CHECK(tu_flip_byte(path, pos, mask) == 0);

    lsmlog_log *log = NULL;
    int rc = open_log(fx, 0, 0, &log);
    CHECKF(rc == LSMLOG_OK || rc == LSMLOG_E_CORRUPT, "sealed flip at %lld: open %d (%s)", pos, rc,
           tu_status_name(rc));
    if (rc != LSMLOG_OK) {
        CHECKF(strstr(lsmlog_errmsg(), f->name) != NULL, "message does not name %s: %s", f->name,
               lsmlog_errmsg());
        sealed_open_refused++;
        return;
    }
    sealed_open_ok++;
    const tu_model *m = &fx->m;
    uint64_t lo = bt[bi].base, hi = bt[bi].base + bt[bi].count;
    for (uint64_t off = 0; off < m->n; off++) {
        int64_t ts;
        void *v = NULL;
        size_t len;
        rc = lsmlog_log_get(log, off, &ts, &v, &len);
        if (off >= lo && off < hi) {
            CHECKF(rc == LSMLOG_E_CORRUPT, "get(%" PRIu64 ") of the damaged batch: %d (%s)", off,
                   rc, tu_status_name(rc));
            CHECKF(strstr(lsmlog_errmsg(), f->name) != NULL, "message does not name %s: %s",
                   f->name, lsmlog_errmsg());
        } else {
            /* elsewhere: right, or refused — never wrong */
            CHECKF(rc == LSMLOG_OK || rc == LSMLOG_E_CORRUPT, "get(%" PRIu64 "): %d (%s)", off, rc,
                   tu_status_name(rc));
            if (off >= fx->bases[1])
                CHECKF(rc == LSMLOG_OK, "get(%" PRIu64 ") in an intact segment", off);
            if (rc == LSMLOG_OK) tu_check_rec(m, off, ts, v, len);
        }
        lsmlog_free(v);
    }
    /* an iterator returns everything before the damage, then fails */
    lsmlog_log_iter *it = NULL;
    CHECK_OK(lsmlog_log_iter_open(log, NULL, &it));
    for (uint64_t off = 0;; off++) {
        lsmlog_record rec;
        rc = lsmlog_log_iter_next(it, &rec);
        if (off < lo) {
            CHECKF(rc == LSMLOG_OK, "iterator at %" PRIu64 ": %d (%s)", off, rc,
                   tu_status_name(rc));
            CHECK_EQ_U64(rec.offset, off);
            tu_check_rec(m, rec.offset, rec.timestamp, rec.value, rec.len);
        } else {
            CHECKF(rc == LSMLOG_E_CORRUPT, "iterator reaching the damage at %" PRIu64 ": %d (%s)",
                   off, rc, tu_status_name(rc));
            break;
        }
    }
    lsmlog_log_iter_close(it);
    /* an iterator starting past the damaged segment is unaffected */
    lsmlog_iter_opts o;
    lsmlog_iter_opts_init(&o);
    o.start = fx->bases[1];
    CHECK_OK(lsmlog_log_iter_open(log, &o, &it));
    for (uint64_t off = fx->bases[1]; off < m->n; off++) {
        lsmlog_record rec;
        CHECK_OK(lsmlog_log_iter_next(it, &rec));
        CHECK_EQ_U64(rec.offset, off);
        tu_check_rec(m, rec.offset, rec.timestamp, rec.value, rec.len);
    }
    lsmlog_log_iter_close(it);

    uint64_t count = 0;
    CHECK_EQ_INT(lsmlog_log_verify(log, &count), LSMLOG_E_CORRUPT);
    CHECKF(strstr(lsmlog_errmsg(), f->name) != NULL, "verify's message does not name %s: %s",
           f->name, lsmlog_errmsg());
    CHECK_OK(lsmlog_log_close(log));
}

static void case_sealed_segment_damage(void) {
    const fixture *fx = &multi_fx;
    CHECK(fx->nseg >= 3);
    tu_batch bt[MAX_BATCHES];
    const file_img *f = NULL;
    size_t nb = sealed_batches(fx, 0, bt, &f);
    /* every byte of a middle batch, and of the first and the last batch */
    size_t which[3] = {0, nb / 2, nb - 1};
    for (int w = 0; w < 3; w++) {
        size_t bi = which[w];
        for (long long pos = bt[bi].pos; pos < bt[bi].end; pos++)
            damage_sealed(fx, bi, pos, (unsigned char)(1u << (pos % 8)));
    }
    printf("  sealed damage: open refused %d times, opened and reads refused %d times\n",
           sealed_open_refused, sealed_open_ok);
}

/* repair also salvages a sealed segment: afterwards the damaged batch's
 * offsets are missing, everything else reads, and verify passes. */
static void case_repair_sealed_segment(void) {
    const fixture *fx = &multi_fx;
    tu_batch bt[MAX_BATCHES];
    const file_img *f = NULL;
    size_t nb = sealed_batches(fx, 0, bt, &f);
    size_t bi = nb / 2;
    restore(fx);
    char path[700];
    snprintf(path, sizeof path, "%.299s/%.63s", fx->dir, f->name);
    CHECK(tu_flip_byte(path, bt[bi].pos + BATCH_HEADER_SIZE + 1, 0x20) == 0); /* in the body */
    lsmlog_log *log = NULL;
    int rc = open_log(fx, 1, 0, &log);
    CHECKF(rc == LSMLOG_OK, "repair open: %d (%s)", rc, tu_status_name(rc));
    const lsmlog_recovery *r = lsmlog_log_recovery(log);
    CHECKF(r->dropped_batches >= 1,
           "repair of a damaged sealed segment dropped %" PRIu64 " batches (message: \"%s\")",
           r->dropped_batches, r->message);
    tu_model m;
    model_copy(&m, &fx->m);
    for (uint32_t j = 0; j < bt[bi].count; j++)
        m.r[bt[bi].base + j].present = 0;
    uint64_t count = 0;
    CHECK_OK(lsmlog_log_verify(log, &count));
    check_then_append(fx, log, &m, 0);
    tu_model_free(&m);
}

/* Index files are caches: missing, torn, flipped or stale, they are rebuilt
 * at open and reads stay right. */
static void check_reads_and_time(lsmlog_log *log, const tu_model *m) {
    tu_verify_log(log, m, 0);
    for (uint64_t i = 0; i < m->n; i += 3) {
        int64_t t = m->r[i].ts;
        uint64_t want = 0;
        while (m->r[want].ts < t)
            want++;
        uint64_t got = UINT64_MAX;
        CHECK_OK(lsmlog_log_offset_for_time(log, t, &got));
        CHECKF(got == want, "offset_for_time(%" PRId64 ") = %" PRIu64 ", want %" PRIu64, t, got,
               want);
    }
}

static void index_case(const fixture *fx, const char *what,
                       void (*damage)(const fixture *, const char *)) {
    /* damage the index files of every sealed segment, one kind at a time */
    restore(fx);
    for (size_t s = 0; s + 1 < fx->nseg; s++) {
        char nm[64];
        snprintf(nm, sizeof nm, "%020" PRIu64, fx->bases[s]);
        damage(fx, nm);
    }
    lsmlog_log *log = NULL;
    int rc = open_log(fx, 0, 0, &log);
    CHECKF(rc == LSMLOG_OK, "%s: open %d (%s)", what, rc, tu_status_name(rc));
    const lsmlog_recovery *r = lsmlog_log_recovery(log);
    CHECKF(r->rebuilt_indexes > 0, "%s: rebuilt_indexes %" PRIu64, what, r->rebuilt_indexes);
    CHECK_EQ_U64(r->truncated_bytes, 0);
    check_reads_and_time(log, &fx->m);
    CHECK_OK(lsmlog_log_close(log));
    /* written again: the next open has nothing to rebuild */
    for (size_t s = 0; s + 1 < fx->nseg; s++) {
        char p[700];
        tu_seg_path(p, sizeof p, fx->dir, fx->bases[s], IDX_SUFFIX);
        CHECKF(tu_exists(p), "%s: %s not rebuilt", what, p);
        tu_seg_path(p, sizeof p, fx->dir, fx->bases[s], TIDX_SUFFIX);
        CHECKF(tu_exists(p), "%s: %s not rebuilt", what, p);
    }
    CHECK_OK(open_log(fx, 0, 0, &log));
    CHECK_EQ_U64(lsmlog_log_recovery(log)->rebuilt_indexes, 0);
    check_reads_and_time(log, &fx->m);
    CHECK_OK(lsmlog_log_close(log));
    /* a read-only handle cannot write them, but reads right all the same */
    restore(fx);
    for (size_t s = 0; s + 1 < fx->nseg; s++) {
        char nm[64];
        snprintf(nm, sizeof nm, "%020" PRIu64, fx->bases[s]);
        damage(fx, nm);
    }
    CHECK_OK(open_log(fx, 0, 1, &log));
    check_reads_and_time(log, &fx->m);
    CHECK_OK(lsmlog_log_close(log));
}

static void idx_path(char *p, size_t cap, const fixture *fx, const char *stem, const char *sfx) {
    snprintf(p, cap, "%.299s/%.63s%.16s", fx->dir, stem, sfx);
}

static void dmg_delete_index(const fixture *fx, const char *stem) {
    char p[700];
    idx_path(p, sizeof p, fx, stem, IDX_SUFFIX);
    CHECK(unlink(p) == 0);
}
static void dmg_delete_timeindex(const fixture *fx, const char *stem) {
    char p[700];
    idx_path(p, sizeof p, fx, stem, TIDX_SUFFIX);
    CHECK(unlink(p) == 0);
}
static void dmg_truncate_index(const fixture *fx, const char *stem) {
    char p[700];
    idx_path(p, sizeof p, fx, stem, IDX_SUFFIX);
    CHECK(tu_truncate_file(p, 10) == 0);
    idx_path(p, sizeof p, fx, stem, TIDX_SUFFIX);
    CHECK(tu_truncate_file(p, tu_file_size(p) - 1) == 0);
}
static void dmg_empty_index(const fixture *fx, const char *stem) {
    char p[700];
    idx_path(p, sizeof p, fx, stem, IDX_SUFFIX);
    CHECK(tu_truncate_file(p, 0) == 0);
}
static void dmg_flip_index_header(const fixture *fx, const char *stem) {
    char p[700];
    idx_path(p, sizeof p, fx, stem, IDX_SUFFIX);
    CHECK(tu_flip_byte(p, (long long)(tu_rand_below(IDX_HEADER_SIZE)), 0x04) == 0);
}
static void dmg_flip_timeindex_entry(const fixture *fx, const char *stem) {
    char p[700];
    idx_path(p, sizeof p, fx, stem, TIDX_SUFFIX);
    long long size = tu_file_size(p);
    CHECK(size > IDX_HEADER_SIZE);
    CHECK(tu_flip_byte(p,
                       IDX_HEADER_SIZE + (long long)tu_rand_below((uint64_t)size - IDX_HEADER_SIZE),
                       0x80) == 0);
}
/* seg_size no longer the segment's size, both CRCs fixed: a stale index */
static void dmg_stale_index(const fixture *fx, const char *stem) {
    char p[700];
    idx_path(p, sizeof p, fx, stem, IDX_SUFFIX);
    size_t len = 0;
    unsigned char *b = tu_read_file(p, &len);
    CHECK(b && len >= IDX_HEADER_SIZE);
    tu_put_u64(b + 24, tu_get_u64(b + 24) - 1);
    fix_index_crcs(b, len);
    CHECK(tu_write_file(p, b, len) == 0);
    free(b);
}
/* the .timeindex says another base than its segment (CRCs fixed) */
static void dmg_wrong_base_timeindex(const fixture *fx, const char *stem) {
    char p[700];
    idx_path(p, sizeof p, fx, stem, TIDX_SUFFIX);
    size_t len = 0;
    unsigned char *b = tu_read_file(p, &len);
    CHECK(b && len >= IDX_HEADER_SIZE);
    tu_put_u64(b + 16, tu_get_u64(b + 16) + 1);
    fix_index_crcs(b, len);
    CHECK(tu_write_file(p, b, len) == 0);
    free(b);
}

static void case_index_deleted(void) {
    index_case(&multi_fx, "index deleted", dmg_delete_index);
}
static void case_timeindex_deleted(void) {
    index_case(&multi_fx, "timeindex deleted", dmg_delete_timeindex);
}
static void case_index_truncated(void) {
    index_case(&multi_fx, "index torn", dmg_truncate_index);
}
static void case_index_empty(void) {
    index_case(&multi_fx, "index empty", dmg_empty_index);
}
static void case_index_header_flipped(void) {
    index_case(&multi_fx, "index header flipped", dmg_flip_index_header);
}
static void case_timeindex_entry_flipped(void) {
    index_case(&multi_fx, "timeindex entry flipped", dmg_flip_timeindex_entry);
}
static void case_index_stale(void) {
    index_case(&multi_fx, "index stale", dmg_stale_index);
}
static void case_timeindex_wrong_base(void) {
    index_case(&multi_fx, "timeindex base", dmg_wrong_base_timeindex);
}

/* Index entries that lie with valid CRCs (every position moved by one): the
 * index is trusted, so reads through it land mid-batch — they must fail, or
 * find the truth, but never return wrong bytes. */
static void case_index_lies(void) {
    const fixture *fx = &multi_fx;
    restore(fx);
    for (size_t s = 0; s + 1 < fx->nseg; s++) {
        char p[700];
        tu_seg_path(p, sizeof p, fx->dir, fx->bases[s], IDX_SUFFIX);
        size_t len = 0;
        unsigned char *b = tu_read_file(p, &len);
        CHECK(b && len >= IDX_HEADER_SIZE);
        for (size_t e = IDX_HEADER_SIZE; e + IDX_ENTRY_SIZE <= len; e += IDX_ENTRY_SIZE)
            tu_put_u32(b + e + 4, tu_get_u32(b + e + 4) + 1);
        fix_index_crcs(b, len);
        CHECK(tu_write_file(p, b, len) == 0);
        free(b);
    }
    lsmlog_log *log = NULL;
    int rc = open_log(fx, 0, 0, &log);
    CHECKF(rc == LSMLOG_OK || rc == LSMLOG_E_CORRUPT, "open %d (%s)", rc, tu_status_name(rc));
    if (rc != LSMLOG_OK) return;
    for (uint64_t off = 0; off < fx->m.n; off++) {
        int64_t ts;
        void *v = NULL;
        size_t len;
        rc = lsmlog_log_get(log, off, &ts, &v, &len);
        CHECKF(rc == LSMLOG_OK || rc == LSMLOG_E_CORRUPT, "get(%" PRIu64 "): %d (%s)", off, rc,
               tu_status_name(rc));
        if (rc == LSMLOG_OK) tu_check_rec(&fx->m, off, ts, v, len);
        lsmlog_free(v);
    }
    lsmlog_log_iter *it = NULL;
    CHECK_OK(lsmlog_log_iter_open(log, NULL, &it));
    uint64_t want = 0;
    for (;;) {
        lsmlog_record rec;
        rc = lsmlog_log_iter_next(it, &rec);
        if (rc != LSMLOG_OK) {
            CHECKF(rc == LSMLOG_E_CORRUPT || (rc == LSMLOG_NOTFOUND && want == fx->m.n),
                   "iterator at %" PRIu64 ": %d (%s)", want, rc, tu_status_name(rc));
            break;
        }
        CHECK_EQ_U64(rec.offset, want);
        tu_check_rec(&fx->m, rec.offset, rec.timestamp, rec.value, rec.len);
        want++;
    }
    lsmlog_log_iter_close(it);
    CHECK_OK(lsmlog_log_close(log));
}

/* ---- (g) a newer format version ------------------------------------------------ */

static void set_version(const fixture *fx, const file_img *f, uint32_t version) {
    unsigned char *img = copy_of(f);
    tu_put_u32(img + 8, version);
    fix_seg_header_crc(img);
    write_back(fx, f->name, img, f->len);
    free(img);
}

static void case_newer_version_last(void) {
    const fixture *fxs[2] = {&small_fx, &multi_fx};
    for (int i = 0; i < 2; i++) {
        const fixture *fx = fxs[i];
        restore(fx);
        set_version(fx, last_seg(fx), LOG_FORMAT_VERSION + 1);
        /* the snapshot to compare against is the versioned file */
        size_t len0 = 0;
        char path[700];
        snprintf(path, sizeof path, "%.299s/%.63s", fx->dir, last_seg(fx)->name);
        unsigned char *before = tu_read_file(path, &len0);
        lsmlog_log *log = NULL;
        int rc = open_log(fx, 0, 0, &log);
        CHECKF(rc == LSMLOG_E_VERSION, "%s: open %d (%s)", fx->name, rc, tu_status_name(rc));
        CHECKF(strstr(lsmlog_errmsg(), last_seg(fx)->name) != NULL, "message: %s", lsmlog_errmsg());
        rc = open_log(fx, 0, 1, &log);
        CHECKF(rc == LSMLOG_E_VERSION, "%s: read-only open %d (%s)", fx->name, rc,
               tu_status_name(rc));
        rc = open_log(fx, 1, 0, &log); /* repair does not "fix" a newer file either */
        CHECKF(rc == LSMLOG_E_VERSION, "%s: repair open %d (%s)", fx->name, rc, tu_status_name(rc));
        size_t len1 = 0;
        unsigned char *after = tu_read_file(path, &len1);
        CHECK(before && after && len0 == len1 && memcmp(before, after, len0) == 0);
        free(before);
        free(after);
    }
}

static void case_newer_version_sealed(void) {
    const fixture *fx = &multi_fx;
    restore(fx);
    char nm[64];
    seg_name(nm, sizeof nm, fx->bases[0]);
    set_version(fx, find_file(fx, nm), LOG_FORMAT_VERSION + 1);
    lsmlog_log *log = NULL;
    int rc = open_log(fx, 0, 0, &log);
    CHECKF(rc == LSMLOG_E_VERSION, "open %d (%s)", rc, tu_status_name(rc));
    CHECKF(strstr(lsmlog_errmsg(), nm) != NULL, "message: %s", lsmlog_errmsg());
}

/* ---- (g) timestamps ------------------------------------------------------------ */

/* A batch whose first record's ts_delta is not 0, both CRCs fixed: its header's
 * first_ts (format-log.md: "timestamp of the first record") is then a time no
 * record has. Such a batch was accepted, and first_ts counted towards the
 * segment's newest timestamp: with records at T only and a batch claiming
 * first_ts T + 1 in sealed segment 0, offset_for_time(T + 1) stopped at
 * segment 0 and answered LSMLOG_NOTFOUND, on the writer and on a read-only
 * handle alike, though segment 1 holds a record at T + 5 (fuzz_log_reader,
 * docs/fuzzing.md finding 4). It is malformed: corruption, set aside by
 * repair, and time lookups over what is left are exact. */
static void case_first_ts_not_first_record(void) {
    const char *dir = tu_mkdtemp();
    const int64_t t = 1700000000000LL;
    static unsigned char big[4000]; /* does not fit after three batches: a roll */
    lsmlog_options o = tu_opts(LSMLOG_DURABILITY_OS, 4096);
    lsmlog_log *log;
    CHECK_OK(lsmlog_log_open(dir, &o, &log));
    for (int i = 0; i < 3; i++)
        CHECK_OK(lsmlog_log_append(log, "abc", 3, t, NULL));
    uint64_t off = 0;
    CHECK_OK(lsmlog_log_append(log, big, sizeof big, t + 5, &off));
    CHECK_EQ_U64(off, 3);
    CHECK_OK(lsmlog_log_close(log));
    uint64_t bases[2];
    CHECK_EQ_U64(tu_list_segments(dir, bases, 2), 2);
    CHECK_EQ_U64(bases[1], 3);

    /* batch 1 of segment 0: first_ts T + 1, its record still at T (a delta of -1) */
    char path[4200];
    tu_seg_path(path, sizeof path, dir, 0, ".log");
    size_t len = 0;
    unsigned char *img = tu_read_file(path, &len);
    CHECK(img != NULL);
    tu_batch bt[3];
    CHECK_EQ_U64(tu_parse_batches(img, len, bt, 3), 3);
    unsigned char *h = img + bt[1].pos;
    CHECK(bt[1].first_ts == t && h[BATCH_HEADER_SIZE] == 0);
    tu_put_u64(h + 16, (uint64_t)(t + 1));
    h[BATCH_HEADER_SIZE] = 1; /* zigzag(-1) */
    fix_batch_crcs(img, bt[1].pos);
    CHECK_EQ_INT(tu_write_file(path, img, len), 0);
    free(img);
    /* no index files: the open scans segment 0 (the cached ones, written at
     * the roll, would describe it as it was until a read reached batch 1) */
    tu_seg_path(path, sizeof path, dir, 0, ".index");
    CHECK_EQ_INT(unlink(path), 0);
    tu_seg_path(path, sizeof path, dir, 0, ".timeindex");
    CHECK_EQ_INT(unlink(path), 0);

    char at[32];
    snprintf(at, sizeof at, "byte %lld", bt[1].pos);
    o.create = 0;
    for (int readonly = 0; readonly < 2; readonly++) {
        o.readonly = readonly;
        int rc = lsmlog_log_open(dir, &o, &log);
        CHECKF(rc == LSMLOG_E_CORRUPT, "%s open: %d (%s)", readonly ? "read-only" : "writer", rc,
               tu_status_name(rc));
        CHECKF(strstr(lsmlog_errmsg(), "00000000000000000000.log") && strstr(lsmlog_errmsg(), at),
               "message: %s", lsmlog_errmsg());
    }

    o.readonly = 0;
    o.repair = 1;
    CHECK_OK(lsmlog_log_open(dir, &o, &log));
    CHECK_EQ_U64(lsmlog_log_recovery(log)->dropped_batches, 1);
    lsmlog_options ro = tu_opts(LSMLOG_DURABILITY_OS, 4096);
    ro.readonly = 1;
    ro.create = 0;
    lsmlog_log *r;
    CHECK_OK(lsmlog_log_open(dir, &ro, &r));
    lsmlog_log *both[2] = {log, r};
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(lsmlog_log_get(both[i], 1, NULL, NULL, NULL), LSMLOG_NOTFOUND);
        off = UINT64_MAX;
        CHECK_OK(lsmlog_log_offset_for_time(both[i], t, &off));
        CHECK_EQ_U64(off, 0);
        off = UINT64_MAX;
        int rc = lsmlog_log_offset_for_time(both[i], t + 1, &off);
        CHECKF(rc == LSMLOG_OK && off == 3, "handle %d: offset_for_time(T + 1) = %d (%s), %" PRIu64,
               i, rc, tu_status_name(rc), off);
        CHECK_EQ_INT(lsmlog_log_offset_for_time(both[i], t + 6, &off), LSMLOG_NOTFOUND);
        lsmlog_log_info info;
        CHECK_OK(lsmlog_log_stat(both[i], &info));
        CHECKF(info.first_ts == t && info.max_ts == t + 5,
               "handle %d: stat first_ts %" PRId64 ", max_ts %" PRId64, i, info.first_ts,
               info.max_ts);
    }
    CHECK_OK(lsmlog_log_close(r));
    CHECK_OK(lsmlog_log_close(log));
    tu_rmtemp(dir);
}

/* ---- main ----------------------------------------------------------------------- */

/* A header whose checksum holds but whose capacity is below the smallest
 * segment a writer makes: refused as corruption (the log could never take a
 * record into it; found by reading the code while fuzzing). */
static void case_header_capacity_too_small(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_options o = tu_opts(LSMLOG_DURABILITY_OS, 4096);
    lsmlog_log *log;
    CHECK_OK(lsmlog_log_open(dir, &o, &log));
    CHECK_OK(lsmlog_log_close(log));
    char path[4200];
    tu_seg_path(path, sizeof path, dir, 0, ".log");
    size_t len;
    unsigned char *h = tu_read_file(path, &len);
    CHECK(h && len == 40);
    tu_put_u32(h + 12, 100);
    tu_put_u32(h + 36, crc32c_mask(crc32c_value(h, 36)));
    CHECK_EQ_INT(tu_write_file(path, h, len), 0);
    free(h);
    CHECK_EQ_INT(lsmlog_log_open(dir, &o, &log), LSMLOG_E_CORRUPT);
    CHECK(strstr(lsmlog_errmsg(), "capacity") != NULL);
    tu_rmtemp(dir);
}

int main(void) {
    tu_init("test_log_corruption");
    /* small: one segment, a handful of batches of a few records */
    build(&small_fx, "small", 0, 1, 7, 60);
    /* multi: 4096-byte segments, three of them, several batches in the last */
    build(&multi_fx, "multi", 4096, 3, 5, 200);

    TU_CASE(case_truncate_every_length_small);
    TU_CASE(case_truncate_every_length_multi);
    TU_CASE(case_truncate_every_length_readonly_small);
    TU_CASE(case_truncate_every_length_readonly_multi);
    TU_CASE(case_garbage_tail);
    TU_CASE(case_flip_last_batch_small);
    TU_CASE(case_flip_last_batch_multi);
    TU_CASE(case_flip_before_tail_small);
    TU_CASE(case_flip_before_tail_multi);
    TU_CASE(case_flip_segment_header);
    TU_CASE(case_header_capacity_too_small);
    TU_CASE(case_repair_small);
    TU_CASE(case_repair_multi);
    TU_CASE(case_bad_length_last_batch);
    TU_CASE(case_bad_length_earlier_batch);
    TU_CASE(case_fixed_up_checksum);
    TU_CASE(case_fixed_up_bad_structure);
    TU_CASE(case_fixed_up_bad_structure_last);
    TU_CASE(case_fixed_up_overlap_before_last);
    TU_CASE(case_sealed_segment_damage);
    TU_CASE(case_repair_sealed_segment);
    TU_CASE(case_index_deleted);
    TU_CASE(case_timeindex_deleted);
    TU_CASE(case_index_truncated);
    TU_CASE(case_index_empty);
    TU_CASE(case_index_header_flipped);
    TU_CASE(case_timeindex_entry_flipped);
    TU_CASE(case_index_stale);
    TU_CASE(case_timeindex_wrong_base);
    TU_CASE(case_index_lies);
    TU_CASE(case_newer_version_last);
    TU_CASE(case_newer_version_sealed);
    TU_CASE(case_first_ts_not_first_record);

    free_fixture(&small_fx);
    free_fixture(&multi_fx);
    return tu_finish();
}

/* Unit tests of index.c: entries at the interval, lookups by offset and by
 * time (with non-monotonic timestamps), save/load, and stale or damaged index
 * files refused so that they get rebuilt. */
#include "index.h"
#include "log_format.h"
#include "test_util.h"

static segment *fake_segment(const char *dir) {
    segment *s = calloc(1, sizeof *s);
    s->base = 1000;
    s->path = strdup("fake");
    s->fd = -1;
    s->size = SEG_HEADER_SIZE;
    s->first_off = s->end = 1000;
    return s;
    (void)dir;
}

static void free_fake(segment *s) {
    free(s->idx);
    free(s->path);
    free(s);
}

/* batches of 10 records, 1000 bytes each; timestamps rise with a dip */
static void fill(segment *s, int nbatches) {
    for (int i = 0; i < nbatches; i++) {
        uint64_t pos = SEG_HEADER_SIZE + (uint64_t)i * 1000;
        int64_t maxb = i == 0 ? INT64_MIN : (int64_t)(i - 1) * 100 + 90;
        if (i == 7) maxb = 690; /* batch 6 had a timestamp jump */
        CHECK_OK(idx_maybe_add(s, pos, s->base + (uint64_t)i * 10, maxb));
        batch_hdr h = {s->base + (uint64_t)i * 10, i * 100, 10, 1000 - BATCH_HEADER_SIZE, 0, 0};
        seg_note_batch(s, pos, &h, i * 100 + 90);
    }
}

static void interval(void) {
    segment *s = fake_segment(NULL);
    fill(s, 40);
    /* the first batch, then one every >= 4096 bytes: every 5th 1000-byte batch */
    CHECK_EQ_U64(s->nidx, 8);
    CHECK_EQ_U64(s->idx[1].pos, SEG_HEADER_SIZE + 5000);
    CHECK_EQ_U64(s->end, 1400);
    CHECK_EQ_U64(s->size, SEG_HEADER_SIZE + 40000);
    free_fake(s);
}

static void by_offset(void) {
    segment *s = fake_segment(NULL);
    fill(s, 40);
    CHECK_EQ_U64(idx_pos_for_offset(s, 1000), SEG_HEADER_SIZE);
    CHECK_EQ_U64(idx_pos_for_offset(s, 1049), SEG_HEADER_SIZE);
    CHECK_EQ_U64(idx_pos_for_offset(s, 1050), SEG_HEADER_SIZE + 5000);
    CHECK_EQ_U64(idx_pos_for_offset(s, 1399), SEG_HEADER_SIZE + 35000);
    CHECK_EQ_U64(idx_pos_for_offset(s, 999), SEG_HEADER_SIZE);
    idx_truncate(s, SEG_HEADER_SIZE + 10000);
    CHECK_EQ_U64(s->nidx, 2);
    free_fake(s);
}

static void by_time(void) {
    segment *s = fake_segment(NULL);
    fill(s, 40);
    /* every record before the returned position is older than ts */
    CHECK_EQ_U64(idx_pos_for_time(s, INT64_MIN), SEG_HEADER_SIZE);
    CHECK_EQ_U64(idx_pos_for_time(s, 0), SEG_HEADER_SIZE);
    /* the entry at batch 5 has max_before 490 */
    CHECK_EQ_U64(idx_pos_for_time(s, 490), SEG_HEADER_SIZE);
    CHECK_EQ_U64(idx_pos_for_time(s, 491), SEG_HEADER_SIZE + 5000);
    CHECK_EQ_U64(idx_pos_for_time(s, 500), SEG_HEADER_SIZE + 5000);
    CHECK_EQ_U64(idx_pos_for_time(s, 100000), SEG_HEADER_SIZE + 35000);
    for (size_t i = 0; i < s->nidx; i++) {
        uint64_t p = idx_pos_for_time(s, s->idx[i].max_before + 1);
        CHECK(p >= s->idx[i].pos);
    }
    free_fake(s);
}

static void save_and_load(void) {
    const char *dir = tu_mkdtemp();
    segment *s = fake_segment(dir);
    fill(s, 40);
    CHECK_OK(idx_save(s, dir));
    segment *t = fake_segment(dir);
    CHECK_OK(idx_load(t, dir, s->size));
    CHECK_EQ_U64(t->nidx, s->nidx);
    CHECK(memcmp(t->idx, s->idx, s->nidx * sizeof *s->idx) == 0);
    CHECK_EQ_U64(t->end, s->end);
    CHECK_EQ_U64(t->size, s->size);
    CHECK(t->max_ts == s->max_ts && t->first_ts == s->first_ts);
    CHECK_EQ_U64(t->first_off, s->first_off);
    free_fake(t);

    /* a segment of another size: stale */
    t = fake_segment(dir);
    CHECK_EQ_INT(idx_load(t, dir, s->size + 1), LSMLOG_NOTFOUND);
    free_fake(t);

    /* any flipped byte in either file: refused */
    char path[4096];
    const char *sfx[] = {IDX_SUFFIX, TIDX_SUFFIX};
    for (int f = 0; f < 2; f++) {
        tu_seg_path(path, sizeof path, dir, 1000, sfx[f]);
        long long n = tu_file_size(path);
        for (long long i = 0; i < n; i += 3) {
            CHECK_EQ_INT(tu_flip_byte(path, i, 0x10), 0);
            t = fake_segment(dir);
            CHECKF(idx_load(t, dir, s->size) == LSMLOG_NOTFOUND, "flip at byte %lld of file %d accepted", i, f);
            free_fake(t);
            CHECK_EQ_INT(tu_flip_byte(path, i, 0x10), 0);
        }
        CHECK_EQ_INT(tu_truncate_file(path, n - 1), 0);
        t = fake_segment(dir);
        CHECK_EQ_INT(idx_load(t, dir, s->size), LSMLOG_NOTFOUND);
        free_fake(t);
    }
    /* missing: not found */
    idx_remove(dir, 1000);
    t = fake_segment(dir);
    CHECK_EQ_INT(idx_load(t, dir, s->size), LSMLOG_NOTFOUND);
    free_fake(t);
    free_fake(s);
    tu_rmtemp(dir);
}

int main(void) {
    tu_init("test_index");
    TU_CASE(interval);
    TU_CASE(by_offset);
    TU_CASE(by_time);
    TU_CASE(save_and_load);
    return tu_finish();
}

/* make_corpus.c — writes the seed corpus of the libFuzzer targets of
 * tests/fuzz/: small valid files made by the library itself, in the input
 * format each target expects (fuzz_util.h: parts joined by "#LSMFUZZ#"), a
 * few hand-damaged variants of them, and the regression inputs of past
 * findings.
 *
 *   make_corpus OUTDIR     writes OUTDIR/fuzz_log_reader/, OUTDIR/fuzz_sst_reader/,
 *                          OUTDIR/fuzz_manifest/ (made if missing; files of the
 *                          same name are overwritten, others left alone)
 *
 * Normally run through `bash scripts/fuzz.sh --make-corpus`, which empties
 * tests/fuzz/corpus/ first (docs/fuzzing.md). Timestamps are fixed and the
 * wall-clock `created` fields of segment headers are overwritten (and their
 * header CRCs recomputed), so the output is the same from run to run.
 *
 * Why seeds at all: without them the fuzzer spends its first minutes finding
 * the magic numbers and CRCs of each format; with them it starts mutating
 * files whose every structure is already there. */
#include "fuzz_util.h"

#include "alloc.h"
#include "dbformat.h"
#include "sst_builder.h"
#include "version.h"
#include "version_edit.h"
#include "write_batch.h"

#include <errno.h>

#define FIXED_CREATED_MS 1700000000000ll

static char out_root[512]; /* OUTDIR */
static char scratch[512];  /* where the library writes, emptied per case */

static void die(const char *what, int rc) {
    fprintf(stderr, "make_corpus: %s: %d (%s) %s\n", what, rc, lsmlog_strerror(rc), lsmlog_errmsg());
    exit(1);
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != LSMLOG_OK) die(#call, rc_);                                                     \
    } while (0)

/* ---- buffers ------------------------------------------------------------------ */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void buf_add(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void buf_sep(buf *b) { buf_add(b, FZ_SEP, FZ_SEP_LEN); }

static buf read_file(const char *path) {
    buf b = {0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    uint8_t tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) buf_add(&b, tmp, n);
    fclose(f);
    return b;
}

/* Writes OUTDIR/target/name. */
static void emit(const char *target, const char *name, const void *p, size_t n) {
    char dir[1024], path[2048];
    snprintf(dir, sizeof dir, "%s/%s", out_root, target);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        perror(dir);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fz_write(path, p, n);
    printf("  %-16s %-40s %6zu bytes\n", target, name, n);
}

static void fresh_scratch(void) { fz_empty_dir(scratch); }

static void sub(char *out, size_t n, const char *name) { fz_path(out, n, scratch, name); }

/* ---- the Log ------------------------------------------------------------------ */

/* A segment file with its wall-clock `created` field fixed (and the header CRC
 * made right again): the same bytes from run to run. */
static buf read_segment(const char *path) {
    buf b = read_file(path);
    if (b.n >= SEG_HEADER_SIZE) {
        put_u64(b.p + 24, (uint64_t)FIXED_CREATED_MS);
        put_u32(b.p + 36, crc32c_mask(crc32c_value(b.p, 36)));
    }
    return b;
}

static const char *seg_name(uint64_t base, const char *ext, char *out, size_t n) {
    snprintf(out, n, "%020llu.%s", (unsigned long long)base, ext);
    return out;
}

/* Records of many sizes: empty, one byte, 100 bytes, 1000 bytes; single
 * appends and batches; timestamps forwards and one backwards. */
static void append_mix(lsmlog_log *log, int rounds) {
    static uint8_t big[1000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7 + 3);
    int64_t ts = 1700000000000ll;
    for (int r = 0; r < rounds; r++) {
        CHECK(lsmlog_log_append(log, "hello", 5, ts, NULL));
        CHECK(lsmlog_log_append(log, "", 0, ts + 1, NULL));
        lsmlog_entry e[4] = {
            {"a", 1, ts + 2}, {big, 100, ts + 3}, {NULL, 0, ts - 5 /* backwards */}, {big, 1000, ts + 4}};
        CHECK(lsmlog_log_append_batch(log, e, 4, NULL));
        ts += 1000;
    }
}

static lsmlog_log *open_log(const char *dir, uint64_t segment_bytes) {
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.durability = LSMLOG_DURABILITY_BUFFERED;
    if (segment_bytes) o.segment_bytes = segment_bytes;
    lsmlog_log *log;
    CHECK(lsmlog_log_open(dir, &o, &log));
    return log;
}

static void corpus_log(void) {
    const char *T = "fuzz_log_reader";
    char dir[1024], p[2048], name[64];
    sub(dir, sizeof dir, "log");

    /* an empty log: one segment of just a header */
    fresh_scratch();
    lsmlog_log *log = open_log(dir, 0);
    CHECK(lsmlog_log_close(log));
    snprintf(p, sizeof p, "%s/%s", dir, seg_name(0, "log", name, sizeof name));
    buf empty = read_segment(p);
    emit(T, "empty-segment", empty.p, empty.n);

    /* one segment, a few records of every size */
    fresh_scratch();
    log = open_log(dir, 0);
    append_mix(log, 1);
    CHECK(lsmlog_log_close(log));
    buf one = read_segment(p);
    emit(T, "one-segment", one.p, one.n);

    /* damaged: the last batch cut in half (a torn write), a value's byte
     * flipped (body CRC), the first batch's header CRC broken */
    emit(T, "one-segment-torn-tail", one.p, one.n - 600);
    buf d = {0};
    buf_add(&d, one.p, one.n);
    d.p[one.n - 10] ^= 0x40;
    emit(T, "one-segment-flipped-value", d.p, d.n);
    d.p[one.n - 10] ^= 0x40;
    d.p[SEG_HEADER_SIZE] ^= 0x01;
    emit(T, "one-segment-bad-batch-crc", d.p, d.n);
    free(d.p);

    /* one segment with its options part: durability sync, segment_ms 11,
     * segment_bytes 4096, retention 64 bytes */
    buf w = {0};
    buf_add(&w, one.p, one.n);
    buf_sep(&w), buf_sep(&w), buf_sep(&w), buf_sep(&w);
    static const uint8_t opts[4] = {2, 3, 0, 1};
    buf_add(&w, opts, sizeof opts);
    emit(T, "one-segment-with-options", w.p, w.n);
    free(w.p);

    /* two segments: the first sealed, with its .index and .timeindex */
    fresh_scratch();
    log = open_log(dir, 4096);
    append_mix(log, 5);
    CHECK(lsmlog_log_close(log));
    buf seg0 = read_segment(p);
    snprintf(p, sizeof p, "%s/%s", dir, seg_name(0, "index", name, sizeof name));
    buf idx0 = read_file(p);
    snprintf(p, sizeof p, "%s/%s", dir, seg_name(0, "timeindex", name, sizeof name));
    buf tidx0 = read_file(p);
    if (seg0.n < SEG_HEADER_SIZE + BATCH_HEADER_SIZE) die("the first segment is empty", -1);
    /* the second segment is named by the offset after the first one's last record */
    uint64_t base1 = 0;
    {
        lsmlog_options ro;
        lsmlog_options_init(&ro);
        ro.readonly = 1;
        ro.create = 0;
        CHECK(lsmlog_log_open(dir, &ro, &log));
        lsmlog_log_info info;
        CHECK(lsmlog_log_stat(log, &info));
        if (info.segments != 2) die("expected two segments", (int)info.segments);
        CHECK(lsmlog_log_close(log));
        /* the first batch header of segment 0 gives its base; walk to the end */
        size_t pos = SEG_HEADER_SIZE;
        while (seg0.n - pos >= BATCH_HEADER_SIZE) {
            uint32_t body = get_u32(seg0.p + pos + 4);
            base1 = get_u64(seg0.p + pos + 8) + get_u32(seg0.p + pos + 24);
            pos += BATCH_HEADER_SIZE + body;
        }
    }
    snprintf(p, sizeof p, "%s/%s", dir, seg_name(base1, "log", name, sizeof name));
    buf seg1 = read_segment(p);

    buf two = {0};
    buf_add(&two, seg0.p, seg0.n), buf_sep(&two);
    buf_add(&two, idx0.p, idx0.n), buf_sep(&two);
    buf_add(&two, tidx0.p, tidx0.n), buf_sep(&two);
    buf_add(&two, seg1.p, seg1.n);
    emit(T, "two-segments-indexed", two.p, two.n);
    free(two.p);

    /* two segments without index files (they are rebuilt from a scan) */
    two = (buf){0};
    buf_add(&two, seg0.p, seg0.n), buf_sep(&two), buf_sep(&two), buf_sep(&two);
    buf_add(&two, seg1.p, seg1.n);
    emit(T, "two-segments-no-index", two.p, two.n);
    free(two.p);

    /* damaged: an index entry pointing elsewhere, its CRCs made right (an
     * index that lies must not be believed blindly) */
    buf bad = {0};
    buf_add(&bad, idx0.p, idx0.n);
    if (bad.n >= IDX_HEADER_SIZE + 8) {
        put_u32(bad.p + IDX_HEADER_SIZE + 4, get_u32(bad.p + IDX_HEADER_SIZE + 4) + 17);
        size_t n = bad.n;
        fz_fix_index(bad.p, &n, 0, seg0.n, IDX_ENTRY_SIZE);
    }
    two = (buf){0};
    buf_add(&two, seg0.p, seg0.n), buf_sep(&two);
    buf_add(&two, bad.p, bad.n), buf_sep(&two);
    buf_add(&two, tidx0.p, tidx0.n), buf_sep(&two);
    buf_add(&two, seg1.p, seg1.n);
    emit(T, "two-segments-lying-index", two.p, two.n);
    free(two.p);
    free(bad.p);

    /* damaged: the sealed segment cut short (its index now names bytes past the end) */
    two = (buf){0};
    buf_add(&two, seg0.p, seg0.n / 2), buf_sep(&two);
    buf_add(&two, idx0.p, idx0.n), buf_sep(&two);
    buf_add(&two, tidx0.p, tidx0.n), buf_sep(&two);
    buf_add(&two, seg1.p, seg1.n);
    emit(T, "two-segments-sealed-cut", two.p, two.n);
    free(two.p);

    free(empty.p), free(one.p), free(seg0.p), free(idx0.p), free(tidx0.p), free(seg1.p);
}

/* ---- tables ------------------------------------------------------------------- */

typedef struct ent {
    const char *ukey;
    uint64_t seq;
    int type;
    const void *val;
    size_t vlen;
} ent;

static void add(sst_builder *b, const char *ukey, uint64_t seq, int type, const void *val, size_t vlen) {
    uint8_t k[256];
    size_t ul = strlen(ukey);
    memcpy(k, ukey, ul);
    ikey_put_trailer(k + ul, seq, type);
    CHECK(sst_builder_add(b, k, ul + IKEY_TRAILER_SIZE, val, vlen));
}

/* Builds a table of format `version` (0: the current one) with `fill` and
 * returns its bytes. */
static buf table_v(uint32_t version, int bloom_bits, size_t block_size, uint32_t restart,
                   void (*fill)(sst_builder *)) {
    fresh_scratch();
    char p[1024];
    sub(p, sizeof p, "000007.sst");
    sst_options o;
    sst_options_init(&o, ikey_cmp);
    o.bloom_bits = bloom_bits;
    o.created_ms = FIXED_CREATED_MS;
    if (block_size) o.block_size = block_size;
    if (restart) o.restart_interval = restart;
    if (version) o.format_version = version;
    sst_builder *b;
    CHECK(sst_builder_open(p, &o, &b));
    fill(b);
    CHECK(sst_builder_finish(b, 0, NULL));
    sst_builder_free(b);
    return read_file(p);
}

static buf table(int bloom_bits, size_t block_size, uint32_t restart, void (*fill)(sst_builder *)) {
    return table_v(0, bloom_bits, block_size, restart, fill);
}

static void fill_few(sst_builder *b) {
    add(b, "apple", 5, KT_PUT, "red", 3);
    add(b, "banana", 4, KT_PUT, "", 0);
    add(b, "cherry", 3, KT_DELETE, NULL, 0);
    add(b, "date", 2, KT_PUT, "brown and sweet", 15);
    add(b, "elderberry", 1, KT_PUT, "x", 1);
}

/* One key with many versions (newest first), a delete among them, a TTL put,
 * then a few more keys: small blocks, so there are several data blocks and
 * index entries. */
static void fill_versions(sst_builder *b) {
    char v[64];
    for (uint64_t s = 60; s >= 1; s--) {
        if (s == 30) {
            add(b, "key", s, KT_DELETE, NULL, 0);
        } else if (s == 20) {
            uint8_t t[8 + 5];
            put_u64(t, (uint64_t)(FIXED_CREATED_MS + 3600000));
            memcpy(t + 8, "ttl-v", 5);
            add(b, "key", s, KT_PUT_TTL, t, sizeof t);
        } else {
            int n = snprintf(v, sizeof v, "version %llu of key", (unsigned long long)s);
            add(b, "key", s, KT_PUT, v, (size_t)n);
        }
    }
    for (int i = 0; i < 8; i++) {
        char k[16];
        snprintf(k, sizeof k, "key%02d", i);
        add(b, k, 100 + (uint64_t)i, KT_PUT, k, strlen(k));
    }
}

static void fill_ttl_delete(sst_builder *b) {
    uint8_t t[8 + 3];
    put_u64(t, (uint64_t)FIXED_CREATED_MS);
    memcpy(t + 8, "abc", 3);
    add(b, "gone", 9, KT_DELETE, NULL, 0);
    add(b, "gone", 8, KT_PUT, "was here", 8);
    add(b, "temp", 7, KT_PUT_TTL, t, sizeof t);
}

static void fill_empty(sst_builder *b) { (void)b; }

static void corpus_sst(void) {
    const char *T = "fuzz_sst_reader";
    buf few = table(10, 0, 0, fill_few);
    emit(T, "few-keys-bloom", few.p, few.n);
    buf nob = table(0, 0, 0, fill_few);
    emit(T, "few-keys-no-bloom", nob.p, nob.n);
    buf ver = table(10, 256, 4, fill_versions);
    emit(T, "many-versions-small-blocks", ver.p, ver.n);
    buf ver2 = table(0, 0, 1, fill_versions);
    emit(T, "many-versions-no-bloom-restart-1", ver2.p, ver2.n);
    buf td = table(10, 0, 0, fill_ttl_delete);
    emit(T, "ttl-and-delete", td.p, td.n);
    buf em = table(10, 0, 0, fill_empty);
    emit(T, "empty-table", em.p, em.n);
    /* format version 1 (the classic filter), still read */
    buf v1 = table_v(1, 10, 0, 0, fill_few);
    emit(T, "v1-few-keys-bloom", v1.p, v1.n);
    free(v1.p);
    v1 = table_v(1, 10, 256, 4, fill_versions);
    emit(T, "v1-many-versions-small-blocks", v1.p, v1.n);
    free(v1.p);

    /* damaged: a flipped byte in the first data block (its CRC), the footer's
     * magic broken, the file cut short, the tail of the first block cut into */
    buf d = {0};
    buf_add(&d, ver.p, ver.n);
    d.p[20] ^= 0x20;
    emit(T, "many-versions-flipped-data", d.p, d.n);
    d.p[20] ^= 0x20;
    d.p[d.n - 1] ^= 0xff;
    emit(T, "many-versions-bad-magic", d.p, d.n);
    free(d.p);
    emit(T, "few-keys-truncated", few.p, few.n - 7);
    emit(T, "few-keys-head-only", few.p, few.n / 2);
    free(few.p), free(nob.p), free(ver.p), free(ver2.p), free(td.p), free(em.p);
}

/* ---- the manifest, edits and write batches ------------------------------------ */

static uint8_t ikey_buf[4][64];

/* An internal key in one of four static buffers. */
static const uint8_t *ik(int slot, const char *ukey, uint64_t seq, size_t *len) {
    size_t ul = strlen(ukey);
    memcpy(ikey_buf[slot], ukey, ul);
    ikey_put_trailer(ikey_buf[slot] + ul, seq, KT_PUT);
    *len = ul + IKEY_TRAILER_SIZE;
    return ikey_buf[slot];
}

static void add_table(vedit *e, int level, uint64_t number, const char *lo, uint64_t lseq,
                      const char *hi, uint64_t hseq) {
    size_t a, b;
    const uint8_t *s = ik(0, lo, lseq, &a), *l = ik(1, hi, hseq, &b);
    CHECK(vedit_add_file(e, level, number, 1000 + number, s, a, l, b, hseq < lseq ? hseq : lseq,
                         hseq > lseq ? hseq : lseq));
}

/* The three edits a short life of a DB makes: a first flush, a second flush
 * and a compaction of both into level 1. */
static void edit_n(vedit *e, int n) {
    vedit_init(e);
    switch (n) {
    case 0:
        vedit_set_next_file(e, 5);
        vedit_set_last_seq(e, 10);
        vedit_set_wal_offset(e, 10);
        add_table(e, 0, 3, "a", 1, "m", 10);
        break;
    case 1:
        vedit_set_next_file(e, 6);
        vedit_set_last_seq(e, 20);
        vedit_set_wal_offset(e, 20);
        add_table(e, 0, 5, "c", 11, "z", 20);
        break;
    default:
        vedit_set_next_file(e, 9);
        CHECK(vedit_delete_file(e, 0, 3));
        CHECK(vedit_delete_file(e, 0, 5));
        add_table(e, 1, 7, "a", 1, "k", 15);
        add_table(e, 1, 8, "l", 12, "z", 20);
        break;
    }
}

static buf encode(const vedit *e) {
    uint8_t *p;
    size_t n;
    CHECK(vedit_encode(e, &p, &n));
    buf b = {0};
    buf_add(&b, p, n);
    lm_free(p);
    return b;
}

static void corpus_manifest(void) {
    const char *T = "fuzz_manifest";
    /* edits as records, joined by the separator */
    buf all = {0};
    for (int i = 0; i < 3; i++) {
        vedit e;
        edit_n(&e, i);
        buf b = encode(&e);
        if (i == 0) emit(T, "edit-first-flush", b.p, b.n);
        if (i == 2) emit(T, "edit-compaction", b.p, b.n);
        if (i) buf_sep(&all);
        buf_add(&all, b.p, b.n);
        free(b.p);
        vedit_free(&e);
    }
    emit(T, "edits-three", all.p, all.n);

    /* damaged: an unknown tag after the first edit's fields; the compaction's
     * tables overlapping in level 1 (vset refuses) */
    buf bad = {0};
    buf_add(&bad, all.p, all.n);
    uint8_t tag9[2] = {9, 0};
    buf_add(&bad, tag9, 2);
    emit(T, "edits-unknown-tag", bad.p, bad.n);
    free(bad.p);
    {
        vedit e;
        vedit_init(&e);
        add_table(&e, 1, 7, "a", 1, "m", 15);
        add_table(&e, 1, 8, "k", 12, "z", 20);
        buf b = encode(&e);
        emit(T, "edit-overlapping-level-1", b.p, b.n);
        free(b.p);
        vedit_free(&e);
    }

    /* a manifest the version set writes itself: its Log segment as bytes */
    fresh_scratch();
    char dir[1024];
    sub(dir, sizeof dir, "db");
    fz_mkdir(dir);
    vset *vs;
    CHECK(vset_open(dir, 1, 0, &vs));
    for (int i = 0; i < 3; i++) {
        vedit e;
        edit_n(&e, i);
        CHECK(vset_apply(vs, &e));
        vedit_free(&e);
    }
    uint64_t mnum = vs->manifest_number;
    vset_close(vs);
    char p[2048];
    snprintf(p, sizeof p, "%s/manifest-%llu/00000000000000000000.log", dir, (unsigned long long)mnum);
    buf seg = read_segment(p);
    /* the edits' batches carry the wall clock: fixed too, CRCs made right */
    for (size_t pos = SEG_HEADER_SIZE, i = 0; seg.n - pos >= BATCH_HEADER_SIZE; i++) {
        put_u64(seg.p + pos + 16, (uint64_t)FIXED_CREATED_MS + i);
        pos += BATCH_HEADER_SIZE + get_u32(seg.p + pos + 4);
        if (pos > seg.n) break;
    }
    fz_fix_segment(seg.p, seg.n, 0);
    emit(T, "manifest-segment", seg.p, seg.n);
    emit(T, "manifest-segment-torn", seg.p, seg.n - 5);
    free(seg.p);

    /* write batches (the WAL's records): puts, an empty value, a delete, a TTL put */
    wbatch wb;
    wbatch_init(&wb);
    CHECK(wbatch_put(&wb, "k1", 2, "v1", 2, 0));
    CHECK(wbatch_put(&wb, "k2", 2, "", 0, 0));
    CHECK(wbatch_delete(&wb, "k1", 2));
    CHECK(wbatch_put(&wb, "k3", 2, "expiring", 8, FIXED_CREATED_MS));
    wbatch_set_seq(&wb, 42);
    emit(T, "write-batch", wb.rep, wb.len);
    wbatch_free(&wb);

    /* the regression inputs of past findings (docs/fuzzing.md) */
    static const uint8_t short_keys[16] = {0x05, 0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00,
                                           0x05, 0x01, 0x00, 0x00, 0x00, 0x00, 0x16, 0x16};
    emit(T, "regression-short-keys", short_keys, sizeof short_keys);
    free(all.p);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus OUTDIR\n");
        return 2;
    }
    snprintf(out_root, sizeof out_root, "%s", argv[1]);
    if (mkdir(out_root, 0755) != 0 && errno != EEXIST) {
        perror(out_root);
        return 1;
    }
    snprintf(scratch, sizeof scratch, "%s", fz_dir());
    corpus_log();
    corpus_sst();
    corpus_manifest();
    return 0;
}

/* fuzz_manifest.c — libFuzzer target: the DB's manifest. Version edits and
 * write batches decoded in memory, and a manifest replayed by the version set.
 *
 * Input: arbitrary bytes, used four ways.
 *   1. vedit_decode of the whole input. When it decodes, encoding the edit
 *      and decoding that must give the same edit (the decoder accepts fields
 *      in any order and repeated; the encoder writes one canonical form).
 *   2. wbatch_iterate of the whole input (a DB write batch, the WAL's record).
 *      When it is accepted, every key and value lies inside the input, the
 *      op count is the header's, and the ops rebuilt with wbatch_put/delete
 *      iterate to the same ops.
 *   3. The input split at "#LSMFUZZ#" (FZ_SEP) into edits, each appended as
 *      one record of the Log <dir>/manifest-1, with CURRENT naming it; then
 *      vset_open(dir, 0, 1 (read-only)) replays them. When that succeeds the
 *      version must be sound (levels >= 1 sorted and without overlaps), and a
 *      writer's open (which rewrites the manifest as one edit) must succeed
 *      and describe the same version to a second read-only open.
 *   4. The input as the bytes of the manifest's segment file itself,
 *      manifest-1/00000000000000000000.log, as given and with its checksums
 *      made right (fuzz_util.h), replayed read-only.
 * It must never crash, leak, hang or hit undefined behaviour; errors are fine. */
#include "fuzz_util.h"

#include "alloc.h"
#include "dbformat.h"
#include "version.h"
#include "version_edit.h"
#include "write_batch.h"

#include <stdbool.h>

/* ---- 1. version edits ------------------------------------------------------- */

static bool bytes_eq(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static bool meta_eq(const file_meta *a, const file_meta *b) {
    return a->level == b->level && a->number == b->number && a->size == b->size &&
           bytes_eq(a->smallest, a->smallest_len, b->smallest, b->smallest_len) &&
           bytes_eq(a->largest, a->largest_len, b->largest, b->largest_len) &&
           a->smallest_seq == b->smallest_seq && a->largest_seq == b->largest_seq;
}

static bool vedit_eq(const vedit *a, const vedit *b) {
    if (a->has_wal_offset != b->has_wal_offset || a->has_next_file != b->has_next_file ||
        a->has_last_seq != b->has_last_seq || a->ndeleted != b->ndeleted || a->nadded != b->nadded)
        return false;
    if ((a->has_wal_offset && a->wal_offset != b->wal_offset) ||
        (a->has_next_file && a->next_file != b->next_file) ||
        (a->has_last_seq && a->last_seq != b->last_seq))
        return false;
    for (size_t i = 0; i < a->ndeleted; i++)
        if (a->deleted[i].level != b->deleted[i].level || a->deleted[i].number != b->deleted[i].number)
            return false;
    for (size_t i = 0; i < a->nadded; i++)
        if (!meta_eq(&a->added[i], &b->added[i])) return false;
    return true;
}

static void edit_roundtrip(const uint8_t *data, size_t size) {
    vedit e;
    int rc = vedit_decode(&e, data, size, "fuzz");
    FUZZ_CHECK(rc == LSMLOG_OK || rc == LSMLOG_E_CORRUPT, "vedit_decode returned %d", rc);
    if (rc) {
        FUZZ_CHECK(e.nadded == 0 && e.ndeleted == 0 && !e.added && !e.deleted,
                   "a refused edit is not left empty");
        return;
    }
    for (size_t i = 0; i < e.ndeleted; i++)
        FUZZ_CHECK(e.deleted[i].level >= 0 && e.deleted[i].level < DB_LEVELS, "level %d",
                   e.deleted[i].level);
    for (size_t i = 0; i < e.nadded; i++) {
        const file_meta *m = &e.added[i];
        FUZZ_CHECK(m->level >= 0 && m->level < DB_LEVELS, "level %d", m->level);
        FUZZ_CHECK(m->smallest_len <= size && m->largest_len <= size, "keys longer than the input");
        fz_hash(m->smallest, m->smallest_len);
        fz_hash(m->largest, m->largest_len);
    }
    uint8_t *enc;
    size_t n;
    rc = vedit_encode(&e, &enc, &n);
    FUZZ_CHECK(rc == LSMLOG_OK, "vedit_encode of a decoded edit: %d", rc);
    vedit d;
    rc = vedit_decode(&d, enc, n, "fuzz (re-encoded)");
    FUZZ_CHECK(rc == LSMLOG_OK, "a re-encoded edit does not decode: %d", rc);
    FUZZ_CHECK(vedit_eq(&e, &d), "a re-encoded edit decodes to another edit");
    lm_free(enc);
    vedit_free(&d);
    vedit_free(&e);
}

/* ---- 2. write batches --------------------------------------------------------- */

typedef struct wb_op {
    uint64_t seq;
    int type;
    const uint8_t *k, *v;
    size_t kl, vl;
} wb_op;

typedef struct wb_ctx {
    const uint8_t *lo, *hi; /* the buffer iterated */
    wb_op *ops;
    size_t n, cap;
} wb_ctx;

static int wb_collect(void *ctx, uint64_t seq, int type, const uint8_t *key, size_t klen,
                      const uint8_t *val, size_t vlen) {
    wb_ctx *c = ctx;
    FUZZ_CHECK(type == WB_DELETE || type == WB_PUT || type == WB_PUT_TTL, "op type %d", type);
    FUZZ_CHECK(klen <= WB_MAX_KEY, "a key of %zu bytes", klen);
    FUZZ_CHECK(key >= c->lo && klen <= (size_t)(c->hi - key), "a key outside the batch");
    if (type == WB_DELETE) FUZZ_CHECK(vlen == 0, "a delete with a %zu-byte value", vlen);
    else FUZZ_CHECK(val >= c->lo && vlen <= (size_t)(c->hi - val), "a value outside the batch");
    if (type == WB_PUT_TTL) FUZZ_CHECK(vlen >= 8, "a TTL put of %zu bytes", vlen);
    fz_hash(key, klen);
    if (vlen) fz_hash(val, vlen);
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->ops = realloc(c->ops, c->cap * sizeof *c->ops);
        if (!c->ops) abort();
    }
    c->ops[c->n++] = (wb_op){seq, type, key, vlen ? val : NULL, klen, vlen};
    return LSMLOG_OK;
}

static void batch_roundtrip(const uint8_t *data, size_t size) {
    wb_ctx c = {data, data + size, NULL, 0, 0};
    int rc = wbatch_iterate(data, size, wb_collect, &c);
    FUZZ_CHECK(rc == LSMLOG_OK || rc == LSMLOG_E_CORRUPT, "wbatch_iterate returned %d", rc);
    if (rc == LSMLOG_E_CORRUPT) FUZZ_CHECK(c.n == 0, "ops applied from a refused batch");
    if (rc) {
        free(c.ops);
        return;
    }
    FUZZ_CHECK(c.n == wbatch_rep_count(data), "%zu ops, the header says %u", c.n,
               wbatch_rep_count(data));
    /* rebuilt through the builder: the same ops (TTL puts with an expiry
     * <= 0 cannot be rebuilt as such, so those batches are skipped) */
    wbatch b;
    wbatch_init(&b);
    bool ok = true;
    for (size_t i = 0; i < c.n && ok; i++) {
        const wb_op *o = &c.ops[i];
        if (o->type == WB_DELETE) rc = wbatch_delete(&b, o->k, o->kl);
        else if (o->type == WB_PUT) rc = wbatch_put(&b, o->k, o->kl, o->v, o->vl, 0);
        else if (get_i64(o->v) > 0) rc = wbatch_put(&b, o->k, o->kl, o->v + 8, o->vl - 8, get_i64(o->v));
        else ok = false;
        FUZZ_CHECK(!ok || rc == LSMLOG_OK, "rebuilding op %zu: %d", i, rc);
    }
    if (ok && c.n) {
        wbatch_set_seq(&b, wbatch_rep_seq(data));
        wb_ctx d = {b.rep, b.rep + b.len, NULL, 0, 0};
        rc = wbatch_iterate(b.rep, b.len, wb_collect, &d);
        FUZZ_CHECK(rc == LSMLOG_OK && d.n == c.n, "a rebuilt batch: %d, %zu ops of %zu", rc, d.n, c.n);
        for (size_t i = 0; i < c.n; i++) {
            const wb_op *x = &c.ops[i], *y = &d.ops[i];
            FUZZ_CHECK(x->seq == y->seq && x->type == y->type && bytes_eq(x->k, x->kl, y->k, y->kl) &&
                           bytes_eq(x->v, x->vl, y->v, y->vl),
                       "op %zu differs after a rebuild", i);
        }
        free(d.ops);
    }
    wbatch_free(&b);
    free(c.ops);
}

/* ---- 3 and 4. the version set ----------------------------------------------- */

/* A version's shape, for comparing two opens: a sum over its tables, so that
 * the order of tables with equal sort keys does not matter. */
static uint64_t version_digest(const version *v) {
    uint64_t h = 0;
    for (int l = 0; l < DB_LEVELS; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++) {
            const file_meta *m = &v->files[l][i]->meta;
            h += fz_mix(fz_mix((uint64_t)l) ^ fz_mix(m->number) ^ fz_mix(m->size + 1) ^
                        fz_hash(m->smallest, m->smallest_len) ^
                        fz_mix(fz_hash(m->largest, m->largest_len)) ^
                        fz_mix(m->smallest_seq ^ (m->largest_seq << 1)));
        }
    return h;
}

/* What a successful open must hold: levels >= 1 sorted by smallest key and
 * without overlaps (compared only where both keys are internal keys). */
static void check_version(const vset *vs, const version *v) {
    for (int l = 0; l < DB_LEVELS; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++) {
            const table_file *t = v->files[l][i];
            FUZZ_CHECK(t->refs >= 1, "a table of the version with %d references", t->refs);
            FUZZ_CHECK(t->meta.level == l, "table %llu of level %d says level %d",
                       (unsigned long long)t->meta.number, l, t->meta.level);
            if (l == 0 || i == 0) continue;
            const file_meta *a = &v->files[l][i - 1]->meta, *b = &t->meta;
            if (a->largest_len >= 8 && b->smallest_len >= 8)
                FUZZ_CHECK(ikey_cmp(a->largest, a->largest_len, b->smallest, b->smallest_len) < 0,
                           "tables %llu and %llu overlap in level %d", (unsigned long long)a->number,
                           (unsigned long long)b->number, l);
        }
    (void)vs;
}

static int replay(const char *dir, uint64_t *digest, uint64_t *last_seq, uint64_t *wal) {
    vset *vs;
    int rc = vset_open(dir, 0, 1, &vs);
    FUZZ_CHECK(rc == LSMLOG_OK || rc == LSMLOG_E_CORRUPT || rc == LSMLOG_E_NOENT ||
                   rc == LSMLOG_E_VERSION || rc == LSMLOG_E_NOMEM || rc == LSMLOG_E_IO,
               "vset_open returned %d", rc);
    if (rc) return rc;
    version *v = vset_current(vs);
    check_version(vs, v);
    if (digest) *digest = version_digest(v);
    if (last_seq) *last_seq = vs->last_seq;
    if (wal) *wal = vs->wal_offset;
    version_unref(v);
    vset_close(vs);
    return LSMLOG_OK;
}

static void write_current(const char *dir) {
    char p[1024];
    fz_path(p, sizeof p, dir, "CURRENT");
    fz_write(p, "manifest-1\n", 11);
}

static void manifest_of_records(const uint8_t *data, size_t size) {
    const char *dir = fz_dir();
    fz_empty_dir(dir);
    char mdir[1024];
    fz_path(mdir, sizeof mdir, dir, "manifest-1");
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.durability = LSMLOG_DURABILITY_BUFFERED;
    lsmlog_log *m;
    FUZZ_CHECK(lsmlog_log_open(mdir, &o, &m) == LSMLOG_OK, "cannot make the manifest");
    fz_part parts[FZ_MAX_PARTS];
    size_t np = fz_split(data, size, parts);
    for (size_t i = 0; i < np; i++)
        FUZZ_CHECK(lsmlog_log_append(m, parts[i].p, parts[i].n, 1, NULL) == LSMLOG_OK, "append");
    FUZZ_CHECK(lsmlog_log_close(m) == LSMLOG_OK, "close");
    write_current(dir);

    uint64_t d1, s1, w1;
    if (replay(dir, &d1, &s1, &w1) != LSMLOG_OK) return;
    /* the writer starts a new manifest holding the whole version */
    vset *vs;
    int rc = vset_open(dir, 0, 0, &vs);
    FUZZ_CHECK(rc == LSMLOG_OK, "a manifest that replays read-only fails a writer's open: %d", rc);
    vset_close(vs);
    uint64_t d2, s2, w2;
    rc = replay(dir, &d2, &s2, &w2);
    FUZZ_CHECK(rc == LSMLOG_OK, "the manifest the writer rewrote does not replay: %d", rc);
    FUZZ_CHECK(d1 == d2 && s1 == s2 && w1 == w2,
               "the rewritten manifest describes another version (last_seq %llu/%llu, wal "
               "%llu/%llu)",
               (unsigned long long)s1, (unsigned long long)s2, (unsigned long long)w1,
               (unsigned long long)w2);
}

static void manifest_of_bytes(const uint8_t *data, size_t size) {
    const char *dir = fz_dir();
    fz_empty_dir(dir);
    char mdir[1024], seg[1100];
    fz_path(mdir, sizeof mdir, dir, "manifest-1");
    fz_mkdir(mdir);
    fz_path(seg, sizeof seg, mdir, "00000000000000000000.log");
    write_current(dir);
    fz_write(seg, data, size);
    replay(dir, NULL, NULL, NULL);
    uint8_t *b = malloc(size ? size : 1);
    if (!b) abort();
    if (size) memcpy(b, data, size);
    if (fz_fix_segment(b, size, 0)) {
        fz_write(seg, b, size);
        replay(dir, NULL, NULL, NULL);
    }
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    edit_roundtrip(data, size);
    batch_roundtrip(data, size);
    manifest_of_records(data, size);
    manifest_of_bytes(data, size);
    return 0;
}

/* Unit tests of version.c: edits applied and replayed across reopens, the
 * manifest rewritten at each open, overlapping tables refused, tables
 * reported obsolete only when no version holds them, a damaged or missing
 * manifest refused by name. */
#include "dbformat.h"
#include "version.h"
#include "lsmlog.h"
#include "test_util.h"

#include <dirent.h>
#include <stdio.h>

static void ikey(uint8_t *out, const char *ukey, uint64_t seq, size_t *len) {
    size_t n = strlen(ukey);
    memcpy(out, ukey, n);
    ikey_put_trailer(out + n, seq, KT_PUT);
    *len = n + IKEY_TRAILER_SIZE;
}

static void add(vedit *e, int level, uint64_t number, const char *lo, const char *hi) {
    uint8_t a[64], b[64];
    size_t al, bl;
    ikey(a, lo, 10, &al);
    ikey(b, hi, 5, &bl);
    CHECK_OK(vedit_add_file(e, level, number, 1000 * number, a, al, b, bl, 5, 10));
}

static uint64_t obsolete[64];
static int nobsolete;
static void note_obsolete(void *ctx, uint64_t number) {
    (void)ctx;
    obsolete[nobsolete++] = number;
}

static void apply_and_reopen(void) {
    const char *dir = tu_mkdtemp();
    vset *vs;
    CHECK_EQ_INT(vset_open(dir, 0, 0, &vs), LSMLOG_E_NOENT); /* no DB, create off */
    CHECK_OK(vset_open(dir, 1, 0, &vs));
    uint64_t n1 = vset_new_file_number(vs), n2 = vset_new_file_number(vs), n3 = vset_new_file_number(vs);
    vedit e;
    vedit_init(&e);
    add(&e, 0, n1, "a", "m");
    add(&e, 0, n2, "c", "z");
    vedit_set_last_seq(&e, 500);
    vedit_set_wal_offset(&e, 77);
    CHECK_OK(vset_apply(vs, &e));
    vedit_free(&e);
    /* compact both level-0 tables into one level-1 table */
    vedit_init(&e);
    CHECK_OK(vedit_delete_file(&e, 0, n1));
    CHECK_OK(vedit_delete_file(&e, 0, n2));
    add(&e, 1, n3, "a", "z");
    vs->obsolete = note_obsolete;
    version *pinned = vset_current(vs); /* a reader still on the old version */
    nobsolete = 0;
    CHECK_OK(vset_apply(vs, &e));
    vedit_free(&e);
    CHECK_EQ_INT(nobsolete, 0); /* the reader holds them */
    version_unref(pinned);
    CHECK_EQ_INT(nobsolete, 2);
    CHECK((obsolete[0] == n1 && obsolete[1] == n2) || (obsolete[0] == n2 && obsolete[1] == n1));
    version *v = vset_current(vs);
    CHECK_EQ_U64(v->nfiles[0], 0);
    CHECK_EQ_U64(v->nfiles[1], 1);
    CHECK_EQ_U64(version_level_bytes(v, 1), 1000 * n3);
    version_unref(v);
    uint64_t next = vs->next_file;
    vset_close(vs);

    for (int round = 0; round < 3; round++) { /* each open starts a new manifest */
        CHECK_OK(vset_open(dir, 0, 0, &vs));
        CHECK_EQ_U64(vs->last_seq, 500);
        CHECK_EQ_U64(vs->wal_offset, 77);
        CHECK(vs->next_file > next); /* never reuses a number */
        next = vs->next_file;
        v = vset_current(vs);
        CHECK_EQ_U64(v->nfiles[1], 1);
        CHECK_EQ_U64(v->files[1][0]->meta.number, n3);
        CHECK(memcmp(v->files[1][0]->meta.smallest, "a", 1) == 0);
        version_unref(v);
        vset_close(vs);
    }
    /* exactly one manifest directory is left, the one CURRENT names */
    int manifests = 0;
    DIR *d = opendir(dir);
    for (struct dirent *de; (de = readdir(d)) != NULL;) manifests += strncmp(de->d_name, "manifest-", 9) == 0;
    closedir(d);
    CHECK_EQ_INT(manifests, 1);
    char cur[4200];
    snprintf(cur, sizeof cur, "%s/CURRENT", dir);
    size_t len;
    unsigned char *text = tu_read_file(cur, &len);
    CHECK(text && len > 9 && memcmp(text, "manifest-", 9) == 0 && text[len - 1] == '\n');
    free(text);

    /* read-only: sees the same, writes nothing */
    CHECK_OK(vset_open(dir, 0, 1, &vs));
    v = vset_current(vs);
    CHECK_EQ_U64(v->nfiles[1], 1);
    version_unref(v);
    vedit_init(&e);
    CHECK_EQ_INT(vset_apply(vs, &e), LSMLOG_E_READONLY);
    vset_close(vs);
    tu_rmtemp(dir);
}

static void overlap_refused(void) {
    const char *dir = tu_mkdtemp();
    vset *vs;
    CHECK_OK(vset_open(dir, 1, 0, &vs));
    vedit e;
    vedit_init(&e);
    add(&e, 2, 10, "a", "k");
    add(&e, 2, 11, "j", "z"); /* overlaps in a sorted level */
    CHECK_EQ_INT(vset_apply(vs, &e), LSMLOG_E_CORRUPT);
    CHECK(strstr(lsmlog_errmsg(), "overlap") != NULL);
    vedit_free(&e);
    vedit_init(&e);
    CHECK_OK(vedit_delete_file(&e, 3, 99)); /* not there */
    CHECK_EQ_INT(vset_apply(vs, &e), LSMLOG_E_CORRUPT);
    vedit_free(&e);
    /* level 0 may overlap */
    vedit_init(&e);
    add(&e, 0, 12, "a", "k");
    add(&e, 0, 13, "b", "z");
    CHECK_OK(vset_apply(vs, &e));
    vedit_free(&e);
    version *v = vset_current(vs);
    CHECK_EQ_U64(v->nfiles[0], 2);
    CHECK_EQ_U64(v->nfiles[2], 0); /* the refused edit left nothing */
    version_unref(v);
    vset_close(vs);
    tu_rmtemp(dir);
}

static void damaged_manifest(void) {
    const char *dir = tu_mkdtemp();
    vset *vs;
    CHECK_OK(vset_open(dir, 1, 0, &vs));
    for (int i = 0; i < 5; i++) {
        vedit e;
        vedit_init(&e);
        add(&e, 0, vset_new_file_number(vs), "a", "b");
        CHECK_OK(vset_apply(vs, &e));
        vedit_free(&e);
    }
    uint64_t number = vs->manifest_number;
    vset_close(vs);
    char seg[4300];
    snprintf(seg, sizeof seg, "%s/manifest-%llu/00000000000000000000.log", dir, (unsigned long long)number);
    long long size = tu_file_size(seg);
    CHECK(size > 100);
    /* damage the first edit (valid ones follow): the manifest's Log refuses it */
    CHECK_EQ_INT(tu_flip_byte(seg, 40 + 32 + 2, 0x40), 0);
    CHECK_EQ_INT(vset_open(dir, 0, 1, &vs), LSMLOG_E_CORRUPT);
    CHECK(strstr(lsmlog_errmsg(), "manifest-") != NULL);
    CHECK_EQ_INT(tu_flip_byte(seg, 40 + 32 + 2, 0x40), 0);
    /* CURRENT naming garbage, or a manifest that is gone */
    char cur[4200];
    snprintf(cur, sizeof cur, "%s/CURRENT", dir);
    CHECK_EQ_INT(tu_write_file(cur, "nonsense", 8), 0);
    CHECK_EQ_INT(vset_open(dir, 0, 0, &vs), LSMLOG_E_CORRUPT);
    CHECK_EQ_INT(tu_write_file(cur, "manifest-999999\n", 16), 0);
    CHECK_EQ_INT(vset_open(dir, 0, 0, &vs), LSMLOG_E_CORRUPT);
    tu_rmtemp(dir);
}

int main(void) {
    tu_init("test_version");
    TU_CASE(apply_and_reopen);
    TU_CASE(overlap_refused);
    TU_CASE(damaged_manifest);
    return tu_finish();
}

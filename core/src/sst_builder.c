/* sst_builder.c — writing a table. The file is laid out front to back in one
 * pass: data blocks as they fill, then at finish the filter, properties,
 * index and footer. Writes go through a small buffer so that 4 KiB blocks do
 * not each cost a system call. */
#include "sst_builder.h"

#include "alloc.h"
#include "block_builder.h"
#include "bloom.h"
#include "coding.h"
#include "crc32c.h"
#include "env.h"
#include "lsmlog.h"
#include "sst_format.h"
#include "status.h"

#include <fcntl.h>
#include <string.h>

/* Bytes gathered before a write; a block at least this large is written
 * straight from the block builder. */
#define WRITE_BUFFER_BYTES (64u * 1024u)

struct sst_builder {
    char *path; /* owned */
    int fd;     /* -1 once closed */
    sst_options opt;
    block_builder data;  /* the data block being filled */
    block_builder index; /* one entry per finished data block */
    bloom_builder bloom; /* user key hashes, when opt.bloom_bits > 0 */
    uint8_t *wbuf;       /* write buffer, WRITE_BUFFER_BYTES; owned */
    size_t wlen;         /* bytes waiting in wbuf */
    uint64_t written;    /* bytes already handed to the file */
    uint8_t *last;       /* the last key added; owned */
    size_t last_len, last_cap;
    uint8_t *sep; /* scratch for index separators; owned */
    size_t sep_cap;
    int pending;                  /* a data block is written but not yet indexed */
    uint64_t pend_off, pend_size; /* its handle */
    sst_props props;              /* counts; smallest_key owned */
    int status;                   /* first I/O or memory error: sticky */
    int finished;
};

void sst_options_init(sst_options *o, sst_cmp_fn cmp) {
    memset(o, 0, sizeof *o);
    o->cmp = cmp;
    o->block_size = SST_BLOCK_SIZE;
    o->restart_interval = SST_RESTART_INTERVAL;
    o->bloom_bits = SST_BLOOM_BITS_DEFAULT;
    o->format_version = SST_FORMAT_VERSION;
}

void sst_props_clear(sst_props *p) {
    lm_free(p->smallest_key);
    lm_free(p->largest_key);
    memset(p, 0, sizeof *p);
}

static int fail(sst_builder *b, int code) {
    if (!b->status) b->status = code;
    return code;
}

static int nomem(sst_builder *b) {
    return fail(b, st_error(LSMLOG_E_NOMEM, "out of memory building %s", b->path));
}

/* Grows a byte buffer to at least `need` bytes. */
static int reserve(uint8_t **p, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    uint8_t *np = lm_realloc(*p, n);
    if (!np) return -1;
    *p = np;
    *cap = n;
    return 0;
}

/* ---- output -------------------------------------------------------------- */

static int flush_wbuf(sst_builder *b) {
    if (b->wlen == 0) return LSMLOG_OK;
    int rc = env_pwrite_all(b->fd, b->wbuf, b->wlen, b->written, b->path);
    if (rc) return fail(b, rc);
    b->written += b->wlen;
    b->wlen = 0;
    return LSMLOG_OK;
}

/* Appends bytes to the file, through the buffer when they are small. */
static int emit(sst_builder *b, const uint8_t *p, size_t n) {
    if (b->wlen + n > WRITE_BUFFER_BYTES && flush_wbuf(b)) return b->status;
    if (n >= WRITE_BUFFER_BYTES) {
        int rc = env_pwrite_all(b->fd, p, n, b->written, b->path);
        if (rc) return fail(b, rc);
        b->written += n;
        return LSMLOG_OK;
    }
    if (n) memcpy(b->wbuf + b->wlen, p, n);
    b->wlen += n;
    return LSMLOG_OK;
}

static uint64_t file_pos(const sst_builder *b) {
    return b->written + b->wlen;
}

/* Writes one block's contents and trailer; *off / *size receive its handle. */
static int write_block(sst_builder *b, const uint8_t *contents, size_t n, uint64_t *off,
                       uint64_t *size) {
    uint8_t trailer[SST_BLOCK_TRAILER_SIZE];
    trailer[0] = SST_BLOCK_RAW;
    /* The type byte is under the CRC too: a flipped type must not make the
     * reader decode the contents some other way. */
    uint32_t crc = crc32c_extend(crc32c_value(contents, n), trailer, 1);
    put_u32(trailer + 1, crc32c_mask(crc));
    *off = file_pos(b);
    *size = n;
    if (emit(b, contents, n) || emit(b, trailer, sizeof trailer)) return b->status;
    return LSMLOG_OK;
}

/* ---- index separators ---------------------------------------------------- */

/* Sets b->sep to a key k with last <= k < next (next NULL: any k >= last)
 * that is shorter than `last` when that is cheap, as LevelDB's
 * FindShortestSeparator / FindShortSuccessor do: the index holds one key per
 * block, and a short one makes the index, kept in memory, smaller. The user
 * key is cut after the first byte that can be raised without reaching next's
 * user key, and given the trailer that sorts first for that user key. The
 * result is checked with the comparator; if it does not hold, `last` itself
 * is the separator. Returns the separator's length. */
static int make_separator(sst_builder *b, const uint8_t *last, size_t llen, const uint8_t *next,
                          size_t nlen, size_t *out_len) {
    size_t ul = llen - SST_IKEY_TRAILER, cut = 0;
    int found = 0;
    if (next) {
        size_t un = nlen - SST_IKEY_TRAILER, min = ul < un ? ul : un, d = 0;
        while (d < min && last[d] == next[d])
            d++;
        if (d < min && last[d] < 0xff && last[d] + 1 < next[d]) {
            cut = d;
            found = 1;
        }
    } else {
        for (size_t i = 0; i < ul; i++) {
            if (last[i] != 0xff) {
                cut = i;
                found = 1;
                break;
            }
        }
    }
    if (reserve(&b->sep, &b->sep_cap, llen + SST_IKEY_TRAILER)) return nomem(b);
    if (found && cut + 1 < ul) {
        memcpy(b->sep, last, cut + 1);
        b->sep[cut]++;
        put_u64(b->sep + cut + 1, SST_TRAILER_FIRST);
        size_t sl = cut + 1 + SST_IKEY_TRAILER;
        if (b->opt.cmp(last, llen, b->sep, sl) < 0 &&
            (!next || b->opt.cmp(b->sep, sl, next, nlen) < 0)) {
            *out_len = sl;
            return LSMLOG_OK;
        }
    }
    memcpy(b->sep, last, llen);
    *out_len = llen;
    return LSMLOG_OK;
}

/* Adds the index entry of the written-but-unindexed data block. */
static int add_index_entry(sst_builder *b, const uint8_t *next, size_t nlen) {
    size_t sl = 0;
    if (make_separator(b, b->last, b->last_len, next, nlen, &sl)) return b->status;
    uint8_t h[SST_HANDLE_MAX_ENCODED];
    uint8_t *p = put_varint(h, b->pend_off);
    p = put_varint(p, b->pend_size);
    if (block_builder_add(&b->index, b->sep, sl, h, (size_t)(p - h))) return nomem(b);
    b->pending = 0;
    return LSMLOG_OK;
}

static int flush_data_block(sst_builder *b) {
    if (block_builder_empty(&b->data)) return LSMLOG_OK;
    const uint8_t *contents;
    size_t n;
    if (block_builder_finish(&b->data, &contents, &n)) return nomem(b);
    if (write_block(b, contents, n, &b->pend_off, &b->pend_size)) return b->status;
    block_builder_reset(&b->data);
    b->props.num_data_blocks++;
    /* The separator needs the next block's first key, so the index entry
     * waits for the next add (or finish). */
    b->pending = 1;
    return LSMLOG_OK;
}

/* ---- the interface ------------------------------------------------------- */

int sst_builder_open(const char *path, const sst_options *opts, sst_builder **out) {
    if (!opts || !opts->cmp || opts->bloom_bits < 0 || opts->bloom_bits > 1000 ||
        opts->format_version > SST_FORMAT_VERSION)
        return st_error(LSMLOG_E_INVALID, "table %s: bad options", path);
    sst_builder *b = lm_calloc(1, sizeof *b);
    if (!b) return st_error(LSMLOG_E_NOMEM, "out of memory building %s", path);
    b->fd = -1;
    b->opt = *opts;
    if (!b->opt.block_size) b->opt.block_size = SST_BLOCK_SIZE;
    if (!b->opt.restart_interval) b->opt.restart_interval = SST_RESTART_INTERVAL;
    if (!b->opt.format_version) b->opt.format_version = SST_FORMAT_VERSION;
    block_builder_init(&b->data, b->opt.restart_interval);
    block_builder_init(&b->index, SST_INDEX_RESTART_INTERVAL);
    bloom_builder_init(&b->bloom, b->opt.bloom_bits);
    b->path = lm_strdup(path);
    b->wbuf = lm_malloc(WRITE_BUFFER_BYTES);
    if (!b->path || !b->wbuf) {
        sst_builder_free(b);
        return st_error(LSMLOG_E_NOMEM, "out of memory building %s", path);
    }
    int rc = env_open(path, O_WRONLY | O_CREAT | O_TRUNC, &b->fd);
    if (rc) {
        sst_builder_free(b);
        return rc;
    }
    b->props.created_ms = b->opt.created_ms ? b->opt.created_ms : env_now_ms();
    *out = b;
    return LSMLOG_OK;
}

int sst_builder_add(sst_builder *b, const uint8_t *ikey, size_t klen, const uint8_t *val,
                    size_t vlen) {
    if (b->status) return b->status;
    if (b->finished) return st_error(LSMLOG_E_INVALID, "table %s: add after finish", b->path);
    if (klen < SST_IKEY_TRAILER)
        return st_error(LSMLOG_E_INVALID, "table %s: key of %zu bytes is shorter than a trailer",
                        b->path, klen);
    if ((uint64_t)klen + vlen > SST_MAX_ENTRY_BYTES)
        return st_error(LSMLOG_E_TOOBIG, "table %s: entry of %zu + %zu bytes is over %u", b->path,
                        klen, vlen, SST_MAX_ENTRY_BYTES);
    uint64_t n = b->props.num_entries;
    if (n > 0 && b->opt.cmp(b->last, b->last_len, ikey, klen) >= 0)
        return st_error(LSMLOG_E_INVALID, "table %s: key %llu is not after the previous one",
                        b->path, (unsigned long long)n);
    if (b->pending && add_index_entry(b, ikey, klen)) return b->status;

    size_t ulen = klen - SST_IKEY_TRAILER;
    /* What the key shares with the last: whether its user key is new, and
     * which bytes of `last` change. */
    size_t shared = n > 0 ? bytes_shared(b->last, ikey, klen < b->last_len ? klen : b->last_len) : 0;
    /* The filter is over user keys, each once however many versions it has;
     * the versions of a key are adjacent, so comparing with the last key is
     * enough. */
    if (b->opt.bloom_bits > 0 && (n == 0 || b->last_len != klen || shared < ulen)) {
        if (bloom_builder_add(&b->bloom, ikey, ulen)) return nomem(b);
    }
    if (block_builder_add(&b->data, ikey, klen, val, vlen)) return nomem(b);
    if (reserve(&b->last, &b->last_cap, klen)) return nomem(b);
    memcpy(b->last + shared, ikey + shared, klen - shared);
    b->last_len = klen;

    uint64_t trailer = get_u64(ikey + ulen), seq = trailer >> 8;
    if (n == 0) {
        b->props.smallest_key = lm_malloc(klen);
        if (!b->props.smallest_key) return nomem(b);
        memcpy(b->props.smallest_key, ikey, klen);
        b->props.smallest_len = klen;
        b->props.smallest_seq = b->props.largest_seq = seq;
    }
    if (seq < b->props.smallest_seq) b->props.smallest_seq = seq;
    if (seq > b->props.largest_seq) b->props.largest_seq = seq;
    if ((trailer & 0xff) == SST_TYPE_DELETE) b->props.num_deletions++;
    b->props.num_entries++;
    b->props.raw_key_bytes += klen;
    b->props.raw_value_bytes += vlen;

    if (block_builder_size(&b->data) >= b->opt.block_size) return flush_data_block(b);
    return LSMLOG_OK;
}

/* The properties block contents (sst_format.h), in a new buffer. */
static int encode_props(sst_builder *b, uint8_t **out, size_t *len) {
    const sst_props *p = &b->props;
    size_t cap = 8 * 10 + 8 + 2 * 5 + p->smallest_len + b->last_len;
    uint8_t *buf = lm_malloc(cap), *q = buf;
    if (!buf) return nomem(b);
    q = put_varint(q, p->num_entries);
    q = put_varint(q, p->num_deletions);
    q = put_varint(q, p->num_data_blocks);
    q = put_varint(q, p->raw_key_bytes);
    q = put_varint(q, p->raw_value_bytes);
    q = put_varint(q, p->smallest_seq);
    q = put_varint(q, p->largest_seq);
    put_i64(q, p->created_ms);
    q += 8;
    q = put_varint(q, p->smallest_len);
    if (p->smallest_len) memcpy(q, p->smallest_key, p->smallest_len);
    q += p->smallest_len;
    size_t ll = p->num_entries ? b->last_len : 0;
    q = put_varint(q, ll);
    if (ll) memcpy(q, b->last, ll);
    q += ll;
    *out = buf;
    *len = (size_t)(q - buf);
    return LSMLOG_OK;
}

int sst_builder_finish(sst_builder *b, int sync, sst_props *out) {
    if (b->status) return b->status;
    if (b->finished) return st_error(LSMLOG_E_INVALID, "table %s: finished twice", b->path);
    if (flush_data_block(b)) return b->status;
    if (b->pending && add_index_entry(b, NULL, 0)) return b->status;

    uint64_t f_off = 0, f_size = 0, p_off, p_size, i_off, i_size;
    if (b->opt.bloom_bits > 0) {
        bloom_layout lay = b->opt.format_version == 1 ? BLOOM_CLASSIC : BLOOM_BLOCKED;
        uint64_t at = file_pos(b); /* where the filter's contents will start */
        size_t n = bloom_builder_size(&b->bloom, lay, at);
        uint8_t *filter = lm_malloc(n);
        if (!filter) return nomem(b);
        bloom_builder_finish(&b->bloom, lay, at, filter);
        int rc = write_block(b, filter, n, &f_off, &f_size);
        lm_free(filter);
        if (rc) return rc;
    }
    uint8_t *props = NULL;
    size_t plen = 0;
    if (encode_props(b, &props, &plen)) return b->status;
    int rc = write_block(b, props, plen, &p_off, &p_size);
    lm_free(props);
    if (rc) return rc;
    const uint8_t *index;
    size_t ilen;
    if (block_builder_finish(&b->index, &index, &ilen)) return nomem(b);
    if (write_block(b, index, ilen, &i_off, &i_size)) return b->status;

    uint8_t footer[SST_FOOTER_SIZE];
    put_u64(footer + 0, i_off);
    put_u64(footer + 8, i_size);
    put_u64(footer + 16, f_off);
    put_u64(footer + 24, f_size);
    put_u64(footer + 32, p_off);
    put_u64(footer + 40, p_size);
    put_u32(footer + 48, b->opt.format_version);
    put_u32(footer + SST_FOOTER_CRC_AT, crc32c_mask(crc32c_value(footer, SST_FOOTER_CRC_AT)));
    put_u64(footer + SST_FOOTER_MAGIC_AT, SST_MAGIC);
    if (emit(b, footer, sizeof footer) || flush_wbuf(b)) return b->status;
    if (sync && (rc = env_fdatasync(b->fd, b->path))) return fail(b, rc);
    env_close(b->fd);
    b->fd = -1;
    b->finished = 1;
    if (out) {
        /* The caller gets the keys; the builder keeps nothing it must free. */
        *out = b->props;
        out->file_size = b->written;
        out->largest_key = NULL;
        out->largest_len = 0;
        b->props.smallest_key = NULL;
        if (out->num_entries) {
            out->largest_key = lm_malloc(b->last_len);
            if (!out->largest_key) {
                sst_props_clear(out);
                return st_error(LSMLOG_E_NOMEM, "out of memory building %s", b->path);
            }
            memcpy(out->largest_key, b->last, b->last_len);
            out->largest_len = b->last_len;
        }
    }
    return LSMLOG_OK;
}

uint64_t sst_builder_entries(const sst_builder *b) {
    return b->props.num_entries;
}

uint64_t sst_builder_file_size(const sst_builder *b) {
    return file_pos(b) + (b->finished ? 0 : block_builder_size(&b->data));
}

void sst_builder_free(sst_builder *b) {
    if (!b) return;
    env_close(b->fd);
    block_builder_release(&b->data);
    block_builder_release(&b->index);
    bloom_builder_release(&b->bloom);
    lm_free(b->wbuf);
    lm_free(b->last);
    lm_free(b->sep);
    lm_free(b->props.smallest_key);
    lm_free(b->path);
    lm_free(b);
}

void sst_builder_abandon(sst_builder *b) {
    if (!b) return;
    env_close(b->fd);
    b->fd = -1;
    if (b->path) env_unlink(b->path);
    sst_builder_free(b);
}

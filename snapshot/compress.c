/* snapshot/compress.c - streaming compression into a blob writer, and
 * decompression chosen by magic bytes, hashing both sides on the way.
 *
 * gzip: ISA-L's igzip (standard gzip output, several times faster than zlib)
 * for levels 0..3, zlib for 4..9 (denser, slower).  zstd: libzstd.  Both
 * headers are fixed (no mtime, no name), so the same input gives the same blob. */
#include "snapshot/internal.h"
#include <isa-l/igzip_lib.h>
#include <pthread.h>
#include <zlib.h>
#include <zstd.h>

/* The fuzz build makes it small (-DIB_ZBUF=...): every buffer boundary is then
 * crossed by small inputs, and a sanitized process does not map and clear
 * megabytes per input. */
#ifdef IB_ZBUF
#define ZBUF IB_ZBUF
#else
#define ZBUF (256 * 1024)
#endif

int ib_compression_parse(const char *s, enum ib_compression *ret)
{
        if (strcmp(s, "gzip") == 0)
                *ret = IB_COMPRESSION_GZIP;
        else if (strcmp(s, "zstd") == 0)
                *ret = IB_COMPRESSION_ZSTD;
        else if (strcmp(s, "none") == 0 || strcmp(s, "uncompressed") == 0)
                *ret = IB_COMPRESSION_NONE;
        else
                return -EINVAL;
        return 0;
}

const char *ib_compression_name(enum ib_compression c)
{
        return c == IB_COMPRESSION_ZSTD ? "zstd" : c == IB_COMPRESSION_NONE ? "none" : "gzip";
}

const char *ib_compression_media_type(enum ib_compression c)
{
        return c == IB_COMPRESSION_ZSTD ? IB_MEDIA_TYPE_LAYER_ZSTD
             : c == IB_COMPRESSION_NONE ? IB_MEDIA_TYPE_LAYER_TAR : IB_MEDIA_TYPE_LAYER_GZIP;
}

/* ------------------------------------------------------------ compression */

enum zout_kind { ZOUT_NONE, ZOUT_ISAL, ZOUT_ZLIB, ZOUT_ZSTD };

struct ib_zout {
        enum zout_kind kind;
        struct ib_blob_writer *w;
        uint8_t *out;
        struct isal_zstream isal;
        uint8_t *isal_level_buf;
        z_stream zs;
        ZSTD_CCtx *zstd;
};

static const uint32_t isal_level_size[] = {
        ISAL_DEF_LVL0_DEFAULT, ISAL_DEF_LVL1_DEFAULT, ISAL_DEF_LVL2_DEFAULT, ISAL_DEF_LVL3_DEFAULT,
};

int ib_zout_new(enum ib_compression c, int level, struct ib_blob_writer *w,
                struct ib_zout **ret, struct ib_err **err)
{
        _cleanup_(ib_zout_freep) struct ib_zout *z = ib_calloc(1, sizeof(*z));

        z->w = w;
        z->out = ib_malloc(ZBUF);
        if (c == IB_COMPRESSION_NONE) {
                z->kind = ZOUT_NONE;
        } else if (c == IB_COMPRESSION_ZSTD) {
                if (level < 0)
                        level = 3;
                if (level < 1 || level > ZSTD_maxCLevel())
                        return ib_err_set(err, EINVAL, "zstd level %d out of range 1..%d", level, ZSTD_maxCLevel());
                z->kind = ZOUT_ZSTD;
                z->zstd = ZSTD_createCCtx();
                if (!z->zstd || ZSTD_isError(ZSTD_CCtx_setParameter(z->zstd, ZSTD_c_compressionLevel, level)))
                        return ib_err_set(err, ENOMEM, "zstd: cannot set up the compressor");
        } else if (level < 0 || level <= 3) {
                if (level < 0)
                        level = 1;
                z->kind = ZOUT_ISAL;
                isal_deflate_init(&z->isal);
                z->isal.gzip_flag = IGZIP_GZIP;
                z->isal.level = (uint32_t) level;
                z->isal.level_buf_size = isal_level_size[level];
                z->isal_level_buf = ib_malloc(z->isal.level_buf_size);
                z->isal.level_buf = z->isal_level_buf;
        } else {
                if (level > 9)
                        return ib_err_set(err, EINVAL, "gzip level %d out of range 0..9", level);
                z->kind = ZOUT_ZLIB;
                /* 15 + 16: a gzip wrapper with zlib's fixed default header. */
                if (deflateInit2(&z->zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                        return ib_err_set(err, ENOMEM, "zlib: cannot set up the compressor");
        }
        *ret = IB_TAKE_PTR(z);
        return 0;
}

static int zout_isal(struct ib_zout *z, const void *data, size_t n, bool end, struct ib_err **err)
{
        z->isal.next_in = (uint8_t *) data;
        z->isal.avail_in = (uint32_t) n;
        z->isal.end_of_stream = end;
        do {
                z->isal.next_out = z->out;
                z->isal.avail_out = ZBUF;
                if (isal_deflate(&z->isal) != COMP_OK)
                        return ib_err_set(err, EIO, "gzip: compression failed");
                size_t got = ZBUF - z->isal.avail_out;
                if (got && ib_blob_writer_write(z->w, z->out, got, err) < 0)
                        return -EIO;
        } while (z->isal.avail_in > 0 || (end && z->isal.internal_state.state != ZSTATE_END));
        return 0;
}

static int zout_zlib(struct ib_zout *z, const void *data, size_t n, bool end, struct ib_err **err)
{
        int zr;
        z->zs.next_in = (Bytef *) data;
        z->zs.avail_in = (uInt) n;
        do {
                z->zs.next_out = z->out;
                z->zs.avail_out = ZBUF;
                zr = deflate(&z->zs, end ? Z_FINISH : Z_NO_FLUSH);
                if (zr == Z_STREAM_ERROR)
                        return ib_err_set(err, EIO, "gzip: compression failed");
                size_t got = ZBUF - z->zs.avail_out;
                if (got && ib_blob_writer_write(z->w, z->out, got, err) < 0)
                        return -EIO;
        } while (z->zs.avail_in > 0 || z->zs.avail_out == 0 || (end && zr != Z_STREAM_END));
        return 0;
}

static int zout_zstd(struct ib_zout *z, const void *data, size_t n, bool end, struct ib_err **err)
{
        ZSTD_inBuffer in = { data, n, 0 };
        size_t left;
        do {
                ZSTD_outBuffer out = { z->out, ZBUF, 0 };
                left = ZSTD_compressStream2(z->zstd, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);
                if (ZSTD_isError(left))
                        return ib_err_set(err, EIO, "zstd: %s", ZSTD_getErrorName(left));
                if (out.pos && ib_blob_writer_write(z->w, z->out, out.pos, err) < 0)
                        return -EIO;
        } while (in.pos < in.size || (end && left != 0));
        return 0;
}

static int zout_do(struct ib_zout *z, const void *data, size_t n, bool end, struct ib_err **err)
{
        switch (z->kind) {
        case ZOUT_ISAL:
                /* avail_in is 32 bits: feed huge writes in slices. */
                while (n > (1u << 30)) {
                        if (zout_isal(z, data, 1u << 30, false, err) < 0)
                                return -EIO;
                        data = (const char *) data + (1u << 30);
                        n -= 1u << 30;
                }
                return zout_isal(z, data, n, end, err);
        case ZOUT_ZLIB:
                while (n > (1u << 30)) {
                        if (zout_zlib(z, data, 1u << 30, false, err) < 0)
                                return -EIO;
                        data = (const char *) data + (1u << 30);
                        n -= 1u << 30;
                }
                return zout_zlib(z, data, n, end, err);
        case ZOUT_ZSTD:
                return zout_zstd(z, data, n, end, err);
        case ZOUT_NONE:
        default:
                return n ? ib_blob_writer_write(z->w, data, n, err) : 0;
        }
}

int ib_zout_write(struct ib_zout *z, const void *data, size_t n, struct ib_err **err)
{
        return zout_do(z, data, n, false, err);
}

int ib_zout_finish(struct ib_zout *z, struct ib_err **err)
{
        return zout_do(z, NULL, 0, true, err);
}

void ib_zout_free(struct ib_zout *z)
{
        if (!z)
                return;
        if (z->kind == ZOUT_ZLIB)
                deflateEnd(&z->zs);
        ZSTD_freeCCtx(z->zstd);
        free(z->isal_level_buf);
        free(z->out);
        free(z);
}

/* ---------------------------------------------------------- decompression */

#define ZIN_OUT (ZBUF * 4)
#define ZIN_SLOTS 4

enum zin_kind { ZIN_NONE, ZIN_GZIP, ZIN_ZSTD };
enum slot_state { SLOT_FREE, SLOT_FILLED, SLOT_HELD };

struct zslot {
        uint8_t *buf;
        ssize_t len;            /* 0: end of stream; < 0: error (in ib_zin.terr) */
        enum slot_state state;
};

struct ib_zin {
        enum zin_kind kind;
        int fd;
        char *what;
        uint8_t *in;
        size_t in_pos, in_len;
        bool in_eof;
        uint8_t *out;
        bool member_done;       /* gzip member / zstd frame complete, nothing pending */
        bool done;              /* the producer reached the end */
        bool consumed;          /* the consumer saw the end */
        struct inflate_state isal;
        ZSTD_DStream *zstd;
        struct ib_sha256 *blob_hash, *diff_hash;
        uint64_t out_bytes;
        /* threaded mode: a producer thread decompresses and hashes into slots */
        bool threaded;
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        struct zslot slots[ZIN_SLOTS];
        size_t head, tail;
        int held;               /* slot lent to the consumer, or -1 */
        bool stop;
        struct ib_err *terr;
};

static int zin_fill(struct ib_zin *z, struct ib_err **err)
{
        if (z->in_pos < z->in_len || z->in_eof)
                return 0;
        for (;;) {
                ssize_t n = read(z->fd, z->in, ZBUF * 4);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return ib_err_set(err, errno, "%s: read", z->what);
                z->in_pos = 0;
                z->in_len = (size_t) n;
                z->in_eof = n == 0;
                ib_sha256_update(z->blob_hash, z->in, (size_t) n);
                return 0;
        }
}

int ib_zin_new(int fd, const char *what, struct ib_zin **ret, struct ib_err **err)
{
        _cleanup_(ib_zin_freep) struct ib_zin *z = ib_calloc(1, sizeof(*z));
        static const uint8_t gz[] = { 0x1f, 0x8b }, zs[] = { 0x28, 0xb5, 0x2f, 0xfd };

        z->fd = fd;
        z->what = ib_strdup(what);
        z->in = ib_malloc(ZBUF * 4);
        z->out = ib_malloc(ZIN_OUT);
        z->blob_hash = ib_sha256_new();
        z->diff_hash = ib_sha256_new();
        z->held = -1;
        if (zin_fill(z, err) < 0)
                return -EIO;
        /* A first read of a regular file returns at least 4 bytes if it has them. */
        if (z->in_len >= 2 && memcmp(z->in, gz, 2) == 0) {
                z->kind = ZIN_GZIP;
                isal_inflate_init(&z->isal);
                z->isal.crc_flag = ISAL_GZIP;
        } else if (z->in_len >= 4 && memcmp(z->in, zs, 4) == 0) {
                z->kind = ZIN_ZSTD;
                z->zstd = ZSTD_createDStream();
                if (!z->zstd || ZSTD_isError(ZSTD_initDStream(z->zstd)))
                        return ib_err_set(err, ENOMEM, "%s: zstd: cannot set up the decompressor", what);
        } else {
                z->kind = ZIN_NONE;
        }
        *ret = IB_TAKE_PTR(z);
        return 0;
}

/* After a gzip member or zstd frame: another may follow; zero padding is
 * tolerated (as gzip does); anything else is garbage. */
static int zin_next_member(struct ib_zin *z, struct ib_err **err)
{
        for (;;) {
                if (zin_fill(z, err) < 0)
                        return -EIO;
                if (z->in_eof) {
                        z->done = true;
                        return 0;
                }
                while (z->in_pos < z->in_len && z->in[z->in_pos] == 0)
                        z->in_pos++;
                if (z->in_pos == z->in_len)
                        continue;
                /* another member must start with the same magic (checked as far
                 * as this buffer goes) */
                const uint8_t *magic = z->kind == ZIN_GZIP ? (const uint8_t *) "\x1f\x8b" : (const uint8_t *) "\x28\xb5\x2f\xfd";
                size_t mlen = z->kind == ZIN_GZIP ? 2 : 4, avail = z->in_len - z->in_pos;
                if (memcmp(z->in + z->in_pos, magic, avail < mlen ? avail : mlen) != 0)
                        return ib_err_set(err, 0, "%s: garbage after the end of the %s stream", z->what,
                                          z->kind == ZIN_GZIP ? "gzip" : "zstd");
                if (z->kind == ZIN_GZIP)
                        isal_inflate_reset(&z->isal), z->isal.crc_flag = ISAL_GZIP;
                z->member_done = false;
                return 0;
        }
}

static ssize_t zin_gzip(struct ib_zin *z, uint8_t *out, size_t cap, struct ib_err **err)
{
        for (;;) {
                if (z->member_done) {
                        if (zin_next_member(z, err) < 0)
                                return -EIO;
                        if (z->done)
                                return 0;
                }
                if (zin_fill(z, err) < 0)
                        return -EIO;
                z->isal.next_in = z->in + z->in_pos;
                z->isal.avail_in = (uint32_t) (z->in_len - z->in_pos);
                z->isal.next_out = out;
                z->isal.avail_out = (uint32_t) cap;
                int r = isal_inflate(&z->isal);
                if (r != ISAL_DECOMP_OK)
                        return ib_err_set(err, 0, "%s: corrupt gzip stream (isa-l error %d)", z->what, r);
                z->in_pos = z->in_len - z->isal.avail_in;
                if (z->isal.block_state == ISAL_BLOCK_FINISH)
                        z->member_done = true;
                size_t got = cap - z->isal.avail_out;
                if (got)
                        return (ssize_t) got;
                /* Nothing came out of the last bytes: the stream was cut short. */
                if (z->in_eof && !z->member_done)
                        return ib_err_set(err, 0, "%s: truncated gzip stream", z->what);
        }
}

static ssize_t zin_zstd(struct ib_zin *z, uint8_t *out, size_t cap, struct ib_err **err)
{
        for (;;) {
                if (z->member_done) {
                        if (zin_next_member(z, err) < 0)
                                return -EIO;
                        if (z->done)
                                return 0;
                }
                if (zin_fill(z, err) < 0)
                        return -EIO;
                ZSTD_inBuffer in = { z->in + z->in_pos, z->in_len - z->in_pos, 0 };
                ZSTD_outBuffer o = { out, cap, 0 };
                size_t r = ZSTD_decompressStream(z->zstd, &o, &in);
                if (ZSTD_isError(r))
                        return ib_err_set(err, 0, "%s: corrupt zstd stream: %s", z->what, ZSTD_getErrorName(r));
                z->in_pos += in.pos;
                if (r == 0)
                        z->member_done = true;
                if (o.pos)
                        return (ssize_t) o.pos;
                if (z->in_eof && !z->member_done)
                        return ib_err_set(err, 0, "%s: truncated zstd stream", z->what);
        }
}

static ssize_t zin_plain(struct ib_zin *z, uint8_t *out, size_t cap, struct ib_err **err)
{
        if (zin_fill(z, err) < 0)
                return -EIO;
        size_t n = z->in_len - z->in_pos;
        if (n > cap)
                n = cap;
        memcpy(out, z->in + z->in_pos, n);
        z->in_pos += n;
        return (ssize_t) n;
}

/* Decompress the next bytes into @out and hash them: > 0 bytes, 0 at the end. */
static ssize_t zin_produce(struct ib_zin *z, uint8_t *out, size_t cap, struct ib_err **err)
{
        ssize_t n;

        if (z->done)
                return 0;
        n = z->kind == ZIN_GZIP ? zin_gzip(z, out, cap, err)
          : z->kind == ZIN_ZSTD ? zin_zstd(z, out, cap, err) : zin_plain(z, out, cap, err);
        if (n > 0) {
                ib_sha256_update(z->diff_hash, out, (size_t) n);
                z->out_bytes += (uint64_t) n;
        } else if (n == 0) {
                z->done = true;
        }
        return n;
}

static void *zin_thread(void *arg)
{
        struct ib_zin *z = arg;

        for (;;) {
                pthread_mutex_lock(&z->mu);
                struct zslot *s = &z->slots[z->tail];
                while (s->state != SLOT_FREE && !z->stop)
                        pthread_cond_wait(&z->cv, &z->mu);
                bool stop = z->stop;
                pthread_mutex_unlock(&z->mu);
                if (stop)
                        return NULL;
                struct ib_err *e = NULL;
                ssize_t n = zin_produce(z, s->buf, ZIN_OUT, &e);
                pthread_mutex_lock(&z->mu);
                s->len = n;
                s->state = SLOT_FILLED;
                if (n < 0)
                        z->terr = e ? e : NULL;
                z->tail = (z->tail + 1) % ZIN_SLOTS;
                pthread_cond_broadcast(&z->cv);
                pthread_mutex_unlock(&z->mu);
                if (n <= 0)
                        return NULL;
        }
}

int ib_zin_start_thread(struct ib_zin *z, struct ib_err **err)
{
        int r;

        for (size_t i = 0; i < ZIN_SLOTS; i++)
                z->slots[i] = (struct zslot) { .buf = ib_malloc(ZIN_OUT), .state = SLOT_FREE };
        pthread_mutex_init(&z->mu, NULL);
        pthread_cond_init(&z->cv, NULL);
        r = pthread_create(&z->thread, NULL, zin_thread, z);
        if (r != 0)
                return ib_err_set(err, r, "%s: start the decompression thread", z->what);
        z->threaded = true;
        return 0;
}

static ssize_t zin_take(struct ib_zin *z, const void **ret_buf, struct ib_err **err)
{
        ssize_t n;

        pthread_mutex_lock(&z->mu);
        if (z->held >= 0) {
                z->slots[z->held].state = SLOT_FREE;
                z->held = -1;
                pthread_cond_broadcast(&z->cv);
        }
        struct zslot *s = &z->slots[z->head];
        while (s->state != SLOT_FILLED)
                pthread_cond_wait(&z->cv, &z->mu);
        n = s->len;
        if (n > 0) {
                s->state = SLOT_HELD;
                z->held = (int) z->head;
                z->head = (z->head + 1) % ZIN_SLOTS;
                *ret_buf = s->buf;
        } else if (n < 0) {
                if (z->terr) {
                        ib_err_free(err);
                        *err = IB_TAKE_PTR(z->terr);
                } else {
                        ib_err_set(err, EIO, "%s: decompression failed", z->what);
                }
        }
        pthread_mutex_unlock(&z->mu);
        return n;
}

ssize_t ib_zin_read(struct ib_zin *z, const void **ret_buf, struct ib_err **err)
{
        ssize_t n;

        if (z->consumed)
                return 0;
        if (z->threaded) {
                n = zin_take(z, ret_buf, err);
        } else {
                n = zin_produce(z, z->out, ZIN_OUT, err);
                *ret_buf = z->out;
        }
        if (n <= 0)
                z->consumed = true;     /* an error is final too */
        return n < 0 ? -EIO : n;
}

int ib_zin_drain(struct ib_zin *z, struct ib_err **err)
{
        const void *buf;
        ssize_t n;
        while ((n = ib_zin_read(z, &buf, err)) > 0)
                ;
        return n < 0 ? -EIO : 0;
}

static void zin_stop(struct ib_zin *z)
{
        if (!z->threaded)
                return;
        pthread_mutex_lock(&z->mu);
        z->stop = true;
        pthread_cond_broadcast(&z->cv);
        pthread_mutex_unlock(&z->mu);
        pthread_join(z->thread, NULL);
        z->threaded = false;
        for (size_t i = 0; i < ZIN_SLOTS; i++)
                free(z->slots[i].buf);
        ib_err_free(&z->terr);
        pthread_cond_destroy(&z->cv);
        pthread_mutex_destroy(&z->mu);
}

static char *final_digest(struct ib_sha256 *h)
{
        char hex[IB_SHA256_HEX];
        ib_sha256_final_hex(h, hex);
        return ib_strdupf("sha256:%s", hex);
}

/* The digests are final only once the stream was read to its end (then the
 * producer has finished and its hashes are complete). */
char *ib_zin_blob_digest(struct ib_zin *z)
{
        zin_stop(z);
        return final_digest(z->blob_hash);
}

char *ib_zin_diff_id(struct ib_zin *z)
{
        zin_stop(z);
        return final_digest(z->diff_hash);
}

uint64_t ib_zin_out_bytes(const struct ib_zin *z)
{
        return z->out_bytes;
}

const char *ib_zin_format(const struct ib_zin *z)
{
        return z->kind == ZIN_GZIP ? "gzip" : z->kind == ZIN_ZSTD ? "zstd" : "none";
}

void ib_zin_free(struct ib_zin *z)
{
        if (!z)
                return;
        zin_stop(z);
        ZSTD_freeDStream(z->zstd);
        ib_sha256_free(z->blob_hash);
        ib_sha256_free(z->diff_hash);
        free(z->in);
        free(z->out);
        free(z->what);
        free(z);
}

/* ----------------------------------------------------------------- locale */

locale_t ib_utf8_locale_enter(void)
{
        static locale_t utf8;
        if (!utf8)
                utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t) 0);
        return utf8 ? uselocale(utf8) : (locale_t) 0;
}

void ib_utf8_locale_leave(locale_t old)
{
        if (old)
                uselocale(old);
}

/* src/copyurl.c - ADD <url>: fetch with libcurl straight into the layer,
 * hashing on the way; mtime from Last-Modified; --checksum verified. */
#include "src/context-int.h"
#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

#ifndef IB_VERSION
#define IB_VERSION "dev"
#endif

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { (void) curl_global_init(CURL_GLOBAL_DEFAULT); }

static int hexval(char c)
{
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

char *ib_url_filename(const char *url)
{
        const char *p = strstr(url, "://");
        p = p ? p + 3 : url;
        p += strcspn(p, "/?#");                 /* past the host */
        size_t n = strcspn(p, "?#");
        const char *end = p + n, *s = end;
        while (s > p && s[-1] != '/')
                s--;
        _cleanup_buf_ struct ib_buf b = IB_BUF_INIT;
        for (; s < end; s++) {
                if (*s == '%' && s + 2 < end + 1 && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
                        ib_buf_addc(&b, (char) (hexval(s[1]) * 16 + hexval(s[2])));
                        s += 2;
                } else {
                        ib_buf_addc(&b, *s);
                }
        }
        if (!b.len || strchr(b.buf, '/') || strcmp(b.buf, ".") == 0 || strcmp(b.buf, "..") == 0)
                return NULL;
        return ib_buf_detach(&b);
}

struct sink {
        int fd;
        struct ib_sha256 *h;
        int werr;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
        struct sink *s = ud;
        size_t n = size * nmemb;
        int r = ib_write_all(s->fd, data, n);
        if (r < 0) {
                s->werr = -r;
                return 0;
        }
        ib_sha256_update(s->h, data, n);
        return n;
}

int ib_fetch_url(const char *url, const char *checksum, int dst_dirfd, const char *name,
                 const struct timespec *fallback_mtime, char ret_hex[IB_SHA256_HEX], struct ib_err **err)
{
        _cleanup_(ib_sha256_freep) struct ib_sha256 *h = ib_sha256_new();
        char ebuf[CURL_ERROR_SIZE] = "";
        const char *want = NULL;
        long status = 0;
        curl_off_t ftime = -1;
        CURL *c;
        CURLcode rc;
        int r = 0;

        if (checksum && !ib_digest_parse(checksum, &want))
                return ib_err_set(err, EINVAL, "ADD %s: --checksum `%s`: want sha256:<64 hex>", url, checksum);
        pthread_once(&curl_once, curl_init_once);
        _cleanup_close_ int fd = openat(dst_dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return ib_err_set(err, errno, "ADD %s: create `%s`", url, name);
        struct sink s = { .fd = fd, .h = h };
        c = curl_easy_init();
        if (!c) {
                r = ib_err_set(err, ENOMEM, "ADD %s: curl_easy_init", url);
                goto fail;
        }
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_FILETIME, 1L);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "imgbuild/" IB_VERSION);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
        rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c, CURLINFO_FILETIME_T, &ftime);
        curl_easy_cleanup(c);
        if (s.werr) {
                r = ib_err_set(err, s.werr, "ADD %s: write `%s`", url, name);
                goto fail;
        }
        if (rc != CURLE_OK) {
                r = ib_err_set(err, EIO, "ADD %s: %s", url, ebuf[0] ? ebuf : curl_easy_strerror(rc));
                goto fail;
        }
        if (status >= 400) {
                r = ib_err_set(err, EIO, "ADD %s: HTTP %ld", url, status);
                goto fail;
        }
        ib_sha256_final_hex(h, ret_hex);
        if (want && strcmp(want, ret_hex) != 0) {
                r = ib_err_set(err, EBADMSG, "ADD %s: checksum mismatch: expected %s, got sha256:%s", url, checksum,
                               ret_hex);
                goto fail;
        }
        struct timespec ts[2] = { *fallback_mtime, *fallback_mtime };
        if (ftime >= 0)
                ts[0] = ts[1] = (struct timespec) { .tv_sec = (time_t) ftime };
        (void) futimens(fd, ts);
        return 0;
fail:
        (void) unlinkat(dst_dirfd, name, 0);
        return r;
}

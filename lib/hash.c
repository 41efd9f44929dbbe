/* lib/hash.c - SHA-256 through libcrypto's EVP (SHA-NI where the CPU has it)
 * and XXH3 for local fingerprints. */
#include "ib.h"
#include <openssl/evp.h>
#include <xxhash.h>

struct ib_sha256 {
        EVP_MD_CTX *ctx;
};

struct ib_sha256 *ib_sha256_new(void)
{
        struct ib_sha256 *h = ib_calloc(1, sizeof(*h));
        h->ctx = EVP_MD_CTX_new();
        if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
                abort();
        return h;
}

void ib_sha256_update(struct ib_sha256 *h, const void *data, size_t n)
{
        if (n && EVP_DigestUpdate(h->ctx, data, n) != 1)
                abort();
}

void ib_sha256_final_hex(struct ib_sha256 *h, char hex[IB_SHA256_HEX])
{
        static const char digits[] = "0123456789abcdef";
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;

        if (EVP_DigestFinal_ex(h->ctx, md, &len) != 1 || len != IB_SHA256_LEN)
                abort();
        for (unsigned int i = 0; i < len; i++) {
                hex[2 * i] = digits[md[i] >> 4];
                hex[2 * i + 1] = digits[md[i] & 15];
        }
        hex[2 * len] = '\0';
}

void ib_sha256_reset(struct ib_sha256 *h)
{
        if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
                abort();
}

void ib_sha256_free(struct ib_sha256 *h)
{
        if (!h)
                return;
        EVP_MD_CTX_free(h->ctx);
        free(h);
}

void ib_sha256_hex(const void *data, size_t n, char hex[IB_SHA256_HEX])
{
        struct ib_sha256 *h = ib_sha256_new();
        ib_sha256_update(h, data, n);
        ib_sha256_final_hex(h, hex);
        ib_sha256_free(h);
}

bool ib_is_sha256_hex(const char *s)
{
        size_t i;
        for (i = 0; s[i]; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return i == 64;
}

bool ib_digest_parse(const char *digest, const char **ret_hex)
{
        if (!digest || !ib_startswith(digest, "sha256:") || !ib_is_sha256_hex(digest + 7))
                return false;
        if (ret_hex)
                *ret_hex = digest + 7;
        return true;
}

uint64_t ib_xxh64(const void *data, size_t n, uint64_t seed)
{
        return XXH3_64bits_withSeed(data, n, seed);
}

int ib_sha256_fd(int fd, char hex[IB_SHA256_HEX], uint64_t *ret_size)
{
        /* 1 MiB at a time: a 2 GB blob never sits in memory */
        enum { CHUNK = 1 << 20 };
        _cleanup_free_ char *buf = ib_malloc(CHUNK);
        struct ib_sha256 *h = ib_sha256_new();
        uint64_t total = 0;

        for (;;) {
                ssize_t n = read(fd, buf, CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int e = errno;
                        ib_sha256_free(h);
                        return -e;
                }
                if (n == 0)
                        break;
                ib_sha256_update(h, buf, (size_t) n);
                total += (uint64_t) n;
        }
        ib_sha256_final_hex(h, hex);
        ib_sha256_free(h);
        if (ret_size)
                *ret_size = total;
        return 0;
}

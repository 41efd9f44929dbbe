/* registry/base64.c - base64 for Basic credentials and config.json's "auth". */
#include "registry/internal.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *ib_base64_encode(const void *data, size_t n)
{
        const unsigned char *s = data;
        char *out = ib_malloc((n + 2) / 3 * 4 + 1), *o = out;

        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) s[i] << 16;
                if (i + 1 < n)
                        v |= (uint32_t) s[i + 1] << 8;
                if (i + 2 < n)
                        v |= s[i + 2];
                *o++ = alphabet[(v >> 18) & 63];
                *o++ = alphabet[(v >> 12) & 63];
                *o++ = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
                *o++ = i + 2 < n ? alphabet[v & 63] : '=';
        }
        *o = '\0';
        return out;
}

static int value_of(char c)
{
        const char *p = c ? strchr(alphabet, c) : NULL;
        return p ? (int) (p - alphabet) : -1;
}

char *ib_base64_decode(const char *s, size_t *ret_len)
{
        size_t n = strlen(s), len = 0;
        char *out;
        uint32_t acc = 0;
        int bits = 0;

        while (n > 0 && s[n - 1] == '=')
                n--;
        if (n % 4 == 1)
                return NULL;
        out = ib_malloc(n * 3 / 4 + 1);
        for (size_t i = 0; i < n; i++) {
                int v = value_of(s[i]);
                if (v < 0) {
                        explicit_bzero(out, n * 3 / 4 + 1);
                        free(out);
                        return NULL;
                }
                acc = (acc << 6) | (uint32_t) v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[len++] = (char) ((acc >> bits) & 0xff);
                }
        }
        out[len] = '\0';
        if (ret_len)
                *ret_len = len;
        return out;
}

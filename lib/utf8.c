/* lib/utf8.c - the little UTF-8 the Dockerfile front end needs: sequence
 * lengths, decoding, and Go's idea of whitespace (unicode.IsSpace), so that
 * splitting and trimming agree with BuildKit on non-ASCII text. */
#include "lib/ib.h"

size_t ib_utf8_len(const char *s, size_t avail)
{
        const unsigned char *p = (const unsigned char *) s;
        unsigned char c = p[0];
        size_t n;

        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                n = 2;
        else if (c >= 0xe0 && c <= 0xef)
                n = 3;
        else if (c >= 0xf0 && c <= 0xf4)
                n = 4;
        else
                return 1;
        if (n > avail)
                return 1;
        for (size_t i = 1; i < n; i++)
                if ((p[i] & 0xc0) != 0x80)
                        return 1;
        /* overlong forms, surrogates and code points above U+10FFFF are invalid */
        if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) || (c == 0xf0 && p[1] < 0x90) ||
            (c == 0xf4 && p[1] > 0x8f))
                return 1;
        return n;
}

uint32_t ib_utf8_decode(const char *s, size_t n)
{
        const unsigned char *p = (const unsigned char *) s;

        switch (n) {
        case 1:
                return p[0] < 0x80 ? p[0] : 0xfffd;
        case 2:
                return ((uint32_t) (p[0] & 0x1f) << 6) | (p[1] & 0x3f);
        case 3:
                return ((uint32_t) (p[0] & 0x0f) << 12) | ((uint32_t) (p[1] & 0x3f) << 6) | (p[2] & 0x3f);
        default:
                return ((uint32_t) (p[0] & 0x07) << 18) | ((uint32_t) (p[1] & 0x3f) << 12) |
                       ((uint32_t) (p[2] & 0x3f) << 6) | (p[3] & 0x3f);
        }
}

bool ib_utf8_is_space(const char *s, size_t n)
{
        if (n == 1) {
                unsigned char c = (unsigned char) s[0];
                return c == ' ' || (c >= '\t' && c <= '\r');
        }
        uint32_t r = ib_utf8_decode(s, n);
        return r == 0x85 || r == 0xa0 || r == 0x1680 || (r >= 0x2000 && r <= 0x200a) || r == 0x2028 ||
               r == 0x2029 || r == 0x202f || r == 0x205f || r == 0x3000;
}

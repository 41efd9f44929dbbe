/* registry/curl-load.c - libcurl, loaded when first used.
 *
 * libcurl brings about 30 shared libraries with it (TLS, HTTP/2, IDN, LDAP,
 * Kerberos, SSH...); loading and relocating them at every start is most of an
 * imgbuild process's start-up time, and most runs (a warm rebuild, `plan`,
 * the sandbox's helpers) never touch the network.  So the binary is not linked
 * with libcurl: the libcurl functions imgbuild calls are defined here and
 * forward to the library, which is dlopen'ed on the first call.
 *
 * The variadic setters forward their one argument by the type the option
 * number announces (libcurl's CURLOPTTYPE_* ranges).  When the library cannot
 * be loaded, every call fails the way libcurl reports failure (NULL,
 * CURLE_FAILED_INIT), and ib_curl_load_error() says why. */
#define CURL_DISABLE_TYPECHECK 1        /* plain prototypes, no type-checking macros */
#include "lib/ib.h"
#include "registry/registry.h"
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>

#define CURL_SONAME "libcurl.so.4"

static struct {
        CURLcode (*global_init)(long);
        CURL *(*easy_init)(void);
        CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
        CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
        CURLcode (*easy_perform)(CURL *);
        void (*easy_cleanup)(CURL *);
        const char *(*easy_strerror)(CURLcode);
        char *(*easy_escape)(CURL *, const char *, int);
        struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
        void (*slist_free_all)(struct curl_slist *);
        void (*free_)(void *);
        CURLU *(*url)(void);
        CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
        CURLUcode (*url_get)(CURLU *, CURLUPart, char **, unsigned int);
        void (*url_cleanup)(CURLU *);
        CURLSH *(*share_init)(void);
        CURLSHcode (*share_setopt)(CURLSH *, CURLSHoption, ...);
        CURLSHcode (*share_cleanup)(CURLSH *);
        CURLM *(*multi_init)(void);
        CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
        CURLMcode (*multi_add_handle)(CURLM *, CURL *);
        CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
        CURLMcode (*multi_perform)(CURLM *, int *);
        CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd[], unsigned int, int, int *);
        CURLMsg *(*multi_info_read)(CURLM *, int *);
        CURLMcode (*multi_cleanup)(CURLM *);
} fn;
static bool loaded;
static char load_error[256];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void)
{
        void *h = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
        struct { void **slot; const char *name; } syms[] = {
#define S(f, n) { (void **) &fn.f, n }
                S(global_init, "curl_global_init"), S(easy_init, "curl_easy_init"),
                S(easy_setopt, "curl_easy_setopt"), S(easy_getinfo, "curl_easy_getinfo"),
                S(easy_perform, "curl_easy_perform"), S(easy_cleanup, "curl_easy_cleanup"),
                S(easy_strerror, "curl_easy_strerror"), S(easy_escape, "curl_easy_escape"),
                S(slist_append, "curl_slist_append"), S(slist_free_all, "curl_slist_free_all"),
                S(free_, "curl_free"), S(url, "curl_url"), S(url_set, "curl_url_set"), S(url_get, "curl_url_get"),
                S(url_cleanup, "curl_url_cleanup"), S(share_init, "curl_share_init"),
                S(share_setopt, "curl_share_setopt"), S(share_cleanup, "curl_share_cleanup"),
                S(multi_init, "curl_multi_init"), S(multi_setopt, "curl_multi_setopt"),
                S(multi_add_handle, "curl_multi_add_handle"), S(multi_remove_handle, "curl_multi_remove_handle"),
                S(multi_perform, "curl_multi_perform"), S(multi_poll, "curl_multi_poll"),
                S(multi_info_read, "curl_multi_info_read"), S(multi_cleanup, "curl_multi_cleanup"),
#undef S
        };

        if (!h) {
                snprintf(load_error, sizeof(load_error), "%s", dlerror());
                return;
        }
        for (size_t i = 0; i < IB_ELEMENTSOF(syms); i++) {
                *syms[i].slot = dlsym(h, syms[i].name);
                if (!*syms[i].slot) {
                        snprintf(load_error, sizeof(load_error), "%s: no %s", CURL_SONAME, syms[i].name);
                        return;
                }
        }
        loaded = true;
}

static bool ready(void)
{
        pthread_once(&load_once, load);
        return loaded;
}

const char *ib_curl_load_error(void)
{
        return ready() ? NULL : load_error;
}

CURLcode curl_global_init(long flags)
{
        return ready() ? fn.global_init(flags) : CURLE_FAILED_INIT;
}

CURL *curl_easy_init(void)
{
        return ready() ? fn.easy_init() : NULL;
}

CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
        CURLcode r;
        va_list ap;

        if (!ready())
                return CURLE_FAILED_INIT;
        va_start(ap, opt);
        if (opt < CURLOPTTYPE_OBJECTPOINT)
                r = fn.easy_setopt(h, opt, va_arg(ap, long));
        else if (opt < CURLOPTTYPE_OFF_T)
                r = fn.easy_setopt(h, opt, va_arg(ap, void *));        /* objects, strings, functions */
        else if (opt < CURLOPTTYPE_BLOB)
                r = fn.easy_setopt(h, opt, va_arg(ap, curl_off_t));
        else
                r = fn.easy_setopt(h, opt, va_arg(ap, void *));
        va_end(ap);
        return r;
}

CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
        CURLcode r;
        va_list ap;

        if (!ready())
                return CURLE_FAILED_INIT;
        va_start(ap, info);
        r = fn.easy_getinfo(h, info, va_arg(ap, void *));     /* always a pointer to the result */
        va_end(ap);
        return r;
}

CURLcode curl_easy_perform(CURL *h)
{
        return ready() ? fn.easy_perform(h) : CURLE_FAILED_INIT;
}

void curl_easy_cleanup(CURL *h)
{
        if (ready())
                fn.easy_cleanup(h);
}

const char *curl_easy_strerror(CURLcode c)
{
        return ready() ? fn.easy_strerror(c) : load_error;
}

char *curl_easy_escape(CURL *h, const char *s, int len)
{
        return ready() ? fn.easy_escape(h, s, len) : NULL;
}

struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s)
{
        return ready() ? fn.slist_append(l, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *l)
{
        if (ready())
                fn.slist_free_all(l);
}

void curl_free(void *p)
{
        if (ready())
                fn.free_(p);
}

CURLU *curl_url(void)
{
        return ready() ? fn.url() : NULL;
}

CURLUcode curl_url_set(CURLU *u, CURLUPart what, const char *part, unsigned int flags)
{
        return ready() ? fn.url_set(u, what, part, flags) : CURLUE_OUT_OF_MEMORY;
}

CURLUcode curl_url_get(CURLU *u, CURLUPart what, char **part, unsigned int flags)
{
        return ready() ? fn.url_get(u, what, part, flags) : CURLUE_OUT_OF_MEMORY;
}

void curl_url_cleanup(CURLU *u)
{
        if (ready())
                fn.url_cleanup(u);
}

CURLSH *curl_share_init(void)
{
        return ready() ? fn.share_init() : NULL;
}

CURLSHcode curl_share_setopt(CURLSH *sh, CURLSHoption opt, ...)
{
        CURLSHcode r;
        va_list ap;

        if (!ready())
                return CURLSHE_NOT_BUILT_IN;
        va_start(ap, opt);
        if (opt == CURLSHOPT_SHARE || opt == CURLSHOPT_UNSHARE)
                r = fn.share_setopt(sh, opt, va_arg(ap, int));  /* a curl_lock_data */
        else
                r = fn.share_setopt(sh, opt, va_arg(ap, void *));
        va_end(ap);
        return r;
}

CURLSHcode curl_share_cleanup(CURLSH *sh)
{
        return ready() ? fn.share_cleanup(sh) : CURLSHE_NOT_BUILT_IN;
}

CURLM *curl_multi_init(void)
{
        return ready() ? fn.multi_init() : NULL;
}

CURLMcode curl_multi_setopt(CURLM *m, CURLMoption opt, ...)
{
        CURLMcode r;
        va_list ap;

        if (!ready())
                return CURLM_INTERNAL_ERROR;
        va_start(ap, opt);
        if (opt < CURLOPTTYPE_OBJECTPOINT)
                r = fn.multi_setopt(m, opt, va_arg(ap, long));
        else if (opt < CURLOPTTYPE_OFF_T)
                r = fn.multi_setopt(m, opt, va_arg(ap, void *));
        else
                r = fn.multi_setopt(m, opt, va_arg(ap, curl_off_t));
        va_end(ap);
        return r;
}

CURLMcode curl_multi_add_handle(CURLM *m, CURL *h)
{
        return ready() ? fn.multi_add_handle(m, h) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_remove_handle(CURLM *m, CURL *h)
{
        return ready() ? fn.multi_remove_handle(m, h) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_perform(CURLM *m, int *running)
{
        return ready() ? fn.multi_perform(m, running) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_poll(CURLM *m, struct curl_waitfd extra[], unsigned int n, int timeout_ms, int *ret)
{
        return ready() ? fn.multi_poll(m, extra, n, timeout_ms, ret) : CURLM_INTERNAL_ERROR;
}

CURLMsg *curl_multi_info_read(CURLM *m, int *left)
{
        return ready() ? fn.multi_info_read(m, left) : NULL;
}

CURLMcode curl_multi_cleanup(CURLM *m)
{
        return ready() ? fn.multi_cleanup(m) : CURLM_INTERNAL_ERROR;
}

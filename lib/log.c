/* lib/log.c - leveled logging through a replaceable handler.  The CLI installs
 * its own handler (text or JSON); the default writes "imgbuild: level: msg". */
#include "ib.h"

enum ib_log_level ib_log_level_max = IB_LOG_INFO;
static ib_log_handler handler;
static void *handler_data;

static const char *const level_names[] = { "error", "warn", "info", "debug", "trace" };

void ib_log_set_handler(ib_log_handler h, void *userdata)
{
        handler = h;
        handler_data = userdata;
}

int ib_log_level_parse(const char *s, enum ib_log_level *ret)
{
        for (size_t i = 0; i < IB_ELEMENTSOF(level_names); i++)
                if (strcmp(s, level_names[i]) == 0) {
                        *ret = (enum ib_log_level) i;
                        return 0;
                }
        if (strcmp(s, "warning") == 0) {
                *ret = IB_LOG_WARN;
                return 0;
        }
        return -EINVAL;
}

void ib_log(enum ib_log_level lvl, const char *fmt, ...)
{
        struct ib_buf b = IB_BUF_INIT;
        int saved = errno;
        va_list ap;

        if (lvl > ib_log_level_max)
                return;
        va_start(ap, fmt);
        ib_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        if (handler)
                handler(lvl, b.buf, handler_data);
        else if (lvl == IB_LOG_INFO)
                fprintf(stderr, "%s\n", b.buf);
        else
                fprintf(stderr, "imgbuild: %s: %s\n", level_names[lvl], b.buf);
        ib_buf_release(&b);
        errno = saved;
}

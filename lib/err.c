/* lib/err.c - error values with a context chain (see the contract in ib.h). */
#include "ib.h"

static int code_of(int errnum) { return errnum > 0 ? -errnum : -EIO; }

int ib_err_set(struct ib_err **err, int errnum, const char *fmt, ...)
{
        struct ib_buf b = IB_BUF_INIT;
        va_list ap;

        va_start(ap, fmt);
        ib_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        if (!err)
                return ib_buf_release(&b), code_of(errnum);
        ib_err_free(err);
        *err = ib_calloc(1, sizeof(**err));
        (*err)->errnum = errnum < 0 ? -errnum : errnum;
        (*err)->msg = ib_buf_detach(&b);
        return code_of((*err)->errnum);
}

int ib_err_wrap(struct ib_err **err, const char *fmt, ...)
{
        struct ib_buf b = IB_BUF_INIT;
        va_list ap;

        if (!err || !*err)
                return -EIO;
        va_start(ap, fmt);
        ib_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        ib_buf_adds(&b, ": ");
        ib_buf_adds(&b, (*err)->msg);
        free((*err)->msg);
        (*err)->msg = ib_buf_detach(&b);
        return code_of((*err)->errnum);
}

void ib_err_free(struct ib_err **err)
{
        if (!err || !*err)
                return;
        free((*err)->msg);
        free(*err);
        *err = NULL;
}

int ib_err_code(const struct ib_err *err)
{
        return err ? code_of(err->errnum) : 0;
}

void ib_err_print(FILE *out, const struct ib_err *err)
{
        if (!err)
                return;
        if (err->errnum)
                fprintf(out, "imgbuild: %s: %s\n", err->msg, strerror(err->errnum));
        else
                fprintf(out, "imgbuild: %s\n", err->msg);
}

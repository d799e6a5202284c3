/* error.c — status names and the error struct every fallible call fills. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "wanmeter.h"

static const char *const status_names[WM_STATUS_COUNT] = {
#define WM_X_NAME(name, text) [name] = text,
    WM_STATUS_LIST(WM_X_NAME)
#undef WM_X_NAME
};
_Static_assert(sizeof status_names / sizeof status_names[0] == WM_STATUS_COUNT,
               "one name per status");

const char *wm_status_name(wm_status s)
{
    return (unsigned)s < WM_STATUS_COUNT ? status_names[s] : "unknown status";
}

void wm_error_clear(wm_error *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

wm_status wm_error_set(wm_error *err, wm_status code, const char *what, const char *fix,
                       const char *why_fmt, ...)
{
    if (!err)
        return code;
    /* A location (config file mark) belongs to one error: callers set it after this call. */
    err->code = code;
    err->file[0] = '\0';
    err->line = err->column = 0;
    snprintf(err->what, sizeof err->what, "%s", what ? what : "");
    snprintf(err->fix, sizeof err->fix, "%s", fix ? fix : "");
    va_list ap;
    va_start(ap, why_fmt);
    vsnprintf(err->why, sizeof err->why, why_fmt, ap);
    va_end(ap);
    return code;
}

size_t wm_error_format(const wm_error *err, char *buf, size_t cap)
{
    if (!err || !buf || cap == 0)
        return 0;
    char where[320] = "";
    if (err->file[0] && err->line > 0 && err->column > 0)
        snprintf(where, sizeof where, "%s:%d:%d: ", err->file, err->line, err->column);
    else if (err->file[0] && err->line > 0)
        snprintf(where, sizeof where, "%s:%d: ", err->file, err->line);
    else if (err->file[0])
        snprintf(where, sizeof where, "%s: ", err->file);
    int n;
    if (err->fix[0])
        n = snprintf(buf, cap, "%s%s: %s (%s)", where, err->what, err->why, err->fix);
    else
        n = snprintf(buf, cap, "%s%s: %s", where, err->what, err->why);
    return n < 0 ? 0 : (size_t)n;
}

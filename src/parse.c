/* parse.c — strict parsing of user-supplied numbers: never atoi, never a silent wrap. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

wm_status wm_parse_u64(const char *s, const char *what, uint64_t min, uint64_t max, uint64_t *out,
                       wm_error *err)
{
    char range[96];
    if (max == UINT64_MAX)
        snprintf(range, sizeof range, "use a whole number >= %llu", (unsigned long long)min);
    else
        snprintf(range, sizeof range, "use a whole number from %llu to %llu",
                 (unsigned long long)min, (unsigned long long)max);
    if (!s || !*s)
        return wm_error_set(err, WM_E_INPUT, what, range, "empty value");
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9') {
            if (*p == '-' && p == s)
                return wm_error_set(err, WM_E_INPUT, what, range, "'%s' is negative", s);
            return wm_error_set(err, WM_E_INPUT, what, range, "'%s' is not a whole number", s);
        }
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE || v > max)
        return wm_error_set(err, WM_E_INPUT, what, range, "'%s' is too large", s);
    if (end == s || *end != '\0')
        return wm_error_set(err, WM_E_INPUT, what, range, "'%s' is not a whole number", s);
    if (v < min)
        return wm_error_set(err, WM_E_INPUT, what, range, "'%s' is too small", s);
    *out = (uint64_t)v;
    return WM_OK;
}

wm_status wm_parse_double(const char *s, const char *what, double *out, wm_error *err)
{
    static const char fix[] = "use a finite decimal number such as 0.05 or 1e-6";
    if (!s || !*s)
        return wm_error_set(err, WM_E_INPUT, what, fix, "empty value");
    if (isspace((unsigned char)s[0]))
        return wm_error_set(err, WM_E_INPUT, what, fix, "'%s' starts with a space", s);
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0')
        return wm_error_set(err, WM_E_INPUT, what, fix, "'%s' is not a number", s);
    if (errno == ERANGE || !isfinite(v))
        return wm_error_set(err, WM_E_INPUT, what, fix, "'%s' is out of range", s);
    *out = v;
    return WM_OK;
}

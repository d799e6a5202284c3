/* parse.h — strict number and word parsing shared by the CLI flags and the config reader. */
#ifndef WM_PARSE_H
#define WM_PARSE_H

#include "wanmeter.h"

/* Parses a whole string as a decimal unsigned integer in [min, max]: digits only (no sign, no
 * spaces, no trailing junk, no hex), with errno/range checks. On failure fills `err` naming
 * `what` and saying what a valid value looks like. */
wm_status wm_parse_u64(const char *s, const char *what, uint64_t min, uint64_t max, uint64_t *out,
                       wm_error *err);
/* Parses a whole string as a finite double (strtod + end pointer). */
wm_status wm_parse_double(const char *s, const char *what, double *out, wm_error *err);

#endif /* WM_PARSE_H */

/* json_out.h — a small streaming JSON writer on wm_buf for the report and the reference request.
 *
 * jansson (which reads JSON everywhere in wanmeter) builds a whole tree before it prints; the
 * report has ~20,000 values and must render in well under a millisecond, so it is written
 * straight into a buffer. The writer tracks commas and indentation; a container opened with
 * `inline_` keeps its members on one line (one module per line in report.json). Counts are
 * exact: integers are formatted from uint64_t, never through double. */
#ifndef WM_JSON_OUT_H
#define WM_JSON_OUT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

#define WM_JSON_DEPTH_MAX 16

typedef struct wm_json {
    wm_buf *b;
    int depth;
    bool first[WM_JSON_DEPTH_MAX];   /* no member written yet at this depth */
    bool inline_[WM_JSON_DEPTH_MAX]; /* members on one line */
    char bracket[WM_JSON_DEPTH_MAX]; /* '{' or '[' opened at this depth */
    bool overflow;                   /* nesting deeper than WM_JSON_DEPTH_MAX (a bug) */
} wm_json;

/* Opens '{' or '[' as the value of `key` (NULL inside arrays or at the top). */
void wm_json_open(wm_json *j, const char *key, char bracket, bool inline_);
void wm_json_close(wm_json *j);
void wm_json_str(wm_json *j, const char *key, const char *value); /* NULL value -> null */
void wm_json_u64(wm_json *j, const char *key, uint64_t value);
void wm_json_real(wm_json *j, const char *key, double value);     /* finite only */
void wm_json_bool(wm_json *j, const char *key, bool value);
void wm_json_null(wm_json *j, const char *key);

/* Appends v in decimal without going through printf. */
void wm_buf_u64(wm_buf *b, uint64_t v);

/* report.json's members (everything inside its outer braces), for writers that extend it. */
#include "wanmeter.h"
wm_status wm_report_json_members(wm_json *j, const wm_report *r, wm_error *err);
/* Closes out a document: checks the writer's state and hands over the string. */
wm_status wm_json_finish(wm_json *j, wm_buf *b, const char *what, char **out, wm_error *err);

#endif /* WM_JSON_OUT_H */

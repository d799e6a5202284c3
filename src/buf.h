/* buf.h — a growable string the writers append to; the library hands the caller a malloc'd,
 * NUL-terminated result instead of printing. */
#ifndef WM_BUF_H
#define WM_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wm_buf {
    char *data;
    size_t len, cap;
    bool failed; /* an allocation failed; every later append is a no-op */
} wm_buf;

void wm_buf_printf(wm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Makes room for `extra` more bytes (and the NUL); false once an allocation failed. */
bool wm_buf_reserve(wm_buf *b, size_t extra);

/* Appends n bytes. Inline: the JSON writer calls it ~100,000 times per report. */
static inline void wm_buf_append(wm_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap && !wm_buf_reserve(b, n))
        return;
    __builtin_memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}
void wm_buf_puts(wm_buf *b, const char *s);
/* Appends `n` copies of byte `c`. */
void wm_buf_repeat(wm_buf *b, char c, size_t n);
/* Appends v with thousands separators: 6,523,436,592,005,120. */
void wm_buf_grouped(wm_buf *b, uint64_t v);
/* Formats v with an SI prefix and 3 significant digits: "6.52 P" (unit appended by caller). */
void wm_format_si(char *out, size_t cap, double v);
/* The same for display, into out, returning out: "6,523,436,592,005,120"; "3.96 PFLOP",
 * "28.6 GB", "14.3 G" (unit "": a bare count, "512" without a trailing space). */
const char *wm_fmt_grouped(char *out, size_t cap, uint64_t v);
const char *wm_fmt_si(char *out, size_t cap, double v, const char *unit);
/* Display width of UTF-8 text: every character the writers use (…, ×, →) is one column. */
size_t wm_text_width(const char *s);
/* Greedy word wrap of `text` to `width` columns: `first` before the first line, `cont` before
 * the others, each line ended by '\n'. Breaks at spaces, or with `after_commas` only at spaces
 * that follow a comma (keeps "text_len 512" together). Empty text gives `first` alone. */
void wm_buf_wrap(wm_buf *b, const char *first, const char *cont, const char *text, size_t width,
                 bool after_commas);
/* One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF; quotes doubled. */
void wm_buf_csv_field(wm_buf *b, const char *s);
/* Hands over the string (NULL if an allocation failed) and resets the buffer. */
char *wm_buf_take(wm_buf *b);
void wm_buf_free(wm_buf *b);

#endif /* WM_BUF_H */

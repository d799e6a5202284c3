/* buf.c — growable strings for the writers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

bool wm_buf_reserve(wm_buf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->failed = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void wm_buf_puts(wm_buf *b, const char *s) { wm_buf_append(b, s, strlen(s)); }

void wm_buf_repeat(wm_buf *b, char c, size_t n)
{
    if (!wm_buf_reserve(b, n))
        return;
    memset(b->data + b->len, c, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void wm_buf_printf(wm_buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n >= 0 && wm_buf_reserve(b, (size_t)n)) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

const char *wm_fmt_grouped(char *out, size_t cap, uint64_t v)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < cap; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    if (cap > 0)
        out[o] = '\0';
    return out;
}

void wm_buf_grouped(wm_buf *b, uint64_t v)
{
    char out[48];
    wm_buf_puts(b, wm_fmt_grouped(out, sizeof out, v));
}

const char *wm_fmt_si(char *out, size_t cap, double v, const char *unit)
{
    char num[32];
    wm_format_si(num, sizeof num, v);
    size_t len = strlen(num);
    if (!unit[0] && len > 0 && num[len - 1] == ' ')
        num[len - 1] = '\0';
    snprintf(out, cap, "%s%s", num, unit);
    return out;
}

void wm_format_si(char *out, size_t cap, double v)
{
    static const char *const prefix[] = {"", "K", "M", "G", "T", "P", "E", "Z"};
    int p = 0;
    while (v >= 999.5 && p < 7) {
        v /= 1000.0;
        p++;
    }
    if (p == 0)
        snprintf(out, cap, "%.0f ", v);
    else
        snprintf(out, cap, v >= 99.95 ? "%.0f %s" : v >= 9.995 ? "%.1f %s" : "%.2f %s", v, prefix[p]);
}

char *wm_buf_take(wm_buf *b)
{
    char *d = b->failed ? NULL : b->data;
    if (!d && !b->failed)
        d = calloc(1, 1);
    if (b->failed)
        free(b->data);
    *b = (wm_buf){0};
    return d;
}

void wm_buf_free(wm_buf *b)
{
    free(b->data);
    *b = (wm_buf){0};
}

size_t wm_text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

void wm_buf_wrap(wm_buf *b, const char *first, const char *cont, const char *text, size_t width,
                 bool after_commas)
{
    const char *p = text, *prefix = first;
    while (*p == ' ')
        p++;
    do {
        size_t col = wm_text_width(prefix), used = 0;
        wm_buf_puts(b, prefix);
        while (*p) {
            /* the next unbreakable piece: up to a space we may break at */
            const char *q = p;
            while (*q && !(*q == ' ' && (!after_commas || (q > text && q[-1] == ','))))
                q++;
            size_t ww = 0;
            for (const char *x = p; x < q; x++)
                ww += ((unsigned char)*x & 0xC0) != 0x80;
            if (used > 0 && col + 1 + ww > width)
                break;
            if (used > 0) {
                wm_buf_puts(b, " ");
                col++;
            }
            wm_buf_append(b, p, (size_t)(q - p));
            col += ww;
            used++;
            p = q;
            while (*p == ' ')
                p++;
        }
        wm_buf_puts(b, "\n");
        prefix = cont;
    } while (*p);
}

void wm_buf_csv_field(wm_buf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        wm_buf_puts(b, s);
        return;
    }
    wm_buf_puts(b, "\"");
    for (const char *q; (q = strchr(s, '"')) != NULL; s = q + 1) {
        wm_buf_append(b, s, (size_t)(q - s) + 1);
        wm_buf_puts(b, "\"");
    }
    wm_buf_puts(b, s);
    wm_buf_puts(b, "\"");
}

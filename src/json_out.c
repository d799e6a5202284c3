/* json_out.c — the streaming JSON writer (see json_out.h). */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "json_out.h"

void wm_buf_u64(wm_buf *b, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    wm_buf_append(b, tmp + sizeof tmp - n, (size_t)n);
}

/* Whether s[0..n) needs no escaping (no '"', '\\' or byte < 0x20), 8 bytes at a time: module
 * ids are most of report.json's text, and none of them needs escaping. */
static bool plain(const char *s, size_t n)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, q, bs;
        memcpy(&x, s + i, 8);
        q = x ^ (ones * '"');
        bs = x ^ (ones * '\\');
        /* a byte below 0x20, or equal to '"' or '\\' (a zero byte in q or bs) */
        if (((x - ones * 0x20) & ~x & highs) | ((q - ones) & ~q & highs) |
            ((bs - ones) & ~bs & highs))
            return false;
    }
    for (; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == '"' || s[i] == '\\')
            return false;
    return true;
}

/* A JSON string: quotes, backslashes and control characters escaped; other bytes (UTF-8) as
 * they are. */
static void put_string(wm_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (plain(s, n) && wm_buf_reserve(b, n + 2)) {
        b->data[b->len] = '"';
        memcpy(b->data + b->len + 1, s, n);
        b->data[b->len + 1 + n] = '"';
        b->len += n + 2;
        b->data[b->len] = '\0';
        return;
    }
    wm_buf_append(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (__builtin_expect(c != '"' && c != '\\' && c >= 0x20, 1))
            continue;
        wm_buf_append(b, run, (size_t)(s - run));
        char esc[8];
        switch (c) {
        case '"': wm_buf_append(b, "\\\"", 2); break;
        case '\\': wm_buf_append(b, "\\\\", 2); break;
        case '\n': wm_buf_append(b, "\\n", 2); break;
        case '\t': wm_buf_append(b, "\\t", 2); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", c);
            wm_buf_puts(b, esc);
        }
        run = s + 1;
    }
    wm_buf_append(b, run, (size_t)(s - run));
    wm_buf_append(b, "\"", 1);
}

/* The separator, newline/indent and key before a member. */
static void member(wm_json *j, const char *key)
{
    if (j->depth > 0) {
        if (!j->first[j->depth])
            wm_buf_append(j->b, ",", 1);
        if (j->inline_[j->depth]) {
            if (!j->first[j->depth])
                wm_buf_append(j->b, " ", 1);
        } else {
            wm_buf_append(j->b, "\n", 1);
            wm_buf_repeat(j->b, ' ', (size_t)j->depth * 2);
        }
        j->first[j->depth] = false;
    }
    if (key) { /* keys are wanmeter's own literals: nothing to escape */
        size_t n = strlen(key);
        if (wm_buf_reserve(j->b, n + 4)) {
            char *d = j->b->data + j->b->len;
            d[0] = '"';
            memcpy(d + 1, key, n);
            memcpy(d + 1 + n, "\": ", 3);
            j->b->len += n + 4;
            j->b->data[j->b->len] = '\0';
        }
    }
}

void wm_json_open(wm_json *j, const char *key, char bracket, bool inline_)
{
    member(j, key);
    wm_buf_append(j->b, &bracket, 1);
    if (j->depth + 1 >= WM_JSON_DEPTH_MAX) {
        j->overflow = true;
        return;
    }
    j->depth++;
    j->bracket[j->depth] = bracket;
    j->first[j->depth] = true;
    j->inline_[j->depth] = inline_ || (j->depth > 1 && j->inline_[j->depth - 1]);
}

void wm_json_close(wm_json *j)
{
    if (j->depth <= 0) {
        j->overflow = true;
        return;
    }
    int depth = j->depth;
    bool empty = j->first[depth], inl = j->inline_[depth];
    j->depth--;
    if (!empty && !inl) {
        wm_buf_append(j->b, "\n", 1);
        wm_buf_repeat(j->b, ' ', (size_t)j->depth * 2);
    }
    wm_buf_append(j->b, j->bracket[depth] == '[' ? "]" : "}", 1);
}

void wm_json_str(wm_json *j, const char *key, const char *value)
{
    member(j, key);
    if (value)
        put_string(j->b, value);
    else
        wm_buf_append(j->b, "null", 4);
}

void wm_json_u64(wm_json *j, const char *key, uint64_t value)
{
    member(j, key);
    wm_buf_u64(j->b, value);
}

void wm_json_real(wm_json *j, const char *key, double value)
{
    member(j, key);
    char num[40];
    if (!isfinite(value)) {
        wm_buf_append(j->b, "null", 4); /* JSON has no infinities; callers pass finite values */
        return;
    }
    /* 15 significant digits (shares, eps); make sure the text reads back as a real, not an integer */
    int n = snprintf(num, sizeof num, "%.15g", value);
    if (n > 0 && !strpbrk(num, ".eEn"))
        snprintf(num + n, sizeof num - (size_t)n, ".0");
    wm_buf_puts(j->b, num);
}

void wm_json_bool(wm_json *j, const char *key, bool value)
{
    member(j, key);
    wm_buf_puts(j->b, value ? "true" : "false");
}

void wm_json_null(wm_json *j, const char *key)
{
    member(j, key);
    wm_buf_append(j->b, "null", 4);
}

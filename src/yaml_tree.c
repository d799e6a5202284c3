/*
 * yaml_tree.c — libyaml's event stream turned into wm_ynode trees with source marks, the deep
 * merge of two trees, and OmegaConf-style ${...} interpolation. The only file that includes
 * <yaml.h>; every libyaml result and mark becomes a wm_error here.
 *
 * Memory: each wm_ydoc owns one arena (a list of blocks). Nodes, keys, strings and arrays all
 * live in it and are released together by wm_yaml_free; nothing is freed one by one. While
 * loading, the entries of open mappings/sequences collect on one malloc'd scratch stack and are
 * copied into the arena, at their final size, when the collection ends.
 *
 * Marks after a merge: a node's file/line/column is where that node was written. The mark of
 * map key i (key_lines[i], key_columns[i]) belongs to the file of items[i] — after a merge a
 * mapping can hold keys from several files, so map->file is not the file of every key.
 */
#include <errno.h>
#include <limits.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "parse.h"
#include "yaml_tree.h"

enum {
    WM_YAML_MAX_DEPTH = 256, /* nesting levels accepted at load; bounds every recursion below */
    WM_YAML_MAX_CHAIN = 256, /* interpolations followed from one scalar before giving up */
    WM_YAML_BLOCK = 16384,   /* arena block size in bytes */
};
#define WM_YAML_MAX_FILE ((size_t)64 << 20) /* config files larger than this are refused */

/* ---- arena ------------------------------------------------------------------------------- */

typedef struct wm_yblock {
    struct wm_yblock *next;
    size_t used, cap;
    max_align_t data[]; /* max_align_t elements keep every allocation suitably aligned */
} wm_yblock;

typedef struct wm_yarena {
    wm_yblock *head; /* the block being filled */
} wm_yarena;

/* Zeroed memory from the arena, or NULL when out of memory. */
static void *wm_yarena_alloc(wm_yarena *a, size_t size)
{
    const size_t align = alignof(max_align_t);
    if (size == 0)
        size = 1;
    if (size > SIZE_MAX - align)
        return NULL;
    size = (size + align - 1) / align * align;
    wm_yblock *b = a->head;
    if (!b || b->cap - b->used < size) {
        size_t cap = size > WM_YAML_BLOCK ? size : WM_YAML_BLOCK;
        if (cap > SIZE_MAX - sizeof *b)
            return NULL;
        wm_yblock *nb = malloc(sizeof *nb + cap);
        if (!nb)
            return NULL;
        nb->used = 0;
        nb->cap = cap;
        if (b && cap > WM_YAML_BLOCK) {
            /* A one-off large block goes behind the head, which keeps being filled. */
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            a->head = nb;
        }
        b = nb;
    }
    void *p = (char *)b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

static void *wm_yarena_array(wm_yarena *a, size_t n, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes))
        return NULL;
    return wm_yarena_alloc(a, bytes);
}

static char *wm_yarena_strndup(wm_yarena *a, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *p = wm_yarena_alloc(a, len + 1);
    if (p && len)
        memcpy(p, s, len);
    return p; /* zeroed, so NUL-terminated */
}

static void wm_yarena_free(wm_yarena *a)
{
    if (!a)
        return;
    for (wm_yblock *b = a->head; b;) {
        wm_yblock *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

/* ---- nodes ------------------------------------------------------------------------------- */

/* Interpolation state of a scalar. */
typedef enum wm_ystate { WM_YS_OPEN, WM_YS_ACTIVE, WM_YS_DONE } wm_ystate;

/* Every node this file allocates is a wm_ynode_x, so private state rides along with the public
 * struct and a wm_ynode * can be cast back to it. */
typedef struct wm_ynode_x {
    wm_ynode pub;
    wm_ystate state;
} wm_ynode_x;

static wm_ynode *wm_ynode_new(wm_yarena *a, wm_ykind kind, const char *file, int line,
                              int column)
{
    wm_ynode_x *x = wm_yarena_alloc(a, sizeof *x);
    if (!x)
        return NULL;
    x->pub.kind = kind;
    x->pub.file = file;
    x->pub.line = line;
    x->pub.column = column;
    x->state = WM_YS_OPEN;
    return &x->pub;
}

static wm_ynode_x *wm_ynode_priv(wm_ynode *n) { return (wm_ynode_x *)n; }

static const char *wm_ykind_name(wm_ykind k)
{
    return k == WM_Y_MAP ? "a mapping" : k == WM_Y_SEQ ? "a list" : "a scalar";
}

/* Index of `key` in map `map` (NUL-free key of `len` bytes), or SIZE_MAX. */
static size_t wm_ymap_find(const wm_ynode *map, const char *key, size_t len)
{
    for (size_t i = 0; i < map->count; i++)
        if (strncmp(map->keys[i], key, len) == 0 && map->keys[i][len] == '\0')
            return i;
    return SIZE_MAX;
}

/* ---- errors ------------------------------------------------------------------------------ */

static wm_status wm_yvfail(wm_error *err, wm_status code, const char *what, const char *fix,
                           const char *file, int line, int column, const char *fmt, va_list ap)
{
    if (!err)
        return code;
    char why[sizeof err->why];
    vsnprintf(why, sizeof why, fmt, ap);
    wm_error_set(err, code, what, fix, "%s", why);
    snprintf(err->file, sizeof err->file, "%s", file ? file : "");
    err->line = line;
    err->column = column;
    return code;
}

/* Fills `err` with a location (file NULL and line 0 = none) and returns `code`. */
static wm_status wm_yfail(wm_error *err, wm_status code, const char *what, const char *fix,
                          const char *file, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
static wm_status wm_yfail(wm_error *err, wm_status code, const char *what, const char *fix,
                          const char *file, int line, int column, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wm_status s = wm_yvfail(err, code, what, fix, file, line, column, fmt, ap);
    va_end(ap);
    return s;
}

static wm_status wm_yoom(wm_error *err)
{
    return wm_yfail(err, WM_E_INTERNAL, "YAML", "free some memory and try again", NULL, 0, 0,
                    "out of memory");
}

/* Appends `s` to buf (len so far in *len), truncating at cap. */
static void wm_ybuf_append(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    if (*len + 1 >= cap)
        return;
    size_t room = cap - 1 - *len;
    if (n > room)
        n = room;
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = '\0';
}

/* Writes the dotted path of `n` ("verify_run.accept_rel_diff.layers", "grid.1.w") into buf;
 * "" for the root. Truncates at cap. */
static void wm_ypath_walk(const wm_ynode *n, char *buf, size_t cap, size_t *len)
{
    const wm_ynode *p = n->parent;
    if (!p)
        return;
    wm_ypath_walk(p, buf, cap, len);
    size_t i = 0;
    while (i < p->count && p->items[i] != n)
        i++;
    char idx[32];
    const char *comp = idx;
    if (p->kind == WM_Y_MAP && i < p->count)
        comp = p->keys[i];
    else
        snprintf(idx, sizeof idx, "%zu", i);
    if (p->parent)
        wm_ybuf_append(buf, cap, len, ".", 1);
    wm_ybuf_append(buf, cap, len, comp, strlen(comp));
}

static void wm_ypath_of(const wm_ynode *n, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    wm_ypath_walk(n, buf, cap, &len);
}

/* An error at node `n`, with `what` = its path. */
static wm_status wm_yfail_node(wm_error *err, const wm_ynode *n, const char *fix,
                               const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static wm_status wm_yfail_node(wm_error *err, const wm_ynode *n, const char *fix,
                               const char *fmt, ...)
{
    char what[192];
    wm_ypath_of(n, what, sizeof what);
    va_list ap;
    va_start(ap, fmt);
    wm_status s = wm_yvfail(err, WM_E_INPUT, what[0] ? what : "document root", fix, n->file,
                            n->line, n->column, fmt, ap);
    va_end(ap);
    return s;
}

/* libyaml marks are 0-based size_t; ours are 1-based int. */
static int wm_ymark1(size_t v) { return v >= (size_t)INT_MAX ? INT_MAX : (int)v + 1; }

/* ---- loading ----------------------------------------------------------------------------- */

typedef struct wm_yentry {
    char *key; /* NULL in sequences */
    int line, column;
    wm_ynode *item;
} wm_yentry;

typedef struct wm_yloader {
    yaml_parser_t parser;
    wm_yarena *arena;
    const char *file;          /* arena copy of the name */
    const unsigned char *text; /* the input, to locate reader errors given as byte offsets */
    size_t len;
    wm_yentry *scratch; /* entries of the open collections, innermost last */
    size_t nscratch, capscratch;
    char *path; /* dotted path of the node being read, for error messages */
    size_t pathlen, pathcap;
    wm_error *err;
} wm_yloader;

static const char *wm_yld_what(const wm_yloader *ld)
{
    return ld->pathlen ? ld->path : "document root";
}

/* Appends ".comp" (or "comp" at the root) to the loader's path. */
static wm_status wm_yld_push(wm_yloader *ld, const char *comp, size_t n)
{
    size_t need = ld->pathlen + n + 2;
    if (need < n)
        return wm_yoom(ld->err);
    if (need > ld->pathcap) {
        size_t cap = ld->pathcap ? ld->pathcap : 128;
        while (cap < need)
            cap *= 2;
        char *p = realloc(ld->path, cap);
        if (!p)
            return wm_yoom(ld->err);
        ld->path = p;
        ld->pathcap = cap;
    }
    if (ld->pathlen)
        ld->path[ld->pathlen++] = '.';
    memcpy(ld->path + ld->pathlen, comp, n);
    ld->pathlen += n;
    ld->path[ld->pathlen] = '\0';
    return WM_OK;
}

static void wm_yld_pop(wm_yloader *ld, size_t len)
{
    ld->pathlen = len;
    if (ld->path)
        ld->path[len] = '\0';
}

static wm_status wm_yld_fail(wm_yloader *ld, const yaml_mark_t *m, const char *fix,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static wm_status wm_yld_fail(wm_yloader *ld, const yaml_mark_t *m, const char *fix,
                             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wm_status s = wm_yvfail(ld->err, WM_E_INPUT, wm_yld_what(ld), fix, ld->file,
                            wm_ymark1(m->line), wm_ymark1(m->column), fmt, ap);
    va_end(ap);
    return s;
}

/* Turns the parser's error state into a wm_error. */
static wm_status wm_yld_syntax(wm_yloader *ld)
{
    const yaml_parser_t *p = &ld->parser;
    if (p->error == YAML_MEMORY_ERROR)
        return wm_yoom(ld->err);
    const char *problem = p->problem ? p->problem : "unknown problem";
    const char *fix = "check the indentation, quotes and brackets at that place";
    if (p->error == YAML_READER_ERROR) {
        /* Reader errors (bad encoding, control characters) give a byte offset, not a mark. */
        int line = 1, column = 1;
        for (size_t i = 0; i < p->problem_offset && i < ld->len; i++) {
            if (ld->text[i] == '\n') {
                line++;
                column = 1;
            } else if ((ld->text[i] & 0xC0) != 0x80 && column < INT_MAX) {
                column++; /* UTF-8 continuation bytes do not start a new column */
            }
        }
        fix = "save the file as UTF-8 text without control characters";
        if (p->problem_value != -1)
            return wm_yfail(ld->err, WM_E_INPUT, "YAML syntax", fix, ld->file, line, column,
                            "%s (#%X)", problem, (unsigned)p->problem_value);
        return wm_yfail(ld->err, WM_E_INPUT, "YAML syntax", fix, ld->file, line, column, "%s",
                        problem);
    }
    int line = wm_ymark1(p->problem_mark.line), column = wm_ymark1(p->problem_mark.column);
    if (p->context)
        return wm_yfail(ld->err, WM_E_INPUT, "YAML syntax", fix, ld->file, line, column,
                        "%s, %s at line %d, column %d", problem, p->context,
                        wm_ymark1(p->context_mark.line), wm_ymark1(p->context_mark.column));
    return wm_yfail(ld->err, WM_E_INPUT, "YAML syntax", fix, ld->file, line, column, "%s",
                    problem);
}

static wm_status wm_yld_next(wm_yloader *ld, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&ld->parser, ev))
        return wm_yld_syntax(ld);
    return WM_OK;
}

static bool wm_yis_null_text(const char *s, size_t n)
{
    return n == 0 || (n == 1 && s[0] == '~') ||
           (n == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

static wm_status wm_yld_no_anchor(wm_yloader *ld, const yaml_event_t *ev,
                                  const yaml_char_t *anchor)
{
    if (!anchor)
        return WM_OK;
    return wm_yld_fail(ld, &ev->start_mark, "repeat the value, or refer to it with ${path}",
                       "anchors and aliases are not supported (found &%s)",
                       (const char *)anchor);
}

static wm_status wm_yld_scalar(wm_yloader *ld, const yaml_event_t *ev, wm_ynode *parent,
                               wm_ynode **out)
{
    wm_status s = wm_yld_no_anchor(ld, ev, ev->data.scalar.anchor);
    if (s != WM_OK)
        return s;
    const char *text = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (memchr(text, '\0', len))
        return wm_yld_fail(ld, &ev->start_mark, "remove the \\0 escape",
                           "the string contains a NUL character");
    /* Plain scalars are resolved by the core schema; any quoted or block (| >) scalar is a
     * string. */
    bool quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    bool is_null = !quoted && wm_yis_null_text(text, len);
    const char *tag = (const char *)ev->data.scalar.tag;
    if (tag) {
        if (!strcmp(tag, YAML_STR_TAG)) {
            quoted = true;
            is_null = false;
        } else if (!strcmp(tag, YAML_NULL_TAG)) {
            if (!wm_yis_null_text(text, len))
                return wm_yld_fail(ld, &ev->start_mark, "write null without a value",
                                   "!!null is given the value '%s'", text);
            quoted = false;
            is_null = true;
        } else if (!strcmp(tag, YAML_BOOL_TAG) || !strcmp(tag, YAML_INT_TAG) ||
                   !strcmp(tag, YAML_FLOAT_TAG)) {
            quoted = false; /* read as if written plain; the typed reads check the form */
            is_null = false;
        } else {
            return wm_yld_fail(ld, &ev->start_mark, "remove the tag",
                               "the tag '%s' is not supported", tag);
        }
    }
    wm_ynode *n = wm_ynode_new(ld->arena, WM_Y_SCALAR, ld->file, wm_ymark1(ev->start_mark.line),
                               wm_ymark1(ev->start_mark.column));
    if (!n)
        return wm_yoom(ld->err);
    n->value = wm_yarena_strndup(ld->arena, text, is_null ? 0 : len);
    if (!n->value)
        return wm_yoom(ld->err);
    n->quoted = quoted;
    n->is_null = is_null;
    n->parent = parent;
    *out = n;
    return WM_OK;
}

static wm_status wm_yld_node(wm_yloader *ld, yaml_event_t *ev, wm_ynode *parent, int depth,
                             wm_ynode **out);

/* Reads the key event of a mapping entry into `e` (also pushing it onto the path). */
static wm_status wm_yld_key(wm_yloader *ld, const yaml_event_t *ev, size_t base, wm_yentry *e)
{
    if (ev->type == YAML_ALIAS_EVENT)
        return wm_yld_fail(ld, &ev->start_mark, "repeat the value, or refer to it with ${path}",
                           "anchors and aliases are not supported (found *%s)",
                           (const char *)ev->data.alias.anchor);
    if (ev->type != YAML_SCALAR_EVENT)
        return wm_yld_fail(ld, &ev->start_mark, "use a plain name as the key",
                           "a key is %s; keys must be scalars",
                           ev->type == YAML_MAPPING_START_EVENT ? "a mapping" : "a list");
    wm_status s = wm_yld_no_anchor(ld, ev, ev->data.scalar.anchor);
    if (s != WM_OK)
        return s;
    if (ev->data.scalar.tag)
        return wm_yld_fail(ld, &ev->start_mark, "remove the tag", "keys cannot have tags");
    const char *text = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (memchr(text, '\0', len))
        return wm_yld_fail(ld, &ev->start_mark, "remove the \\0 escape",
                           "the key contains a NUL character");
    if (len == 0 || (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                     wm_yis_null_text(text, len)))
        return wm_yld_fail(ld, &ev->start_mark, "give the key a name",
                           "a key is empty or null");
    if ((s = wm_yld_push(ld, text, len)) != WM_OK)
        return s;
    e->line = wm_ymark1(ev->start_mark.line);
    e->column = wm_ymark1(ev->start_mark.column);
    for (size_t i = base; i < ld->nscratch; i++)
        if (!strcmp(ld->scratch[i].key, text))
            return wm_yld_fail(ld, &ev->start_mark, "keep one of the two entries",
                               "duplicate key '%s' (first at line %d, column %d)", text,
                               ld->scratch[i].line, ld->scratch[i].column);
    e->key = wm_yarena_strndup(ld->arena, text, len);
    return e->key ? WM_OK : wm_yoom(ld->err);
}

static wm_status wm_yld_scratch_push(wm_yloader *ld, const wm_yentry *e)
{
    if (ld->nscratch == ld->capscratch) {
        size_t cap = ld->capscratch ? ld->capscratch * 2 : 64;
        size_t bytes;
        if (cap < ld->capscratch || __builtin_mul_overflow(cap, sizeof *ld->scratch, &bytes))
            return wm_yoom(ld->err);
        wm_yentry *p = realloc(ld->scratch, bytes);
        if (!p)
            return wm_yoom(ld->err);
        ld->scratch = p;
        ld->capscratch = cap;
    }
    ld->scratch[ld->nscratch++] = *e;
    return WM_OK;
}

/* Reads a mapping or sequence whose start event is `start`, up to its end event. */
static wm_status wm_yld_collection(wm_yloader *ld, const yaml_event_t *start, wm_ynode *parent,
                                   int depth, wm_ynode **out)
{
    bool is_map = start->type == YAML_MAPPING_START_EVENT;
    const yaml_char_t *anchor =
        is_map ? start->data.mapping_start.anchor : start->data.sequence_start.anchor;
    const char *tag = (const char *)(is_map ? start->data.mapping_start.tag
                                            : start->data.sequence_start.tag);
    wm_status s = wm_yld_no_anchor(ld, start, anchor);
    if (s != WM_OK)
        return s;
    if (tag && strcmp(tag, is_map ? YAML_MAP_TAG : YAML_SEQ_TAG))
        return wm_yld_fail(ld, &start->start_mark, "remove the tag",
                           "the tag '%s' is not supported here", tag);
    if (depth >= WM_YAML_MAX_DEPTH)
        return wm_yld_fail(ld, &start->start_mark, "flatten the structure",
                           "nested more than %d levels deep", WM_YAML_MAX_DEPTH);
    wm_ynode *n = wm_ynode_new(ld->arena, is_map ? WM_Y_MAP : WM_Y_SEQ, ld->file,
                               wm_ymark1(start->start_mark.line),
                               wm_ymark1(start->start_mark.column));
    if (!n)
        return wm_yoom(ld->err);
    n->parent = parent;
    const yaml_event_type_t end = is_map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
    const size_t base = ld->nscratch;
    for (;;) {
        yaml_event_t ev;
        if ((s = wm_yld_next(ld, &ev)) != WM_OK)
            return s;
        if (ev.type == end) {
            yaml_event_delete(&ev);
            break;
        }
        const size_t pathlen = ld->pathlen;
        wm_yentry e = {0};
        if (is_map) {
            s = wm_yld_key(ld, &ev, base, &e);
            yaml_event_delete(&ev);
            if (s == WM_OK)
                s = wm_yld_next(ld, &ev);
        } else {
            char idx[32];
            snprintf(idx, sizeof idx, "%zu", ld->nscratch - base);
            s = wm_yld_push(ld, idx, strlen(idx));
            if (s != WM_OK)
                yaml_event_delete(&ev);
        }
        if (s == WM_OK)
            s = wm_yld_node(ld, &ev, n, depth + 1, &e.item); /* consumes ev */
        if (s == WM_OK)
            s = wm_yld_scratch_push(ld, &e);
        wm_yld_pop(ld, pathlen);
        if (s != WM_OK)
            return s;
    }
    size_t count = ld->nscratch - base;
    if (count) {
        n->items = wm_yarena_array(ld->arena, count, sizeof *n->items);
        if (is_map) {
            n->keys = wm_yarena_array(ld->arena, count, sizeof *n->keys);
            n->key_lines = wm_yarena_array(ld->arena, count, sizeof *n->key_lines);
            n->key_columns = wm_yarena_array(ld->arena, count, sizeof *n->key_columns);
        }
        if (!n->items || (is_map && (!n->keys || !n->key_lines || !n->key_columns)))
            return wm_yoom(ld->err);
        for (size_t i = 0; i < count; i++) {
            const wm_yentry *e = &ld->scratch[base + i];
            n->items[i] = e->item;
            if (is_map) {
                n->keys[i] = e->key;
                n->key_lines[i] = e->line;
                n->key_columns[i] = e->column;
            }
        }
    }
    n->count = count;
    ld->nscratch = base;
    *out = n;
    return WM_OK;
}

/* Reads the node that starts with event `ev` and deletes `ev`. */
static wm_status wm_yld_node(wm_yloader *ld, yaml_event_t *ev, wm_ynode *parent, int depth,
                             wm_ynode **out)
{
    wm_status s;
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        s = wm_yld_fail(ld, &ev->start_mark, "repeat the value, or refer to it with ${path}",
                        "anchors and aliases are not supported (found *%s)",
                        (const char *)ev->data.alias.anchor);
        break;
    case YAML_SCALAR_EVENT:
        s = wm_yld_scalar(ld, ev, parent, out);
        break;
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
        s = wm_yld_collection(ld, ev, parent, depth, out);
        break;
    default:
        s = wm_yfail(ld->err, WM_E_INTERNAL, "YAML", NULL, ld->file,
                     wm_ymark1(ev->start_mark.line), wm_ymark1(ev->start_mark.column),
                     "unexpected libyaml event %d", (int)ev->type);
        break;
    }
    yaml_event_delete(ev);
    return s;
}

/* Reads the whole stream: at most one document, whose root must be a mapping. */
static wm_status wm_yld_stream(wm_yloader *ld, wm_ynode **root)
{
    yaml_event_t ev;
    wm_status s = wm_yld_next(ld, &ev); /* STREAM-START */
    if (s != WM_OK)
        return s;
    yaml_event_delete(&ev);
    if ((s = wm_yld_next(ld, &ev)) != WM_OK)
        return s;
    if (ev.type == YAML_STREAM_END_EVENT) {
        /* Empty input, or only comments: an empty mapping. */
        yaml_event_delete(&ev);
        *root = wm_ynode_new(ld->arena, WM_Y_MAP, ld->file, 1, 1);
        return *root ? WM_OK : wm_yoom(ld->err);
    }
    yaml_event_delete(&ev); /* DOCUMENT-START */
    if ((s = wm_yld_next(ld, &ev)) != WM_OK)
        return s;
    if ((s = wm_yld_node(ld, &ev, NULL, 0, root)) != WM_OK)
        return s;
    wm_ynode *r = *root;
    if (r->kind == WM_Y_SCALAR && r->is_null) {
        /* A document with nothing in it ("---" alone) is an empty mapping too. */
        r->kind = WM_Y_MAP;
        r->value = NULL;
        r->is_null = false;
    } else if (r->kind != WM_Y_MAP) {
        return wm_yfail(ld->err, WM_E_INPUT, "document root", "write key: value pairs at the top",
                        ld->file, r->line, r->column, "the document is %s, not a mapping",
                        wm_ykind_name(r->kind));
    }
    if ((s = wm_yld_next(ld, &ev)) != WM_OK) /* DOCUMENT-END */
        return s;
    yaml_event_delete(&ev);
    if ((s = wm_yld_next(ld, &ev)) != WM_OK)
        return s;
    yaml_event_type_t type = ev.type;
    yaml_mark_t mark = ev.start_mark;
    yaml_event_delete(&ev);
    if (type != YAML_STREAM_END_EVENT)
        return wm_yfail(ld->err, WM_E_INPUT, "YAML document", "keep a single document per file",
                        ld->file, wm_ymark1(mark.line), wm_ymark1(mark.column),
                        "a second document starts here; only one is supported");
    return WM_OK;
}

static wm_status wm_yload(const unsigned char *text, size_t len, const char *name,
                          wm_ydoc **out, wm_error *err)
{
    if (!out || (!text && len))
        return wm_yfail(err, WM_E_INTERNAL, "wm_yaml_load", NULL, NULL, 0, 0,
                        "called without input or output");
    *out = NULL;
    wm_ydoc *doc = calloc(1, sizeof *doc);
    wm_yarena *arena = calloc(1, sizeof *arena);
    if (!doc || !arena) {
        free(doc);
        free(arena);
        return wm_yoom(err);
    }
    doc->arena = arena;
    wm_yloader ld = {.arena = arena, .text = text, .len = len, .err = err};
    if (!name)
        name = "<string>";
    ld.file = wm_yarena_strndup(arena, name, strlen(name));
    wm_status s;
    if (!ld.file || !yaml_parser_initialize(&ld.parser)) {
        s = wm_yoom(err);
        wm_yaml_free(doc);
        return s;
    }
    yaml_parser_set_input_string(&ld.parser, text ? text : (const unsigned char *)"", len);
    s = wm_yld_stream(&ld, &doc->root);
    yaml_parser_delete(&ld.parser);
    free(ld.scratch);
    free(ld.path);
    if (s != WM_OK) {
        wm_yaml_free(doc);
        return s;
    }
    *out = doc;
    return WM_OK;
}

wm_status wm_yaml_load_string(const char *text, size_t len, const char *name, wm_ydoc **out,
                              wm_error *err)
{
    return wm_yload((const unsigned char *)text, len, name, out, err);
}

wm_status wm_yaml_load_file(const char *path, wm_ydoc **out, wm_error *err)
{
    if (out)
        *out = NULL;
    if (!path || !out)
        return wm_yfail(err, WM_E_INTERNAL, "wm_yaml_load_file", NULL, NULL, 0, 0,
                        "called without a path or output");
    static const char fix[] = "check the path and that the file is readable";
    FILE *f = fopen(path, "rb");
    if (!f)
        return wm_yfail(err, WM_E_IO, path, fix, NULL, 0, 0, "cannot open: %s", strerror(errno));
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    wm_status s = WM_OK;
    for (;;) {
        if (len == cap) {
            if (cap >= WM_YAML_MAX_FILE) {
                s = wm_yfail(err, WM_E_INPUT, path, "split or shorten the file", NULL, 0, 0,
                             "larger than %zu MiB", WM_YAML_MAX_FILE >> 20);
                break;
            }
            cap = cap ? cap * 2 : 8192;
            unsigned char *p = realloc(buf, cap);
            if (!p) {
                s = wm_yoom(err);
                break;
            }
            buf = p;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                s = wm_yfail(err, WM_E_IO, path, fix, NULL, 0, 0, "cannot read: %s",
                             strerror(errno));
            break;
        }
    }
    fclose(f);
    if (s == WM_OK)
        s = wm_yload(buf, len, path, out, err);
    free(buf);
    return s;
}

void wm_yaml_free(wm_ydoc *doc)
{
    if (!doc)
        return;
    wm_yarena_free(doc->arena);
    free(doc);
}

/* ---- merge ------------------------------------------------------------------------------- */

typedef struct wm_ymerger {
    wm_yarena *arena;
    const char *src_file; /* the last source file name seen, and its copy in dst's arena */
    const char *dst_file;
} wm_ymerger;

static const char *wm_ymerge_file(wm_ymerger *m, const char *file)
{
    if (!file)
        return NULL;
    if (file != m->src_file) {
        const char *copy = wm_yarena_strndup(m->arena, file, strlen(file));
        if (!copy)
            return NULL;
        m->src_file = file;
        m->dst_file = copy;
    }
    return m->dst_file;
}

/* Deep copy of `src` into m's arena under `parent`; NULL when out of memory. */
static wm_ynode *wm_ycopy(wm_ymerger *m, const wm_ynode *src, wm_ynode *parent)
{
    const char *file = wm_ymerge_file(m, src->file);
    if (src->file && !file)
        return NULL;
    wm_ynode *n = wm_ynode_new(m->arena, src->kind, file, src->line, src->column);
    if (!n)
        return NULL;
    /* A source that was already resolved stays resolved: its escapes are gone. */
    wm_ynode_priv(n)->state = ((const wm_ynode_x *)src)->state == WM_YS_DONE ? WM_YS_DONE
                                                                             : WM_YS_OPEN;
    n->parent = parent;
    n->quoted = src->quoted;
    n->is_null = src->is_null;
    if (src->kind == WM_Y_SCALAR) {
        n->value = wm_yarena_strndup(m->arena, src->value, strlen(src->value));
        return n->value ? n : NULL;
    }
    if (src->count == 0)
        return n;
    n->items = wm_yarena_array(m->arena, src->count, sizeof *n->items);
    if (!n->items)
        return NULL;
    if (src->kind == WM_Y_MAP) {
        n->keys = wm_yarena_array(m->arena, src->count, sizeof *n->keys);
        n->key_lines = wm_yarena_array(m->arena, src->count, sizeof *n->key_lines);
        n->key_columns = wm_yarena_array(m->arena, src->count, sizeof *n->key_columns);
        if (!n->keys || !n->key_lines || !n->key_columns)
            return NULL;
    }
    for (size_t i = 0; i < src->count; i++) {
        if (!(n->items[i] = wm_ycopy(m, src->items[i], n)))
            return NULL;
        if (src->kind == WM_Y_MAP) {
            n->keys[i] = wm_yarena_strndup(m->arena, src->keys[i], strlen(src->keys[i]));
            if (!n->keys[i])
                return NULL;
            n->key_lines[i] = src->key_lines[i];
            n->key_columns[i] = src->key_columns[i];
        }
        n->count = i + 1;
    }
    return n;
}

/* Merges mapping `src` into mapping `dst`; false when out of memory. */
static bool wm_ymerge_map(wm_ymerger *m, wm_ynode *dst, const wm_ynode *src)
{
    size_t fresh = 0;
    for (size_t i = 0; i < src->count; i++)
        if (wm_ymap_find(dst, src->keys[i], strlen(src->keys[i])) == SIZE_MAX)
            fresh++;
    if (fresh) {
        /* Regrow the arrays once, keeping dst's order; the old arrays stay in the arena. */
        size_t cap;
        if (__builtin_add_overflow(dst->count, fresh, &cap))
            return false;
        char **keys = wm_yarena_array(m->arena, cap, sizeof *keys);
        int *lines = wm_yarena_array(m->arena, cap, sizeof *lines);
        int *columns = wm_yarena_array(m->arena, cap, sizeof *columns);
        wm_ynode **items = wm_yarena_array(m->arena, cap, sizeof *items);
        if (!keys || !lines || !columns || !items)
            return false;
        if (dst->count) {
            memcpy(keys, dst->keys, dst->count * sizeof *keys);
            memcpy(lines, dst->key_lines, dst->count * sizeof *lines);
            memcpy(columns, dst->key_columns, dst->count * sizeof *columns);
            memcpy(items, dst->items, dst->count * sizeof *items);
        }
        dst->keys = keys;
        dst->key_lines = lines;
        dst->key_columns = columns;
        dst->items = items;
    }
    for (size_t i = 0; i < src->count; i++) {
        const wm_ynode *sv = src->items[i];
        size_t j = wm_ymap_find(dst, src->keys[i], strlen(src->keys[i]));
        if (j != SIZE_MAX && dst->items[j]->kind == WM_Y_MAP && sv->kind == WM_Y_MAP) {
            if (!wm_ymerge_map(m, dst->items[j], sv))
                return false;
            continue;
        }
        wm_ynode *copy = wm_ycopy(m, sv, dst);
        if (!copy)
            return false;
        if (j == SIZE_MAX) {
            j = dst->count;
            dst->keys[j] = wm_yarena_strndup(m->arena, src->keys[i], strlen(src->keys[i]));
            if (!dst->keys[j])
                return false;
            dst->count++;
        }
        /* The key's mark follows the item, so it names a line in the item's file. */
        dst->items[j] = copy;
        dst->key_lines[j] = src->key_lines[i];
        dst->key_columns[j] = src->key_columns[i];
    }
    return true;
}

wm_status wm_yaml_merge(wm_ydoc *dst, const wm_ydoc *src, wm_error *err)
{
    if (!dst || !src || !dst->root || !src->root || dst->root->kind != WM_Y_MAP ||
        src->root->kind != WM_Y_MAP)
        return wm_yfail(err, WM_E_INTERNAL, "wm_yaml_merge", NULL, NULL, 0, 0,
                        "called without two loaded documents");
    wm_ymerger m = {.arena = dst->arena};
    /* Out of memory leaves dst partly merged; the caller frees it. */
    return wm_ymerge_map(&m, dst->root, src->root) ? WM_OK : wm_yoom(err);
}

/* ---- lookups ----------------------------------------------------------------------------- */

/* The node at `path` (len > 0 bytes, components separated by '.') below `node`, or NULL.
 * Sequence components are decimal indices. Mapping keys may themselves contain dots (preset
 * names such as wan2.1-t2v-14b), so a component that is not a key is extended over the next
 * dot until one matches, backtracking if the rest of the path then fails. */
static wm_ynode *wm_ylookup(wm_ynode *node, const char *path, size_t len)
{
    if (node->kind == WM_Y_SEQ) {
        size_t j = 0, idx = 0;
        for (; j < len && path[j] != '.'; j++) {
            if (path[j] < '0' || path[j] > '9' || idx > (SIZE_MAX - 9) / 10)
                return NULL;
            idx = idx * 10 + (size_t)(path[j] - '0');
        }
        if (j == 0 || idx >= node->count)
            return NULL;
        if (j == len)
            return node->items[idx];
        return j + 1 < len ? wm_ylookup(node->items[idx], path + j + 1, len - j - 1) : NULL;
    }
    if (node->kind != WM_Y_MAP)
        return NULL;
    for (size_t j = 1; j <= len; j++) {
        if (j < len && path[j] != '.')
            continue;
        size_t i = wm_ymap_find(node, path, j);
        if (i == SIZE_MAX)
            continue;
        if (j == len)
            return node->items[i];
        if (j + 1 < len) {
            wm_ynode *hit = wm_ylookup(node->items[i], path + j + 1, len - j - 1);
            if (hit)
                return hit;
        }
    }
    return NULL;
}

const wm_ynode *wm_ymap_get(const wm_ynode *map, const char *key)
{
    if (!map || !key || map->kind != WM_Y_MAP)
        return NULL;
    size_t i = wm_ymap_find(map, key, strlen(key));
    return i == SIZE_MAX ? NULL : map->items[i];
}

const wm_ynode *wm_ynode_at(const wm_ynode *node, const char *path)
{
    if (!node || !path)
        return NULL;
    if (!*path)
        return node;
    return wm_ylookup((wm_ynode *)node, path, strlen(path));
}

/* ---- interpolation ----------------------------------------------------------------------- */

typedef struct wm_yresolver {
    wm_ynode *root;
    wm_yarena *arena;
    wm_ynode *chain[WM_YAML_MAX_CHAIN]; /* scalars being resolved, outermost first */
    size_t depth;
    wm_error *err;
} wm_yresolver;

/* The node `ref` (the text inside ${}) points at, seen from scalar `from`, or NULL. `where`
 * gets the absolute path the reference means, for messages; *above_root is set when the dots
 * climb past the document root. */
static wm_ynode *wm_yref_target(const wm_yresolver *r, const wm_ynode *from, const char *ref,
                                size_t len, char *where, size_t cap, bool *above_root)
{
    size_t dots = 0;
    while (dots < len && ref[dots] == '.')
        dots++;
    wm_ynode *base = r->root;
    if (dots) {
        /* One dot is the mapping or list holding `from`; each further dot is one level up. */
        base = from->parent;
        for (size_t i = 1; i < dots && base; i++)
            base = base->parent;
    }
    *above_root = base == NULL;
    where[0] = '\0';
    if (!base)
        return NULL;
    wm_ypath_of(base, where, cap);
    size_t wlen = strlen(where);
    if (dots == len)
        return base;
    if (wlen)
        wm_ybuf_append(where, cap, &wlen, ".", 1);
    wm_ybuf_append(where, cap, &wlen, ref + dots, len - dots);
    return wm_ylookup(base, ref + dots, len - dots);
}

/* Levenshtein distance, for suggesting the key that was probably meant. */
static size_t wm_yedit_distance(const char *a, size_t an, const char *b)
{
    enum { MAX = 64 };
    size_t bn = strlen(b);
    if (an > MAX || bn > MAX)
        return SIZE_MAX;
    size_t row[MAX + 1];
    for (size_t j = 0; j <= bn; j++)
        row[j] = j;
    for (size_t i = 1; i <= an; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= bn; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[bn];
}

/* A fix for a reference that points at nothing: the nearest scalar key next to where it
 * pointed, written the way the reference was. */
static void wm_ysuggest(const wm_yresolver *r, const wm_ynode *from, const char *ref,
                        size_t len, char *fix, size_t cap)
{
    snprintf(fix, cap, "point ${...} at an existing scalar key: ${a.b.c} from the top, "
                       "${.key} for a sibling, ${..key} one level up");
    size_t cut = len; /* start of the last component */
    while (cut > 0 && ref[cut - 1] != '.')
        cut--;
    if (cut == len)
        return;
    size_t dots = 0;
    while (dots < cut && ref[dots] == '.')
        dots++;
    /* The container's reference: "." stays "." (relative), "a.b." becomes "a.b". */
    size_t clen = dots == cut ? cut : cut - 1;
    char where[8];
    bool above = false;
    const wm_ynode *c = wm_yref_target(r, from, ref, clen, where, sizeof where, &above);
    if (!c || c->kind != WM_Y_MAP)
        return;
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < c->count; i++) {
        if (c->items[i]->kind != WM_Y_SCALAR || c->items[i] == from)
            continue;
        size_t d = wm_yedit_distance(ref + cut, len - cut, c->keys[i]);
        if (!best || d < best_d) {
            best = c->keys[i];
            best_d = d;
        }
    }
    if (best)
        snprintf(fix, cap, "point ${...} at an existing scalar key, e.g. ${%.*s%s}", (int)cut,
                 ref, best);
}

static wm_status wm_yresolve_scalar(wm_yresolver *r, wm_ynode *n);

/* The error for a cycle closed by reaching `n` again. */
static wm_status wm_ycycle(wm_yresolver *r, const wm_ynode *n)
{
    size_t start = r->depth;
    while (start > 0 && r->chain[start - 1] != n)
        start--;
    start = start ? start - 1 : 0;
    char msg[sizeof r->err->why], path[192];
    size_t len = 0;
    msg[0] = '\0';
    wm_ybuf_append(msg, sizeof msg, &len, "interpolation cycle: ", 21);
    for (size_t i = start; i < r->depth; i++) {
        wm_ypath_of(r->chain[i], path, sizeof path);
        wm_ybuf_append(msg, sizeof msg, &len, path, strlen(path));
        wm_ybuf_append(msg, sizeof msg, &len, " -> ", 4);
    }
    wm_ypath_of(n, path, sizeof path);
    wm_ybuf_append(msg, sizeof msg, &len, path, strlen(path));
    return wm_yfail_node(r->err, r->chain[start],
                         "replace one of the ${...} in the cycle with a value", "%s", msg);
}

/* A growable string for building interpolated values. */
typedef struct wm_ystr {
    char *s;
    size_t len, cap;
} wm_ystr;

static bool wm_ystr_add(wm_ystr *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) {
            if (cap > SIZE_MAX / 2)
                return false;
            cap *= 2;
        }
        char *p = realloc(b->s, cap);
        if (!p)
            return false;
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
    return true;
}

/* Replaces the interpolations in scalar `n`'s value. */
static wm_status wm_yinterpolate(wm_yresolver *r, wm_ynode *n)
{
    const char *v = n->value;
    size_t len = strlen(v), found = 0;
    wm_ystr out = {0};
    wm_status s = WM_OK;
    static const char fix_syntax[] =
        "write ${a.b.c}, ${.key} or ${..key}; write \\${ for a literal ${";
    for (size_t i = 0; i < len && s == WM_OK;) {
        if (v[i] == '\\' && v[i + 1] == '$' && v[i + 2] == '{') {
            /* \${ is a literal ${ */
            if (!wm_ystr_add(&out, "${", 2))
                s = wm_yoom(r->err);
            i += 3;
            continue;
        }
        if (!(v[i] == '$' && v[i + 1] == '{')) {
            if (!wm_ystr_add(&out, v + i, 1))
                s = wm_yoom(r->err);
            i++;
            continue;
        }
        const char *ref = v + i + 2;
        size_t rlen = strcspn(ref, "}");
        if (ref[rlen] != '}') {
            s = wm_yfail_node(r->err, n, fix_syntax, "'%s' has an unterminated ${", v);
            break;
        }
        if (rlen == 0 || memchr(ref, '$', rlen) || memchr(ref, ':', rlen) ||
            memchr(ref, ' ', rlen)) {
            s = wm_yfail_node(r->err, n, fix_syntax,
                              "'${%.*s}' is not a supported interpolation (only plain paths; "
                              "no nesting, resolvers or spaces)",
                              (int)rlen, ref);
            break;
        }
        char where[256];
        bool above = false;
        wm_ynode *t = wm_yref_target(r, n, ref, rlen, where, sizeof where, &above);
        if (!t) {
            char fix[320];
            wm_ysuggest(r, n, ref, rlen, fix, sizeof fix);
            if (above)
                s = wm_yfail_node(r->err, n, "use fewer dots, or an absolute ${a.b.c}",
                                  "${%.*s} climbs above the document root", (int)rlen, ref);
            else
                s = wm_yfail_node(r->err, n, fix, "${%.*s} refers to %s, which does not exist",
                                  (int)rlen, ref, where);
            break;
        }
        if (t->kind != WM_Y_SCALAR) {
            s = wm_yfail_node(r->err, n, "point ${...} at a scalar inside it",
                              "${%.*s} refers to %s, which is %s; only scalars can be "
                              "interpolated",
                              (int)rlen, ref, where[0] ? where : "the document root",
                              wm_ykind_name(t->kind));
            break;
        }
        if ((s = wm_yresolve_scalar(r, t)) != WM_OK)
            break;
        found++;
        if (i == 0 && 2 + rlen + 1 == len) {
            /* The whole scalar is one interpolation: it becomes the target, flags and all. */
            n->value = t->value;
            n->quoted = t->quoted;
            n->is_null = t->is_null;
            free(out.s);
            return WM_OK;
        }
        if (t->is_null) {
            s = wm_yfail_node(r->err, n, "give the target a value, or do not embed it",
                              "${%.*s} refers to %s, which is null and cannot be part of a "
                              "string",
                              (int)rlen, ref, where);
            break;
        }
        if (!wm_ystr_add(&out, t->value, strlen(t->value)))
            s = wm_yoom(r->err);
        i += 2 + rlen + 1;
    }
    if (s == WM_OK) {
        char *value = wm_yarena_strndup(r->arena, out.s ? out.s : "", out.len);
        if (!value) {
            s = wm_yoom(r->err);
        } else {
            n->value = value;
            if (found) {
                /* Text with interpolations inside is a string, as in OmegaConf. */
                n->quoted = true;
                n->is_null = false;
            }
        }
    }
    free(out.s);
    return s;
}

static wm_status wm_yresolve_scalar(wm_yresolver *r, wm_ynode *n)
{
    wm_ynode_x *x = wm_ynode_priv(n);
    if (x->state == WM_YS_DONE)
        return WM_OK;
    if (x->state == WM_YS_ACTIVE)
        return wm_ycycle(r, n);
    if (!strstr(n->value, "${")) {
        x->state = WM_YS_DONE;
        return WM_OK;
    }
    if (r->depth == WM_YAML_MAX_CHAIN)
        return wm_yfail_node(r->err, n, "point the reference at a value directly",
                             "more than %d interpolations lead to each other",
                             WM_YAML_MAX_CHAIN);
    x->state = WM_YS_ACTIVE;
    r->chain[r->depth++] = n;
    wm_status s = wm_yinterpolate(r, n);
    r->depth--;
    if (s == WM_OK)
        x->state = WM_YS_DONE;
    return s;
}

static wm_status wm_yresolve_tree(wm_yresolver *r, wm_ynode *n)
{
    if (n->kind == WM_Y_SCALAR)
        return wm_yresolve_scalar(r, n);
    for (size_t i = 0; i < n->count; i++) {
        wm_status s = wm_yresolve_tree(r, n->items[i]);
        if (s != WM_OK)
            return s;
    }
    return WM_OK;
}

wm_status wm_yaml_resolve(wm_ydoc *doc, wm_error *err)
{
    if (!doc || !doc->root)
        return wm_yfail(err, WM_E_INTERNAL, "wm_yaml_resolve", NULL, NULL, 0, 0,
                        "called without a loaded document");
    wm_yresolver r = {.root = doc->root, .arena = doc->arena, .err = err};
    return wm_yresolve_tree(&r, doc->root);
}

/* ---- typed reads ------------------------------------------------------------------------- */

void wm_ynode_mark(const wm_ynode *n, wm_error *err)
{
    if (!n || !err)
        return;
    snprintf(err->file, sizeof err->file, "%s", n->file ? n->file : "");
    err->line = n->line;
    err->column = n->column;
}

/* The checks every typed read shares: present, a scalar, and unless `any_scalar` also not null
 * and not quoted. `expected` names the wanted form ("a whole number"); `fix` says how to write
 * it. */
static wm_status wm_yscalar_check(const wm_ynode *n, const char *what, const char *expected,
                                  const char *fix, bool any_scalar, wm_error *err)
{
    if (!n)
        return wm_error_set(err, WM_E_INPUT, what, fix, "is missing; expected %s", expected);
    if (n->kind != WM_Y_SCALAR) {
        wm_error_set(err, WM_E_INPUT, what, fix, "is %s; expected %s", wm_ykind_name(n->kind),
                     expected);
    } else if (any_scalar) {
        return WM_OK;
    } else if (n->is_null || !n->value) {
        wm_error_set(err, WM_E_INPUT, what, fix, "has no value; expected %s", expected);
    } else if (n->quoted) {
        char quoted_fix[320];
        snprintf(quoted_fix, sizeof quoted_fix, "write it without quotes; %s", fix);
        wm_error_set(err, WM_E_INPUT, what, quoted_fix, "\"%s\" is a string; expected %s",
                     n->value, expected);
    } else {
        return WM_OK;
    }
    wm_ynode_mark(n, err);
    return WM_E_INPUT;
}

wm_status wm_ynode_u64(const wm_ynode *n, const char *what, uint64_t min, uint64_t max,
                       uint64_t *out, wm_error *err)
{
    char fix[96];
    if (max == UINT64_MAX)
        snprintf(fix, sizeof fix, "use a whole number >= %llu", (unsigned long long)min);
    else
        snprintf(fix, sizeof fix, "use a whole number from %llu to %llu",
                 (unsigned long long)min, (unsigned long long)max);
    wm_status s = wm_yscalar_check(n, what, "a whole number", fix, false, err);
    if (s == WM_OK && (s = wm_parse_u64(n->value, what, min, max, out, err)) != WM_OK)
        wm_ynode_mark(n, err);
    return s;
}

wm_status wm_ynode_double(const wm_ynode *n, const char *what, double *out, wm_error *err)
{
    wm_status s = wm_yscalar_check(n, what, "a number",
                                   "use a finite decimal number such as 0.05 or 1e-6", false,
                                   err);
    if (s == WM_OK && (s = wm_parse_double(n->value, what, out, err)) != WM_OK)
        wm_ynode_mark(n, err);
    return s;
}

wm_status wm_ynode_bool(const wm_ynode *n, const char *what, bool *out, wm_error *err)
{
    static const char fix[] = "write true or false";
    wm_status s = wm_yscalar_check(n, what, "true or false", fix, false, err);
    if (s != WM_OK)
        return s;
    if (!strcmp(n->value, "true") || !strcmp(n->value, "false")) {
        *out = n->value[0] == 't';
        return WM_OK;
    }
    /* YAML 1.1 spellings read as booleans by some tools; here they are rejected, not guessed. */
    static const char *const yaml11[] = {"y", "yes", "n", "no", "on", "off", "true", "false"};
    bool looks_bool = false;
    for (size_t i = 0; i < sizeof yaml11 / sizeof yaml11[0]; i++)
        if (!strcasecmp(n->value, yaml11[i]))
            looks_bool = true;
    wm_error_set(err, WM_E_INPUT, what, fix,
                 looks_bool ? "'%s' is not a boolean here; only true and false are"
                            : "'%s' is not true or false",
                 n->value);
    wm_ynode_mark(n, err);
    return WM_E_INPUT;
}

wm_status wm_ynode_string(const wm_ynode *n, const char *what, const char **out, wm_error *err)
{
    wm_status s = wm_yscalar_check(n, what, "a string", "write a single value, e.g. name: text",
                                   true, err);
    if (s == WM_OK)
        *out = n->value ? n->value : "";
    return s;
}

wm_status wm_yaml_load_layered(const char *text, size_t len, const char *name,
                               const char *user_path, const char *flag, wm_ydoc **out,
                               wm_error *err)
{
    *out = NULL;
    wm_ydoc *doc = NULL, *user = NULL;
    wm_status s = wm_yaml_load_string(text, len, name, &doc, err);
    if (s == WM_OK && user_path) {
        if (!*user_path)
            s = wm_error_set(err, WM_E_INPUT, flag, "name a YAML file", "is empty");
        else
            s = wm_yaml_load_file(user_path, &user, err);
        if (s == WM_OK)
            s = wm_yaml_merge(doc, user, err);
        wm_yaml_free(user);
    }
    if (s == WM_OK)
        s = wm_yaml_resolve(doc, err);
    if (s != WM_OK) {
        wm_yaml_free(doc);
        return s;
    }
    *out = doc;
    return WM_OK;
}

wm_status wm_ynode_expect_map(const wm_ynode *n, const char *what, wm_error *err)
{
    if (n && n->kind == WM_Y_MAP)
        return WM_OK;
    wm_error_set(err, WM_E_INPUT, what, "write it as a mapping of key: value lines",
                 "must be a mapping");
    if (n)
        wm_ynode_mark(n, err);
    return WM_E_INPUT;
}

wm_status wm_ymap_unknown_key(const wm_ynode *map, size_t i, const char *path, const char *known,
                              wm_error *err)
{
    char what[192];
    snprintf(what, sizeof what, "%s%s%s", path, path[0] ? "." : "", map->keys[i]);
    char fix[320];
    snprintf(fix, sizeof fix, "known keys: %s", known);
    wm_error_set(err, WM_E_INPUT, what, fix, "unknown key");
    if (err) {
        /* after a merge a mapping holds keys from several files: the item knows its own */
        const char *file = map->items[i]->file ? map->items[i]->file : map->file;
        snprintf(err->file, sizeof err->file, "%s", file ? file : "");
        err->line = map->key_lines[i];
        err->column = map->key_columns[i];
    }
    return WM_E_INPUT;
}

wm_status wm_ymap_check_keys(const wm_ynode *map, const char *path, const char *known,
                             wm_error *err)
{
    for (size_t i = 0; i < map->count; i++) {
        const size_t n = strlen(map->keys[i]);
        bool ok = false;
        for (const char *p = known; *p && !ok;) {
            const size_t len = strcspn(p, ",");
            ok = len == n && strncmp(p, map->keys[i], n) == 0;
            p += len;
            while (*p == ',' || *p == ' ')
                p++;
        }
        if (!ok)
            return wm_ymap_unknown_key(map, i, path, known, err);
    }
    return WM_OK;
}

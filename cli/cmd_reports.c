/* cmd_reports.c — `wanmeter hotspots FILE` and `wanmeter compare A B`: they read report.json
 * files back (src/report_read.c) and recompute from the modules array, never from the stored
 * hotspots. Counts and deltas are exact integers (a difference of two counts <= INT64_MAX fits
 * in int64_t); shares and relative changes are doubles derived at the end. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "checked.h"
#include "cli.h"
#include "parse.h"
#include "report_read.h"

#define WRAP_WIDTH 99

static const char hotspots_help[] =
    "usage: wanmeter hotspots FILE [--top N] [--format table|json|md]\n"
    "\n"
    "Where the FLOPs of a generation go, recomputed from the modules of a report.json written by\n"
    "'wanmeter report': the top N leaf modules (modules no other module names as parent) by\n"
    "whole-generation FLOPs (calls x FLOPs per call), and the top 5 categories, with their\n"
    "shares of totals.flops.\n"
    "\n"
    "  --top N             modules to list (default 10)\n"
    "  --format F          table (default) | json | md\n";

static const char compare_help[] =
    "usage: wanmeter compare A B [--top N] [--format table|json|md]\n"
    "\n"
    "Differences from report A to report B (report.json files written by 'wanmeter report'):\n"
    "the totals (absolute and relative change), whole-generation FLOPs per category, the top N\n"
    "leaf modules present in both by |change|, the modules only in A or only in B, and which\n"
    "layers the change comes from. Deltas are B - A, exact. Reports of different models or\n"
    "counting modes can be compared; the output says so.\n"
    "\n"
    "  --top N             modules to list (default 10)\n"
    "  --format F          table (default) | json | md\n";

typedef enum { FMT_TABLE, FMT_JSON, FMT_MD } out_format;

typedef unsigned long long ull;

/* ---- arguments ------------------------------------------------------------------------------ */

/* Parses `[FILE ...] [--top N] [--format F] [--help]`. Returns -1 to go on, else an exit code. */
static int parse_args(const char *cmd, const char *help, int argc, char **argv, int npos,
                      const char **pos, size_t *top, out_format *fmt)
{
    const char *top_s = NULL, *fmt_s = NULL;
    int got = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(help, stdout);
            return EXIT_OK;
        }
        if (strcmp(argv[i], "--") == 0) {
            for (i++; i < argc; i++) {
                if (got == npos)
                    return cli_usage_error(cmd, argv[i], "unexpected argument");
                pos[got++] = argv[i];
            }
            break;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            int r = cli_flag_value(cmd, argc, argv, &i, "--top", &top_s);
            if (r == 0)
                r = cli_flag_value(cmd, argc, argv, &i, "--format", &fmt_s);
            if (r < 0)
                return EXIT_USAGE;
            if (r == 0)
                return cli_usage_error(cmd, argv[i], "unknown flag");
            continue;
        }
        if (got == npos)
            return cli_usage_error(cmd, argv[i], "unexpected argument");
        pos[got++] = argv[i];
    }
    if (got < npos)
        return cli_usage_error(cmd, npos == 1 ? "FILE" : got == 0 ? "A B" : "B",
                               npos == 1 ? "missing the report.json to read"
                                         : "missing the report.json files to compare");
    *fmt = FMT_TABLE;
    if (fmt_s) {
        if (strcmp(fmt_s, "table") == 0)
            *fmt = FMT_TABLE;
        else if (strcmp(fmt_s, "json") == 0)
            *fmt = FMT_JSON;
        else if (strcmp(fmt_s, "md") == 0)
            *fmt = FMT_MD;
        else
            return cli_usage_error(cmd, "--format", "use table, json or md");
    }
    *top = 10;
    if (top_s) {
        wm_error err;
        wm_error_clear(&err);
        uint64_t v = 0;
        if (wm_parse_u64(top_s, "--top", 1, 1000000, &v, &err) != WM_OK)
            return cli_fail(&err);
        *top = (size_t)v;
    }
    return -1;
}

/* ---- formatting ------------------------------------------------------------------------------ */

static uint64_t magnitude(int64_t d) { return d < 0 ? (uint64_t)(-(d + 1)) + 1 : (uint64_t)d; }

/* "+1,234" / "-1,234" / "0" */
static const char *sgrouped(char *out, size_t cap, int64_t d)
{
    char g[40];
    wm_fmt_grouped(g, sizeof g, magnitude(d));
    snprintf(out, cap, "%s%s", d > 0 ? "+" : d < 0 ? "-" : "", g);
    return out;
}

/* "+12.9 T" / "-3.1 GB" / "0" */
static const char *ssi(char *out, size_t cap, int64_t d, const char *unit)
{
    char m[40];
    if (d == 0) {
        snprintf(out, cap, "0%s%s", unit[0] ? " " : "", unit);
        return out;
    }
    wm_fmt_si(m, sizeof m, (double)magnitude(d), unit);
    snprintf(out, cap, "%s%s", d > 0 ? "+" : "-", m);
    return out;
}

/* A share for display: "-" for 0, "<0.1%" when it rounds to 0. */
static const char *pct(char *out, size_t cap, double share)
{
    if (share == 0)
        snprintf(out, cap, "-");
    else if (share > 0 && share < 0.0005)
        snprintf(out, cap, "<0.1%%");
    else if (share < 0 && share > -0.0005)
        snprintf(out, cap, "-<0.1%%");
    else
        snprintf(out, cap, "%.1f%%", 100.0 * share);
    return out;
}

/* Relative change d / a: "+100.0%", "new" when a == 0 and d != 0. */
static const char *rel(char *out, size_t cap, int64_t d, uint64_t a)
{
    if (d == 0)
        snprintf(out, cap, "0.0%%");
    else if (a == 0)
        snprintf(out, cap, "new");
    else
        snprintf(out, cap, "%+.1f%%", 100.0 * (double)d / (double)a);
    return out;
}

static json_t *rel_json(int64_t d, uint64_t a)
{
    return a == 0 ? (d == 0 ? json_real(0.0) : json_null()) : json_real((double)d / (double)a);
}

/* ---- a small table: aligned text or Markdown ------------------------------------------------ */

#define TAB_MAX_COLS 8

typedef struct table {
    int ncols;
    char align[TAB_MAX_COLS + 1];
    char **cells;
    size_t rows, cap;
    bool failed;
} table;

static void tab_init(table *t, const char *align)
{
    memset(t, 0, sizeof *t);
    t->ncols = (int)strlen(align);
    memcpy(t->align, align, (size_t)t->ncols);
}

static void tab_add(table *t, const char *const *cells)
{
    if (t->failed)
        return;
    if (t->rows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, cap * (size_t)t->ncols * sizeof *c);
        if (!c) {
            t->failed = true;
            return;
        }
        t->cells = c;
        t->cap = cap;
    }
    for (int k = 0; k < t->ncols; k++) {
        const char *s = cells[k] ? cells[k] : "";
        char *copy = malloc(strlen(s) + 1);
        if (copy)
            memcpy(copy, s, strlen(s) + 1);
        else
            t->failed = true;
        t->cells[t->rows * (size_t)t->ncols + (size_t)k] = copy;
    }
    t->rows++;
}

static void tab_free(table *t)
{
    for (size_t i = 0; i < t->rows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

/* Row 0 is the header. Text: two spaces between columns, a rule under the header. */
static void tab_render(const table *t, wm_buf *b, bool md, const char *indent)
{
    if (t->failed) {
        b->failed = true;
        return;
    }
    size_t w[TAB_MAX_COLS] = {0}, total = 0;
    for (size_t r = 0; r < t->rows; r++)
        for (int k = 0; k < t->ncols; k++) {
            size_t cw = wm_text_width(t->cells[r * (size_t)t->ncols + (size_t)k]);
            if (cw > w[k])
                w[k] = cw;
        }
    for (int k = 0; k < t->ncols; k++)
        total += w[k] + (k ? 2 : 0);
    for (size_t r = 0; r < t->rows; r++) {
        if (md)
            wm_buf_puts(b, "|");
        else
            wm_buf_puts(b, indent);
        size_t line_start = b->len;
        for (int k = 0; k < t->ncols; k++) {
            const char *s = t->cells[r * (size_t)t->ncols + (size_t)k];
            if (md) {
                wm_buf_puts(b, " ");
                for (const char *p = s; *p; p++)
                    wm_buf_puts(b, *p == '|' ? "\\|" : (char[2]){*p, '\0'});
                wm_buf_puts(b, " |");
                continue;
            }
            size_t pad = w[k] - wm_text_width(s);
            if (k > 0)
                wm_buf_puts(b, "  ");
            if (t->align[k] == 'r')
                wm_buf_repeat(b, ' ', pad);
            wm_buf_puts(b, s);
            if (t->align[k] != 'r')
                wm_buf_repeat(b, ' ', pad);
        }
        /* no trailing spaces */
        while (!b->failed && b->len > line_start && b->data[b->len - 1] == ' ')
            b->len--;
        if (!b->failed && b->data)
            b->data[b->len] = '\0';
        wm_buf_puts(b, "\n");
        if (r == 0) {
            if (md) {
                wm_buf_puts(b, "|");
                for (int k = 0; k < t->ncols; k++)
                    wm_buf_puts(b, t->align[k] == 'r' ? "---:|" : "---|");
            } else {
                wm_buf_puts(b, indent);
                wm_buf_repeat(b, '-', total);
            }
            wm_buf_puts(b, "\n");
        }
    }
}

/* ---- output --------------------------------------------------------------------------------- */

static int emit(wm_buf *b)
{
    char *text = wm_buf_take(b);
    wm_error err;
    wm_error_clear(&err);
    if (!text) {
        wm_error_set(&err, WM_E_INTERNAL, "output", NULL, "out of memory");
        return cli_fail(&err);
    }
    fputs(text, stdout);
    free(text);
    if (fflush(stdout) != 0) {
        wm_error_set(&err, WM_E_IO, "stdout", NULL, "write failed");
        return cli_fail(&err);
    }
    return EXIT_OK;
}

static int emit_json(json_t *root, bool ok)
{
    wm_buf b = {0};
    char *text = ok && root ? json_dumps(root, JSON_INDENT(1) | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(root);
    if (!text) {
        wm_error err;
        wm_error_clear(&err);
        wm_error_set(&err, WM_E_INTERNAL, "json", NULL, "out of memory");
        return cli_fail(&err);
    }
    wm_buf_puts(&b, text);
    wm_buf_puts(&b, "\n");
    free(text);
    return emit(&b);
}

/* jansson helpers that remember a failed allocation. */
static void put(json_t *o, const char *key, json_t *v, bool *ok)
{
    if (!o || !v || json_object_set_new(o, key, v) != 0)
        *ok = false;
}

static void push(json_t *a, json_t *v, bool *ok)
{
    if (!a || !v || json_array_append_new(a, v) != 0)
        *ok = false;
}

static json_t *u64j(uint64_t v) { return json_integer((json_int_t)v); }
static json_t *i64j(int64_t v) { return json_integer((json_int_t)v); }

/* "wan2-1-ci-tiny: batch 1, 4 frames, 256×256, 1 step, cfg on, text_len 64, bf16, mode torch" */
static void workload_desc(const wm_report_file *f, char *out, size_t cap)
{
    const wm_workload *w = &f->workload;
    snprintf(out, cap,
             "%s: batch %llu, %llu frames, %llu×%llu, %llu step%s, cfg %s, text_len %llu, %s, "
             "mode %s",
             w->profile_id, (ull)w->batch_size, (ull)w->num_frames, (ull)w->height, (ull)w->width,
             (ull)w->num_inference_steps, w->num_inference_steps == 1 ? "" : "s",
             w->cfg ? "on" : "off", (ull)w->text_len, wm_dtype_name(w->dtype),
             wm_mode_name(w->mode));
}

static json_t *file_json(const wm_report_file *f, bool *ok)
{
    json_t *o = json_object();
    put(o, "file", json_string(f->name), ok);
    put(o, "model", json_string(f->model_id), ok);
    put(o, "profile_id", json_string(f->workload.profile_id), ok);
    put(o, "mode", json_string(wm_mode_name(f->workload.mode)), ok);
    put(o, "dtype", json_string(wm_dtype_name(f->workload.dtype)), ok);
    put(o, "total_flops", u64j(f->totals.flops), ok);
    put(o, "forwards", u64j(f->totals.forwards), ok);
    return o;
}

/* ---- hotspots --------------------------------------------------------------------------------- */

static int hotspots_out(const wm_report_file *f, const wm_file_hotspots *h, out_format fmt)
{
    const size_t ncat = h->category_count < 5 ? h->category_count : 5;
    char a[64], b[64], c[64], d[64], rank[32], line[1024], id[600];
    if (fmt == FMT_JSON) {
        bool ok = true;
        json_t *root = json_object(), *mods = json_array(), *cats = json_array();
        put(root, "report", file_json(f, &ok), &ok);
        put(root, "module_count", u64j(f->module_count), &ok);
        put(root, "leaf_count", u64j(h->leaf_count), &ok);
        for (size_t i = 0; i < h->module_count; i++) {
            const wm_rmodule *m = &f->modules[h->modules[i].module];
            json_t *e = json_object();
            put(e, "rank", u64j(i + 1), &ok);
            put(e, "id", json_string(h->modules[i].id), &ok);
            put(e, "instances", u64j(h->modules[i].instances), &ok);
            put(e, "category", json_string(m->category), &ok);
            put(e, "op", json_string(m->op), &ok);
            put(e, "calls", u64j(m->calls), &ok);
            put(e, "flops_per_call", u64j(m->flops), &ok);
            put(e, "flops", u64j(h->modules[i].flops), &ok);
            put(e, "share", json_real(h->modules[i].share), &ok);
            push(mods, e, &ok);
        }
        for (size_t i = 0; i < ncat; i++) {
            json_t *e = json_object();
            put(e, "category", json_string(h->categories[i].category), &ok);
            put(e, "flops", u64j(h->categories[i].flops), &ok);
            put(e, "share", json_real(h->categories[i].share), &ok);
            push(cats, e, &ok);
        }
        put(root, "modules", mods, &ok);
        put(root, "categories", cats, &ok);
        return emit_json(root, ok);
    }

    const bool md = fmt == FMT_MD;
    wm_buf out = {0};
    table t;
    workload_desc(f, line, sizeof line);
    if (md) {
        wm_buf_printf(&out, "# Hotspots: %s × %s\n\n", f->model_id, f->workload.profile_id);
        wm_buf_printf(&out, "- **Report** `%s`\n- **Model** %s (%s)\n- **Workload** %s\n", f->name,
                      f->model_id, f->model_variant, line);
        char nm[40], nl[40];
        wm_buf_printf(&out, "- **Total** %s per generation (%s) over %llu forwards; %s modules, "
                            "%s leaves\n\n",
                      wm_fmt_si(a, sizeof a, (double)f->totals.flops, "FLOP"),
                      wm_fmt_grouped(b, sizeof b, f->totals.flops), (ull)f->totals.forwards,
                      wm_fmt_grouped(nm, sizeof nm, f->module_count), wm_fmt_grouped(nl, sizeof nl, h->leaf_count));
        wm_buf_printf(&out, "## Top %zu modules (whole generation: calls × FLOPs per call)\n\n",
                      h->module_count);
    } else {
        wm_buf_printf(&out, "Hotspots of %s\n", f->name);
        wm_buf_printf(&out, "model     %s (%s)\n", f->model_id, f->model_variant);
        wm_buf_wrap(&out, "workload  ", "          ", line, WRAP_WIDTH, false);
        wm_buf_printf(&out, "total     %s per generation (%s) over %llu forwards\n",
                      wm_fmt_si(a, sizeof a, (double)f->totals.flops, "FLOP"),
                      wm_fmt_grouped(b, sizeof b, f->totals.flops), (ull)f->totals.forwards);
        char nm[40], nl[40];
        wm_buf_printf(&out, "          %s modules, %s leaves\n\n",
                      wm_fmt_grouped(nm, sizeof nm, f->module_count), wm_fmt_grouped(nl, sizeof nl, h->leaf_count));
        wm_buf_printf(&out, "Top %zu modules (whole generation: calls × FLOPs per call)\n",
                      h->module_count);
    }
    tab_init(&t, "rlrlrrrr");
    tab_add(&t, (const char *[]){"#", "module", "×", "category", "calls", "FLOPs/call", "FLOPs",
                                 "share"});
    for (size_t i = 0; i < h->module_count; i++) {
        const wm_rmodule *m = &f->modules[h->modules[i].module];
        char inst[16];
        snprintf(rank, sizeof rank, "%zu", i + 1);
        snprintf(inst, sizeof inst, "%u", h->modules[i].instances);
        snprintf(id, sizeof id, md ? "`%s`" : "%s", h->modules[i].id);
        snprintf(c, sizeof c, "%llu", (ull)m->calls);
        tab_add(&t, (const char *[]){rank, id, inst, m->category, c,
                                     wm_fmt_si(a, sizeof a, (double)m->flops, ""),
                                     wm_fmt_si(b, sizeof b, (double)h->modules[i].flops, ""),
                                     pct(d, sizeof d, h->modules[i].share)});
    }
    tab_render(&t, &out, md, "");
    tab_free(&t);
    if (h->module_count == 0)
        wm_buf_puts(&out, md ? "\nNo leaf module has FLOPs.\n" : "(no leaf module has FLOPs)\n");

    if (md)
        wm_buf_printf(&out, "\n## Top %zu categories (whole generation)\n\n", ncat);
    else
        wm_buf_printf(&out, "\nTop %zu categories (whole generation)\n", ncat);
    tab_init(&t, "lrrr");
    tab_add(&t, (const char *[]){"category", "FLOPs", "exact", "share"});
    for (size_t i = 0; i < ncat; i++)
        tab_add(&t, (const char *[]){h->categories[i].category,
                                     wm_fmt_si(a, sizeof a, (double)h->categories[i].flops, "FLOP"),
                                     wm_fmt_grouped(b, sizeof b, h->categories[i].flops),
                                     pct(d, sizeof d, h->categories[i].share)});
    tab_render(&t, &out, md, "");
    tab_free(&t);
    return emit(&out);
}

int cmd_hotspots(int argc, char **argv)
{
    const char *pos[1] = {NULL};
    size_t top;
    out_format fmt;
    int rc = parse_args("hotspots", hotspots_help, argc, argv, 1, pos, &top, &fmt);
    if (rc >= 0)
        return rc;
    wm_error err;
    wm_error_clear(&err);
    wm_report_file *f = NULL;
    wm_file_hotspots h;
    memset(&h, 0, sizeof h);
    if (wm_report_file_read(pos[0], &f, &err) != WM_OK ||
        wm_report_file_hotspots(f, top, &h, &err) != WM_OK) {
        wm_report_file_free(f);
        return cli_fail(&err);
    }
    rc = hotspots_out(f, &h, fmt);
    wm_file_hotspots_free(&h);
    wm_report_file_free(f);
    return rc;
}

/* ---- compare: the deltas ------------------------------------------------------------------------ */

/* Whole-generation FLOPs of a group of leaves (a category, or an id pattern in a category), in
 * A and in B; each sum is checked, so b - a fits in int64_t. */
typedef struct group {
    char *key;            /* category name, or id pattern */
    const char *category; /* for patterns: their category */
    uint64_t a, b;
    int64_t delta;
    int64_t contrib;      /* delta in the direction of the total change (for the sentence) */
    size_t order;         /* first appearance */
} group;

typedef struct groups {
    group *g;
    size_t n, cap;
} groups;

/* Adds `flops` to side A or B of group `key` (in `category`). False on overflow or OOM. */
static bool group_add(groups *gs, const char *key, const char *category, bool side_b,
                      uint64_t flops)
{
    size_t i = 0;
    while (i < gs->n && !(strcmp(gs->g[i].key, key) == 0 &&
                          (!category || strcmp(gs->g[i].category, category) == 0)))
        i++;
    if (i == gs->n) {
        if (gs->n == gs->cap) {
            size_t cap = gs->cap ? gs->cap * 2 : 32;
            group *g = realloc(gs->g, cap * sizeof *g);
            if (!g)
                return false;
            gs->g = g;
            gs->cap = cap;
        }
        char *k = malloc(strlen(key) + 1);
        if (!k)
            return false;
        memcpy(k, key, strlen(key) + 1);
        gs->g[gs->n++] = (group){.key = k, .category = category ? category : "", .order = i};
    }
    uint64_t *dst = side_b ? &gs->g[i].b : &gs->g[i].a;
    return wm_add(*dst, flops, dst);
}

static void groups_free(groups *gs)
{
    for (size_t i = 0; i < gs->n; i++)
        free(gs->g[i].key);
    free(gs->g);
    memset(gs, 0, sizeof *gs);
}

static int64_t diff(uint64_t a, uint64_t b)
{
    int64_t d = 0;
    /* a, b <= WM_COUNT_MAX = INT64_MAX, so b - a is in [-INT64_MAX, INT64_MAX] */
    if (__builtin_sub_overflow((int64_t)b, (int64_t)a, &d))
        d = 0; /* unreachable */
    return d;
}

/* Sort key: |delta| descending, then first appearance. */
static int by_abs_delta(const void *x, const void *y)
{
    const group *a = x, *b = y;
    uint64_t ma = magnitude(a->delta), mb = magnitude(b->delta);
    if (ma != mb)
        return ma > mb ? -1 : 1;
    return (a->order > b->order) - (a->order < b->order);
}

/* Sort key for the sentence: contribution in the direction of the total change, largest first. */
static int by_contribution(const void *x, const void *y)
{
    const group *a = x, *b = y;
    if (a->contrib != b->contrib)
        return a->contrib > b->contrib ? -1 : 1;
    return (a->order > b->order) - (a->order < b->order);
}

typedef struct mod_delta {
    size_t ia, ib;
    int64_t delta;
} mod_delta;

static int by_mod_delta(const void *x, const void *y)
{
    const mod_delta *a = x, *b = y;
    uint64_t ma = magnitude(a->delta), mb = magnitude(b->delta);
    if (ma != mb)
        return ma > mb ? -1 : 1;
    return (a->ia > b->ia) - (a->ia < b->ia);
}

typedef struct comparison {
    const wm_report_file *A, *B;
    groups cats, pats;        /* leaf FLOPs per category and per (pattern, category) */
    mod_delta *common;        /* leaves present in both, changed ones sorted by |delta| */
    size_t ncommon, nchanged;
    size_t *only_a, *only_b;  /* module indices, file order */
    size_t nonly_a, nonly_b;
    uint64_t leaves_a, leaves_b; /* whole-generation FLOPs over all leaves */
    int64_t leaf_delta;
    char sentence[2048];
} comparison;

static void comparison_free(comparison *c)
{
    groups_free(&c->cats);
    groups_free(&c->pats);
    free(c->common);
    free(c->only_a);
    free(c->only_b);
}

static wm_status tally(comparison *c, const wm_report_file *f, bool side_b, wm_error *err)
{
    char pat[600];
    for (size_t i = 0; i < f->module_count; i++) {
        const wm_rmodule *m = &f->modules[i];
        if (!m->leaf)
            continue;
        wm_id_pattern(m->id, pat, sizeof pat);
        uint64_t *sum = side_b ? &c->leaves_b : &c->leaves_a;
        if (!group_add(&c->cats, m->category, NULL, side_b, m->generation_flops) ||
            !group_add(&c->pats, pat, m->category, side_b, m->generation_flops) ||
            !wm_add(*sum, m->generation_flops, sum))
            return wm_error_set(err, WM_E_INPUT, f->name, NULL,
                                "summing whole-generation FLOPs overflows (or out of memory)");
    }
    return WM_OK;
}

/* "transformer.blocks.*.attn1.to_q, transformer.blocks.*.attn1.to_out.0 and 4 more" */
static void pattern_list(const comparison *c, const char *category, int sign, char *out,
                         size_t cap)
{
    size_t listed = 0, more = 0, o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < c->pats.n; i++) {
        const group *g = &c->pats.g[i];
        if (strcmp(g->category, category) != 0 || g->delta == 0 || (g->delta > 0) != (sign > 0))
            continue;
        if (listed < 2) {
            int k = snprintf(out + o, cap - o, "%s%s", listed ? ", " : "", g->key);
            if (k > 0 && (size_t)k < cap - o)
                o += (size_t)k;
            listed++;
        } else {
            more++;
        }
    }
    if (more)
        snprintf(out + o, cap - o, " and %zu more", more);
}

/* The sentence that says which layers the change comes from. */
static void explain(comparison *c)
{
    char d[64], r[64], pl[1024], part[1400];
    const int64_t total = c->leaf_delta;
    size_t o = 0;
    if (total == 0) {
        if (c->nchanged == 0 && c->nonly_a == 0 && c->nonly_b == 0) {
            snprintf(c->sentence, sizeof c->sentence,
                     "No FLOP change: every leaf module has the same whole-generation FLOPs in "
                     "both reports.");
            return;
        }
        snprintf(c->sentence, sizeof c->sentence,
                 "The whole-generation FLOPs of the leaves are unchanged: the module changes "
                 "offset each other.");
        return;
    }
    const int sign = total < 0 ? -1 : 1;
    for (size_t i = 0; i < c->cats.n; i++)
        c->cats.g[i].contrib = sign * c->cats.g[i].delta;
    for (size_t i = 0; i < c->pats.n; i++)
        c->pats.g[i].contrib = sign * c->pats.g[i].delta;
    qsort(c->cats.g, c->cats.n, sizeof *c->cats.g, by_contribution);
    qsort(c->pats.g, c->pats.n, sizeof *c->pats.g, by_contribution);
    ssi(d, sizeof d, total, "FLOP");
    rel(r, sizeof r, total, c->leaves_a);
    double covered = 0;
    for (size_t i = 0, used = 0; i < c->cats.n && used < 3; i++) {
        const group *g = &c->cats.g[i];
        if (g->delta == 0 || (g->delta > 0) != (total > 0))
            break;
        const double share = (double)g->delta / (double)total;
        pattern_list(c, g->key, sign, pl, sizeof pl);
        if (used == 0)
            snprintf(part, sizeof part, "%.1f%% of the %s change (%s) is in %s (%s)", 100.0 * share,
                     d, r, g->key, pl);
        else
            snprintf(part, sizeof part, "; %.1f%% in %s (%s)", 100.0 * share, g->key, pl);
        int k = snprintf(c->sentence + o, sizeof c->sentence - o, "%s", part);
        if (k > 0 && (size_t)k < sizeof c->sentence - o)
            o += (size_t)k;
        covered += share;
        used++;
        if (covered >= 0.95)
            break;
    }
    if (o + 2 < sizeof c->sentence) {
        c->sentence[o++] = '.';
        c->sentence[o] = '\0';
    }
}

static wm_status compare_files(const wm_report_file *A, const wm_report_file *B, comparison *c,
                               wm_error *err)
{
    memset(c, 0, sizeof *c);
    c->A = A;
    c->B = B;
    c->common = calloc(A->module_count ? A->module_count : 1, sizeof *c->common);
    c->only_a = calloc(A->module_count ? A->module_count : 1, sizeof *c->only_a);
    c->only_b = calloc(B->module_count ? B->module_count : 1, sizeof *c->only_b);
    if (!c->common || !c->only_a || !c->only_b)
        return wm_error_set(err, WM_E_INTERNAL, "compare", NULL, "out of memory");
    for (size_t i = 0; i < A->module_count; i++) {
        int32_t j = wm_report_file_find(B, A->modules[i].id);
        if (j < 0)
            c->only_a[c->nonly_a++] = i;
        else if (A->modules[i].leaf)
            c->common[c->ncommon++] =
                (mod_delta){i, (size_t)j, diff(A->modules[i].generation_flops,
                                               B->modules[j].generation_flops)};
    }
    for (size_t j = 0; j < B->module_count; j++)
        if (wm_report_file_find(A, B->modules[j].id) < 0)
            c->only_b[c->nonly_b++] = j;
    qsort(c->common, c->ncommon, sizeof *c->common, by_mod_delta);
    while (c->nchanged < c->ncommon && c->common[c->nchanged].delta != 0)
        c->nchanged++;
    wm_status s = tally(c, A, false, err);
    if (s == WM_OK)
        s = tally(c, B, true, err);
    if (s != WM_OK)
        return s;
    for (size_t i = 0; i < c->cats.n; i++)
        c->cats.g[i].delta = diff(c->cats.g[i].a, c->cats.g[i].b);
    for (size_t i = 0; i < c->pats.n; i++)
        c->pats.g[i].delta = diff(c->pats.g[i].a, c->pats.g[i].b);
    c->leaf_delta = diff(c->leaves_a, c->leaves_b);
    explain(c);
    /* the category table: by |delta|, then first appearance */
    qsort(c->cats.g, c->cats.n, sizeof *c->cats.g, by_abs_delta);
    return WM_OK;
}

/* ---- compare: output ----------------------------------------------------------------------------- */

typedef struct total_row {
    const char *label, *key, *unit;
    uint64_t a, b;
} total_row;

/* Lines that say what differs between the two reports beyond the numbers. */
static size_t differences(const wm_report_file *A, const wm_report_file *B, char lines[][320],
                          size_t max)
{
    size_t n = 0;
    const wm_workload *a = &A->workload, *b = &B->workload;
    if (strcmp(A->model_id, B->model_id) != 0 && n < max)
        snprintf(lines[n++], 320, "different models: %s vs %s", A->model_id, B->model_id);
    if (a->mode != b->mode && n < max)
        snprintf(lines[n++], 320,
                 "different counting modes: %s vs %s (FLOPs are counted under different rules)",
                 wm_mode_name(a->mode), wm_mode_name(b->mode));
    char changed[320] = "";
    size_t o = 0;
    const struct {
        const char *name;
        uint64_t x, y;
    } f[] = {
        {"batch_size", a->batch_size, b->batch_size},
        {"num_frames", a->num_frames, b->num_frames},
        {"height", a->height, b->height},
        {"width", a->width, b->width},
        {"num_inference_steps", a->num_inference_steps, b->num_inference_steps},
        {"text_len", a->text_len, b->text_len},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].x != f[i].y && o < sizeof changed) {
            int k = snprintf(changed + o, sizeof changed - o, "%s%s %llu → %llu", o ? ", " : "",
                             f[i].name, (ull)f[i].x, (ull)f[i].y);
            o += k > 0 ? (size_t)k : 0;
        }
    if (a->cfg != b->cfg && o < sizeof changed) {
        int k = snprintf(changed + o, sizeof changed - o, "%scfg %s → %s", o ? ", " : "",
                         a->cfg ? "on" : "off", b->cfg ? "on" : "off");
        o += k > 0 ? (size_t)k : 0;
    }
    if (a->dtype != b->dtype && o < sizeof changed) {
        int k = snprintf(changed + o, sizeof changed - o, "%sdtype %s → %s", o ? ", " : "",
                         wm_dtype_name(a->dtype), wm_dtype_name(b->dtype));
        o += k > 0 ? (size_t)k : 0;
    }
    if (n < max)
        snprintf(lines[n++], 320, "workload %s", o ? changed : "unchanged");
    return n;
}

static int compare_json(const comparison *c, const total_row *rows, size_t nrows, size_t top,
                        char diffs[][320], size_t ndiffs)
{
    bool ok = true;
    json_t *root = json_object(), *tot = json_array(), *cats = json_array(), *mods = json_object(),
           *top_arr = json_array(), *notes = json_array();
    put(root, "a", file_json(c->A, &ok), &ok);
    put(root, "b", file_json(c->B, &ok), &ok);
    for (size_t i = 0; i < ndiffs; i++)
        push(notes, json_string(diffs[i]), &ok);
    put(root, "differences", notes, &ok);
    for (size_t i = 0; i < nrows; i++) {
        json_t *e = json_object();
        int64_t d = diff(rows[i].a, rows[i].b);
        put(e, "key", json_string(rows[i].key), &ok);
        put(e, "a", u64j(rows[i].a), &ok);
        put(e, "b", u64j(rows[i].b), &ok);
        put(e, "delta", i64j(d), &ok);
        put(e, "relative", rel_json(d, rows[i].a), &ok);
        push(tot, e, &ok);
    }
    put(root, "totals", tot, &ok);
    for (size_t i = 0; i < c->cats.n; i++) {
        const group *g = &c->cats.g[i];
        if (g->a == 0 && g->b == 0)
            continue;
        json_t *e = json_object();
        put(e, "category", json_string(g->key), &ok);
        put(e, "a", u64j(g->a), &ok);
        put(e, "b", u64j(g->b), &ok);
        put(e, "delta", i64j(g->delta), &ok);
        put(e, "relative", rel_json(g->delta, g->a), &ok);
        put(e, "share_of_delta",
            c->leaf_delta ? json_real((double)g->delta / (double)c->leaf_delta) : json_null(), &ok);
        push(cats, e, &ok);
    }
    put(root, "categories", cats, &ok);
    put(mods, "compared", u64j(c->ncommon), &ok);
    put(mods, "changed", u64j(c->nchanged), &ok);
    for (size_t i = 0; i < c->nchanged && i < top; i++) {
        const mod_delta *m = &c->common[i];
        json_t *e = json_object();
        put(e, "id", json_string(c->A->modules[m->ia].id), &ok);
        put(e, "category", json_string(c->A->modules[m->ia].category), &ok);
        put(e, "a", u64j(c->A->modules[m->ia].generation_flops), &ok);
        put(e, "b", u64j(c->B->modules[m->ib].generation_flops), &ok);
        put(e, "delta", i64j(m->delta), &ok);
        put(e, "relative", rel_json(m->delta, c->A->modules[m->ia].generation_flops), &ok);
        push(top_arr, e, &ok);
    }
    put(mods, "top", top_arr, &ok);
    put(root, "modules", mods, &ok);
    const struct {
        const char *key;
        const wm_report_file *f;
        const size_t *idx;
        size_t n;
    } only[] = {{"only_in_a", c->A, c->only_a, c->nonly_a}, {"only_in_b", c->B, c->only_b, c->nonly_b}};
    for (int k = 0; k < 2; k++) {
        json_t *o = json_object(), *arr = json_array();
        put(o, "count", u64j(only[k].n), &ok);
        for (size_t i = 0; i < only[k].n && i < top; i++) {
            const wm_rmodule *m = &only[k].f->modules[only[k].idx[i]];
            json_t *e = json_object();
            put(e, "id", json_string(m->id), &ok);
            put(e, "flops", u64j(m->generation_flops), &ok);
            push(arr, e, &ok);
        }
        put(o, "modules", arr, &ok);
        put(root, only[k].key, o, &ok);
    }
    put(root, "summary", json_string(c->sentence), &ok);
    return emit_json(root, ok);
}

static int compare_out(const comparison *c, size_t top, out_format fmt)
{
    const wm_report_file *A = c->A, *B = c->B;
    const total_row rows[] = {
        {"FLOPs per generation", "flops", "", A->totals.flops, B->totals.flops},
        {"FLOPs per forward", "flops_per_forward", "", A->totals.flops_per_forward,
         B->totals.flops_per_forward},
        {"parameters", "params", "", A->totals.params, B->totals.params},
        {"weight bytes", "weight_bytes", "B", A->totals.weight_bytes, B->totals.weight_bytes},
        {"peak activations", "peak_activation_bytes", "B", A->totals.peak_activation_bytes,
         B->totals.peak_activation_bytes},
    };
    const size_t nrows = sizeof rows / sizeof rows[0];
    char diffs[4][320];
    size_t ndiffs = differences(A, B, diffs, 4);
    if (fmt == FMT_JSON)
        return compare_json(c, rows, nrows, top, diffs, ndiffs);

    const bool md = fmt == FMT_MD;
    char a[64], b[64], d[64], r[64], ex[64], sh[64], id[600], line[1024];
    wm_buf out = {0};
    table t;
    if (md) {
        wm_buf_printf(&out, "# Compare: `%s` → `%s`\n\n", A->name, B->name);
        workload_desc(A, line, sizeof line);
        wm_buf_printf(&out, "- **A** `%s`: %s, %s\n", A->name, A->model_id, line);
        workload_desc(B, line, sizeof line);
        wm_buf_printf(&out, "- **B** `%s`: %s, %s\n", B->name, B->model_id, line);
        for (size_t i = 0; i < ndiffs; i++)
            wm_buf_printf(&out, "- %s\n", diffs[i]);
        wm_buf_puts(&out, "\n## Totals (Δ = B - A)\n\n");
    } else {
        char head[1400];
        wm_buf_printf(&out, "Compare %s → %s\n", A->name, B->name);
        workload_desc(A, line, sizeof line);
        snprintf(head, sizeof head, "%s: %s, %s", A->name, A->model_id, line);
        wm_buf_wrap(&out, "A  ", "   ", head, WRAP_WIDTH, false);
        workload_desc(B, line, sizeof line);
        snprintf(head, sizeof head, "%s: %s, %s", B->name, B->model_id, line);
        wm_buf_wrap(&out, "B  ", "   ", head, WRAP_WIDTH, false);
        for (size_t i = 0; i < ndiffs; i++)
            wm_buf_wrap(&out, "-  ", "   ", diffs[i], WRAP_WIDTH, false);
        wm_buf_puts(&out, "\nTotals (Δ = B - A)\n");
    }
    tab_init(&t, "lrrrrr");
    tab_add(&t, (const char *[]){"quantity", "A", "B", "Δ", "Δ%", "Δ exact"});
    for (size_t i = 0; i < nrows; i++) {
        int64_t dd = diff(rows[i].a, rows[i].b);
        tab_add(&t, (const char *[]){rows[i].label, wm_fmt_si(a, sizeof a, (double)rows[i].a, rows[i].unit),
                                     wm_fmt_si(b, sizeof b, (double)rows[i].b, rows[i].unit),
                                     ssi(d, sizeof d, dd, rows[i].unit),
                                     rel(r, sizeof r, dd, rows[i].a), sgrouped(ex, sizeof ex, dd)});
    }
    tab_render(&t, &out, md, "");
    tab_free(&t);

    wm_buf_printf(&out, md ? "\n## Categories (whole-generation FLOPs)\n\n"
                           : "\nCategories (whole-generation FLOPs)\n");
    tab_init(&t, "lrrrrr");
    tab_add(&t, (const char *[]){"category", "A", "B", "Δ", "Δ%", "share of Δ"});
    for (size_t i = 0; i < c->cats.n; i++) {
        const group *g = &c->cats.g[i];
        if (g->a == 0 && g->b == 0)
            continue;
        if (c->leaf_delta)
            pct(sh, sizeof sh, (double)g->delta / (double)c->leaf_delta);
        else
            snprintf(sh, sizeof sh, "-");
        tab_add(&t, (const char *[]){g->key, wm_fmt_si(a, sizeof a, (double)g->a, ""),
                                     wm_fmt_si(b, sizeof b, (double)g->b, ""), ssi(d, sizeof d, g->delta, ""),
                                     rel(r, sizeof r, g->delta, g->a), sh});
    }
    tab_render(&t, &out, md, "");
    tab_free(&t);

    const size_t shown = c->nchanged < top ? c->nchanged : top;
    char nc[40], nch[40];
    wm_fmt_grouped(nc, sizeof nc, c->ncommon);
    wm_fmt_grouped(nch, sizeof nch, c->nchanged);
    wm_buf_printf(&out,
                  md ? "\n## Modules in both (top %zu by |Δ| whole-generation FLOPs; %s leaves "
                       "compared, %s changed)\n\n"
                     : "\nModules in both (top %zu by |Δ| whole-generation FLOPs; %s leaves "
                       "compared, %s changed)\n",
                  shown, nc, nch);
    if (shown) {
        tab_init(&t, "lrrrr");
        tab_add(&t, (const char *[]){"module", "A", "B", "Δ", "Δ%"});
        for (size_t i = 0; i < shown; i++) {
            const mod_delta *m = &c->common[i];
            const uint64_t fa = A->modules[m->ia].generation_flops;
            snprintf(id, sizeof id, md ? "`%s`" : "%s", A->modules[m->ia].id);
            tab_add(&t, (const char *[]){id, wm_fmt_si(a, sizeof a, (double)fa, ""),
                                         wm_fmt_si(b, sizeof b, (double)B->modules[m->ib].generation_flops, ""),
                                         ssi(d, sizeof d, m->delta, ""), rel(r, sizeof r, m->delta, fa)});
        }
        tab_render(&t, &out, md, "");
        tab_free(&t);
    } else {
        wm_buf_puts(&out, md ? "No module common to both reports changed.\n"
                             : "(no module common to both reports changed)\n");
    }

    const struct {
        const char *label;
        const wm_report_file *f;
        const size_t *idx;
        size_t n;
    } only[] = {{"A", A, c->only_a, c->nonly_a}, {"B", B, c->only_b, c->nonly_b}};
    if (!md)
        wm_buf_puts(&out, "\n");
    for (int k = 0; k < 2; k++) {
        const size_t n = only[k].n, listed = n < top ? n : top;
        char cnt[40];
        wm_fmt_grouped(cnt, sizeof cnt, n);
        if (md)
            wm_buf_printf(&out, "\n## Only in %s: %s module%s%s\n", only[k].label, cnt,
                          n == 1 ? "" : "s", listed < n ? " (the first ones)" : "");
        else
            wm_buf_printf(&out, "Only in %s: %s module%s%s\n", only[k].label, cnt,
                          n == 1 ? "" : "s", listed < n ? " (the first ones)" : "");
        for (size_t i = 0; i < listed; i++) {
            const wm_rmodule *m = &only[k].f->modules[only[k].idx[i]];
            if (md)
                wm_buf_printf(&out, "%s- `%s` %s\n", i == 0 ? "\n" : "", m->id,
                              wm_fmt_si(a, sizeof a, (double)m->generation_flops, "FLOP"));
            else
                wm_buf_printf(&out, "  %s  %s\n", m->id,
                              wm_fmt_si(a, sizeof a, (double)m->generation_flops, "FLOP"));
        }
    }
    wm_buf_puts(&out, md ? "\n## Where the change comes from\n\n" : "\n");
    if (md)
        wm_buf_printf(&out, "%s\n", c->sentence);
    else
        wm_buf_wrap(&out, "", "", c->sentence, WRAP_WIDTH, false);
    return emit(&out);
}

int cmd_compare(int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL};
    size_t top;
    out_format fmt;
    int rc = parse_args("compare", compare_help, argc, argv, 2, pos, &top, &fmt);
    if (rc >= 0)
        return rc;
    wm_error err;
    wm_error_clear(&err);
    wm_report_file *A = NULL, *B = NULL;
    comparison c;
    memset(&c, 0, sizeof c);
    wm_status s = wm_report_file_read(pos[0], &A, &err);
    if (s == WM_OK)
        s = wm_report_file_read(pos[1], &B, &err);
    if (s == WM_OK)
        s = compare_files(A, B, &c, &err);
    rc = s == WM_OK ? compare_out(&c, top, fmt) : cli_fail(&err);
    comparison_free(&c);
    wm_report_file_free(A);
    wm_report_file_free(B);
    return rc;
}

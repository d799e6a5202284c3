/*
 * report_text.c — the human-readable writers: the terminal table (`wanmeter report`, the
 * default), GitHub Markdown, CSV (every node) and summary.md.
 *
 * They only iterate the node table (DESIGN §1). Every number shown is either an exact count
 * from the report or derived from one at the end (SI-formatted values and shares are doubles
 * computed for display; exact columns print the uint64 counts with thousands separators).
 *
 * Repeated blocks: consecutive siblings named `<prefix>.<N>` (`blocks.0`, `blocks.1`, ...)
 * whose counts and subtree sizes equal the first one's are shown as the first one expanded and
 * one line `blocks.1 … blocks.39   (39 more, identical to blocks.0)` with their combined share,
 * parameters and bytes.
 *
 * Output is deterministic: no clock, no locale-dependent formatting (the library never calls
 * setlocale, so printf uses the "C" locale), no pointer-dependent ordering.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "checked.h"
#include "wanmeter.h"

#define WRAP_WIDTH 99 /* terminal lines stay within 100 columns */
#define TOP_MODULES 10
#define TOP_CATEGORIES 5

/* ---- the report, viewed once ------------------------------------------------------------- */

typedef struct view {
    const wm_report *r;
    const wm_node *nodes;
    const wm_counts *c;
    size_t n;
    const wm_totals *t;
    const wm_workload *w;
    const wm_geometry *g;
    const wm_model_config *mc;
    size_t *end;     /* one past the last descendant of node i (pre-order) */
    wm_hotspots hot; /* top TOP_MODULES leaves, all categories */
} view;

static wm_status view_init(view *v, const wm_report *r, bool hotspots, wm_error *err)
{
    const wm_model *m = wm_report_model(r);
    *v = (view){
        .r = r,
        .nodes = wm_model_nodes(m),
        .c = wm_report_counts(r),
        .n = wm_model_node_count(m),
        .t = wm_report_totals(r),
        .w = wm_report_workload(r),
        .g = wm_report_geometry(r),
        .mc = wm_model_get_config(m),
    };
    v->end = malloc((v->n ? v->n : 1) * sizeof *v->end);
    if (!v->end)
        return wm_error_set(err, WM_E_INTERNAL, "report", NULL, "out of memory");
    for (size_t i = 0; i < v->n; i++)
        v->end[i] = i + 1;
    /* children come after their parent, so a reverse pass sees every descendant's final end
     * before handing it up */
    for (size_t j = v->n; j-- > 0;) {
        int32_t p = v->nodes[j].parent;
        if (p >= 0 && v->end[j] > v->end[p])
            v->end[p] = v->end[j];
    }
    if (hotspots) {
        wm_status s = wm_report_hotspots(r, TOP_MODULES, &v->hot, err);
        if (s != WM_OK) {
            free(v->end);
            v->end = NULL;
            return s;
        }
    }
    return WM_OK;
}

static void view_free(view *v)
{
    free(v->end);
    v->end = NULL;
}

static wm_status finish(wm_buf *b, char **out, const char *what, wm_error *err)
{
    char *s = wm_buf_take(b);
    if (!s)
        return wm_error_set(err, WM_E_INTERNAL, what, NULL, "out of memory");
    *out = s;
    return WM_OK;
}

/* ---- small formatting helpers ------------------------------------------------------------ */

typedef unsigned long long ull;

/* Share of a whole, for display: "-" when the part is 0, "<0.1%" when it rounds to 0. */
static const char *pct(char *out, size_t cap, double part, double whole)
{
    if (part <= 0 || whole <= 0)
        snprintf(out, cap, "-");
    else if (part / whole < 0.0005)
        snprintf(out, cap, "<0.1%%");
    else
        snprintf(out, cap, "%.1f%%", 100.0 * part / whole);
    return out;
}

/* Drops trailing spaces of the current line (the buffer's tail). */
static void trim_tail(wm_buf *b)
{
    if (b->failed || !b->data)
        return;
    while (b->len > 0 && b->data[b->len - 1] == ' ')
        b->len--;
    b->data[b->len] = '\0';
}

/* Escapes text for a Markdown table cell. */
static void md_cell(wm_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            wm_buf_puts(b, "\\|");
        else if (*s == '\n')
            wm_buf_puts(b, " ");
        else
            wm_buf_append(b, s, 1);
    }
}

/* ---- a grid of cells rendered as an aligned text table or a Markdown table --------------- */

#define GRID_MAX_COLS 8

typedef struct grid {
    int ncols;
    char align[GRID_MAX_COLS]; /* 'l' or 'r' */
    wm_buf text;               /* the cells, NUL-separated */
    size_t *off;               /* ncols offsets per row into text */
    int *span;                 /* how many leading columns cell 0 spans (1 = none) */
    size_t rows, cap;
    bool failed;
} grid;

static void grid_init(grid *g, const char *align)
{
    *g = (grid){.ncols = (int)strlen(align)};
    memcpy(g->align, align, (size_t)g->ncols);
}

static void grid_free(grid *g)
{
    wm_buf_free(&g->text);
    free(g->off);
    free(g->span);
    *g = (grid){0};
}

/* Adds a row; cells[1 .. span-1] are ignored (cell 0 covers them). Row 0 is the header. */
static void grid_add(grid *g, int span, const char *const *cells)
{
    if (g->failed)
        return;
    if (g->rows == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 32;
        size_t *off = realloc(g->off, cap * (size_t)g->ncols * sizeof *off);
        if (off)
            g->off = off;
        int *sp = off ? realloc(g->span, cap * sizeof *sp) : NULL;
        if (sp)
            g->span = sp;
        if (!off || !sp) {
            g->failed = true;
            return;
        }
        g->cap = cap;
    }
    for (int k = 0; k < g->ncols; k++) {
        const char *s = k == 0 || k >= span ? cells[k] : "";
        g->off[g->rows * (size_t)g->ncols + (size_t)k] = g->text.len;
        wm_buf_append(&g->text, s ? s : "", strlen(s ? s : "") + 1);
    }
    g->span[g->rows++] = span < 1 ? 1 : span;
    if (g->text.failed)
        g->failed = true;
}

static const char *grid_cell(const grid *g, size_t row, int col)
{
    return g->text.data + g->off[row * (size_t)g->ncols + (size_t)col];
}

/* Renders as aligned text: two spaces between columns; with `header`, row 0 is a header with
 * a rule under it. */
static void grid_text(const grid *g, wm_buf *b, const char *indent, bool header)
{
    if (g->failed) {
        b->failed = true;
        return;
    }
    size_t w[GRID_MAX_COLS] = {0};
    for (size_t r = 0; r < g->rows; r++)
        for (int k = g->span[r] > 1 ? g->span[r] : 0; k < g->ncols; k++) {
            size_t cw = wm_text_width(grid_cell(g, r, k));
            if (cw > w[k])
                w[k] = cw;
        }
    for (size_t r = 0; r < g->rows; r++) {
        if (g->span[r] < 2)
            continue;
        size_t room = 0;
        for (int k = 0; k < g->span[r]; k++)
            room += w[k] + (k ? 2 : 0);
        size_t need = wm_text_width(grid_cell(g, r, 0));
        if (need > room)
            w[0] += need - room;
    }
    size_t total = 0;
    for (int k = 0; k < g->ncols; k++)
        total += w[k] + (k ? 2 : 0);
    for (size_t r = 0; r < g->rows; r++) {
        wm_buf_puts(b, indent);
        for (int k = 0; k < g->ncols; k++) {
            const int span = k == 0 ? g->span[r] : 1;
            size_t room = 0;
            for (int j = k; j < k + span; j++)
                room += w[j] + (j > k ? 2 : 0);
            const char *s = grid_cell(g, r, k);
            size_t sw = wm_text_width(s), pad = room > sw ? room - sw : 0;
            if (k > 0)
                wm_buf_puts(b, "  ");
            if (g->align[k] == 'r' && span == 1) {
                wm_buf_repeat(b, ' ', pad);
                wm_buf_puts(b, s);
            } else {
                wm_buf_puts(b, s);
                wm_buf_repeat(b, ' ', pad);
            }
            k += span - 1;
        }
        trim_tail(b);
        wm_buf_puts(b, "\n");
        if (r == 0 && header) {
            wm_buf_puts(b, indent);
            wm_buf_repeat(b, '-', total);
            wm_buf_puts(b, "\n");
        }
    }
}

/* Renders as a GitHub Markdown table; a spanning cell leaves the cells it covers empty. */
static void grid_md(const grid *g, wm_buf *b)
{
    if (g->failed) {
        b->failed = true;
        return;
    }
    for (size_t r = 0; r < g->rows; r++) {
        wm_buf_puts(b, "|");
        for (int k = 0; k < g->ncols; k++) {
            const char *s = grid_cell(g, r, k);
            wm_buf_puts(b, " ");
            md_cell(b, s);
            wm_buf_puts(b, " |");
        }
        wm_buf_puts(b, "\n");
        if (r == 0) {
            wm_buf_puts(b, "|");
            for (int k = 0; k < g->ncols; k++)
                wm_buf_puts(b, g->align[k] == 'r' ? "---:|" : "---|");
            wm_buf_puts(b, "\n");
        }
    }
}

/* ---- headline ----------------------------------------------------------------------------- */

static void model_line(const view *v, char *out, size_t cap)
{
    const wm_model_config *c = v->mc;
    uint64_t d = 0;
    if (!wm_mul(c->num_attention_heads, c->attention_head_dim, &d))
        d = 0;
    snprintf(out, cap, "%s (%s, %s): d=%llu, %llu layers, %llu heads × %llu, ffn %llu", c->id,
             c->variant, c->class_name, (ull)d, (ull)c->num_layers, (ull)c->num_attention_heads,
             (ull)c->attention_head_dim, (ull)c->ffn_dim);
}

static void workload_line(const view *v, char *out, size_t cap)
{
    const wm_workload *w = v->w;
    snprintf(out, cap,
             "%s: batch %llu, %llu frames, %llu×%llu, %llu step%s, cfg %s (%llu forward%s/step), "
             "text_len %llu, %s, mode %s",
             w->profile_id, (ull)w->batch_size, (ull)w->num_frames, (ull)w->height, (ull)w->width,
             (ull)w->num_inference_steps, w->num_inference_steps == 1 ? "" : "s",
             w->cfg ? "on" : "off", (ull)wm_workload_forwards_per_step(w),
             wm_workload_forwards_per_step(w) == 1 ? "" : "s", (ull)w->text_len,
             wm_dtype_name(w->dtype), wm_mode_name(w->mode));
}

static void geometry_line(const view *v, char *out, size_t cap)
{
    const wm_geometry *g = v->g;
    char L[32];
    snprintf(out, cap, "latent %llu×%llu×%llu (T×h×w) → tokens %llu×%llu×%llu = L %s per sample%s",
             (ull)g->latent_frames, (ull)g->latent_height, (ull)g->latent_width,
             (ull)g->tokens_frames, (ull)g->tokens_height, (ull)g->tokens_width,
             wm_fmt_grouped(L, sizeof L, g->dit_seq_len),
             g->frames_not_4n1 ? " (frames not 4n+1: see the notes)" : "");
}

/* Names of the roots ("transformer"), the stages the totals cover. */
static void stages(const view *v, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (int s = 0; s < WM_STAGE_COUNT; s++) {
        if (!v->t->stages[s].present)
            continue;
        int k = snprintf(out + o, cap - o, "%s%s", o ? ", " : "", wm_stage_name((wm_stage)s));
        if (k < 0 || (size_t)k >= cap - o)
            break;
        o += (size_t)k;
    }
}

/* Stage, calls per generation, FLOPs per call, FLOPs per generation, share, params. */
static void stages_grid(const view *v, grid *g, bool md)
{
    grid_add(g, 1, (const char *[]){"stage", "calls", "FLOPs/call", "FLOPs", "share", "params"});
    for (int k = 0; k < WM_STAGE_COUNT; k++) {
        const wm_stage_total *st = &v->t->stages[k];
        if (!st->present)
            continue;
        char name[64], calls[32], per[48], all[48], sh[32], p[48];
        snprintf(name, sizeof name, md ? "`%s`%s" : "%s%s", wm_stage_name((wm_stage)k),
                 st->selected ? "" : " (not in totals)");
        snprintf(calls, sizeof calls, "%llu", (ull)st->calls);
        pct(sh, sizeof sh, st->selected ? (double)st->flops : 0.0, (double)v->t->flops);
        grid_add(g, 1,
                 (const char *[]){name, calls, wm_fmt_si(per, sizeof per, (double)st->flops_per_call, "FLOP"),
                                  wm_fmt_si(all, sizeof all, (double)st->flops, "FLOP"), sh,
                                  wm_fmt_si(p, sizeof p, (double)st->params, "")});
    }
}

/* ---- totals ------------------------------------------------------------------------------- */

/* Label, SI value, exact integer, comment; shared by every writer. */
static void totals_grid(const view *v, grid *g, bool header)
{
    const wm_totals *t = v->t;
    const wm_workload *w = v->w;
    const uint64_t fps = wm_workload_forwards_per_step(w);
    const bool full = w->mode == WM_MODE_FULL;
    char steps[96], dtype[64];
    snprintf(steps, sizeof steps, "%llu forward%s = %llu step%s × %llu", (ull)t->forwards,
             t->forwards == 1 ? "" : "s", (ull)w->num_inference_steps, w->num_inference_steps == 1 ? "" : "s", (ull)fps);
    snprintf(dtype, sizeof dtype, "%s; fp32 where kept (see notes)", wm_dtype_name(w->dtype));
    const struct {
        const char *label;
        uint64_t value;
        const char *unit, *comment;
        bool show;
    } rows[] = {
        {"FLOPs per forward", t->flops_per_forward, "FLOP", "", true},
        {"  matrix (matmul, conv, attention)", t->matrix_flops_per_forward, "FLOP",
         "what FlopCounterMode counts", full},
        {"  vector (elementwise)", t->vector_flops_per_forward, "FLOP", "mode full only", full},
        {"FLOPs per step", t->flops_per_step, "FLOP", fps == 1 ? "1 forward" : "2 forwards", true},
        {"transformer per generation", t->transformer_flops, "FLOP", steps, true},
        {"FLOPs per generation", t->flops, "FLOP", "the stages below", true},
        {"parameters", t->params, "", "", true},
        {"weight bytes", t->weight_bytes, "B", dtype, true},
        {"bytes read per forward", t->bytes_read_per_forward, "B", "", true},
        {"bytes written per forward", t->bytes_written_per_forward, "B", "", true},
        {"peak activations", t->peak_activation_bytes, "B", "estimate for one forward", true},
        {"KV cache", t->kv_cache_bytes, "B", "none kept by a diffusion model", true},
    };
    if (header)
        grid_add(g, 1, (const char *[]){"quantity", "value", "exact", "note"});
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char val[48], ex[40];
        if (rows[i].show)
            grid_add(g, 1,
                     (const char *[]){rows[i].label, wm_fmt_si(val, sizeof val, (double)rows[i].value, rows[i].unit),
                                      wm_fmt_grouped(ex, sizeof ex, rows[i].value), rows[i].comment});
    }
}

/* ---- the module tree with repeated blocks collapsed -------------------------------------- */

/* "blocks.12" -> 7, the length of "blocks."; 0 when the name does not end in ".<digits>". */
static size_t indexed_prefix(const char *name)
{
    size_t len = strlen(name), i = len;
    while (i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9')
        i--;
    if (i == len || i < 2 || name[i - 1] != '.')
        return 0;
    return i;
}

static bool same_counts(const wm_counts *a, const wm_counts *b)
{
    return a->calls == b->calls && a->flops == b->flops && a->matrix_flops == b->matrix_flops &&
           a->vector_flops == b->vector_flops && a->params == b->params &&
           a->weight_bytes == b->weight_bytes && a->bytes_read == b->bytes_read &&
           a->bytes_written == b->bytes_written;
}

/* Whether sibling j repeats `first`: same `<prefix>.` with another index, identical counts and
 * the same number of descendants. */
static bool repeats(const view *v, size_t first, size_t j)
{
    const char *a = v->nodes[first].name, *b = v->nodes[j].name;
    size_t p = indexed_prefix(a);
    return p > 0 && v->nodes[j].parent == v->nodes[first].parent && indexed_prefix(b) == p &&
           strncmp(a, b, p) == 0 && v->end[j] - j == v->end[first] - first &&
           same_counts(&v->c[first], &v->c[j]);
}

/* One line of the tree: a node, or (more > 0) the run of `more` siblings after `node` that
 * repeat it, ending at `last`. */
typedef struct tree_item {
    size_t node, last, more;
} tree_item;

typedef struct tree {
    tree_item *items;
    size_t count, cap;
    bool failed;
} tree;

static void tree_push(tree *t, size_t node, size_t last, size_t more)
{
    if (t->failed)
        return;
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        tree_item *it = realloc(t->items, cap * sizeof *it);
        if (!it) {
            t->failed = true;
            return;
        }
        t->items = it;
        t->cap = cap;
    }
    t->items[t->count++] = (tree_item){node, last, more};
}

/* Siblings first .. stop (exclusive), and their children down to `depth`. */
static void tree_walk(const view *v, size_t first, size_t stop, int depth, tree *t)
{
    for (size_t k = first; k < stop && !t->failed;) {
        tree_push(t, k, k, 0);
        if (v->nodes[k].depth < depth && v->end[k] > k + 1)
            tree_walk(v, k + 1, v->end[k], depth, t);
        size_t j = v->end[k], last = k, more = 0;
        while (j < stop && repeats(v, k, j)) {
            last = j;
            more++;
            j = v->end[j];
        }
        if (more > 0)
            tree_push(t, k, last, more);
        k = j;
    }
}

/* "blocks.1 … blocks.39" */
static void run_label(const view *v, const tree_item *it, char *out, size_t cap)
{
    const char *a = v->nodes[v->end[it->node]].name, *z = v->nodes[it->last].name;
    if (it->more == 1)
        snprintf(out, cap, "%s", a);
    else
        snprintf(out, cap, "%s … %s", a, z);
}

/* Fills a grid with the tree: module, op, FLOPs/call, % fwd, params, bytes r+w. */
static void tree_grid(const view *v, int depth, bool md, grid *g)
{
    tree t = {0};
    if (depth < 0)
        depth = 0;
    tree_walk(v, 0, v->n, depth, &t);
    if (t.failed) {
        g->failed = true;
        free(t.items);
        return;
    }
    const double fwd = (double)v->t->flops_per_forward;
    grid_add(g, 1, (const char *[]){"module", "op", "FLOPs/call", "% fwd", "params", "bytes r+w"});
    for (size_t i = 0; i < t.count; i++) {
        const tree_item *it = &t.items[i];
        const wm_node *nd = &v->nodes[it->node];
        const wm_counts *c = &v->c[it->node];
        const double k = it->more ? (double)it->more : 1.0;
        char name[2304], label[1800], f[32], sh[32], p[32], by[32];
        size_t o = 0;
        for (int d = 0; d < nd->depth && o + 8 < sizeof name; d++)
            o += (size_t)snprintf(name + o, sizeof name - o, "%s", md ? "&emsp;" : "  ");
        char shown[512];
        wm_report_display_name(v->r, it->node, shown, sizeof shown);
        if (it->more) {
            char rl[1100];
            run_label(v, it, rl, sizeof rl);
            if (md)
                snprintf(label, sizeof label, "`%s` (%zu more, identical to `%s`)", rl, it->more,
                         shown);
            else
                snprintf(label, sizeof label, "%s   (%zu more, identical to %s)", rl, it->more,
                         shown);
        } else {
            snprintf(label, sizeof label, md ? "`%s`" : "%s", shown);
        }
        snprintf(name + o, sizeof name - o, "%s", label);
        pct(sh, sizeof sh, k * (double)c->flops, fwd);
        if (c->params)
            wm_fmt_si(p, sizeof p, k * (double)c->params, "");
        else
            snprintf(p, sizeof p, "-");
        wm_fmt_si(by, sizeof by, k * ((double)c->bytes_read + (double)c->bytes_written), "B");
        wm_fmt_si(f, sizeof f, (double)c->flops, "");
        grid_add(g, it->more ? 3 : 1,
                 (const char *[]){name, wm_op_name(nd->op), f, sh, p, by});
    }
    free(t.items);
}

/* ---- hotspots ------------------------------------------------------------------------------ */

/* The kinds of layer that cost most; "×40" when the same layer of 40 blocks is grouped. */
static void top_modules_grid(const view *v, grid *g, bool exact)
{
    char f[32], sh[32], rank[32], ex[40], id[600], n[32];
    if (exact)
        grid_add(g, 1, (const char *[]){"#", "module", "×", "category", "FLOPs", "exact", "share"});
    else
        grid_add(g, 1, (const char *[]){"#", "module", "×", "category", "FLOPs", "share"});
    for (size_t i = 0; i < v->hot.module_count; i++) {
        const wm_hotspot *h = &v->hot.modules[i];
        const wm_node *nd = &v->nodes[h->node];
        snprintf(rank, sizeof rank, "%zu", i + 1);
        snprintf(n, sizeof n, "%u", h->instances);
        wm_fmt_si(f, sizeof f, (double)h->flops, "FLOP");
        pct(sh, sizeof sh, (double)h->flops, (double)v->t->flops);
        wm_fmt_grouped(ex, sizeof ex, h->flops);
        char shown[300];
        if (wm_report_official_names(v->r))
            wm_official_id(h->id, v->mc->pipeline.boundary_ratio > 0.0, shown, sizeof shown);
        else
            snprintf(shown, sizeof shown, "%s", h->id);
        snprintf(id, sizeof id, exact ? "`%s`" : "%s", shown); /* exact = Markdown */
        if (exact)
            grid_add(g, 1, (const char *[]){rank, id, n, wm_category_name(nd->category), f, ex, sh});
        else
            grid_add(g, 1, (const char *[]){rank, id, n, wm_category_name(nd->category), f, sh});
    }
}

static void top_categories_grid(const view *v, grid *g, bool exact)
{
    char f[32], sh[32], ex[40];
    if (exact)
        grid_add(g, 1, (const char *[]){"category", "FLOPs", "exact", "share"});
    else
        grid_add(g, 1, (const char *[]){"category", "FLOPs", "share"});
    for (size_t i = 0; i < v->hot.category_count && i < TOP_CATEGORIES; i++) {
        const wm_category_total *ct = &v->hot.categories[i];
        wm_fmt_si(f, sizeof f, (double)ct->flops, "FLOP");
        pct(sh, sizeof sh, (double)ct->flops, (double)v->t->flops);
        wm_fmt_grouped(ex, sizeof ex, ct->flops);
        if (exact)
            grid_add(g, 1, (const char *[]){wm_category_name(ct->category), f, ex, sh});
        else
            grid_add(g, 1, (const char *[]){wm_category_name(ct->category), f, sh});
    }
}

static size_t top_category_count(const view *v)
{
    return v->hot.category_count < TOP_CATEGORIES ? v->hot.category_count : TOP_CATEGORIES;
}

/* ---- writers ------------------------------------------------------------------------------- */

wm_status wm_report_to_table(const wm_report *r, int depth, char **out, wm_error *err)
{
    *out = NULL;
    view v;
    wm_status s = view_init(&v, r, true, err);
    if (s != WM_OK)
        return s;
    wm_buf b = {0};
    char line[1024], st[256];
    grid g;

    stages(&v, st, sizeof st);
    wm_buf_printf(&b, "wanmeter %s cost report: %s\n", WM_VERSION, st);
    model_line(&v, line, sizeof line);
    wm_buf_wrap(&b, "model     ", "          ", line, WRAP_WIDTH, true);
    workload_line(&v, line, sizeof line);
    wm_buf_wrap(&b, "workload  ", "          ", line, WRAP_WIDTH, true);
    geometry_line(&v, line, sizeof line);
    wm_buf_wrap(&b, "geometry  ", "          ", line, WRAP_WIDTH, false);

    wm_buf_printf(&b, "\nTotals\n");
    grid_init(&g, "lrrl");
    totals_grid(&v, &g, false);
    grid_text(&g, &b, "  ", false);
    grid_free(&g);

    wm_buf_printf(&b, "\nStages (one generation)\n");
    grid_init(&g, "lrrrrr");
    stages_grid(&v, &g, false);
    grid_text(&g, &b, "  ", true);
    grid_free(&g);

    wm_buf_printf(&b, "\nModules (depth %d; FLOPs and bytes per call; %% of one forward)\n",
                  depth < 0 ? 0 : depth);
    grid_init(&g, "llrrrr");
    tree_grid(&v, depth, false, &g);
    grid_text(&g, &b, "", true);
    grid_free(&g);

    wm_buf_printf(&b, "\nTop %zu modules (whole generation; blocks.* = that layer in every "
                      "block)\n",
                  v.hot.module_count);
    grid_init(&g, "rlrlrr");
    top_modules_grid(&v, &g, false);
    grid_text(&g, &b, "", true);
    grid_free(&g);

    wm_buf_printf(&b, "\nTop %zu categories (whole generation)\n", top_category_count(&v));
    grid_init(&g, "lrr");
    top_categories_grid(&v, &g, false);
    grid_text(&g, &b, "", true);
    grid_free(&g);

    if (wm_report_note_count(r) > 0)
        wm_buf_puts(&b, "\nNotes\n");
    for (size_t i = 0; i < wm_report_note_count(r); i++)
        wm_buf_wrap(&b, "- ", "  ", wm_report_note(r, i), WRAP_WIDTH, false);
    view_free(&v);
    return finish(&b, out, "table", err);
}

/* Headline, totals, [tree], hotspots and notes as Markdown. */
static void markdown(const view *v, const char *title, bool with_tree, int depth, wm_buf *b)
{
    char line[1024], st[256];
    grid g;
    stages(v, st, sizeof st);
    wm_buf_printf(b, "# %s: %s × %s\n\n", title, v->mc->id, v->w->profile_id);
    model_line(v, line, sizeof line);
    wm_buf_puts(b, "- **Model** ");
    wm_buf_puts(b, line);
    wm_buf_puts(b, "\n- **Workload** ");
    workload_line(v, line, sizeof line);
    wm_buf_puts(b, line);
    wm_buf_puts(b, "\n- **Geometry** ");
    geometry_line(v, line, sizeof line);
    wm_buf_puts(b, line);
    wm_buf_printf(b, "\n- **Stages** %s (wanmeter %s)\n", st, WM_VERSION);

    wm_buf_puts(b, "\n## Totals\n\n");
    grid_init(&g, "lrrl");
    totals_grid(v, &g, true);
    grid_md(&g, b);
    grid_free(&g);

    wm_buf_puts(b, "\n## Stages (one generation)\n\n");
    grid_init(&g, "lrrrrr");
    stages_grid(v, &g, true);
    grid_md(&g, b);
    grid_free(&g);

    if (with_tree) {
        wm_buf_printf(b, "\n## Modules (depth %d; FLOPs and bytes per call; %% of one forward)\n\n",
                      depth < 0 ? 0 : depth);
        grid_init(&g, "llrrrr");
        tree_grid(v, depth, true, &g);
        grid_md(&g, b);
        grid_free(&g);
    }

    wm_buf_printf(b, "\n## Top %zu modules (whole generation: calls × FLOPs per call; "
                     "`blocks.*` sums the same layer of every block)\n\n",
                  v->hot.module_count);
    grid_init(&g, "rlrlrrr");
    top_modules_grid(v, &g, true);
    grid_md(&g, b);
    grid_free(&g);

    wm_buf_printf(b, "\n## Top %zu categories (whole generation)\n\n", top_category_count(v));
    grid_init(&g, "lrrr");
    top_categories_grid(v, &g, true);
    grid_md(&g, b);
    grid_free(&g);

    if (wm_report_note_count(v->r) > 0)
        wm_buf_puts(b, "\n## Notes\n\n");
    for (size_t i = 0; i < wm_report_note_count(v->r); i++) {
        wm_buf_puts(b, "- ");
        for (const char *p = wm_report_note(v->r, i); *p; p++)
            wm_buf_puts(b, *p == '*' ? "\\*" : (char[2]){*p, '\0'});
        wm_buf_puts(b, "\n");
    }
}

wm_status wm_report_to_markdown(const wm_report *r, int depth, char **out, wm_error *err)
{
    *out = NULL;
    view v;
    wm_status s = view_init(&v, r, true, err);
    if (s != WM_OK)
        return s;
    wm_buf b = {0};
    markdown(&v, "wanmeter report", true, depth, &b);
    view_free(&v);
    return finish(&b, out, "markdown", err);
}

wm_status wm_report_summary_md(const wm_report *r, char **out, wm_error *err)
{
    *out = NULL;
    view v;
    wm_status s = view_init(&v, r, true, err);
    if (s != WM_OK)
        return s;
    wm_buf b = {0};
    markdown(&v, "wanmeter summary", false, 0, &b);
    view_free(&v);
    return finish(&b, out, "summary.md", err);
}

/* ---- CSV ------------------------------------------------------------------------------------ */

/* An RFC 4180 field: quoted when it holds a comma, a quote or a line break (quotes doubled). */
/* ",<decimal>": a count, exact, without printf (the CSV has 8 per row). */
static void csv_count(wm_buf *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    tmp[--i] = ',';
    wm_buf_append(b, tmp + i, sizeof tmp - i);
}

wm_status wm_report_to_csv(const wm_report *r, char **out, wm_error *err)
{
    *out = NULL;
    const wm_model *m = wm_report_model(r);
    const wm_node *nodes = wm_model_nodes(m);
    const wm_counts *c = wm_report_counts(r);
    const wm_mode mode = wm_report_workload(r)->mode;
    wm_buf b = {0};
    /* Lines end in LF (what Unix tools and every CSV reader accept); fields are quoted per
     * RFC 4180 where needed. */
    const bool official = wm_report_official_names(r);
    wm_buf_puts(&b, official ? "id,official_id," : "id,");
    wm_buf_puts(&b, "parent,op,category,aten,shape,calls,flops,matrix_flops,vector_flops,"
                    "params,weight_bytes,bytes_read,bytes_written\n");
    for (size_t i = 0; i < wm_model_node_count(m); i++) {
        const wm_node *nd = &nodes[i];
        char shape[256];
        wm_report_node_shape(r, i, shape, sizeof shape);
        wm_buf_csv_field(&b, nd->id);
        wm_buf_puts(&b, ",");
        if (official) {
            char alias[512];
            wm_report_display_id(r, i, alias, sizeof alias);
            wm_buf_csv_field(&b, alias);
            wm_buf_puts(&b, ",");
        }
        wm_buf_csv_field(&b, nd->parent >= 0 ? nodes[nd->parent].id : "");
        wm_buf_puts(&b, ",");
        wm_buf_csv_field(&b, wm_op_name(nd->op));
        wm_buf_puts(&b, ",");
        wm_buf_csv_field(&b, wm_category_name(nd->category));
        wm_buf_puts(&b, ",");
        wm_buf_csv_field(&b, wm_node_aten(nd, mode));
        wm_buf_puts(&b, ",");
        wm_buf_csv_field(&b, shape);
        const uint64_t v[8] = {c[i].calls,        c[i].flops,  c[i].matrix_flops,
                               c[i].vector_flops, c[i].params, c[i].weight_bytes,
                               c[i].bytes_read,   c[i].bytes_written};
        for (int k = 0; k < 8; k++)
            csv_count(&b, v[k]);
        wm_buf_puts(&b, "\n");
    }
    return finish(&b, out, "csv", err);
}

/*
 * test_writers.c — src/report_text.c (table, Markdown, CSV, summary.md) and src/report_read.c
 * (report.json read back, hotspots recomputed from it, id patterns).
 *
 * The model is the wan2.1-t2v-14b preset with num_layers overridden (1, 2, 3 or 4), the
 * workload a small one chosen so every dimension is distinct:
 *   B = 2, F = 9 frames, H = 64, W = 96, steps = 3, cfg on, text_len Lt = 16, bf16
 *   -> T = (9 - 1) / 4 + 1 = 3 latent frames, h = 8, w = 12, tokens 3 x 4 x 6, L = 72.
 * Expected FLOPs are computed here from the formulas (2*M*k*n for a linear, 4*B*Lq*Lk*d for
 * an attention core, 2*M*prod(kernel)*Cin*Cout for the patch conv), never pasted from output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report_read.h"
#include "wanmeter.h"

/* ---- fixture ----------------------------------------------------------------------------- */

typedef struct fixture {
    wm_config *cfg;
    wm_model_config mc;
    wm_workload w;
    wm_model *m;
    wm_report *r;
} fixture;

enum { B = 2, F = 9, H = 64, W = 96, STEPS = 3, LT = 16 };
static const uint64_t L = 3 * 4 * 6; /* tokens: T x h/2 x w/2 */

static void fail_err(const char *step, const wm_error *err)
{
    char msg[1536];
    wm_error_format(err, msg, sizeof msg);
    fail_msg("%s: %s", step, msg);
}

static void setup_mode(fixture *fx, uint64_t layers, wm_mode mode)
{
    wm_error err;
    wm_error_clear(&err);
    memset(fx, 0, sizeof *fx);
    if (wm_config_load(NULL, &fx->cfg, &err) != WM_OK)
        fail_err("config", &err);
    if (wm_config_model(fx->cfg, "wan2.1-t2v-14b", &fx->mc, &err) != WM_OK)
        fail_err("model", &err);
    if (wm_config_workload(fx->cfg, "wan2-1-ci-tiny", &fx->w, &err) != WM_OK)
        fail_err("workload", &err);
    fx->mc.num_layers = layers;
    /* the writers over the transformer alone: the formulas below are the DiT's */
    fx->mc.has_text_encoder = fx->mc.has_vae = fx->mc.has_image_encoder = false;
    fx->w.batch_size = B;
    fx->w.num_frames = F;
    fx->w.height = H;
    fx->w.width = W;
    fx->w.num_inference_steps = STEPS;
    fx->w.text_len = LT;
    fx->w.cfg = true;
    fx->w.dtype = WM_DTYPE_BF16;
    fx->w.mode = mode;
    if (wm_model_build(&fx->mc, &fx->m, &err) != WM_OK)
        fail_err("build", &err);
    if (wm_report_create(fx->m, &fx->w, &fx->r, &err) != WM_OK)
        fail_err("report", &err);
    assert_int_equal(wm_report_geometry(fx->r)->dit_seq_len, L);
}

static void setup(fixture *fx, uint64_t layers) { setup_mode(fx, layers, WM_MODE_TORCH); }

static void teardown(fixture *fx)
{
    wm_report_free(fx->r);
    wm_model_free(fx->m);
    wm_config_free(fx->cfg);
    memset(fx, 0, sizeof *fx);
}

typedef wm_status (*writer_fn)(const fixture *fx, char **out, wm_error *err);

static wm_status w_table(const fixture *fx, char **o, wm_error *e) { return wm_report_to_table(fx->r, 2, o, e); }
static wm_status w_md(const fixture *fx, char **o, wm_error *e) { return wm_report_to_markdown(fx->r, 2, o, e); }
static wm_status w_csv(const fixture *fx, char **o, wm_error *e) { return wm_report_to_csv(fx->r, o, e); }
static wm_status w_summary(const fixture *fx, char **o, wm_error *e) { return wm_report_summary_md(fx->r, o, e); }
static wm_status w_json(const fixture *fx, char **o, wm_error *e) { return wm_report_to_json(fx->r, o, e); }

/* The writers' out-parameter lives on the heap here: GCC's -Wdangling-pointer otherwise
 * mistakes the returned string for the address of a local. */
static char *render(const fixture *fx, writer_fn fn)
{
    wm_error err;
    wm_error_clear(&err);
    char **slot = calloc(1, sizeof *slot);
    assert_non_null(slot);
    if (fn(fx, slot, &err) != WM_OK)
        fail_err("writer", &err);
    char *out = *slot;
    free(slot);
    assert_non_null(out);
    return out;
}

static char *table_at(const fixture *fx, int depth)
{
    wm_error err;
    wm_error_clear(&err);
    char **slot = calloc(1, sizeof *slot);
    assert_non_null(slot);
    if (wm_report_to_table(fx->r, depth, slot, &err) != WM_OK)
        fail_err("table", &err);
    char *out = *slot;
    free(slot);
    return out;
}

/* ---- a small RFC 4180 reader ------------------------------------------------------------- */

#define CSV_COLS 14

typedef struct csv_row {
    char *f[CSV_COLS];
    int n;
} csv_row;

/* Parses one record at *p (advancing it); fields are malloc'd. Returns false at the end. */
static bool csv_next(const char **p, csv_row *row)
{
    const char *s = *p;
    if (!*s)
        return false;
    row->n = 0;
    for (;;) {
        char buf[1024];
        size_t o = 0;
        if (*s == '"') {
            for (s++;; s++) {
                assert_true(*s != '\0'); /* unterminated quote */
                if (*s == '"' && s[1] == '"') {
                    buf[o++] = '"';
                    s++;
                } else if (*s == '"') {
                    s++;
                    break;
                } else {
                    buf[o++] = *s;
                }
                assert_true(o < sizeof buf);
            }
        } else {
            while (*s && *s != ',' && *s != '\n') {
                assert_true(*s != '"'); /* a quote inside an unquoted field */
                buf[o++] = *s++;
                assert_true(o < sizeof buf);
            }
        }
        buf[o] = '\0';
        assert_true(row->n < CSV_COLS);
        row->f[row->n] = malloc(o + 1);
        assert_non_null(row->f[row->n]);
        memcpy(row->f[row->n++], buf, o + 1);
        if (*s == ',') {
            s++;
            continue;
        }
        assert_true(*s == '\n'); /* every record ends in a newline */
        s++;
        break;
    }
    *p = s;
    return true;
}

static void csv_free(csv_row *row)
{
    for (int i = 0; i < row->n; i++)
        free(row->f[i]);
    row->n = 0;
}

static uint64_t u64_of(const char *s)
{
    char *end = NULL;
    assert_true(*s >= '0' && *s <= '9');
    unsigned long long v = strtoull(s, &end, 10);
    assert_true(end && *end == '\0');
    return (uint64_t)v;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ---- the expected counts, from the formulas ------------------------------------------------ */

static uint64_t d_of(const fixture *fx) { return fx->mc.num_attention_heads * fx->mc.attention_head_dim; }

static uint64_t flops_of(const fixture *fx, const char *id)
{
    int32_t i = wm_model_find(fx->m, id);
    assert_true(i >= 0);
    return wm_report_counts(fx->r)[i].flops;
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_csv_rows_and_exact_counts(void **state)
{
    (void)state;
    fixture fx;
    setup(&fx, 2);
    char *csv = render(&fx, w_csv);
    const size_t n = wm_model_node_count(fx.m);
    assert_int_equal(count_lines(csv), n + 1);

    const char *p = csv;
    csv_row row;
    assert_true(csv_next(&p, &row));
    static const char *const header[CSV_COLS] = {
        "id", "parent", "op", "category", "aten", "shape", "calls", "flops", "matrix_flops",
        "vector_flops", "params", "weight_bytes", "bytes_read", "bytes_written"};
    assert_int_equal(row.n, CSV_COLS);
    for (int k = 0; k < CSV_COLS; k++)
        assert_string_equal(row.f[k], header[k]);
    csv_free(&row);

    const wm_node *nodes = wm_model_nodes(fx.m);
    const wm_counts *c = wm_report_counts(fx.r);
    size_t i = 0;
    for (; csv_next(&p, &row); i++) {
        assert_true(i < n);
        assert_int_equal(row.n, CSV_COLS);
        assert_string_equal(row.f[0], nodes[i].id);
        assert_string_equal(row.f[1], nodes[i].parent >= 0 ? nodes[nodes[i].parent].id : "");
        assert_string_equal(row.f[2], wm_op_name(nodes[i].op));
        assert_string_equal(row.f[3], wm_category_name(nodes[i].category));
        char shape[256];
        wm_report_node_shape(fx.r, i, shape, sizeof shape);
        assert_string_equal(row.f[5], shape);
        const uint64_t want[8] = {c[i].calls,        c[i].flops,  c[i].matrix_flops,
                                  c[i].vector_flops, c[i].params, c[i].weight_bytes,
                                  c[i].bytes_read,   c[i].bytes_written};
        for (int k = 0; k < 8; k++)
            assert_true(u64_of(row.f[6 + k]) == want[k]);
        /* aten: the op list's key; attention cores are aten.bmm outside torch-cpu */
        if (nodes[i].op == WM_OP_LINEAR)
            assert_string_equal(row.f[4], "aten.addmm");
        else if (nodes[i].op == WM_OP_CONV3D)
            assert_string_equal(row.f[4], "aten.convolution");
        else if (nodes[i].op == WM_OP_SDPA)
            assert_string_equal(row.f[4], "aten.bmm");
        else
            assert_string_equal(row.f[4], "");
        csv_free(&row);
    }
    assert_int_equal(i, n);

    /* the counts themselves, from the formulas */
    const uint64_t d = d_of(&fx), Fd = fx.mc.ffn_dim, calls = STEPS * 2;
    const uint64_t P = fx.mc.patch_size[0] * fx.mc.patch_size[1] * fx.mc.patch_size[2];
    assert_true(flops_of(&fx, "transformer.blocks.0.attn1.to_q") == 2ull * B * L * d * d);
    assert_true(flops_of(&fx, "transformer.blocks.1.attn2.to_k") == 2ull * B * LT * d * d);
    assert_true(flops_of(&fx, "transformer.blocks.0.ffn.net.0.proj") == 2ull * B * L * d * Fd);
    assert_true(flops_of(&fx, "transformer.blocks.0.ffn.net.2") == 2ull * B * L * Fd * d);
    assert_true(flops_of(&fx, "transformer.blocks.0.attn1#sdpa") == 4ull * B * L * L * d);
    assert_true(flops_of(&fx, "transformer.blocks.0.attn2#sdpa") == 4ull * B * L * LT * d);
    assert_true(flops_of(&fx, "transformer.patch_embedding") ==
                2ull * B * L * P * fx.mc.in_channels * d);
    assert_true(flops_of(&fx, "transformer.proj_out") == 2ull * B * L * d * fx.mc.out_channels * P);
    assert_true(c[0].calls == calls);
    free(csv);
    teardown(&fx);
}

static void test_csv_leaf_sum_is_forward_total(void **state)
{
    (void)state;
    fixture fx;
    setup(&fx, 3);
    char *csv = render(&fx, w_csv);
    const size_t n = wm_model_node_count(fx.m);
    csv_row *rows = calloc(n, sizeof *rows);
    assert_non_null(rows);
    const char *p = csv;
    csv_row hdr;
    assert_true(csv_next(&p, &hdr));
    csv_free(&hdr);
    size_t k = 0;
    while (k < n && csv_next(&p, &rows[k]))
        k++;
    assert_int_equal(k, n);
    /* leaves: ids no row names as parent */
    uint64_t sum = 0, matrix = 0, params = 0;
    size_t leaves = 0;
    for (size_t i = 0; i < n; i++) {
        bool parent = false;
        for (size_t j = 0; j < n && !parent; j++)
            parent = strcmp(rows[j].f[1], rows[i].f[0]) == 0;
        if (parent)
            continue;
        leaves++;
        sum += u64_of(rows[i].f[7]);
        matrix += u64_of(rows[i].f[8]);
        params += u64_of(rows[i].f[10]);
    }
    const wm_totals *t = wm_report_totals(fx.r);
    assert_true(leaves > 0 && leaves < n);
    assert_true(sum == t->flops_per_forward);
    assert_true(matrix == t->matrix_flops_per_forward);
    /* params: leaves plus the containers' own parameters (scale_shift_tables) */
    const uint64_t d = d_of(&fx);
    assert_true(params + 2 * d + 3 * 6 * d == t->params);
    for (size_t i = 0; i < n; i++)
        csv_free(&rows[i]);
    free(rows);
    free(csv);
    teardown(&fx);
}

static void test_csv_quotes_shapes(void **state)
{
    (void)state;
    fixture fx;
    setup(&fx, 1);
    char *csv = render(&fx, w_csv);
    /* a linear's shape "[2,72,5120]x[5120,5120]" holds commas: it must be quoted */
    char want[128];
    snprintf(want, sizeof want, ",\"[%d,%llu,%llu]x[%llu,%llu]\",", B, (unsigned long long)L,
             (unsigned long long)d_of(&fx), (unsigned long long)d_of(&fx),
             (unsigned long long)d_of(&fx));
    assert_non_null(strstr(csv, want));
    /* a module has an empty shape: two commas in a row, unquoted */
    assert_non_null(strstr(csv, "\ntransformer.blocks.0,transformer,module,-,,,"));
    free(csv);
    teardown(&fx);
}

static void test_csv_torch_cpu_aten(void **state)
{
    (void)state;
    fixture fx;
    setup_mode(&fx, 1, WM_MODE_TORCH_CPU);
    char *csv = render(&fx, w_csv);
    /* the CPU attention kernel records no aten op, and counts 0 */
    assert_non_null(strstr(csv, "\ntransformer.blocks.0.attn1#sdpa,transformer.blocks.0.attn1,sdpa,"
                                "attention core,,"));
    assert_null(strstr(csv, "aten.bmm"));
    free(csv);
    teardown(&fx);
}

static void test_table_collapses_repeated_blocks(void **state)
{
    (void)state;
    fixture fx;
    setup(&fx, 3);
    char *t = render(&fx, w_table);
    assert_non_null(strstr(t, "  blocks.0 "));
    assert_non_null(strstr(t, "\n  blocks.1 … blocks.2   (2 more, identical to blocks.0)"));
    assert_null(strstr(t, "\n  blocks.1  ")); /* not expanded */
    assert_null(strstr(t, "\n  blocks.2 "));
    /* the run's share: 2 of the 3 identical blocks */
    const uint64_t blk = flops_of(&fx, "transformer.blocks.0");
    char share[32];
    snprintf(share, sizeof share, "%.1f%%",
             100.0 * 2.0 * (double)blk / (double)wm_report_totals(fx.r)->flops_per_forward);
    const char *line = strstr(t, "(2 more, identical to blocks.0)");
    const char *eol = strchr(line, '\n');
    char buf[256];
    snprintf(buf, sizeof buf, "%.*s", (int)(eol - line), line);
    assert_non_null(strstr(buf, share));
    free(t);
    teardown(&fx);

    setup(&fx, 1);
    t = render(&fx, w_table);
    assert_non_null(strstr(t, "  blocks.0 "));
    assert_null(strstr(t, "more, identical to"));
    assert_null(strstr(t, "…"));
    free(t);
    teardown(&fx);

    setup(&fx, 2);
    t = render(&fx, w_table);
    assert_non_null(strstr(t, "blocks.1   (1 more, identical to blocks.0)"));
    free(t);
    teardown(&fx);
}

static void test_table_depth(void **state)
{
    (void)state;
    fixture fx;
    setup(&fx, 2);
    char *t0 = table_at(&fx, 0), *t2 = table_at(&fx, 2), *t3 = table_at(&fx, 3);
    /* depth 0: the module section has the root only */
    const char *mods = strstr(t0, "\nModules (depth 0");
    assert_non_null(mods);
    const char *end = strstr(mods, "\nTop ");
    assert_non_null(end);
    char section[2048];
    snprintf(section, sizeof section, "%.*s", (int)(end - mods), mods);
    assert_non_null(strstr(section, "\ntransformer "));
    assert_null(strstr(section, "blocks.0"));
    assert_null(strstr(section, "patch_embedding"));
    /* depth 2: attn1 but not its projections; depth 3: the projections */
    assert_non_null(strstr(t2, "\n    attn1 "));
    assert_null(strstr(t2, "\n      to_q "));
    assert_non_null(strstr(t3, "\n      to_q "));
    free(t0);
    free(t2);
    free(t3);
    teardown(&fx);
}

static void test_table_sections_and_totals(void **state)
{
    (void)state;
    fixture fx;
    setup(&fx, 2);
    char *t = render(&fx, w_table);
    const wm_totals *tt = wm_report_totals(fx.r);
    /* the exact totals, grouped with commas */
    char want[64];
    unsigned long long v = tt->flops, parts[8];
    int np = 0;
    do {
        parts[np++] = v % 1000;
        v /= 1000;
    } while (v);
    int o = snprintf(want, sizeof want, "%llu", parts[np - 1]);
    for (int i = np - 2; i >= 0; i--)
        o += snprintf(want + o, sizeof want - (size_t)o, ",%03llu", parts[i]);
    assert_non_null(strstr(t, want));
    assert_non_null(strstr(t, "FLOPs per generation"));
    assert_non_null(strstr(t, "6 forwards = 3 steps × 2"));
    assert_non_null(strstr(t, "Top 10 modules"));
    assert_non_null(strstr(t, "Top 5 categories"));
    assert_non_null(strstr(t, "\nNotes\n- "));
    assert_non_null(strstr(t, "64×96")); /* H×W */
    assert_non_null(strstr(t, "L 72 per sample"));
    /* torch mode: no matrix/vector split */
    assert_null(strstr(t, "vector (elementwise)"));
    free(t);
    teardown(&fx);

    setup_mode(&fx, 2, WM_MODE_FULL);
    t = render(&fx, w_table);
    assert_non_null(strstr(t, "vector (elementwise)"));
    assert_non_null(strstr(t, "matrix (matmul, conv, attention)"));
    free(t);
    teardown(&fx);
}

/* The README's first example: within 100 columns for the default model and workload. */
static void test_table_fits_100_columns(void **state)
{
    (void)state;
    wm_error err;
    wm_error_clear(&err);
    wm_config *cfg = NULL;
    wm_model_config mc;
    wm_workload w;
    wm_model *m = NULL;
    wm_report *r = NULL;
    char *t = NULL;
    if (wm_config_load(NULL, &cfg, &err) || wm_config_model(cfg, NULL, &mc, &err) ||
        wm_config_workload(cfg, NULL, &w, &err) || wm_model_build(&mc, &m, &err) ||
        wm_report_create(m, &w, &r, &err) || wm_report_to_table(r, 2, &t, &err))
        fail_err("default report", &err);
    size_t col = 0, widest = 0;
    for (const char *p = t; *p; p++) {
        if (*p == '\n') {
            col = 0;
            continue;
        }
        if (((unsigned char)*p & 0xC0) != 0x80 && ++col > widest)
            widest = col;
    }
    assert_true(widest <= 100);
    assert_non_null(strstr(t, "blocks.1 … blocks.39   (39 more, identical to blocks.0)"));
    free(t);
    wm_report_free(r);
    wm_model_free(m);
    wm_config_free(cfg);
}

static void test_writers_deterministic(void **state)
{
    (void)state;
    writer_fn fns[] = {w_table, w_md, w_csv, w_summary, w_json};
    fixture a, b;
    setup(&a, 3);
    setup(&b, 3);
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        char *x = render(&a, fns[i]), *y = render(&b, fns[i]), *z = render(&a, fns[i]);
        assert_string_equal(x, y);
        assert_string_equal(x, z);
        free(x);
        free(y);
        free(z);
    }
    teardown(&a);
    teardown(&b);
}

/* Rows of the Markdown table under `heading` (header and alignment rows excluded). */
static size_t md_table_rows(const char *doc, const char *heading)
{
    const char *p = strstr(doc, heading);
    assert_non_null(p);
    p = strchr(p, '\n');
    while (*p == '\n')
        p++;
    size_t rows = 0;
    while (*p == '|') {
        rows++;
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    assert_true(rows >= 2);
    return rows - 2;
}

static void test_summary_lists_top_modules(void **state)
{
    (void)state;
    const uint64_t layers[] = {1, 2};
    for (size_t li = 0; li < 2; li++) {
        fixture fx;
        setup(&fx, layers[li]);
        char *s = render(&fx, w_summary);
        /* leaves with FLOPs, counted from the tree */
        const size_t n = wm_model_node_count(fx.m);
        const wm_node *nodes = wm_model_nodes(fx.m);
        const wm_counts *c = wm_report_counts(fx.r);
        size_t leaves = 0, cats = 0;
        bool cat_seen[WM_CAT_COUNT] = {false};
        for (size_t i = 0; i < n; i++) {
            bool parent = false;
            for (size_t j = i + 1; j < n && !parent; j++)
                parent = nodes[j].parent == (int32_t)i;
            if (parent || c[i].flops == 0)
                continue;
            leaves++;
            if (!cat_seen[nodes[i].category]) {
                cat_seen[nodes[i].category] = true;
                cats++;
            }
        }
        const size_t want = leaves < 10 ? leaves : 10;
        char heading[64];
        snprintf(heading, sizeof heading, "## Top %zu modules", want);
        assert_int_equal(md_table_rows(s, heading), want);
        snprintf(heading, sizeof heading, "## Top %zu categories", cats < 5 ? cats : 5);
        assert_int_equal(md_table_rows(s, heading), cats < 5 ? cats : 5);
        assert_non_null(strstr(s, "## Totals"));
        assert_non_null(strstr(s, "## Notes\n\n- "));
        assert_non_null(strstr(s, fx.w.profile_id));
        /* every note, in order */
        const char *p = s;
        for (size_t i = 0; i < wm_report_note_count(fx.r); i++) {
            const char *note = wm_report_note(fx.r, i);
            if (strchr(note, '*'))
                continue; /* escaped in Markdown */
            p = strstr(p, note);
            assert_non_null(p);
        }
        free(s);
        teardown(&fx);
    }
}

static void test_markdown_tables_are_well_formed(void **state)
{
    (void)state;
    fixture fx;
    setup(&fx, 3);
    char *md = render(&fx, w_md);
    assert_non_null(strstr(md, "| module | op | FLOPs/call | % fwd | params | bytes r+w |"));
    assert_non_null(strstr(md, "`blocks.1 … blocks.2` (2 more, identical to `blocks.0`)"));
    /* every table row of a table has as many cells as its header */
    int cols = -1;
    for (const char *line = md; *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > 0 && line[0] == '|') {
            int bars = 0;
            for (size_t i = 0; i < len; i++)
                bars += line[i] == '|' && (i == 0 || line[i - 1] != '\\');
            if (cols < 0)
                cols = bars;
            assert_int_equal(bars, cols);
        } else {
            cols = -1;
        }
        line += len + (eol ? 1 : 0);
    }
    free(md);
    teardown(&fx);
}

static void test_hotspot_shares(void **state)
{
    (void)state;
    fixture fx;
    setup(&fx, 2);
    wm_error err;
    wm_error_clear(&err);
    wm_hotspots h;
    assert_int_equal(wm_report_hotspots(fx.r, 10, &h, &err), WM_OK);
    double mods = 0, cats = 0;
    uint64_t cat_sum = 0;
    for (size_t i = 0; i < h.module_count; i++) {
        mods += h.modules[i].share;
        if (i > 0)
            assert_true(h.modules[i - 1].flops >= h.modules[i].flops);
    }
    for (size_t i = 0; i < h.category_count; i++) {
        cats += h.categories[i].share;
        cat_sum += h.categories[i].flops;
    }
    assert_true(mods <= 1.0 + 1e-12);
    assert_true(cats <= 1.0 + 1e-12);
    /* every leaf's work is in some category: they add up to the whole generation */
    assert_true(cat_sum == wm_report_totals(fx.r)->flops);
    teardown(&fx);
}

/* ---- report.json read back --------------------------------------------------------------- */

static wm_report_file *read_back(const fixture *fx)
{
    char *json = render(fx, w_json);
    wm_error err;
    wm_error_clear(&err);
    wm_report_file *f = NULL;
    if (wm_report_file_parse(json, strlen(json), "mem.json", &f, &err) != WM_OK)
        fail_err("parse", &err);
    free(json);
    return f;
}

static void test_read_round_trip(void **state)
{
    (void)state;
    fixture fx;
    setup(&fx, 2);
    wm_report_file *f = read_back(&fx);
    const wm_totals *t = wm_report_totals(fx.r);
    assert_string_equal(f->model_id, fx.mc.id);
    assert_string_equal(f->workload.profile_id, fx.w.profile_id);
    assert_true(f->workload.batch_size == B && f->workload.num_frames == F &&
                f->workload.height == H && f->workload.width == W &&
                f->workload.num_inference_steps == STEPS && f->workload.text_len == LT);
    assert_true(f->workload.cfg && f->forwards_per_step == 2);
    assert_int_equal(f->workload.mode, WM_MODE_TORCH);
    assert_true(memcmp(&f->totals, t, sizeof *t) == 0);
    assert_int_equal(f->module_count, wm_model_node_count(fx.m));
    assert_int_equal(f->note_count, wm_report_note_count(fx.r));
    const wm_node *nodes = wm_model_nodes(fx.m);
    const wm_counts *c = wm_report_counts(fx.r);
    for (size_t i = 0; i < f->module_count; i++) {
        const wm_rmodule *m = &f->modules[i];
        assert_string_equal(m->id, nodes[i].id);
        assert_int_equal(m->parent_index, nodes[i].parent);
        assert_true(m->flops == c[i].flops && m->calls == c[i].calls &&
                    m->params == c[i].params && m->bytes_read == c[i].bytes_read);
        assert_true(m->generation_flops == c[i].flops * c[i].calls);
        assert_int_equal(wm_report_file_find(f, m->id), (int32_t)i);
    }
    assert_int_equal(wm_report_file_find(f, "transformer.blocks.9"), -1);

    /* hotspots recomputed from the file match the library's ranking */
    wm_error err;
    wm_error_clear(&err);
    wm_hotspots h;
    wm_file_hotspots fh;
    assert_int_equal(wm_report_hotspots(fx.r, 10, &h, &err), WM_OK);
    assert_int_equal(wm_report_file_hotspots(f, 10, &fh, &err), WM_OK);
    assert_int_equal(fh.module_count, h.module_count);
    for (size_t i = 0; i < h.module_count; i++) {
        assert_string_equal(f->modules[fh.modules[i].module].id, nodes[h.modules[i].node].id);
        assert_true(fh.modules[i].flops == h.modules[i].flops);
    }
    assert_int_equal(fh.category_count, h.category_count);
    for (size_t i = 0; i < h.category_count; i++) {
        assert_string_equal(fh.categories[i].category, wm_category_name(h.categories[i].category));
        assert_true(fh.categories[i].flops == h.categories[i].flops);
    }
    wm_file_hotspots_free(&fh);
    wm_report_file_free(f);
    teardown(&fx);
}

static wm_status parse_text(const char *text, wm_error *err)
{
    wm_error_clear(err);
    wm_report_file *f = (wm_report_file *)&f; /* must be reset */
    wm_status s = wm_report_file_parse(text, strlen(text), "bad.json", &f, err);
    if (s == WM_OK)
        wm_report_file_free(f);
    else
        assert_null(f);
    return s;
}

static void test_read_errors(void **state)
{
    (void)state;
    wm_error err;
    /* a syntax error: line and column */
    assert_int_equal(parse_text("{\n \"schema_version\": 1,\n \"model\": {,}\n}\n", &err), WM_E_INPUT);
    assert_string_equal(err.what, "bad.json");
    assert_int_equal(err.line, 3);
    assert_true(err.column > 0);
    char lc[32];
    snprintf(lc, sizeof lc, "%d:%d", err.line, err.column);
    assert_non_null(strstr(err.why, lc));

    assert_int_equal(parse_text("[]", &err), WM_E_INPUT);
    assert_non_null(strstr(err.why, "object"));
    assert_int_equal(parse_text("{}", &err), WM_E_INPUT);
    assert_non_null(strstr(err.why, "'schema_version'"));
    assert_int_equal(parse_text("{\"schema_version\": 2}", &err), WM_E_INPUT);
    assert_non_null(strstr(err.why, "schema_version is 2"));
    assert_int_equal(parse_text("{\"schema_version\": 1}", &err), WM_E_INPUT);
    assert_non_null(strstr(err.why, "missing field 'model'"));

    /* field-level errors in an otherwise good file */
    fixture fx;
    setup(&fx, 1);
    char *json = render(&fx, w_json);
    struct {
        const char *from, *to, *why;
    } cases[] = {
        {"\"flops_per_forward\":", "\"flops_per_forwardX\":", "missing field 'totals.flops_per_forward'"},
        {"\"calls\": 6,", "\"calls\": -6,", "field 'modules[0].calls' is -6"},
        {"\"calls\": 6,", "\"calls\": 6.0,", "field 'modules[0].calls' must be a whole number"},
        {"\"mode\": \"torch\"", "\"mode\": \"tor\"", "workload.mode"},
        {"\"parent\": \"transformer\"", "\"parent\": \"transformerX\"", "is not the id of any module"},
        {"\"cfg\": true", "\"cfg\": 1", "field 'workload.cfg' must be true or false"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *at = strstr(json, cases[i].from);
        assert_non_null(at);
        size_t len = strlen(json) + strlen(cases[i].to) + 1;
        char *bad = malloc(len);
        assert_non_null(bad);
        snprintf(bad, len, "%.*s%s%s", (int)(at - json), json, cases[i].to,
                 at + strlen(cases[i].from));
        assert_int_equal(parse_text(bad, &err), WM_E_INPUT);
        if (!strstr(err.why, cases[i].why))
            fail_msg("case %zu: why '%s' lacks '%s'", i, err.why, cases[i].why);
        free(bad);
    }
    free(json);
    teardown(&fx);

    /* an unreadable file is an I/O error */
    wm_report_file *f = NULL;
    wm_error_clear(&err);
    assert_int_equal(wm_report_file_read("/nonexistent/report.json", &f, &err), WM_E_IO);
    assert_null(f);
}

static void test_id_pattern(void **state)
{
    (void)state;
    char out[128];
    const struct {
        const char *in, *out;
    } cases[] = {
        {"transformer.blocks.3.attn1#sdpa", "transformer.blocks.*.attn1#sdpa"},
        {"transformer.blocks.39", "transformer.blocks.*"},
        {"transformer.blocks.0.ffn.net.0.proj", "transformer.blocks.*.ffn.net.0.proj"},
        {"transformer.blocks.12.attn1.to_out.0", "transformer.blocks.*.attn1.to_out.0"},
        {"text_encoder.encoder.block.7.layer.1.DenseReluDense.wi_0",
         "text_encoder.encoder.block.*.layer.1.DenseReluDense.wi_0"},
        {"transformer.patch_embedding", "transformer.patch_embedding"},
        {"transformer#ada_table", "transformer#ada_table"},
        {"vae.decoder.up_blocks.2.resnets.0", "vae.decoder.up_blocks.2.resnets.0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wm_id_pattern(cases[i].in, out, sizeof out);
        assert_string_equal(out, cases[i].out);
    }
    char tiny[8];
    wm_id_pattern("transformer.blocks.3", tiny, sizeof tiny);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_rows_and_exact_counts),
        cmocka_unit_test(test_csv_leaf_sum_is_forward_total),
        cmocka_unit_test(test_csv_quotes_shapes),
        cmocka_unit_test(test_csv_torch_cpu_aten),
        cmocka_unit_test(test_table_collapses_repeated_blocks),
        cmocka_unit_test(test_table_depth),
        cmocka_unit_test(test_table_sections_and_totals),
        cmocka_unit_test(test_table_fits_100_columns),
        cmocka_unit_test(test_writers_deterministic),
        cmocka_unit_test(test_summary_lists_top_modules),
        cmocka_unit_test(test_markdown_tables_are_well_formed),
        cmocka_unit_test(test_hotspot_shares),
        cmocka_unit_test(test_read_round_trip),
        cmocka_unit_test(test_read_errors),
        cmocka_unit_test(test_id_pattern),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_estimate.c — `wanmeter estimate`: the device database (src/devices.c), plan validation,
 * the per-node roofline, stage and generation times, memory per GPU (src/estimate.c).
 *
 * Most checks use tests/data/devices/round.yaml merged over the built-in database: a device
 * "testgpu" (arch testarch) with round figures, so every expected time below is worked out by
 * hand from the model's formulas, never copied from wanmeter's output:
 *   bf16/fp16 peak 100 TFLOP/s, fp8 200, fp4 800 but sparse (dense: false)
 *   memory bandwidth 1000 GB/s x efficiency.memory 0.5            -> BW  = 500e9 B/s
 *   GEMMs at efficiency.gemm.testarch 0.5 of the peak             -> 50 TFLOP/s (ridge 100 FLOP/B),
 *   fp8-block GEMMs x efficiency.fp8_block_scale 0.5
 *   FlashAttention-2 at efficiency.attention.fa2.testarch 0.25   -> 25 TFLOP/s; no fa3
 *   launch overhead 0.001 us (the loader requires every efficiency > 0)
 *   interconnect 100 GB/s x 0.5, PCIe 10 GB/s x 0.5, collective latency 10 us
 *   runtime overhead 1 GB per GPU, collective buffers 2 GB per GPU when gpus > 1
 *   host testhost: 2 TFLOP/s
 * The model is wan2.1-t2v-1.3b (d = 12 heads x 128 = 1536, ffn 8960, 30 layers) on the
 * wan2-1-ci-tiny workload: B = 1, 4 frames of 256x256 (T = 1, h = w = 32: L = 16 x 16 = 256
 * video tokens), 64 text tokens, 1 step with guidance (2 transformer calls), bf16.
 *
 * The roofline per node and call (src/estimate.c):
 *   t = max(flops / (peak x efficiency), bytes / (bandwidth x efficiency.memory)) + launch
 * with flops = 2 M K N for a linear and bytes = (M K + M N) x 2 activation bytes plus the
 * weights at the plan's precision; an attention core's bytes are Q, K, V read and O written,
 * and the math kernel adds 16 bytes per score element (B x H x Lq x Lk).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testlib.h"

#include "wanmeter.h"

/* ---- the round fixture ----------------------------------------------------------------------- */

#define PEAK_BF16 100e12
#define PEAK_FP8 200e12
#define GEMM_EFF 0.5
#define FA2_EFF 0.25
#define FP8_BLOCK 0.5
#define BW (1000e9 * 0.5)
#define IC (100e9 * 0.5)
#define PCIE (10e9 * 0.5)
#define LAUNCH (0.001e-6)
#define LAT (10e-6)
#define HOST_FLOPS 2e12
#define RUNTIME 1000000000ull
#define COLLECTIVE 2000000000ull
#define MEMORY_BYTES 100000000000ull

/* 1.3B on wan2-1-ci-tiny */
#define D 1536.0
#define FFN 8960.0
#define HEADS 12.0
#define LAYERS 30.0
#define LV 256.0 /* video tokens */
#define LT 64.0  /* text tokens */

static const char *fixture_path(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "tests/data/devices/%s", name);
    if (access(buf, R_OK) != 0)
        fail_msg("%s not found: run the unit tests from the repository root", buf);
    return buf;
}

/* 1-based number of the first line of the fixture that contains `needle`. */
static int line_of(const char *name, const char *needle)
{
    char path[256], line[512];
    FILE *f = fopen(fixture_path(name, path, sizeof path), "r");
    assert_non_null(f);
    int n = 0, found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        n++;
        if (strstr(line, needle))
            found = n;
    }
    fclose(f);
    if (!found)
        fail_msg("%s has no line with %s", name, needle);
    return found;
}

static wm_devices *load_db(const char *name)
{
    char path[256];
    wm_devices *db = NULL;
    wm_error err;
    wm_error_clear(&err);
    if (wm_devices_load(name ? fixture_path(name, path, sizeof path) : NULL, &db, &err) != WM_OK)
        fail_msg("devices %s: %s: %s", name ? name : "(built-in)", err.what, err.why);
    assert_non_null(db);
    return db;
}

static wm_plan plan_on(const char *device)
{
    wm_plan p = WM_PLAN_INIT;
    snprintf(p.device, sizeof p.device, "%s", device);
    return p;
}

typedef struct est {
    tl_built b;
    wm_estimate *e;
} est;

static est est_make(const wm_model_config *c, const wm_workload *w, const wm_devices *db,
                    const wm_plan *p)
{
    est x = {.b = tl_build(c, w)};
    wm_error err;
    wm_error_clear(&err);
    if (wm_estimate_create(x.b.r, db, p, &x.e, &err) != WM_OK)
        fail_msg("estimate: %s: %s (%s)", err.what, err.why, err.fix);
    assert_non_null(x.e);
    return x;
}

static void est_free(est *x)
{
    wm_estimate_free(x->e);
    tl_unbuild(&x->b);
}

static size_t node_index(const est *x, const char *id)
{
    int32_t i = wm_model_find(x->b.m, id);
    if (i < 0)
        fail_msg("no node %s", id);
    return (size_t)i;
}

static const wm_node_time *node_time(const est *x, const char *id)
{
    return &wm_estimate_nodes(x->e)[node_index(x, id)];
}

static const wm_stage_estimate *stage_of(const est *x, wm_stage s)
{
    return &wm_estimate_stages(x->e)[s];
}

static const wm_estimate_totals *totals_of(const est *x) { return wm_estimate_totals_get(x->e); }

/* Relative equality for doubles computed along different paths. */
static bool close_to(double a, double b)
{
    return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b)) + 1e-300;
}

#define assert_close(a, b)                                                                     \
    do {                                                                                       \
        double a_ = (a), b_ = (b);                                                             \
        if (!close_to(a_, b_))                                                                 \
            fail_msg("%s = %.17g, expected %s = %.17g", #a, a_, #b, b_);                       \
    } while (0)

/* A leaf's time: the roofline of its flops at `rate` and its bytes at BW, plus the launch. */
static void check_roofline(const wm_node_time *t, double flops, double bytes, double rate)
{
    assert_close(t->flops, flops);
    assert_close(t->bytes, bytes);
    assert_close(t->compute_seconds, flops / rate);
    assert_close(t->memory_seconds, bytes / BW);
    assert_close(t->seconds, fmax(flops / rate, bytes / BW) + LAUNCH);
    assert_close(t->intensity, flops / bytes);
    assert_int_equal(t->bound, flops / rate >= bytes / BW ? WM_BOUND_COMPUTE : WM_BOUND_MEMORY);
}

static wm_model_config model_13b(void) { return tl_preset("wan2.1-t2v-1.3b"); }
static wm_workload ci_tiny(void) { return tl_workload("wan2-1-ci-tiny"); }

/* ---- names ----------------------------------------------------------------------------------- */

static void test_enum_names_round_trip(void **state)
{
    (void)state;
    for (int p = 0; p < WM_PRECISION_COUNT; p++) {
        wm_precision q = WM_PRECISION_COUNT;
        assert_true(wm_precision_parse(wm_precision_name((wm_precision)p), &q));
        assert_int_equal(q, p);
    }
    for (int k = 0; k < WM_ATTN_KERNEL_COUNT; k++) {
        wm_attn_kernel q = WM_ATTN_KERNEL_COUNT;
        assert_true(wm_attn_kernel_parse(wm_attn_kernel_name((wm_attn_kernel)k), &q));
        assert_int_equal(q, k);
    }
    wm_precision p = WM_PREC_BF16;
    assert_false(wm_precision_parse("int8", &p));
    assert_false(wm_precision_parse("", &p));
    wm_attn_kernel k = WM_ATTN_AUTO;
    assert_false(wm_attn_kernel_parse("fa4", &k));
    assert_string_equal(wm_precision_name(WM_PREC_FP8_BLOCK), "fp8-block");
    assert_string_equal(wm_attn_kernel_name(WM_ATTN_FA3_FP8), "fa3-fp8");
    assert_string_equal(wm_bound_name(WM_BOUND_COMM), "communication");
}

/* ---- the device database --------------------------------------------------------------------- */

static bool has_device(const wm_devices *db, const char *id)
{
    for (size_t i = 0; i < wm_devices_count(db); i++)
        if (strcmp(wm_devices_name(db, i), id) == 0)
            return true;
    return false;
}

static void test_builtin_and_user_devices(void **state)
{
    (void)state;
    wm_devices *builtin = load_db(NULL);
    static const char *const known[] = {"a100", "h100", "h800", "h200", "h20",
                                        "b200", "l40s", "rtx4090", "rtx5090", "mi300x"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        assert_true(has_device(builtin, known[i]));
    assert_false(has_device(builtin, "testgpu"));
    assert_null(wm_devices_name(builtin, wm_devices_count(builtin)));
    /* the user file adds one device and keeps every built-in one */
    wm_devices *round = load_db("round.yaml");
    assert_int_equal(wm_devices_count(round), wm_devices_count(builtin) + 1);
    assert_true(has_device(round, "testgpu") && has_device(round, "h100"));
    wm_devices *mine = load_db("mygpu.yaml");
    assert_true(has_device(mine, "mygpu"));
    assert_int_equal(wm_devices_count(mine), wm_devices_count(builtin) + 1);

    /* the added devices run, with their own figures */
    wm_model_config c = model_13b();
    wm_workload w = ci_tiny();
    wm_plan p = plan_on("testgpu");
    est x = est_make(&c, &w, round, &p);
    const wm_device_info *di = wm_estimate_device(x.e);
    assert_string_equal(di->id, "testgpu");
    assert_string_equal(di->arch, "testarch");
    assert_true(di->peak_tflops == 100.0 && di->bf16_tflops == 100.0);
    assert_true(di->memory_bandwidth_gbs == 1000.0 && di->memory_gb == 100.0);
    assert_true(di->host_cpu_tflops == 2.0);
    assert_true(totals_of(&x)->memory_bytes == MEMORY_BYTES);
    /* auto resolves to the device's default kernel */
    assert_int_equal(totals_of(&x)->attention_kernel, WM_ATTN_FA2);
    est_free(&x);
    p = plan_on("mygpu");
    x = est_make(&c, &w, mine, &p);
    assert_string_equal(wm_estimate_device(x.e)->name, "My GPU 64GB");
    assert_true(wm_estimate_device(x.e)->peak_tflops == 500.0);
    assert_true(totals_of(&x)->memory_bytes == 64000000000ull);
    assert_true(totals_of(&x)->total_seconds > 0.0 && isfinite(totals_of(&x)->total_seconds));
    est_free(&x);
    /* fp8 on mygpu uses its own fp8 figure */
    p.precision = WM_PREC_FP8;
    x = est_make(&c, &w, mine, &p);
    assert_true(wm_estimate_device(x.e)->peak_tflops == 1000.0);
    est_free(&x);
    wm_devices_free(builtin);
    wm_devices_free(round);
    wm_devices_free(mine);
}

static void test_device_file_errors(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        const char *what;  /* exact err.what */
        const char *why;   /* a substring of err.why */
        const char *line;  /* the fixture line err.line must point at (NULL: not checked) */
    } cases[] = {
        {"bad-unknown-key.yaml", "devices.h100.memory_bandwith_gbs", "unknown key",
         "memory_bandwith_gbs"},
        {"bad-missing-dense.yaml", "devices.h100.peaks.fp4.dense", "missing", "fp4:"},
        {"bad-missing-source.yaml", "devices.nosource.peaks.bf16.source", "missing", "bf16:"},
        {"bad-tflops-negative.yaml", "devices.h100.peaks.bf16.tflops", "out of range", "bf16:"},
        {"bad-tflops-zero.yaml", "devices.h100.peaks.bf16.tflops", "out of range", "bf16:"},
        {"bad-tflops-text.yaml", "devices.h100.peaks.bf16.tflops", "not a number", "bf16:"},
        {"bad-efficiency-above-1.yaml", "efficiency.memory", "out of range", "memory:"},
        {"bad-gemm-above-1.yaml", "efficiency.gemm.hopper", "out of range", "gemm:"},
        {"bad-arch-no-gemm.yaml", "devices.h100.arch", "volta", "arch:"},
        {"bad-unknown-host.yaml", "devices.h100.host", "mainframe", "host:"},
        {"bad-malformed.yaml", "YAML syntax", "", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256];
        fixture_path(cases[i].file, path, sizeof path);
        wm_devices *db = (wm_devices *)&db; /* must be reset to NULL */
        wm_error err;
        wm_error_clear(&err);
        wm_status s = wm_devices_load(path, &db, &err);
        if (s != WM_E_INPUT)
            fail_msg("%s: status %s, expected invalid input", cases[i].file, wm_status_name(s));
        assert_null(db);
        assert_int_equal(err.code, WM_E_INPUT);
        if (strcmp(err.what, cases[i].what) != 0 || !strstr(err.why, cases[i].why))
            fail_msg("%s: got %s: %s", cases[i].file, err.what, err.why);
        /* every error points into the user's file */
        assert_string_equal(err.file, path);
        assert_true(err.line > 0);
        if (cases[i].line)
            assert_int_equal(err.line, line_of(cases[i].file, cases[i].line));
        char msg[1536];
        wm_error_format(&err, msg, sizeof msg);
        char where[300];
        snprintf(where, sizeof where, "%s:%d:", path, err.line);
        assert_non_null(strstr(msg, where));
    }
    /* a missing file is an i/o error; an empty path names the flag */
    wm_devices *db = NULL;
    wm_error err;
    wm_error_clear(&err);
    assert_int_equal(wm_devices_load("tests/data/devices/no-such-file.yaml", &db, &err), WM_E_IO);
    assert_null(db);
    assert_int_equal(wm_devices_load("", &db, &err), WM_E_INPUT);
    assert_string_equal(err.what, "--devices");
    assert_null(db);
}

/* ---- plan validation ------------------------------------------------------------------------- */

typedef struct plan_case {
    const char *name;
    const char *model;  /* preset, or NULL: the tiny DiT without a text encoder */
    wm_plan plan;
    uint64_t batch;     /* 0: the workload's */
    bool no_cfg;
    wm_mode mode;
    unsigned extra;     /* DTYPE_FP32: --dtype fp32 */
    const char *what;   /* exact err.what */
    const char *why;    /* a substring of err.why */
} plan_case;

enum { CFGP = 1, FSDP = 2, OFFLOAD = 4, T5CPU = 8, CONVERT = 16, DTYPE_FP32 = 1 };

static wm_plan mk(const char *device, wm_precision precision, wm_attn_kernel kernel,
                  uint64_t gpus, uint64_t ulysses, uint64_t ring, unsigned flags)
{
    wm_plan p = plan_on(device);
    p.precision = precision;
    p.attention_kernel = kernel;
    p.gpus = gpus;
    p.ulysses = ulysses;
    p.ring = ring;
    p.cfg_parallel = flags & CFGP;
    p.fsdp = flags & FSDP;
    p.offload_model = flags & OFFLOAD;
    p.t5_cpu = flags & T5CPU;
    p.convert_model_dtype = flags & CONVERT;
    return p;
}

/* bf16, the device's attention kernel */
static wm_plan par(const char *device, uint64_t gpus, uint64_t ulysses, uint64_t ring,
                   unsigned flags)
{
    return mk(device, WM_PREC_BF16, WM_ATTN_AUTO, gpus, ulysses, ring, flags);
}

/* one GPU */
static wm_plan prec(const char *device, wm_precision precision, wm_attn_kernel kernel)
{
    return mk(device, precision, kernel, 1, 1, 1, 0);
}

static void test_plan_validation(void **state)
{
    (void)state;
    wm_devices *db = load_db("round.yaml");
    const plan_case cases[] = {
        /* 1.3B has 12 heads: 5 does not divide them */
        {"ulysses-5", "wan2.1-t2v-1.3b", par("h100", 5, 5, 1, 0), 0,
         false, WM_MODE_TORCH, 0, "--ulysses", "12"},
        {"ulysses-8-on-12-heads", "wan2.1-t2v-1.3b", par("h100", 8, 8, 1, 0),
         0, false, WM_MODE_TORCH, 0, "--ulysses", "does not divide"},
        /* 14B has 40 heads: 3 does not divide them */
        {"ulysses-3-on-40-heads", "wan2.1-t2v-14b", par("h100", 3, 3, 1, 0),
         0, false, WM_MODE_TORCH, 0, "--ulysses", "40"},
        {"gpus-below-group", "wan2.1-t2v-1.3b", par("h100", 2, 4, 1, 0), 0,
         false, WM_MODE_TORCH, 0, "--gpus", ""},
        {"gpus-below-usp-cfg", "wan2.1-t2v-1.3b",
         par("h100", 4, 2, 2, CFGP), 0, false,
         WM_MODE_TORCH, 0, "--gpus", ""},
        {"gpus-not-multiple", "wan2.1-t2v-1.3b", par("h100", 3, 2, 1, 0), 0,
         false, WM_MODE_TORCH, 0, "--gpus", "groups of 2"},
        {"batch-not-split", "wan2.1-t2v-1.3b", par("h100", 2, 1, 1, 0), 1, false,
         WM_MODE_TORCH, 0, "--batch", "2 data-parallel"},
        {"batch-3-over-2", "wan2.1-t2v-1.3b", par("h100", 4, 2, 1, 0), 3,
         false, WM_MODE_TORCH, 0, "--batch", ""},
        {"cfg-parallel-no-guidance", "wan2.1-t2v-1.3b",
         par("h100", 2, 1, 1, CFGP), 0, true, WM_MODE_TORCH, 0,
         "--cfg-parallel", "guidance"},
        {"fsdp-one-gpu", "wan2.1-t2v-1.3b", par("h100", 1, 1, 1, FSDP), 0, false,
         WM_MODE_TORCH, 0, "--fsdp", ""},
        {"unknown-device", "wan2.1-t2v-1.3b", par("v100", 1, 1, 1, 0), 0, false, WM_MODE_TORCH, 0,
         "--device", "v100"},
        {"fp8-on-a100", "wan2.1-t2v-1.3b", prec("a100", WM_PREC_FP8, WM_ATTN_AUTO), 0,
         false, WM_MODE_TORCH, 0, "devices.a100.peaks.fp8", "--precision fp8"},
        {"fp8-block-on-a100", "wan2.1-t2v-1.3b",
         prec("a100", WM_PREC_FP8_BLOCK, WM_ATTN_AUTO), 0, false, WM_MODE_TORCH, 0,
         "devices.a100.peaks.fp8", "--precision fp8-block"},
        {"fp4-on-h100", "wan2.1-t2v-1.3b", prec("h100", WM_PREC_FP4, WM_ATTN_AUTO), 0,
         false, WM_MODE_TORCH, 0, "devices.h100.peaks.fp4", "--precision fp4"},
        {"fp4-sparse-on-testgpu", "wan2.1-t2v-1.3b",
         prec("testgpu", WM_PREC_FP4, WM_ATTN_AUTO), 0, false, WM_MODE_TORCH, 0,
         "devices.testgpu.peaks.fp4", "sparse"},
        {"fa3-on-rtx4090", "wan2.1-t2v-1.3b",
         prec("rtx4090", WM_PREC_BF16, WM_ATTN_FA3), 0, false, WM_MODE_TORCH, 0,
         "--attention-kernel", "ada"},
        {"fa3-fp8-on-a100", "wan2.1-t2v-1.3b",
         prec("a100", WM_PREC_BF16, WM_ATTN_FA3_FP8), 0, false, WM_MODE_TORCH, 0,
         "--attention-kernel", "ampere"},
        {"fa3-on-testgpu", "wan2.1-t2v-1.3b",
         prec("testgpu", WM_PREC_BF16, WM_ATTN_FA3), 0, false, WM_MODE_TORCH, 0,
         "--attention-kernel", "testarch"},
        {"mode-torch-cpu", "wan2.1-t2v-1.3b", par("h100", 1, 1, 1, 0), 0, false,
         WM_MODE_TORCH_CPU, 0, "--mode", "attention"},
        {"t5-cpu-without-text-encoder", NULL, par("h100", 1, 1, 1, T5CPU), 0, false,
         WM_MODE_TORCH, 0, "--t5-cpu", "text encoder"},
        /* the tiny DiT has 12 video tokens (its workload); 16 sequence shards are too many */
        {"ring-beyond-tokens", NULL, par("h100", 16, 1, 16, 0), 2, false,
         WM_MODE_TORCH, 0, "--ring", "12"},
        {"gpus-0", "wan2.1-t2v-1.3b", par("h100", 0, 1, 1, 0), 0, false, WM_MODE_TORCH, 0,
         "--gpus", ""},
        {"dtype-fp32", "wan2.1-t2v-1.3b", par("h100", 1, 1, 1, 0), 0, false, WM_MODE_TORCH,
         DTYPE_FP32, "--dtype", "fp32"},
        {"convert-model-dtype-diffusers", "wan2.1-t2v-1.3b", par("h100", 1, 1, 1, CONVERT), 0,
         false, WM_MODE_TORCH, 0, "--convert-model-dtype", "official"},
        {"ulysses-0", "wan2.1-t2v-1.3b", par("h100", 1, 0, 1, 0), 0, false,
         WM_MODE_TORCH, 0, "--ulysses", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const plan_case *pc = &cases[i];
        wm_model_config c = pc->model ? tl_preset(pc->model) : tl_tiny_dit();
        wm_workload w = pc->model ? ci_tiny() : tl_tiny_workload();
        if (pc->batch)
            w.batch_size = pc->batch;
        if (pc->no_cfg)
            w.cfg = false;
        w.mode = pc->mode;
        if (pc->extra & DTYPE_FP32)
            w.dtype = WM_DTYPE_FP32;
        tl_built b = tl_build(&c, &w);
        wm_error err;
        wm_error_clear(&err);
        wm_status s = wm_plan_validate(&pc->plan, db, b.r, &err);
        if (s != WM_E_INPUT || strcmp(err.what, pc->what) != 0 || !strstr(err.why, pc->why))
            fail_msg("%s: %s, %s: %s (%s)", pc->name, wm_status_name(s), err.what, err.why,
                     err.fix);
        assert_true(err.fix[0] != '\0'); /* every plan error says what to do */
        /* the estimate refuses the same plan the same way */
        wm_estimate *e = (wm_estimate *)&e;
        wm_error err2;
        wm_error_clear(&err2);
        assert_int_equal(wm_estimate_create(b.r, db, &pc->plan, &e, &err2), WM_E_INPUT);
        assert_null(e);
        assert_string_equal(err2.what, err.what);
        tl_unbuild(&b);
    }
    /* the sparse figure is located in the file that recorded it */
    {
        wm_model_config c = model_13b();
        wm_workload w = ci_tiny();
        tl_built b = tl_build(&c, &w);
        wm_plan p = prec("testgpu", WM_PREC_FP4, WM_ATTN_AUTO);
        wm_error err;
        wm_error_clear(&err);
        assert_int_equal(wm_plan_validate(&p, db, b.r, &err), WM_E_INPUT);
        char path[256];
        assert_string_equal(err.file, fixture_path("round.yaml", path, sizeof path));
        assert_int_equal(err.line, line_of("round.yaml", "fp4:"));
        /* and valid neighbours of the refused plans pass */
        const wm_plan ok[] = {
            par("h100", 4, 4, 1, 0),
            par("h100", 6, 6, 1, 0),
            par("h100", 4, 2, 1, CFGP),
            par("h100", 2, 2, 1, FSDP),
            prec("h100", WM_PREC_FP8, WM_ATTN_AUTO),
            prec("h100", WM_PREC_BF16, WM_ATTN_FA3_FP8),
            prec("a100", WM_PREC_BF16, WM_ATTN_MATH),
            prec("rtx4090", WM_PREC_BF16, WM_ATTN_FA2),
            prec("testgpu", WM_PREC_FP8, WM_ATTN_AUTO),
            prec("b200", WM_PREC_FP4, WM_ATTN_AUTO),
            par("h100", 1, 1, 1, OFFLOAD | T5CPU),
        };
        for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
            wm_error_clear(&err);
            if (wm_plan_validate(&ok[i], db, b.r, &err) != WM_OK)
                fail_msg("valid plan %zu refused: %s: %s", i, err.what, err.why);
        }
        tl_unbuild(&b);
    }
    wm_devices_free(db);
}

/* ---- the roofline of one node --------------------------------------------------------------- */

static void test_roofline_linear(void **state)
{
    (void)state;
    wm_devices *db = load_db("round.yaml");
    wm_model_config c = model_13b();
    wm_workload w = ci_tiny();
    wm_plan p = plan_on("testgpu");
    est x = est_make(&c, &w, db, &p);
    assert_true(wm_report_geometry(x.b.r)->dit_seq_len == (uint64_t)LV);

    /* self-attention to_q: M = B L = 256, K = N = 1536, weights d^2 + d at 2 bytes.
     * flops 2*256*1536^2 = 1.208e9 -> 24.2 us at 50 TFLOP/s; bytes (256*1536*2)*2 + 2*(d^2+d)
     * = 6.29 MB -> 12.6 us at 500 GB/s: compute-bound (intensity 192 > ridge 100) */
    const double q_flops = 2.0 * LV * D * D;
    const double q_act = (LV * D + LV * D) * 2.0;
    const double q_params = D * D + D;
    check_roofline(node_time(&x, "transformer.blocks.0.attn1.to_q"), q_flops,
                   q_act + q_params * 2.0,
                   PEAK_BF16 * GEMM_EFF);
    assert_int_equal(node_time(&x, "transformer.blocks.0.attn1.to_q")->bound, WM_BOUND_COMPUTE);

    /* cross-attention to_k on the 64 text tokens: flops 2*64*1536^2 = 3.02e8 -> 6.0 us;
     * bytes (64*1536*2)*2 + 2*(d^2+d) = 5.11 MB -> 10.2 us: memory-bound (intensity 59) */
    const double k_flops = 2.0 * LT * D * D;
    const double k_bytes = (LT * D + LT * D) * 2.0 + q_params * 2.0;
    check_roofline(node_time(&x, "transformer.blocks.0.attn2.to_k"), k_flops, k_bytes,
                   PEAK_BF16 * GEMM_EFF);
    assert_int_equal(node_time(&x, "transformer.blocks.0.attn2.to_k")->bound, WM_BOUND_MEMORY);

    /* ffn up projection: K = 1536, N = 8960 (bias), compute-bound */
    const double f_flops = 2.0 * LV * D * FFN;
    const double f_bytes = (LV * D + LV * FFN) * 2.0 + (D * FFN + FFN) * 2.0;
    check_roofline(node_time(&x, "transformer.blocks.0.ffn.net.0.proj"), f_flops, f_bytes,
                   PEAK_BF16 * GEMM_EFF);

    /* an elementwise leaf (mode torch: no FLOPs): norm1 reads and writes B L d at 2 bytes */
    check_roofline(node_time(&x, "transformer.blocks.0.norm1"), 0.0, 2.0 * LV * D * 2.0,
                   PEAK_BF16 * GEMM_EFF);
    assert_int_equal(node_time(&x, "transformer.blocks.0.norm1")->bound, WM_BOUND_MEMORY);

    /* the text encoder's q (umT5, no bias): 64 rows x 4096 -> 4096, bf16 GEMM whatever the
     * transformer's precision */
    const double t_flops = 2.0 * LT * 4096.0 * 4096.0;
    const double t_bytes = (LT * 4096.0 * 2.0) * 2.0 + 4096.0 * 4096.0 * 2.0;
    const char *te_q = "text_encoder.encoder.block.0.layer.0.SelfAttention.q";
    check_roofline(node_time(&x, te_q), t_flops, t_bytes, PEAK_BF16 * GEMM_EFF);
    est_free(&x);

    /* fp8: the transformer's GEMMs at the fp8 peak with 1-byte weights; other stages unchanged */
    p.precision = WM_PREC_FP8;
    x = est_make(&c, &w, db, &p);
    check_roofline(node_time(&x, "transformer.blocks.0.attn1.to_q"), q_flops,
                   q_act + q_params * 1.0,
                   PEAK_FP8 * GEMM_EFF);
    check_roofline(node_time(&x, "transformer.blocks.0.attn2.to_k"), k_flops,
                   (LT * D + LT * D) * 2.0 + q_params, PEAK_FP8 * GEMM_EFF);
    check_roofline(node_time(&x, te_q), t_flops, t_bytes, PEAK_BF16 * GEMM_EFF);
    est_free(&x);

    /* fp8-block: the fp8 peak slowed by efficiency.fp8_block_scale (0.5 here) */
    p.precision = WM_PREC_FP8_BLOCK;
    x = est_make(&c, &w, db, &p);
    check_roofline(node_time(&x, "transformer.blocks.0.attn1.to_q"), q_flops,
                   q_act + q_params * 1.0,
                   PEAK_FP8 * GEMM_EFF * FP8_BLOCK);
    est_free(&x);

    /* fp16: the fp16 peak (100 here too) with 2-byte weights */
    p.precision = WM_PREC_FP16;
    x = est_make(&c, &w, db, &p);
    check_roofline(node_time(&x, "transformer.blocks.0.attn1.to_q"), q_flops,
                   q_act + q_params * 2.0,
                   PEAK_BF16 * GEMM_EFF);
    est_free(&x);
    wm_devices_free(db);
}

static void test_roofline_attention_kernels(void **state)
{
    (void)state;
    wm_devices *db = load_db("round.yaml");
    wm_model_config c = model_13b();
    wm_workload w = ci_tiny();
    wm_plan p = plan_on("testgpu");
    p.attention_kernel = WM_ATTN_FA2;
    est x = est_make(&c, &w, db, &p);
    /* self-attention core: 4 B L L d = 4*256*256*1536 = 4.03e8 FLOPs at 25 TFLOP/s = 16.1 us;
     * fused: Q, K, V read and O written, B L d each at 2 bytes = 3.15 MB -> 6.3 us */
    const double s_flops = 4.0 * LV * LV * D;
    const double s_fused = 4.0 * LV * D * 2.0;
    const wm_node_time *t = node_time(&x, "transformer.blocks.0.attn1#sdpa");
    check_roofline(t, s_flops, s_fused, PEAK_BF16 * FA2_EFF);
    assert_int_equal(t->bound, WM_BOUND_COMPUTE);
    /* cross-attention core over the 64 text tokens: 4 B L Lt d; Q and O of the video, K and V of
     * the text */
    const double x_flops = 4.0 * LV * LT * D;
    const double x_fused = (LV * D + 2.0 * LT * D + LV * D) * 2.0;
    check_roofline(node_time(&x, "transformer.blocks.0.attn2#sdpa"), x_flops, x_fused,
                   PEAK_BF16 * FA2_EFF);
    const double fa2_total = totals_of(&x)->total_seconds;
    assert_int_equal(totals_of(&x)->attention_kernel, WM_ATTN_FA2);
    est_free(&x);

    /* math: the GEMM efficiency, and the fp32 score matrix through memory, 16 bytes per score
     * element (B H L L = 12 * 256 * 256 = 786432 -> +12.6 MB): now memory-bound (31.5 us) */
    p.attention_kernel = WM_ATTN_MATH;
    x = est_make(&c, &w, db, &p);
    t = node_time(&x, "transformer.blocks.0.attn1#sdpa");
    check_roofline(t, s_flops, s_fused + 16.0 * HEADS * LV * LV, PEAK_BF16 * GEMM_EFF);
    assert_int_equal(t->bound, WM_BOUND_MEMORY);
    check_roofline(node_time(&x, "transformer.blocks.0.attn2#sdpa"), x_flops,
                   x_fused + 16.0 * HEADS * LV * LT, PEAK_BF16 * GEMM_EFF);
    assert_int_equal(totals_of(&x)->attention_kernel, WM_ATTN_MATH);
    /* only the attention cores changed; here math is slower end to end */
    assert_true(totals_of(&x)->total_seconds > fa2_total);
    bool noted = false;
    for (size_t i = 0; i < wm_estimate_note_count(x.e); i++)
        noted = noted || strstr(wm_estimate_note(x.e, i), "score matrix") != NULL;
    assert_true(noted);
    est_free(&x);
    wm_devices_free(db);
}

/* Every container's time, FLOPs and bytes are the sums of its children's; every leaf's time is
 * max(compute, memory) + launch and its bound the larger side. */
static void check_tree_sums(const est *x, double launch)
{
    const wm_node *nodes = wm_model_nodes(x->b.m);
    const wm_node_time *t = wm_estimate_nodes(x->e);
    const size_t n = wm_model_node_count(x->b.m);
    double *sec = calloc(n, sizeof *sec), *fl = calloc(n, sizeof *fl), *by = calloc(n, sizeof *by);
    assert_non_null(sec);
    assert_non_null(fl);
    assert_non_null(by);
    size_t containers = 0, leaves = 0;
    for (size_t i = 0; i < n; i++)
        if (nodes[i].parent >= 0) {
            sec[nodes[i].parent] += t[i].seconds;
            fl[nodes[i].parent] += t[i].flops;
            by[nodes[i].parent] += t[i].bytes;
        }
    for (size_t i = 0; i < n; i++) {
        if (nodes[i].subtree_size > 1) {
            containers++;
            if (!close_to(t[i].seconds, sec[i]) || !close_to(t[i].flops, fl[i]) ||
                !close_to(t[i].bytes, by[i]))
                fail_msg("%s: %.17g s, %g FLOPs, %g B; children %.17g s, %g FLOPs, %g B",
                         nodes[i].id, t[i].seconds, t[i].flops, t[i].bytes, sec[i], fl[i], by[i]);
        } else {
            leaves++;
            if (!close_to(t[i].seconds, fmax(t[i].compute_seconds, t[i].memory_seconds) + launch))
                fail_msg("%s: %.17g s, compute %.17g, memory %.17g", nodes[i].id, t[i].seconds,
                         t[i].compute_seconds, t[i].memory_seconds);
            assert_int_equal(t[i].bound, t[i].compute_seconds >= t[i].memory_seconds
                                             ? WM_BOUND_COMPUTE
                                             : WM_BOUND_MEMORY);
            assert_true(t[i].seconds > 0.0 && isfinite(t[i].seconds));
        }
    }
    assert_true(containers > 10 && leaves > containers);
    free(sec);
    free(fl);
    free(by);
}

static void test_containers_sum_their_children(void **state)
{
    (void)state;
    wm_devices *db = load_db("round.yaml");
    wm_model_config c = model_13b();
    wm_workload w = ci_tiny();
    wm_plan p = plan_on("testgpu");
    est x = est_make(&c, &w, db, &p);
    check_tree_sums(&x, LAUNCH);
    /* by hand: blocks.0.attn1 is to_q, to_k, to_v, norm_q, norm_k, #rope, #sdpa, to_out.0 */
    static const char *const attn1[] = {"to_q", "to_k", "to_v", "norm_q", "norm_k", "#rope",
                                        "#sdpa", "to_out.0"};
    double sum = 0.0;
    for (size_t i = 0; i < sizeof attn1 / sizeof attn1[0]; i++) {
        char id[128];
        snprintf(id, sizeof id, "transformer.blocks.0.attn1%s%s", attn1[i][0] == '#' ? "" : ".",
                 attn1[i]);
        sum += node_time(&x, id)->seconds;
    }
    assert_close(node_time(&x, "transformer.blocks.0.attn1")->seconds, sum);
    /* identical blocks take identical time */
    assert_true(node_time(&x, "transformer.blocks.0")->seconds ==
                node_time(&x, "transformer.blocks.29")->seconds);
    est_free(&x);
    /* the same under a parallel plan and mode full (vector FLOPs on the fp32 units) */
    w.mode = WM_MODE_FULL;
    p.gpus = 4;
    p.ulysses = 4;
    p.fsdp = true;
    p.attention_kernel = WM_ATTN_MATH;
    x = est_make(&c, &w, db, &p);
    check_tree_sums(&x, LAUNCH);
    est_free(&x);
    wm_devices_free(db);
}

/* ---- stages and the generation -------------------------------------------------------------- */

/* Sum over the roots of a stage of one call's time. */
static double stage_per_call(const est *x, wm_stage s)
{
    const wm_node *nodes = wm_model_nodes(x->b.m);
    const size_t n = wm_model_node_count(x->b.m);
    double sum = 0.0;
    for (size_t i = 0; i < n; i += nodes[i].subtree_size)
        if (nodes[i].stage == s)
            sum += wm_estimate_nodes(x->e)[i].seconds;
    return sum;
}

static void test_stage_and_total_seconds(void **state)
{
    (void)state;
    wm_devices *db = load_db("round.yaml");
    wm_model_config c = model_13b();
    wm_workload w = ci_tiny();
    w.num_inference_steps = 3;
    wm_plan p = plan_on("testgpu");
    est x = est_make(&c, &w, db, &p);
    const wm_totals *rt = wm_report_totals(x.b.r); /* valid until est_free(&x) */
    double sum = 0.0;
    int present = 0;
    for (int k = 0; k < WM_STAGE_COUNT; k++) {
        const wm_stage_estimate *st = stage_of(&x, (wm_stage)k);
        assert_int_equal(st->present, rt->stages[k].present);
        if (!st->present)
            continue;
        present++;
        /* one GPU: no communication; calls x the per-call time of the stage's roots */
        assert_true(st->calls == rt->stages[k].calls);
        assert_true(st->comm_seconds == 0.0 && st->comm_bytes == 0.0);
        assert_close(st->seconds, (double)st->calls * stage_per_call(&x, (wm_stage)k));
        assert_false(st->on_host);
        assert_true(st->selected);
        sum += st->seconds;
    }
    assert_int_equal(present, 3); /* T2V: text encoder, transformer, VAE decode */
    /* 3 steps with guidance: 6 transformer calls, 2 text encoder calls, 1 decode */
    assert_true(stage_of(&x, WM_STAGE_TRANSFORMER)->calls == 6);
    assert_true(stage_of(&x, WM_STAGE_TEXT_ENCODER)->calls == 2);
    assert_true(stage_of(&x, WM_STAGE_VAE_DECODE)->calls == 1);
    const wm_estimate_totals *T = totals_of(&x);
    assert_true(T->offload_seconds == 0.0);
    assert_close(T->total_seconds, sum);
    assert_close(T->videos_per_hour, 3600.0 / sum);
    assert_true(T->dp == 1 && T->group == 1);
    const double full_total = T->total_seconds;
    est_free(&x);

    /* --stages transformer: the other stages are estimated but not counted */
    w.stages = 1u << WM_STAGE_TRANSFORMER;
    x = est_make(&c, &w, db, &p);
    assert_true(stage_of(&x, WM_STAGE_TEXT_ENCODER)->present);
    assert_false(stage_of(&x, WM_STAGE_TEXT_ENCODER)->selected);
    assert_false(stage_of(&x, WM_STAGE_VAE_DECODE)->selected);
    assert_true(stage_of(&x, WM_STAGE_TRANSFORMER)->selected);
    assert_close(totals_of(&x)->total_seconds, stage_of(&x, WM_STAGE_TRANSFORMER)->seconds);
    assert_true(totals_of(&x)->total_seconds < full_total);
    est_free(&x);
    w.stages = 0;

    /* --offload-model: the transformer and the text encoder go to the GPU and back once per
     * generation over PCIe (10 GB/s x 0.5), at the bytes resident on the GPU */
    p.offload_model = true;
    x = est_make(&c, &w, db, &p);
    const double moved = 2.0 * ((double)stage_of(&x, WM_STAGE_TRANSFORMER)->weight_bytes +
                                (double)stage_of(&x, WM_STAGE_TEXT_ENCODER)->weight_bytes);
    assert_close(totals_of(&x)->offload_seconds, moved / PCIE);
    sum = 0.0;
    for (int k = 0; k < WM_STAGE_COUNT; k++)
        if (stage_of(&x, (wm_stage)k)->present)
            sum += stage_of(&x, (wm_stage)k)->seconds;
    assert_close(totals_of(&x)->total_seconds, sum + totals_of(&x)->offload_seconds);
    assert_close(sum, full_total); /* the stages themselves do not change */
    est_free(&x);

    /* --t5-cpu: the text encoder's FLOPs at the host's 2 TFLOP/s, on the host; with offload
     * only the transformer moves */
    p.t5_cpu = true;
    x = est_make(&c, &w, db, &p);
    const wm_stage_estimate *te = stage_of(&x, WM_STAGE_TEXT_ENCODER);
    assert_true(te->on_host);
    assert_int_equal(te->bound, WM_BOUND_HOST);
    assert_true(te->calls == 2);
    const double te_flops =
        (double)wm_report_totals(x.b.r)->stages[WM_STAGE_TEXT_ENCODER].flops_per_call;
    assert_close(te->flops, 2.0 * te_flops);
    assert_close(te->seconds, 2.0 * te_flops / HOST_FLOPS);
    assert_close(totals_of(&x)->offload_seconds,
                 2.0 * (double)stage_of(&x, WM_STAGE_TRANSFORMER)->weight_bytes / PCIE);
    assert_true(te->weight_bytes == 0 && te->activation_bytes == 0);
    est_free(&x);
    wm_devices_free(db);
}

/* Ulysses: four all-to-alls (q, k, v, o) per self-attention, each sending (U-1)/U of a local
 * B x L/U x d shard at 2 bytes, plus the collective latency each, and one gather of the
 * output per forward; the work of video-token rows is split U ways. */
static void test_ulysses_communication(void **state)
{
    (void)state;
    wm_devices *db = load_db("round.yaml");
    wm_model_config c = model_13b();
    wm_workload w = ci_tiny();
    wm_plan p = plan_on("testgpu");
    est one = est_make(&c, &w, db, &p);
    p.gpus = 2;
    p.ulysses = 2;
    est two = est_make(&c, &w, db, &p);
    /* the video-token work halves; the text projections do not */
    const char *const halved[] = {"transformer.blocks.0.attn1.to_q",
                                  "transformer.blocks.0.attn1#sdpa",
                                  "transformer.blocks.0.attn2#sdpa",
                                  "transformer.blocks.0.ffn.net.2"};
    for (size_t i = 0; i < 4; i++)
        assert_close(node_time(&two, halved[i])->flops, node_time(&one, halved[i])->flops / 2.0);
    assert_close(node_time(&two, "transformer.blocks.0.attn2.to_k")->flops,
                 node_time(&one, "transformer.blocks.0.attn2.to_k")->flops);
    /* 2 x 0.5 x (1 x 128 x 1536 x 2 bytes) per tensor x 4 tensors x 30 self-attentions */
    const double local = 1.0 * (LV / 2.0) * D * 2.0;
    const double bytes = 4.0 * local * 0.5 * LAYERS;
    const double per_call = bytes / IC + 4.0 * LAYERS * LAT + LAT;
    const wm_stage_estimate *st = stage_of(&two, WM_STAGE_TRANSFORMER);
    assert_true(st->calls == 2);
    assert_close(st->comm_bytes, 2.0 * bytes);
    assert_close(st->comm_seconds, 2.0 * per_call);
    assert_close(st->seconds, 2.0 * (stage_per_call(&two, WM_STAGE_TRANSFORMER) + per_call));
    /* only the transformer is split or talks */
    assert_true(stage_of(&two, WM_STAGE_TEXT_ENCODER)->comm_seconds == 0.0);
    assert_close(stage_of(&two, WM_STAGE_TEXT_ENCODER)->seconds,
                 stage_of(&one, WM_STAGE_TEXT_ENCODER)->seconds);
    assert_true(totals_of(&two)->group == 2 && totals_of(&two)->dp == 1);
    est_free(&one);
    est_free(&two);
    wm_devices_free(db);
}

/* CFG parallel: the cond and uncond forwards on two GPUs, so each runs half the calls, then one
 * exchange of the noise prediction (B x Cout x T x h x w in fp32) per step. */
static void test_cfg_parallel(void **state)
{
    (void)state;
    wm_devices *db = load_db("round.yaml");
    wm_model_config c = model_13b();
    wm_workload w = ci_tiny();
    w.num_inference_steps = 3;
    wm_plan p = plan_on("testgpu");
    p.gpus = 2;
    p.cfg_parallel = true;
    est x = est_make(&c, &w, db, &p);
    const wm_stage_estimate *st = stage_of(&x, WM_STAGE_TRANSFORMER);
    assert_true(st->calls == 3);
    const double b = 1.0 * 16.0 * (1.0 * 32.0 * 32.0) * 4.0;
    assert_close(st->comm_bytes, 3.0 * b);
    assert_close(st->comm_seconds, 3.0 * (b / IC + LAT));
    assert_true(totals_of(&x)->group == 2 && totals_of(&x)->dp == 1);
    est_free(&x);
    wm_devices_free(db);
}

/* FSDP over N GPUs: before each forward the transformer's weights are all-gathered, (N-1)/N of
 * its parameters at 2 bytes, one collective per transformer block (Wan's FSDP wraps each
 * block); the text encoder likewise, one collective per layer. gpus 2 with batch 2 keeps the
 * plan free of any other communication (two data-parallel replicas). */
static void test_fsdp_text_encoder_communication(void **state)
{
    (void)state;
    wm_devices *db = load_db("round.yaml");
    wm_model_config c = model_13b();
    wm_workload w = ci_tiny();
    w.batch_size = 2;
    wm_plan p = plan_on("testgpu");
    p.gpus = 2;
    p.fsdp = true;
    est x = est_make(&c, &w, db, &p);
    const wm_totals *rt = wm_report_totals(x.b.r);
    const wm_stage_estimate *te = stage_of(&x, WM_STAGE_TEXT_ENCODER);
    const double b = (double)rt->stages[WM_STAGE_TEXT_ENCODER].weight_bytes * 0.5;
    assert_close(te->comm_bytes, 2.0 * b);
    assert_close(te->comm_seconds, 2.0 * (b / IC + 24.0 * LAT));
    est_free(&x);
    wm_devices_free(db);
}

static void test_fsdp_transformer_communication(void **state)
{
    (void)state;
    wm_devices *db = load_db("round.yaml");
    wm_model_config c = model_13b();
    wm_workload w = ci_tiny();
    w.batch_size = 2;
    wm_plan p = plan_on("testgpu");
    p.gpus = 2;
    p.fsdp = true;
    est x = est_make(&c, &w, db, &p);
    /* the model has 30 blocks: top-level children named blocks.N */
    const wm_node *nodes = wm_model_nodes(x.b.m);
    uint64_t blocks = 0;
    for (size_t i = 0; i < wm_model_node_count(x.b.m); i++)
        if (nodes[i].stage == WM_STAGE_TRANSFORMER && nodes[i].parent >= 0 &&
            nodes[nodes[i].parent].parent < 0 && strncmp(nodes[i].name, "blocks.", 7) == 0)
            blocks++;
    const wm_totals *rt = wm_report_totals(x.b.r);
    const wm_stage_estimate st = *stage_of(&x, WM_STAGE_TRANSFORMER);
    const double b = (double)rt->stages[WM_STAGE_TRANSFORMER].params * 2.0 * 0.5;
    const double per_call = stage_per_call(&x, WM_STAGE_TRANSFORMER);
    est_free(&x); /* before the checks: a failure leaks nothing */
    wm_devices_free(db);
    assert_true(blocks == (uint64_t)LAYERS);
    assert_close(st.comm_bytes, 2.0 * b);
    /* one all-gather per block per forward: 30 collective latencies, not one per depth-2
     * container (attn1, attn2 and ffn of every block and the two condition embedders: 92) */
    assert_close(st.comm_seconds, 2.0 * (b / IC + LAYERS * LAT));
    assert_close(st.seconds, 2.0 * (per_call + b / IC + LAYERS * LAT));
}

/* ---- memory --------------------------------------------------------------------------------- */

static bool small_stage(int k)
{
    return k == WM_STAGE_VAE_DECODE || k == WM_STAGE_VAE_ENCODE || k == WM_STAGE_IMAGE_ENCODER;
}

/* The peak the stage fields imply: per phase (a stage on the GPU), the weights resident then
 * (its own, the small fp32 components, and without offload every other stage's) plus its
 * activations plus the runtime. */
static uint64_t phase_peak(const est *x, const wm_plan *p, uint64_t runtime, wm_stage *at)
{
    uint64_t peak = 0;
    for (int k = 0; k < WM_STAGE_COUNT; k++) {
        const wm_stage_estimate *st = stage_of(x, (wm_stage)k);
        if (!st->present || (k == WM_STAGE_TEXT_ENCODER && p->t5_cpu))
            continue;
        uint64_t v = st->activation_bytes + runtime;
        for (int o = 0; o < WM_STAGE_COUNT; o++)
            if (stage_of(x, (wm_stage)o)->present &&
                (o == k || small_stage(o) || !p->offload_model))
                v += stage_of(x, (wm_stage)o)->weight_bytes;
        if (v > peak) {
            peak = v;
            *at = (wm_stage)k;
        }
    }
    return peak;
}

/* Parameters the transformer keeps in fp32 (diffusers _keep_in_fp32_modules). */
static uint64_t kept_fp32(const est *x, wm_stage s)
{
    const wm_node *nodes = wm_model_nodes(x->b.m);
    uint64_t kept = 0;
    for (size_t i = 0; i < wm_model_node_count(x->b.m); i++)
        if (nodes[i].stage == s && nodes[i].fp32_params)
            kept += nodes[i].params;
    return kept;
}

static void check_peak(const est *x, const wm_plan *p, uint64_t runtime)
{
    wm_stage at = WM_STAGE_COUNT;
    const uint64_t want = phase_peak(x, p, runtime, &at);
    const wm_estimate_totals *T = totals_of(x);
    if (T->peak_bytes_per_gpu != want)
        fail_msg("peak %llu, phases give %llu", (unsigned long long)T->peak_bytes_per_gpu,
                 (unsigned long long)want);
    assert_int_equal(T->peak_stage, at);
    assert_int_equal(T->fits, T->peak_bytes_per_gpu <= T->memory_bytes);
}

static void test_memory_phases(void **state)
{
    (void)state;
    wm_devices *db = load_db("round.yaml");
    wm_model_config c = model_13b();
    wm_workload w = ci_tiny();
    wm_plan p = plan_on("testgpu");
    est x = est_make(&c, &w, db, &p);
    const wm_totals *rt = wm_report_totals(x.b.r);
    /* weights: the report's bytes (bf16, fp32 where diffusers keeps them) */
    const uint64_t P = rt->stages[WM_STAGE_TRANSFORMER].params;
    const uint64_t K = kept_fp32(&x, WM_STAGE_TRANSFORMER);
    assert_true(K > 0 && K < P);
    const uint64_t w_dit = stage_of(&x, WM_STAGE_TRANSFORMER)->weight_bytes;
    assert_true(w_dit == (P - K) * 2 + K * 4);
    assert_true(w_dit == rt->stages[WM_STAGE_TRANSFORMER].weight_bytes);
    const uint64_t w_te = stage_of(&x, WM_STAGE_TEXT_ENCODER)->weight_bytes;
    const uint64_t w_vae = stage_of(&x, WM_STAGE_VAE_DECODE)->weight_bytes;
    assert_true(w_te == rt->stages[WM_STAGE_TEXT_ENCODER].weight_bytes);
    assert_true(w_vae == rt->stages[WM_STAGE_VAE_DECODE].weight_bytes);
    for (int k = 0; k < WM_STAGE_COUNT; k++)
        if (stage_of(&x, (wm_stage)k)->present)
            assert_true(stage_of(&x, (wm_stage)k)->activation_bytes > 0);
    /* one GPU: every weight resident in every phase, 1 GB runtime, no collective buffers */
    check_peak(&x, &p, RUNTIME);
    const uint64_t all = w_dit + w_te + w_vae;
    assert_true(totals_of(&x)->peak_bytes_per_gpu ==
                all + stage_of(&x, totals_of(&x)->peak_stage)->activation_bytes + RUNTIME);
    const uint64_t peak1 = totals_of(&x)->peak_bytes_per_gpu;
    assert_true(totals_of(&x)->fits); /* about 17 GB of 100 */
    est_free(&x);

    /* offload: a phase holds its own weights and the small components only */
    p.offload_model = true;
    x = est_make(&c, &w, db, &p);
    check_peak(&x, &p, RUNTIME);
    const wm_stage ps = totals_of(&x)->peak_stage;
    uint64_t want = stage_of(&x, ps)->activation_bytes + RUNTIME + w_vae;
    if (ps != WM_STAGE_VAE_DECODE)
        want += stage_of(&x, ps)->weight_bytes;
    assert_true(totals_of(&x)->peak_bytes_per_gpu == want);
    assert_true(totals_of(&x)->peak_bytes_per_gpu < peak1);
    /* the largest single stage (the 13 GB text encoder) with the VAE: the text encoder phase */
    assert_int_equal(ps, WM_STAGE_TEXT_ENCODER);
    est_free(&x);

    /* t5-cpu: the text encoder's weights are not on the GPU at all */
    p.offload_model = false;
    p.t5_cpu = true;
    x = est_make(&c, &w, db, &p);
    assert_true(stage_of(&x, WM_STAGE_TEXT_ENCODER)->weight_bytes == 0);
    check_peak(&x, &p, RUNTIME);
    assert_true(totals_of(&x)->peak_bytes_per_gpu ==
                w_dit + w_vae + stage_of(&x, totals_of(&x)->peak_stage)->activation_bytes +
                    RUNTIME);
    assert_true(totals_of(&x)->peak_stage != WM_STAGE_TEXT_ENCODER);
    est_free(&x);

    /* fp8: the transformer's weights at one byte, the fp32-kept parameters still 4 */
    p.t5_cpu = false;
    p.precision = WM_PREC_FP8;
    x = est_make(&c, &w, db, &p);
    const uint64_t w_fp8 = stage_of(&x, WM_STAGE_TRANSFORMER)->weight_bytes;
    assert_true(w_fp8 == (P - K) * 1 + K * 4);
    assert_true(w_dit == 2 * w_fp8 - 4 * K); /* half of bf16 but for the kept parameters */
    assert_true(stage_of(&x, WM_STAGE_TEXT_ENCODER)->weight_bytes == w_te);
    check_peak(&x, &p, RUNTIME);
    est_free(&x);
    wm_devices_free(db);
}

static void test_memory_fsdp_and_gpus(void **state)
{
    (void)state;
    wm_devices *db = load_db("round.yaml");
    wm_model_config c = model_13b();
    wm_workload w = ci_tiny();
    wm_plan p = plan_on("testgpu");
    p.gpus = 2;
    p.ulysses = 2;
    est x = est_make(&c, &w, db, &p);
    /* two GPUs: the collective buffers join the runtime */
    check_peak(&x, &p, RUNTIME + COLLECTIVE);
    const uint64_t w_dit = stage_of(&x, WM_STAGE_TRANSFORMER)->weight_bytes;
    const uint64_t w_te = stage_of(&x, WM_STAGE_TEXT_ENCODER)->weight_bytes;
    const uint64_t w_vae = stage_of(&x, WM_STAGE_VAE_DECODE)->weight_bytes;
    const uint64_t act_dit = stage_of(&x, WM_STAGE_TRANSFORMER)->activation_bytes;
    est_free(&x);

    /* FSDP over 2 GPUs: the transformer's weights halved plus one gathered block (1/30 of its
     * parameters at 2 bytes), the text encoder's halved plus one of its 24 layers */
    p.fsdp = true;
    x = est_make(&c, &w, db, &p);
    const wm_totals *rt = wm_report_totals(x.b.r);
    const double P = (double)rt->stages[WM_STAGE_TRANSFORMER].params;
    assert_true(stage_of(&x, WM_STAGE_TRANSFORMER)->weight_bytes ==
                (uint64_t)ceil((double)w_dit / 2.0 + P / LAYERS * 2.0));
    assert_true(stage_of(&x, WM_STAGE_TEXT_ENCODER)->weight_bytes ==
                (uint64_t)ceil((double)w_te / 2.0 + (double)w_te / 24.0));
    assert_true(stage_of(&x, WM_STAGE_VAE_DECODE)->weight_bytes == w_vae);
    assert_true(stage_of(&x, WM_STAGE_TRANSFORMER)->activation_bytes == act_dit);
    check_peak(&x, &p, RUNTIME + COLLECTIVE);
    est_free(&x);
    wm_devices_free(db);
}

/* --impl official keeps the checkpoint's fp32 transformer weights (4 bytes per parameter held,
 * 8 moved per call: the fp32 read, the 16-bit cast written and read by the GEMM);
 * --convert-model-dtype holds them in bf16 like diffusers (docs/performance-model.md §2, §5). */
static void test_official_weights(void **state)
{
    (void)state;
    wm_devices *db = load_db("round.yaml");
    wm_model_config c = model_13b();
    c.impl = WM_IMPL_OFFICIAL;
    wm_workload w = ci_tiny();
    wm_plan p = plan_on("testgpu");
    est x = est_make(&c, &w, db, &p);
    const uint64_t P = wm_report_totals(x.b.r)->stages[WM_STAGE_TRANSFORMER].params;
    const uint64_t K = kept_fp32(&x, WM_STAGE_TRANSFORMER);
    assert_true(stage_of(&x, WM_STAGE_TRANSFORMER)->weight_bytes == 4 * P);
    const double q_flops = 2.0 * LV * D * D, q_params = D * D + D;
    check_roofline(node_time(&x, "transformer.blocks.0.attn1.to_q"), q_flops,
                   (LV * D + LV * D) * 2.0 + q_params * 8.0, PEAK_BF16 * GEMM_EFF);
    check_peak(&x, &p, RUNTIME);
    est_free(&x);
    p.convert_model_dtype = true;
    x = est_make(&c, &w, db, &p);
    assert_true(stage_of(&x, WM_STAGE_TRANSFORMER)->weight_bytes == (P - K) * 2 + K * 4);
    check_roofline(node_time(&x, "transformer.blocks.0.attn1.to_q"), q_flops,
                   (LV * D + LV * D) * 2.0 + q_params * 2.0, PEAK_BF16 * GEMM_EFF);
    check_peak(&x, &p, RUNTIME);
    est_free(&x);
    /* with offload the transformer moves at the bytes it is held in */
    p.convert_model_dtype = false;
    p.offload_model = true;
    x = est_make(&c, &w, db, &p);
    assert_close(totals_of(&x)->offload_seconds,
                 2.0 * (4.0 * (double)P +
                        (double)stage_of(&x, WM_STAGE_TEXT_ENCODER)->weight_bytes) / PCIE);
    est_free(&x);
    wm_devices_free(db);
}

/* NVFP4: 4-bit weights with an fp8 scale per 16 values = 0.5 + 1/16 = 0.5625 bytes per
 * parameter (wanmeter.h, docs/performance-model.md §2), the fp32-kept parameters 4 bytes. */
static void test_fp4_weight_bytes(void **state)
{
    (void)state;
    wm_devices *db = load_db(NULL);
    wm_model_config c = model_13b();
    wm_workload w = ci_tiny();
    wm_plan p = plan_on("b200");
    p.precision = WM_PREC_FP4;
    est x = est_make(&c, &w, db, &p);
    const uint64_t P = wm_report_totals(x.b.r)->stages[WM_STAGE_TRANSFORMER].params;
    const uint64_t K = kept_fp32(&x, WM_STAGE_TRANSFORMER);
    const uint64_t got = stage_of(&x, WM_STAGE_TRANSFORMER)->weight_bytes;
    /* (P - K) * 9 / 16 exactly, rounded up to a whole byte */
    const uint64_t want = ((P - K) * 9 + 15) / 16 + K * 4;
    const double to_q = node_time(&x, "transformer.blocks.0.attn1.to_q")->bytes;
    est_free(&x);
    wm_devices_free(db);
    if (got != want)
        fail_msg("fp4 transformer weights %llu B, expected %llu B (0.5625 B per parameter)",
                 (unsigned long long)got, (unsigned long long)want);
    assert_close(to_q, (LV * D + LV * D) * 2.0 + (D * D + D) * 0.5625);
}

/* ---- physical sanity on the built-in devices ------------------------------------------------ */

static void test_physical_sanity(void **state)
{
    (void)state;
    wm_devices *db = load_db(NULL);
    wm_model_config c = model_13b();
    wm_workload w = tl_workload("wan2-1-480p-81f");
    w.num_inference_steps = 2;
    wm_plan p = plan_on("h100");
    est base = est_make(&c, &w, db, &p);
    const double dit1 = stage_of(&base, WM_STAGE_TRANSFORMER)->seconds;
    const double total1 = totals_of(&base)->total_seconds;
    assert_int_equal(totals_of(&base)->attention_kernel, WM_ATTN_FA3); /* h100's default */
    assert_true(totals_of(&base)->offload_seconds == 0.0);

    /* more GPUs with Ulysses: a shorter transformer stage, though it now communicates */
    for (uint64_t u = 2; u <= 6; u += u == 2 ? 1 : 3) { /* 2, 3, 6 */
        p = plan_on("h100");
        p.gpus = p.ulysses = u;
        est x = est_make(&c, &w, db, &p);
        assert_true(stage_of(&x, WM_STAGE_TRANSFORMER)->comm_seconds > 0.0);
        assert_true(stage_of(&x, WM_STAGE_TRANSFORMER)->seconds < dit1);
        est_free(&x);
    }
    /* fa3 faster than fa2 on h100 */
    p = plan_on("h100");
    p.attention_kernel = WM_ATTN_FA2;
    est fa2 = est_make(&c, &w, db, &p);
    assert_true(node_time(&base, "transformer.blocks.0.attn1#sdpa")->seconds <
                node_time(&fa2, "transformer.blocks.0.attn1#sdpa")->seconds);
    assert_true(total1 < totals_of(&fa2)->total_seconds);
    est_free(&fa2);

    /* fp8 faster than bf16 for the transformer's GEMMs (and the transformer stage) */
    p = plan_on("h100");
    p.precision = WM_PREC_FP8;
    est fp8 = est_make(&c, &w, db, &p);
    const wm_node *nodes = wm_model_nodes(base.b.m);
    double gemm_bf16 = 0.0, gemm_fp8 = 0.0;
    for (size_t i = 0; i < wm_model_node_count(base.b.m); i++)
        if (nodes[i].stage == WM_STAGE_TRANSFORMER && nodes[i].op == WM_OP_LINEAR &&
            !nodes[i].fp32_params) {
            gemm_bf16 += wm_estimate_nodes(base.e)[i].seconds;
            gemm_fp8 += wm_estimate_nodes(fp8.e)[i].seconds;
            assert_true(wm_estimate_nodes(fp8.e)[i].seconds <=
                        wm_estimate_nodes(base.e)[i].seconds);
        }
    assert_true(gemm_fp8 < gemm_bf16);
    assert_true(stage_of(&fp8, WM_STAGE_TRANSFORMER)->seconds < dit1);
    /* the other stages do not change */
    assert_true(stage_of(&fp8, WM_STAGE_VAE_DECODE)->seconds ==
                stage_of(&base, WM_STAGE_VAE_DECODE)->seconds);
    est_free(&fp8);

    /* offload adds host copies */
    p = plan_on("h100");
    p.offload_model = true;
    est off = est_make(&c, &w, db, &p);
    assert_true(totals_of(&off)->offload_seconds > 0.0);
    assert_close(totals_of(&off)->total_seconds, total1 + totals_of(&off)->offload_seconds);
    assert_true(totals_of(&off)->peak_bytes_per_gpu < totals_of(&base)->peak_bytes_per_gpu);
    est_free(&off);

    /* t5-cpu: the text encoder on the host, slower than on the GPU */
    p = plan_on("h100");
    p.t5_cpu = true;
    est t5 = est_make(&c, &w, db, &p);
    assert_true(stage_of(&t5, WM_STAGE_TEXT_ENCODER)->on_host);
    assert_int_equal(stage_of(&t5, WM_STAGE_TEXT_ENCODER)->bound, WM_BOUND_HOST);
    assert_false(stage_of(&base, WM_STAGE_TEXT_ENCODER)->on_host);
    assert_true(stage_of(&t5, WM_STAGE_TEXT_ENCODER)->seconds >
                stage_of(&base, WM_STAGE_TEXT_ENCODER)->seconds);
    assert_true(totals_of(&t5)->peak_bytes_per_gpu < totals_of(&base)->peak_bytes_per_gpu);
    est_free(&t5);

    /* h200: the H100's compute with more bandwidth, never slower */
    p = plan_on("h200");
    est h200 = est_make(&c, &w, db, &p);
    assert_true(totals_of(&h200)->total_seconds <= total1);
    for (int k = 0; k < WM_STAGE_COUNT; k++)
        assert_true(stage_of(&h200, (wm_stage)k)->seconds <= stage_of(&base, (wm_stage)k)->seconds);
    assert_true(totals_of(&h200)->memory_bytes > totals_of(&base)->memory_bytes);
    est_free(&h200);
    est_free(&base);
    wm_devices_free(db);
}

/* Data parallel: 4 GPUs serving a batch of 4 take the time of one request on one GPU, and make
 * four times the videos per hour. */
static void test_data_parallel(void **state)
{
    (void)state;
    wm_devices *db = load_db(NULL);
    wm_model_config c = model_13b();
    wm_workload w = tl_workload("wan2-1-480p-81f");
    w.num_inference_steps = 2;
    wm_plan p = plan_on("h100");
    est one = est_make(&c, &w, db, &p);
    w.batch_size = 4;
    p.gpus = 4;
    est four = est_make(&c, &w, db, &p);
    assert_true(totals_of(&four)->dp == 4 && totals_of(&four)->group == 1);
    assert_close(totals_of(&four)->total_seconds, totals_of(&one)->total_seconds);
    for (int k = 0; k < WM_STAGE_COUNT; k++) {
        assert_close(stage_of(&four, (wm_stage)k)->seconds, stage_of(&one, (wm_stage)k)->seconds);
        assert_true(stage_of(&four, (wm_stage)k)->comm_seconds == 0.0);
    }
    assert_close(totals_of(&four)->videos_per_hour, 4.0 * totals_of(&one)->videos_per_hour);
    est_free(&one);
    est_free(&four);
    wm_devices_free(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enum_names_round_trip),
        cmocka_unit_test(test_builtin_and_user_devices),
        cmocka_unit_test(test_device_file_errors),
        cmocka_unit_test(test_plan_validation),
        cmocka_unit_test(test_roofline_linear),
        cmocka_unit_test(test_roofline_attention_kernels),
        cmocka_unit_test(test_containers_sum_their_children),
        cmocka_unit_test(test_stage_and_total_seconds),
        cmocka_unit_test(test_ulysses_communication),
        cmocka_unit_test(test_cfg_parallel),
        cmocka_unit_test(test_fsdp_text_encoder_communication),
        cmocka_unit_test(test_fsdp_transformer_communication),
        cmocka_unit_test(test_memory_phases),
        cmocka_unit_test(test_memory_fsdp_and_gpus),
        cmocka_unit_test(test_official_weights),
        cmocka_unit_test(test_fp4_weight_bytes),
        cmocka_unit_test(test_physical_sanity),
        cmocka_unit_test(test_data_parallel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

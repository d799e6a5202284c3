/*
 * bench_report.c — how fast wanmeter builds, evaluates and renders a report.
 *
 *   (a) wan2.1-t2v-14b × wan2-1-720p-81f, in process: build the layer tree (wm_model_build),
 *       evaluate it (wm_report_create), render report.json (wm_report_to_json), and the three
 *       together ("whole report"), each timed per iteration; best and median of N.
 *       Target: whole report < 1 ms of CPU time.
 *   (b) a sweep of workloads (frames 1..161 step 4, a few heights and widths, batch 1..4, a few
 *       step counts) re-evaluating one report with wm_report_evaluate, on one core.
 *       Target: > 100,000 evaluations per second.
 *
 * CPU time is CLOCK_PROCESS_CPUTIME_ID, wall time CLOCK_MONOTONIC. A benchmark prints; it never
 * fails because of a time (tests assert, benchmarks report). It exits non-zero only when the
 * library returns an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "wanmeter.h"

#define ITERS 201   /* per timed step in (a); odd, so the median is one sample */
#define SWEEPS 7    /* repetitions of the sweep in (b) */

static const char model_name[] = "wan2.1-t2v-14b";
static const char workload_name[] = "wan2-1-720p-81f";

static double now(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct timer {
    double cpu0, wall0;
} timer;

static timer start(void) { return (timer){now(CLOCK_PROCESS_CPUTIME_ID), now(CLOCK_MONOTONIC)}; }

static void stop(const timer *t, double *cpu, double *wall)
{
    *cpu = now(CLOCK_PROCESS_CPUTIME_ID) - t->cpu0;
    *wall = now(CLOCK_MONOTONIC) - t->wall0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct stats {
    double best, median;
} stats;

static stats summarize(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return (stats){v[0], v[n / 2]};
}

static void die(const char *step, const wm_error *err)
{
    char msg[1536];
    wm_error_format(err, msg, sizeof msg);
    fprintf(stderr, "bench_report: %s: %s\n", step, msg);
    exit(1);
}

static void row(const char *what, const double *cpu, const double *wall, size_t n)
{
    double c[ITERS], w[ITERS];
    memcpy(c, cpu, n * sizeof *c);
    memcpy(w, wall, n * sizeof *w);
    stats sc = summarize(c, n), sw = summarize(w, n);
    printf("  %-28s %10.1f %10.1f   %10.1f %10.1f\n", what, sc.best * 1e6, sc.median * 1e6,
           sw.best * 1e6, sw.median * 1e6);
}

/* (a) one report, step by step, of `what` ("transformer" or "whole pipeline"). Returns the
 * median whole-report CPU time in seconds. */
static double bench_single(const wm_model_config *mc, const wm_workload *w, const char *what)
{
    static double cpu[4][ITERS], wall[4][ITERS];
    wm_error err;
    wm_error_clear(&err);
    size_t nodes = 0, json_len = 0;
    uint64_t check = 0;
    for (int i = 0; i < ITERS; i++) {
        wm_model *m = NULL;
        wm_report *r = NULL;
        char *json = NULL;
        timer t = start();
        if (wm_model_build(mc, &m, &err) != WM_OK)
            die("wm_model_build", &err);
        stop(&t, &cpu[0][i], &wall[0][i]);
        t = start();
        if (wm_report_create(m, w, &r, &err) != WM_OK)
            die("wm_report_create", &err);
        stop(&t, &cpu[1][i], &wall[1][i]);
        t = start();
        if (wm_report_to_json(r, &json, &err) != WM_OK)
            die("wm_report_to_json", &err);
        stop(&t, &cpu[2][i], &wall[2][i]);
        nodes = wm_model_node_count(m);
        json_len = strlen(json);
        check += wm_report_totals(r)->flops & 0xff;
        free(json);
        wm_report_free(r);
        wm_model_free(m);
    }
    /* the whole report in one go, as `wanmeter report --format json` does it in process */
    for (int i = 0; i < ITERS; i++) {
        wm_model *m = NULL;
        wm_report *r = NULL;
        char *json = NULL;
        timer t = start();
        if (wm_model_build(mc, &m, &err) != WM_OK || wm_report_create(m, w, &r, &err) != WM_OK ||
            wm_report_to_json(r, &json, &err) != WM_OK)
            die("whole report", &err);
        free(json);
        wm_report_free(r);
        wm_model_free(m);
        stop(&t, &cpu[3][i], &wall[3][i]);
    }
    printf("(a) one report, %s: %s x %s (%zu nodes, report.json %zu bytes), %d iterations "
           "each\n",
           what, model_name, workload_name, nodes, json_len, ITERS);
    printf("  %-28s %10s %10s   %10s %10s\n", "step (microseconds)", "cpu best", "cpu median",
           "wall best", "wall median");
    row("build tree (wm_model_build)", cpu[0], wall[0], ITERS);
    row("evaluate (wm_report_create)", cpu[1], wall[1], ITERS);
    row("render JSON (to_json)", cpu[2], wall[2], ITERS);
    row("whole report (all three)", cpu[3], wall[3], ITERS);
    double c[ITERS];
    memcpy(c, cpu[3], sizeof c);
    stats s = summarize(c, ITERS);
    printf("  target: whole report < 1000 us CPU: %s (median %.1f us, best %.1f us)\n",
           s.median < 1e-3 ? "meets" : "misses", s.median * 1e6, s.best * 1e6);
    if (check == 0xffffffffffffffffull)
        printf("(unreachable)\n");
    return s.median;
}

/* (b) the sweep. */
static void bench_sweep(const wm_model_config *mc, const wm_workload *base)
{
    static const uint64_t heights[] = {240, 480, 720};
    static const uint64_t widths[] = {416, 832, 1280};
    static const uint64_t steps[] = {1, 25, 50};
    wm_error err;
    wm_error_clear(&err);
    wm_model *m = NULL;
    wm_report *r = NULL;
    if (wm_model_build(mc, &m, &err) != WM_OK || wm_report_create(m, base, &r, &err) != WM_OK)
        die("sweep setup", &err);
    size_t per_sweep = 0;
    uint64_t check = 0, max_flops = 0;
    double cpu[SWEEPS], wall[SWEEPS];
    for (int rep = 0; rep < SWEEPS; rep++) {
        size_t n = 0;
        timer t = start();
        for (uint64_t f = 1; f <= 161; f += 4)
            for (size_t hi = 0; hi < sizeof heights / sizeof heights[0]; hi++)
                for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++)
                    for (uint64_t b = 1; b <= 4; b++)
                        for (size_t si = 0; si < sizeof steps / sizeof steps[0]; si++) {
                            wm_workload w = *base;
                            w.num_frames = f;
                            w.height = heights[hi];
                            w.width = widths[wi];
                            w.batch_size = b;
                            w.num_inference_steps = steps[si];
                            if (wm_report_evaluate(r, &w, &err) != WM_OK)
                                die("wm_report_evaluate", &err);
                            const uint64_t fl = wm_report_totals(r)->flops;
                            check ^= fl;
                            if (fl > max_flops)
                                max_flops = fl;
                            n++;
                        }
        stop(&t, &cpu[rep], &wall[rep]);
        per_sweep = n;
    }
    double c[SWEEPS], w2[SWEEPS];
    memcpy(c, cpu, sizeof c);
    memcpy(w2, wall, sizeof w2);
    stats sc = summarize(c, SWEEPS), sw = summarize(w2, SWEEPS);
    const double rate_best = (double)per_sweep / sc.best, rate_median = (double)per_sweep / sc.median;
    printf("\n(b) sweep: %zu workloads (frames 1..161 step 4 x H {240,480,720} x W {416,832,1280} "
           "x batch 1..4 x steps {1,25,50}),\n    one report re-evaluated with wm_report_evaluate "
           "(%zu nodes), %d sweeps\n",
           per_sweep, wm_model_node_count(m), SWEEPS);
    printf("  sweep time       cpu best %.2f ms, median %.2f ms; wall best %.2f ms, median %.2f ms\n",
           sc.best * 1e3, sc.median * 1e3, sw.best * 1e3, sw.median * 1e3);
    printf("  evaluations/s    %.0f (best), %.0f (median), one core\n", rate_best, rate_median);
    printf("  per evaluation   %.2f us CPU (median)\n", sc.median / (double)per_sweep * 1e6);
    printf("  target: > 100,000 evaluations/s: %s\n", rate_median > 1e5 ? "meets" : "misses");
    printf("  (largest whole-generation FLOPs in the sweep: %.3g; checksum %016llx)\n",
           (double)max_flops, (unsigned long long)check);
    wm_report_free(r);
    wm_model_free(m);
}

int main(void)
{
    wm_error err;
    wm_error_clear(&err);
    wm_config *cfg = NULL;
    wm_model_config mc;
    wm_workload w;
    timer t = start();
    if (wm_config_load(NULL, &cfg, &err) != WM_OK || wm_config_model(cfg, model_name, &mc, &err) != WM_OK ||
        wm_config_workload(cfg, workload_name, &w, &err) != WM_OK)
        die("configuration", &err);
    double ccpu, cwall;
    stop(&t, &ccpu, &cwall);
    printf("bench_report (wanmeter %s)\n", WM_VERSION);
    printf("  config load (built-in YAML, once): %.1f us CPU, %.1f us wall\n\n", ccpu * 1e6,
           cwall * 1e6);
    /* the transformer alone (the report of the DiT the targets were set for), then the whole
     * pipeline (text encoder, transformer, VAE decode) */
    wm_model_config dit = mc;
    dit.has_text_encoder = dit.has_vae = dit.has_image_encoder = false;
    bench_single(&dit, &w, "transformer");
    printf("\n");
    bench_single(&mc, &w, "whole pipeline");
    printf("\n(b) transformer alone:\n");
    bench_sweep(&dit, &w);
    printf("\n(b) whole pipeline:\n");
    bench_sweep(&mc, &w);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        printf("\npeak RSS: %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
    wm_config_free(cfg);
    return 0;
}

/*
 * bench_estimate.c — how fast `wanmeter estimate` answers, in process: wan2.1-t2v-14b x
 * wan2-1-720p-81f (the whole pipeline), one H100 and 8 x H100 with Ulysses 8 + FSDP.
 *   estimate   wm_estimate_create on an evaluated report (roofline per node, stages, memory)
 *   + json     the same plus rendering the estimate's JSON
 *   sweep      estimates per second over the ten devices x 1/2/4/8 GPUs (Ulysses)
 * The device database is loaded once (a deployment tool keeps it). Best and median CPU time of
 * N runs; a benchmark prints figures and never fails because of a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wanmeter.h"

#define ITERS 101

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void die(const char *what, const wm_error *err)
{
    char msg[1536];
    wm_error_format(err, msg, sizeof msg);
    fprintf(stderr, "bench_estimate: %s: %s\n", what, msg);
    exit(1);
}

static void time_plan(const wm_report *r, const wm_devices *db, const wm_plan *plan,
                      const char *label)
{
    double est[ITERS], json[ITERS];
    wm_error err;
    double total = 0.0;
    for (int i = 0; i < ITERS; i++) {
        wm_estimate *e = NULL;
        char *out = NULL;
        double t0 = cpu_now();
        if (wm_estimate_create(r, db, plan, &e, &err) != WM_OK)
            die("wm_estimate_create", &err);
        double t1 = cpu_now();
        if (wm_estimate_to_json(e, &out, &err) != WM_OK)
            die("wm_estimate_to_json", &err);
        double t2 = cpu_now();
        est[i] = t1 - t0;
        json[i] = t2 - t0;
        total = wm_estimate_totals_get(e)->total_seconds;
        free(out);
        wm_estimate_free(e);
    }
    qsort(est, ITERS, sizeof *est, cmp);
    qsort(json, ITERS, sizeof *json, cmp);
    printf("  %-34s estimate %7.1f / %7.1f us   + json %7.1f / %7.1f us   (%.1f s predicted)\n",
           label, est[0] * 1e6, est[ITERS / 2] * 1e6, json[0] * 1e6, json[ITERS / 2] * 1e6,
           total);
}

int main(void)
{
    wm_error err;
    wm_config *cfg = NULL;
    wm_devices *db = NULL;
    wm_model_config mc;
    wm_workload w;
    wm_model *m = NULL;
    wm_report *r = NULL;
    if (wm_config_load(NULL, &cfg, &err) != WM_OK ||
        wm_config_model(cfg, "wan2.1-t2v-14b", &mc, &err) != WM_OK ||
        wm_config_workload(cfg, "wan2-1-720p-81f", &w, &err) != WM_OK ||
        wm_model_build(&mc, &m, &err) != WM_OK || wm_report_create(m, &w, &r, &err) != WM_OK ||
        wm_devices_load(NULL, &db, &err) != WM_OK)
        die("setup", &err);
    printf("estimate of wan2.1-t2v-14b x wan2-1-720p-81f (%zu nodes), best / median CPU time of "
           "%d runs\n",
           wm_model_node_count(m), ITERS);
    wm_plan one = WM_PLAN_INIT;
    snprintf(one.device, sizeof one.device, "h100");
    time_plan(r, db, &one, "1 x h100");
    wm_plan eight = one;
    eight.gpus = eight.ulysses = 8;
    eight.fsdp = true;
    time_plan(r, db, &eight, "8 x h100, ulysses 8, fsdp");

    /* the sweep a sizing script would run */
    const uint64_t gpus[] = {1, 2, 4, 8};
    size_t runs = 0;
    double t0 = cpu_now();
    for (int rep = 0; rep < 5; rep++)
        for (size_t d = 0; d < wm_devices_count(db); d++)
            for (size_t g = 0; g < sizeof gpus / sizeof gpus[0]; g++) {
                wm_plan p = WM_PLAN_INIT;
                snprintf(p.device, sizeof p.device, "%s", wm_devices_name(db, d));
                p.gpus = p.ulysses = gpus[g];
                p.attention_kernel = WM_ATTN_FA2;
                wm_estimate *e = NULL;
                if (wm_estimate_create(r, db, &p, &e, &err) != WM_OK)
                    die(p.device, &err);
                wm_estimate_free(e);
                runs++;
            }
    double dt = cpu_now() - t0;
    printf("  sweep: %zu estimates (10 devices x 1/2/4/8 GPUs, x5) in %.1f ms CPU: %.0f "
           "estimates/s\n",
           runs, dt * 1e3, (double)runs / dt);
    wm_report_free(r);
    wm_model_free(m);
    wm_devices_free(db);
    wm_config_free(cfg);
    return 0;
}

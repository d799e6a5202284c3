/* cmd_estimate.c — `wanmeter estimate` (time and memory on GPUs) and `wanmeter calibrate`
 * (the estimate against published measurements). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "parse.h"

static const char estimate_help[] =
    "usage: wanmeter estimate [flags]\n"
    "\n"
    "How long one generation takes and how much memory it needs on a GPU, alone or many\n"
    "together: a roofline per layer from the report's exact counts and the device database\n"
    "(configs/devices.yaml), the parallel plan's communication, offload copies, and memory\n"
    "per GPU phase by phase. Equations and assumptions: docs/performance-model.md.\n"
    "\n"
    "%s"
    "\n"
    "Device and plan:\n"
    "  --device NAME       a100 | h100 (default) | h800 | h200 | h20 | b200 | l40s | rtx4090 |\n"
    "                      rtx5090 | mi300x, or one added with --devices\n"
    "  --devices FILE      YAML merged over the built-in device database (add a GPU, change\n"
    "                      a figure or an efficiency)\n"
    "  --precision P       bf16 (default) | fp16 | fp8 (per-tensor scales) | fp8-block\n"
    "                      (128x128 block scales) | fp4 (NVFP4): the transformer's GEMMs and\n"
    "                      weights; activations stay 16-bit\n"
    "  --attention-kernel K  auto (default: the device's) | fa2 | fa3 | fa3-fp8 | math\n"
    "                      (math writes the score matrix to memory)\n"
    "  --gpus N            GPUs in total (default 1); those beyond ulysses x ring x cfg are\n"
    "                      data-parallel replicas serving other requests of the batch\n"
    "  --ulysses N         Ulysses sequence parallel degree (must divide the heads)\n"
    "  --ring N            Ring attention degree (USP when combined with --ulysses)\n"
    "  --cfg-parallel      cond and uncond forwards on two GPU groups (needs guidance)\n"
    "  --fsdp              shard transformer and text encoder weights over the GPUs\n"
    "  --offload-model     the transformer and text encoder leave the GPU between stages\n"
    "  --t5-cpu            run the text encoder on the host CPU\n"
    "  --convert-model-dtype  with --impl official: hold the transformer's weights in bf16/\n"
    "                      fp16 instead of the checkpoint's fp32 (Wan2.2 generate.py's flag)\n"
    "\n"
    "Output:\n"
    "  --format F          table (default) | json (report.json plus an \"estimate\" member) |\n"
    "                      md | csv (every module: times, bound, FLOP/byte)\n"
    "  --depth N           per-layer tree depth in the table (default 2)\n"
    "  --names N           diffusers (default) | official\n"
    "  --run-id ID         artifact directory name (default: UTC time + model + workload)\n"
    "  --out-dir DIR       artifact root (default: the config's output.dir)\n"
    "  --no-artifacts      print only; write no files (default writes estimate.json)\n";

typedef struct est_opts {
    cli_workload_opts w;
    const char *device, *devices, *precision, *kernel, *gpus, *ulysses, *ring;
    const char *format, *depth, *run_id, *out_dir, *names;
    bool cfg_parallel, fsdp, offload_model, t5_cpu, convert_model_dtype, artifacts;
} est_opts;

/* Parses estimate flags: EXIT_OK, or a usage exit code (message printed). *help set on --help. */
static int parse_opts(const char *cmd, int argc, char **argv, est_opts *o, bool *help)
{
    *o = (est_opts){.w = CLI_WORKLOAD_OPTS_INIT, .format = "table", .depth = "2",
                    .names = "diffusers", .artifacts = true, .device = "h100"};
    *help = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *help = true;
            return EXIT_OK;
        }
        const struct {
            const char *flag;
            bool *dst;
        } bools[] = {{"--cfg-parallel", &o->cfg_parallel}, {"--fsdp", &o->fsdp},
                     {"--offload-model", &o->offload_model}, {"--t5-cpu", &o->t5_cpu},
                     {"--convert-model-dtype", &o->convert_model_dtype}};
        bool matched = false;
        for (size_t k = 0; k < sizeof bools / sizeof bools[0] && !matched; k++)
            if (strcmp(argv[i], bools[k].flag) == 0)
                *bools[k].dst = matched = true;
        if (strcmp(argv[i], "--no-artifacts") == 0)
            o->artifacts = false, matched = true;
        if (matched)
            continue;
        const struct {
            const char *flag;
            const char **dst;
        } values[] = {
            {"--device", &o->device},   {"--devices", &o->devices}, {"--precision", &o->precision},
            {"--attention-kernel", &o->kernel}, {"--gpus", &o->gpus}, {"--ulysses", &o->ulysses},
            {"--ring", &o->ring},       {"--format", &o->format},   {"--depth", &o->depth},
            {"--run-id", &o->run_id},   {"--out-dir", &o->out_dir}, {"--names", &o->names},
        };
        int r = cli_parse_workload_flag(cmd, argc, argv, &i, &o->w);
        for (size_t k = 0; k < sizeof values / sizeof values[0] && r == 0; k++)
            r = cli_flag_value(cmd, argc, argv, &i, values[k].flag, values[k].dst);
        if (r < 0)
            return EXIT_USAGE;
        if (r == 0)
            return cli_usage_error(cmd, argv[i], "unknown flag");
    }
    if (strcmp(o->format, "table") && strcmp(o->format, "json") && strcmp(o->format, "md") &&
        strcmp(o->format, "csv"))
        return cli_usage_error(cmd, "--format", "use table, json, md or csv");
    if (strcmp(o->names, "diffusers") && strcmp(o->names, "official"))
        return cli_usage_error(cmd, "--names", "use diffusers or official");
    if (o->out_dir && !*o->out_dir)
        return cli_usage_error(cmd, "--out-dir", "is empty; name a directory");
    if (o->run_id && !cli_valid_run_id(o->run_id))
        return cli_usage_error(cmd, "--run-id", "use letters, digits, '-', '_' and '.' only");
    return EXIT_OK;
}

static wm_status parse_plan(const est_opts *o, wm_plan *p, wm_error *err)
{
    *p = (wm_plan)WM_PLAN_INIT;
    if (!*o->device)
        return wm_error_set(err, WM_E_INPUT, "--device", "name a device, e.g. h100",
                            "is empty");
    if (strlen(o->device) >= sizeof p->device)
        return wm_error_set(err, WM_E_INPUT, "--device", "use a device name from the database",
                            "is too long");
    snprintf(p->device, sizeof p->device, "%s", o->device);
    if (o->precision && !wm_precision_parse(o->precision, &p->precision))
        return wm_error_set(err, WM_E_INPUT, "--precision",
                            "use bf16, fp16, fp8, fp8-block or fp4",
                            "unknown precision '%s'", o->precision);
    if (o->kernel && !wm_attn_kernel_parse(o->kernel, &p->attention_kernel))
        return wm_error_set(err, WM_E_INPUT, "--attention-kernel",
                            "use auto, fa2, fa3, fa3-fp8 or math", "unknown kernel '%s'",
                            o->kernel);
    const struct {
        const char *flag, *value;
        uint64_t *dst;
    } nums[] = {{"--gpus", o->gpus, &p->gpus},
                {"--ulysses", o->ulysses, &p->ulysses},
                {"--ring", o->ring, &p->ring}};
    wm_status s;
    for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++)
        if (nums[k].value &&
            (s = wm_parse_u64(nums[k].value, nums[k].flag, 1, 1u << 20, nums[k].dst, err)))
            return s;
    p->cfg_parallel = o->cfg_parallel;
    p->fsdp = o->fsdp;
    p->offload_model = o->offload_model;
    p->t5_cpu = o->t5_cpu;
    p->convert_model_dtype = o->convert_model_dtype;
    return WM_OK;
}

typedef struct est_run {
    wm_config *cfg;
    wm_devices *db;
    wm_model *model;
    wm_report *rep;
    wm_estimate *est;
    wm_model_config mc;
    wm_workload w;
} est_run;

static void run_free(est_run *r)
{
    wm_estimate_free(r->est);
    wm_report_free(r->rep);
    wm_model_free(r->model);
    wm_devices_free(r->db);
    wm_config_free(r->cfg);
    memset(r, 0, sizeof *r);
}

static wm_status run(const est_opts *o, est_run *r, wm_error *err)
{
    memset(r, 0, sizeof *r);
    wm_plan plan;
    wm_status s = parse_plan(o, &plan, err);
    if (s == WM_OK)
        s = wm_devices_load(o->devices, &r->db, err);
    if (s == WM_OK)
        s = cli_resolve(&o->w, &r->cfg, &r->mc, &r->w, err);
    if (s == WM_OK)
        s = wm_model_build(&r->mc, &r->model, err);
    if (s == WM_OK && (s = wm_report_create(r->model, &r->w, &r->rep, err)) != WM_OK)
        cli_name_field(&o->w, &r->w, err);
    if (s == WM_OK)
        s = cli_check_stages(r->rep, r->w.stages, err);
    if (s == WM_OK) {
        wm_report_set_official_names(r->rep, strcmp(o->names, "official") == 0);
        s = wm_estimate_create(r->rep, r->db, &plan, &r->est, err);
    }
    return s;
}

int cmd_estimate(int argc, char **argv)
{
    est_opts o;
    bool help;
    int rc = parse_opts("estimate", argc, argv, &o, &help);
    if (help) {
        printf(estimate_help, cli_workload_help);
        return EXIT_OK;
    }
    if (rc != EXIT_OK)
        return rc;
    wm_error err;
    wm_error_clear(&err);
    uint64_t depth = 0;
    if (wm_parse_u64(o.depth, "--depth", 0, 64, &depth, &err) != WM_OK)
        return cli_fail(&err);
    est_run r;
    char *json = NULL, *text = NULL;
    wm_status s = run(&o, &r, &err);
    if (s == WM_OK)
        s = wm_estimate_to_json(r.est, &json, &err);
    if (s == WM_OK && strcmp(o.format, "table") == 0)
        s = wm_estimate_to_table(r.est, (int)depth, &text, &err);
    else if (s == WM_OK && strcmp(o.format, "md") == 0)
        s = wm_estimate_to_markdown(r.est, (int)depth, &text, &err);
    else if (s == WM_OK && strcmp(o.format, "csv") == 0)
        s = wm_estimate_to_csv(r.est, &text, &err);
    char path[4096] = "";
    if (s == WM_OK && o.artifacts) {
        char default_id[160], family[64], dir[4000];
        const char *run_id = o.run_id;
        if (!run_id) {
            cli_default_run_id(default_id, sizeof default_id, r.mc.id, r.w.profile_id);
            run_id = default_id;
        }
        cli_family_of(r.mc.id, family, sizeof family);
        int n = snprintf(dir, sizeof dir, "%s/%s/estimate/%s",
                         o.out_dir ? o.out_dir : wm_config_output_dir(r.cfg), run_id, family);
        if (n < 0 || (size_t)n >= sizeof dir)
            s = wm_error_set(&err, WM_E_IO, "--out-dir", "use a shorter path", "path too long");
        if (s == WM_OK && (s = wm_mkdirs(dir, &err)) == WM_OK) {
            snprintf(path, sizeof path, "%s/estimate.json", dir);
            s = wm_write_file_atomic(path, json, strlen(json), &err);
        }
    }
    rc = s == WM_OK ? cli_emit(text ? text : json, o.artifacts ? path : NULL) : cli_fail(&err);
    free(json);
    free(text);
    run_free(&r);
    return rc;
}

/* ---- calibrate ----------------------------------------------------------------------------- */

static const char calibrate_help[] =
    "usage: wanmeter calibrate FILE [--devices FILE]\n"
    "\n"
    "Runs `wanmeter estimate` for every row of a calibration file (published measurements of\n"
    "whole generations with their source and settings; bench/calibration.yaml) and prints the\n"
    "predicted and measured time and peak memory and the error of each. Exit 1 when a row's\n"
    "time or memory is off by more than the file's tolerance.\n";

int cmd_calibrate(int argc, char **argv)
{
    const char *file = NULL, *devices = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(calibrate_help, stdout);
            return EXIT_OK;
        }
        int r = cli_flag_value("calibrate", argc, argv, &i, "--devices", &devices);
        if (r < 0)
            return EXIT_USAGE;
        if (r == 1)
            continue;
        if (argv[i][0] == '-' || file)
            return cli_usage_error("calibrate", argv[i],
                                   file ? "only one calibration file" : "unknown flag");
        file = argv[i];
    }
    if (!file)
        return cli_usage_error("calibrate", "FILE", "name a calibration file");
    wm_error err;
    wm_error_clear(&err);
    wm_calibration cal;
    if (wm_calibration_load(file, &cal, &err) != WM_OK)
        return cli_fail(&err);
    wm_devices *check = NULL; /* a bad --devices file fails before any output */
    if (wm_devices_load(devices, &check, &err) != WM_OK) {
        wm_calibration_free(&cal);
        return cli_fail(&err);
    }
    wm_devices_free(check);
    size_t idw = 3;
    for (size_t i = 0; i < cal.count; i++)
        if (strlen(cal.rows[i].id) > idw)
            idw = strlen(cal.rows[i].id);
    printf("%-*s %10s %10s %7s   %9s %9s %7s\n", (int)idw, "row", "predicted", "measured", "error",
           "peak pred", "measured", "error");
    int rc = EXIT_OK;
    size_t failed = 0;
    double worst = 0.0;
    for (size_t i = 0; i < cal.count; i++) {
        const wm_calibration_row *row = &cal.rows[i];
        est_opts o;
        bool help;
        char *args[64];
        size_t n = 0;
        for (size_t k = 0; k < row->argc; k++)
            args[n++] = row->args[k];
        args[n++] = (char *)"--no-artifacts";
        if (devices) {
            args[n++] = (char *)"--devices";
            args[n++] = (char *)devices;
        }
        char what[96];
        snprintf(what, sizeof what, "calibrate %s", row->id);
        int prc = parse_opts(what, (int)n, args, &o, &help);
        if (prc != EXIT_OK) {
            rc = prc;
            break;
        }
        est_run r;
        if (run(&o, &r, &err) != WM_OK) {
            char msg[1200];
            wm_error_format(&err, msg, sizeof msg);
            fprintf(stderr, "wanmeter: %s: %s\n", row->id, msg);
            rc = cli_exit_code(err.code);
            run_free(&r);
            break;
        }
        const wm_estimate_totals *t = wm_estimate_totals_get(r.est);
        const double te = t->total_seconds / row->seconds - 1.0;
        const double pred_gb = (double)t->peak_bytes_per_gpu / 1e9;
        const double me = row->peak_gb > 0.0 ? pred_gb / row->peak_gb - 1.0 : 0.0;
        const bool bad = fabs(te) > cal.tolerance || fabs(me) > cal.tolerance;
        failed += bad;
        worst = fmax(worst, fmax(fabs(te), fabs(me)));
        char mg[32] = "-", merr[32] = "-";
        if (row->peak_gb > 0.0) {
            snprintf(mg, sizeof mg, "%.2f GB", row->peak_gb);
            snprintf(merr, sizeof merr, "%+.1f%%", 100.0 * me);
        }
        printf("%-*s %8.1f s %8.1f s %+6.1f%%   %6.2f GB %9s %7s%s\n", (int)idw, row->id,
               t->total_seconds,
               row->seconds, 100.0 * te, pred_gb, mg, merr, bad ? "  OUT OF TOLERANCE" : "");
        run_free(&r);
    }
    if (rc == EXIT_OK) {
        printf("\n%zu rows, %zu outside +-%.0f%%; largest error %.1f%%\n", cal.count, failed,
               100.0 * cal.tolerance, 100.0 * worst);
        if (failed)
            rc = EXIT_VERIFY_FAILED;
    }
    wm_calibration_free(&cal);
    return rc;
}

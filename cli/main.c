/* main.c — the wanmeter command: subcommand dispatch and `wanmeter report`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "parse.h"

static const char main_help[] =
    "usage: wanmeter <command> [flags]\n"
    "\n"
    "Exact analytic cost model of the Wan video diffusion transformer: FLOPs (as PyTorch's\n"
    "FlopCounterMode counts them), parameters and bytes per module, end to end.\n"
    "\n"
    "Commands:\n"
    "  report            per-module cost report for a model and workload\n"
    "  estimate          time and memory of a generation on GPUs (device, precision, plan)\n"
    "  calibrate FILE    the estimate against published measurements (bench/calibration.yaml)\n"
    "  verify layers     compare every module against PyTorch FlopCounterMode\n"
    "  verify end2end    compare the whole-generation DiT total against PyTorch\n"
    "  verify core       check the report's own invariants (parents = sum of children, ...)\n"
    "  hotspots FILE     top modules and categories of a report.json\n"
    "  compare A B       per-module and per-category differences between two report.json\n"
    "  list              model presets and workloads in the configuration\n"
    "\n"
    "'wanmeter <command> --help' shows a command's flags. Exit codes: 0 ok, 1 verification\n"
    "failed, 2 usage error, 3 invalid input or config, 4 I/O error, 5 internal error.\n";

static const char report_help[] =
    "usage: wanmeter report [flags]\n"
    "\n"
    "Builds the layer tree of the model for the workload and prints its costs. Also writes\n"
    "report.json and summary.md under <out-dir>/<run-id>/static_analysis/<family>/.\n"
    "\n"
    "%s"
    "\n"
    "Output:\n"
    "  --format F          table (default) | json | md | csv, to stdout\n"
    "  --depth N           tree depth in table/md output (default 2; 0 = the model only)\n"
    "  --run-id ID         artifact directory name (default: UTC time + model + workload)\n"
    "  --out-dir DIR       artifact root (default: the config's output.dir, tmp/profile-output)\n"
    "  --names N           diffusers (default) | official: show the official Wan code's\n"
    "                      module names (self_attn.q, ...); report.json adds official_id\n"
    "  --no-artifacts      print only; write no files\n";

/* Writes report.json and summary.md: both are rendered before either is written, and each is
 * written atomically, so a failure never leaves a half-written artifact. */
static wm_status write_artifacts(const wm_report *r, const char *out_dir, const char *run_id,
                                 const char *json, char *dir_out, size_t dir_cap, wm_error *err)
{
    char *summary = NULL, family[64], path[4096];
    wm_status s = wm_report_summary_md(r, &summary, err);
    if (s != WM_OK)
        return s;
    cli_family_of(wm_model_get_config(wm_report_model(r))->id, family, sizeof family);
    int n = snprintf(dir_out, dir_cap, "%s/%s/static_analysis/%s", out_dir, run_id, family);
    if (n < 0 || (size_t)n >= dir_cap || (size_t)n + 16 >= sizeof path) {
        free(summary);
        return wm_error_set(err, WM_E_IO, "--out-dir", "use a shorter path", "path too long");
    }
    if ((s = wm_mkdirs(dir_out, err)) == WM_OK) {
        snprintf(path, sizeof path, "%s/report.json", dir_out);
        s = wm_write_file_atomic(path, json, strlen(json), err);
    }
    if (s == WM_OK) {
        snprintf(path, sizeof path, "%s/summary.md", dir_out);
        s = wm_write_file_atomic(path, summary, strlen(summary), err);
    }
    free(summary);
    return s;
}

int cmd_report(int argc, char **argv)
{
    cli_workload_opts o = CLI_WORKLOAD_OPTS_INIT;
    const char *format = "table", *depth_s = "2", *run_id = NULL, *out_dir = NULL,
               *names = "diffusers";
    bool artifacts = true;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf(report_help, cli_workload_help);
            return EXIT_OK;
        }
        if (strcmp(argv[i], "--no-artifacts") == 0) {
            artifacts = false;
            continue;
        }
        int r = cli_parse_workload_flag("report", argc, argv, &i, &o);
        if (r == 0)
            r = cli_flag_value("report", argc, argv, &i, "--format", &format);
        if (r == 0)
            r = cli_flag_value("report", argc, argv, &i, "--depth", &depth_s);
        if (r == 0)
            r = cli_flag_value("report", argc, argv, &i, "--run-id", &run_id);
        if (r == 0)
            r = cli_flag_value("report", argc, argv, &i, "--out-dir", &out_dir);
        if (r == 0)
            r = cli_flag_value("report", argc, argv, &i, "--names", &names);
        if (r < 0)
            return EXIT_USAGE;
        if (r == 0)
            return cli_usage_error("report", argv[i], "unknown flag");
    }
    if (strcmp(format, "table") && strcmp(format, "json") && strcmp(format, "md") &&
        strcmp(format, "csv"))
        return cli_usage_error("report", "--format", "use table, json, md or csv");
    if (strcmp(names, "diffusers") && strcmp(names, "official"))
        return cli_usage_error("report", "--names", "use diffusers or official");
    if (out_dir && !*out_dir)
        return cli_usage_error("report", "--out-dir", "is empty; name a directory");
    if (run_id && !cli_valid_run_id(run_id))
        return cli_usage_error("report", "--run-id",
                               "use letters, digits, '-', '_' and '.' only");

    wm_error err;
    wm_error_clear(&err);
    uint64_t depth = 0;
    if (wm_parse_u64(depth_s, "--depth", 0, 64, &depth, &err) != WM_OK)
        return cli_fail(&err);

    wm_config *cfg = NULL;
    wm_model *model = NULL;
    wm_report *rep = NULL;
    char *json = NULL, *text = NULL;
    wm_model_config mc;
    wm_workload w;
    wm_status s = cli_resolve(&o, &cfg, &mc, &w, &err);
    if (s == WM_OK)
        s = wm_model_build(&mc, &model, &err);
    if (s == WM_OK && (s = wm_report_create(model, &w, &rep, &err)) != WM_OK)
        cli_name_field(&o, &w, &err);
    if (s == WM_OK)
        s = cli_check_stages(rep, w.stages, &err);
    if (s == WM_OK)
        wm_report_set_official_names(rep, strcmp(names, "official") == 0);
    if (s == WM_OK) {
        const wm_geometry *g = wm_report_geometry(rep);
        if (g->frames_not_4n1)
            fprintf(stderr, "wanmeter: note: %s\n", g->note);
        s = wm_report_to_json(rep, &json, &err);
    }
    if (s == WM_OK) {
        if (strcmp(format, "json") == 0)
            text = strdup(json), s = text ? WM_OK : WM_E_INTERNAL;
        else if (strcmp(format, "md") == 0)
            s = wm_report_to_markdown(rep, (int)depth, &text, &err);
        else if (strcmp(format, "csv") == 0)
            s = wm_report_to_csv(rep, &text, &err);
        else
            s = wm_report_to_table(rep, (int)depth, &text, &err);
        if (s == WM_E_INTERNAL && !err.why[0])
            wm_error_set(&err, s, "report", NULL, "out of memory");
    }
    char dir[4096] = "";
    if (s == WM_OK && artifacts) {
        char default_id[160];
        if (!run_id) {
            cli_default_run_id(default_id, sizeof default_id, mc.id, w.profile_id);
            run_id = default_id;
        }
        s = write_artifacts(rep, out_dir ? out_dir : wm_config_output_dir(cfg), run_id, json,
                            dir, sizeof dir, &err);
    }
    int rc;
    if (s == WM_OK) {
        char wrote[8300];
        snprintf(wrote, sizeof wrote, "%s/report.json and %s/summary.md", dir, dir);
        rc = cli_emit(text, artifacts ? wrote : NULL);
    } else {
        rc = cli_fail(&err);
    }
    free(json);
    free(text);
    wm_report_free(rep);
    wm_model_free(model);
    wm_config_free(cfg);
    return rc;
}

int cmd_list(int argc, char **argv)
{
    cli_workload_opts o = CLI_WORKLOAD_OPTS_INIT;
    const char *devices = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: wanmeter list [--config FILE] [--devices FILE]\n\nLists the model "
                   "presets and workloads of the configuration, and the GPUs of the device\n"
                   "database (configs/devices.yaml, with --devices merged over it).\n");
            return EXIT_OK;
        }
        int r = cli_flag_value("list", argc, argv, &i, "--config", &o.config);
        if (r == 0)
            r = cli_flag_value("list", argc, argv, &i, "--devices", &devices);
        if (r < 0)
            return EXIT_USAGE;
        if (r == 0)
            return cli_usage_error("list", argv[i], "unknown flag");
    }
    wm_error err;
    wm_error_clear(&err);
    wm_config *cfg = NULL;
    wm_devices *db = NULL;
    if (wm_config_load(o.config, &cfg, &err) != WM_OK)
        return cli_fail(&err);
    if (wm_devices_load(devices, &db, &err) != WM_OK) { /* before any output */
        wm_config_free(cfg);
        return cli_fail(&err);
    }
    printf("models:\n");
    for (size_t i = 0; i < wm_config_model_count(cfg); i++) {
        wm_model_config mc;
        if (wm_config_model(cfg, wm_config_model_name(cfg, i), &mc, &err) != WM_OK) {
            wm_config_free(cfg);
            wm_devices_free(db);
            return cli_fail(&err);
        }
        printf("  %-20s %-5s d=%llu layers=%llu heads=%llu ffn=%llu\n", mc.id, mc.variant,
               (unsigned long long)(mc.num_attention_heads * mc.attention_head_dim),
               (unsigned long long)mc.num_layers, (unsigned long long)mc.num_attention_heads,
               (unsigned long long)mc.ffn_dim);
    }
    printf("workloads:\n");
    for (size_t i = 0; i < wm_config_workload_count(cfg); i++) {
        wm_workload w;
        if (wm_config_workload(cfg, wm_config_workload_name(cfg, i), &w, &err) != WM_OK) {
            wm_config_free(cfg);
            wm_devices_free(db);
            return cli_fail(&err);
        }
        printf("  %-22s batch=%llu frames=%llu %llux%llu steps=%llu text_len=%llu cfg=%s %s\n",
               w.profile_id, (unsigned long long)w.batch_size, (unsigned long long)w.num_frames,
               (unsigned long long)w.height, (unsigned long long)w.width,
               (unsigned long long)w.num_inference_steps, (unsigned long long)w.text_len,
               w.cfg ? "on" : "off", wm_dtype_name(w.dtype));
    }
    wm_config_free(cfg);
    printf("devices:\n");
    for (size_t i = 0; i < wm_devices_count(db); i++) {
        wm_device_info d;
        wm_devices_info(db, wm_devices_name(db, i), &d);
        printf("  %-10s %-34s %-17s %6.0f GB %6.0f GB/s  bf16 %7.1f TFLOP/s  link %4.0f GB/s\n",
               d.id, d.name, d.arch, d.memory_gb, d.memory_bandwidth_gbs, d.bf16_tflops,
               d.interconnect_gbs);
    }
    wm_devices_free(db);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(main_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("wanmeter %s\n", WM_VERSION);
        return EXIT_OK;
    }
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } cmds[] = {
        {"report", cmd_report},     {"verify", cmd_verify},     {"compare", cmd_compare},
        {"hotspots", cmd_hotspots}, {"list", cmd_list},         {"estimate", cmd_estimate},
        {"calibrate", cmd_calibrate},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].run(argc - 2, argv + 2);
    return cli_usage_error(NULL, argv[1], "unknown command");
}

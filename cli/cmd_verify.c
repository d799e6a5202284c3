/*
 * cmd_verify.c — `wanmeter verify layers|end2end|core`.
 *
 * layers and end2end compare the analytic report with PyTorch's FlopCounterMode, measured by
 * reference/wanmeter_reference.py on diffusers' real model code (or on our mirror modules).
 * wanmeter writes a request (model config, workload, device), runs the harness with the
 * project's venv, reads the reference JSON back and compares by module id. `--reference FILE`
 * skips the run and reads a reference measured earlier.
 */
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"

extern char **environ;

static const char verify_help[] =
    "usage: wanmeter verify layers|end2end|core [flags]\n"
    "\n"
    "  layers    every module's FLOPs against PyTorch FlopCounterMode, matched by id; an id\n"
    "            on one side only fails. Stops at the first module above the tolerance.\n"
    "  end2end   the whole-generation DiT FLOPs (steps x forwards per step) against a\n"
    "            reference that loops the forward (small workloads) or scales one step\n"
    "  core      the report's own invariants (no PyTorch needed)\n"
    "\n"
    "%s"
    "\n"
    "Reference:\n"
    "  --device D          meta (default, from verify_run.device) | cpu | cuda\n"
    "  --against R         vendor (diffusers WanTransformer3DModel, default) | mirror\n"
    "                      (wanmeter's own PyTorch modules reproducing the math)\n"
    "  --stage S           the pipeline stage to verify: transformer (default),\n"
    "                      text_encoder, image_encoder, vae_encode, vae_decode,\n"
    "                      transformer_2, or all (every stage the model has)\n"
    "  --reference FILE    compare with a reference JSON measured earlier instead\n"
    "  --keep-reference F  also save the measured reference JSON to F\n"
    "  --all               show every row (and every failure), not just the top levels\n"
    "\n"
    "Tolerances come from verify_run.accept_rel_diff in the configuration. The mode defaults\n"
    "to torch, or torch-cpu for a cpu reference (torch 2.13.0 counts no attention there).\n"
    "Environment: WANMETER_PYTHON (default .venv/bin/python in the source tree).\n";

/* The source tree: the first ancestor of the executable's directory that holds the harness. */
static bool find_tree(char *root, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return false;
    exe[n] = '\0';
    for (int up = 0; up < 5; up++) {
        char *slash = strrchr(exe, '/');
        if (!slash)
            return false;
        *slash = '\0';
        char probe[PATH_MAX + 64];
        snprintf(probe, sizeof probe, "%s/reference/wanmeter_reference.py", exe);
        if (access(probe, R_OK) == 0) {
            snprintf(root, cap, "%s", exe);
            return true;
        }
    }
    return false;
}

/* Runs the harness; its own errors go straight to our stderr. */
static wm_status run_harness(const char *request, const char *out_path, bool end2end,
                             wm_error *err)
{
    char root[PATH_MAX], script[PATH_MAX + 64], python[PATH_MAX + 64];
    if (!find_tree(root, sizeof root))
        return wm_error_set(err, WM_E_IO, "verify",
                            "run wanmeter from its source tree, or pass --reference FILE",
                            "reference/wanmeter_reference.py not found next to the executable");
    snprintf(script, sizeof script, "%s/reference/wanmeter_reference.py", root);
    const char *env_py = getenv("WANMETER_PYTHON");
    snprintf(python, sizeof python, "%s", env_py && *env_py ? env_py : "");
    if (!python[0])
        snprintf(python, sizeof python, "%s/.venv/bin/python", root);
    if (access(python, X_OK) != 0)
        return wm_error_set(err, WM_E_IO, "verify",
                            "run scripts/setup.sh to install the pinned torch and diffusers, set "
                            "WANMETER_PYTHON, or pass --reference FILE",
                            "the PyTorch reference environment %s is missing", python);
    char *argv[] = {python, script, "--request", (char *)request, "--out", (char *)out_path,
                    end2end ? "--end2end" : NULL, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, python, NULL, NULL, argv, environ);
    if (rc != 0)
        return wm_error_set(err, WM_E_IO, python, "check the venv", "cannot run: %s",
                            strerror(rc));
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return wm_error_set(err, WM_E_INTERNAL, "verify", NULL, "waitpid: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return wm_error_set(err, code == 3 ? WM_E_INPUT : code == 4 ? WM_E_IO : WM_E_INTERNAL,
                            "reference harness", "see its message above",
                            "exited with status %d", code);
    }
    return WM_OK;
}

/* Writes the request, runs the harness, loads the result; temporary files are removed. */
static wm_status measure(const wm_report *r, wm_stage stage, const char *against,
                         const char *device, uint64_t loop_max, bool end2end, const char *keep,
                         wm_reference **ref, wm_error *err)
{
    const char *tmp = getenv("TMPDIR");
    char dir[PATH_MAX], req_path[PATH_MAX + 32], out_path[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/wanmeter-verify-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return wm_error_set(err, WM_E_IO, dir, "check TMPDIR", "cannot create: %s",
                            strerror(errno));
    snprintf(req_path, sizeof req_path, "%s/request.json", dir);
    snprintf(out_path, sizeof out_path, "%s/reference.json", dir);
    char *request = NULL;
    wm_status s = wm_reference_request_json(r, stage, against, device, loop_max, &request, err);
    if (s == WM_OK)
        s = wm_write_file_atomic(req_path, request, strlen(request), err);
    free(request);
    if (s == WM_OK)
        s = run_harness(req_path, out_path, end2end, err);
    if (s == WM_OK)
        s = wm_reference_load(out_path, ref, err);
    if (s == WM_OK && keep) {
        char *text = NULL;
        size_t len = 0;
        s = wm_read_file(out_path, &text, &len, err);
        if (s == WM_OK)
            s = wm_write_file_atomic(keep, text, len, err);
        free(text);
    }
    unlink(req_path);
    unlink(out_path);
    rmdir(dir);
    if (s != WM_OK) {
        wm_reference_free(*ref);
        *ref = NULL;
    }
    return s;
}

static void print_row(const wm_verify_row *row, int width)
{
    wm_buf b = {0};
    char rel[32];
    wm_format_rel_diff(row->rel_diff, rel, sizeof rel);
    wm_buf_printf(&b, "%-*s  ", width, row->id);
    char a[40] = "-", x[40] = "-";
    wm_buf ab = {0}, rb = {0};
    if (row->kind != WM_VERIFY_MISSING_ANALYTIC)
        wm_buf_grouped(&ab, row->analytic);
    if (row->kind != WM_VERIFY_MISSING_REFERENCE)
        wm_buf_grouped(&rb, row->reference);
    if (ab.data)
        snprintf(a, sizeof a, "%s", ab.data);
    if (rb.data)
        snprintf(x, sizeof x, "%s", rb.data);
    wm_buf_free(&ab);
    wm_buf_free(&rb);
    const char *result = row->pass ? "pass"
                         : row->kind == WM_VERIFY_MISSING_ANALYTIC ? "FAIL (no analytic module)"
                         : row->kind == WM_VERIFY_MISSING_REFERENCE ? "FAIL (not in reference)"
                                                                    : "FAIL";
    wm_buf_printf(&b, "%26s  %26s  %9s  %s\n", a, x, rel, result);
    if (b.data)
        fputs(b.data, stdout);
    wm_buf_free(&b);
}

/* Prints the table; without --all, only the rows down to depth 2 and stops at the first
 * failure. Returns the number of failures seen. */
static void print_table(const wm_verify_result *res, bool all, const char *what_compared)
{
    int width = 12;
    for (size_t i = 0; i < res->count; i++)
        if ((all || res->rows[i].depth <= 2 || !res->rows[i].pass) && (int)strlen(res->rows[i].id) > width)
            width = (int)strlen(res->rows[i].id);
    printf("%-*s  %26s  %26s  %9s  %s\n", width, what_compared, "analytic", "reference", "rel diff",
           "result");
    size_t shown = 0;
    for (size_t i = 0; i < res->count; i++) {
        const wm_verify_row *row = &res->rows[i];
        if (all || row->depth <= 2 || !row->pass) {
            print_row(row, width);
            shown++;
        }
        if (!all && !row->pass) {
            printf("stopped at the first failure (--all shows every row)\n");
            break;
        }
    }
    if (!all && shown < res->count && res->failed == 0)
        printf("(%zu deeper rows passed; --all shows them)\n", res->count - shown);
}

static void print_summary(const wm_verify_result *res, double tol, const char *noun)
{
    char rel[32];
    wm_format_rel_diff(res->max_rel_diff, rel, sizeof rel);
    printf("%zu %s compared, %zu failed, max relative difference %s (tolerance %g): %s\n",
           res->count, noun, res->failed, rel, tol, res->failed ? "FAIL" : "PASS");
}

int cmd_verify(int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, verify_help, cli_workload_help);
        return EXIT_USAGE;
    }
    if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        printf(verify_help, cli_workload_help);
        return EXIT_OK;
    }
    const char *sub = argv[0];
    if (strcmp(sub, "layers") && strcmp(sub, "end2end") && strcmp(sub, "core"))
        return cli_usage_error("verify", sub, "unknown check; use layers, end2end or core");
    const char *cmd = strcmp(sub, "layers") == 0 ? "verify layers"
                      : strcmp(sub, "end2end") == 0 ? "verify end2end" : "verify core";
    cli_workload_opts o = CLI_WORKLOAD_OPTS_INIT;
    const char *device = NULL, *against = "vendor", *ref_path = NULL, *keep = NULL,
               *stage_name = NULL;
    bool all = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf(verify_help, cli_workload_help);
            return EXIT_OK;
        }
        if (strcmp(argv[i], "--all") == 0) {
            all = true;
            continue;
        }
        int r = cli_parse_workload_flag(cmd, argc, argv, &i, &o);
        if (r == 0)
            r = cli_flag_value(cmd, argc, argv, &i, "--device", &device);
        if (r == 0)
            r = cli_flag_value(cmd, argc, argv, &i, "--against", &against);
        if (r == 0)
            r = cli_flag_value(cmd, argc, argv, &i, "--reference", &ref_path);
        if (r == 0)
            r = cli_flag_value(cmd, argc, argv, &i, "--keep-reference", &keep);
        if (r == 0)
            r = cli_flag_value(cmd, argc, argv, &i, "--stage", &stage_name);
        if (r < 0)
            return EXIT_USAGE;
        if (r == 0)
            return cli_usage_error(cmd, argv[i], "unknown flag");
    }
    if (strcmp(against, "vendor") && strcmp(against, "mirror"))
        return cli_usage_error(cmd, "--against", "use vendor or mirror");
    if (device && strcmp(device, "meta") && strcmp(device, "cpu") && strcmp(device, "cuda"))
        return cli_usage_error(cmd, "--device", "use meta, cpu or cuda");

    wm_error err;
    wm_error_clear(&err);
    wm_config *cfg = NULL;
    wm_model *model = NULL;
    wm_report *rep = NULL;
    wm_reference *ref = NULL;
    wm_verify_result res = {0};
    wm_verify_settings vs;
    wm_model_config mc;
    wm_workload w;
    int rc = EXIT_OK;
    wm_status s = cli_resolve(&o, &cfg, &mc, &w, &err);
    if (s == WM_OK)
        s = wm_config_verify(cfg, &vs, &err);
    if (s != WM_OK)
        goto done;
    if (!device)
        device = vs.device;
    /* The CPU reference of torch 2.13.0 counts no attention: its matching mode is torch-cpu. */
    if (!o.mode)
        w.mode = strcmp(device, "cpu") == 0 ? WM_MODE_TORCH_CPU : WM_MODE_TORCH;
    if ((s = wm_model_build(&mc, &model, &err)) != WM_OK)
        goto done;
    if ((s = wm_report_create(model, &w, &rep, &err)) != WM_OK) {
        cli_name_field(&o, &w, &err);
        goto done;
    }

    if (strcmp(sub, "core") == 0) {
        if ((s = wm_verify_core(rep, vs.accept_core, &res, &err)) != WM_OK)
            goto done;
        printf("verify core: %s @ %s, mode %s, tolerance %g (verify_run.accept_rel_diff.core)\n",
               mc.id, w.profile_id, wm_mode_name(w.mode), vs.accept_core);
        print_table(&res, true, "invariant");
        print_summary(&res, vs.accept_core, "invariants");
        rc = res.failed ? EXIT_VERIFY_FAILED : EXIT_OK;
        goto done;
    }

    bool e2e = strcmp(sub, "end2end") == 0;
    /* which stages: --stage NAME, --stage all, the reference file's, or the transformer */
    uint32_t todo = 1u << WM_STAGE_TRANSFORMER;
    if (stage_name && strcmp(stage_name, "all") == 0) {
        todo = 0;
        for (int k = 0; k < WM_STAGE_COUNT; k++)
            todo |= wm_report_totals(rep)->stages[k].present ? 1u << k : 0;
    } else if (stage_name) {
        wm_stage st;
        if (!wm_stage_parse(stage_name, &st)) {
            s = wm_error_set(&err, WM_E_INPUT, "--stage",
                             "use all, text_encoder, image_encoder, vae_encode, transformer, "
                             "transformer_2 or vae_decode",
                             "unknown stage '%s'", stage_name);
            goto done;
        }
        if ((s = cli_check_stages(rep, 1u << st, &err)) != WM_OK)
            goto done;
        todo = 1u << st;
    }
    if (e2e && todo != 1u << WM_STAGE_TRANSFORMER) {
        s = wm_error_set(&err, WM_E_INPUT, "--stage", "drop --stage",
                         "end2end compares the transformer's whole-generation total");
        goto done;
    }
    if (ref_path && stage_name && strcmp(stage_name, "all") == 0) {
        s = wm_error_set(&err, WM_E_INPUT, "--stage", "name one stage, or measure afresh",
                         "--reference holds one stage's measurement");
        goto done;
    }
    size_t stages_failed = 0, stages_run = 0;
    for (int k = 0; k < WM_STAGE_COUNT && s == WM_OK; k++) {
        if (!(todo >> k & 1u) && !ref_path)
            continue;
        if (ref_path)
            s = wm_reference_load(ref_path, &ref, &err);
        else
            s = measure(rep, (wm_stage)k, against, device, vs.end2end_loop_max_forwards, e2e,
                        keep, &ref, &err);
        if (s == WM_OK)
            s = wm_reference_check_matches(ref, rep, &err);
        if (s != WM_OK)
            goto done;
        const wm_stage st = wm_reference_stage(ref);
        const bool dit = st == WM_STAGE_TRANSFORMER || st == WM_STAGE_TRANSFORMER_2;
        bool counted = wm_reference_attention_counted(ref);
        /* the transformer's attention is fused: on the CPU FlopCounterMode does not count it */
        if (dit && counted != (w.mode != WM_MODE_TORCH_CPU) && w.mode != WM_MODE_FULL) {
            s = wm_error_set(&err, WM_E_INPUT, "--mode",
                             counted ? "use --mode torch" : "use --mode torch-cpu",
                             "the reference (%s) %s attention cores, mode %s does not",
                             wm_reference_device(ref), counted ? "counts" : "does not count",
                             wm_mode_name(w.mode));
            goto done;
        }
        /* nothing on stdout before the first reference is known good */
        if (stages_run == 0)
            printf("verify %s: %s @ %s (batch %llu, %llu frames %llux%llu, text %llu)\n", sub,
                   mc.id, w.profile_id, (unsigned long long)w.batch_size,
                   (unsigned long long)w.num_frames, (unsigned long long)w.height,
                   (unsigned long long)w.width, (unsigned long long)w.text_len);
        printf("%sstage %s; reference: %s on %s (%s)%s; analytic mode %s\n",
               stages_run ? "\n" : "", wm_stage_name(st), wm_reference_kind(ref),
               wm_reference_device(ref), wm_reference_versions(ref),
               dit && !counted ? "; attention cores are NOT in this reference (torch 2.13.0 CPU)"
                               : "",
               wm_mode_name(w.mode));
        stages_run++;
        if (e2e)
            break;
        printf("tolerance %g (verify_run.accept_rel_diff.layers)\n", vs.accept_layers);
        if ((s = wm_verify_layers(rep, ref, vs.accept_layers, &res, &err)) != WM_OK)
            goto done;
        print_table(&res, all, "module");
        print_summary(&res, vs.accept_layers, "modules");
        stages_failed += res.failed > 0;
        wm_verify_result_free(&res);
        wm_reference_free(ref);
        ref = NULL;
        if (ref_path)
            break;
    }
    if (!e2e) {
        if (stages_run > 1)
            printf("\n%zu stages verified, %zu failed: %s\n", stages_run, stages_failed,
                   stages_failed ? "FAIL" : "PASS");
        rc = stages_failed ? EXIT_VERIFY_FAILED : EXIT_OK;
    } else {
        uint64_t flops = 0, run = 0, per_gen = 0;
        const char *method = NULL;
        if (!wm_reference_end2end(ref, &flops, &method, &run, &per_gen)) {
            s = wm_error_set(&err, WM_E_INPUT, ref_path ? ref_path : "reference",
                             "measure it with --end2end", "the reference has no end2end measurement");
            goto done;
        }
        const wm_totals *t = wm_report_totals(rep);
        if (per_gen != t->forwards) {
            s = wm_error_set(&err, WM_E_INPUT, "reference", "measure it for this workload",
                             "it ran %llu forwards per generation, this report %llu",
                             (unsigned long long)per_gen, (unsigned long long)t->forwards);
            goto done;
        }
        if (strcmp(method, "loop") == 0)
            printf("method: the reference ran all %llu forwards of the generation in a loop\n",
                   (unsigned long long)run);
        else
            printf("method: the reference measured one step (%llu forwards) and scaled it by "
                   "%llu steps\n",
                   (unsigned long long)run, (unsigned long long)w.num_inference_steps);
        printf("tolerance %g (verify_run.accept_rel_diff.end2end)\n", vs.accept_end2end);
        wm_verify_row row = {.id = "transformer x generation", .kind = WM_VERIFY_MATCH,
                             .analytic = t->transformer_flops, .reference = flops,
                             .rel_diff = wm_rel_diff(t->transformer_flops, flops)};
        row.pass = wm_within(row.rel_diff, vs.accept_end2end);
        printf("%-24s  %26s  %26s  %9s  %s\n", "total", "analytic", "reference", "rel diff", "result");
        print_row(&row, 24);
        printf("whole-generation DiT FLOPs (%llu forwards): %s\n",
               (unsigned long long)t->forwards, row.pass ? "PASS" : "FAIL");
        rc = row.pass ? EXIT_OK : EXIT_VERIFY_FAILED;
    }
done:
    if (s != WM_OK)
        rc = cli_fail(&err);
    fflush(stdout);
    wm_verify_result_free(&res);
    wm_reference_free(ref);
    wm_report_free(rep);
    wm_model_free(model);
    wm_config_free(cfg);
    return rc;
}

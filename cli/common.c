/* common.c — error printing, flag parsing and workload resolution shared by the subcommands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "parse.h"

int cli_exit_code(wm_status s)
{
    switch (s) {
    case WM_OK: return EXIT_OK;
    case WM_E_INPUT:
    case WM_E_OVERFLOW: return EXIT_INPUT;
    case WM_E_IO: return EXIT_IO;
    case WM_E_VERIFY: return EXIT_VERIFY_FAILED;
    default: return EXIT_INTERNAL;
    }
}

int cli_fail(const wm_error *err)
{
    char msg[1536];
    wm_error_format(err, msg, sizeof msg);
    fprintf(stderr, "wanmeter: %s\n", msg);
    return cli_exit_code(err->code);
}

int cli_usage_error(const char *cmd, const char *what, const char *why)
{
    fprintf(stderr, "wanmeter: %s: %s (see 'wanmeter %s%s--help')\n", what, why, cmd ? cmd : "",
            cmd ? " " : "");
    return EXIT_USAGE;
}

int cli_flag_value(const char *cmd, int argc, char **argv, int *i, const char *name,
                   const char **value)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return 0;
    if (arg[n] == '=') {
        *value = arg + n + 1;
        return 1;
    }
    if (arg[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        cli_usage_error(cmd, name, "needs a value");
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

const char cli_workload_help[] =
    "Model and workload:\n"
    "  --model NAME        model preset (default from the config: wan2.1-t2v-14b)\n"
    "  --workload ID       workload from the config (default wan2-1-720p-81f);\n"
    "                      see 'wanmeter list'\n"
    "  --model-dir DIR     read the model from a local diffusers snapshot (its\n"
    "                      */config.json) or official checkpoint folder (config.json;\n"
    "                      --model then names the preset for the other components);\n"
    "                      default $WAN_MODEL_DIR when set\n"
    "  --config FILE       YAML merged over the built-in configs/wanmeter.yaml\n"
    "  --batch N           batch size\n"
    "  --frames N          pixel frames (4n+1 is what the VAE expects, e.g. 81)\n"
    "  --height N          pixel height, a multiple of 16\n"
    "  --width N           pixel width, a multiple of 16\n"
    "  --steps N           denoising steps\n"
    "  --text-len N        text tokens seen by the transformer (pipelines pad to 512)\n"
    "  --cfg / --no-cfg    classifier-free guidance: 2 forwards per step, or 1\n"
    "  --dtype T           bf16 | fp16 | fp32 (bytes of weights and activations)\n"
    "  --mode M            torch (FlopCounterMode on meta/CUDA) | torch-cpu (attention\n"
    "                      cores 0, as on the CPU in torch 2.13.0) | full (+ elementwise)\n"
    "  --impl I            diffusers (default) | official: the official Wan code's counted\n"
    "                      work (text padded to 512 tokens, CLIP's 31 blocks, Wan2.2's\n"
    "                      per-token timestep embedding)\n"
    "  --stages LIST       stages counted in totals.flops, comma-separated: text_encoder,\n"
    "                      image_encoder, vae_encode, transformer, transformer_2, vae_decode\n"
    "                      (default: every stage the model has)\n";

int cli_parse_workload_flag(const char *cmd, int argc, char **argv, int *i, cli_workload_opts *o)
{
    struct {
        const char *name;
        const char **dst;
    } flags[] = {
        {"--config", &o->config}, {"--model", &o->model},   {"--workload", &o->workload},
        {"--model-dir", &o->model_dir}, {"--impl", &o->impl},
        {"--batch", &o->batch},   {"--frames", &o->frames}, {"--height", &o->height},
        {"--width", &o->width},   {"--steps", &o->steps},   {"--text-len", &o->text_len},
        {"--dtype", &o->dtype},   {"--mode", &o->mode},     {"--stages", &o->stages},
    };
    if (strcmp(argv[*i], "--cfg") == 0 || strcmp(argv[*i], "--no-cfg") == 0) {
        o->cfg = argv[*i][2] == 'c';
        return 1;
    }
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++) {
        int r = cli_flag_value(cmd, argc, argv, i, flags[k].name, flags[k].dst);
        if (r != 0)
            return r;
    }
    return 0;
}

wm_status cli_resolve(const cli_workload_opts *o, wm_config **cfg, wm_model_config *mc,
                      wm_workload *w, wm_error *err)
{
    if (o->config && !*o->config)
        return wm_error_set(err, WM_E_INPUT, "--config", "name a YAML file", "is empty");
    wm_status s = wm_config_load(o->config, cfg, err);
    if (s != WM_OK)
        return s;
    const char *dir = o->model_dir;
    if (!dir && getenv("WAN_MODEL_DIR") && *getenv("WAN_MODEL_DIR"))
        dir = getenv("WAN_MODEL_DIR");
    if (dir && !*dir)
        return wm_error_set(err, WM_E_INPUT, "--model-dir", "name a directory", "is empty");
    s = dir ? wm_config_model_dir(*cfg, dir, o->model, mc, err)
            : wm_config_model(*cfg, o->model, mc, err);
    if (s != WM_OK || (s = wm_config_workload_for(*cfg, o->workload, mc, w, err)) != WM_OK)
        return s;
    struct {
        const char *flag, *value;
        uint64_t *dst;
    } nums[] = {
        {"--batch", o->batch, &w->batch_size},       {"--frames", o->frames, &w->num_frames},
        {"--height", o->height, &w->height},         {"--width", o->width, &w->width},
        {"--steps", o->steps, &w->num_inference_steps}, {"--text-len", o->text_len, &w->text_len},
    };
    for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++)
        if (nums[k].value &&
            (s = wm_parse_u64(nums[k].value, nums[k].flag, 1, WM_COUNT_MAX, nums[k].dst, err)) != WM_OK)
            return s;
    if (o->cfg >= 0)
        w->cfg = o->cfg;
    if (o->dtype && !wm_dtype_parse(o->dtype, &w->dtype))
        return wm_error_set(err, WM_E_INPUT, "--dtype", "use bf16, fp16 or fp32",
                            "unknown dtype '%s'", o->dtype);
    if (o->mode && !wm_mode_parse(o->mode, &w->mode))
        return wm_error_set(err, WM_E_INPUT, "--mode", "use torch, torch-cpu or full",
                            "unknown mode '%s'", o->mode);
    if (o->stages && (s = cli_parse_stages(o->stages, &w->stages, err)) != WM_OK)
        return s;
    if (o->impl) {
        if (strcmp(o->impl, "official") == 0)
            mc->impl = WM_IMPL_OFFICIAL;
        else if (strcmp(o->impl, "diffusers") != 0)
            return wm_error_set(err, WM_E_INPUT, "--impl", "use diffusers or official",
                                "unknown implementation '%s'", o->impl);
    }
    /* the official code pads every prompt to its text_len, 512 tokens */
    if (mc->impl == WM_IMPL_OFFICIAL)
        w->text_len = 512;
    return WM_OK;
}

wm_status cli_parse_stages(const char *list, uint32_t *mask, wm_error *err)
{
    static const char fix[] = "use a comma-separated list of text_encoder, image_encoder, "
                              "vae_encode, transformer, transformer_2, vae_decode";
    char buf[256];
    if (!*list || strlen(list) >= sizeof buf)
        return wm_error_set(err, WM_E_INPUT, "--stages", fix, "'%s' is not a list of stages", list);
    snprintf(buf, sizeof buf, "%s", list);
    *mask = 0;
    size_t len = strlen(buf);
    if (buf[0] == ',' || buf[len - 1] == ',' || strstr(buf, ",,"))
        return wm_error_set(err, WM_E_INPUT, "--stages", fix, "'%s' has an empty entry", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        wm_stage st;
        if (!wm_stage_parse(tok, &st))
            return wm_error_set(err, WM_E_INPUT, "--stages", fix, "unknown stage '%s'", tok);
        *mask |= 1u << st;
    }
    if (!*mask)
        return wm_error_set(err, WM_E_INPUT, "--stages", fix, "names no stage");
    return WM_OK;
}

wm_status cli_check_stages(const wm_report *r, uint32_t mask, wm_error *err)
{
    const wm_totals *t = wm_report_totals(r);
    for (int k = 0; k < WM_STAGE_COUNT; k++)
        if ((mask >> k & 1u) && !t->stages[k].present)
            return wm_error_set(err, WM_E_INPUT, "--stages",
                                "name stages the model has: report --format json lists them",
                                "the model has no %s stage", wm_stage_name((wm_stage)k));
    return WM_OK;
}

void cli_name_field(const cli_workload_opts *o, const wm_workload *w, wm_error *err)
{
    const struct {
        const char *field, *flag, *value;
    } map[] = {
        {"batch", "--batch", o->batch},    {"frames", "--frames", o->frames},
        {"height", "--height", o->height}, {"width", "--width", o->width},
        {"steps", "--steps", o->steps},    {"text_len", "--text-len", o->text_len},
    };
    for (size_t k = 0; k < sizeof map / sizeof map[0]; k++) {
        if (strcmp(err->what, map[k].field) != 0)
            continue;
        if (map[k].value)
            snprintf(err->what, sizeof err->what, "%s %s", map[k].flag, map[k].value);
        else
            snprintf(err->what, sizeof err->what, "workloads.%s.%s", w->profile_id, map[k].field);
        return;
    }
}

/* "wan2.1-t2v-14b" -> "wan2_1": the family directory of the artifacts. */
void cli_family_of(const char *model_id, char *out, size_t cap)
{
    size_t i = 0;
    for (; model_id[i] && model_id[i] != '-' && i + 1 < cap; i++)
        out[i] = model_id[i] == '.' ? '_' : model_id[i];
    out[i] = '\0';
}

bool cli_valid_run_id(const char *s)
{
    if (!*s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}


void cli_default_run_id(char *out, size_t cap, const char *model, const char *workload)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(out, cap, "%s-%s-%s", stamp, model, workload);
}

int cli_emit(const char *text, const char *wrote)
{
    fputs(text, stdout);
    if (wrote)
        fprintf(stderr, "wanmeter: wrote %s\n", wrote);
    if (fflush(stdout) != 0) {
        wm_error err;
        wm_error_set(&err, WM_E_IO, "stdout", NULL, "write failed");
        return cli_fail(&err);
    }
    return EXIT_OK;
}

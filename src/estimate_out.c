/*
 * estimate_out.c — the writers of `wanmeter estimate`: report.json extended by an "estimate"
 * member, and the terminal table (the generation, the stages, the per-layer tree with times,
 * the layers that take the most time, the notes).
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json_out.h"
#include "wanmeter.h"

#define TOP_LAYERS 10

/* ---- JSON ---------------------------------------------------------------------------------- */

static void plan_json(wm_json *j, const wm_estimate *e)
{
    const wm_plan *p = wm_estimate_plan(e);
    const wm_estimate_totals *t = wm_estimate_totals_get(e);
    wm_json_open(j, "plan", '{', false);
    wm_json_str(j, "device", p->device);
    wm_json_str(j, "precision", wm_precision_name(p->precision));
    wm_json_str(j, "attention_kernel", wm_attn_kernel_name(t->attention_kernel));
    wm_json_u64(j, "gpus", p->gpus);
    wm_json_u64(j, "ulysses", p->ulysses);
    wm_json_u64(j, "ring", p->ring);
    wm_json_bool(j, "cfg_parallel", p->cfg_parallel);
    wm_json_bool(j, "fsdp", p->fsdp);
    wm_json_bool(j, "offload_model", p->offload_model);
    wm_json_bool(j, "t5_cpu", p->t5_cpu);
    wm_json_bool(j, "convert_model_dtype", p->convert_model_dtype);
    wm_json_u64(j, "gpus_per_generation", t->group);
    wm_json_u64(j, "data_parallel", t->dp);
    wm_json_close(j);
}

static void device_json(wm_json *j, const wm_estimate *e)
{
    const wm_device_info *d = wm_estimate_device(e);
    wm_json_open(j, "device", '{', false);
    wm_json_str(j, "id", d->id);
    wm_json_str(j, "name", d->name);
    wm_json_str(j, "arch", d->arch);
    wm_json_u64(j, "memory_bytes", (uint64_t)(d->memory_gb * 1e9));
    wm_json_real(j, "memory_bandwidth_gbs", d->memory_bandwidth_gbs);
    wm_json_real(j, "peak_tflops", d->peak_tflops);
    wm_json_real(j, "bf16_peak_tflops", d->bf16_tflops);
    wm_json_str(j, "interconnect", d->interconnect);
    wm_json_real(j, "interconnect_gbs", d->interconnect_gbs);
    wm_json_real(j, "pcie_gbs", d->pcie_gbs);
    wm_json_str(j, "host", d->host);
    wm_json_real(j, "host_cpu_tflops", d->host_cpu_tflops);
    wm_json_close(j);
}

static void stages_json(wm_json *j, const wm_estimate *e)
{
    const wm_stage_estimate *st = wm_estimate_stages(e);
    wm_json_open(j, "stages", '{', false);
    for (int k = 0; k < WM_STAGE_COUNT; k++) {
        const wm_stage_estimate *s = &st[k];
        if (!s->present)
            continue;
        wm_json_open(j, wm_stage_name((wm_stage)k), '{', true);
        wm_json_bool(j, "selected", s->selected);
        wm_json_bool(j, "on_host", s->on_host);
        wm_json_u64(j, "calls", s->calls);
        wm_json_real(j, "seconds", s->seconds);
        wm_json_real(j, "compute_seconds", s->compute_seconds);
        wm_json_real(j, "memory_seconds", s->memory_seconds);
        wm_json_real(j, "comm_seconds", s->comm_seconds);
        wm_json_real(j, "comm_bytes_per_gpu", s->comm_bytes);
        wm_json_real(j, "flops_per_gpu", s->flops);
        wm_json_real(j, "bytes_per_gpu", s->bytes);
        wm_json_real(j, "mfu", s->mfu);
        wm_json_str(j, "bound", wm_bound_name(s->bound));
        wm_json_u64(j, "weight_bytes_per_gpu", s->weight_bytes);
        wm_json_u64(j, "activation_bytes_per_gpu", s->activation_bytes);
        wm_json_close(j);
    }
    wm_json_close(j);
}

static void modules_json(wm_json *j, const wm_estimate *e)
{
    const wm_report *r = wm_estimate_report(e);
    const wm_model *m = wm_report_model(r);
    const wm_node *nodes = wm_model_nodes(m);
    const wm_counts *cs = wm_report_counts(r);
    const wm_node_time *nt = wm_estimate_nodes(e);
    const wm_stage_estimate *st = wm_estimate_stages(e);
    wm_json_open(j, "modules", '[', false);
    for (size_t i = 0; i < wm_model_node_count(m); i++) {
        const uint64_t calls = st[nodes[i].stage].calls;
        if (cs[i].calls == 0)
            continue;
        wm_json_open(j, NULL, '{', true);
        wm_json_str(j, "id", nodes[i].id);
        wm_json_u64(j, "calls", calls);
        wm_json_real(j, "seconds_per_call", nt[i].seconds);
        wm_json_real(j, "seconds", nt[i].seconds * (double)calls);
        wm_json_real(j, "compute_seconds_per_call", nt[i].compute_seconds);
        wm_json_real(j, "memory_seconds_per_call", nt[i].memory_seconds);
        wm_json_real(j, "flops_per_gpu", nt[i].flops);
        wm_json_real(j, "bytes_per_gpu", nt[i].bytes);
        wm_json_real(j, "arithmetic_intensity", nt[i].intensity);
        wm_json_str(j, "bound", wm_bound_name(nt[i].bound));
        wm_json_close(j);
    }
    wm_json_close(j);
}

wm_status wm_estimate_to_json(const wm_estimate *e, char **out, wm_error *err)
{
    *out = NULL;
    const wm_report *r = wm_estimate_report(e);
    const wm_estimate_totals *t = wm_estimate_totals_get(e);
    wm_buf b = {0};
    wm_json j = {.b = &b};
    wm_buf_reserve(&b, 8192 + 700 * wm_model_node_count(wm_report_model(r)));
    wm_json_open(&j, NULL, '{', false);
    wm_status s = wm_report_json_members(&j, r, err);
    if (s != WM_OK) {
        wm_buf_free(&b);
        return s;
    }
    wm_json_open(&j, "estimate", '{', false);
    wm_json_real(&j, "total_seconds", t->total_seconds);
    wm_json_u64(&j, "peak_bytes_per_gpu", t->peak_bytes_per_gpu);
    wm_json_u64(&j, "memory_bytes_per_gpu", t->memory_bytes);
    wm_json_bool(&j, "fits", t->fits);
    wm_json_str(&j, "peak_stage", wm_stage_name(t->peak_stage));
    wm_json_real(&j, "offload_seconds", t->offload_seconds);
    wm_json_real(&j, "mfu", t->mfu);
    wm_json_real(&j, "videos_per_hour", t->videos_per_hour);
    plan_json(&j, e);
    device_json(&j, e);
    stages_json(&j, e);
    modules_json(&j, e);
    wm_json_open(&j, "notes", '[', false);
    for (size_t i = 0; i < wm_estimate_note_count(e); i++)
        wm_json_str(&j, NULL, wm_estimate_note(e, i));
    wm_json_close(&j);
    wm_json_close(&j);
    wm_json_close(&j);
    return wm_json_finish(&j, &b, "estimate json", out, err);
}

/* ---- table --------------------------------------------------------------------------------- */

static const char *secs(char *out, size_t cap, double s)
{
    if (s >= 100.0)
        snprintf(out, cap, "%.1f s", s);
    else if (s >= 1.0)
        snprintf(out, cap, "%.2f s", s);
    else if (s >= 1e-3)
        snprintf(out, cap, "%.2f ms", s * 1e3);
    else if (s > 0.0)
        snprintf(out, cap, "%.1f us", s * 1e6);
    else
        snprintf(out, cap, "0");
    return out;
}

/* "31 min 33 s", "1 h 02 min": a wall clock of a minute or more. */
static const char *clock_of(char *out, size_t cap, double s)
{
    const long long whole = (long long)llround(s);
    if (whole >= 3600)
        snprintf(out, cap, "%lld h %02lld min", whole / 3600, whole % 3600 / 60);
    else
        snprintf(out, cap, "%lld min %02lld s", whole / 60, whole % 60);
    return out;
}

static void stage_lines(wm_buf *b, const wm_estimate *e, bool md)
{
    const wm_stage_estimate *st = wm_estimate_stages(e);
    const wm_estimate_totals *t = wm_estimate_totals_get(e);
    char a[32], c[32], m[32], k[32], wb[32], ab[32];
    if (md)
        wm_buf_puts(b, "| stage | calls | time | share | bound | compute | memory | comm | MFU | "
                       "weights/GPU | activations/GPU |\n"
                       "|---|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|\n");
    else
        wm_buf_printf(b, "  %-14s %6s %11s %6s  %-13s %11s %11s %11s %5s %10s %10s\n", "stage",
                      "calls", "time", "share", "bound", "compute", "memory", "comm", "MFU",
                      "weights", "activ.");
    for (int i = 0; i < WM_STAGE_COUNT; i++) {
        const wm_stage_estimate *s = &st[i];
        if (!s->present)
            continue;
        const double share = t->total_seconds > 0.0 && s->selected
                                 ? 100.0 * s->seconds / t->total_seconds
                                 : 0.0;
        wm_buf_printf(b,
                      md ? "| %s | %llu | %s | %.1f%% | %s | %s | %s | %s | %.0f%% | %s | %s |%s\n"
                         : "  %-14s %6llu %11s %5.1f%%  %-13s %11s %11s %11s %4.0f%% %10s %10s%s\n",
                      wm_stage_name((wm_stage)i), (unsigned long long)s->calls,
                      secs(a, sizeof a, s->seconds), share,
                      s->on_host ? "host CPU" : wm_bound_name(s->bound),
                      secs(c, sizeof c, s->compute_seconds), secs(m, sizeof m, s->memory_seconds),
                      secs(k, sizeof k, s->comm_seconds), 100.0 * s->mfu,
                      wm_fmt_si(wb, sizeof wb, (double)s->weight_bytes, "B"),
                      wm_fmt_si(ab, sizeof ab, (double)s->activation_bytes, "B"),
                      s->selected ? "" : " (not selected)");
    }
    if (t->offload_seconds > 0.0 && md)
        wm_buf_printf(b, "| offload | | %s | %.1f%% | host link | | | | | | |\n",
                      secs(a, sizeof a, t->offload_seconds),
                      100.0 * t->offload_seconds / t->total_seconds);
    else if (t->offload_seconds > 0.0)
        wm_buf_printf(b, "  %-14s %6s %11s %5.1f%%  %-13s\n", "offload", "",
                      secs(a, sizeof a, t->offload_seconds),
                      100.0 * t->offload_seconds / t->total_seconds, "host link");
}

/* The tree to `depth` with times; a run of identical blocks shows the first and one line. */
static void tree_lines(wm_buf *b, const wm_estimate *e, int depth, bool md)
{
    const wm_report *r = wm_estimate_report(e);
    const wm_model *m = wm_report_model(r);
    const wm_node *nodes = wm_model_nodes(m);
    const wm_counts *cs = wm_report_counts(r);
    const wm_node_time *nt = wm_estimate_nodes(e);
    const wm_stage_estimate *st = wm_estimate_stages(e);
    const double total = wm_estimate_totals_get(e)->total_seconds;
    char a[32], g[32], name[256];
    if (md)
        wm_buf_puts(b, "| module | calls | per call | total | share | bound | FLOP/B |\n"
                       "|---|--:|--:|--:|--:|---|--:|\n");
    else
        wm_buf_printf(b, "  %-52s %6s %11s %11s %6s  %-8s %9s\n", "module", "calls",
                      "per call", "total", "share", "bound", "FLOP/B");
    const size_t n = wm_model_node_count(m);
    for (size_t i = 0; i < n; i++) {
        const wm_node *nd = &nodes[i];
        if (nd->depth > depth || cs[i].calls == 0)
            continue;
        if (nd->repeat_of >= 0) {
            /* count the run of repeats of the same original among the following siblings */
            size_t run = 0, j = i;
            while (j < n && nodes[j].parent == nd->parent && nodes[j].repeat_of == nd->repeat_of) {
                run++;
                j += nodes[j].subtree_size;
            }
            const double calls = (double)st[nd->stage].calls;
            char label[300];
            if (md)
                snprintf(label, sizeof label, "%s ... (%zu more like %s)", nd->id, run,
                         nodes[nd->repeat_of].name);
            else
                snprintf(label, sizeof label, "%*s... %zu more like %s", 2 * nd->depth, "", run,
                         nodes[nd->repeat_of].name);
            wm_buf_printf(b, md ? "| `%s` | %s | %s | %s | %.1f%% | | |\n"
                                : "  %-52s %6s %11s %11s %5.1f%%\n",
                          label, "", "",
                          secs(g, sizeof g, nt[i].seconds * calls * (double)run),
                          total > 0.0 ? 100.0 * nt[i].seconds * calls * (double)run / total
                                      : 0.0);
            i = j - 1;
            continue;
        }
        const double calls = (double)st[nd->stage].calls;
        if (md)
            snprintf(name, sizeof name, "`%s`", nd->id);
        else
            snprintf(name, sizeof name, "%*s%s", 2 * nd->depth, "", nd->depth ? nd->name : nd->id);
        if (!md && strlen(name) > 52)
            memcpy(name + 49, "...", 4);
        wm_buf_printf(b, md ? "| %s | %llu | %s | %s | %.1f%% | %s | %.1f |\n"
                            : "  %-52s %6llu %11s %11s %5.1f%%  %-8s %9.1f\n", name,
                      (unsigned long long)st[nd->stage].calls, secs(a, sizeof a, nt[i].seconds),
                      secs(g, sizeof g, nt[i].seconds * calls),
                      total > 0.0 ? 100.0 * nt[i].seconds * calls / total : 0.0,
                      wm_bound_name(nt[i].bound), nt[i].intensity);
    }
}

typedef struct slow {
    char id[256];
    double seconds;
    unsigned instances;
    wm_bound bound;
    double intensity;
} slow;

static void slow_lines(wm_buf *b, const wm_estimate *e, bool md)
{
    const wm_report *r = wm_estimate_report(e);
    const wm_model *m = wm_report_model(r);
    const wm_node *nodes = wm_model_nodes(m);
    const wm_counts *cs = wm_report_counts(r);
    const wm_node_time *nt = wm_estimate_nodes(e);
    const wm_stage_estimate *st = wm_estimate_stages(e);
    const double total = wm_estimate_totals_get(e)->total_seconds;
    const size_t n = wm_model_node_count(m);
    slow *list = calloc(n ? n : 1, sizeof *list);
    size_t count = 0;
    if (!list)
        return;
    for (size_t i = 0; i < n; i++) {
        if (nodes[i].subtree_size != 1 || cs[i].calls == 0 || !st[nodes[i].stage].selected)
            continue;
        char pat[256];
        wm_id_pattern(nodes[i].id, pat, sizeof pat);
        size_t k = 0;
        while (k < count && strcmp(list[k].id, pat) != 0)
            k++;
        if (k == count) {
            snprintf(list[count].id, sizeof list[count].id, "%s", pat);
            list[count].bound = nt[i].bound;
            list[count].intensity = nt[i].intensity;
            count++;
        }
        list[k].seconds += nt[i].seconds * (double)st[nodes[i].stage].calls;
        list[k].instances++;
    }
    /* selection of the TOP_LAYERS largest, stable by tree order */
    char a[32];
    if (md)
        wm_buf_puts(b, "| # | layer | time | share | bound | FLOP/B |\n|--:|---|--:|--:|---|--:|\n");
    for (int rank = 0; rank < TOP_LAYERS && count; rank++) {
        size_t best = 0;
        for (size_t k = 1; k < count; k++)
            if (list[k].seconds > list[best].seconds)
                best = k;
        if (list[best].seconds <= 0.0)
            break;
        char label[300];
        if (list[best].instances > 1)
            snprintf(label, sizeof label, "%s x%u", list[best].id, list[best].instances);
        else
            snprintf(label, sizeof label, "%s", list[best].id);
        wm_buf_printf(b, md ? "| %d | `%s` | %s | %.1f%% | %s | %.1f |\n"
                            : "  %2d. %-58s %11s %5.1f%%  %-8s %9.1f\n", rank + 1, label,
                      secs(a, sizeof a, list[best].seconds),
                      total > 0.0 ? 100.0 * list[best].seconds / total : 0.0,
                      wm_bound_name(list[best].bound), list[best].intensity);
        list[best].seconds = -1.0;
    }
    free(list);
}

static wm_status render(const wm_estimate *e, int depth, bool md, char **out, wm_error *err)
{
    *out = NULL;
    const wm_report *r = wm_estimate_report(e);
    const wm_model_config *mc = wm_model_get_config(wm_report_model(r));
    const wm_workload *w = wm_report_workload(r);
    const wm_plan *p = wm_estimate_plan(e);
    const wm_estimate_totals *t = wm_estimate_totals_get(e);
    const wm_device_info *d = wm_estimate_device(e);
    wm_buf b = {0};
    char a[32], c[32], m[32];
    wm_buf_printf(&b, "%swanmeter estimate: %s on %llu x %s (%s), %s, attention %s\n\n",
                  md ? "# " : "", mc->id, (unsigned long long)p->gpus, d->name, d->arch,
                  wm_precision_name(p->precision), wm_attn_kernel_name(t->attention_kernel));
    const char *bullet = md ? "- " : "";
    wm_buf_printf(&b,
                  "%sworkload %s: batch %llu, %llu frames %llux%llu, %llu steps, guidance %s, "
                  "text %llu tokens, impl %s\n",
                  bullet, w->profile_id, (unsigned long long)w->batch_size,
                  (unsigned long long)w->num_frames, (unsigned long long)w->width,
                  (unsigned long long)w->height, (unsigned long long)w->num_inference_steps,
                  w->cfg ? "on" : "off", (unsigned long long)w->text_len,
                  mc->impl == WM_IMPL_OFFICIAL ? "official" : "diffusers");
    wm_buf_printf(&b,
                  "%splan: %llu GPU%s = %llu data-parallel x %llu per generation (ulysses %llu, "
                  "ring %llu, cfg parallel %s); fsdp %s, offload-model %s, t5-cpu %s\n",
                  bullet, (unsigned long long)p->gpus, p->gpus == 1 ? "" : "s",
                  (unsigned long long)t->dp, (unsigned long long)t->group,
                  (unsigned long long)p->ulysses, (unsigned long long)p->ring,
                  p->cfg_parallel ? "on" : "off", p->fsdp ? "on" : "off",
                  p->offload_model ? "on" : "off", p->t5_cpu ? "on" : "off");
    wm_buf_printf(&b,
                  "%sdevice: %.1f TFLOP/s %s dense peak, %.0f GB/s memory, %.0f GB/s %s; a layer "
                  "below %.0f FLOP/B is memory-bound at peak\n",
                  bullet, d->peak_tflops, wm_precision_name(p->precision), d->memory_bandwidth_gbs,
                  d->interconnect_gbs, d->interconnect,
                  d->memory_bandwidth_gbs > 0.0
                      ? d->peak_tflops * 1e12 / (d->memory_bandwidth_gbs * 1e9)
                      : 0.0);
    char clock[48] = "";
    if (t->total_seconds >= 60.0)
        snprintf(clock, sizeof clock, " (%s)", clock_of(c, sizeof c, t->total_seconds));
    wm_buf_printf(&b, "%s%s%s%s, MFU %.1f%%, %.2f videos/hour\n", md ? "" : "\n",
                  md ? "- **one generation**: " : "  one generation    ",
                  secs(a, sizeof a, t->total_seconds), clock, 100.0 * t->mfu,
                  t->videos_per_hour);
    wm_buf_printf(&b, "%s%s of %s at peak (%s phase): %s\n\n",
                  md ? "- **memory per GPU**: " : "  memory per GPU    ",
                  wm_fmt_si(a, sizeof a, (double)t->peak_bytes_per_gpu, "B"),
                  wm_fmt_si(m, sizeof m, (double)t->memory_bytes, "B"),
                  wm_stage_name(t->peak_stage), t->fits ? "fits" : "DOES NOT FIT");
    if (md)
        wm_buf_puts(&b, "## Stages\n\n");
    stage_lines(&b, e, md);
    wm_buf_puts(&b, md ? "\n## Per layer (one GPU)\n\n"
                       : "\nper layer (one GPU; time per call and over the generation):\n");
    tree_lines(&b, e, depth, md);
    wm_buf_puts(&b, md ? "\n## Layers that take the most time\n\n"
                       : "\nlayers that take the most time (whole generation, same layer of "
                         "every block together):\n");
    slow_lines(&b, e, md);
    wm_buf_puts(&b, md ? "\n## Notes\n\n" : "\nnotes:\n");
    for (size_t i = 0; i < wm_estimate_note_count(e); i++)
        wm_buf_printf(&b, md ? "- %s\n" : "  - %s\n", wm_estimate_note(e, i));
    *out = wm_buf_take(&b);
    if (!*out)
        return wm_error_set(err, WM_E_INTERNAL, "estimate", NULL, "out of memory");
    return WM_OK;
}

wm_status wm_estimate_to_table(const wm_estimate *e, int depth, char **out, wm_error *err)
{
    return render(e, depth, false, out, err);
}

wm_status wm_estimate_to_markdown(const wm_estimate *e, int depth, char **out, wm_error *err)
{
    return render(e, depth, true, out, err);
}

wm_status wm_estimate_to_csv(const wm_estimate *e, char **out, wm_error *err)
{
    *out = NULL;
    const wm_report *r = wm_estimate_report(e);
    const wm_model *m = wm_report_model(r);
    const wm_node *nodes = wm_model_nodes(m);
    const wm_counts *cs = wm_report_counts(r);
    const wm_node_time *nt = wm_estimate_nodes(e);
    const wm_stage_estimate *st = wm_estimate_stages(e);
    wm_buf b = {0};
    wm_buf_puts(&b, "id,stage,op,calls,seconds_per_call,seconds,compute_seconds_per_call,"
                    "memory_seconds_per_call,bound,flops_per_gpu,bytes_per_gpu,"
                    "arithmetic_intensity\n");
    for (size_t i = 0; i < wm_model_node_count(m); i++) {
        if (cs[i].calls == 0)
            continue;
        const uint64_t calls = st[nodes[i].stage].calls;
        wm_buf_csv_field(&b, nodes[i].id);
        wm_buf_printf(&b, ",%s,%s,%llu,%.9g,%.9g,%.9g,%.9g,%s,%.9g,%.9g,%.9g\n",
                      wm_stage_name(nodes[i].stage), wm_op_name(nodes[i].op),
                      (unsigned long long)calls, nt[i].seconds, nt[i].seconds * (double)calls,
                      nt[i].compute_seconds, nt[i].memory_seconds, wm_bound_name(nt[i].bound),
                      nt[i].flops, nt[i].bytes, nt[i].intensity);
    }
    *out = wm_buf_take(&b);
    if (!*out)
        return wm_error_set(err, WM_E_INTERNAL, "estimate csv", NULL, "out of memory");
    return WM_OK;
}

/*
 * devices.c — the device database: configs/devices.yaml (compiled in) plus an optional user
 * file merged over it. Every device, host and efficiency is read and checked at load, so a
 * malformed entry fails with file:line:column before any estimate runs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "yaml_tree.h"

extern const char wm_default_devices_yaml[];
extern const size_t wm_default_devices_yaml_len;

static const char *const peak_names[WM_PEAK_COUNT] = {
#define WM_X_NAME(name, text) [name] = text,
    WM_PEAK_LIST(WM_X_NAME)
#undef WM_X_NAME
};

const char *wm_peak_name(wm_peak p)
{
    return (unsigned)p < WM_PEAK_COUNT ? peak_names[p] : "?";
}

struct wm_devices {
    wm_ydoc *doc;
    wm_device *devices;
    size_t count;
    wm_host *hosts;
    size_t host_count;
    wm_efficiency eff;
};

/* ---- small readers ----------------------------------------------------------------------- */

static wm_status missing(const wm_ynode *map, const char *what, wm_error *err)
{
    wm_error_set(err, WM_E_INPUT, what, "add it (see configs/devices.yaml)", "is missing");
    wm_ynode_mark(map, err);
    return WM_E_INPUT;
}

/* A number > 0 (and <= max when max > 0) at map.key. */
static wm_status positive(const wm_ynode *map, const char *path, const char *key, double max,
                          double *out, wm_error *err)
{
    char what[192];
    snprintf(what, sizeof what, "%s.%s", path, key);
    const wm_ynode *n = wm_ymap_get(map, key);
    if (!n)
        return missing(map, what, err);
    wm_status s = wm_ynode_double(n, what, out, err);
    if (s != WM_OK)
        return s;
    if (*out <= 0.0 || (max > 0.0 && *out > max)) {
        char fix[96];
        if (max > 0.0)
            snprintf(fix, sizeof fix, "use a number above 0 and at most %g", max);
        else
            snprintf(fix, sizeof fix, "use a number above 0");
        wm_error_set(err, WM_E_INPUT, what, fix, "%s is out of range", n->value);
        wm_ynode_mark(n, err);
        return WM_E_INPUT;
    }
    return WM_OK;
}

static wm_status string_at(const wm_ynode *map, const char *path, const char *key, bool required,
                           char *out, size_t cap, wm_error *err)
{
    char what[192];
    snprintf(what, sizeof what, "%s.%s", path, key);
    const wm_ynode *n = wm_ymap_get(map, key);
    if (!n)
        return required ? missing(map, what, err) : WM_OK;
    const char *v = NULL;
    wm_status s = wm_ynode_string(n, what, &v, err);
    if (s != WM_OK)
        return s;
    if (!*v || strlen(v) >= cap) {
        wm_error_set(err, WM_E_INPUT, what, "write a short non-empty text",
                     *v ? "is too long" : "is empty");
        wm_ynode_mark(n, err);
        return WM_E_INPUT;
    }
    snprintf(out, cap, "%s", v);
    return WM_OK;
}

/* ---- one device -------------------------------------------------------------------------- */

static wm_status read_link(const wm_ynode *dev, const char *path, const char *key, char *name,
                           size_t cap, double *gbs, wm_error *err)
{
    char p[192];
    snprintf(p, sizeof p, "%s.%s", path, key);
    const wm_ynode *n = wm_ymap_get(dev, key);
    wm_status s;
    if (!n)
        return missing(dev, p, err);
    if ((s = wm_ynode_expect_map(n, p, err)) || (s = wm_ymap_check_keys(n, p, "name, bandwidth_gbs", err)) ||
        (s = string_at(n, p, "name", true, name, cap, err)))
        return s;
    return positive(n, p, "bandwidth_gbs", 0.0, gbs, err);
}

static wm_status read_device(const wm_ynode *dev, const char *id, wm_device *d, wm_error *err)
{
    char path[128];
    snprintf(path, sizeof path, "devices.%s", id);
    wm_status s;
    if ((s = wm_ynode_expect_map(dev, path, err)) ||
        (s = wm_ymap_check_keys(dev, path,
                        "name, arch, memory_gb, memory_bandwidth_gbs, interconnect, pcie, host, "
                        "default_attention_kernel, peaks, sources",
                        err)))
        return s;
    memset(d, 0, sizeof *d);
    if (strlen(id) >= sizeof d->id)
        return wm_error_set(err, WM_E_INPUT, path, "use a shorter device name", "is too long");
    snprintf(d->id, sizeof d->id, "%s", id);
    char kernel[32] = "fa2";
    if ((s = string_at(dev, path, "name", true, d->name, sizeof d->name, err)) ||
        (s = string_at(dev, path, "arch", true, d->arch, sizeof d->arch, err)) ||
        (s = string_at(dev, path, "host", true, d->host, sizeof d->host, err)) ||
        (s = string_at(dev, path, "default_attention_kernel", false, kernel, sizeof kernel, err)) ||
        (s = positive(dev, path, "memory_gb", 0.0, &d->memory_gb, err)) ||
        (s = positive(dev, path, "memory_bandwidth_gbs", 0.0, &d->memory_bandwidth_gbs, err)) ||
        (s = read_link(dev, path, "interconnect", d->interconnect_name,
                       sizeof d->interconnect_name, &d->interconnect_gbs, err)) ||
        (s = read_link(dev, path, "pcie", d->pcie_name, sizeof d->pcie_name, &d->pcie_gbs, err)))
        return s;
    wm_attn_kernel k;
    if (!wm_attn_kernel_parse(kernel, &k) || k == WM_ATTN_AUTO) {
        char what[192];
        snprintf(what, sizeof what, "%s.default_attention_kernel", path);
        wm_error_set(err, WM_E_INPUT, what, "use math, fa2, fa3 or fa3-fp8",
                     "unknown attention kernel '%s'", kernel);
        wm_ynode_mark(wm_ymap_get(dev, "default_attention_kernel"), err);
        return WM_E_INPUT;
    }
    snprintf(d->default_kernel, sizeof d->default_kernel, "%s", kernel);
    const wm_ynode *sources = wm_ymap_get(dev, "sources");
    char spath[160];
    snprintf(spath, sizeof spath, "%s.sources", path);
    if (!sources)
        return missing(dev, spath, err);
    if ((s = wm_ynode_expect_map(sources, spath, err)) ||
        (s = wm_ymap_check_keys(sources, spath, "peaks, memory, interconnect", err)))
        return s;
    static const char *const source_keys[] = {"peaks", "memory", "interconnect"};
    for (size_t i = 0; i < 3; i++) {
        char what[192];
        snprintf(what, sizeof what, "%s.%s", spath, source_keys[i]);
        const wm_ynode *n = wm_ymap_get(sources, source_keys[i]);
        const char *v = NULL;
        if (!n) {
            if (i == 0) /* the peaks may carry their own sources instead */
                continue;
            return missing(sources, what, err);
        }
        if ((s = wm_ynode_string(n, what, &v, err)))
            return s;
        if (!*v)
            return wm_error_set(err, WM_E_INPUT, what, "say where the figures come from",
                                "is empty"),
                   wm_ynode_mark(n, err), WM_E_INPUT;
    }
    const bool peaks_source = wm_ymap_get(sources, "peaks") != NULL;
    const wm_ynode *peaks = wm_ymap_get(dev, "peaks");
    char ppath[160];
    snprintf(ppath, sizeof ppath, "%s.peaks", path);
    if (!peaks)
        return missing(dev, ppath, err);
    if ((s = wm_ynode_expect_map(peaks, ppath, err)) ||
        (s = wm_ymap_check_keys(peaks, ppath, "fp32, tf32, bf16, fp16, fp8, fp4", err)))
        return s;
    for (size_t i = 0; i < peaks->count; i++) {
        const wm_ynode *p = peaks->items[i];
        char what[192];
        snprintf(what, sizeof what, "%s.%s", ppath, peaks->keys[i]);
        if ((s = wm_ynode_expect_map(p, what, err)) ||
            (s = wm_ymap_check_keys(p, what, "tflops, dense, source", err)))
            return s;
        wm_peak k2 = WM_PEAK_FP32;
        while (strcmp(peak_names[k2], peaks->keys[i]) != 0)
            k2++;
        wm_device_peak *pk = &d->peaks[k2];
        const wm_ynode *dense = wm_ymap_get(p, "dense");
        char dwhat[200];
        snprintf(dwhat, sizeof dwhat, "%s.dense", what);
        if (!dense)
            return wm_error_set(err, WM_E_INPUT, dwhat,
                                "say dense: true for a dense figure, false for a sparse one",
                                "is missing"),
                   wm_ynode_mark(p, err), WM_E_INPUT;
        if ((s = wm_ynode_bool(dense, dwhat, &pk->dense, err)) ||
            (s = positive(p, what, "tflops", 0.0, &pk->tflops, err)))
            return s;
        if (!peaks_source && !wm_ymap_get(p, "source")) {
            char swhat[200];
            snprintf(swhat, sizeof swhat, "%s.source", what);
            return missing(p, swhat, err);
        }
        pk->present = true;
        pk->file = p->file;
        pk->line = p->line;
    }
    return WM_OK;
}

/* ---- efficiencies ------------------------------------------------------------------------ */

static wm_status read_efficiency(const wm_ynode *e, wm_efficiency *out, wm_error *err)
{
    const char *path = "efficiency";
    wm_status s;
    if ((s = wm_ynode_expect_map(e, path, err)) ||
        (s = wm_ymap_check_keys(e, path,
                        "gemm, conv, fp32_matmul, attention, fp8_block_scale, memory, "
                        "interconnect, host_transfer, collective_latency_us, "
                        "launch_overhead_us, runtime_overhead_gb, collective_buffers_gb",
                        err)))
        return s;
    memset(out, 0, sizeof *out);
    const struct {
        const char *key;
        double *dst;
        double max;
    } fractions[] = {
        {"conv", &out->conv, 1.0},
        {"fp32_matmul", &out->fp32_matmul, 1.0},
        {"fp8_block_scale", &out->fp8_block_scale, 1.0},
        {"memory", &out->memory, 1.0},
        {"interconnect", &out->interconnect, 1.0},
        {"host_transfer", &out->host_transfer, 1.0},
        {"collective_latency_us", &out->collective_latency_us, 1e6},
        {"launch_overhead_us", &out->launch_overhead_us, 1e6},
        {"runtime_overhead_gb", &out->runtime_overhead_gb, 1e4},
        {"collective_buffers_gb", &out->collective_buffers_gb, 1e4},
    };
    for (size_t i = 0; i < sizeof fractions / sizeof fractions[0]; i++)
        if ((s = positive(e, path, fractions[i].key, fractions[i].max, fractions[i].dst, err)))
            return s;
    const wm_ynode *gemm = wm_ymap_get(e, "gemm");
    if (!gemm)
        return missing(e, "efficiency.gemm", err);
    if ((s = wm_ynode_expect_map(gemm, "efficiency.gemm", err)))
        return s;
    for (size_t a = 0; a < gemm->count; a++) {
        if (out->gemm_count == sizeof out->gemm / sizeof out->gemm[0])
            return wm_error_set(err, WM_E_INPUT, "efficiency.gemm", "list fewer architectures",
                                "more than 16 architectures");
        wm_arch_eff *ge = &out->gemm[out->gemm_count++];
        snprintf(ge->arch, sizeof ge->arch, "%s", gemm->keys[a]);
        if ((s = positive(gemm, "efficiency.gemm", gemm->keys[a], 1.0, &ge->value, err)))
            return s;
    }
    const wm_ynode *att = wm_ymap_get(e, "attention");
    if (!att)
        return missing(e, "efficiency.attention", err);
    if ((s = wm_ynode_expect_map(att, "efficiency.attention", err)))
        return s;
    for (size_t i = 0; i < att->count; i++) {
        char what[160];
        snprintf(what, sizeof what, "efficiency.attention.%s", att->keys[i]);
        wm_attn_kernel k;
        if (!wm_attn_kernel_parse(att->keys[i], &k) || k == WM_ATTN_AUTO || k == WM_ATTN_MATH)
            return wm_ymap_unknown_key(att, i, "efficiency.attention",
                                       "fa2, fa3, fa3-fp8 (math uses efficiency.gemm)", err);
        const wm_ynode *per = att->items[i];
        if ((s = wm_ynode_expect_map(per, what, err)))
            return s;
        for (size_t a = 0; a < per->count; a++) {
            if (out->attention_count == WM_ATTN_EFF_MAX)
                return wm_error_set(err, WM_E_INPUT, what, "list fewer architectures",
                                    "more than %d kernel/architecture pairs", WM_ATTN_EFF_MAX);
            wm_attn_eff *ae = &out->attention[out->attention_count++];
            ae->kernel = k;
            snprintf(ae->arch, sizeof ae->arch, "%s", per->keys[a]);
            if ((s = positive(per, what, per->keys[a], 1.0, &ae->value, err)))
                return s;
        }
    }
    return WM_OK;
}

/* ---- loading ----------------------------------------------------------------------------- */

static wm_status read_all(wm_devices *db, wm_error *err)
{
    const wm_ynode *root = db->doc->root;
    wm_status s;
    if ((s = wm_ymap_check_keys(root, "devices.yaml", "devices, hosts, efficiency", err)))
        return s;
    const wm_ynode *devs = wm_ymap_get(root, "devices"), *hosts = wm_ymap_get(root, "hosts");
    const wm_ynode *eff = wm_ymap_get(root, "efficiency");
    if ((s = wm_ynode_expect_map(devs, "devices", err)) || (s = wm_ynode_expect_map(hosts, "hosts", err)) ||
        (s = read_efficiency(eff, &db->eff, err)))
        return s;
    db->devices = calloc(devs->count ? devs->count : 1, sizeof *db->devices);
    db->hosts = calloc(hosts->count ? hosts->count : 1, sizeof *db->hosts);
    if (!db->devices || !db->hosts)
        return wm_error_set(err, WM_E_INTERNAL, "devices", NULL, "out of memory");
    for (size_t i = 0; i < hosts->count; i++) {
        char path[128];
        snprintf(path, sizeof path, "hosts.%s", hosts->keys[i]);
        wm_host *h = &db->hosts[i];
        snprintf(h->id, sizeof h->id, "%s", hosts->keys[i]);
        if ((s = wm_ynode_expect_map(hosts->items[i], path, err)) ||
            (s = wm_ymap_check_keys(hosts->items[i], path, "name, cpu_tflops, source", err)) ||
            (s = string_at(hosts->items[i], path, "name", true, h->name, sizeof h->name, err)) ||
            (s = positive(hosts->items[i], path, "cpu_tflops", 0.0, &h->cpu_tflops, err)))
            return s;
        if (!wm_ymap_get(hosts->items[i], "source")) {
            char what[160];
            snprintf(what, sizeof what, "%s.source", path);
            return missing(hosts->items[i], what, err);
        }
        db->host_count++;
    }
    for (size_t i = 0; i < devs->count; i++) {
        if ((s = read_device(devs->items[i], devs->keys[i], &db->devices[i], err)))
            return s;
        db->count++;
        if (wm_devices_gemm_eff(db, db->devices[i].arch) <= 0.0) {
            char what[160];
            snprintf(what, sizeof what, "devices.%s.arch", devs->keys[i]);
            wm_error_set(err, WM_E_INPUT, what,
                         "use an architecture listed under efficiency.gemm, or add one there",
                         "efficiency.gemm has no entry for architecture '%s'",
                         db->devices[i].arch);
            wm_ynode_mark(wm_ymap_get(devs->items[i], "arch"), err);
            return WM_E_INPUT;
        }
        if (!wm_devices_host(db, db->devices[i].host)) {
            char what[160];
            snprintf(what, sizeof what, "devices.%s.host", devs->keys[i]);
            wm_error_set(err, WM_E_INPUT, what, "name one of the hosts: section",
                         "unknown host '%s'", db->devices[i].host);
            wm_ynode_mark(wm_ymap_get(devs->items[i], "host"), err);
            return WM_E_INPUT;
        }
    }
    return WM_OK;
}

wm_status wm_devices_load(const char *user_path, wm_devices **out, wm_error *err)
{
    *out = NULL;
    wm_devices *db = calloc(1, sizeof *db);
    if (!db)
        return wm_error_set(err, WM_E_INTERNAL, "devices", NULL, "out of memory");
    wm_status s = wm_yaml_load_layered(wm_default_devices_yaml, wm_default_devices_yaml_len,
                                       "configs/devices.yaml", user_path, "--devices", &db->doc,
                                       err);
    if (s == WM_OK)
        s = read_all(db, err);
    if (s != WM_OK) {
        wm_devices_free(db);
        return s;
    }
    *out = db;
    return WM_OK;
}

void wm_devices_free(wm_devices *db)
{
    if (!db)
        return;
    wm_yaml_free(db->doc);
    free(db->devices);
    free(db->hosts);
    free(db);
}

size_t wm_devices_count(const wm_devices *db) { return db->count; }

const char *wm_devices_name(const wm_devices *db, size_t i)
{
    return i < db->count ? db->devices[i].id : NULL;
}

const wm_device *wm_devices_find(const wm_devices *db, const char *id)
{
    for (size_t i = 0; i < db->count; i++)
        if (strcmp(db->devices[i].id, id) == 0)
            return &db->devices[i];
    return NULL;
}

const wm_host *wm_devices_host(const wm_devices *db, const char *id)
{
    for (size_t i = 0; i < db->host_count; i++)
        if (strcmp(db->hosts[i].id, id) == 0)
            return &db->hosts[i];
    return NULL;
}

const wm_efficiency *wm_devices_efficiency(const wm_devices *db) { return &db->eff; }

double wm_devices_attention_eff(const wm_devices *db, wm_attn_kernel kernel, const char *arch)
{
    for (size_t i = 0; i < db->eff.attention_count; i++)
        if (db->eff.attention[i].kernel == kernel && strcmp(db->eff.attention[i].arch, arch) == 0)
            return db->eff.attention[i].value;
    return 0.0;
}

double wm_devices_gemm_eff(const wm_devices *db, const char *arch)
{
    for (size_t i = 0; i < db->eff.gemm_count; i++)
        if (strcmp(db->eff.gemm[i].arch, arch) == 0)
            return db->eff.gemm[i].value;
    return 0.0;
}

void wm_devices_kernel_archs(const wm_devices *db, wm_attn_kernel kernel, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < db->eff.attention_count && used < cap; i++)
        if (db->eff.attention[i].kernel == kernel) {
            int n = snprintf(out + used, cap - used, "%s%s", used ? ", " : "",
                             db->eff.attention[i].arch);
            if (n < 0)
                break;
            used += (size_t)n;
        }
    if (!out[0])
        snprintf(out, cap, "none");
}

void wm_devices_list(const wm_devices *db, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < db->count && used < cap; i++) {
        int n = snprintf(out + used, cap - used, "%s%s", used ? ", " : "", db->devices[i].id);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

bool wm_devices_info(const wm_devices *db, const char *id, wm_device_info *out)
{
    const wm_device *d = wm_devices_find(db, id);
    memset(out, 0, sizeof *out);
    if (!d)
        return false;
    const wm_host *h = wm_devices_host(db, d->host);
    snprintf(out->id, sizeof out->id, "%s", d->id);
    snprintf(out->name, sizeof out->name, "%s", d->name);
    snprintf(out->arch, sizeof out->arch, "%s", d->arch);
    snprintf(out->interconnect, sizeof out->interconnect, "%s", d->interconnect_name);
    snprintf(out->host, sizeof out->host, "%s", h ? h->name : d->host);
    out->memory_gb = d->memory_gb;
    out->memory_bandwidth_gbs = d->memory_bandwidth_gbs;
    out->interconnect_gbs = d->interconnect_gbs;
    out->pcie_gbs = d->pcie_gbs;
    out->host_cpu_tflops = h ? h->cpu_tflops : 0.0;
    const wm_device_peak *bf = &d->peaks[WM_PEAK_BF16];
    out->bf16_tflops = bf->present && bf->dense ? bf->tflops : 0.0;
    out->peak_tflops = out->bf16_tflops;
    return true;
}

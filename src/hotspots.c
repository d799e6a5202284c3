/* hotspots.c — the leaves and categories that take the most FLOPs over a whole generation. */
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "model_internal.h"

typedef struct {
    uint64_t flops;
    int32_t node;
} ranked;

static int by_flops_desc(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->flops != y->flops)
        return x->flops > y->flops ? -1 : 1;
    return (x->node > y->node) - (x->node < y->node);
}

wm_status wm_report_hotspots(const wm_report *r, size_t top, wm_hotspots *out, wm_error *err)
{
    const wm_model *m = wm_report_model(r);
    const wm_node *nodes = wm_model_nodes(m);
    const wm_counts *c = wm_report_counts(r);
    const size_t n = wm_model_node_count(m);
    const double total = (double)wm_report_totals(r)->flops;
    memset(out, 0, sizeof *out);
    if (top > WM_HOTSPOT_MODULES_MAX)
        top = WM_HOTSPOT_MODULES_MAX;

    bool *has_child = calloc(n ? n : 1, sizeof *has_child);
    ranked *leaves = calloc(n ? n : 1, sizeof *leaves);
    if (!has_child || !leaves) {
        free(has_child);
        free(leaves);
        return wm_error_set(err, WM_E_INTERNAL, "hotspots", NULL, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        if (nodes[i].parent >= 0)
            has_child[nodes[i].parent] = true;
    uint64_t cat[WM_CAT_COUNT] = {0};
    size_t nl = 0;
    wm_status s = WM_OK;
    for (size_t i = 0; i < n; i++) {
        if (has_child[i])
            continue;
        uint64_t f;
        if (!wm_mul(c[i].flops, c[i].calls, &f) || !wm_add(cat[nodes[i].category], f, &cat[nodes[i].category])) {
            s = wm_error_set(err, WM_E_OVERFLOW, nodes[i].id, "use a smaller workload",
                             "whole-generation FLOPs overflow");
            break;
        }
        if (f > 0)
            leaves[nl++] = (ranked){f, (int32_t)i};
    }
    if (s == WM_OK) {
        qsort(leaves, nl, sizeof *leaves, by_flops_desc);
        for (size_t i = 0; i < nl && i < top; i++)
            out->modules[out->module_count++] = (wm_hotspot){
                .node = leaves[i].node,
                .flops = leaves[i].flops,
                .share = total > 0 ? (double)leaves[i].flops / total : 0.0,
            };
        ranked cats[WM_CAT_COUNT];
        size_t nc = 0;
        for (int k = 0; k < WM_CAT_COUNT; k++)
            if (cat[k] > 0)
                cats[nc++] = (ranked){cat[k], k};
        qsort(cats, nc, sizeof *cats, by_flops_desc);
        for (size_t i = 0; i < nc; i++)
            out->categories[out->category_count++] = (wm_category_total){
                .category = (wm_category)cats[i].node,
                .flops = cats[i].flops,
                .share = total > 0 ? (double)cats[i].flops / total : 0.0,
            };
    }
    free(has_child);
    free(leaves);
    return s;
}

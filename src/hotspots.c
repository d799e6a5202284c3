/* hotspots.c — the kinds of layer and the categories that take the most FLOPs over a whole
 * generation, among the stages totals.flops counts. */
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "model_internal.h"

void wm_id_pattern(const char *id, char *out, size_t cap)
{
    if (cap == 0)
        return;
    size_t o = 0;
    const char *p = id, *prev = NULL, *prev_end = NULL;
    while (*p && o + 1 < cap) {
        /* one path component: up to '.' or '#' */
        const char *q = p;
        while (*q && *q != '.' && *q != '#')
            q++;
        bool digits = q > p;
        for (const char *x = p; x < q; x++)
            digits = digits && *x >= '0' && *x <= '9';
        bool after_blocks = prev && ((prev_end - prev == 6 && strncmp(prev, "blocks", 6) == 0) ||
                                     (prev_end - prev == 5 && strncmp(prev, "block", 5) == 0));
        if (digits && after_blocks)
            out[o++] = '*';
        else
            for (const char *x = p; x < q && o + 1 < cap; x++)
                out[o++] = *x;
        prev = p;
        prev_end = q;
        if (*q && o + 1 < cap)
            out[o++] = *q;
        p = *q ? q + 1 : q;
    }
    out[o] = '\0';
}

/* Whether a name is a block index that wm_id_pattern turns into '*' ("blocks.3", "block.3"). */
static bool block_index(const char *name)
{
    return strncmp(name, "blocks.", 7) == 0 || strncmp(name, "block.", 6) == 0;
}

typedef struct {
    char id[256]; /* pattern */
    int32_t node; /* first instance, in tree order */
    uint32_t instances;
    uint64_t flops;
} group;

static int by_pattern(const void *a, const void *b)
{
    const group *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->node > y->node) - (x->node < y->node);
}

static int by_flops_desc(const void *a, const void *b)
{
    const group *x = a, *y = b;
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

    /* Leaves with work, and the category sums. A leaf inside a repeated `blocks.N` is added to
     * its original's entry (same structure, same counts, and the same id pattern), so patterns
     * are computed only for the other leaves: this keeps report.json fast to render. Repeats
     * under other names (a VAE's resnets.1 repeating resnets.0) keep entries of their own, so
     * that a group always means "the same id with the block index as '*'", as `wanmeter
     * hotspots` recomputes it from a file. */
    group *g = calloc(n ? n : 1, sizeof *g);
    int32_t *slot = malloc((n ? n : 1) * sizeof *slot);
    if (!g || !slot) {
        free(g);
        free(slot);
        return wm_error_set(err, WM_E_INTERNAL, "hotspots", NULL, "out of memory");
    }
    uint64_t cat[WM_CAT_COUNT] = {0};
    size_t nl = 0;
    for (size_t k = 0; k < m->live_count; k++) {
        const size_t i = (size_t)m->live[k];
        slot[i] = -1;
        if (nodes[i].subtree_size != 1)
            continue;
        slot[i] = (int32_t)nl;
        g[nl].node = (int32_t)i;
        g[nl].instances = 1;
        nl++;
    }
    /* every leaf's whole-generation FLOPs into its slot: live leaves directly, repeated ones
     * through the original at the same offset in the original block */
    const wm_totals *t = wm_report_totals(r);
    for (size_t k = 0; k < m->live_count + m->repeat_count; k++) {
        bool live = k < m->live_count;
        size_t root = live ? (size_t)m->live[k] : (size_t)m->repeats[k - m->live_count];
        size_t span = live ? 1 : nodes[root].subtree_size;
        if (!t->stages[nodes[root].stage].selected)
            continue; /* --stages left it out of totals.flops: out of the ranking too */
        const bool fold = !live && block_index(nodes[root].name);
        for (size_t i = root; i < root + span; i++) {
            if (nodes[i].subtree_size != 1)
                continue;
            size_t orig = fold ? (size_t)nodes[root].repeat_of + (i - root) : i;
            if (!live && !fold) { /* a leaf of its own */
                slot[i] = (int32_t)nl;
                g[nl] = (group){.node = (int32_t)i, .instances = 1};
                nl++;
            }
            uint64_t f;
            group *e = &g[slot[orig]];
            if (!wm_mul(c[i].flops, c[i].calls, &f) ||
                !wm_add(cat[nodes[i].category], f, &cat[nodes[i].category]) ||
                !wm_add(e->flops, f, &e->flops)) {
                free(g);
                free(slot);
                return wm_error_set(err, WM_E_OVERFLOW, nodes[i].id, "use a smaller workload",
                                    "whole-generation FLOPs overflow");
            }
            e->instances += fold;
        }
    }
    free(slot);
    /* keep the leaves with work, named by pattern */
    size_t kept = 0;
    for (size_t i = 0; i < nl; i++)
        if (g[i].flops > 0) {
            g[kept] = g[i];
            wm_id_pattern(nodes[g[kept].node].id, g[kept].id, sizeof g[kept].id);
            kept++;
        }
    nl = kept;
    /* merge the same layer of every block (sums are bounded by the category sums above) */
    qsort(g, nl, sizeof *g, by_pattern);
    size_t ng = 0;
    for (size_t i = 0; i < nl; i++) {
        if (ng > 0 && strcmp(g[ng - 1].id, g[i].id) == 0) {
            g[ng - 1].instances += g[i].instances;
            g[ng - 1].flops += g[i].flops;
        } else {
            g[ng++] = g[i];
        }
    }
    qsort(g, ng, sizeof *g, by_flops_desc);
    for (size_t i = 0; i < ng && i < top; i++) {
        wm_hotspot *h = &out->modules[out->module_count++];
        memcpy(h->id, g[i].id, sizeof h->id);
        h->node = g[i].node;
        h->instances = g[i].instances;
        h->flops = g[i].flops;
        h->share = total > 0 ? (double)g[i].flops / total : 0.0;
    }
    free(g);

    for (int k = 0; k < WM_CAT_COUNT; k++) {
        if (cat[k] == 0)
            continue;
        /* insertion by FLOPs, largest first; ties keep the enumeration order */
        size_t at = out->category_count++;
        while (at > 0 && out->categories[at - 1].flops < cat[k]) {
            out->categories[at] = out->categories[at - 1];
            at--;
        }
        out->categories[at] = (wm_category_total){
            .category = (wm_category)k,
            .flops = cat[k],
            .share = total > 0 ? (double)cat[k] / total : 0.0,
        };
    }
    return WM_OK;
}

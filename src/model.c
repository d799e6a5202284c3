/* model.c — layer-tree storage: the node table, its string arena, and the builder helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "model_internal.h"

struct wm_arena_block {
    wm_arena_block *next;
    size_t used, cap;
    char data[];
};

static char *arena_strdup(wm_model *m, const char *s, size_t len)
{
    wm_arena_block *blk = m->arena;
    if (!blk || blk->cap - blk->used < len + 1) {
        size_t cap = len + 1 > 16384 ? len + 1 : 16384;
        blk = malloc(sizeof *blk + cap);
        if (!blk)
            return NULL;
        blk->next = m->arena;
        blk->used = 0;
        blk->cap = cap;
        m->arena = blk;
    }
    char *p = blk->data + blk->used;
    memcpy(p, s, len);
    p[len] = '\0';
    blk->used += len + 1;
    return p;
}

int32_t wm_b_node(wm_builder *b, int32_t parent, const char *name, wm_op op, wm_category cat)
{
    if (b->status != WM_OK)
        return -1;
    wm_model *m = b->m;
    if (m->count == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 512;
        wm_node *nodes = cap <= INT32_MAX ? realloc(m->nodes, cap * sizeof *nodes) : NULL;
        if (!nodes) {
            b->status = wm_error_set(b->err, WM_E_INTERNAL, "model", NULL, "out of memory");
            return -1;
        }
        m->nodes = nodes;
        m->cap = cap;
    }
    char id[512];
    int n;
    if (parent < 0)
        n = snprintf(id, sizeof id, "%s", name);
    else
        n = snprintf(id, sizeof id, name[0] == '#' ? "%s%s" : "%s.%s", m->nodes[parent].id, name);
    if (n < 0 || (size_t)n >= sizeof id) {
        b->status = wm_error_set(b->err, WM_E_INTERNAL, name, NULL, "module id too long");
        return -1;
    }
    char *stored = arena_strdup(m, id, (size_t)n);
    if (!stored) {
        b->status = wm_error_set(b->err, WM_E_INTERNAL, "model", NULL, "out of memory");
        return -1;
    }
    int32_t idx = (int32_t)m->count++;
    wm_node *nd = &m->nodes[idx];
    *nd = (wm_node){
        .id = stored,
        .name = parent < 0 ? stored : stored + strlen(m->nodes[parent].id) + (name[0] == '#' ? 0 : 1),
        .parent = parent,
        .depth = parent < 0 ? 0 : m->nodes[parent].depth + 1,
        .op = op,
        .category = cat,
        .rows = WM_ROWS_ONE,
        .kv_rows = WM_ROWS_ONE,
        .stage = parent < 0 ? stored : m->nodes[parent].stage,
    };
    return idx;
}

int32_t wm_b_nodef(wm_builder *b, int32_t parent, wm_op op, wm_category cat, const char *fmt, ...)
{
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return wm_b_node(b, parent, name, op, cat);
}

/* Parameter counts are structural (independent of the workload) but still checked: a user
 * config can ask for absurd widths. */
static void set_params(wm_builder *b, int32_t i, uint64_t params, bool ok)
{
    if (i < 0)
        return;
    if (!ok) {
        b->status = wm_error_set(b->err, WM_E_OVERFLOW, b->m->nodes[i].id,
                                 "use smaller model dimensions",
                                 "the parameter count overflows 64 bits");
        return;
    }
    b->m->nodes[i].params = params;
}

int32_t wm_b_linear(wm_builder *b, int32_t parent, const char *name, wm_category cat, wm_rows rows,
                    uint64_t k, uint64_t n, bool bias)
{
    int32_t i = wm_b_node(b, parent, name, WM_OP_LINEAR, cat);
    if (i < 0)
        return i;
    wm_node *nd = wm_b_at(b, i);
    nd->rows = rows;
    nd->k = k;
    nd->n = n;
    nd->bias = bias;
    uint64_t p = 0;
    bool ok = wm_mul(k, n, &p) && wm_add(p, bias ? n : 0, &p);
    set_params(b, i, p, ok);
    return i;
}

int32_t wm_b_conv3d(wm_builder *b, int32_t parent, const char *name, wm_category cat, wm_rows rows,
                    uint64_t cin, uint64_t cout, const uint64_t kernel[3])
{
    int32_t i = wm_b_node(b, parent, name, WM_OP_CONV3D, cat);
    if (i < 0)
        return i;
    wm_node *nd = wm_b_at(b, i);
    nd->rows = rows;
    nd->k = cin;
    nd->n = cout;
    nd->bias = true;
    memcpy(nd->kernel, kernel, sizeof nd->kernel);
    uint64_t f[5] = {cin, cout, kernel[0], kernel[1], kernel[2]}, p = 0;
    bool ok = wm_mul_n(&p, 5, f) && wm_add(p, cout, &p);
    set_params(b, i, p, ok);
    return i;
}

int32_t wm_b_sdpa(wm_builder *b, int32_t parent, const char *name, wm_rows q_rows, wm_rows kv_rows,
                  uint64_t heads, uint64_t head_dim)
{
    int32_t i = wm_b_node(b, parent, name, WM_OP_SDPA, WM_CAT_ATTN_CORE);
    if (i < 0)
        return i;
    wm_node *nd = wm_b_at(b, i);
    nd->rows = q_rows;
    nd->kv_rows = kv_rows;
    nd->heads = heads;
    nd->head_dim = head_dim;
    uint64_t width = 0;
    if (!wm_mul(heads, head_dim, &width))
        set_params(b, i, 0, false);
    nd->k = nd->n = width;
    return i;
}

int32_t wm_b_elementwise(wm_builder *b, int32_t parent, const char *name, wm_op op, wm_rows rows,
                         uint64_t width, uint64_t params)
{
    int32_t i = wm_b_node(b, parent, name, op, WM_CAT_ELEMENTWISE);
    if (i < 0)
        return i;
    wm_node *nd = wm_b_at(b, i);
    nd->rows = rows;
    nd->k = nd->n = width;
    nd->params = params;
    return i;
}

wm_status wm_model_build(const wm_model_config *cfg, wm_model **out, wm_error *err)
{
    *out = NULL;
    wm_status s = wm_model_config_validate(cfg, err);
    if (s != WM_OK)
        return s;
    wm_model *m = calloc(1, sizeof *m);
    if (!m)
        return wm_error_set(err, WM_E_INTERNAL, "model", NULL, "out of memory");
    m->cfg = *cfg;
    wm_builder b = {.m = m, .err = err, .status = WM_OK};
    s = wm_build_wan_dit(&b, &m->cfg);
    if (s == WM_OK)
        s = b.status;
    if (s != WM_OK) {
        wm_model_free(m);
        return s;
    }
    *out = m;
    return WM_OK;
}

void wm_model_free(wm_model *m)
{
    if (!m)
        return;
    for (wm_arena_block *blk = m->arena, *next; blk; blk = next) {
        next = blk->next;
        free(blk);
    }
    free(m->nodes);
    free(m);
}

size_t wm_model_node_count(const wm_model *m) { return m->count; }
const wm_node *wm_model_nodes(const wm_model *m) { return m->nodes; }
const wm_model_config *wm_model_get_config(const wm_model *m) { return &m->cfg; }

int32_t wm_model_find(const wm_model *m, const char *id)
{
    for (size_t i = 0; i < m->count; i++)
        if (strcmp(m->nodes[i].id, id) == 0)
            return (int32_t)i;
    return -1;
}

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
    /* id = parent id + ('.' unless a '#' op) + name, built with memcpy: this runs once per
     * node and dominates building the tree */
    const char *pid = parent < 0 ? "" : m->nodes[parent].id;
    size_t plen = strlen(pid), nlen = strlen(name);
    size_t sep = parent >= 0 && name[0] != '#' ? 1 : 0;
    char id[512];
    if (plen + sep + nlen >= sizeof id) {
        b->status = wm_error_set(b->err, WM_E_INTERNAL, name, NULL, "module id too long");
        return -1;
    }
    memcpy(id, pid, plen);
    id[plen] = '.';
    memcpy(id + plen + sep, name, nlen);
    size_t n = plen + sep + nlen;
    char *stored = arena_strdup(m, id, n);
    if (!stored) {
        b->status = wm_error_set(b->err, WM_E_INTERNAL, "model", NULL, "out of memory");
        return -1;
    }
    int32_t idx = (int32_t)m->count++;
    wm_node *nd = &m->nodes[idx];
    *nd = (wm_node){
        .id = stored,
        .name = stored + plen + sep,
        .parent = parent,
        .depth = parent < 0 ? 0 : m->nodes[parent].depth + 1,
        .op = op,
        .category = cat,
        .rows = WM_ROWS_ONE,
        .kv_rows = WM_ROWS_ONE,
        .stage = parent < 0 ? WM_STAGE_TRANSFORMER : m->nodes[parent].stage,
        .batch_mul = parent < 0 ? 1 : m->nodes[parent].batch_mul,
        .hw_mul = 1,
        .hw_div = 1,
        .subtree_size = 1,
        .repeat_of = -1,
    };
    return idx;
}

int32_t wm_b_root(wm_builder *b, const char *id, wm_stage stage)
{
    int32_t i = wm_b_node(b, -1, id, WM_OP_MODULE, WM_CAT_NONE);
    if (i >= 0)
        b->m->nodes[i].stage = stage;
    return i;
}

void wm_b_grid(wm_builder *b, int32_t i, int32_t t_mul, int32_t t_add, uint32_t hw_mul,
               uint32_t hw_div)
{
    if (i < 0)
        return;
    wm_node *nd = &b->m->nodes[i];
    nd->rows = WM_ROWS_GRID;
    nd->kv_rows = WM_ROWS_GRID;
    nd->t_mul = t_mul;
    nd->t_add = t_add;
    nd->hw_mul = hw_mul ? hw_mul : 1;
    nd->hw_div = hw_div ? hw_div : 1;
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

/* Two subtrees are the same structure when every node pairs up with the same op, shapes,
 * parameters and relative name; then their counts are equal for every workload. */
static bool same_subtree(const wm_model *m, size_t a, size_t b)
{
    const wm_node *x = &m->nodes[a], *y = &m->nodes[b];
    if (x->subtree_size != y->subtree_size)
        return false;
    for (size_t k = 0; k < x->subtree_size; k++) {
        const wm_node *p = &x[k], *q = &y[k];
        if (p->op != q->op || p->category != q->category || p->rows != q->rows ||
            p->kv_rows != q->kv_rows || p->k != q->k || p->n != q->n || p->heads != q->heads ||
            p->head_dim != q->head_dim || memcmp(p->kernel, q->kernel, sizeof p->kernel) != 0 ||
            p->bias != q->bias || p->fp32_params != q->fp32_params || p->params != q->params ||
            p->subtree_size != q->subtree_size || p->stage != q->stage ||
            p->batch_mul != q->batch_mul || p->fixed_len != q->fixed_len || p->t_mul != q->t_mul || p->t_add != q->t_add ||
            p->hw_mul != q->hw_mul || p->hw_div != q->hw_div ||
            p->explicit_matmul != q->explicit_matmul ||
            (k > 0 && (p->parent - (int32_t)a != q->parent - (int32_t)b ||
                       strcmp(p->name, q->name) != 0)))
            return false;
    }
    return true;
}

/* Subtree sizes (pre-order makes every subtree contiguous), then repeats: a sibling subtree
 * identical to an earlier sibling `blocks.0` is marked as its repeat. Only names of the form
 * <prefix>.<number> are candidates, so distinct modules that happen to match stay apart. */
static bool mark_repeats(wm_model *m)
{
    for (size_t i = m->count; i-- > 0;)
        if (m->nodes[i].parent >= 0)
            m->nodes[m->nodes[i].parent].subtree_size += m->nodes[i].subtree_size;
    for (size_t i = 0; i < m->count; i++) {
        wm_node *nd = &m->nodes[i];
        const char *dot = strrchr(nd->name, '.');
        if (!dot || dot[1] < '0' || dot[1] > '9' || nd->parent < 0)
            continue;
        /* the first earlier sibling with the same prefix that is not itself a repeat */
        size_t plen = (size_t)(dot - nd->name);
        for (size_t j = (size_t)nd->parent + 1; j < i; j += m->nodes[j].subtree_size) {
            const wm_node *sib = &m->nodes[j];
            if (sib->repeat_of < 0 && strncmp(sib->name, nd->name, plen + 1) == 0 &&
                same_subtree(m, j, i)) {
                nd->repeat_of = (int32_t)j;
                break;
            }
        }
    }
    m->live = malloc((m->count ? m->count : 1) * sizeof *m->live);
    m->repeats = malloc((m->count ? m->count : 1) * sizeof *m->repeats);
    if (!m->live || !m->repeats)
        return false;
    for (size_t i = 0; i < m->count; i++) {
        if (m->nodes[i].repeat_of >= 0) {
            m->repeats[m->repeat_count++] = (int32_t)i;
            i += m->nodes[i].subtree_size - 1;
        } else {
            m->live[m->live_count++] = (int32_t)i;
        }
    }
    return true;
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
    const wm_model_config *c = &m->cfg;
    /* the pipeline's stages, in the order a generation runs them */
    if (c->has_text_encoder)
        s = wm_build_umt5(&b, c);
    if (s == WM_OK && c->has_image_encoder)
        s = wm_build_clip_vision(&b, c);
    if (s == WM_OK && c->has_vae)
        s = wm_build_vae_encode(&b, c);
    if (s == WM_OK)
        s = wm_build_wan_dit(&b, c);
    if (s == WM_OK && c->has_vae)
        s = wm_build_vae_decode(&b, c);
    if (s == WM_OK)
        s = b.status;
    if (s != WM_OK) {
        wm_model_free(m);
        return s;
    }
    if (!mark_repeats(m)) {
        wm_model_free(m);
        return wm_error_set(err, WM_E_INTERNAL, "model", NULL, "out of memory");
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
    free(m->live);
    free(m->repeats);
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

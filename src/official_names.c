/*
 * official_names.c — the official Wan code's module names for diffusers ids (WAN_FACTS §9.7).
 *
 * The math is the same; the names differ, and two of them cross over: diffusers' `norm2` is
 * the cross-attention LayerNorm, which the official code calls `norm3`, and diffusers' `norm3`
 * (before the FFN) is the official `norm2`. The table maps path fragments; the first matching
 * rule at each position wins, so longer fragments come first.
 */
#include <stdio.h>
#include <string.h>

#include "wanmeter.h"

typedef struct {
    const char *diffusers, *official;
} rule;

/* Fragments are matched on whole path components (between '.', '#' or the ends). */
static const rule rules[] = {
    /* condition embedder */
    {"condition_embedder.time_embedder.linear_1", "time_embedding.0"},
    {"condition_embedder.time_embedder.act", "time_embedding.1"},
    {"condition_embedder.time_embedder.linear_2", "time_embedding.2"},
    {"condition_embedder.time_embedder", "time_embedding"},
    {"condition_embedder.act_fn", "time_projection.0"},
    {"condition_embedder.time_proj", "time_projection.1"},
    {"condition_embedder.text_embedder.linear_1", "text_embedding.0"},
    {"condition_embedder.text_embedder.act_1", "text_embedding.1"},
    {"condition_embedder.text_embedder.linear_2", "text_embedding.2"},
    {"condition_embedder.text_embedder", "text_embedding"},
    {"condition_embedder.image_embedder.norm1", "img_emb.proj.0"},
    {"condition_embedder.image_embedder.ff.net.0.proj", "img_emb.proj.1"},
    {"condition_embedder.image_embedder.ff.net.2", "img_emb.proj.3"},
    {"condition_embedder.image_embedder.norm2", "img_emb.proj.4"},
    {"condition_embedder.image_embedder", "img_emb"},
    /* blocks */
    {"attn1.to_q", "self_attn.q"},
    {"attn1.to_k", "self_attn.k"},
    {"attn1.to_v", "self_attn.v"},
    {"attn1.to_out.0", "self_attn.o"},
    {"attn1", "self_attn"},
    {"attn2.to_q", "cross_attn.q"},
    {"attn2.to_k", "cross_attn.k"},
    {"attn2.to_v", "cross_attn.v"},
    {"attn2.to_out.0", "cross_attn.o"},
    {"attn2.add_k_proj", "cross_attn.k_img"},
    {"attn2.add_v_proj", "cross_attn.v_img"},
    {"attn2.norm_added_k", "cross_attn.norm_k_img"},
    {"attn2", "cross_attn"},
    {"norm2", "norm3"}, /* the swap */
    {"norm3", "norm2"},
    {"ffn.net.0.proj", "ffn.0"},
    {"ffn.net.0#gelu_tanh", "ffn.1"},
    {"ffn.net.2", "ffn.2"},
    {"scale_shift_table", "modulation"},
    /* VACE blocks' projections (official vace_model.py) */
    {"proj_in", "before_proj"},
    {"proj_out", "after_proj"},
};

/* Directly under the transformer root only: the head. */
static const rule top_rules[] = {
    {"norm_out", "head.norm"},
    {"proj_out", "head.head"},
};

static bool boundary(char c) { return c == '\0' || c == '.' || c == '#'; }

void wm_official_id(const char *id, bool two_experts, char *out, size_t cap)
{
    size_t o = 0;
    const char *p = id;
    if (cap == 0)
        return;
    /* only the transformer is renamed: the encoders and the VAE keep their names (and their
     * own norm2/norm3, which do not cross over) */
    if (strncmp(id, "transformer", 11) != 0 || !(boundary(id[11]) || strncmp(id + 11, "_2", 2) == 0)) {
        snprintf(out, cap, "%s", id);
        return;
    }
    /* the roots: WanT2V keeps its transformer in .model; Wan2.2 A14B has two experts */
    static const rule roots[] = {
        {"transformer_2", "low_noise_model"},
        {"transformer", NULL},
    };
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(roots[i].diffusers);
        if (strncmp(p, roots[i].diffusers, n) == 0 && boundary(p[n])) {
            const char *to = roots[i].official ? roots[i].official
                             : two_experts     ? "high_noise_model"
                                               : "model";
            for (; *to && o + 1 < cap; to++)
                out[o++] = *to;
            p += n;
            break;
        }
    }
    const char *top = p + (*p == '.'); /* right under the root */
    while (*p && o + 1 < cap) {
        const rule *hit = NULL;
        for (size_t i = 0; p == top && i < sizeof top_rules / sizeof top_rules[0] && !hit; i++) {
            size_t n = strlen(top_rules[i].diffusers);
            if (strncmp(p, top_rules[i].diffusers, n) == 0 && boundary(p[n]))
                hit = &top_rules[i];
        }
        if (p == id || p[-1] == '.' || p[-1] == '#')
            for (size_t i = 0; i < sizeof rules / sizeof rules[0] && !hit; i++) {
                size_t n = strlen(rules[i].diffusers);
                if (strncmp(p, rules[i].diffusers, n) == 0 && boundary(p[n]))
                    hit = &rules[i];
            }
        if (hit) {
            for (const char *q = hit->official; *q && o + 1 < cap; q++)
                out[o++] = *q;
            p += strlen(hit->diffusers);
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

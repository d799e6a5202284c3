/* model_internal.h — the layer tree's storage and the builder helpers shared by model builders.
 *
 * Nodes are appended in the order the torch forward runs them (pre-order: a module before its
 * children), so evaluation can sum children into parents in one reverse pass. */
#ifndef WM_MODEL_INTERNAL_H
#define WM_MODEL_INTERNAL_H

#include "wanmeter.h"

typedef struct wm_arena_block wm_arena_block;

struct wm_model {
    wm_model_config cfg;
    wm_node *nodes;
    size_t count, cap;
    wm_arena_block *arena;
    /* Evaluation plan, set once the tree is complete: the nodes outside repeated subtrees (in
     * pre-order) are evaluated; each repeat root copies its original's counts. */
    int32_t *live;
    size_t live_count;
    int32_t *repeats;
    size_t repeat_count;
};

/* A builder appends nodes to a model; after the first failure every call is a no-op that
 * returns -1, so builders read as straight-line code and check `b->status` once at the end. */
typedef struct wm_builder {
    wm_model *m;
    wm_error *err;
    wm_status status;
} wm_builder;

/* Appends a node named `name` under `parent`. Its id is the parent's id joined with '.', or
 * directly for functional ops whose name starts with '#'. Returns its index. Roots are made
 * with wm_b_root. */
int32_t wm_b_node(wm_builder *b, int32_t parent, const char *name, wm_op op, wm_category cat);
/* A top-level module of a stage, with its pipeline path as id ("transformer", "vae.decoder"). */
int32_t wm_b_root(wm_builder *b, const char *id, wm_stage stage);
/* Makes node i a VAE feature map (WM_ROWS_GRID): frames t_mul*T + t_add, spatial h*mul/div. */
void wm_b_grid(wm_builder *b, int32_t i, int32_t t_mul, int32_t t_add, uint32_t hw_mul,
               uint32_t hw_div);
/* Same, with a printf-formatted name. */
int32_t wm_b_nodef(wm_builder *b, int32_t parent, wm_op op, wm_category cat, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* nn.Linear(k, n, bias) applied to `rows` rows. */
int32_t wm_b_linear(wm_builder *b, int32_t parent, const char *name, wm_category cat, wm_rows rows,
                    uint64_t k, uint64_t n, bool bias);
/* nn.Conv3d(cin, cout, kernel_size = stride = kernel): one output position per `rows` row. */
int32_t wm_b_conv3d(wm_builder *b, int32_t parent, const char *name, wm_category cat, wm_rows rows,
                    uint64_t cin, uint64_t cout, const uint64_t kernel[3]);
/* F.scaled_dot_product_attention over heads × head_dim, queries from q_rows, keys/values
 * from kv_rows. */
int32_t wm_b_sdpa(wm_builder *b, int32_t parent, const char *name, wm_rows q_rows, wm_rows kv_rows,
                  uint64_t heads, uint64_t head_dim);
/* An elementwise op or norm over `rows` × `width` elements; `params` its own parameters. */
int32_t wm_b_elementwise(wm_builder *b, int32_t parent, const char *name, wm_op op, wm_rows rows,
                         uint64_t width, uint64_t params);

static inline wm_node *wm_b_at(wm_builder *b, int32_t i) { return i >= 0 ? &b->m->nodes[i] : NULL; }

/* Image tokens a CLIP ViT-H/14 embedding gives the transformer per image: 16 x 16 patches + CLS. */
#define WM_IMAGE_TOKENS 257

/* Wan2.2 A14B: how many of `steps` denoising steps run on the high-noise expert
 * (`transformer`), i.e. have timestep >= boundary_ratio * num_train_timesteps under the
 * pipeline's scheduler; the rest run on `transformer_2`. */
wm_status wm_expert_high_steps(const wm_model_config *c, uint64_t steps, uint64_t *high,
                               wm_error *err);

/* Model builders (src/models/). Each appends the roots of its stage(s); wm_model_build calls
 * them in pipeline order. */
wm_status wm_build_umt5(wm_builder *b, const wm_model_config *cfg);        /* text_encoder */
wm_status wm_build_clip_vision(wm_builder *b, const wm_model_config *cfg); /* image_encoder */
wm_status wm_build_vae_encode(wm_builder *b, const wm_model_config *cfg);  /* when the pipeline
                                                                              encodes a video */
wm_status wm_build_wan_dit(wm_builder *b, const wm_model_config *cfg);     /* transformer(_2) */
wm_status wm_build_vae_decode(wm_builder *b, const wm_model_config *cfg);  /* vae_decode */

#endif /* WM_MODEL_INTERNAL_H */

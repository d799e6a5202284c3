/* report_read.h — reading report.json (DESIGN §5) back: `wanmeter hotspots` and `wanmeter
 * compare` work from the files, not from a live model.
 *
 * Ownership: a wm_report_file owns everything it points to, including the strings (borrowed
 * from the parsed document it keeps); all of it lives until wm_report_file_free.
 *
 * Validation: the file must be a JSON object with schema_version == WM_SCHEMA_VERSION and the
 * fields listed below, every count an integer in [0, WM_COUNT_MAX]. A malformed file is
 * WM_E_INPUT with `what` = the file name and `why` naming the field (or, for a JSON syntax
 * error, line:column); an unreadable file is WM_E_IO. */
#ifndef WM_REPORT_READ_H
#define WM_REPORT_READ_H

#include "wanmeter.h"

typedef struct wm_rmodule {
    const char *id;        /* required */
    const char *parent;    /* required: a module id, or NULL (JSON null) for a root */
    const char *op;        /* required */
    const char *category;  /* required */
    const char *aten;      /* optional, "" when absent */
    const char *stage;     /* optional, "" when absent: the pipeline stage */
    const char *shape;     /* optional, "" when absent */
    int32_t parent_index;  /* index of `parent` in the modules array, -1 for a root */
    bool leaf;             /* no module names it as parent */
    uint64_t calls, flops, params, bytes_read, bytes_written;  /* required */
    uint64_t matrix_flops, vector_flops, weight_bytes;         /* optional, 0 when absent */
    uint64_t generation_flops; /* calls * flops (checked when read) */
} wm_rmodule;

typedef struct wm_report_file {
    char name[256];              /* the path it was read from, for messages */
    const char *model_id;        /* required */
    const char *model_variant;   /* required */
    uint64_t model_dim, model_num_layers; /* optional, 0 when absent */
    wm_workload workload;        /* required: every field report.json writes */
    uint64_t forwards_per_step;  /* required */
    /* required: flops, flops_per_forward, params, weight_bytes, peak_activation_bytes;
     * the others are optional (0 when absent) */
    wm_totals totals;
    size_t module_count;
    wm_rmodule *modules;         /* in file order */
    size_t note_count;
    const char **notes;          /* optional */
    struct wm_report_file_priv *priv;
} wm_report_file;

/* Reads and validates `path`. */
wm_status wm_report_file_read(const char *path, wm_report_file **out, wm_error *err);
/* Same, from text; `name` is used in messages. */
wm_status wm_report_file_parse(const char *text, size_t len, const char *name,
                               wm_report_file **out, wm_error *err);
void wm_report_file_free(wm_report_file *f);
/* Index of the module with this id, or -1. */
int32_t wm_report_file_find(const wm_report_file *f, const char *id);

/* Hotspots recomputed from the modules array: leaves ranked by whole-generation FLOPs (calls ×
 * flops; largest first, ties in file order; only leaves with FLOPs), the same layer of every
 * block grouped into one entry as in the report's own hotspots (wm_id_pattern), categories summed over
 * the leaves (largest first, ties by first appearance; only non-zero). Shares are of
 * totals.flops (0 when it is 0). */
typedef struct wm_file_hotspot {
    char id[256];    /* the module id, block index as '*' when grouped (wm_id_pattern) */
    uint32_t instances; /* leaves grouped under `id` */
    size_t module;   /* index into f->modules: the first instance */
    uint64_t flops;  /* whole generation */
    double share;
} wm_file_hotspot;

typedef struct wm_file_category {
    const char *category;
    uint64_t flops;  /* whole generation, summed over the leaves */
    double share;
} wm_file_category;

typedef struct wm_file_hotspots {
    size_t leaf_count;         /* leaves in the file (with or without FLOPs) */
    size_t module_count;       /* entries in `modules` (at most `top`) */
    wm_file_hotspot *modules;
    size_t category_count;     /* every non-zero category */
    wm_file_category *categories;
} wm_file_hotspots;

wm_status wm_report_file_hotspots(const wm_report_file *f, size_t top, wm_file_hotspots *out,
                                  wm_error *err);
void wm_file_hotspots_free(wm_file_hotspots *h);

#endif /* WM_REPORT_READ_H */

/*
 * yaml_tree.h — YAML documents as a small tree with source marks, and `${...}` interpolation.
 *
 * src/yaml_tree.c is the only file that includes <yaml.h> (libyaml). It turns libyaml's event
 * stream into wm_ynode trees that remember the file, line and column of every node, so that
 * config errors can say where they are. Interpolation follows OmegaConf:
 *   ${a.b.c}   absolute: the node at that path from the document root
 *   ${.key}    relative: a sibling in the mapping that holds the string
 *   ${..key}   relative: one level further up per extra dot
 * A scalar that is exactly one interpolation takes the target scalar's text; an interpolation
 * inside a longer string is replaced textually. Targets may themselves interpolate; cycles and
 * unresolvable paths are errors with file:line:column of the referring scalar. Interpolating a
 * mapping or sequence is an error.
 *
 * Ownership: a wm_ydoc owns all of its nodes and strings; wm_yaml_free releases them.
 */
#ifndef WM_YAML_TREE_H
#define WM_YAML_TREE_H

#include "wanmeter.h"

typedef enum wm_ykind { WM_Y_SCALAR, WM_Y_MAP, WM_Y_SEQ } wm_ykind;

typedef struct wm_ynode wm_ynode;
struct wm_ynode {
    wm_ykind kind;
    const char *file;   /* the name given at load time (owned by the doc) */
    int line, column;   /* 1-based start of the node */
    /* scalar */
    char *value;        /* NUL-terminated text; "" for an empty/null scalar */
    bool quoted;        /* written in quotes (then "null"/"true" are strings) */
    bool is_null;       /* plain `~`, `null`, `Null`, `NULL` or empty */
    /* map: keys[i] -> items[i]; seq: items[i]. Maps keep document order; duplicate keys are
     * a load error. */
    size_t count;
    char **keys;
    int *key_lines, *key_columns;
    wm_ynode **items;
    wm_ynode *parent;
};

typedef struct wm_ydoc {
    wm_ynode *root;     /* a mapping (an empty document loads as an empty mapping) */
    /* implementation details below */
    void *arena;
} wm_ydoc;

/* Parse errors carry libyaml's problem text with line:column (1-based). Anchors/aliases and
 * tags other than the core schema's are rejected with an error, multi-document streams too.
 * A document whose root is not a mapping is an error. */
wm_status wm_yaml_load_file(const char *path, wm_ydoc **out, wm_error *err);
wm_status wm_yaml_load_string(const char *text, size_t len, const char *name, wm_ydoc **out,
                              wm_error *err);
void wm_yaml_free(wm_ydoc *doc);

/* Deep-merges `src` into `dst`: mappings merge key by key (recursively), anything else in src
 * replaces what dst had (scalars and sequences are replaced whole). Nodes are copied into dst's
 * arena; marks keep pointing at the file they came from. */
wm_status wm_yaml_merge(wm_ydoc *dst, const wm_ydoc *src, wm_error *err);

/* Resolves every interpolation in place. Call once, after all merges. */
wm_status wm_yaml_resolve(wm_ydoc *doc, wm_error *err);

/* A built-in document (compiled-in text named `name`) with the user's file, when `user_path`
 * is not NULL, merged over it, then resolved: how configs/wanmeter.yaml and
 * configs/devices.yaml are read. `flag` names the option that gave `user_path` in errors. */
wm_status wm_yaml_load_layered(const char *text, size_t len, const char *name,
                               const char *user_path, const char *flag, wm_ydoc **out,
                               wm_error *err);

/* Lookups (NULL when absent or when `node` is not a mapping). */
const wm_ynode *wm_ymap_get(const wm_ynode *map, const char *key);
/* Path lookup "a.b.c" from `node`. */
const wm_ynode *wm_ynode_at(const wm_ynode *node, const char *path);

/* Typed scalar reads. Each checks the node is a scalar of the right form and fills `err`
 * naming `what` (e.g. "workloads.wan2-1-512p.frames") and the node's mark on failure:
 *   u64:    decimal digits only (optional '_' separators are NOT accepted), no sign, no
 *           trailing junk, no leading '+', value <= max; 0 allowed only if min == 0
 *   double: strtod with end-pointer check, finite, no trailing junk
 *   bool:   true/false (YAML 1.1 yes/no/on/off are rejected with a hint)
 *   string: any scalar (not a map/seq)                                                     */
wm_status wm_ynode_u64(const wm_ynode *n, const char *what, uint64_t min, uint64_t max,
                       uint64_t *out, wm_error *err);
wm_status wm_ynode_double(const wm_ynode *n, const char *what, double *out, wm_error *err);
wm_status wm_ynode_bool(const wm_ynode *n, const char *what, bool *out, wm_error *err);
wm_status wm_ynode_string(const wm_ynode *n, const char *what, const char **out, wm_error *err);

/* Shape checks with one wording everywhere:
 *   expect_map   `n` is a mapping (else "<what>: must be a mapping"; NULL counts as missing)
 *   unknown_key  the error for key i of `map`: "<path>.<key>: unknown key (known keys: ...)",
 *                at the key's file:line:column
 *   check_keys   every key of `map` is one of the comma-separated `known`                  */
wm_status wm_ynode_expect_map(const wm_ynode *n, const char *what, wm_error *err);
wm_status wm_ymap_unknown_key(const wm_ynode *map, size_t i, const char *path, const char *known,
                              wm_error *err);
wm_status wm_ymap_check_keys(const wm_ynode *map, const char *path, const char *known,
                             wm_error *err);

/* Fills err->file/line/column from the node's mark. */
void wm_ynode_mark(const wm_ynode *n, wm_error *err);

#endif /* WM_YAML_TREE_H */

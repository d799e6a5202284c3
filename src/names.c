/* names.c — the name tables of the public enumerations, generated from their X-macro lists so
 * that an enum value can never lack a name. */
#include <string.h>

#include "wanmeter.h"

static const char *const dtype_names[] = {
#define WM_X(name, text, bytes) [name] = text,
    WM_DTYPE_LIST(WM_X)
#undef WM_X
};
static const unsigned dtype_bytes[] = {
#define WM_X(name, text, bytes) [name] = bytes,
    WM_DTYPE_LIST(WM_X)
#undef WM_X
};
static const char *const mode_names[] = {
#define WM_X(name, text) [name] = text,
    WM_MODE_LIST(WM_X)
#undef WM_X
};
static const char *const op_names[] = {
#define WM_X(name, text, aten) [name] = text,
    WM_OP_LIST(WM_X)
#undef WM_X
};
static const char *const op_aten[] = {
#define WM_X(name, text, aten) [name] = aten,
    WM_OP_LIST(WM_X)
#undef WM_X
};
static const char *const category_names[] = {
#define WM_X(name, text) [name] = text,
    WM_CATEGORY_LIST(WM_X)
#undef WM_X
};

static const char *const stage_names[] = {
#define WM_X(name, text) [name] = text,
    WM_STAGE_LIST(WM_X)
#undef WM_X
};

#define WM_COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(WM_COUNT_OF(dtype_names) == WM_DTYPE_COUNT, "one name per dtype");
_Static_assert(WM_COUNT_OF(mode_names) == WM_MODE_COUNT, "one name per mode");
_Static_assert(WM_COUNT_OF(op_names) == WM_OP_COUNT, "one name per op");
_Static_assert(WM_COUNT_OF(op_aten) == WM_OP_COUNT, "one aten key per op");
_Static_assert(WM_COUNT_OF(stage_names) == WM_STAGE_COUNT, "one name per stage");
_Static_assert(WM_COUNT_OF(category_names) == WM_CAT_COUNT, "one name per category");

const char *wm_dtype_name(wm_dtype d) { return (unsigned)d < WM_DTYPE_COUNT ? dtype_names[d] : "?"; }
unsigned wm_dtype_bytes(wm_dtype d) { return (unsigned)d < WM_DTYPE_COUNT ? dtype_bytes[d] : 0; }
const char *wm_mode_name(wm_mode m) { return (unsigned)m < WM_MODE_COUNT ? mode_names[m] : "?"; }
const char *wm_op_name(wm_op op) { return (unsigned)op < WM_OP_COUNT ? op_names[op] : "?"; }
const char *wm_op_aten(wm_op op, wm_mode mode)
{
    if ((unsigned)op >= WM_OP_COUNT || (op == WM_OP_SDPA && mode == WM_MODE_TORCH_CPU))
        return "";
    return op_aten[op];
}
const char *wm_category_name(wm_category c)
{
    return (unsigned)c < WM_CAT_COUNT ? category_names[c] : "?";
}

bool wm_dtype_parse(const char *s, wm_dtype *out)
{
    for (unsigned i = 0; s && i < WM_DTYPE_COUNT; i++)
        if (strcmp(s, dtype_names[i]) == 0) {
            *out = (wm_dtype)i;
            return true;
        }
    return false;
}

bool wm_mode_parse(const char *s, wm_mode *out)
{
    for (unsigned i = 0; s && i < WM_MODE_COUNT; i++)
        if (strcmp(s, mode_names[i]) == 0) {
            *out = (wm_mode)i;
            return true;
        }
    return false;
}

const char *wm_stage_name(wm_stage s) { return (unsigned)s < WM_STAGE_COUNT ? stage_names[s] : "?"; }

bool wm_stage_parse(const char *s, wm_stage *out)
{
    for (unsigned i = 0; s && i < WM_STAGE_COUNT; i++)
        if (strcmp(s, stage_names[i]) == 0) {
            *out = (wm_stage)i;
            return true;
        }
    return false;
}

const char *wm_node_aten(const wm_node *nd, wm_mode mode)
{
    if (nd->op == WM_OP_LINEAR && !nd->bias)
        return "aten.mm";
    if (nd->op == WM_OP_SDPA && nd->explicit_matmul)
        return "aten.bmm";
    return wm_op_aten(nd->op, mode);
}

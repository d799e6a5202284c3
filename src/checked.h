/* checked.h — exact counting: every count is a uint64_t bounded by WM_COUNT_MAX, and every
 * multiply and add is checked. A helper returns false instead of wrapping; callers turn that
 * into a WM_E_OVERFLOW error that names what overflowed. */
#ifndef WM_CHECKED_H
#define WM_CHECKED_H

#include <stdbool.h>
#include <stdint.h>

#include "wanmeter.h"

static inline bool wm_mul(uint64_t a, uint64_t b, uint64_t *out)
{
    uint64_t r;
    if (__builtin_mul_overflow(a, b, &r) || r > WM_COUNT_MAX)
        return false;
    *out = r;
    return true;
}

static inline bool wm_add(uint64_t a, uint64_t b, uint64_t *out)
{
    uint64_t r;
    if (__builtin_add_overflow(a, b, &r) || r > WM_COUNT_MAX)
        return false;
    *out = r;
    return true;
}

/* Product of n factors; false on overflow. */
static inline bool wm_mul_n(uint64_t *out, int n, const uint64_t *f)
{
    uint64_t r = 1;
    for (int i = 0; i < n; i++)
        if (!wm_mul(r, f[i], &r))
            return false;
    *out = r;
    return true;
}

/* `acc += a * b`, checked. */
static inline bool wm_mac(uint64_t *acc, uint64_t a, uint64_t b)
{
    uint64_t p;
    return wm_mul(a, b, &p) && wm_add(*acc, p, acc);
}

#endif /* WM_CHECKED_H */

/* devices.h — the device database as the estimate reads it (configs/devices.yaml). */
#ifndef WM_DEVICES_H
#define WM_DEVICES_H

#include "wanmeter.h"

/* Peak kinds a device may list: the key in `peaks:`. */
#define WM_PEAK_LIST(X)                                                                        \
    X(WM_PEAK_FP32, "fp32")                                                                    \
    X(WM_PEAK_TF32, "tf32")                                                                    \
    X(WM_PEAK_BF16, "bf16")                                                                    \
    X(WM_PEAK_FP16, "fp16")                                                                    \
    X(WM_PEAK_FP8, "fp8")                                                                      \
    X(WM_PEAK_FP4, "fp4")

typedef enum wm_peak {
#define WM_X_ENUM(name, text) name,
    WM_PEAK_LIST(WM_X_ENUM)
#undef WM_X_ENUM
    WM_PEAK_COUNT
} wm_peak;

const char *wm_peak_name(wm_peak p);

typedef struct wm_device_peak {
    bool present;
    bool dense;
    double tflops;
    int line;                 /* where it is written, for errors */
    const char *file;
} wm_device_peak;

typedef struct wm_device {
    char id[64], name[128], arch[32], default_kernel[16], host[64];
    char interconnect_name[128], pcie_name[128];
    double memory_gb, memory_bandwidth_gbs, interconnect_gbs, pcie_gbs;
    wm_device_peak peaks[WM_PEAK_COUNT];
} wm_device;

typedef struct wm_host {
    char id[64], name[128];
    double cpu_tflops;
} wm_host;

typedef struct wm_attn_eff {
    wm_attn_kernel kernel;
    char arch[32];
    double value;
} wm_attn_eff;

#define WM_ATTN_EFF_MAX 64

typedef struct wm_arch_eff {
    char arch[32];
    double value;
} wm_arch_eff;

typedef struct wm_efficiency {
    wm_arch_eff gemm[16];     /* per architecture */
    size_t gemm_count;
    double conv, fp32_matmul, fp8_block_scale, memory, interconnect, host_transfer;
    double collective_latency_us, launch_overhead_us, runtime_overhead_gb, collective_buffers_gb;
    wm_attn_eff attention[WM_ATTN_EFF_MAX];
    size_t attention_count;
} wm_efficiency;

/* The device `id` (NULL when unknown). */
const wm_device *wm_devices_find(const wm_devices *db, const char *id);
const wm_host *wm_devices_host(const wm_devices *db, const char *id);
const wm_efficiency *wm_devices_efficiency(const wm_devices *db);
/* The attention efficiency of `kernel` on `arch`, or 0 when the kernel does not run there. */
double wm_devices_attention_eff(const wm_devices *db, wm_attn_kernel kernel, const char *arch);
/* The GEMM efficiency on `arch`, or 0 when the database has none. */
double wm_devices_gemm_eff(const wm_devices *db, const char *arch);
/* The comma-separated architectures `kernel` runs on, for error messages. */
void wm_devices_kernel_archs(const wm_devices *db, wm_attn_kernel kernel, char *out, size_t cap);
/* A comma-separated list of the device ids. */
void wm_devices_list(const wm_devices *db, char *out, size_t cap);

#endif /* WM_DEVICES_H */

/* cli.h — shared pieces of the wanmeter command: exit codes, error printing, flag parsing and
 * the model/workload flags every analytic subcommand takes. */
#ifndef WM_CLI_H
#define WM_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "wanmeter.h"

/* Exit codes (DESIGN §4). */
enum {
    EXIT_OK = 0,
    EXIT_VERIFY_FAILED = 1,
    EXIT_USAGE = 2,
    EXIT_INPUT = 3,
    EXIT_IO = 4,
    EXIT_INTERNAL = 5,
};

/* Prints `wanmeter: <what>: <why> (<fix>)` to stderr and returns the exit code for the status. */
int cli_fail(const wm_error *err);
/* Prints a usage error (`wanmeter: <what>: <why> (see 'wanmeter <cmd> --help')`), returns 2. */
int cli_usage_error(const char *cmd, const char *what, const char *why);
int cli_exit_code(wm_status s);

/* Flag parsing: `--name value` and `--name=value`. If argv[*i] is `name`, stores the value,
 * advances *i past it and returns 1; returns 0 if argv[*i] is another flag, -1 (after printing
 * a usage error) when the value is missing. */
int cli_flag_value(const char *cmd, int argc, char **argv, int *i, const char *name,
                   const char **value);

/* The model and workload flags shared by report, verify and later estimate. NULL = not given. */
typedef struct cli_workload_opts {
    const char *config, *model, *workload, *model_dir;
    const char *batch, *frames, *height, *width, *steps, *text_len, *dtype, *mode, *stages, *impl;
    int cfg; /* -1 not given, 0 --no-cfg, 1 --cfg */
} cli_workload_opts;

#define CLI_WORKLOAD_OPTS_INIT {.cfg = -1}

/* Consumes one shared flag at argv[*i]: 1 consumed, 0 not one of them, -1 usage error. */
int cli_parse_workload_flag(const char *cmd, int argc, char **argv, int *i, cli_workload_opts *o);
/* The help text of the shared flags. */
extern const char cli_workload_help[];

/* Loads the configuration, the model and the workload, and applies the flag overrides
 * (strictly parsed; an error names the flag). The caller frees *cfg. */
wm_status cli_resolve(const cli_workload_opts *o, wm_config **cfg, wm_model_config *mc,
                      wm_workload *w, wm_error *err);

/* "text_encoder,transformer" -> a bit per stage; unknown names are errors. */
wm_status cli_parse_stages(const char *list, uint32_t *mask, wm_error *err);
/* Every stage in `mask` exists in the report's model. */
wm_status cli_check_stages(const wm_report *r, uint32_t mask, wm_error *err);

/* Errors about workload fields found after resolution (geometry, overflow) name the bare
 * field ("height"); this renames it after where the value came from: the flag ("--height")
 * or the workload in the config ("workloads.wan2-1-720p.height"). */
void cli_name_field(const cli_workload_opts *o, const wm_workload *w, wm_error *err);

/* "wan2.1-t2v-14b" -> "wan2_1": the family directory of the artifacts. */
void cli_family_of(const char *model_id, char *out, size_t cap);
/* A run id is letters, digits, '-', '_' and '.', and not "." or "..". */
bool cli_valid_run_id(const char *s);

/* "20261122T031516Z-<model>-<workload>": the default artifact directory name (UTC time). */
void cli_default_run_id(char *out, size_t cap, const char *model, const char *workload);
/* Prints the command's output, and "wanmeter: wrote <wrote>" to stderr when `wrote` is not
 * NULL; returns the exit code (an I/O error when stdout cannot be written). */
int cli_emit(const char *text, const char *wrote);

int cmd_report(int argc, char **argv);
int cmd_estimate(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_hotspots(int argc, char **argv);
int cmd_list(int argc, char **argv);

#endif /* WM_CLI_H */

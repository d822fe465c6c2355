/* log.h — the one place sluice writes diagnostics: levelled, one line per record, key=value fields.
 * Set up once at start-up; library code below gateway/ never logs, it returns struct sl_err. */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stdio.h>

#include "err.h"

enum sl_log_level { SL_LOG_DEBUG, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR };

/* Where and how much to log; out is borrowed (stderr by default). */
void sl_log_setup(FILE *out, enum sl_log_level min);
/* Parse "debug|info|warn|error"; returns -1 on anything else. */
int sl_log_level_parse(const char *s);

void sl_log(enum sl_log_level lvl, const char *fmt, ...) SL_PRINTF(2, 3);
/* Log an error value: "<prefix>: <where>: <msg>". */
void sl_log_err(enum sl_log_level lvl, const char *prefix, const struct sl_err *err);

#define sl_debug(...) sl_log(SL_LOG_DEBUG, __VA_ARGS__)
#define sl_info(...) sl_log(SL_LOG_INFO, __VA_ARGS__)
#define sl_warn(...) sl_log(SL_LOG_WARN, __VA_ARGS__)
#define sl_error(...) sl_log(SL_LOG_ERROR, __VA_ARGS__)

#endif

/* log.c — levelled one-line diagnostics with a UTC timestamp; control characters are scrubbed so a
 * hostile value cannot forge log lines. */
#include "log.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

static FILE *log_out;
static enum sl_log_level log_min = SL_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void sl_log_setup(FILE *out, enum sl_log_level min)
{
	log_out = out;
	log_min = min;
}

int sl_log_level_parse(const char *s)
{
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

static void vlog(enum sl_log_level lvl, const char *fmt, va_list ap)
{
	char line[2048], ts[32];
	struct timespec now;
	struct tm tm;
	char *p;

	if (lvl < log_min)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	for (p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(log_out ? log_out : stderr, "%s.%03ldZ %s %s\n", ts, now.tv_nsec / 1000000L,
	        level_names[lvl], line);
	fflush(log_out ? log_out : stderr);
}

void sl_log(enum sl_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(lvl, fmt, ap);
	va_end(ap);
}

void sl_log_err(enum sl_log_level lvl, const char *prefix, const struct sl_err *err)
{
	if (err->where[0])
		sl_log(lvl, "%s: %s: %s", prefix, err->where, err->msg);
	else
		sl_log(lvl, "%s: %s", prefix, err->msg);
}

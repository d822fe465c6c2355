/* err.c — sluice's error value: a code, a message, and where it happened. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void scrub(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

int sl_err_set(struct sl_err *err, int code, const char *where, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	snprintf(err->where, sizeof(err->where), "%s", where ? where : "");
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	scrub(err->where);
	scrub(err->msg);
	return code;
}

void sl_err_clear(struct sl_err *err)
{
	if (!err)
		return;
	err->code = SL_OK;
	err->where[0] = '\0';
	err->msg[0] = '\0';
}

void sl_err_prefix_where(struct sl_err *err, const char *outer)
{
	char tmp[2 * SL_ERR_WHERE_MAX + 2];

	if (!err || !outer || !*outer)
		return;
	if (err->where[0])
		snprintf(tmp, sizeof(tmp), "%.*s/%s", SL_ERR_WHERE_MAX, outer, err->where);
	else
		snprintf(tmp, sizeof(tmp), "%.*s", SL_ERR_WHERE_MAX, outer);
	snprintf(err->where, sizeof(err->where), "%s", tmp);
	scrub(err->where);
}

const char *sl_err_code_name(int code)
{
	switch (code) {
	case SL_OK: return "ok";
	case SL_EINVAL: return "invalid input";
	case SL_ENOMEM: return "out of memory";
	case SL_EIO: return "i/o error";
	case SL_ELIMIT: return "limit exceeded";
	case SL_EUNSUPPORTED: return "unsupported";
	case SL_EDB: return "database error";
	case SL_ENET: return "network error";
	case SL_ENOTFOUND: return "not found";
	case SL_ECONFLICT: return "conflict";
	default: return "error";
	}
}

char *sl_err_quote(char *out, size_t outsz, const char *value, size_t max)
{
	size_t n, i;

	if (!outsz)
		return out;
	if (!value)
		value = "(null)";
	n = strlen(value);
	if (max > outsz - 4)
		max = outsz - 4;
	for (i = 0; i < n && i < max; i++) {
		unsigned char c = (unsigned char)value[i];
		out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (n > max) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/* sse.c — the event-stream line protocol (WHATWG HTML "Interpreting an event stream"). */
#include "sse.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ID_MAX 256
#define TYPE_MAX 128

struct sl_sse {
	sl_sse_cb cb;
	void *arg;
	size_t max_line, max_data;
	char *line;
	size_t line_len;
	char *data; /* grows on demand up to max_data: most events are small */
	size_t data_len, data_cap;
	bool has_data;
	char type[TYPE_MAX];
	char id[ID_MAX];
	long retry_ms;
	bool after_cr; /* the previous chunk ended in CR: a leading LF belongs to it */
	bool started;  /* past a possible leading byte-order mark */
	bool failed;
};

struct sl_sse *sl_sse_new(size_t max_line, size_t max_data, sl_sse_cb cb, void *arg)
{
	struct sl_sse *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->max_line = max_line ? max_line : 64 * 1024;
	p->max_data = max_data ? max_data : 16 * 1024 * 1024;
	p->line = malloc(p->max_line + 1);
	p->data_cap = p->max_data < 4096 ? p->max_data + 1 : 4096;
	p->data = malloc(p->data_cap);
	if (!p->line || !p->data) {
		sl_sse_free(p);
		return NULL;
	}
	p->cb = cb;
	p->arg = arg;
	p->retry_ms = -1;
	return p;
}

void sl_sse_free(struct sl_sse *p)
{
	if (!p)
		return;
	free(p->line);
	free(p->data);
	free(p);
}

const char *sl_sse_last_id(const struct sl_sse *p)
{
	return p->id;
}

static int dispatch(struct sl_sse *p)
{
	struct sl_sse_event ev;
	int r = 0;

	if (p->has_data) {
		/* the last data line's '\n' is not part of the data */
		if (p->data_len > 0)
			p->data_len--;
		p->data[p->data_len] = '\0';
		ev.type = p->type[0] ? p->type : "message";
		ev.data = p->data;
		ev.data_len = p->data_len;
		ev.id = p->id;
		ev.retry_ms = p->retry_ms;
		r = p->cb(&ev, p->arg);
	}
	p->data_len = 0;
	p->has_data = false;
	p->type[0] = '\0';
	p->retry_ms = -1;
	return r;
}

static void copy_bounded(char *dst, size_t dstsz, const char *src, size_t n)
{
	if (n >= dstsz)
		n = dstsz - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int process_line(struct sl_sse *p, struct sl_err *err)
{
	const char *line = p->line, *colon, *value;
	size_t n = p->line_len, flen, vlen;

	if (n == 0)
		return dispatch(p);
	if (line[0] == ':')
		return 0; /* comment, e.g. a keep-alive */
	colon = memchr(line, ':', n);
	flen = colon ? (size_t)(colon - line) : n;
	value = colon ? colon + 1 : line + n;
	vlen = colon ? n - flen - 1 : 0;
	if (vlen > 0 && *value == ' ') {
		value++;
		vlen--;
	}
	if (flen == 4 && memcmp(line, "data", 4) == 0) {
		if (p->data_len + vlen + 1 > p->max_data)
			return sl_err_set(err, SL_ELIMIT, "event-stream",
			                  "event data longer than %zu bytes", p->max_data);
		if (p->data_len + vlen + 2 > p->data_cap) {
			size_t ncap = p->data_cap;
			char *nd;

			while (ncap < p->data_len + vlen + 2)
				ncap *= 2;
			if (ncap > p->max_data + 1)
				ncap = p->max_data + 1;
			nd = realloc(p->data, ncap);
			if (!nd)
				return sl_err_set(err, SL_ENOMEM, "event-stream", "out of memory");
			p->data = nd;
			p->data_cap = ncap;
		}
		memcpy(p->data + p->data_len, value, vlen);
		p->data_len += vlen;
		p->data[p->data_len++] = '\n';
		p->has_data = true;
	} else if (flen == 5 && memcmp(line, "event", 5) == 0) {
		copy_bounded(p->type, sizeof(p->type), value, vlen);
	} else if (flen == 2 && memcmp(line, "id", 2) == 0) {
		if (!memchr(value, '\0', vlen))
			copy_bounded(p->id, sizeof(p->id), value, vlen);
	} else if (flen == 5 && memcmp(line, "retry", 5) == 0) {
		size_t i;
		long v = 0;

		for (i = 0; i < vlen && value[i] >= '0' && value[i] <= '9' && v < 100000000; i++)
			v = v * 10 + (value[i] - '0');
		if (vlen > 0 && i == vlen)
			p->retry_ms = v;
	}
	/* other fields are ignored, as the spec says */
	return 0;
}

int sl_sse_feed(struct sl_sse *p, const char *buf, size_t len, struct sl_err *err)
{
	size_t i = 0;
	int r;

	if (p->failed)
		return sl_err_set(err, SL_EINVAL, "event-stream", "parser already failed");
	if (!p->started && len > 0) {
		/* a UTF-8 byte-order mark may open the stream; it may also arrive split */
		static const unsigned char bom[3] = {0xef, 0xbb, 0xbf};

		while (i < len && p->line_len < 3 && (unsigned char)buf[i] == bom[p->line_len]) {
			p->line[p->line_len++] = buf[i++];
			if (p->line_len == 3) {
				p->line_len = 0;
				p->started = true;
				break;
			}
		}
		if (i == len && !p->started)
			return 0;
		p->started = true;
	}
	for (; i < len; i++) {
		char c = buf[i];

		if (c == '\n' && p->after_cr) {
			p->after_cr = false;
			continue;
		}
		p->after_cr = c == '\r';
		if (c == '\n' || c == '\r') {
			r = process_line(p, err);
			p->line_len = 0;
			if (r < 0)
				p->failed = true;
			if (r)
				return r;
			continue;
		}
		if (p->line_len >= p->max_line) {
			p->failed = true;
			return sl_err_set(err, SL_ELIMIT, "event-stream",
			                  "line longer than %zu bytes", p->max_line);
		}
		p->line[p->line_len++] = c;
	}
	return 0;
}

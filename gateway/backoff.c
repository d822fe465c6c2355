/* backoff.c — full-jitter exponential backoff, Retry-After parsing, and the circuit breaker. */
#include "backoff.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_rng_seed(struct sl_rng *rng, uint64_t seed)
{
	rng->state = seed;
}

uint64_t sl_rng_next(struct sl_rng *rng)
{
	uint64_t z = (rng->state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t sl_rng_below(struct sl_rng *rng, uint64_t bound)
{
	uint64_t span, limit, r;

	if (bound == 0)
		return 0;
	if (bound == UINT64_MAX)
		return sl_rng_next(rng);
	span = bound + 1;
	/* Rejection sampling keeps the distribution uniform (no modulo bias). */
	limit = UINT64_MAX - (UINT64_MAX % span);
	do {
		r = sl_rng_next(rng);
	} while (r >= limit);
	return r % span;
}

uint64_t sl_backoff_delay_ms(const struct sl_backoff_policy *p, unsigned attempt,
                             int64_t retry_after_ms, struct sl_rng *rng)
{
	uint64_t base = p && p->base_ms ? p->base_ms : 500;
	uint64_t cap = p && p->cap_ms ? p->cap_ms : 300000;
	uint64_t max_ra = p && p->max_retry_after_ms ? p->max_retry_after_ms : 3600000;
	uint64_t ceiling = base, delay;
	unsigned i;

	if (base > cap)
		base = ceiling = cap;
	for (i = 0; i < attempt && ceiling < cap; i++)
		ceiling = ceiling > cap / 2 ? cap : ceiling * 2;
	if (ceiling > cap)
		ceiling = cap;
	delay = sl_rng_below(rng, ceiling);
	if (retry_after_ms >= 0) {
		uint64_t ra = (uint64_t)retry_after_ms;

		if (ra > max_ra)
			ra = max_ra;
		if (delay < ra)
			delay = ra;
	}
	return delay;
}

static int month_index(const char *m)
{
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	int i;

	for (i = 0; i < 12; i++)
		if (strncmp(m, months[i], 3) == 0)
			return i;
	return -1;
}

/* Days since 1970-01-01 for a civil date (Howard Hinnant's algorithm): timegm() is not C11/POSIX.
 */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int sl_backoff_parse_retry_after(const char *value, time_t now_wall, int64_t *out_ms)
{
	const char *s = value;
	char wd[4], mon[4], tz[4];
	int day, year, hh, mm, ss, n = 0, mi;
	int64_t when;

	if (!value)
		return -1;
	while (*s == ' ' || *s == '\t')
		s++;
	if (isdigit((unsigned char)*s)) {
		char *end;
		unsigned long long secs;

		errno = 0;
		secs = strtoull(s, &end, 10);
		while (*end == ' ' || *end == '\t')
			end++;
		if (errno || *end)
			return -1;
		if (secs > (unsigned long long)INT64_MAX / 1000)
			secs = (unsigned long long)INT64_MAX / 1000;
		*out_ms = (int64_t)secs * 1000;
		return 0;
	}
	/* IMF-fixdate only: RFC 9110 says recipients should accept the obsolete forms too, but no
	 * peer we talk to sends them, and ignoring the header only means plain backoff. */
	if (sscanf(s, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d %3[A-Z]%n", wd, &day, mon, &year,
	           &hh, &mm, &ss, tz, &n) != 8)
		return -1;
	while (s[n] == ' ' || s[n] == '\t')
		n++;
	if (s[n] || strcmp(tz, "GMT") != 0 || (mi = month_index(mon)) < 0 || day < 1 || day > 31 ||
	    hh > 23 || mm > 59 || ss > 60 || year < 1970)
		return -1;
	when = days_from_civil(year, (unsigned)mi + 1, (unsigned)day) * 86400 + hh * 3600 +
	       mm * 60 + ss;
	*out_ms = when > (int64_t)now_wall ? (when - (int64_t)now_wall) * 1000 : 0;
	return 0;
}

bool sl_backoff_status_retryable(int http_status)
{
	switch (http_status) {
	case 408:
	case 425:
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		return true;
	default:
		return false;
	}
}

struct sl_breaker {
	enum sl_breaker_state state;
	unsigned failures;
	unsigned threshold;
	uint64_t cooldown_ms;
	uint64_t opened_at;
	bool probe_in_flight;
};

struct sl_breaker *sl_breaker_new(unsigned threshold, uint64_t cooldown_ms)
{
	struct sl_breaker *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->threshold = threshold ? threshold : 5;
	b->cooldown_ms = cooldown_ms ? cooldown_ms : 30000;
	return b;
}

void sl_breaker_free(struct sl_breaker *b)
{
	free(b);
}

enum sl_breaker_state sl_breaker_state(const struct sl_breaker *b, uint64_t now_mono_ms)
{
	if (b->state == SL_BREAKER_OPEN && now_mono_ms - b->opened_at >= b->cooldown_ms)
		return SL_BREAKER_HALF_OPEN;
	return b->state;
}

bool sl_breaker_allow(struct sl_breaker *b, uint64_t now_mono_ms)
{
	b->state = sl_breaker_state(b, now_mono_ms);
	switch (b->state) {
	case SL_BREAKER_CLOSED:
		return true;
	case SL_BREAKER_OPEN:
		return false;
	case SL_BREAKER_HALF_OPEN:
		if (b->probe_in_flight)
			return false;
		b->probe_in_flight = true;
		return true;
	}
	return false;
}

void sl_breaker_success(struct sl_breaker *b, uint64_t now_mono_ms)
{
	(void)now_mono_ms;
	b->state = SL_BREAKER_CLOSED;
	b->failures = 0;
	b->probe_in_flight = false;
}

void sl_breaker_failure(struct sl_breaker *b, uint64_t now_mono_ms)
{
	b->probe_in_flight = false;
	if (b->state == SL_BREAKER_HALF_OPEN) {
		b->state = SL_BREAKER_OPEN;
		b->opened_at = now_mono_ms;
		return;
	}
	if (b->state == SL_BREAKER_OPEN)
		return;
	if (++b->failures >= b->threshold) {
		b->state = SL_BREAKER_OPEN;
		b->opened_at = now_mono_ms;
	}
}

uint64_t sl_breaker_wait_ms(const struct sl_breaker *b, uint64_t now_mono_ms)
{
	if (sl_breaker_state(b, now_mono_ms) != SL_BREAKER_OPEN)
		return 0;
	return b->cooldown_ms - (now_mono_ms - b->opened_at);
}

const char *sl_breaker_state_name(enum sl_breaker_state s)
{
	switch (s) {
	case SL_BREAKER_CLOSED:
		return "closed";
	case SL_BREAKER_OPEN:
		return "open";
	case SL_BREAKER_HALF_OPEN:
		return "half-open";
	}
	return "?";
}

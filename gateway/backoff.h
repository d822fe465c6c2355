/* backoff.h — retry timing for peers: exponential backoff with full jitter that honours
 * Retry-After, and a per-destination circuit breaker. Pure functions and state machines: the caller
 * passes time in. */
#ifndef SL_BACKOFF_H
#define SL_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* A small seeded PRNG (splitmix64), so retry schedules replay exactly in tests. Embed by value. */
struct sl_rng {
	uint64_t state;
};
void sl_rng_seed(struct sl_rng *rng, uint64_t seed);
uint64_t sl_rng_next(struct sl_rng *rng);
/* Uniform in [0, bound] (inclusive); bound 0 gives 0. */
uint64_t sl_rng_below(struct sl_rng *rng, uint64_t bound);

struct sl_backoff_policy {
	uint64_t base_ms;            /* first ceiling; 0 = 500 ms */
	uint64_t cap_ms;             /* largest ceiling; 0 = 5 min */
	uint64_t max_retry_after_ms; /* a peer's Retry-After beyond this is cut to it; 0 = 1 h */
};

/* The delay before retry number attempt (0 = first retry): full jitter, uniform in
 * [0, min(cap, base * 2^attempt)]. When retry_after_ms >= 0 (the peer said when), the delay is
 * at least that (bounded by max_retry_after_ms). */
uint64_t sl_backoff_delay_ms(const struct sl_backoff_policy *p, unsigned attempt,
                             int64_t retry_after_ms, struct sl_rng *rng);

/* Parse a Retry-After header value: delta-seconds ("120") or an HTTP-date (IMF-fixdate,
 * "Wed, 21 Oct 2015 07:28:00 GMT") relative to now_wall (seconds since the epoch). A date in the
 * past gives 0. Returns 0 and sets *out_ms, or -1 for anything else (the caller then ignores it).
 */
int sl_backoff_parse_retry_after(const char *value, time_t now_wall, int64_t *out_ms);

/* Whether an HTTP status is worth retrying: 408, 425, 429, 500, 502, 503, 504. Any other 4xx is a
 * permanent refusal (quarantine, not retry). */
bool sl_backoff_status_retryable(int http_status);

/* Circuit breaker for one destination: CLOSED lets requests through; after `threshold`
 * consecutive failures it OPENs and refuses everything for `cooldown_ms`; then HALF_OPEN lets a
 * single probe through: its success closes the breaker, its failure opens it again. */
enum sl_breaker_state { SL_BREAKER_CLOSED, SL_BREAKER_OPEN, SL_BREAKER_HALF_OPEN };

struct sl_breaker;

/* threshold 0 = 5, cooldown_ms 0 = 30 s. Returns NULL when out of memory. */
struct sl_breaker *sl_breaker_new(unsigned threshold, uint64_t cooldown_ms);
void sl_breaker_free(struct sl_breaker *b);
/* May a request start now? In HALF_OPEN only one probe at a time is allowed; the caller must
 * report its outcome with _success or _failure. */
bool sl_breaker_allow(struct sl_breaker *b, uint64_t now_mono_ms);
void sl_breaker_success(struct sl_breaker *b, uint64_t now_mono_ms);
void sl_breaker_failure(struct sl_breaker *b, uint64_t now_mono_ms);
enum sl_breaker_state sl_breaker_state(const struct sl_breaker *b, uint64_t now_mono_ms);
/* Milliseconds until an OPEN breaker lets a probe through (0 when not OPEN). */
uint64_t sl_breaker_wait_ms(const struct sl_breaker *b, uint64_t now_mono_ms);
const char *sl_breaker_state_name(enum sl_breaker_state s);

#endif

/* outcome.h — how a call ends, decided in one place.
 *
 * relay.c moves the bytes; when an upstream attempt is over it gathers the
 * facts below, asks fg_outcome_decide() what to do, and carries that out
 * (next attempt, timers, replies).  The function is pure: no I/O, no
 * clock, no globals, no struct fg_call, so every rule is unit-tested as a
 * table (test/unit/test_outcome.c).
 *
 * Contract — the rules, in order, at each point of a call:
 *
 *  FG_OUTCOME_TRANSFER_ENDED (a non-streamed attempt is over, or a stream
 *  failed before its first byte; nothing has reached the client):
 *   T1. retriable, retries_used < retries_allowed, delay_ms <= max_wait_ms
 *       and breaker_allows             → RETRY_AFTER delay_ms (same model)
 *   T2. retriable and a fallback is named → USE_MODEL fallback (trigger NULL)
 *   T3. the transfer failed (!transfer_ok) → FAIL (the transfer's error)
 *   T4. otherwise                        → DONE: the provider's answer goes
 *       on as it is (a 4xx/5xx passed through; a 2xx to ANSWER_CHECKED)
 *
 *  FG_OUTCOME_HELD_ENDED (a cheap stream held back from the client ended):
 *   H1. the transfer was ok, the stream ended cleanly (stream_ended, no
 *       stream_error_seen), no content was seen, and the route may escalate
 *       on why (held_why, else "empty")  → USE_MODEL frontier, trigger why
 *   H2. otherwise                        → RELEASE_HELD
 *
 *  FG_OUTCOME_ANSWER_CHECKED (a complete 2xx answer, metered):
 *   A1. a shortfall the route may escalate on → USE_MODEL frontier, trigger
 *   A2. schema_failed, so_attempts < so_retries → RETRY_SAME
 *   A3. schema_failed, the route may escalate on "invalid_schema"
 *                                        → USE_MODEL frontier
 *   A4. schema_failed                    → FAIL (the check's error)
 *   A5. otherwise                        → DONE
 *   The caller decides once before the schema check (schema_failed false)
 *   and, when the check fails, again with the same shortfall: A1 comes
 *   first, so both calls agree on it.
 *
 *  "The route may escalate on T" (fg_outcome_may_escalate): a frontier
 *  model is named, the call is on the cheap tier, not yet escalated, not
 *  forced by the client, T is in escalate_on, and a "truncated" cut is a
 *  shortfall (not the client's own max_tokens).  One escalation per call.
 *
 * Lazy facts: asking a breaker takes a half-open breaker's one trial and
 * asking for the next fallback advances the call's fallback position, so
 * the caller asks the breaker only when fg_outcome_retry_due() holds and
 * the fallback only when the breaker was not asked or said no; a fact not
 * asked is left false / NULL, which these rules never confuse. */
#ifndef FRUGAL_OUTCOME_H
#define FRUGAL_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>

enum fg_outcome_point {
    FG_OUTCOME_TRANSFER_ENDED,
    FG_OUTCOME_HELD_ENDED,
    FG_OUTCOME_ANSWER_CHECKED,
};

enum fg_outcome_kind {
    FG_OUTCOME_DONE,         /* send what we have */
    FG_OUTCOME_RETRY_AFTER,  /* same model again after delay_ms */
    FG_OUTCOME_USE_MODEL,    /* model: a fallback (trigger NULL) or the escalation */
    FG_OUTCOME_RETRY_SAME,   /* structured-output retry, same model, no delay */
    FG_OUTCOME_RELEASE_HELD, /* the held stream goes to the client as it was */
    FG_OUTCOME_FAIL,         /* reply with the call's error */
};

/* escalate_on triggers, as a set */
enum {
    FG_OUTCOME_ON_INVALID_SCHEMA = 1 << 0,
    FG_OUTCOME_ON_TRUNCATED = 1 << 1,
    FG_OUTCOME_ON_REFUSAL = 1 << 2,
    FG_OUTCOME_ON_EMPTY = 1 << 3,
    FG_OUTCOME_ON_FORMAT = 1 << 4, /* the route's format check missed (fmtcheck.h) */
};

/* What the route allows (all false / NULL: no route, no escalation). */
struct fg_outcome_route {
    const char *frontier;  /* the frontier model's name, or NULL */
    bool cheap;            /* the call is on the cheap tier */
    bool escalated;        /* already moved to the frontier model */
    bool forced;           /* the client chose the tier (x-frugal-route) */
    unsigned escalate_on;  /* FG_OUTCOME_ON_* */
    bool cut_is_shortfall; /* a cut here is the model's, not the client's max_tokens */
};

struct fg_outcome_facts {
    enum fg_outcome_point point;
    bool transfer_ok; /* curl finished the transfer (CURLE_OK) */
    /* TRANSFER_ENDED */
    bool retriable; /* fg_failover_retriable() of the status / curl result */
    int retries_used, retries_allowed;
    long delay_ms, max_wait_ms; /* the computed backoff; the longest wait worth it */
    bool breaker_allows;        /* the provider's breaker lets a retry through */
    const char *fallback;       /* the next usable fallback model's name, or NULL */
    /* HELD_ENDED and ANSWER_CHECKED */
    struct fg_outcome_route route;
    /* HELD_ENDED */
    bool held_content;    /* content (or a tool call) was seen */
    const char *held_why; /* "refusal" / "truncated" seen before content, or NULL */
    bool stream_ended, stream_error_seen;
    /* ANSWER_CHECKED */
    const char *shortfall; /* "truncated" / "refusal" / "empty" / "format" / NULL */
    bool schema_failed;
    int so_attempts, so_retries;
};

struct fg_outcome {
    enum fg_outcome_kind kind;
    long delay_ms;       /* RETRY_AFTER */
    const char *model;   /* USE_MODEL */
    const char *trigger; /* USE_MODEL as an escalation: what fell short (static) */
};

struct fg_outcome fg_outcome_decide(const struct fg_outcome_facts *f);

/* Rule T1 before the breaker is asked. */
bool fg_outcome_retry_due(const struct fg_outcome_facts *f);
/* See the contract; trigger is "invalid_schema", "truncated", "refusal", "empty" or
 * "format". */
bool fg_outcome_may_escalate(const struct fg_outcome_route *r, const char *trigger);
/* May a stream be held back: could an empty, refused or cut answer escalate? */
bool fg_outcome_may_hold(const struct fg_outcome_route *r);
/* An escalate_on entry as FG_OUTCOME_ON_* (0 for one that is not an ending, "retry"). */
unsigned fg_outcome_trigger(const char *name);

#endif

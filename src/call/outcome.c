/* outcome.c — see outcome.h. */
#include "outcome.h"

#include "assert.h"

#include <string.h>

unsigned fg_outcome_trigger(const char *name)
{
    static const struct {
        const char *name;
        unsigned bit;
    } t[] = {{"invalid_schema", FG_OUTCOME_ON_INVALID_SCHEMA},
             {"truncated", FG_OUTCOME_ON_TRUNCATED},
             {"refusal", FG_OUTCOME_ON_REFUSAL},
             {"empty", FG_OUTCOME_ON_EMPTY},
             {"format", FG_OUTCOME_ON_FORMAT}};
    for (size_t i = 0; name && i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(name, t[i].name))
            return t[i].bit;
    return 0;
}

bool fg_outcome_may_escalate(const struct fg_outcome_route *r, const char *trigger)
{
    unsigned bit = fg_outcome_trigger(trigger);
    return r->frontier && r->cheap && !r->escalated && !r->forced && bit &&
           (r->escalate_on & bit) && (bit != FG_OUTCOME_ON_TRUNCATED || r->cut_is_shortfall);
}

bool fg_outcome_may_hold(const struct fg_outcome_route *r)
{
    return fg_outcome_may_escalate(r, "empty") || fg_outcome_may_escalate(r, "refusal") ||
           fg_outcome_may_escalate(r, "truncated");
}

bool fg_outcome_retry_due(const struct fg_outcome_facts *f)
{
    return f->retriable && f->retries_used < f->retries_allowed && f->delay_ms <= f->max_wait_ms;
}

static struct fg_outcome kind(enum fg_outcome_kind k)
{
    return (struct fg_outcome){.kind = k};
}

static struct fg_outcome use_model(const char *model, const char *trigger)
{
    FG_DASSERT(model);
    return (struct fg_outcome){.kind = FG_OUTCOME_USE_MODEL, .model = model, .trigger = trigger};
}

static struct fg_outcome transfer_ended(const struct fg_outcome_facts *f)
{
    if (fg_outcome_retry_due(f) && f->breaker_allows) /* T1 */
        return (struct fg_outcome){.kind = FG_OUTCOME_RETRY_AFTER, .delay_ms = f->delay_ms};
    if (f->retriable && f->fallback) /* T2 */
        return use_model(f->fallback, NULL);
    return kind(f->transfer_ok ? FG_OUTCOME_DONE : FG_OUTCOME_FAIL); /* T3, T4 */
}

/* The trigger as the static string the decision carries. */
static const char *trigger_name(const char *t)
{
    static const char *names[] = {"invalid_schema", "truncated", "refusal", "empty", "format"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(t, names[i]))
            return names[i];
    return NULL;
}

static struct fg_outcome held_ended(const struct fg_outcome_facts *f)
{
    const char *why = f->held_content ? NULL : f->held_why ? f->held_why : "empty";
    if (f->transfer_ok && f->stream_ended && !f->stream_error_seen && why &&
        fg_outcome_may_escalate(&f->route, why)) /* H1 */
        return use_model(f->route.frontier, trigger_name(why));
    return kind(FG_OUTCOME_RELEASE_HELD); /* H2 */
}

static struct fg_outcome answer_checked(const struct fg_outcome_facts *f)
{
    if (f->shortfall && fg_outcome_may_escalate(&f->route, f->shortfall)) /* A1 */
        return use_model(f->route.frontier, trigger_name(f->shortfall));
    if (!f->schema_failed)
        return kind(FG_OUTCOME_DONE); /* A5 */
    if (f->so_attempts < f->so_retries)
        return kind(FG_OUTCOME_RETRY_SAME);                   /* A2 */
    if (fg_outcome_may_escalate(&f->route, "invalid_schema")) /* A3 */
        return use_model(f->route.frontier, "invalid_schema");
    return kind(FG_OUTCOME_FAIL); /* A4 */
}

struct fg_outcome fg_outcome_decide(const struct fg_outcome_facts *f)
{
    switch (f->point) {
    case FG_OUTCOME_TRANSFER_ENDED: return transfer_ended(f);
    case FG_OUTCOME_HELD_ENDED: return held_ended(f);
    case FG_OUTCOME_ANSWER_CHECKED: return answer_checked(f);
    }
    FG_ASSERT(!"unknown outcome point");
    return kind(FG_OUTCOME_FAIL);
}

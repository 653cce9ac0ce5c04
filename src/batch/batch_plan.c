/* batch_plan.c — see batch_plan.h. */
#include "batch_plan.h"

#include "admit.h"
#include "call.h"
#include "provider.h"
#include "runtime.h"

#include <event2/buffer.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

int fg_batch_plan_reply(struct fg_call *c)
{
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "provider", c->serve.provider->name, "batch",
        c->serve.provider->batch ? c->serve.provider->batch : "provider", "dialect",
        fg_provider_ops(c->out->dialect)->name, "model", c->serve.model->name, "upstream_model",
        c->serve.upstream_model, "route", c->rt.route ? c->rt.route : "fixed", "route_reason",
        str_or_null(c->rt.reason), "forced_tool", str_or_null(c->so.forced_tool));
    /* what the line reserves when it is submitted to a provider batch */
    int64_t worst = fg_admit_worst_batch(c);
    json_object_set_new(o, "worst_pico", worst >= 0 ? json_integer(worst) : json_null());
    char *head = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    const char *body = c->enc.body ? c->enc.body : c->raw;
    size_t len = c->enc.body ? c->enc.body_len : c->raw_len;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, head, strlen(head) - 1); /* without the closing brace */
    evbuffer_add(b, ",\"body\":", 8);
    evbuffer_add(b, body, len);
    evbuffer_add(b, "}", 1);
    free(head);
    c->status = 200;
    fg_client_frugal_headers(c);
    fg_client_send_json(c, 200, b);
    evbuffer_free(b);
    c->state = FG_CALL_DONE;
    return 1;
}

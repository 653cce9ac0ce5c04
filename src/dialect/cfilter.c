/* cfilter.c — see cfilter.h. */
#include "cfilter.h"

#include <string.h>

bool fg_cfilter_answer(const struct fg_json *j)
{
    int choices = fg_json_get(j, 0, "choices");
    if (fg_json_type(j, choices) == FG_J_ARR)
        for (int ch = fg_json_child(j, choices); ch >= 0; ch = fg_json_sibling(j, choices, ch))
            if (fg_json_str_eq(j, fg_json_get(j, ch, "finish_reason"), FG_CFILTER_TAG))
                return true;
    /* a Response the filter stopped is "incomplete" for this reason */
    int inc = fg_json_get(j, 0, "incomplete_details");
    return fg_json_str_eq(j, fg_json_get(j, inc, "reason"), FG_CFILTER_TAG);
}

bool fg_cfilter_event(const struct fg_sse_event *ev)
{
    static const char v[] = "\"" FG_CFILTER_TAG "\"";
    /* the quoted value, not content_filter_results (a key every Azure
     * chunk may carry); then a key that ends an answer by it */
    if (!ev->data_len || !memmem(ev->data, ev->data_len, v, sizeof v - 1))
        return false;
    return memmem(ev->data, ev->data_len, "\"finish_reason\"", 15) ||
           memmem(ev->data, ev->data_len, "\"reason\"", 8);
}

bool fg_cfilter_error(const struct fg_json *j)
{
    int e = fg_json_get(j, 0, "error");
    return fg_json_str_eq(j, fg_json_get(j, e, "code"), FG_CFILTER_TAG);
}

/* sim_azure.c — the simulated provider playing Azure OpenAI (contract in
 * sim_internal.h): Azure's URLs onto the sim's OpenAI handlers, Azure's
 * error shapes, and its content-filter annotations.
 *
 * Azure shapes played here (the AzureOpenAI client of the openai SDK reads
 * them as it reads OpenAI's):
 *  - every answer carries `prompt_filter_results` (per prompt index) and
 *    each choice `content_filter_results` (hate, self_harm, sexual,
 *    violence: {filtered, severity}); a stream opens with a chunk whose
 *    `choices` is empty and which carries the prompt's results;
 *  - #sim:content_filter: the answer is cut by the filter: finish_reason
 *    "content_filter" and a choice result with filtered: true;
 *  - #sim:prompt_filter: the prompt is refused with a 400 whose error code
 *    is "content_filter" and whose innererror carries the results. */
#include "sim_internal.h"

#include <string.h>

#define DEP_PREFIX "/openai/deployments/"

int sim_azure_map(struct fg_arena *a, const char *path, const char **v1path, const char **dep)
{
    *dep = NULL;
    if (strncmp(path, "/openai/", 8) != 0)
        return -1;
    if (strncmp(path, DEP_PREFIX, strlen(DEP_PREFIX)) != 0) {
        /* resource-level: files, batches, responses */
        *v1path = fg_arena_printf(a, "/v1/%s", path + 8);
        return 0;
    }
    const char *d = path + strlen(DEP_PREFIX), *slash = strchr(d, '/');
    if (!slash || slash == d)
        return -1;
    *dep = fg_arena_strndup(a, d, (size_t)(slash - d));
    *v1path = fg_arena_printf(a, "/v1%s", slash);
    return 0;
}

void sim_azure_error(struct sim_ctx *c, struct sim_reply *r, int status, const char *code,
                     const char *msg)
{
    json_t *e = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    sim_reply_json(c->arena, r, status, e);
    json_decref(e);
}

static json_t *categories(bool filtered)
{
    json_t *o = json_object();
    static const char *const names[] = {"hate", "self_harm", "sexual", "violence"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        json_object_set_new(o, names[i],
                            json_pack("{s:b,s:s}", "filtered", filtered && i == 3, "severity",
                                      filtered && i == 3 ? "high" : "safe"));
    return o;
}

void sim_azure_prompt_filtered(struct sim_ctx *c, struct sim_reply *r)
{
    json_t *e = json_pack(
        "{s:{s:s,s:n,s:s,s:s,s:i,s:{s:s,s:o}}}", "error", "message",
        "The response was filtered due to the prompt triggering Azure OpenAI's content management "
        "policy. Please modify your prompt and retry. (simulated)",
        "type", "param", "prompt", "code", "content_filter", "status", 400, "innererror", "code",
        "ResponsibleAIPolicyViolation", "content_filter_result", categories(true));
    sim_reply_json(c->arena, r, 400, e);
    json_decref(e);
}

json_t *sim_azure_prompt_results(void)
{
    return json_pack("[{s:i,s:o}]", "prompt_index", 0, "content_filter_results", categories(false));
}

json_t *sim_azure_choice_results(bool filtered)
{
    return categories(filtered);
}

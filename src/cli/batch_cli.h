/* batch_cli.h — `frugal batch submit|status|results`: conveniences over
 * the gateway's batch API (an HTTP client of a running daemon).
 *
 *   batch submit FILE [--model M] [--wait]   upload + create; prints the id
 *   batch status ID [--json]                 state, counts, usage
 *   batch results ID [-o FILE]               the results as JSONL
 *
 * FILE is JSONL in either provider's batch format: OpenAI input lines
 * ({"custom_id","method","url","body"}) become a Files upload + Batch;
 * Anthropic lines ({"custom_id","params"}) a Message Batch.  --model sets
 * every line's model.  --wait polls until the batch ends, with a progress
 * bar when stderr is a terminal.
 * The gateway is --url URL, else $FRUGAL_URL, else the config's
 * server.listen; the key is --key KEY, else $FRUGAL_API_KEY, else the
 * config's master key.  Exit status: 0 ok (for --wait: the batch ended),
 * 1 the gateway refused or failed (its message is printed), 2 bad usage. */
#ifndef FRUGAL_BATCH_CLI_H
#define FRUGAL_BATCH_CLI_H

struct fg_config;

int fg_batch_cli_main(const struct fg_config *cfg, int argc, char **argv);

#endif

/* keys_cli.h — `frugal keys create|list|revoke`: virtual keys from the
 * command line, straight against the configured storage.
 *
 * Contract: fg_keys_cli_main() runs on the main thread with a loaded config
 * (argv[0] = "keys"; "-c FILE" was consumed by the caller and is skipped
 * here).  It opens its own store handle, so it works while a daemon runs
 * on the same database (a created key works on the daemon's next call, a
 * revocation applies within seconds, keyreg.h).  revoke takes an id, a
 * name or the key's secret (matched by hash).  create prints the secret once (with --json, as "key" in the
 * key's JSON); list never shows secrets.  Exit status: 0 ok, 1 storage
 * failure or no such key, 2 bad usage. */
#ifndef FRUGAL_KEYS_CLI_H
#define FRUGAL_KEYS_CLI_H

struct fg_config;

int fg_keys_cli_main(const struct fg_config *cfg, int argc, char **argv);

#endif

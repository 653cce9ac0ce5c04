/* migrate_cli.h — `frugal migrate [--check] [--copy-from sqlite:PATH]`:
 * the schema of a server `storage:` (postgres://), explicitly.
 *
 * Contract: fg_migrate_cli_main() runs on the main thread with a loaded
 * config (argv[0] = "migrate"; "-c FILE" is skipped here).
 *  - no option: apply every migration the database lacks (the ledger's and
 *    the keys table's; the daemon also applies them at start, so this is
 *    for operators who migrate before rolling out a new binary);
 *  - --check: apply nothing, print what is pending; exit 1 when something
 *    is;
 *  - --copy-from sqlite:PATH: apply, then copy an existing SQLite ledger
 *    (every `calls` row) and its keys into the storage.  Copying again is
 *    harmless: a call row already there is kept once (its id and ts_ms),
 *    a key already there (same id) is skipped.  Prints what was copied.
 * The DSN is never printed (fg_store_label).  Exit status: 0 ok, 1
 * storage failure (or pending migrations with --check), 2 bad usage. */
#ifndef FRUGAL_MIGRATE_CLI_H
#define FRUGAL_MIGRATE_CLI_H

struct fg_config;

int fg_migrate_cli_main(const struct fg_config *cfg, int argc, char **argv);

#endif

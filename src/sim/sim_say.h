/* sim_say.h — `frugal sim --say-table FILE`: answers looked up in a table,
 * for benchmarks that replay a labelled data set through the real daemon
 * (bench/routing.mjs's shadow simulation: the data set's label stands in
 * for the judge's verdict on a prompt).
 *
 * Contract:
 *  - FILE is JSONL, one {"match": STRING, "say": STRING} per line (blank
 *    lines skipped; both non-empty strings, else the load fails naming the
 *    line).  At most SIM_SAY_MAX entries.
 *  - sim_say_find() returns the "say" of the FIRST entry, in file order,
 *    whose "match" occurs in <text> (a plain substring, bytes), or NULL.
 *    The sim answers such a request with exactly that text (as with
 *    "#sim:say=", but nothing in the request names it, so a prompt's
 *    words stay what the router sees).  Cost: a memmem per entry.
 *  - The table is immutable once loaded (safe to read from any thread);
 *    its owner is the fg_sim server that loaded it (sim_say_free). */
#ifndef FRUGAL_SIM_SAY_H
#define FRUGAL_SIM_SAY_H

#include <stddef.h>

#define SIM_SAY_MAX 1000000

struct sim_say;

/* 0 on success (*out set); -1 with <err> filled. */
int sim_say_load(const char *path, struct sim_say **out, char *err, size_t errlen);
const char *sim_say_find(const struct sim_say *t, const char *text);
void sim_say_free(struct sim_say *t);

#endif

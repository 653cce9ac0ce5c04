/* learn_label.h — the label shadow evaluation teaches a route: is the
 * cheap answer no worse than the frontier answer?  (issue #22)
 *
 * Contract (pure functions, any thread):
 *  - The judge compares two answers to the same request twice, once with
 *    the cheap answer as "A" (order 1) and once with it as "B" (order 2),
 *    so that a judge preferring a position cancels out.  Each verdict is
 *    A, B or a tie (fg_learn_label_verdict reads the judge's answer text).
 *  - The label is 1 ("cheap is good enough") when the cheap answer wins or
 *    ties in BOTH orders; 0 when the frontier answer wins in either order;
 *    -1 (no label) when a verdict could not be read.  A judge that always
 *    says "A" therefore gives 0: its preference is position, not quality,
 *    and the safe reading of disagreement is "keep the frontier model".
 *  - fg_learn_label_judge_prompt builds the judge's instruction text
 *    (malloc'd, caller frees); question and answers are quoted verbatim,
 *    each cut to FG_LEARN_LABEL_MAX_TEXT bytes on a UTF-8 boundary. */
#ifndef FRUGAL_LEARN_LABEL_H
#define FRUGAL_LEARN_LABEL_H

#include <stddef.h>

#define FG_LEARN_LABEL_MAX_TEXT 16384

enum fg_learn_verdict {
    FG_LV_UNKNOWN, /* the judge's answer names no verdict */
    FG_LV_A,
    FG_LV_B,
    FG_LV_TIE,
};

/* The verdict in a judge's answer: its first word, case-insensitive,
 * optionally bracketed or quoted ("A", "[[B]]", "Tie.", "\"tie\""). */
enum fg_learn_verdict fg_learn_label_verdict(const char *text, size_t len);
/* 1 / 0 / -1 from the two orders' verdicts (see the contract). */
int fg_learn_label_combine(enum fg_learn_verdict cheap_first, enum fg_learn_verdict cheap_second);
/* "A" | "B" | "tie" | "unknown" */
const char *fg_learn_label_verdict_name(enum fg_learn_verdict v);
/* The judge's user message for answers a (shown first) and b. */
char *fg_learn_label_judge_prompt(const char *question, size_t qlen, const char *a, size_t alen,
                                  const char *b, size_t blen);

#endif

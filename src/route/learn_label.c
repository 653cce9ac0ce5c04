/* learn_label.c — see learn_label.h. */
#include "learn_label.h"

#include "arena.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum fg_learn_verdict fg_learn_label_verdict(const char *text, size_t len)
{
    size_t i = 0;
    /* skip blanks and the decoration judges put around a verdict */
    while (i < len && (isspace((unsigned char)text[i]) || strchr("[\"'*(`", text[i])))
        i++;
    size_t w = i;
    while (i < len && isalpha((unsigned char)text[i]))
        i++;
    size_t n = i - w;
    /* the word must end there: "Answer" is not "A" */
    if (n == 1 && (text[w] == 'A' || text[w] == 'a'))
        return FG_LV_A;
    if (n == 1 && (text[w] == 'B' || text[w] == 'b'))
        return FG_LV_B;
    if (n == 3 && !strncasecmp(text + w, "tie", 3))
        return FG_LV_TIE;
    return FG_LV_UNKNOWN;
}

int fg_learn_label_combine(enum fg_learn_verdict cheap_first, enum fg_learn_verdict cheap_second)
{
    if (cheap_first == FG_LV_UNKNOWN || cheap_second == FG_LV_UNKNOWN)
        return -1;
    /* order 1: cheap is A; order 2: cheap is B */
    bool ok1 = cheap_first == FG_LV_A || cheap_first == FG_LV_TIE;
    bool ok2 = cheap_second == FG_LV_B || cheap_second == FG_LV_TIE;
    return ok1 && ok2 ? 1 : 0;
}

const char *fg_learn_label_verdict_name(enum fg_learn_verdict v)
{
    switch (v) {
    case FG_LV_A: return "A";
    case FG_LV_B: return "B";
    case FG_LV_TIE: return "tie";
    default: return "unknown";
    }
}

/* At most max bytes of s, not splitting a UTF-8 sequence. */
static size_t cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

char *fg_learn_label_judge_prompt(const char *question, size_t qlen, const char *a, size_t alen,
                                  const char *b, size_t blen)
{
    static const char head[] =
        "Two assistants answered the same request. Judge which answer is better: more "
        "correct, more helpful, and following the request's instructions. Length is not "
        "quality. Reply with exactly one word: A, B, or tie.\n\n[Request]\n";
    qlen = cut(question, qlen, FG_LEARN_LABEL_MAX_TEXT);
    alen = cut(a, alen, FG_LEARN_LABEL_MAX_TEXT);
    blen = cut(b, blen, FG_LEARN_LABEL_MAX_TEXT);
    size_t n = sizeof head + qlen + alen + blen + 128;
    char *out = fg_xmalloc(n);
    int k =
        snprintf(out, n, "%s%.*s\n\n[Answer A]\n%.*s\n\n[Answer B]\n%.*s\n\n[Verdict: A, B or tie]",
                 head, (int)qlen, question, (int)alen, a, (int)blen, b);
    (void)k;
    return out;
}

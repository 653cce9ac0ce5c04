/* test_learn_label.c — the shadow-evaluation label: verdicts, both orders, ties. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "learn_label.h"

static enum fg_learn_verdict v(const char *s)
{
    return fg_learn_label_verdict(s, strlen(s));
}

static void verdicts_are_read_from_the_first_word(void **state)
{
    (void)state;
    assert_int_equal(v("A"), FG_LV_A);
    assert_int_equal(v("  b\n"), FG_LV_B);
    assert_int_equal(v("[[A]]"), FG_LV_A);
    assert_int_equal(v("\"tie\""), FG_LV_TIE);
    assert_int_equal(v("Tie."), FG_LV_TIE);
    assert_int_equal(v("**B** is better"), FG_LV_B);
    /* a longer word that starts like a verdict is no verdict */
    assert_int_equal(v("Answer A"), FG_LV_UNKNOWN);
    assert_int_equal(v("Both are fine"), FG_LV_UNKNOWN);
    assert_int_equal(v("tied"), FG_LV_UNKNOWN);
    assert_int_equal(v(""), FG_LV_UNKNOWN);
    assert_int_equal(fg_learn_label_verdict("Axyz", 1), FG_LV_A); /* len bounds the read */
}

static void label_needs_cheap_no_worse_in_both_orders(void **state)
{
    (void)state;
    /* order 1: cheap is A; order 2: cheap is B */
    assert_int_equal(fg_learn_label_combine(FG_LV_A, FG_LV_B), 1);     /* cheap wins twice */
    assert_int_equal(fg_learn_label_combine(FG_LV_TIE, FG_LV_TIE), 1); /* ties */
    assert_int_equal(fg_learn_label_combine(FG_LV_A, FG_LV_TIE), 1);
    assert_int_equal(fg_learn_label_combine(FG_LV_TIE, FG_LV_B), 1);
    assert_int_equal(fg_learn_label_combine(FG_LV_B, FG_LV_A), 0); /* frontier wins twice */
    assert_int_equal(fg_learn_label_combine(FG_LV_TIE, FG_LV_A), 0);
    assert_int_equal(fg_learn_label_combine(FG_LV_B, FG_LV_TIE), 0);
    /* position bias: a judge that always says "A" is not a cheap win */
    assert_int_equal(fg_learn_label_combine(FG_LV_A, FG_LV_A), 0);
    assert_int_equal(fg_learn_label_combine(FG_LV_B, FG_LV_B), 0);
    assert_int_equal(fg_learn_label_combine(FG_LV_UNKNOWN, FG_LV_B), -1);
    assert_int_equal(fg_learn_label_combine(FG_LV_A, FG_LV_UNKNOWN), -1);
}

static void judge_prompt_quotes_both_answers_in_order(void **state)
{
    (void)state;
    char *p = fg_learn_label_judge_prompt("2+2?", 4, "four", 4, "5", 1);
    const char *a = strstr(p, "[Answer A]\nfour"), *b = strstr(p, "[Answer B]\n5");
    assert_non_null(strstr(p, "[Request]\n2+2?"));
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a < b);
    free(p);
    /* a long answer is cut, not split inside a UTF-8 sequence */
    size_t n = FG_LEARN_LABEL_MAX_TEXT + 10;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i += 2)
        big[i] = (char)0xC3, big[i + 1] = (char)0xA9; /* é */
    p = fg_learn_label_judge_prompt("q", 1, big, n, "b", 1);
    assert_true(strlen(p) < 2 * FG_LEARN_LABEL_MAX_TEXT + 1024);
    const char *end = strstr(p, "\n\n[Answer B]");
    assert_non_null(end);
    assert_int_equal((unsigned char)end[-1], 0xA9);
    free(p);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(verdicts_are_read_from_the_first_word),
        cmocka_unit_test(label_needs_cheap_no_worse_in_both_orders),
        cmocka_unit_test(judge_prompt_quotes_both_answers_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

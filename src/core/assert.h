/* assert.h — invariants, checked.
 *
 * Contract:
 *  - FG_ASSERT(cond) holds in every build, release included: when cond is
 *    false the process prints "file:line: function: assertion failed: cond"
 *    to stderr and aborts.  It is for invariants whose breach means memory
 *    or money is already wrong (a negative reservation, an index past its
 *    array, a call finished twice): stopping beats serving on corrupt
 *    state.  It is never for input checks; bad input gets an error reply.
 *  - FG_DASSERT(cond) is the same check in builds with FG_DEBUG defined
 *    (the sanitizer builds) and nothing in release builds: for hot paths
 *    where the check would cost measurable time per request.  cond must
 *    have no side effects.
 * Unlike <assert.h>, neither depends on NDEBUG. */
#ifndef FRUGAL_ASSERT_H
#define FRUGAL_ASSERT_H

_Noreturn void fg_assert_fail(const char *expr, const char *file, int line, const char *func);

#define FG_ASSERT(cond) ((cond) ? (void)0 : fg_assert_fail(#cond, __FILE__, __LINE__, __func__))

#ifdef FG_DEBUG
#define FG_DASSERT(cond) FG_ASSERT(cond)
#else
#define FG_DASSERT(cond) ((void)sizeof(cond))
#endif

#endif

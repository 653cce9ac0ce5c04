// bench/routing_say.mjs — a `frugal sim --say-table` line that makes the
// judge of shadow evaluation answer `verdict` for one prompt.  The judge's
// request quotes the client's messages as compact JSON (learn_shadow.c
// question_of, jansson: raw UTF-8, upper-case \uXXXX for control bytes),
// so the match is the prompt as that quote ends: `"content":"…"}]`.  The
// client's own call does not contain it, so only the judge is answered
// from the table.  (No side effects: test/e2e/learn.test.mjs imports it.)
export const quoted = (prompt) =>
  `"content":${JSON.stringify(prompt).replace(/\\u([0-9a-f]{4})/g, (_, h) => `\\u${h.toUpperCase()}`)}}]`;
export const sayLine = (prompt, verdict) => JSON.stringify({ match: quoted(prompt), say: verdict });

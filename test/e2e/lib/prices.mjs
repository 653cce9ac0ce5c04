// lib/prices.mjs — data/prices.json (the table frugal prices with) for tests
// that check a deferred call's bill in floating USD: the spend map shows
// USD to 6 decimals, so such a test compares with a tolerance of its own
// (near()).  Tests that need exact pico-USD read the file's decimal text
// instead (ledger.test.mjs, caching.test.mjs).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const PRICES = JSON.parse(readFileSync(resolve(here, '..', '..', '..', 'data', 'prices.json'), 'utf8'));

/* A model's row (USD per 1M tokens); the file is either flat or under "models". */
export function price(model) {
  const row = PRICES[model] ?? PRICES.models?.[model];
  assert.ok(row, `no ${model} in data/prices.json`);
  return row;
}

/* USD of an OpenAI chat usage at the model's batch rates (= the flex tier's;
 * half the standard ones where the table has none, cached reads halved too)
 * when discounted, else at its standard rates. */
export function billedChat(model, u, discounted) {
  const p = price(model);
  const bi = p.batch_input ?? p.input / 2, bo = p.batch_output ?? p.output / 2;
  const cached = u.prompt_tokens_details?.cached_tokens ?? 0;
  const cr = p.cache_read ?? p.input;
  return discounted
    ? ((u.prompt_tokens - cached) * bi + (cached * cr) / 2 + u.completion_tokens * bo) / 1e6
    : ((u.prompt_tokens - cached) * p.input + cached * cr + u.completion_tokens * p.output) / 1e6;
}

/* An assert that USD amounts a and b are within tol of each other. */
export const nearWithin = (tol) => (a, b, what) => assert.ok(Math.abs(a - b) < tol, `${what}: ${a} != ${b}`);

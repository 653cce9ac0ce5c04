// spendtruth.test.mjs — the spend map's savings agree with the providers'
// bill.  A mixed workload goes through frugal (to one simulated provider)
// and, call for call, straight to a second simulated provider with the same
// SDKs: that second bill, priced from the usage the provider returned, is
// what the app would have paid without frugal.  frugal's saved_pct must be
// within 2 points of 1 − frugal's cost / that bill.
//
// The workload has what the issue was about: OpenAI calls sharing a long
// prefix (OpenAI caches those by itself, with or without frugal), Anthropic
// calls sharing a long system prompt (frugal's breakpoints are its saving),
// and exact repeats (frugal's response cache).
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  Anthropic,
  OpenAI,
  anthropic,
  call,
  ledgerFlushed,
  openai,
  startFrugal,
  startSim,
  tempDir,
  test,
} from './lib/frugal.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const PRICES = JSON.parse(readFileSync(resolve(here, '..', '..', 'data', 'prices.json'), 'utf8'));

/* USD per 1M tokens of a model from data/prices.json (the table frugal uses). */
function price(model) {
  const row = PRICES[model] ?? PRICES.models?.[model];
  assert.ok(row, `no ${model} in data/prices.json`);
  return row;
}

/* What the provider bills for one call's usage, in USD. */
function billOpenAI(model, u) {
  const p = price(model);
  const cached = u.prompt_tokens_details?.cached_tokens ?? 0;
  return ((u.prompt_tokens - cached) * p.input + cached * (p.cache_read ?? p.input) +
    u.completion_tokens * p.output) / 1e6;
}

function billAnthropic(model, u) {
  const p = price(model);
  const w1h = u.cache_creation?.ephemeral_1h_input_tokens ?? 0;
  const w5m = (u.cache_creation_input_tokens ?? 0) - w1h;
  return (u.input_tokens * p.input + (u.cache_read_input_tokens ?? 0) * p.cache_read +
    w5m * p.cache_write_5m + w1h * p.cache_write_1h + u.output_tokens * p.output) / 1e6;
}

/* A long, fixed text of about `tokens` tokens (4 bytes each). */
const longText = (seed, tokens) =>
  Array.from({ length: Math.ceil(tokens / 2) }, (_, i) => `${seed}${i % 97}`).join(' ').slice(0, tokens * 4);

const OA_SYSTEM = longText('policy', 2400);
const AN_SYSTEM = longText('handbook', 3000);

/* The workload: [dialect, model, request] in order. */
function workload() {
  const w = [];
  for (let i = 0; i < 10; i++)
    w.push(['openai', 'gpt-4o', {
      model: 'gpt-4o', max_tokens: 16, temperature: 0,
      messages: [{ role: 'system', content: OA_SYSTEM }, { role: 'user', content: `Question ${i}: which rule applies?` }],
    }]);
  for (let i = 0; i < 8; i++)
    w.push(['anthropic', 'claude-sonnet-4-5', {
      model: 'claude-sonnet-4-5', max_tokens: 16, temperature: 0, system: AN_SYSTEM,
      messages: [{ role: 'user', content: `Case ${i}: what does the handbook say?` }],
    }]);
  for (let r = 0; r < 3; r++)
    for (let i = 0; i < 4; i++)
      w.push(['openai', 'gpt-4o', {
        model: 'gpt-4o', max_tokens: 16, temperature: 0,
        messages: [{ role: 'user', content: `Label ticket ${i}: printer on fire` }],
      }]);
  return w;
}

let simFrugal, simDirect, fr;
const dir = tempDir('frugal-spendtruth-');

before(async () => {
  simFrugal = await startSim({ name: 'sim-via-frugal' });
  simDirect = await startSim({ name: 'sim-direct' });
  fr = await startFrugal({
    name: 'frugal-spendtruth',
    cwd: dir,
    config: {
      storage: `sqlite:${join(dir, 'frugal.db')}`,
      providers: [
        { name: 'oa', type: 'openai', base_url: `${simFrugal.url}/v1`, api_key: 'sk-truth-oa' },
        { name: 'an', type: 'anthropic', base_url: simFrugal.url, api_key: 'sk-truth-an' },
      ],
      models: [
        { name: 'gpt-4o', provider: 'oa' },
        { name: 'claude-sonnet-4-5', provider: 'an' },
      ],
      response_cache: { enabled: true },
    },
  });
});

after(async () => {
  await fr?.stop();
  await simFrugal?.stop();
  await simDirect?.stop();
});

describe('the spend map against the providers\' bill', () => {
  test('saved_pct is within 2 points of the bill of the same calls sent straight to the provider', async () => {
    const viaOA = openai(fr);
    const viaAN = anthropic(fr);
    const directOA = new OpenAI({ apiKey: 'sk-truth-direct', baseURL: `${simDirect.url}/v1`, maxRetries: 2 });
    const directAN = new Anthropic({ apiKey: 'sk-truth-direct', baseURL: simDirect.url, maxRetries: 2 });
    let direct = 0;
    const w = workload();
    for (const [dialect, model, req] of w) {
      if (dialect === 'openai') {
        await viaOA.chat.completions.create(req);
        const d = await directOA.chat.completions.create(req);
        direct += billOpenAI(model, d.usage);
      } else {
        await viaAN.messages.create(req);
        const d = await directAN.messages.create(req);
        direct += billAnthropic(model, d.usage);
      }
    }
    await ledgerFlushed(fr, w.length);
    const r = await call(fr, '/frugal/spend?since=1h', { method: 'GET' });
    assert.equal(r.status, 200, r.text);
    const s = r.json;
    assert.equal(s.requests, w.length);
    const measured = 100 * (1 - s.cost_usd / direct);
    const detail = `frugal: cost ${s.cost_usd} baseline ${s.baseline_usd} saved_pct ${s.saved_pct} ` +
      `saved_by ${JSON.stringify(s.saved_by)}; direct bill ${direct.toFixed(6)} → measured ${measured.toFixed(2)}%`;
    assert.ok(measured > 5, `the workload saves something real: ${detail}`);
    assert.ok(s.saved_by.response_cache > 0 && s.saved_by.prompt_cache > 0, detail);
    assert.ok(Math.abs(s.saved_pct - measured) <= 2, detail);
    // the baseline is the direct bill (to rounding of 6-decimal sums)
    assert.ok(Math.abs(s.baseline_usd - direct) <= 0.02 * direct, detail);
  });
});

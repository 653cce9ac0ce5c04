// clients.test.mjs — today's popular client libraries pointed at frugal
// with only a base URL changed, each against the built-in simulated
// provider: the Vercel AI SDK (`ai` with @ai-sdk/openai's default provider,
// which speaks the Responses API; @ai-sdk/anthropic 3.x to a gpt-* model,
// which frugal translates), LangChain's ChatOpenAI with useResponsesApi, and
// the OpenAI Agents SDK running one agent turn (tracing off).  Every
// Responses call's cost, as the ledger records it for the key that made
// it, is checked against the providers' arithmetic on the usage the client
// itself reports.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { generateObject, generateText, streamText } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { createAnthropic } from 'ai-sdk-anthropic-3';
import { ChatOpenAI } from '@langchain/openai';
import { Agent, run, setDefaultOpenAIClient, setOpenAIAPI, setTracingDisabled } from '@openai/agents';

import { OpenAI, call, ledgerFlushed, noteSecrets, startFrugal, test as libTest, waitFor } from './lib/frugal.mjs';
import { microOf, picoToMicro } from './lib/money.mjs';

const test = (name, fn) => libTest(name, { timeout: 30000 }, fn);

const MASTER = 'sk-master-clients-e2e';
// gpt-4o-mini, USD per 1M tokens (shared/data/prices.json) as pico-USD per token
const MINI = { input: 150000n, cache_read: 75000n, output: 600000n };
const cost = (input, cached, output) =>
  (BigInt(input) - BigInt(cached)) * MINI.input + BigInt(cached) * MINI.cache_read + BigInt(output) * MINI.output;

let fr;
let records = 0;
before(async () => {
  fr = await startFrugal({
    name: 'frugal-clients',
    config: {
      server: { master_key: MASTER },
      providers: [{ name: 'sim', type: 'sim' }],
      models: [{ name: 'gpt-4o-mini', provider: 'sim' }, { name: 'claude-haiku-4-5', provider: 'sim' }],
    },
  });
});
after(async () => {
  await fr?.stop();
});

/* A fresh virtual key, so the ledger's spend for it is this test's calls. */
async function freshKey(name) {
  const r = await call(fr, '/frugal/keys', { body: { name } });
  assert.equal(r.status, 201, r.text);
  noteSecrets(r.json.key);
  return r.json;
}

/* The key's ledger cost in micro-USD, after its `n` calls were written. */
async function ledgerMicro(k, n) {
  records += n;
  await ledgerFlushed(fr, records);
  /* the global written count can be reached by other keys' late records
   * (once in CI the key's own two were not yet in it): wait for this key's */
  let r;
  await waitFor(async () => {
    r = await call(fr, `/frugal/spend?since=1h&key=${k.id}`, { method: 'GET' });
    return r.status !== 200 || r.json.requests >= n;
  }, { timeoutMs: 10000, what: `${n} ledger records for ${k.id}` }).catch(() => {});
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.requests, n, r.text);
  return microOf(r.json.cost_usd);
}

describe('Vercel AI SDK', () => {
  test('@ai-sdk/openai (Responses API): generateText, streamText, generateObject; costs as the ledger has them', async () => {
    const k = await freshKey('ai-sdk-openai');
    const provider = createOpenAI({ baseURL: `${fr.url}/v1`, apiKey: k.key });
    const model = provider('gpt-4o-mini');   // the default provider: /v1/responses
    let want = 0n;
    const add = (u) => { want += cost(u.inputTokens, u.cachedInputTokens ?? 0, u.outputTokens); };

    const g = await generateText({ model, prompt: 'Say hello.', maxRetries: 0 });
    assert.match(g.text, /^Simulated reply from gpt-4o-mini to: Say hello/);
    assert.ok(g.usage.inputTokens > 0);
    add(g.usage);

    const s = streamText({ model, prompt: 'Stream a sentence.', maxRetries: 0 });
    let text = '';
    for await (const d of s.textStream) text += d;
    assert.match(text, /Simulated reply from gpt-4o-mini/);
    add(await s.usage);

    const o = await generateObject({
      model, maxRetries: 0, prompt: 'A city and its population.',
      schema: z.object({ city: z.string(), population: z.number().int() }),
    });
    assert.equal(typeof o.object.city, 'string');
    assert.ok(Number.isInteger(o.object.population));
    add(o.usage);

    assert.equal(await ledgerMicro(k, 3), picoToMicro(want));
  });

  test('@ai-sdk/anthropic 3.x asking for a gpt-* model: text blocks carry no citations: null (not streamed and streamed)', async () => {
    const k = await freshKey('ai-sdk-anthropic-3');
    const provider = createAnthropic({ baseURL: `${fr.url}/v1`, apiKey: k.key });
    const model = provider('gpt-4o-mini');
    const g = await generateText({ model, prompt: 'Hello from Anthropic land.', maxRetries: 0 });
    assert.match(g.text, /^Simulated reply from gpt-4o-mini/);
    const s = streamText({ model, prompt: 'Stream from Anthropic land.', maxRetries: 0 });
    let text = '';
    for await (const d of s.textStream) text += d;
    assert.match(text, /Simulated reply from gpt-4o-mini/);
    const raw = await call(fr, '/v1/messages', {
      key: k.key, headers: { 'anthropic-version': '2023-06-01' },
      body: { model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] },
    });
    assert.equal(raw.status, 200, raw.text);
    assert.ok(!('citations' in raw.json.content[0]), raw.text);
  });
});

describe('LangChain', () => {
  test('ChatOpenAI with useResponsesApi: invoke and stream; cost as the ledger has it', async () => {
    const k = await freshKey('langchain');
    const llm = new ChatOpenAI({
      model: 'gpt-4o-mini', useResponsesApi: true, apiKey: k.key, maxRetries: 0,
      configuration: { baseURL: `${fr.url}/v1` },
    });
    const m = await llm.invoke('What is LangChain?');
    assert.match(String(m.content?.[0]?.text ?? m.content), /Simulated reply from gpt-4o-mini/);
    const u = m.usage_metadata;
    let want = cost(u.input_tokens, u.input_token_details?.cache_read ?? 0, u.output_tokens);
    let streamed = '';
    let su;
    for await (const chunk of await llm.stream('Stream it.')) {
      streamed += typeof chunk.content === 'string' ? chunk.content : chunk.content.map((c) => c.text ?? '').join('');
      if (chunk.usage_metadata) su = chunk.usage_metadata;
    }
    assert.match(streamed, /Simulated reply from gpt-4o-mini/);
    assert.ok(su, 'the stream reports usage');
    want += cost(su.input_tokens, su.input_token_details?.cache_read ?? 0, su.output_tokens);
    assert.equal(await ledgerMicro(k, 2), picoToMicro(want));
  });
});

describe('OpenAI Agents SDK', () => {
  test('one agent turn through frugal (Responses API, tracing off); cost as the ledger has it', async () => {
    const k = await freshKey('agents');
    setTracingDisabled(true);
    setOpenAIAPI('responses');
    setDefaultOpenAIClient(new OpenAI({ apiKey: k.key, baseURL: `${fr.url}/v1`, maxRetries: 0 }));
    const agent = new Agent({ name: 'Helper', instructions: 'Answer briefly.', model: 'gpt-4o-mini' });
    const result = await run(agent, 'What is an agent?');
    assert.match(result.finalOutput, /^Simulated reply from gpt-4o-mini to: What is an agent/);
    const u = result.rawResponses[0].usage;
    const cached = u.inputTokensDetails?.[0]?.cached_tokens ?? u.inputTokensDetails?.cached_tokens ?? 0;
    assert.equal(await ledgerMicro(k, 1), picoToMicro(cost(u.inputTokens, cached, u.outputTokens)));
  });
});

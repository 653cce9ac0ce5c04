// responses.test.mjs — OpenAI's Responses API through frugal, with the
// official `openai` SDK: create (streamed and not), parse with zod, a
// function-tool round trip over previous_response_id, the stored-response
// calls (retrieve, input_items, delete, cancel, input_tokens) routed to the
// provider that created the response and only for the key that did, the
// levers that apply without translation (exact metering of cached and
// reasoning tokens, budgets, the response cache, routes, structured-output
// checks), Anthropic models and fallbacks (translated), and GET /v1/models/{id} in both
// dialects.  Upstream is the built-in simulated provider.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { z } from 'zod';
import { toFile } from 'openai';
import { zodTextFormat } from 'openai/helpers/zod';

import {
  Anthropic,
  OpenAI,
  anthropic,
  call,
  ledgerFlushed,
  metrics,
  openai,
  rejectsWith,
  startFrugal,
  startSim,
  tempDir,
  test as libTest,
  waitFor,
} from './lib/frugal.mjs';
import { microOf, picoToMicro, usd6 } from './lib/money.mjs';
import { startRecorder } from './lib/recorder.mjs';

const test = (name, fn) => libTest(name, { timeout: 30000 }, fn);

const MASTER = 'sk-master-responses-e2e';
// USD per 1M tokens (shared/data/prices.json) as pico-USD per token
const PRICE = {
  'gpt-4o-mini': { input: 150000n, cache_read: 75000n, output: 600000n },
  'gpt-4o': { input: 2500000n, cache_read: 1250000n, output: 10000000n },
};

/* The providers' arithmetic for a Responses usage object: input_tokens
 * includes the cached ones, output_tokens the reasoning ones. */
function costOf(model, u) {
  const p = PRICE[model];
  const cached = BigInt(u.input_tokens_details?.cached_tokens ?? 0);
  return (BigInt(u.input_tokens) - cached) * p.input + cached * p.cache_read + BigInt(u.output_tokens) * p.output;
}

let fr;
let rec;
before(async () => {
  rec = await startRecorder();
  fr = await startFrugal({
    name: 'frugal-responses',
    config: {
      server: { master_key: MASTER },
      providers: [
        { name: 'sim', type: 'sim' },
        { name: 'rec-openai', type: 'openai', base_url: `${rec.url}/v1`, api_key: 'sk-rec-responses' },
        { name: 'dead', type: 'openai', base_url: 'http://127.0.0.1:9/v1', api_key: 'sk-dead-responses' },
      ],
      fallbacks: { 'dead-gpt': ['claude-haiku-4-5', 'gpt-4o-mini'] },
      models: [
        { name: 'rec-gpt', provider: 'rec-openai', model: 'gpt-4o-mini' },
        { name: 'dead-gpt', provider: 'dead', model: 'gpt-4o-mini' },
        { name: 'gpt-4o-mini', provider: 'sim' },
        { name: 'gpt-4o', provider: 'sim' },
        { name: 'claude-haiku-4-5', provider: 'sim' },
      ],
      routes: [
        { name: 'oa-route', cheap: 'gpt-4o-mini', frontier: 'gpt-4o' },
        { name: 'mixed-route', cheap: 'claude-haiku-4-5', frontier: 'gpt-4o' },
      ],
      response_cache: { enabled: true, ttl: '1h' },
      structured_output: { validate: true, retries: 1 },
    },
  });
});
after(async () => {
  await fr?.stop();
  await rec?.stop();
});

async function createKey(opts) {
  const r = await call(fr, '/frugal/keys', { body: opts });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

async function spendOfKey(id) {
  const r = await call(fr, `/frugal/spend?since=1h&key=${id}`, { method: 'GET' });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

/* This key's spend once its record is written: a global "one record
 * flushed" can be an earlier call's, not this one's. */
const keySpendWritten = (id) => waitFor(async () => {
  const sp = await spendOfKey(id);
  return sp.requests >= 1 ? sp : null;
}, { what: `a ledger record for key ${id}` });

const client = (o = {}) => openai(fr, o);

describe('Responses API', () => {
  test('create, not streamed: the answer, exact usage and its cost in x-frugal-cost-usd', async () => {
    const { data: r, response } = await client()
      .responses.create({ model: 'gpt-4o-mini', instructions: 'Be brief.', input: 'Name a colour.' })
      .withResponse();
    assert.equal(r.object, 'response');
    assert.equal(r.status, 'completed');
    assert.match(r.output_text, /^Simulated reply from gpt-4o-mini to: Name a colour/);
    assert.ok(r.usage.input_tokens > 0 && r.usage.output_tokens > 0);
    assert.equal(response.headers.get('x-frugal-model'), 'gpt-4o-mini');
    assert.equal(response.headers.get('x-frugal-cost-usd'), usd6(costOf('gpt-4o-mini', r.usage)));
  });

  test('create, streamed: events in order with sequence numbers; metered from response.completed', async () => {
    const k = await createKey({ name: 'streamer' });
    const stream = await client({ apiKey: k.key }).responses.create({
      model: 'gpt-4o', input: 'Tell me about streams.', stream: true,
    });
    const types = [];
    let seq = -1;
    let final;
    for await (const ev of stream) {
      types.push(ev.type);
      assert.equal(ev.sequence_number, seq + 1, 'sequence numbers count up from 0');
      seq = ev.sequence_number;
      if (ev.type === 'response.completed') final = ev.response;
    }
    assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress',
      'response.output_item.added', 'response.content_part.added']);
    assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done',
      'response.output_item.done', 'response.completed']);
    assert.ok(types.slice(4, -4).every((t) => t === 'response.output_text.delta'), types.join());
    assert.ok(final?.usage, 'the completed event carries usage');
    const sp = await keySpendWritten(k.id);
    assert.equal(sp.requests, 1);
    assert.equal(microOf(sp.cost_usd), picoToMicro(costOf('gpt-4o', final.usage)), 'the ledger prices the streamed usage');
  });

  test('responses.stream() helper and a repeated long prefix: cached_tokens metered at the cache price', async () => {
    const long = 'You are a careful assistant. '.repeat(200);   // > 1024 tokens of stable prefix
    const c = client();
    const first = await c.responses.create({ model: 'gpt-4o-mini', instructions: long, input: 'first question' });
    assert.equal(first.usage.input_tokens_details.cached_tokens, 0);
    const s = c.responses.stream({ model: 'gpt-4o-mini', instructions: long, input: 'second question' });
    let deltas = '';
    s.on('response.output_text.delta', (e) => { deltas += e.delta; });
    const second = await s.finalResponse();
    assert.equal(deltas, second.output_text);
    assert.ok(second.usage.input_tokens_details.cached_tokens >= 1024, JSON.stringify(second.usage));
    const { data: third, response } = await c.responses
      .create({ model: 'gpt-4o-mini', instructions: long, input: 'third question' })
      .withResponse();
    assert.ok(third.usage.input_tokens_details.cached_tokens >= 1024);
    assert.equal(response.headers.get('x-frugal-cost-usd'), usd6(costOf('gpt-4o-mini', third.usage)));
  });

  test('responses.parse with zod: text.format json_schema answered, checked and parsed', async () => {
    const Person = z.object({ name: z.string(), age: z.number().int(), tags: z.array(z.string()) });
    const r = await client().responses.parse({
      model: 'gpt-4o-mini',
      input: 'Extract: Ada, 36, mathematician',
      text: { format: zodTextFormat(Person, 'person') },
    });
    assert.ok(r.output_parsed, r.output_text);
    Person.parse(r.output_parsed);
  });

  test('a structured answer that does not match its schema is retried, then refused', async () => {
    const err = await rejectsWith(client().responses.create({
      model: 'gpt-4o-mini',
      input: 'Extract the person #sim:bad_schema',
      text: { format: { type: 'json_schema', name: 'p', strict: true, schema: {
        type: 'object', properties: { name: { type: 'string' } }, required: ['name'], additionalProperties: false } } },
    }), OpenAI.APIError);
    assert.equal(err.code, 'invalid_structured_output', err.message);
  });

  test('a streamed structured answer that does not match ends with an error event, and is still metered', async () => {
    const k = await createKey({ name: 'bad-stream' });
    const stream = await client({ apiKey: k.key }).responses.create({
      model: 'gpt-4o-mini', stream: true, input: 'Extract the person #sim:bad_schema',
      text: { format: { type: 'json_schema', name: 'p', strict: true, schema: {
        type: 'object', properties: { name: { type: 'string' } }, required: ['name'], additionalProperties: false } } },
    });
    let usage = null;
    const err = await rejectsWith((async () => {
      for await (const ev of stream) if (ev.response?.usage) usage = ev.response.usage;
    })(), OpenAI.APIError);
    assert.match(err.message, /does not match the requested schema/);
    assert.equal(usage, null, 'the unchecked completed event is not relayed');
    const sp = await keySpendWritten(k.id);
    assert.equal(sp.requests, 1);
    assert.ok(sp.tokens.input > 0 && sp.tokens.output > 0, JSON.stringify(sp.tokens));
    assert.ok(sp.cost_usd > 0);
  });

  test('a function tool round trip over previous_response_id; then retrieve, input_items, delete', async () => {
    const c = client();
    const tools = [{ type: 'function', name: 'get_weather', strict: true, description: 'Weather for a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false } }];
    const first = await c.responses.create({ model: 'gpt-4o-mini', input: 'Use get_weather for Oslo.', tools });
    const fc = first.output.find((o) => o.type === 'function_call');
    assert.ok(fc, JSON.stringify(first.output));
    assert.equal(fc.name, 'get_weather');
    assert.equal(typeof JSON.parse(fc.arguments).city, 'string');
    const second = await c.responses.create({
      model: 'gpt-4o-mini', previous_response_id: first.id, tools,
      input: [{ type: 'function_call_output', call_id: fc.call_id, output: '{"sky":"clear"}' }],
    });
    assert.equal(second.previous_response_id, first.id);
    assert.match(second.output_text, /Simulated reply/);

    const got = await c.responses.retrieve(first.id);
    assert.equal(got.id, first.id);
    assert.deepEqual(got.output, first.output);
    const items = await c.responses.inputItems.list(second.id);
    assert.equal(items.data.length, 1);
    assert.equal(items.data[0].type, 'function_call_output');
    const count = await c.responses.inputTokens.count({ model: 'gpt-4o-mini', input: 'Use get_weather for Oslo.', tools });
    assert.equal(count.object, 'response.input_tokens');
    assert.ok(count.input_tokens > 0);
    await c.responses.delete(first.id);
    await rejectsWith(c.responses.retrieve(first.id), OpenAI.NotFoundError, 'retrieve after delete');
  });

  test('a stored response is reachable only by the key that created it (and the master key)', async () => {
    const a = await createKey({ name: 'owner-a' });
    const b = await createKey({ name: 'other-b' });
    const r = await client({ apiKey: a.key }).responses.create({ model: 'gpt-4o-mini', input: 'mine' });
    assert.equal((await client({ apiKey: a.key }).responses.retrieve(r.id)).id, r.id);
    const e = await rejectsWith(client({ apiKey: b.key }).responses.retrieve(r.id), OpenAI.NotFoundError);
    assert.match(e.message, /No response with id/);
    await rejectsWith(client({ apiKey: b.key }).responses.delete(r.id), OpenAI.NotFoundError);
    await rejectsWith(client({ apiKey: b.key }).responses.inputItems.list(r.id), OpenAI.NotFoundError);
    assert.equal((await client().responses.retrieve(r.id)).id, r.id, 'the master key sees all');
    await rejectsWith(client().responses.retrieve('resp_unknown123'), OpenAI.NotFoundError);
    const bad = await call(fr, '/v1/responses/bad%20id', { method: 'GET' });
    assert.equal(bad.status, 400, bad.text);
  });

  test('background responses: cancel reaches the provider that holds them', async () => {
    const c = client();
    const q = await c.responses.create({ model: 'gpt-4o-mini', input: 'later', background: true });
    assert.equal(q.status, 'queued');
    const x = await c.responses.cancel(q.id);
    assert.equal(x.status, 'cancelled');
    const sync = await c.responses.create({ model: 'gpt-4o-mini', input: 'now' });
    await rejectsWith(c.responses.cancel(sync.id), OpenAI.BadRequestError);
  });

  test('a budget holds a Responses call to its worst case (max_output_tokens)', async () => {
    const k = await createKey({ name: 'tight-rs', budget: '0.001/day' });
    // 100k output tokens of gpt-4o could cost $1: more than the budget
    const e = await rejectsWith(client({ apiKey: k.key }).responses.create({
      model: 'gpt-4o', input: 'hi', max_output_tokens: 100000 }), OpenAI.RateLimitError);
    assert.equal(e.code, 'budget_exceeded');
    const ok = await client({ apiKey: k.key }).responses.create({ model: 'gpt-4o-mini', input: 'hi', max_output_tokens: 50 });
    assert.equal(ok.status, 'completed');
  });

  test('the response cache answers stateless repeats (store: false) and never stored ones', async () => {
    const c = client();
    const body = { model: 'gpt-4o-mini', input: 'cache me please', store: false };
    const a = await c.responses.create(body).withResponse();
    const b = await c.responses.create(body).withResponse();
    assert.equal(a.response.headers.get('x-frugal-cache'), 'miss');
    assert.equal(b.response.headers.get('x-frugal-cache'), 'hit');
    assert.equal(b.response.headers.get('x-frugal-cost-usd'), '0.000000');
    assert.deepEqual(b.data.output, a.data.output);
    const stored = { model: 'gpt-4o-mini', input: 'stored, so not cached' };
    const s1 = await c.responses.create(stored).withResponse();
    const s2 = await c.responses.create(stored).withResponse();
    assert.equal(s1.response.headers.get('x-frugal-cache'), 'bypass');
    assert.equal(s2.response.headers.get('x-frugal-cache'), 'bypass');
    assert.notEqual(s1.data.id, s2.data.id, 'each stored call is a new response');
  });

  test('a route whose tiers are both OpenAI-dialect serves Responses; x-frugal-route forces a tier', async () => {
    const c = client();
    const cheap = await c.responses.create({ model: 'oa-route', input: 'hi' },
      { headers: { 'x-frugal-route': 'cheap' } }).withResponse();
    assert.equal(cheap.response.headers.get('x-frugal-model'), 'gpt-4o-mini');
    assert.match(cheap.data.output_text, /gpt-4o-mini/);
    const frontier = await c.responses.create({ model: 'oa-route', input: 'hi' },
      { headers: { 'x-frugal-route': 'frontier' } }).withResponse();
    assert.equal(frontier.response.headers.get('x-frugal-model'), 'gpt-4o');
  });

  test('a Responses call for an Anthropic model, or a route with an Anthropic tier, is translated (responses_translate.test.mjs has the rest)', async () => {
    const r = await client().responses.create({ model: 'claude-haiku-4-5', input: 'hi' });
    assert.equal(r.object, 'response');
    assert.match(r.output_text, /Simulated reply from claude-haiku-4-5/);
    const s = await client().responses.create({ model: 'mixed-route', input: 'hi', stream: true });
    let done;
    for await (const ev of s) if (ev.type === 'response.completed') done = ev.response;
    assert.ok(done?.output?.length, 'the routed stream completes');
  });

  test('a failing model falls back across dialects: its Anthropic fallback answers in the Responses shape', async () => {
    const { data, response } = await client().responses.create({ model: 'dead-gpt', input: 'hi' }).withResponse();
    assert.equal(response.headers.get('x-frugal-route'), 'fallback');
    assert.equal(response.headers.get('x-frugal-model'), 'claude-haiku-4-5');
    assert.equal(data.object, 'response');
    assert.match(data.output_text, /Simulated reply from claude-haiku-4-5/);
  });

  test('bad Responses bodies get a 400 naming the field', async () => {
    const e = await rejectsWith(client().responses.create({ model: 'gpt-4o-mini', input: 42 }), OpenAI.BadRequestError);
    assert.equal(e.param, 'input');
    const m = await rejectsWith(client().responses.create({ model: 'gpt-4o-mini', input: 'x', max_output_tokens: 'lots' }), OpenAI.BadRequestError);
    assert.equal(m.param, 'max_output_tokens');
  });
});

describe('Responses API forwarding', () => {
  const RESP = {
    id: 'resp_rec_1', object: 'response', created_at: 1, status: 'completed', model: 'gpt-4o-mini',
    error: null, incomplete_details: null, instructions: null, metadata: {}, parallel_tool_calls: true,
    temperature: 1, top_p: 1, tool_choice: 'auto', tools: [], access_programs: null,
    output: [{ type: 'message', id: 'msg_1', role: 'assistant', status: 'completed',
      content: [{ type: 'output_text', text: 'Recorded.', annotations: [] }] }],
    usage: { input_tokens: 2000, input_tokens_details: { cached_tokens: 1536, cache_write_tokens: 0 },
      output_tokens: 300, output_tokens_details: { reasoning_tokens: 200 }, total_tokens: 2300 },
  };

  test("the provider gets the client's bytes with only model and prompt_cache_key spliced in", async () => {
    // odd spacing, an unknown field and a nested key named "model": kept as sent
    const raw = '{ "model" : "rec-gpt",\n "input":[{"role":"user","content":[{"type":"input_text","text":"hi \\u00e9"}]}],' +
      ' "x_unknown": {"model":"keep"}, "store": true }';
    rec.queue({ body: RESP });
    const r = await call(fr, '/v1/responses', { body: raw });
    assert.equal(r.status, 200, r.text);
    const got = rec.requests.at(-1);
    assert.equal(got.path, '/v1/responses');
    assert.equal(got.headers.authorization, 'Bearer sk-rec-responses', "the provider key, not the client's");
    const m = /^\{"prompt_cache_key":"frg_[0-9a-f]{16}",/.exec(got.raw);
    assert.ok(m, got.raw);
    assert.equal(got.raw.slice(m[0].length - 1).replace(/^,/, '{'), raw.replace('"rec-gpt"', '"gpt-4o-mini"'));
    // usage: 2000 in (1536 cached), 300 out (200 reasoning) at gpt-4o-mini prices
    const pico = 464n * 150000n + 1536n * 75000n + 300n * 600000n;
    assert.equal(r.headers.get('x-frugal-cost-usd'), usd6(pico));
    // the client sees frugal's id, never the provider's
    assert.match(r.json.id, /^resp_[0-9a-f]{32}$/);
    assert.notEqual(r.json.id, 'resp_rec_1');
    // a retrieve only the provider can answer (include[]) goes to the same
    // provider with its key and the provider's id; the answer has frugal's
    rec.queue({ body: RESP });
    const g = await call(fr, `/v1/responses/${r.json.id}?include[]=message.output_text.logprobs`, { method: 'GET' });
    assert.equal(rec.requests.at(-1).path, '/v1/responses/resp_rec_1');
    assert.equal(rec.requests.at(-1).url, '/v1/responses/resp_rec_1?include[]=message.output_text.logprobs');
    assert.equal(rec.requests.at(-1).method, 'GET');
    assert.equal(rec.requests.at(-1).headers.authorization, 'Bearer sk-rec-responses');
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json.id, r.json.id);
  });

  test('a streamed Responses call is forwarded without stream_options; usage from response.completed', async () => {
    const ev = (type, o) => `event: ${type}\ndata: ${JSON.stringify({ type, ...o })}\n\n`;
    const started = { ...RESP, status: 'in_progress', output: [], usage: null };
    const sse = ev('response.created', { sequence_number: 0, response: started }) +
      ev('response.output_text.delta', { sequence_number: 1, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'Recorded.' }) +
      ev('response.completed', { sequence_number: 2, response: RESP });
    rec.queue({ sse });
    const k = await call(fr, '/frugal/keys', { body: { name: 'rec-stream' } });
    const r = await call(fr, '/v1/responses', { key: k.json.key, body: { model: 'rec-gpt', input: 'hi', stream: true } });
    assert.equal(r.status, 200, r.text);
    assert.ok(!('stream_options' in rec.requests.at(-1).json), rec.requests.at(-1).raw);
    assert.match(r.text, /event: response.completed/);
    const pico = 464n * 150000n + 1536n * 75000n + 300n * 600000n;
    assert.match(r.text, new RegExp(`: x-frugal-cost-usd=${usd6(pico).replace('.', '\\.')} `));
    const sp = await keySpendWritten(k.json.id);
    assert.equal(microOf(sp.cost_usd), picoToMicro(pico));
    assert.equal(sp.tokens.cache_read, 1536);

    // a provider that sends no `event:` lines: the payloads' types say it all
    const bare = sse.replace(/^event: .*\n/gm, '').replace(/"id":"resp_rec_1"/g, '"id":"resp_rec_2"');
    rec.queue({ sse: bare });
    const k2 = await call(fr, '/frugal/keys', { body: { name: 'rec-stream-bare' } });
    const r2 = await call(fr, '/v1/responses', { key: k2.json.key, body: { model: 'rec-gpt', input: 'hi', stream: true } });
    assert.equal(r2.status, 200, r2.text);
    await ledgerFlushed(fr, 2);
    assert.equal(microOf((await spendOfKey(k2.json.id)).cost_usd), picoToMicro(pico));
    // every event the client sees carries frugal's id, never the provider's
    const fid = JSON.parse(/^data: (.*)$/m.exec(r2.text)[1]).response.id;
    assert.match(fid, /^resp_[0-9a-f]{32}$/);
    assert.ok(!r2.text.includes('resp_rec_2'), r2.text);
    assert.equal((r2.text.match(new RegExp(fid, 'g')) || []).length, 2, r2.text);
    const g = await call(fr, `/v1/responses/${fid}`, { method: 'GET', key: k2.json.key });
    assert.equal(g.status, 200, 'remembered from the stream');
    assert.equal(g.json.id, fid);
    assert.equal(g.json.output[0].content[0].text, 'Recorded.');
  });
});

describe('GET /v1/models/{id}', () => {
  test('openai.models.retrieve: a model and a route in OpenAI shape; 404 for unknown', async () => {
    const m = await client().models.retrieve('gpt-4o-mini');
    assert.deepEqual({ id: m.id, object: m.object, owned_by: m.owned_by }, { id: 'gpt-4o-mini', object: 'model', owned_by: 'sim' });
    const r = await client().models.retrieve('oa-route');
    assert.equal(r.owned_by, 'frugal');
    await rejectsWith(client().models.retrieve('no-such-model'), OpenAI.NotFoundError);
  });

  test('anthropic.models.retrieve: Anthropic shape; 404 in its dialect', async () => {
    const a = anthropic(fr);
    const m = await a.models.retrieve('claude-haiku-4-5');
    assert.equal(m.type, 'model');
    assert.equal(m.id, 'claude-haiku-4-5');
    assert.equal(typeof m.display_name, 'string');
    assert.match(m.created_at, /^\d{4}-\d\d-\d\dT/);
    const e = await rejectsWith(a.models.retrieve('no-such-model'), Anthropic.NotFoundError);
    assert.equal(e.error?.error?.type, 'not_found_error');
  });

  test('a virtual key sees only the models its allow-list names', async () => {
    const k = await createKey({ name: 'only-mini', models: ['gpt-4o-mini'] });
    assert.equal((await client({ apiKey: k.key }).models.retrieve('gpt-4o-mini')).id, 'gpt-4o-mini');
    await rejectsWith(client({ apiKey: k.key }).models.retrieve('gpt-4o'), OpenAI.NotFoundError);
  });
});

describe('batches of /v1/responses lines', () => {
  const line = (custom_id, model, input, extra = {}) => ({
    custom_id, method: 'POST', url: '/v1/responses', body: { model, input, max_output_tokens: 60, ...extra },
  });
  const jsonl = (ls) => ls.map((l) => JSON.stringify(l)).join('\n') + '\n';
  // batch prices of gpt-4o-mini (pico-USD per token): half the real-time ones
  const BATCH = { input: 75000n, output: 300000n };

  for (const mode of ['provider', 'local']) {
    test(`${mode} mode: lines run, usage metered from the Response, costs in the ledger`, async () => {
      const dir = tempDir();
      const db = join(dir, 'frugal.db');
      const g = await startFrugal({
        name: `frugal-rs-batch-${mode}`, cwd: dir,
        config: {
          storage: `sqlite:${db}`,
          providers: [{ name: 'sim', type: 'sim', batch: mode }, { name: 'sim-chat', type: 'sim', batch: mode, responses: false }],
          models: [{ name: 'gpt-4o-mini', provider: 'sim' }, { name: 'claude-haiku-4-5', provider: 'sim' },
            { name: 'chat-mini', provider: 'sim-chat', model: 'gpt-4o-mini' }],
          batches: { poll_ms: 50, poll_max_ms: 200 },
        },
      });
      try {
        const c = openai(g);
        const mixed = await rejectsWith(c.files.create({ purpose: 'batch', file: await toFile(Buffer.from(jsonl([
          line('m1', 'gpt-4o-mini', 'a'), { ...line('m2', 'gpt-4o-mini', 'b'), url: '/v1/chat/completions',
            body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'b' }] } }])), 'in.jsonl') }), OpenAI.BadRequestError);
        assert.match(mixed.message, /"url" must be "\/v1\/responses"/);
        const f = await c.files.create({ purpose: 'batch', file: await toFile(Buffer.from(jsonl([
          line('r1', 'gpt-4o-mini', 'Summarise batching.'),
          line('r2', 'gpt-4o-mini', [{ role: 'user', content: 'A second line.' }], { instructions: 'Be brief.' }),
          line('r3', 'claude-haiku-4-5', 'Translated to a Claude model.'),
          line('r4', 'gpt-4o-mini', 'Extract the person #sim:bad_schema', { text: { format: {
            type: 'json_schema', name: 'p', strict: true, schema: { type: 'object',
              properties: { name: { type: 'string' } }, required: ['name'], additionalProperties: false } } } }),
          line('r5', 'chat-mini', 'A Chat-Completions-only provider.'),
        ])), 'in.jsonl') });
        await rejectsWith(c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' }),
          OpenAI.BadRequestError, 'a file of /v1/responses lines for a chat batch');
        const b0 = await c.batches.create({ input_file_id: f.id, endpoint: '/v1/responses', completion_window: '24h' });
        assert.equal(b0.endpoint, '/v1/responses');
        const b = await waitFor(async () => {
          const x = await c.batches.retrieve(b0.id);
          return ['completed', 'failed', 'expired', 'cancelled'].includes(x.status) ? x : null;
        }, { timeoutMs: 20000, stepMs: 50, what: 'the batch to finish' });
        assert.equal(b.status, 'completed');
        // a chat-only provider's batch API takes no /v1/responses lines: run locally only
        const local = mode === 'local';
        assert.deepEqual(b.request_counts, { total: 5, completed: local ? 4 : 3, failed: local ? 1 : 2 });
        const out = (await (await c.files.content(b.output_file_id)).text()).split('\n').filter(Boolean).map((l) => JSON.parse(l));
        const errs = (await (await c.files.content(b.error_file_id)).text()).split('\n').filter(Boolean).map((l) => JSON.parse(l));
        assert.deepEqual(out.map((l) => l.custom_id).sort(), local ? ['r1', 'r2', 'r3', 'r5'] : ['r1', 'r2', 'r3']);
        assert.deepEqual(errs.map((l) => l.custom_id).sort(), local ? ['r4'] : ['r4', 'r5']);
        const r5 = [...out, ...errs].find((l) => l.custom_id === 'r5');
        if (local) {
          assert.equal(r5.response.body.object, 'response', JSON.stringify(r5));
          assert.match(r5.response.body.output[0].content[0].text, /Simulated reply from gpt-4o-mini/);
        } else {
          assert.equal(r5.response.status_code, 400, JSON.stringify(r5));
          assert.match(r5.response.body.error.message, /responses: false/);
        }
        // the Claude line ran as an Anthropic call (a Message Batch in provider mode)
        // and its result is a Response
        const r3 = out.find((l) => l.custom_id === 'r3');
        assert.equal(r3.response.status_code, 200);
        assert.equal(r3.response.body.object, 'response', JSON.stringify(r3));
        assert.match(r3.response.body.output[0].content[0].text, /Simulated reply from claude-haiku-4-5/);
        assert.ok(r3.response.body.usage.input_tokens > 0);
        // an answer that does not match its text.format schema is not a result, in either mode
        const r4 = errs.find((l) => l.custom_id === 'r4');
        assert.equal(r4.response.body.error.code, 'invalid_structured_output', JSON.stringify(r4));
        let want = 0n;
        for (const l of out.filter((x) => x.custom_id !== 'r3' && x.custom_id !== 'r5')) {
          const r = l.response.body;
          assert.equal(r.object, 'response');
          assert.match(r.output[0].content[0].text, /Simulated reply from gpt-4o-mini/);
          const p = mode === 'provider' ? BATCH : { input: 150000n, output: 600000n };
          want += BigInt(r.usage.input_tokens) * p.input + BigInt(r.usage.output_tokens) * p.output;
        }
        const rows = JSON.parse(execFileSync('sqlite3', ['-json', db,
          `SELECT endpoint, status, batch, cost_pico FROM calls WHERE batch_id = '${b.id}' AND status = 200 AND error IS NULL AND model = 'gpt-4o-mini'`]).toString() || '[]');
        assert.equal(rows.length, 2, JSON.stringify(rows));
        assert.ok(rows.every((r) => r.endpoint === (mode === 'provider' ? 'batch' : 'responses')), JSON.stringify(rows));
        assert.equal(rows.reduce((s, r) => s + BigInt(r.cost_pico), 0n), want);
      } finally {
        await g.stop();
      }
    });
  }
});

describe('stored responses across a restart', () => {
  test('the ledger remembers which provider and key created a response', async () => {
    const sim = await startSim({ name: 'sim-rs-restart' });
    const dir = tempDir();
    const cfg = {
      storage: `sqlite:${join(dir, 'frugal.db')}`,
      server: { master_key: MASTER },
      providers: [{ name: 'ext', type: 'openai', base_url: `${sim.url}/v1`, api_key: 'sk-ext-sim-key' }],
      models: [{ name: 'gpt-4o-mini', provider: 'ext' }],
    };
    let g = await startFrugal({ name: 'frugal-rs-restart-1', cwd: dir, config: cfg });
    try {
      const mk = async (name) => (await call(g, '/frugal/keys', { body: { name } })).json;
      const a = await mk('restart-owner');
      const b = await mk('restart-other');
      const r = await openai(g, { apiKey: a.key }).responses.create({ model: 'gpt-4o-mini', input: 'keep me' });
      await g.stop();
      g = await startFrugal({ name: 'frugal-rs-restart-2', cwd: dir, config: cfg });
      const got = await openai(g, { apiKey: a.key }).responses.retrieve(r.id);
      assert.equal(got.id, r.id);
      assert.equal(got.output_text, r.output_text);
      await rejectsWith(openai(g, { apiKey: b.key }).responses.retrieve(r.id), OpenAI.NotFoundError);
      assert.equal((await openai(g).responses.retrieve(r.id)).id, r.id, 'the master key sees all');
    } finally {
      if (!g.exited) await g.stop();
      await sim.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

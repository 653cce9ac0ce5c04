// translate.test.mjs — dialect translation end to end: an OpenAI SDK client
// calling Anthropic-dialect models, and Anthropic SDK clients (1.x and the
// legacy 0.x) calling OpenAI-dialect models.  The built-in sim answers in
// each model's own dialect (claude-* Anthropic, the rest OpenAI), so every
// call here crosses the translator both ways; a recording upstream shows
// what the provider actually received.
import { after, before, beforeEach, describe } from 'node:test';
import assert from 'node:assert/strict';

import {
  Anthropic,
  AnthropicLegacy,
  OpenAI,
  anthropic,
  anthropicLegacy,
  call,
  openai,
  rejectsWith,
  sleep,
  startFrugal,
  test as libTest,
  waitFor,
} from './lib/frugal.mjs';
import { startRecorder } from './lib/recorder.mjs';

/* Every test here is short: a hang (a stream that never ends) is a failure. */
const test = (name, fn) => libTest(name, { timeout: 30000 }, fn);

let rec;
let fr;

// The sim's own upstream model ids are the names (no `model:` override), so
// its answers ("Simulated reply from MODEL ...") say which model answered.
const NONATIVE_UPSTREAM = 'claude-nonative-1'; // not in the price table: no native structured output

before(async () => {
  rec = await startRecorder();
  fr = await startFrugal({
    name: 'frugal-translate',
    config: {
      server: { workers: 2 },
      providers: [
        { name: 'sim', type: 'sim' },
        { name: 'rec-openai', type: 'openai', base_url: `${rec.url}/v1`, api_key: 'sk-rec-oa' },
        { name: 'rec-anthropic', type: 'anthropic', base_url: rec.url, api_key: 'sk-rec-an', anthropic_version: '2026-10-21' },
        { name: 'rec-anthropic-old', type: 'anthropic', base_url: rec.url, api_key: 'sk-rec-an-old', anthropic_version: '2023-06-01' },
      ],
      models: [
        { name: 'claude-haiku-4-5', provider: 'sim' },
        { name: 'claude-sonnet-4-5', provider: 'sim' },
        { name: 'gpt-4o-mini', provider: 'sim' },
        { name: 'gpt-4o', provider: 'sim' },
        { name: 'json-claude', provider: 'sim', model: NONATIVE_UPSTREAM, dialect: 'anthropic' },
        { name: 'rec-claude', provider: 'rec-anthropic', model: 'claude-haiku-4-5' },
        { name: 'rec-claude-old', provider: 'rec-anthropic-old', model: 'claude-haiku-4-5' },
        { name: 'rec-claude-capped', provider: 'rec-anthropic', model: 'claude-haiku-4-5', max_output_tokens: 1234 },
        { name: 'rec-gpt', provider: 'rec-openai', model: 'gpt-4o-mini' },
      ],
    },
  });
});

after(async () => {
  try {
    await fr?.stop();
  } finally {
    await rec?.stop(); // else a failed stop() leaves node waiting on the recorder
  }
});

beforeEach(() => rec.reset());

// ------------------------------------------------------------- helpers ----

const user = (text) => [{ role: 'user', content: text }];

const WEATHER_PARAMS = {
  type: 'object',
  properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } },
  required: ['city', 'unit'],
};
const TIME_PARAMS = {
  type: 'object',
  properties: { zone: { type: 'string' } },
  required: ['zone'],
};
const OA_TOOLS = [
  { type: 'function', function: { name: 'get_weather', description: 'Current weather for a city', parameters: WEATHER_PARAMS } },
  { type: 'function', function: { name: 'get_time', description: 'Current time in a zone', parameters: TIME_PARAMS } },
];
const AN_TOOLS = [
  { name: 'get_weather', description: 'Current weather for a city', input_schema: WEATHER_PARAMS },
  { name: 'get_time', description: 'Current time in a zone', input_schema: TIME_PARAMS },
];

// a 1x1 PNG
const PNG_B64 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

const PERSON_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    age: { type: 'integer', minimum: 0 },
    tags: { type: 'array', items: { type: 'string' } },
  },
  required: ['name', 'age', 'tags'],
  additionalProperties: false,
};

/* A deterministic long system prompt (~4 chars a token). */
function longSystem(chars, seed = 'Rule') {
  let s = '';
  for (let i = 1; s.length < chars; i++)
    s += `${seed} ${String(i).padStart(4, '0')}: be brief, quote the section, never invent a number. `;
  return s.slice(0, chars);
}

/* A raw streaming POST: the whole body text and its SSE frames
 * [{event, data, json}] (comments dropped). */
async function rawStream(path, body, headers = {}) {
  const r = await fetch(`${fr.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer k', ...headers },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  const frames = [];
  for (const block of text.split('\n\n')) {
    if (!block.trim()) continue;
    let event = null;
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (!data.length && event === null) continue; // a comment frame
    const d = data.join('\n');
    let json;
    try {
      json = JSON.parse(d);
    } catch {}
    frames.push({ event, data: d, json });
  }
  return { status: r.status, headers: r.headers, text, frames };
}

/* Drain an SDK stream, returning [items, error]. */
async function drain(stream) {
  const items = [];
  try {
    for await (const x of stream) items.push(x);
  } catch (e) {
    return [items, e];
  }
  return [items, null];
}

const USD6 = /^\d+\.\d{6}$/;

/* Built-in prices (micro-USD per 1M tokens = pico-USD per token), the rows of
 * data/prices.json these tests price against. */
const PRICE = {
  'claude-sonnet-4-5': { input: 3000000n, cache_read: 300000n, cache_write_5m: 3750000n, output: 15000000n },
  'gpt-4o': { input: 2500000n, cache_read: 1250000n, output: 10000000n },
};
/* "0.001234" for tokens t priced at PRICE[model], rounded half up to 1e-6. */
function usd6(model, t) {
  const p = PRICE[model];
  const pico = BigInt(t.input ?? 0) * p.input + BigInt(t.cache_read ?? 0) * p.cache_read +
    BigInt(t.cache_write_5m ?? 0) * (p.cache_write_5m ?? p.input) + BigInt(t.output ?? 0) * p.output;
  const micro = (pico + 500000n) / 1000000n;
  return `${micro / 1000000n}.${String(micro % 1000000n).padStart(6, '0')}`;
}

function assertCostHeader(headers, what) {
  const v = headers.get('x-frugal-cost-usd');
  assert.ok(v !== null, `${what}: no x-frugal-cost-usd header`);
  assert.match(v, USD6, `${what}: x-frugal-cost-usd=${v}`);
  assert.ok(Number(v) > 0, `${what}: x-frugal-cost-usd=${v} for a priced model`);
  return Number(v);
}

// =========================================== OpenAI SDK → Anthropic models ====

describe('OpenAI SDK → Anthropic-dialect models', () => {
  for (const model of ['claude-haiku-4-5', 'claude-sonnet-4-5']) {
    test(`plain call to ${model}: text, id, finish_reason, model echo, usage, headers`, async () => {
      const { data, response } = await openai(fr)
        .chat.completions.create({ model, messages: user('Say hello to the translator') })
        .withResponse();
      assert.equal(response.status, 200);
      assert.equal(data.object, 'chat.completion');
      assert.match(data.id, /^chatcmpl-/);
      assert.equal(data.model, model);
      assert.equal(data.choices.length, 1);
      const ch = data.choices[0];
      assert.equal(ch.index, 0);
      assert.equal(ch.message.role, 'assistant');
      assert.equal(ch.message.content, `Simulated reply from ${model} to: Say hello to the translator`);
      assert.equal(ch.message.tool_calls, undefined);
      assert.equal(ch.finish_reason, 'stop');
      const u = data.usage;
      assert.ok(Number.isInteger(u.prompt_tokens) && u.prompt_tokens > 0, JSON.stringify(u));
      assert.ok(Number.isInteger(u.completion_tokens) && u.completion_tokens > 0, JSON.stringify(u));
      assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
      assert.equal(response.headers.get('x-frugal-model'), model);
      assert.ok(response.headers.get('x-frugal-request-id'));
      assertCostHeader(response.headers, model);
    });
  }

  test('usage equals the sim\'s own Anthropic numbers for the same prompt', async () => {
    const model = 'claude-sonnet-4-5';
    const q = 'Count my tokens, please, all of them';
    const direct = await anthropic(fr).messages.create({ model, max_tokens: 1000, messages: user(q) });
    const viaOA = await openai(fr).chat.completions.create({ model, max_tokens: 1000, messages: user(q) });
    const du = direct.usage;
    assert.equal(viaOA.choices[0].message.content, direct.content[0].text);
    assert.equal(viaOA.usage.prompt_tokens,
      du.input_tokens + du.cache_read_input_tokens + du.cache_creation_input_tokens);
    assert.equal(viaOA.usage.completion_tokens, du.output_tokens);
    assert.equal(viaOA.usage.prompt_tokens_details?.cached_tokens ?? 0, 0);
  });

  test('usage with prompt-cache traffic (sim): prompt_tokens = input + reads + writes, cached_tokens = reads', async () => {
    // OpenAI's explicit prompt_cache_breakpoint is translated to cache_control,
    // so the sim writes and then reads the long system prefix (sonnet: 1024-token minimum).
    const model = 'claude-sonnet-4-5';
    const sys = longSystem(8000, 'CacheRule');
    const oaBody = (q) => ({
      model,
      max_tokens: 200,
      messages: [
        { role: 'system', content: [{ type: 'text', text: sys, prompt_cache_breakpoint: { mode: 'explicit' } }] },
        { role: 'user', content: q },
      ],
    });
    // the sim's own numbers for these prompts, asked natively (a different
    // model id would not share the cache, so ask first with the same prefix)
    const anBody = (q) => ({
      model,
      max_tokens: 200,
      system: [{ type: 'text', text: sys, cache_control: { type: 'ephemeral' } }],
      messages: user(q),
    });
    const a1 = await anthropic(fr).messages.create(anBody('first question'));
    assert.ok(a1.usage.cache_creation_input_tokens > 1000, `sim wrote no cache: ${JSON.stringify(a1.usage)}`);
    const a2 = await anthropic(fr).messages.create(anBody('second question'));
    assert.equal(a2.usage.cache_read_input_tokens, a1.usage.cache_creation_input_tokens);
    // now the OpenAI client, same prefix → a read of the same size
    const { data: o3, response } = await openai(fr).chat.completions.create(oaBody('second question')).withResponse();
    const u = o3.usage;
    const a = a2.usage;
    assert.equal(u.prompt_tokens_details.cached_tokens, a.cache_read_input_tokens,
      `cached_tokens should be the cache reads: ${JSON.stringify(u)} vs ${JSON.stringify(a)}`);
    assert.equal(u.prompt_tokens, a.input_tokens + a.cache_read_input_tokens + a.cache_creation_input_tokens,
      `prompt_tokens: ${JSON.stringify(u)} vs ${JSON.stringify(a)}`);
    assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
    assert.equal(u.completion_tokens, a.output_tokens);
    // priced on Anthropic's disjoint counts: reads at the cache-read price
    assert.equal(response.headers.get('x-frugal-cost-usd'), usd6(model, {
      input: a.input_tokens, cache_read: a.cache_read_input_tokens,
      cache_write_5m: a.cache_creation_input_tokens, output: a.output_tokens,
    }));
  });

  test('usage from an Anthropic upstream with reads and writes (recorder)', async () => {
    rec.queue({
      body: {
        id: 'msg_rec_usage', type: 'message', role: 'assistant', model: 'claude-haiku-4-5',
        content: [{ type: 'text', text: 'cached answer' }], stop_reason: 'end_turn', stop_sequence: null,
        usage: {
          input_tokens: 100, cache_read_input_tokens: 2000, cache_creation_input_tokens: 300,
          cache_creation: { ephemeral_5m_input_tokens: 300, ephemeral_1h_input_tokens: 0 }, output_tokens: 50,
        },
      },
    });
    const r = await openai(fr).chat.completions.create({ model: 'rec-claude', messages: user('x') });
    assert.equal(r.choices[0].message.content, 'cached answer');
    assert.equal(r.model, 'rec-claude');
    assert.equal(r.usage.prompt_tokens, 2400);
    assert.equal(r.usage.prompt_tokens_details.cached_tokens, 2000);
    assert.equal(r.usage.completion_tokens, 50);
    assert.equal(r.usage.total_tokens, 2450);
  });

  test('streaming with the SDK helper: same text as non-streamed, chunk ids/model, [DONE]', async () => {
    const model = 'claude-haiku-4-5';
    const req = { model, messages: user('Stream me a short story #sim:tokens=40') };
    const c = openai(fr);
    const expected = (await c.chat.completions.create(req)).choices[0].message.content;
    assert.equal(expected.length, 160);

    const chunks = [];
    const s = c.chat.completions.stream({ ...req });
    s.on('chunk', (ch) => chunks.push(ch));
    const final = await s.finalChatCompletion();
    assert.equal(final.choices[0].message.content, expected);
    assert.equal(final.choices[0].finish_reason, 'stop');
    assert.ok(chunks.length >= 4, `${chunks.length} chunks`);
    assert.equal(new Set(chunks.map((x) => x.id)).size, 1, 'every chunk has the same id');
    assert.match(chunks[0].id, /^chatcmpl-/);
    for (const ch of chunks) {
      assert.equal(ch.object, 'chat.completion.chunk');
      assert.equal(ch.model, model);
    }
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const finishes = chunks.filter((x) => x.choices[0]?.finish_reason);
    assert.equal(finishes.length, 1, 'exactly one chunk carries finish_reason');
    assert.equal(finishes[0], chunks.at(-1), 'finish_reason is on the last chunk (no include_usage)');

    // the raw wire: data-only frames ending with [DONE]
    const raw = await rawStream('/v1/chat/completions', { ...req, stream: true });
    assert.equal(raw.status, 200);
    assert.match(raw.headers.get('content-type'), /^text\/event-stream/);
    assert.ok(raw.frames.every((f) => f.event === null), 'OpenAI frames must not carry event: lines');
    assert.equal(raw.frames.at(-1).data, '[DONE]');
    assert.equal(raw.frames.filter((f) => f.data === '[DONE]').length, 1);
    const text = raw.frames.slice(0, -1).map((f) => f.json.choices[0]?.delta?.content ?? '').join('');
    assert.equal(text, expected);
  });

  test('stream_options.include_usage: a usage chunk only when asked', async () => {
    const model = 'claude-sonnet-4-5';
    const req = { model, messages: user('usage please #sim:tokens=12') };
    const c = openai(fr);
    const plain = await c.chat.completions.create(req);

    const [without] = await drain(await c.chat.completions.create({ ...req, stream: true }));
    assert.ok(without.length >= 3);
    assert.ok(without.every((ch) => ch.usage == null),
      `usage streamed without include_usage: ${JSON.stringify(without.find((ch) => ch.usage))}`);
    assert.ok(without.every((ch) => ch.choices.length === 1));

    const [withU] = await drain(await c.chat.completions.create({
      ...req, stream: true, stream_options: { include_usage: true },
    }));
    const usageChunks = withU.filter((ch) => ch.usage);
    assert.equal(usageChunks.length, 1, 'exactly one usage chunk');
    const last = withU.at(-1);
    assert.equal(last, usageChunks[0], 'the usage chunk is the last one');
    assert.deepEqual(last.choices, []);
    assert.equal(last.usage.prompt_tokens, plain.usage.prompt_tokens);
    assert.equal(last.usage.completion_tokens, plain.usage.completion_tokens);
    assert.equal(last.usage.total_tokens, plain.usage.total_tokens);
    // include_usage: every other chunk says usage: null
    for (const ch of withU.slice(0, -1)) assert.equal(ch.usage, null);

    // include_usage: false is "not asked"
    const [off] = await drain(await c.chat.completions.create({
      ...req, stream: true, stream_options: { include_usage: false },
    }));
    assert.ok(off.every((ch) => ch.usage == null));
  });

  describe('tools', () => {
    test('full round trip on the sim: tool call → tool result → answer', async () => {
      const c = openai(fr);
      const messages = user('Please call get_weather for Oslo');
      const r1 = await c.chat.completions.create({ model: 'claude-haiku-4-5', messages, tools: OA_TOOLS });
      const ch1 = r1.choices[0];
      assert.equal(ch1.finish_reason, 'tool_calls');
      assert.equal(ch1.message.tool_calls?.length, 1, JSON.stringify(ch1.message));
      const tc = ch1.message.tool_calls[0];
      assert.equal(tc.type, 'function');
      assert.equal(tc.function.name, 'get_weather');
      assert.ok(tc.id, 'tool call id');
      const args = JSON.parse(tc.function.arguments);
      assert.equal(typeof args.city, 'string');
      assert.ok(['c', 'f'].includes(args.unit), tc.function.arguments);
      // Claude's preamble text ("auto") comes through as content
      assert.match(ch1.message.content ?? '', /get_weather/);
      // streamed, the text block and the tool_use block arrive as the same message
      const s1 = await c.chat.completions.stream({ model: 'claude-haiku-4-5', messages, tools: OA_TOOLS }).finalChatCompletion();
      assert.equal(s1.choices[0].finish_reason, 'tool_calls');
      assert.equal(s1.choices[0].message.content, ch1.message.content);
      assert.equal(s1.choices[0].message.tool_calls?.length, 1, JSON.stringify(s1.choices[0].message));
      // the provider's tool_use id is the call id (the tool result must name it)
      assert.match(tc.id, /^toolu_sim_/);
      assert.match(s1.choices[0].message.tool_calls[0].id, /^toolu_sim_/);
      assert.deepEqual(JSON.parse(s1.choices[0].message.tool_calls[0].function.arguments), args);

      const r2 = await c.chat.completions.create({
        model: 'claude-haiku-4-5',
        tools: OA_TOOLS,
        messages: [...messages, ch1.message, { role: 'tool', tool_call_id: tc.id, content: '12 C, rain' }],
      });
      const ch2 = r2.choices[0];
      assert.equal(ch2.finish_reason, 'stop');
      assert.equal(ch2.message.tool_calls, undefined);
      assert.match(ch2.message.content, /^Simulated reply from claude-haiku-4-5/);
    });

    test('round trip as the Anthropic upstream sees it (recorder): tool_use / tool_result pair', async () => {
      const callId = 'call.9f2:x'; // not a valid Anthropic id: must be mapped, consistently
      await openai(fr).chat.completions.create({
        model: 'rec-claude',
        tools: OA_TOOLS,
        messages: [
          { role: 'system', content: 'You are terse.' },
          { role: 'developer', content: 'Use metric units.' },
          { role: 'user', content: 'Weather' },
          { role: 'user', content: 'in Oslo?' },
          {
            role: 'assistant', content: 'Checking.',
            tool_calls: [{ id: callId, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo","unit":"c"}' } }],
          },
          { role: 'tool', tool_call_id: callId, content: '12 C, rain' },
        ],
      });
      const up = rec.last();
      assert.equal(up.path, '/v1/messages');
      const b = up.json;
      assert.equal(b.model, 'claude-haiku-4-5');
      const sysText = typeof b.system === 'string' ? b.system : b.system.map((x) => x.text).join('\n');
      assert.equal(sysText, 'You are terse.\nUse metric units.');
      // Anthropic wants alternating turns: the two user messages become one turn
      assert.equal(b.messages.length, 3, JSON.stringify(b.messages));
      assert.deepEqual(b.messages.map((m) => m.role), ['user', 'assistant', 'user']);
      assert.deepEqual(b.messages[0].content.map((x) => x.text), ['Weather', 'in Oslo?']);
      const asst = b.messages[1].content;
      const tu = asst.find((x) => x.type === 'tool_use');
      assert.ok(tu, JSON.stringify(asst));
      assert.equal(tu.name, 'get_weather');
      assert.deepEqual(tu.input, { city: 'Oslo', unit: 'c' });
      assert.match(tu.id, /^[a-zA-Z0-9_-]+$/);
      assert.ok(asst.some((x) => x.type === 'text' && x.text === 'Checking.'));
      const tr = b.messages[2].content[0];
      assert.equal(tr.type, 'tool_result');
      assert.equal(tr.tool_use_id, tu.id, 'tool_result must answer the translated tool_use id');
      const trText = typeof tr.content === 'string' ? tr.content : tr.content.map((x) => x.text).join('');
      assert.equal(trText, '12 C, rain');
      assert.deepEqual(b.tools.map((t) => t.name), ['get_weather', 'get_time']);
      assert.deepEqual(b.tools[0].input_schema, WEATHER_PARAMS);
    });

    test('tool_choice "required" → any, named function → tool (recorder and sim)', async () => {
      const c = openai(fr);
      await c.chat.completions.create({ model: 'rec-claude', messages: user('x'), tools: OA_TOOLS, tool_choice: 'required' });
      assert.equal(rec.last().json.tool_choice?.type, 'any', JSON.stringify(rec.last().json.tool_choice));
      await c.chat.completions.create({
        model: 'rec-claude', messages: user('x'), tools: OA_TOOLS,
        tool_choice: { type: 'function', function: { name: 'get_time' } },
      });
      assert.deepEqual({ ...rec.last().json.tool_choice, disable_parallel_tool_use: undefined },
        { type: 'tool', name: 'get_time', disable_parallel_tool_use: undefined });
      await c.chat.completions.create({ model: 'rec-claude', messages: user('x'), tools: OA_TOOLS, tool_choice: 'none' });
      assert.equal(rec.last().json.tool_choice?.type, 'none');

      // the sim obeys them: no preamble text, a call with valid JSON arguments
      const req = await c.chat.completions.create({
        model: 'claude-haiku-4-5', messages: user('What is it like outside?'), tools: OA_TOOLS, tool_choice: 'required',
      });
      assert.equal(req.choices[0].finish_reason, 'tool_calls');
      assert.equal(req.choices[0].message.content, null);
      assert.equal(req.choices[0].message.tool_calls.length, 1);
      const a = JSON.parse(req.choices[0].message.tool_calls[0].function.arguments);
      for (const k of WEATHER_PARAMS.required) assert.ok(k in a, `missing ${k} in ${JSON.stringify(a)}`);

      const named = await c.chat.completions.create({
        model: 'claude-sonnet-4-5', messages: user('What time is it?'), tools: OA_TOOLS,
        tool_choice: { type: 'function', function: { name: 'get_time' } },
      });
      assert.equal(named.choices[0].finish_reason, 'tool_calls');
      assert.equal(named.choices[0].message.tool_calls[0].function.name, 'get_time');
      assert.equal(typeof JSON.parse(named.choices[0].message.tool_calls[0].function.arguments).zone, 'string');
    });

    test('streamed tool call: argument deltas reassemble to the non-streamed JSON', async () => {
      const c = openai(fr);
      const req = { model: 'claude-haiku-4-5', messages: user('Weather now?'), tools: OA_TOOLS, tool_choice: 'required' };
      const plain = (await c.chat.completions.create(req)).choices[0].message.tool_calls[0];

      const [chunks, err] = await drain(await c.chat.completions.create({ ...req, stream: true }));
      assert.equal(err, null, String(err));
      const calls = new Map();
      let argDeltas = 0;
      let finish = null;
      for (const ch of chunks) {
        const choice = ch.choices[0];
        if (!choice) continue;
        if (choice.finish_reason) finish = choice.finish_reason;
        for (const d of choice.delta?.tool_calls ?? []) {
          assert.ok(Number.isInteger(d.index), JSON.stringify(d));
          if (!calls.has(d.index)) {
            // the first fragment of a call carries id, type and name
            assert.ok(d.id, `first fragment without id: ${JSON.stringify(d)}`);
            assert.equal(d.type, 'function');
            assert.ok(d.function?.name, JSON.stringify(d));
            calls.set(d.index, { id: d.id, name: d.function.name, args: d.function.arguments ?? '' });
          } else {
            assert.equal(d.id, undefined, 'later fragments carry no id');
            calls.get(d.index).args += d.function?.arguments ?? '';
          }
          if (d.function?.arguments) argDeltas++;
        }
      }
      assert.equal(finish, 'tool_calls');
      assert.equal(calls.size, 1);
      const got = calls.get(0);
      assert.ok(got, 'tool call index 0');
      assert.equal(got.name, 'get_weather');
      assert.ok(argDeltas >= 2, `arguments came in ${argDeltas} piece(s): not streamed`);
      assert.deepEqual(JSON.parse(got.args), JSON.parse(plain.function.arguments));

      // and the SDK helper assembles the same call
      const final = await c.chat.completions.stream(req).finalChatCompletion();
      assert.equal(final.choices[0].finish_reason, 'tool_calls');
      assert.deepEqual(JSON.parse(final.choices[0].message.tool_calls[0].function.arguments),
        JSON.parse(plain.function.arguments));
    });
  });

  test('images: data: URL → base64 image block, https URL → url image block (recorder); sim answers', async () => {
    const c = openai(fr);
    const content = [
      { type: 'text', text: 'What is in these?' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_B64}` } },
      { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'auto' } },
    ];
    await c.chat.completions.create({ model: 'rec-claude', messages: [{ role: 'user', content }] });
    const blocks = rec.last().json.messages[0].content;
    assert.equal(blocks.length, 3, JSON.stringify(blocks));
    assert.deepEqual(blocks[0], { type: 'text', text: 'What is in these?' });
    assert.deepEqual(blocks[1], { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_B64 } });
    assert.deepEqual(blocks[2], { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } });

    const r = await c.chat.completions.create({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content }] });
    assert.match(r.choices[0].message.content, /^Simulated reply from claude-haiku-4-5 to: What is in these\?/);

    // an image type Anthropic does not take is refused, naming the field
    const e = await rejectsWith(c.chat.completions.create({
      model: 'claude-haiku-4-5',
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/bmp;base64,${PNG_B64}` } }] }],
    }), OpenAI.BadRequestError, 'bmp image');
    assert.match(e.param ?? '', /messages\[0\]\.content\[0\]\.image_url/);
  });

  test('stop → stop_sequences; the sim stops there and finish_reason is stop', async () => {
    const c = openai(fr);
    await c.chat.completions.create({ model: 'rec-claude', messages: user('x'), stop: 'END' });
    assert.deepEqual(rec.last().json.stop_sequences, ['END']);
    await c.chat.completions.create({ model: 'rec-claude', messages: user('x'), stop: ['A1', 'B2'] });
    assert.deepEqual(rec.last().json.stop_sequences, ['A1', 'B2']);
    assert.equal(rec.last().json.stop, undefined);

    const r = await c.chat.completions.create({ model: 'claude-haiku-4-5', messages: user('halt here'), stop: [' from '] });
    assert.equal(r.choices[0].message.content, 'Simulated reply');
    assert.equal(r.choices[0].finish_reason, 'stop');
    // streamed too
    const final = await c.chat.completions.stream({ model: 'claude-haiku-4-5', messages: user('halt here'), stop: [' from '] })
      .finalChatCompletion();
    assert.equal(final.choices[0].message.content, 'Simulated reply');
    assert.equal(final.choices[0].finish_reason, 'stop');
  });

  test('max_tokens: default = the model\'s output limit; client values kept; length on truncation', async () => {
    const c = openai(fr);
    await c.chat.completions.create({ model: 'rec-claude', messages: user('x') });
    assert.equal(rec.last().json.max_tokens, 64000, 'claude-haiku-4-5 output limit');
    await c.chat.completions.create({ model: 'rec-claude-capped', messages: user('x') });
    assert.equal(rec.last().json.max_tokens, 1234, 'the model entry\'s max_output_tokens');
    await c.chat.completions.create({ model: 'rec-claude', messages: user('x'), max_completion_tokens: 77 });
    assert.equal(rec.last().json.max_tokens, 77);
    await c.chat.completions.create({ model: 'rec-claude', messages: user('x'), max_tokens: 55 });
    assert.equal(rec.last().json.max_tokens, 55);

    const r = await c.chat.completions.create({ model: 'claude-haiku-4-5', messages: user('a long answer #sim:tokens=100'), max_tokens: 5 });
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.choices[0].message.content.length, 20);
  });

  test('sampling fields: dropped for anthropic-version 2026-10-21, kept for 2023-06-01', async () => {
    const c = openai(fr);
    await c.chat.completions.create({ model: 'rec-claude', messages: user('x'), temperature: 0.5, top_p: 0.9 });
    let up = rec.last();
    assert.equal(up.headers['anthropic-version'], '2026-10-21');
    assert.equal(up.headers.authorization, 'Bearer sk-rec-an');
    assert.ok(!('temperature' in up.json), `temperature reached a 2026-10-21 upstream: ${up.raw}`);
    assert.ok(!('top_p' in up.json), `top_p reached a 2026-10-21 upstream: ${up.raw}`);

    await c.chat.completions.create({ model: 'rec-claude-old', messages: user('x'), temperature: 0.5, top_p: 0.9 });
    up = rec.last();
    assert.equal(up.headers['anthropic-version'], '2023-06-01');
    assert.equal(up.headers['x-api-key'], 'sk-rec-an-old');
    assert.equal(up.json.temperature, 0.5);
    assert.equal(up.json.top_p, 0.9);
  });

  test('n>1 and logprobs: 400 naming the field, nothing sent upstream', async () => {
    const c = openai(fr);
    const e1 = await rejectsWith(
      c.chat.completions.create({ model: 'rec-claude', messages: user('x'), n: 2 }), OpenAI.BadRequestError, 'n=2');
    assert.equal(e1.status, 400);
    assert.equal(e1.param, 'n');
    assert.equal(e1.type, 'invalid_request_error');
    assert.match(e1.message, /\bn\b/);
    const e2 = await rejectsWith(
      c.chat.completions.create({ model: 'rec-claude', messages: user('x'), logprobs: true }), OpenAI.BadRequestError, 'logprobs');
    assert.equal(e2.param, 'logprobs');
    assert.match(e2.message, /log ?prob/i);
    const e3 = await rejectsWith(
      c.chat.completions.create({ model: 'claude-haiku-4-5', messages: user('x'), stream: true, n: 3 }), OpenAI.BadRequestError, 'stream n=3');
    assert.equal(e3.param, 'n');
    assert.equal(rec.requests.length, 0, 'an untranslatable request reached the upstream');
    // n: 1 and logprobs: false mean nothing and pass
    const ok = await c.chat.completions.create({ model: 'claude-haiku-4-5', messages: user('x'), n: 1, logprobs: false });
    assert.equal(ok.choices.length, 1);
  });

  test('errors: #sim:status=429 → RateLimitError, #sim:status=500 → InternalServerError (OpenAI shape)', async () => {
    const c = openai(fr);
    const e = await rejectsWith(
      c.chat.completions.create({ model: 'claude-haiku-4-5', messages: user('slow down #sim:status=429') }),
      OpenAI.RateLimitError, '429');
    assert.equal(e.status, 429);
    assert.equal(e.type, 'rate_limit_error');
    assert.match(e.message, /Simulated rate_limit_error/);
    assert.ok(e.error && typeof e.error.message === 'string', `OpenAI error body: ${JSON.stringify(e.error)}`);
    // streamed requests fail the same way, before any chunk
    const es = await rejectsWith(
      c.chat.completions.create({ model: 'claude-sonnet-4-5', stream: true, messages: user('again #sim:status=429') }),
      OpenAI.RateLimitError, '429 stream');
    assert.equal(es.type, 'rate_limit_error');

    const e5 = await rejectsWith(
      c.chat.completions.create({ model: 'claude-haiku-4-5', messages: user('boom #sim:status=500') }),
      OpenAI.InternalServerError, '500');
    assert.equal(e5.status, 500);
    assert.equal(e5.type, 'server_error');
    const e3 = await rejectsWith(
      c.chat.completions.create({ model: 'claude-haiku-4-5', messages: user('boom #sim:status=529') }),
      OpenAI.InternalServerError, '529');
    assert.ok(e3.status >= 500, `status ${e3.status}`);
  });

  test('response_format json_schema → JSON content with the schema\'s required keys (native and forced-tool paths)', async () => {
    const c = openai(fr);
    const rf = { type: 'json_schema', json_schema: { name: 'person', strict: true, schema: PERSON_SCHEMA } };
    const check = (content, what) => {
      assert.equal(typeof content, 'string', `${what}: content ${content}`);
      let v;
      assert.doesNotThrow(() => (v = JSON.parse(content)), `${what}: content is not JSON: ${content}`);
      for (const k of PERSON_SCHEMA.required) assert.ok(k in v, `${what}: missing ${k} in ${content}`);
      assert.equal(typeof v.name, 'string');
      assert.ok(Number.isInteger(v.age));
      assert.ok(Array.isArray(v.tags));
    };
    // claude-haiku-4-5: native output_config.format
    const r = await c.chat.completions.create({ model: 'claude-haiku-4-5', messages: user('Invent a person'), response_format: rf });
    check(r.choices[0].message.content, 'native');
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.choices[0].message.tool_calls, undefined);
    // the recorder answers prose: frugal rejects it (after one retry) rather than pass it off as JSON
    const err = await c.chat.completions.create({ model: 'rec-claude', messages: user('x'), response_format: rf })
      .then(() => null, (e) => e);
    assert.equal(err?.status, 502, `prose must not pass as JSON: ${err}`);
    assert.equal(err.code, 'invalid_structured_output');
    // keywords Anthropic rejects move into the description, as Anthropic's SDK does
    const moved = structuredClone(PERSON_SCHEMA);
    delete moved.properties.age.minimum;
    moved.properties.age.description = '{minimum: 0}';
    assert.deepEqual(rec.last().json.output_config?.format, { type: 'json_schema', schema: moved },
      `upstream body: ${rec.last().raw}`);

    // a model without native structured output: a forced tool, shown as content
    const f = await c.chat.completions.create({ model: 'json-claude', messages: user('Invent a person'), response_format: rf });
    check(f.choices[0].message.content, 'forced tool');
    assert.equal(f.choices[0].finish_reason, 'stop');
    assert.equal(f.choices[0].message.tool_calls, undefined);
    const fs = await c.chat.completions.stream({ model: 'json-claude', messages: user('Invent a person'), response_format: rf })
      .finalChatCompletion();
    check(fs.choices[0].message.content, 'forced tool, streamed');
    assert.equal(fs.choices[0].finish_reason, 'stop');
    assert.equal(fs.choices[0].message.tool_calls, undefined);
  });

  test('mid-stream upstream cut (#sim:cut_after=3) raises in the OpenAI SDK', async () => {
    const stream = await openai(fr).chat.completions.create({
      model: 'claude-haiku-4-5', stream: true, messages: user('cut me #sim:cut_after=3 #sim:tokens=60'),
    });
    const [chunks, err] = await drain(stream);
    assert.ok(err, `the stream ended without an error after ${chunks.length} chunks`);
    assert.ok(err instanceof OpenAI.APIError, `${err.constructor.name}: ${err.message}`);
    assert.ok(!chunks.some((ch) => ch.choices[0]?.finish_reason), 'a cut stream must not carry a finish_reason');
    // the helper rejects too
    await assert.rejects(
      openai(fr).chat.completions.stream({ model: 'claude-sonnet-4-5', messages: user('cut #sim:cut_after=3 #sim:tokens=60') }).finalChatCompletion(),
      (e) => e instanceof OpenAI.OpenAIError,
    );
    // raw: the error frame is the last thing, no [DONE]
    const raw = await rawStream('/v1/chat/completions', {
      model: 'claude-haiku-4-5', stream: true, messages: user('cut me #sim:cut_after=3 #sim:tokens=60'),
    });
    assert.ok(raw.frames.at(-1).json?.error, `last frame: ${raw.frames.at(-1)?.data}`);
    assert.ok(!raw.frames.some((f) => f.data === '[DONE]'), 'a cut stream must not end with [DONE]');
  });
});

// ================================ Anthropic SDKs → OpenAI-dialect models ====

const AN_CLIENTS = [
  ['SDK 1.x', anthropic, Anthropic],
  ['SDK 0.x', anthropicLegacy, AnthropicLegacy],
];

describe('Anthropic SDKs → OpenAI-dialect models', () => {
  for (const [sdk, mk] of AN_CLIENTS) {
    for (const model of ['gpt-4o-mini', 'gpt-4o']) {
      test(`${sdk} plain call to ${model}: text, id, stop_reason, model echo, usage, headers`, async () => {
        const { data, response } = await mk(fr)
          .messages.create({ model, max_tokens: 300, messages: user('Say hello to the translator') })
          .withResponse();
        assert.equal(response.status, 200);
        assert.equal(data.type, 'message');
        assert.equal(data.role, 'assistant');
        assert.match(data.id, /^msg_/);
        assert.equal(data.model, model);
        assert.equal(data.content.length, 1, JSON.stringify(data.content));
        assert.equal(data.content[0].type, 'text');
        assert.equal(data.content[0].text, `Simulated reply from ${model} to: Say hello to the translator`);
        assert.equal(data.stop_reason, 'end_turn');
        assert.equal(data.stop_sequence, null);
        assert.ok(Number.isInteger(data.usage.input_tokens) && data.usage.input_tokens > 0);
        assert.ok(Number.isInteger(data.usage.output_tokens) && data.usage.output_tokens > 0);
        assert.equal(data.usage.cache_read_input_tokens, 0);
        assert.equal(response.headers.get('x-frugal-model'), model);
        assertCostHeader(response.headers, `${sdk} ${model}`);
      });
    }
  }

  test('usage equals the sim\'s own OpenAI numbers for the same prompt; input_tokens = prompt − cached', async () => {
    const model = 'gpt-4o';
    const sys = longSystem(8000, 'OaCache');
    const q = 'A question about caching';
    const oaReq = { model, max_tokens: 300, messages: [{ role: 'system', content: sys }, ...user(q)] };
    const o1 = await openai(fr).chat.completions.create(oaReq);
    const o2 = await openai(fr).chat.completions.create(oaReq); // warm: the sim caches ≥1024-token prefixes
    const cached = o2.usage.prompt_tokens_details?.cached_tokens ?? 0;
    assert.ok(cached >= 1024, `the sim did not cache the prefix: ${JSON.stringify(o2.usage)} (first ${JSON.stringify(o1.usage)})`);
    const { data: m, response } = await anthropic(fr)
      .messages.create({ model, max_tokens: 300, system: sys, messages: user(q) }).withResponse();
    assert.equal(m.content[0].text, o2.choices[0].message.content);
    assert.equal(m.usage.cache_read_input_tokens, cached);
    assert.equal(m.usage.input_tokens, o2.usage.prompt_tokens - cached,
      `input_tokens must exclude cache reads: ${JSON.stringify(m.usage)} vs ${JSON.stringify(o2.usage)}`);
    assert.equal(m.usage.cache_creation_input_tokens, 0);
    assert.equal(m.usage.output_tokens, o2.usage.completion_tokens);
    assert.equal(response.headers.get('x-frugal-cost-usd'), usd6(model, {
      input: o2.usage.prompt_tokens - cached, cache_read: cached, output: o2.usage.completion_tokens,
    }));

    // streamed: the final message carries the same figures
    const sm = await anthropic(fr).messages.stream({ model, max_tokens: 300, system: sys, messages: user(q) }).finalMessage();
    assert.equal(sm.usage.input_tokens, o2.usage.prompt_tokens - cached, JSON.stringify(sm.usage));
    assert.equal(sm.usage.cache_read_input_tokens, cached);
    assert.equal(sm.usage.output_tokens, o2.usage.completion_tokens);
  });

  test('usage from an OpenAI upstream with cached tokens (recorder)', async () => {
    rec.queue({
      body: {
        id: 'chatcmpl-rec-usage', object: 'chat.completion', created: 1764000000, model: 'gpt-4o-mini',
        choices: [{ index: 0, message: { role: 'assistant', content: 'cached answer', refusal: null }, logprobs: null, finish_reason: 'stop' }],
        usage: { prompt_tokens: 2400, completion_tokens: 50, total_tokens: 2450, prompt_tokens_details: { cached_tokens: 2000 } },
      },
    });
    const m = await anthropic(fr).messages.create({ model: 'rec-gpt', max_tokens: 10, messages: user('x') });
    assert.equal(m.content[0].text, 'cached answer');
    assert.equal(m.model, 'rec-gpt');
    assert.equal(m.usage.input_tokens, 400);
    assert.equal(m.usage.cache_read_input_tokens, 2000);
    assert.equal(m.usage.cache_creation_input_tokens, 0);
    assert.equal(m.usage.output_tokens, 50);
  });

  for (const [sdk, mk] of AN_CLIENTS) {
    test(`${sdk} streaming: stream().finalMessage() equals the non-streamed answer`, async () => {
      const req = { model: 'gpt-4o-mini', max_tokens: 500, messages: user('Stream me a short story #sim:tokens=40') };
      const c = mk(fr);
      const plain = await c.messages.create(req);
      const final = await c.messages.stream(req).finalMessage();
      assert.equal(final.model, 'gpt-4o-mini');
      assert.match(final.id, /^msg_/);
      assert.equal(final.content.length, 1);
      assert.equal(final.content[0].text, plain.content[0].text);
      assert.equal(final.content[0].text.length, 160);
      assert.equal(final.stop_reason, 'end_turn');
      assert.equal(final.usage.output_tokens, plain.usage.output_tokens);
      assert.equal(final.usage.input_tokens, plain.usage.input_tokens);
    });
  }

  test('raw event order: message_start, block start/delta/stop, message_delta, message_stop', async () => {
    for (const version of ['2026-10-21', '2023-06-01']) {
      const raw = await rawStream('/v1/messages',
        { model: 'gpt-4o', max_tokens: 500, stream: true, messages: user('order please #sim:tokens=30') },
        { 'anthropic-version': version });
      assert.equal(raw.status, 200);
      assert.match(raw.headers.get('content-type'), /^text\/event-stream/);
      const frames = raw.frames.filter((f) => f.event !== 'ping');
      for (const f of raw.frames) {
        assert.ok(f.event, `a frame without event: line: ${f.data}`);
        assert.equal(f.json?.type, f.event, `event name and data.type differ: ${f.event} / ${f.data}`);
      }
      const names = frames.map((f) => f.event);
      assert.equal(names[0], 'message_start');
      assert.equal(names.at(-1), 'message_stop');
      assert.equal(names.at(-2), 'message_delta');
      assert.equal(names.filter((n) => n === 'message_stop').length, 1);
      assert.equal(names.filter((n) => n === 'message_delta').length, 1);
      const body = names.slice(1, -2);
      assert.equal(body[0], 'content_block_start');
      assert.equal(body.at(-1), 'content_block_stop');
      assert.ok(body.slice(1, -1).every((n) => n === 'content_block_delta'), names.join(','));
      assert.ok(body.length >= 4, `${body.length - 2} deltas`);
      const start = frames[0].json.message;
      assert.equal(start.model, 'gpt-4o');
      assert.equal(start.role, 'assistant');
      assert.deepEqual(start.content, []);
      assert.equal(start.stop_reason, null);
      for (const f of frames.slice(1, -2)) assert.equal(f.json.index, 0);
      const md = frames.at(-2).json;
      assert.equal(md.delta.stop_reason, 'end_turn');
      assert.ok(md.usage.output_tokens > 0);
      assert.ok(md.usage.input_tokens > 0, `message_delta usage: ${JSON.stringify(md.usage)}`);
    }
    // the 1.x SDK yields the same order
    const types = [];
    for await (const ev of await anthropic(fr).messages.create({
      model: 'gpt-4o-mini', max_tokens: 100, stream: true, messages: user('x #sim:tokens=10'),
    })) types.push(ev.type);
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
    assert.equal(types.at(-2), 'message_delta');
  });

  describe('tools', () => {
    for (const [sdk, mk] of AN_CLIENTS) {
      test(`${sdk} full round trip on the sim: tool_use → tool_result → answer`, async () => {
        const c = mk(fr);
        const messages = user('Please call get_weather for Oslo');
        const r1 = await c.messages.create({ model: 'gpt-4o-mini', max_tokens: 300, tools: AN_TOOLS, messages });
        assert.equal(r1.stop_reason, 'tool_use');
        const tu = r1.content.find((b) => b.type === 'tool_use');
        assert.ok(tu, JSON.stringify(r1.content));
        assert.equal(tu.name, 'get_weather');
        assert.match(tu.id, /^[a-zA-Z0-9_-]+$/);
        assert.equal(typeof tu.input, 'object');
        for (const k of WEATHER_PARAMS.required) assert.ok(k in tu.input, `missing ${k} in ${JSON.stringify(tu.input)}`);
        // the OpenAI tool call id is the tool_use id (the tool_result must name it)
        assert.match(tu.id, /^call_sim_/);
        const s1 = await c.messages.stream({ model: 'gpt-4o-mini', max_tokens: 300, tools: AN_TOOLS, messages }).finalMessage();
        assert.equal(s1.stop_reason, 'tool_use');
        const stu = s1.content.find((b) => b.type === 'tool_use');
        assert.match(stu?.id ?? '', /^call_sim_/, JSON.stringify(s1.content));
        assert.equal(stu.name, 'get_weather');
        assert.deepEqual(stu.input, tu.input);

        const r2 = await c.messages.create({
          model: 'gpt-4o-mini', max_tokens: 300, tools: AN_TOOLS,
          messages: [
            ...messages,
            { role: 'assistant', content: r1.content },
            { role: 'user', content: [{ type: 'tool_result', tool_use_id: tu.id, content: '12 C, rain' }] },
          ],
        });
        assert.equal(r2.stop_reason, 'end_turn');
        assert.ok(!r2.content.some((b) => b.type === 'tool_use'));
        assert.match(r2.content[0].text, /^Simulated reply from gpt-4o-mini/);
      });
    }

    test('round trip as the OpenAI upstream sees it (recorder): tool_calls then role tool', async () => {
      await anthropic(fr).messages.create({
        model: 'rec-gpt',
        max_tokens: 100,
        system: 'You are terse.',
        tools: AN_TOOLS,
        messages: [
          { role: 'user', content: 'Weather in Oslo?' },
          { role: 'assistant', content: [
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { city: 'Oslo', unit: 'c' } },
          ] },
          { role: 'user', content: [
            { type: 'tool_result', tool_use_id: 'toolu_01A', content: '12 C, rain' },
            { type: 'text', text: 'And tomorrow?' },
          ] },
        ],
      });
      const b = rec.last().json;
      assert.equal(rec.last().path, '/v1/chat/completions');
      assert.equal(b.model, 'gpt-4o-mini');
      assert.equal(b.max_completion_tokens ?? b.max_tokens, 100);
      assert.deepEqual(b.messages.map((m) => m.role), ['system', 'user', 'assistant', 'tool', 'user']);
      assert.equal(b.messages[0].content, 'You are terse.');
      const asst = b.messages[2];
      const asstText = typeof asst.content === 'string' ? asst.content : (asst.content ?? []).map((p) => p.text).join('');
      assert.equal(asstText, 'Checking.');
      assert.equal(asst.tool_calls.length, 1);
      assert.equal(asst.tool_calls[0].id, 'toolu_01A');
      assert.equal(asst.tool_calls[0].type, 'function');
      assert.equal(asst.tool_calls[0].function.name, 'get_weather');
      assert.equal(typeof asst.tool_calls[0].function.arguments, 'string');
      assert.deepEqual(JSON.parse(asst.tool_calls[0].function.arguments), { city: 'Oslo', unit: 'c' });
      assert.equal(b.messages[3].tool_call_id, 'toolu_01A');
      const toolText = typeof b.messages[3].content === 'string' ? b.messages[3].content : b.messages[3].content.map((p) => p.text).join('');
      assert.equal(toolText, '12 C, rain');
      const lastText = typeof b.messages[4].content === 'string' ? b.messages[4].content : b.messages[4].content.map((p) => p.text).join('');
      assert.equal(lastText, 'And tomorrow?');
      assert.deepEqual(b.tools.map((t) => [t.type, t.function.name]), [['function', 'get_weather'], ['function', 'get_time']]);
      assert.deepEqual(b.tools[0].function.parameters, WEATHER_PARAMS);
    });

    test('tool_choice any → required, tool → named function (recorder and sim)', async () => {
      const c = anthropic(fr);
      await c.messages.create({ model: 'rec-gpt', max_tokens: 10, messages: user('x'), tools: AN_TOOLS, tool_choice: { type: 'any' } });
      assert.equal(rec.last().json.tool_choice, 'required');
      await c.messages.create({ model: 'rec-gpt', max_tokens: 10, messages: user('x'), tools: AN_TOOLS, tool_choice: { type: 'tool', name: 'get_time' } });
      assert.deepEqual(rec.last().json.tool_choice, { type: 'function', function: { name: 'get_time' } });
      await c.messages.create({
        model: 'rec-gpt', max_tokens: 10, messages: user('x'), tools: AN_TOOLS,
        tool_choice: { type: 'auto', disable_parallel_tool_use: true },
      });
      assert.equal(rec.last().json.parallel_tool_calls, false);

      for (const [sdk, mk] of AN_CLIENTS) {
        const any = await mk(fr).messages.create({
          model: 'gpt-4o', max_tokens: 300, messages: user('What is it like outside?'), tools: AN_TOOLS, tool_choice: { type: 'any' },
        });
        assert.equal(any.stop_reason, 'tool_use', sdk);
        assert.ok(any.content.every((b) => b.type === 'tool_use'), `${sdk}: ${JSON.stringify(any.content)}`);
        const named = await mk(fr).messages.create({
          model: 'gpt-4o', max_tokens: 300, messages: user('time?'), tools: AN_TOOLS, tool_choice: { type: 'tool', name: 'get_time' },
        });
        assert.equal(named.stop_reason, 'tool_use', sdk);
        assert.equal(named.content[0].name, 'get_time');
        assert.equal(typeof named.content[0].input.zone, 'string');
      }
    });

    test('streamed tool call: input_json_delta pieces reassemble; finalMessage has the input', async () => {
      const req = { model: 'gpt-4o-mini', max_tokens: 300, messages: user('Weather?'), tools: AN_TOOLS, tool_choice: { type: 'tool', name: 'get_weather' } };
      const plain = await anthropic(fr).messages.create(req);
      const plainInput = plain.content.find((b) => b.type === 'tool_use').input;

      const [events, err] = await drain(await anthropic(fr).messages.create({ ...req, stream: true }));
      assert.equal(err, null, String(err));
      const starts = events.filter((e) => e.type === 'content_block_start');
      const toolStart = starts.find((e) => e.content_block.type === 'tool_use');
      assert.ok(toolStart, events.map((e) => e.type).join(','));
      assert.equal(toolStart.content_block.name, 'get_weather');
      assert.deepEqual(toolStart.content_block.input, {});
      const pieces = events
        .filter((e) => e.type === 'content_block_delta' && e.index === toolStart.index)
        .map((e) => {
          assert.equal(e.delta.type, 'input_json_delta');
          return e.delta.partial_json;
        });
      assert.ok(pieces.length >= 2, `input came in ${pieces.length} piece(s)`);
      assert.deepEqual(JSON.parse(pieces.join('')), plainInput);
      assert.ok(events.some((e) => e.type === 'content_block_stop' && e.index === toolStart.index));
      assert.equal(events.find((e) => e.type === 'message_delta').delta.stop_reason, 'tool_use');

      for (const [sdk, mk] of AN_CLIENTS) {
        const final = await mk(fr).messages.stream(req).finalMessage();
        assert.equal(final.stop_reason, 'tool_use', sdk);
        const tu = final.content.find((b) => b.type === 'tool_use');
        assert.deepEqual(tu?.input, plainInput, `${sdk}: ${JSON.stringify(final.content)}`);
      }
    });
  });

  test('images: base64 image → image_url data: URL, url image → image_url (recorder); sim answers', async () => {
    const content = [
      { type: 'text', text: 'What is in these?' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_B64 } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
    ];
    await anthropic(fr).messages.create({ model: 'rec-gpt', max_tokens: 10, messages: [{ role: 'user', content }] });
    const parts = rec.last().json.messages[0].content;
    assert.ok(Array.isArray(parts), JSON.stringify(parts));
    assert.equal(parts.length, 3);
    assert.deepEqual(parts[0], { type: 'text', text: 'What is in these?' });
    assert.equal(parts[1].type, 'image_url');
    assert.equal(parts[1].image_url.url, `data:image/png;base64,${PNG_B64}`);
    assert.equal(parts[2].type, 'image_url');
    assert.equal(parts[2].image_url.url, 'https://example.com/cat.jpg');

    for (const [sdk, mk] of AN_CLIENTS) {
      const r = await mk(fr).messages.create({ model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content }] });
      assert.match(r.content[0].text, /^Simulated reply from gpt-4o-mini to: What is in these\?/, sdk);
    }
  });

  test('stop_sequences → stop; the sim stops there', async () => {
    await anthropic(fr).messages.create({ model: 'rec-gpt', max_tokens: 10, messages: user('x'), stop_sequences: ['END', 'HALT'] });
    assert.deepEqual(rec.last().json.stop, ['END', 'HALT']);
    assert.equal(rec.last().json.stop_sequences, undefined);
    for (const [sdk, mk] of AN_CLIENTS) {
      const r = await mk(fr).messages.create({ model: 'gpt-4o-mini', max_tokens: 100, messages: user('halt here'), stop_sequences: [' from '] });
      assert.equal(r.content[0].text, 'Simulated reply', sdk);
      // OpenAI's finish_reason "stop" does not say whether a sequence matched:
      // end_turn is honest; stop_sequence must then name one of ours
      assert.ok(['end_turn', 'stop_sequence'].includes(r.stop_reason), `${sdk}: stop_reason ${r.stop_reason}`);
      if (r.stop_reason === 'stop_sequence') assert.equal(r.stop_sequence, ' from ');
      else assert.equal(r.stop_sequence, null);
      const f = await mk(fr).messages.stream({ model: 'gpt-4o-mini', max_tokens: 100, messages: user('halt here'), stop_sequences: [' from '] }).finalMessage();
      assert.equal(f.content[0].text, 'Simulated reply', `${sdk} streamed`);
      assert.equal(f.stop_reason, r.stop_reason);
      // a sequence that never matched: a natural end, never "stop_sequence"
      const n = await mk(fr).messages.create({ model: 'gpt-4o-mini', max_tokens: 100, messages: user('halt here'), stop_sequences: ['ZZZ'] });
      assert.equal(n.content[0].text, 'Simulated reply from gpt-4o-mini to: halt here');
      assert.equal(n.stop_reason, 'end_turn', sdk);
      assert.equal(n.stop_sequence, null);
    }
    // too many for OpenAI (max 4): refused, naming the field
    const e = await rejectsWith(anthropic(fr).messages.create({
      model: 'gpt-4o-mini', max_tokens: 10, messages: user('x'), stop_sequences: ['a', 'b', 'c', 'd', 'e'],
    }), Anthropic.BadRequestError, '5 stop sequences');
    assert.match(e.message, /stop_sequences/);
  });

  test('max_tokens → max_completion_tokens; max_tokens stop reason on truncation; sampling of 0.x kept', async () => {
    await anthropicLegacy(fr).messages.create({ model: 'rec-gpt', max_tokens: 42, temperature: 0.3, top_p: 0.8, messages: user('x') });
    const b = rec.last().json;
    assert.equal(b.max_completion_tokens ?? b.max_tokens, 42);
    assert.equal(b.temperature, 0.3);
    assert.equal(b.top_p, 0.8);
    assert.equal(rec.last().headers.authorization, 'Bearer sk-rec-oa');
    assert.equal(rec.last().headers['anthropic-version'], undefined, 'anthropic-version leaked to an OpenAI upstream');

    const r = await anthropic(fr).messages.create({ model: 'gpt-4o-mini', max_tokens: 5, messages: user('long #sim:tokens=100') });
    assert.equal(r.stop_reason, 'max_tokens');
    assert.equal(r.content[0].text.length, 20);
  });

  test('structured output: output_config.format json_schema → JSON text with the required keys', async () => {
    for (const [sdk, mk] of AN_CLIENTS) {
      const r = await mk(fr).messages.create({
        model: 'gpt-4o-mini', max_tokens: 500, messages: user('Invent a person'),
        output_config: { format: { type: 'json_schema', schema: PERSON_SCHEMA } },
      });
      assert.equal(r.stop_reason, 'end_turn', sdk);
      let v;
      assert.doesNotThrow(() => (v = JSON.parse(r.content[0].text)), `${sdk}: not JSON: ${r.content[0].text}`);
      for (const k of PERSON_SCHEMA.required) assert.ok(k in v, `${sdk}: missing ${k}`);
    }
    const err = await anthropic(fr).messages.create({
      model: 'rec-gpt', max_tokens: 10, messages: user('x'),
      output_config: { format: { type: 'json_schema', schema: PERSON_SCHEMA } },
    }).then(() => null, (e) => e);
    // the recorder answers prose: rejected, not passed off as JSON
    assert.equal(err?.status, 502, `prose must not pass as JSON: ${err}`);
    const rf = rec.last().json.response_format;
    assert.equal(rf?.type, 'json_schema', rec.last().raw);
    assert.deepEqual(rf.json_schema.schema, PERSON_SCHEMA);
  });

  test('errors: #sim:status=429 → RateLimitError (rate_limit_error), 500 → InternalServerError (api_error)', async () => {
    for (const [sdk, mk, Cls] of AN_CLIENTS) {
      const e = await rejectsWith(
        mk(fr).messages.create({ model: 'gpt-4o-mini', max_tokens: 10, messages: user('slow down #sim:status=429') }),
        Cls.RateLimitError, `${sdk} 429`);
      assert.equal(e.status, 429);
      assert.equal(e.error?.type, 'error', JSON.stringify(e.error));
      assert.equal(e.error?.error?.type, 'rate_limit_error', JSON.stringify(e.error));
      assert.match(e.error.error.message, /Rate limit reached/);
      const s = await rejectsWith(
        mk(fr).messages.create({ model: 'gpt-4o', max_tokens: 10, stream: true, messages: user('again #sim:status=429') }),
        Cls.RateLimitError, `${sdk} 429 stream`);
      assert.equal(s.error?.error?.type, 'rate_limit_error');

      const e5 = await rejectsWith(
        mk(fr).messages.create({ model: 'gpt-4o-mini', max_tokens: 10, messages: user('boom #sim:status=500') }),
        Cls.InternalServerError, `${sdk} 500`);
      assert.equal(e5.status, 500);
      assert.equal(e5.error?.error?.type, 'api_error', JSON.stringify(e5.error));
      const e3 = await rejectsWith(
        mk(fr).messages.create({ model: 'gpt-4o-mini', max_tokens: 10, messages: user('busy #sim:status=503') }),
        Cls.APIError, `${sdk} 503`);
      assert.equal(e3.status, 503);
      assert.ok(['overloaded_error', 'api_error'].includes(e3.error?.error?.type), JSON.stringify(e3.error));
    }
  });

  test('untranslatable Anthropic fields: 400 naming the field (thinking replay, max_tokens 0)', async () => {
    const e = await rejectsWith(anthropic(fr).messages.create({
      model: 'gpt-4o-mini', max_tokens: 10,
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'hmm', signature: 'sig' }, { type: 'text', text: 'yo' }] },
        { role: 'user', content: 'again' },
      ],
    }), Anthropic.BadRequestError, 'thinking replay');
    assert.equal(e.error?.error?.type, 'invalid_request_error');
    assert.match(e.message, /messages\.1\.content\.0/);
    const z = await rejectsWith(anthropic(fr).messages.create({ model: 'gpt-4o-mini', max_tokens: 0, messages: user('x') }),
      Anthropic.BadRequestError, 'max_tokens 0');
    assert.match(z.message, /max_tokens/);
  });

  test('mid-stream upstream cut (#sim:cut_after=3) raises in both Anthropic SDKs', async () => {
    for (const [sdk, mk, Cls] of AN_CLIENTS) {
      const req = { model: 'gpt-4o-mini', max_tokens: 500, messages: user('cut me #sim:cut_after=3 #sim:tokens=60') };
      const [events, err] = await drain(await mk(fr).messages.create({ ...req, stream: true }));
      const types = events.map((e) => e.type);
      assert.ok(err, `${sdk}: no error; events: ${types.join(',')}`);
      assert.ok(err instanceof Cls.APIError, `${sdk}: ${err.constructor.name}: ${err.message}`);
      assert.equal(types[0], 'message_start', sdk);
      assert.ok(!types.includes('message_stop'), `${sdk}: a cut stream must not end with message_stop`);
      assert.ok(!types.includes('message_delta'), `${sdk}: a cut stream must not carry a stop_reason`);
      await assert.rejects(mk(fr).messages.stream(req).finalMessage(), (e) => e instanceof Cls.AnthropicError, `${sdk} helper`);
    }
  });
});

// ============================== streams with several blocks (recorder) ====

const anSse = (type, o) => `event: ${type}\ndata: ${JSON.stringify({ type, ...o })}\n\n`;
const oaSse = (o) => `data: ${JSON.stringify({ id: 'chatcmpl-rec', object: 'chat.completion.chunk', created: 1764000000, model: 'gpt-4o-mini', ...o })}\n\n`;
const SSE_HEADERS = { 'content-type': 'text/event-stream' };

describe('streams with thinking, text and parallel tool calls (recorder upstream)', () => {
  test('Anthropic upstream → OpenAI client: thinking skipped, text, two tool calls by index, usage', async () => {
    const events = [
      anSse('message_start', { message: {
        id: 'msg_rec', type: 'message', role: 'assistant', model: 'claude-haiku-4-5', content: [], stop_reason: null, stop_sequence: null,
        usage: { input_tokens: 40, cache_read_input_tokens: 1000, cache_creation_input_tokens: 200, output_tokens: 1 },
      } }),
      anSse('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }),
      anSse('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'secret reasoning' } }),
      anSse('content_block_delta', { index: 0, delta: { type: 'signature_delta', signature: 'sig' } }),
      anSse('content_block_stop', { index: 0 }),
      anSse('ping', {}),
      anSse('content_block_start', { index: 1, content_block: { type: 'text', text: '' } }),
      anSse('content_block_delta', { index: 1, delta: { type: 'text_delta', text: 'Checking ' } }),
      anSse('content_block_delta', { index: 1, delta: { type: 'text_delta', text: 'both.' } }),
      anSse('content_block_stop', { index: 1 }),
      anSse('content_block_start', { index: 2, content_block: { type: 'tool_use', id: 'toolu_A', name: 'get_weather', input: {} } }),
      anSse('content_block_delta', { index: 2, delta: { type: 'input_json_delta', partial_json: '{"city": "Os' } }),
      anSse('content_block_delta', { index: 2, delta: { type: 'input_json_delta', partial_json: 'lo", "unit": "c"}' } }),
      anSse('content_block_stop', { index: 2 }),
      anSse('content_block_start', { index: 3, content_block: { type: 'tool_use', id: 'toolu_B', name: 'get_time', input: {} } }),
      anSse('content_block_delta', { index: 3, delta: { type: 'input_json_delta', partial_json: '{"zone":' } }),
      anSse('content_block_delta', { index: 3, delta: { type: 'input_json_delta', partial_json: '"UTC"}' } }),
      anSse('content_block_stop', { index: 3 }),
      anSse('message_delta', { delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 42 } }),
      anSse('message_stop', {}),
    ].join('');
    rec.queue({ headers: SSE_HEADERS, body: events });
    const [chunks, err] = await drain(await openai(fr).chat.completions.create({
      model: 'rec-claude', stream: true, stream_options: { include_usage: true }, tools: OA_TOOLS, messages: user('x'),
    }));
    assert.equal(err, null, String(err));
    assert.equal(rec.last().json.stream, true);
    let text = '';
    const calls = [];
    let finish = null;
    for (const ch of chunks) {
      assert.equal(ch.model, 'rec-claude', 'chunks echo the model the client asked for');
      const c = ch.choices[0];
      if (!c) continue;
      text += c.delta?.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
      for (const d of c.delta?.tool_calls ?? []) {
        if (!calls[d.index]) calls[d.index] = { id: d.id, name: d.function?.name, args: '' };
        calls[d.index].args += d.function?.arguments ?? '';
      }
    }
    assert.equal(text, 'Checking both.', 'thinking must not leak into content');
    assert.equal(finish, 'tool_calls');
    assert.equal(calls.length, 2, JSON.stringify(calls));
    assert.deepEqual(calls.map((c) => [c.id, c.name]), [['toolu_A', 'get_weather'], ['toolu_B', 'get_time']]);
    assert.deepEqual(JSON.parse(calls[0].args), { city: 'Oslo', unit: 'c' });
    assert.deepEqual(JSON.parse(calls[1].args), { zone: 'UTC' });
    const u = chunks.at(-1).usage;
    assert.ok(u, 'include_usage: the last chunk carries usage');
    assert.equal(u.prompt_tokens, 1240);
    assert.equal(u.prompt_tokens_details.cached_tokens, 1000);
    assert.equal(u.completion_tokens, 42);
    assert.equal(u.total_tokens, 1282);

    // the same stream through the SDK helper
    rec.queue({ headers: SSE_HEADERS, body: events });
    const final = await openai(fr).chat.completions.stream({ model: 'rec-claude', tools: OA_TOOLS, messages: user('x') }).finalChatCompletion();
    assert.equal(final.choices[0].message.content, 'Checking both.');
    assert.deepEqual(final.choices[0].message.tool_calls.map((t) => JSON.parse(t.function.arguments)),
      [{ city: 'Oslo', unit: 'c' }, { zone: 'UTC' }]);
  });

  test('OpenAI upstream → Anthropic client: text block, then one tool_use block per call, usage', async () => {
    const tc = (o) => oaSse({ choices: [{ index: 0, delta: { tool_calls: [o] }, finish_reason: null }] });
    const body = [
      oaSse({ choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }),
      oaSse({ choices: [{ index: 0, delta: { content: 'Checking ' }, finish_reason: null }] }),
      oaSse({ choices: [{ index: 0, delta: { content: 'both.' }, finish_reason: null }] }),
      tc({ index: 0, id: 'call_A', type: 'function', function: { name: 'get_weather', arguments: '' } }),
      tc({ index: 0, function: { arguments: '{"city":' } }),
      tc({ index: 0, function: { arguments: '"Oslo","unit":"c"}' } }),
      tc({ index: 1, id: 'call_B', type: 'function', function: { name: 'get_time', arguments: '{"zone"' } }),
      tc({ index: 1, function: { arguments: ':"UTC"}' } }),
      oaSse({ choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] }),
      oaSse({ choices: [], usage: { prompt_tokens: 1500, completion_tokens: 33, total_tokens: 1533, prompt_tokens_details: { cached_tokens: 1280 } } }),
      'data: [DONE]\n\n',
    ].join('');
    rec.queue({ headers: SSE_HEADERS, body });
    const [events, err] = await drain(await anthropic(fr).messages.create({
      model: 'rec-gpt', max_tokens: 100, stream: true, tools: AN_TOOLS, messages: user('x'),
    }));
    assert.equal(err, null, String(err));
    const up = rec.last().json;
    assert.equal(up.stream, true);
    assert.equal(up.stream_options?.include_usage, true, 'frugal must ask the OpenAI upstream for the usage chunk');
    const types = events.map((e) => e.type);
    assert.equal(types[0], 'message_start');
    assert.equal(events[0].message.model, 'rec-gpt');
    assert.deepEqual(types.slice(-2), ['message_delta', 'message_stop']);
    const starts = events.filter((e) => e.type === 'content_block_start');
    assert.deepEqual(starts.map((e) => [e.index, e.content_block.type]), [[0, 'text'], [1, 'tool_use'], [2, 'tool_use']]);
    assert.deepEqual(starts.slice(1).map((e) => [e.content_block.id, e.content_block.name]), [['call_A', 'get_weather'], ['call_B', 'get_time']]);
    // every block is stopped once, after its deltas, before the next starts
    const open = new Set();
    for (const e of events) {
      if (e.type === 'content_block_start') {
        assert.equal(open.size, 0, `block ${e.index} started while ${[...open]} open`);
        open.add(e.index);
      } else if (e.type === 'content_block_delta') {
        assert.ok(open.has(e.index), `delta for block ${e.index}, which is not open`);
      } else if (e.type === 'content_block_stop') {
        assert.ok(open.delete(e.index), `stop for block ${e.index}, which is not open`);
      }
    }
    assert.equal(open.size, 0);
    const md = events.find((e) => e.type === 'message_delta');
    assert.equal(md.delta.stop_reason, 'tool_use');
    assert.equal(md.usage.output_tokens, 33);
    assert.equal(md.usage.input_tokens, 220);
    assert.equal(md.usage.cache_read_input_tokens, 1280);

    rec.queue({ headers: SSE_HEADERS, body });
    const final = await anthropicLegacy(fr).messages.stream({ model: 'rec-gpt', max_tokens: 100, tools: AN_TOOLS, messages: user('x') }).finalMessage();
    assert.equal(final.content[0].text, 'Checking both.');
    assert.deepEqual(final.content.slice(1).map((b) => b.input), [{ city: 'Oslo', unit: 'c' }, { zone: 'UTC' }]);
    assert.equal(final.usage.input_tokens, 220);
    assert.equal(final.usage.cache_read_input_tokens, 1280);
  });
});

// ======================================================== robustness ====

describe('translated streams that go wrong', () => {
  test('unreadable upstream event (#sim:invalid_json): both SDKs raise, non-stream is a 502', async () => {
    const [oChunks, oErr] = await drain(await openai(fr).chat.completions.create({
      model: 'claude-haiku-4-5', stream: true, messages: user('x #sim:invalid_json'),
    }));
    assert.ok(oErr instanceof OpenAI.APIError, `OpenAI: ${oErr} after ${oChunks.length} chunks`);
    for (const [sdk, mk, Cls] of AN_CLIENTS) {
      const [events, err] = await drain(await mk(fr).messages.create({
        model: 'gpt-4o-mini', max_tokens: 50, stream: true, messages: user('x #sim:invalid_json'),
      }));
      assert.ok(err instanceof Cls.APIError, `${sdk}: ${err} after ${events.map((e) => e.type).join(',')}`);
      assert.ok(!events.some((e) => e.type === 'message_stop'), sdk);
    }
    const e = await rejectsWith(openai(fr).chat.completions.create({ model: 'claude-haiku-4-5', messages: user('x #sim:invalid_json') }),
      OpenAI.InternalServerError, 'non-stream invalid JSON');
    assert.equal(e.status, 502);
    const ea = await rejectsWith(anthropic(fr).messages.create({ model: 'gpt-4o-mini', max_tokens: 9, messages: user('x #sim:invalid_json') }),
      Anthropic.InternalServerError, 'non-stream invalid JSON (Anthropic)');
    assert.equal(ea.status, 502);
    assert.equal(ea.error?.error?.type, 'api_error', JSON.stringify(ea.error));
  });

  test('client hangs up mid translated stream (both directions): frugal keeps serving', async () => {
    const { request } = await import('node:http');
    const slow = '#sim:event_delay_ms=100 #sim:tokens=200';
    for (const [path, body, headers] of [
      ['/v1/chat/completions', { model: 'claude-haiku-4-5', stream: true, messages: user(`slow ${slow}`) }, {}],
      ['/v1/messages', { model: 'gpt-4o-mini', max_tokens: 4000, stream: true, messages: user(`slow ${slow}`) }, { 'anthropic-version': '2026-10-21' }],
    ]) {
      const first = await new Promise((resolve, reject) => {
        const data = JSON.stringify(body);
        const req = request(`${fr.url}${path}`, {
          method: 'POST', agent: false,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers },
        }, (res) => {
          res.once('data', (d) => {
            req.destroy();
            resolve(String(d));
          });
        });
        req.on('error', (e) => {
          if (!req.destroyed) reject(e);
        });
        req.end(data);
      });
      assert.match(first, path === '/v1/messages' ? /^event: message_start/ : /^data: /);
    }
    await sleep(300);
    const [o, a] = await Promise.all([
      openai(fr).chat.completions.create({ model: 'claude-haiku-4-5', messages: user('still there?') }),
      anthropic(fr).messages.create({ model: 'gpt-4o-mini', max_tokens: 100, messages: user('still there?') }),
    ]);
    assert.match(o.choices[0].message.content, /^Simulated reply/);
    assert.match(a.content[0].text, /^Simulated reply/);
  });
});

// ====================================================== ledger and cost ====

describe('ledger: translated calls are priced and counted', () => {
  async function metric(name) {
    const r = await call(fr, '/metrics', { method: 'GET' });
    const line = r.text.split('\n').find((l) => l.startsWith(`${name} `));
    return line ? Number(line.slice(name.length + 1)) : NaN;
  }
  async function spend() {
    const r = await call(fr, '/frugal/spend?since=1h', { method: 'GET' });
    assert.equal(r.status, 200, r.text);
    return r.json;
  }
  const row = (sp, model) => sp.by_model.find((x) => x.model === model) ?? { requests: 0, cost_usd: 0 };

  test('x-frugal-cost-usd on translated calls; GET /frugal/spend counts them under the model asked for', async () => {
    // start on a fresh second with an empty queue: /frugal/spend counts whole seconds
    await waitFor(async () => (await metric('frugal_ledger_queue_depth')) === 0, { what: 'an empty ledger queue' });
    await sleep(1000 - (Date.now() % 1000) + 20);
    const before = await spend();
    const w0 = await metric('frugal_ledger_written_total');

    const costs = { 'claude-sonnet-4-5': 0, 'gpt-4o': 0, 'rec-claude': 0 };
    for (let i = 0; i < 3; i++) {
      const { data, response } = await openai(fr)
        .chat.completions.create({ model: 'claude-sonnet-4-5', messages: user(`ledger call ${i} #sim:tokens=50`) })
        .withResponse();
      const v = assertCostHeader(response.headers, 'OpenAI → claude-sonnet-4-5');
      // no cache traffic: every prompt token is uncached input
      assert.equal(response.headers.get('x-frugal-cost-usd'),
        usd6('claude-sonnet-4-5', { input: data.usage.prompt_tokens, output: data.usage.completion_tokens }));
      costs['claude-sonnet-4-5'] += v;
    }
    for (let i = 0; i < 2; i++) {
      const { data, response } = await anthropicLegacy(fr)
        .messages.create({ model: 'gpt-4o', max_tokens: 200, messages: user(`ledger call ${i} #sim:tokens=50`) })
        .withResponse();
      const v = assertCostHeader(response.headers, 'Anthropic → gpt-4o');
      assert.equal(response.headers.get('x-frugal-cost-usd'),
        usd6('gpt-4o', { input: data.usage.input_tokens, output: data.usage.output_tokens }));
      costs['gpt-4o'] += v;
    }
    // an alias (upstream claude-haiku-4-5 behind the recorder) is its own row
    const { response: ra } = await openai(fr)
      .chat.completions.create({ model: 'rec-claude', messages: user('ledger alias') }).withResponse();
    costs['rec-claude'] += assertCostHeader(ra.headers, 'OpenAI → rec-claude');
    // streamed translated calls are priced (SSE comment) and counted too
    const streamCost = {};
    for (const [path, model, body, headers] of [
      ['/v1/chat/completions', 'claude-sonnet-4-5', { messages: user('ledger stream #sim:tokens=50') }, {}],
      ['/v1/messages', 'gpt-4o', { max_tokens: 200, messages: user('ledger stream #sim:tokens=50') }, { 'anthropic-version': '2026-10-21' }],
    ]) {
      const raw = await rawStream(path, { model, stream: true, ...body }, headers);
      assert.equal(raw.status, 200);
      const m = /^: x-frugal-cost-usd=(\d+\.\d{6}) /m.exec(raw.text);
      assert.ok(m, `${model}: no cost comment in the translated stream:\n${raw.text.slice(-600)}`);
      assert.ok(Number(m[1]) > 0, `${model}: stream cost ${m[1]}`);
      streamCost[model] = Number(m[1]);
      costs[model] += Number(m[1]);
    }

    await waitFor(async () => (await metric('frugal_ledger_written_total')) >= w0 + 8 &&
      (await metric('frugal_ledger_queue_depth')) === 0, { what: '8 ledger records' });
    await sleep(1000 - (Date.now() % 1000) + 20);
    const after = await spend();
    assert.equal(after.requests - before.requests, 8, `total requests ${before.requests} → ${after.requests}`);
    for (const [model, n] of [['claude-sonnet-4-5', 4], ['gpt-4o', 3], ['rec-claude', 1]]) {
      const b = row(before, model);
      const a = row(after, model);
      assert.equal(a.requests - b.requests, n,
        `${model}: by_model requests ${b.requests} → ${a.requests}; by_model now ${JSON.stringify(after.by_model)}`);
      const d = a.cost_usd - b.cost_usd;
      assert.ok(Math.abs(d - costs[model]) <= 1e-6 * (n + 1),
        `${model}: ledger cost grew by ${d}, the calls' x-frugal-cost-usd add up to ${costs[model]}`);
    }
  });
});

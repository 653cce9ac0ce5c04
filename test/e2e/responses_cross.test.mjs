// responses_cross.test.mjs — Responses conversations across dialects (issue
// 18): the translators (Responses → Anthropic, Responses → Chat) and the
// conversation state frugal owns, together.  A tool round trip whose second
// turn carries only previous_response_id + function_call_output, to a Claude
// model and to a Chat-only provider, created and streamed; a conversation
// whose turns alternate between a cheap model on an OpenAI (Responses)
// account and a frontier Claude model (a route + x-frugal-route, and plain
// model switches), checked on the wire with recording providers; GET and
// input_items of translated calls from frugal's store; @openai/agents and
// the Vercel AI SDK continuing with previous_response_id against Claude; a
// batch of /v1/responses lines to Claude as an Anthropic Message Batch; the
// ledger rows of the translated turns and the spend map; a streamed call
// the provider answered with one JSON body still streams to the client.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { z } from 'zod';
import { toFile } from 'openai';
import { generateText } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { Agent, run, setDefaultOpenAIClient, setOpenAIAPI, setTracingDisabled, tool } from '@openai/agents';

import {
  OpenAI,
  call,
  ledgerFlushed,
  openai,
  startFrugal,
  startSim,
  tempDir,
  test as libTest,
  waitFor,
} from './lib/frugal.mjs';
import { startRecorder } from './lib/recorder.mjs';

const test = (name, fn) => libTest(name, { timeout: 60000 }, fn);
const MASTER = 'sk-master-rcross-e2e';
const FRUGAL_ID = /^resp_[0-9a-f]{32}$/;

let fr;
let dir;
let db;
let recO; // an OpenAI account that answers Responses
let recA; // an Anthropic account
let recC; // a Chat-Completions-only provider
before(async () => {
  recO = await startRecorder();
  recA = await startRecorder();
  recC = await startRecorder();
  dir = tempDir();
  db = join(dir, 'frugal.db');
  fr = await startFrugal({
    name: 'frugal-rcross', cwd: dir,
    config: {
      storage: `sqlite:${db}`,
      server: { master_key: MASTER },
      providers: [
        { name: 'sim', type: 'sim' },
        { name: 'sim-chat', type: 'sim', responses: false },
        { name: 'oai', type: 'openai', base_url: `${recO.url}/v1`, api_key: 'sk-rcross-oai' },
        { name: 'ant', type: 'anthropic', base_url: recA.url, api_key: 'sk-ant-rcross' },
        { name: 'chat', type: 'openai', base_url: `${recC.url}/v1`, api_key: 'sk-rcross-chat', responses: false },
      ],
      models: [
        { name: 'claude-haiku-4-5', provider: 'sim' },
        { name: 'chat-mini', provider: 'sim-chat', model: 'gpt-4o-mini' },
        { name: 'cheap-oai', provider: 'oai', model: 'gpt-4o-mini' },
        { name: 'claude-sonnet-4-5', provider: 'ant' },
        { name: 'chat-4o', provider: 'chat', model: 'gpt-4o' },
      ],
      routes: [{ name: 'mix', cheap: 'cheap-oai', frontier: 'claude-sonnet-4-5' }],
    },
  });
});
after(async () => {
  await fr?.stop();
  await recO?.stop();
  await recA?.stop();
  await recC?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const client = (o = {}) => openai(fr, o);
const lastPost = (rec) => rec.requests.filter((r) => r.method === 'POST').at(-1);
const sql = (q) => JSON.parse(execFileSync('sqlite3', ['-json', db, q]).toString() || '[]');

async function freshKey(name) {
  const r = await call(fr, '/frugal/keys', { body: { name } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

const weatherTool = {
  type: 'function', name: 'get_weather', description: 'Weather in a city', strict: true,
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
};

/* The OpenAI account answers like the Responses API: its own ids, one
 * encrypted reasoning item (only that account can read it) and a message. */
function answerResponses(rec, prefix) {
  let n = 0;
  rec.behave = (e) => {
    if (e.method !== 'POST') return { status: 404, body: { error: { message: 'not here', type: 'invalid_request_error' } } };
    const b = e.json ?? {};
    n += 1;
    return {
      body: {
        id: `resp_${prefix}_${n}`, object: 'response', created_at: 1, status: 'completed', model: b.model,
        error: null, incomplete_details: null, instructions: b.instructions ?? null, metadata: {},
        parallel_tool_calls: true, temperature: 1, top_p: 1, tool_choice: 'auto', tools: [],
        previous_response_id: b.previous_response_id ?? null,
        output: [
          { type: 'reasoning', id: `rs_${prefix}_${n}`, summary: [], encrypted_content: `gAAAA-secret-${prefix}-${n}` },
          { type: 'message', id: `msg_${prefix}_${n}`, role: 'assistant', status: 'completed',
            content: [{ type: 'output_text', text: `${prefix} answer ${n}`, annotations: [] }] },
        ],
        usage: { input_tokens: 100 * n, input_tokens_details: { cached_tokens: 0 },
          output_tokens: 7, output_tokens_details: { reasoning_tokens: 3 }, total_tokens: 100 * n + 7 },
      },
    };
  };
}

/* The Anthropic account: a text answer naming the turn, usage by turn. */
function answerMessages(rec, prefix) {
  let n = 0;
  rec.behave = (e) => {
    if (e.json?.stream) return {}; // the recorder's own SSE stream ("Recorded reply.")
    n += 1;
    return {
      body: {
        id: `msg_${prefix}_${n}`, type: 'message', role: 'assistant', model: e.json?.model ?? 'x',
        content: [{ type: 'text', text: `${prefix} answer ${n}` }], stop_reason: 'end_turn', stop_sequence: null,
        usage: { input_tokens: 200 * n, output_tokens: 9 },
      },
    };
  };
}

const textOf = (m) => (typeof m.content === 'string' ? m.content : m.content.map((p) => p.text ?? '').join(''));

describe('tool round trips with previous_response_id across dialects', () => {
  for (const model of ['claude-haiku-4-5', 'chat-mini']) {
    test(`${model}: turn 2 sends only previous_response_id + function_call_output`, async () => {
      const c = client();
      const r1 = await c.responses.create({ model, input: 'Use get_weather for Oslo.', tools: [weatherTool] });
      assert.match(r1.id, FRUGAL_ID);
      const fc = r1.output.find((o) => o.type === 'function_call');
      assert.ok(fc, JSON.stringify(r1.output));
      const r2 = await c.responses.create({
        model, tools: [weatherTool], previous_response_id: r1.id,
        input: [{ type: 'function_call_output', call_id: fc.call_id, output: '{"temp_c":4}' }],
      });
      assert.equal(r2.status, 'completed');
      assert.match(r2.id, FRUGAL_ID);
      assert.equal(r2.previous_response_id, r1.id);
      assert.ok(!r2.output.some((o) => o.type === 'function_call'), `the tool result was read: ${JSON.stringify(r2.output)}`);
      assert.ok(r2.output_text.length > 0);
    });

    test(`${model}: the same round trip streamed`, async () => {
      const c = client();
      const s1 = c.responses.stream({ model, input: 'Use get_weather for Oslo.', tools: [weatherTool] });
      const ids = new Set();
      for await (const ev of s1) if (ev.response) ids.add(ev.response.id);
      const r1 = await s1.finalResponse();
      assert.match(r1.id, FRUGAL_ID);
      assert.deepEqual([...ids], [r1.id], 'every lifecycle event carries frugal\'s id');
      const fc = r1.output.find((o) => o.type === 'function_call');
      assert.ok(fc, JSON.stringify(r1.output));
      const s2 = c.responses.stream({
        model, tools: [weatherTool], previous_response_id: r1.id,
        input: [{ type: 'function_call_output', call_id: fc.call_id, output: '{"temp_c":4}' }],
      });
      const r2 = await s2.finalResponse();
      assert.equal(r2.status, 'completed');
      assert.equal(r2.previous_response_id, r1.id);
      assert.ok(!r2.output.some((o) => o.type === 'function_call'), JSON.stringify(r2.output));
      // and a third turn, plain text, continuing the streamed one
      const r3 = await c.responses.create({ model, input: 'Thanks.', previous_response_id: r2.id });
      assert.equal(r3.status, 'completed');
    });
  }

  test('on the Anthropic wire: tool_use out, then the whole history with the tool_result under the same id', async () => {
    recA.behave = null;
    recA.queue({
      body: {
        id: 'msg_tool_1', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5',
        content: [{ type: 'text', text: 'Checking.' }, { type: 'tool_use', id: 'toolu_oslo', name: 'get_weather', input: { city: 'Oslo' } }],
        stop_reason: 'tool_use', stop_sequence: null, usage: { input_tokens: 50, output_tokens: 12 },
      },
    });
    const c = client();
    const r1 = await c.responses.create({ model: 'claude-sonnet-4-5', instructions: 'Use tools.', input: 'Weather in Oslo?', tools: [weatherTool] });
    const fc = r1.output.find((o) => o.type === 'function_call');
    assert.equal(fc.call_id, 'toolu_oslo');
    assert.deepEqual(JSON.parse(fc.arguments), { city: 'Oslo' });
    const r2 = await c.responses.create({
      model: 'claude-sonnet-4-5', tools: [weatherTool], previous_response_id: r1.id,
      input: [{ type: 'function_call_output', call_id: 'toolu_oslo', output: '{"temp_c":4}' }],
    });
    assert.equal(r2.output_text, 'Recorded reply.');
    const up = lastPost(recA).json;
    assert.equal(up.previous_response_id, undefined);
    assert.equal(up.system, undefined, 'instructions of an earlier turn are not carried over (as OpenAI does)');
    assert.deepEqual(up.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.equal(textOf(up.messages[0]), 'Weather in Oslo?');
    const use = up.messages[1].content.find((p) => p.type === 'tool_use');
    assert.deepEqual(use, { type: 'tool_use', id: 'toolu_oslo', name: 'get_weather', input: { city: 'Oslo' } });
    const res = up.messages[2].content.find((p) => p.type === 'tool_result');
    assert.equal(res.tool_use_id, 'toolu_oslo');
    assert.match(JSON.stringify(res.content), /temp_c/);
  });
});

describe('a conversation alternating between providers and dialects', () => {
  let turns; // [{ id, upstream provider }]
  test('route tiers and plain model switches: every later turn carries only previous_response_id', async () => {
    answerResponses(recO, 'o');
    answerMessages(recA, 'a');
    recC.behave = null;
    const k = await freshKey('alternating');
    const c = client({ apiKey: k.key });
    const tier = (t) => ({ headers: { 'x-frugal-route': t } });

    // 1: the cheap tier, an OpenAI account answering Responses natively
    const t1 = await c.responses.create({ model: 'mix', instructions: 'Be brief.', input: 'Plan a trip to Oslo.' }, tier('cheap')).withResponse();
    assert.equal(t1.response.headers.get('x-frugal-model'), 'cheap-oai');
    assert.match(t1.data.id, FRUGAL_ID);
    assert.equal(t1.data.output_text, 'o answer 1');
    assert.ok(!JSON.stringify(t1.data).includes('resp_o_1'), 'the client never sees the provider\'s id');

    // 2: the frontier tier, a Claude model: the history is expanded and translated
    const t2 = await c.responses.create({ model: 'mix', previous_response_id: t1.data.id, input: 'Make it cheaper.' }, tier('frontier')).withResponse();
    assert.equal(t2.response.headers.get('x-frugal-model'), 'claude-sonnet-4-5');
    assert.equal(t2.data.previous_response_id, t1.data.id);
    assert.equal(t2.data.output_text, 'a answer 1');
    let up = lastPost(recA);
    assert.equal(up.path, '/v1/messages');
    assert.ok(!JSON.stringify(up.json).includes('gAAAA'), 'encrypted reasoning stays on the OpenAI account');
    assert.ok(!('previous_response_id' in up.json));
    assert.deepEqual(up.json.messages.map((m) => [m.role, textOf(m)]),
      [['user', 'Plan a trip to Oslo.'], ['assistant', 'o answer 1'], ['user', 'Make it cheaper.']]);

    // 3: back to the cheap tier: the account holds turn 1 but not turn 2, so it gets the whole history
    const t3 = await c.responses.create({ model: 'mix', previous_response_id: t2.data.id, input: 'And by train?' }, tier('cheap'));
    up = lastPost(recO).json;
    assert.ok(!('previous_response_id' in up), JSON.stringify(up));
    assert.ok(!JSON.stringify(up).includes('gAAAA'), 'its own reasoning is dropped too once the chain left the account');
    assert.deepEqual(up.input.map((i) => typeof i.content === 'string' ? i.content : i.content.map((p) => p.text).join('')),
      ['Plan a trip to Oslo.', 'o answer 1', 'Make it cheaper.', 'a answer 1', 'And by train?']);

    // 4: a plain model switch to a Chat-only provider
    const t4 = await c.responses.create({ model: 'chat-4o', previous_response_id: t3.id, input: 'Summarise.' });
    assert.equal(t4.output_text, 'Recorded reply.');
    up = lastPost(recC);
    assert.equal(up.path, '/v1/chat/completions');
    assert.deepEqual(up.json.messages.map((m) => [m.role, m.content]), [
      ['user', 'Plan a trip to Oslo.'], ['assistant', 'o answer 1'], ['user', 'Make it cheaper.'], ['assistant', 'a answer 1'],
      ['user', 'And by train?'], ['assistant', 'o answer 2'], ['user', 'Summarise.']]);

    // 5: continuing turn 3 on the account that holds it: its own id, nothing expanded
    const t5 = await c.responses.create({ model: 'cheap-oai', previous_response_id: t3.id, input: 'One more.' });
    up = lastPost(recO).json;
    assert.equal(up.previous_response_id, 'resp_o_2');
    assert.equal(up.input, 'One more.');
    assert.equal(t5.previous_response_id, t3.id);

    // 6: and the Claude model streamed, continuing the Chat-only turn
    const s6 = c.responses.stream({ model: 'claude-sonnet-4-5', previous_response_id: t4.id, input: 'Last one.' });
    const t6 = await s6.finalResponse();
    assert.equal(t6.previous_response_id, t4.id);
    assert.equal(t6.output_text, 'Recorded reply.');
    up = lastPost(recA).json;
    assert.equal(up.stream, true);
    assert.equal(up.messages.length, 9, JSON.stringify(up.messages));
    assert.equal(textOf(up.messages[7]), 'Recorded reply.');
    turns = { k, ids: [t1.data.id, t2.data.id, t3.id, t4.id, t5.id, t6.id] };
  });

  test('the ledger: one row per turn with its model, provider, tokens and cost; the spend map agrees', async () => {
    assert.ok(turns, 'needs the conversation above');
    await ledgerFlushed(fr, 0);
    const rows = await waitFor(() => {
      const r = sql(`SELECT model_requested, model, provider, route, endpoint, stream, status, input_tokens, output_tokens, reasoning_tokens, cost_pico
        FROM calls WHERE key_id = '${turns.k.id}' ORDER BY ts_ms, rowid`);
      return r.length >= 6 ? r : null;
    }, { timeoutMs: 10000, what: 'six ledger rows' });
    assert.equal(rows.length, 6, JSON.stringify(rows));
    assert.deepEqual(rows.map((r) => [r.model, r.provider, r.endpoint, r.status]), [
      ['cheap-oai', 'oai', 'responses', 200], ['claude-sonnet-4-5', 'ant', 'responses', 200], ['cheap-oai', 'oai', 'responses', 200],
      ['chat-4o', 'chat', 'responses', 200], ['cheap-oai', 'oai', 'responses', 200], ['claude-sonnet-4-5', 'ant', 'responses', 200]]);
    assert.deepEqual(rows.map((r) => [r.model_requested, r.route]), [['mix', 'cheap'], ['mix', 'frontier'], ['mix', 'cheap'],
      ['chat-4o', 'fixed'], ['cheap-oai', 'fixed'], ['claude-sonnet-4-5', 'fixed']]);
    // tokens as each upstream reported them
    assert.deepEqual(rows.map((r) => [r.input_tokens, r.output_tokens]), [[100, 7], [200, 9], [200, 7], [11, 3], [300, 7], [11, 3]]);
    assert.equal(rows[0].reasoning_tokens, 3);
    assert.deepEqual(rows.map((r) => r.stream), [0, 0, 0, 0, 0, 1]);
    // cost from the price table (pico-USD per token: gpt-4o-mini 0.15/0.6 per M, claude-sonnet-4-5 3/15, gpt-4o 2.5/10)
    assert.deepEqual(rows.map((r) => r.cost_pico), [19200000, 735000000, 34200000, 57500000, 49200000, 78000000]);
    const r = await call(fr, `/frugal/spend?since=1h&by=model&key=${turns.k.id}`, { method: 'GET' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.requests, 6);
    const total = rows.reduce((s, x) => s + BigInt(x.cost_pico), 0n);
    assert.equal(Math.round(Number(r.json.cost_usd) * 1e6), Math.round(Number(total) / 1e6), JSON.stringify(r.json));
  });
});

describe('stored translated responses', () => {
  for (const model of ['claude-haiku-4-5', 'chat-mini']) {
    test(`${model}: GET and input_items answer from frugal's store (created and streamed)`, async () => {
      const c = client();
      const input = [{ role: 'user', content: 'first' }, { role: 'user', content: 'second' }];
      const r = await c.responses.create({ model, instructions: 'Be brief.', input });
      const got = await c.responses.retrieve(r.id);
      assert.equal(got.id, r.id);
      assert.equal(got.model, model);
      assert.equal(got.output_text, r.output_text);
      assert.deepEqual(got.output, r.output);
      assert.deepEqual(got.usage, r.usage);
      const items = await c.responses.inputItems.list(r.id, { order: 'asc' });
      assert.deepEqual(items.data.map((i) => i.content[0].text), ['first', 'second']);

      const s = c.responses.stream({ model, input: 'streamed', previous_response_id: r.id });
      const f = await s.finalResponse();
      const g2 = await c.responses.retrieve(f.id);
      assert.equal(g2.output_text, f.output_text);
      assert.equal(g2.previous_response_id, r.id);
      const i2 = await c.responses.inputItems.list(f.id, { order: 'asc' });
      assert.deepEqual(i2.data.map((i) => i.content[0].text), ['streamed'], 'a turn\'s own input, as OpenAI lists it');

      await c.responses.delete(f.id);
      const e = await c.responses.retrieve(f.id).catch((x) => x);
      assert.ok(e instanceof OpenAI.NotFoundError, String(e));
    });
  }
});

/* An OpenAI client that records every request body it sends (to check what
 * the SDKs put on the wire: previous_response_id and only the new items). */
function recordingClient(sent) {
  return new OpenAI({
    apiKey: MASTER, baseURL: `${fr.url}/v1`, maxRetries: 0,
    fetch: async (url, init) => {
      if (init?.body && typeof init.body === 'string') sent.push(JSON.parse(init.body));
      return fetch(url, init);
    },
  });
}

describe('SDKs continuing with previous_response_id against Claude', () => {
  test('@openai/agents with previousResponseId: a tool loop and a second run, each turn sends only new items', async () => {
    setTracingDisabled(true);
    setOpenAIAPI('responses');
    const sent = [];
    setDefaultOpenAIClient(recordingClient(sent));
    const seen = [];
    const getWeather = tool({
      name: 'get_weather', description: 'Weather in a city',
      parameters: z.object({ city: z.string() }),
      execute: async ({ city }) => { seen.push(city); return `4 C in ${city}`; },
    });
    const agent = new Agent({ name: 'Weather', instructions: 'Use tools.', model: 'claude-haiku-4-5', tools: [getWeather] });
    const first = await run(agent, 'Say hello.');
    assert.match(first.finalOutput, /^Simulated reply from claude-haiku-4-5/);
    assert.match(first.lastResponseId, FRUGAL_ID);
    const second = await run(agent, 'Use get_weather for Oslo.', { previousResponseId: first.lastResponseId });
    assert.equal(seen.length, 1, 'the tool ran once');
    assert.match(second.finalOutput, /^Simulated reply from claude-haiku-4-5/);
    const turns = sent.filter((b) => b.model === 'claude-haiku-4-5');
    assert.ok(turns.length >= 3, JSON.stringify(turns));
    // the second run's turns are chained by previous_response_id, each with only its new items
    const chained = turns.slice(1);
    assert.ok(chained.every((b) => FRUGAL_ID.test(b.previous_response_id)), JSON.stringify(chained));
    assert.equal(chained[0].previous_response_id, first.lastResponseId);
    const out = chained.find((b) => Array.isArray(b.input) && b.input.some((i) => i.type === 'function_call_output'));
    assert.ok(out, JSON.stringify(chained));
    assert.ok(!out.input.some((i) => i.type === 'function_call' || i.role === 'user'), 'only the tool output is sent');
  });

  test('Vercel AI SDK default provider with providerOptions.openai.previousResponseId', async () => {
    const sent = [];
    const provider = createOpenAI({
      baseURL: `${fr.url}/v1`, apiKey: MASTER,
      fetch: async (url, init) => {
        if (typeof init?.body === 'string') sent.push(JSON.parse(init.body));
        return fetch(url, init);
      },
    });
    const model = provider('claude-sonnet-4-5');
    answerMessages(recA, 'v');
    const g1 = await generateText({ model, prompt: 'Remember heron.', maxRetries: 0 });
    assert.equal(g1.text, 'v answer 1');
    const id = g1.providerMetadata?.openai?.responseId;
    assert.match(id, FRUGAL_ID);
    const g2 = await generateText({ model, prompt: 'Which bird?', maxRetries: 0,
      providerOptions: { openai: { previousResponseId: id } } });
    assert.equal(g2.text, 'v answer 2');
    assert.equal(sent.at(-1).previous_response_id, id);
    const up = lastPost(recA).json;
    assert.deepEqual(up.messages.map((m) => [m.role, textOf(m)]),
      [['user', 'Remember heron.'], ['assistant', 'v answer 1'], ['user', 'Which bird?']]);
  });
});

describe('a batch of /v1/responses lines to a Claude model', () => {
  test('runs as an Anthropic Message Batch (batch: provider), answers are Responses, priced at the batch rate', async () => {
    const sim = await startSim({ name: 'sim-rcross-batch' });
    const bdir = tempDir();
    const bdb = join(bdir, 'frugal.db');
    const g = await startFrugal({
      name: 'frugal-rcross-batch', cwd: bdir,
      config: {
        storage: `sqlite:${bdb}`,
        providers: [{ name: 'ant', type: 'anthropic', base_url: sim.url, api_key: 'sk-ant-rcross-batch', batch: 'provider' }],
        models: [{ name: 'claude-haiku-4-5', provider: 'ant' }],
        batches: { poll_ms: 50, poll_max_ms: 200 },
      },
    });
    try {
      const c = openai(g);
      const line = (id, body) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/responses',
        body: { model: 'claude-haiku-4-5', max_output_tokens: 80, ...body } });
      const f = await c.files.create({ purpose: 'batch', file: await toFile(Buffer.from([
        line('b1', { input: 'Summarise batching.' }),
        line('b2', { instructions: 'Be brief.', input: [{ role: 'user', content: 'A second line.' }] }),
        line('b3', { input: 'Use get_weather for Oslo.', tools: [weatherTool] }),
      ].join('\n') + '\n'), 'in.jsonl') });
      const b0 = await c.batches.create({ input_file_id: f.id, endpoint: '/v1/responses', completion_window: '24h' });
      const b = await waitFor(async () => {
        const x = await c.batches.retrieve(b0.id);
        return ['completed', 'failed', 'expired', 'cancelled'].includes(x.status) ? x : null;
      }, { timeoutMs: 30000, stepMs: 100, what: 'the batch to finish' });
      assert.equal(b.status, 'completed', JSON.stringify(b));
      assert.deepEqual(b.request_counts, { total: 3, completed: 3, failed: 0 });
      const out = (await (await c.files.content(b.output_file_id)).text()).split('\n').filter(Boolean).map((l) => JSON.parse(l));
      assert.deepEqual(out.map((l) => l.custom_id).sort(), ['b1', 'b2', 'b3']);
      for (const l of out) {
        assert.equal(l.response.status_code, 200, JSON.stringify(l));
        assert.equal(l.response.body.object, 'response', JSON.stringify(l));
        assert.ok(l.response.body.usage.input_tokens > 0);
      }
      const b3 = out.find((l) => l.custom_id === 'b3').response.body;
      assert.ok(b3.output.some((o) => o.type === 'function_call' && o.name === 'get_weather'), JSON.stringify(b3.output));
      // the provider saw one Message Batch with the three lines (not three real-time calls)
      const r = await fetch(`${sim.url}/v1/messages/batches`, { headers: { 'x-api-key': 'sk-ant-rcross-batch', 'anthropic-version': '2023-06-01' } });
      const list = await r.json();
      assert.equal(list.data.length, 1, JSON.stringify(list));
      assert.equal(list.data[0].request_counts.succeeded, 3);
      // the ledger: one row per line at the batch price (half of 1/5 USD per M tokens)
      await ledgerFlushed(g, 0);
      const rows = await waitFor(() => {
        const x = JSON.parse(execFileSync('sqlite3', ['-json', bdb,
          `SELECT endpoint, model, provider, batch, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cost_pico
           FROM calls WHERE batch_id = '${b.id}' AND status = 200`]).toString() || '[]');
        return x.length >= 3 ? x : null;
      }, { timeoutMs: 10000, what: 'three ledger rows' });
      assert.equal(rows.length, 3, JSON.stringify(rows));
      for (const x of rows) {
        assert.deepEqual([x.endpoint, x.model, x.provider, x.batch], ['batch', 'claude-haiku-4-5', 'ant', 1], JSON.stringify(x));
        assert.equal(x.cache_read_tokens + x.cache_write_5m_tokens, 0, JSON.stringify(x));
        assert.equal(x.cost_pico, x.input_tokens * 500000 + x.output_tokens * 2500000, JSON.stringify(x));
      }
    } finally {
      await g.stop();
      await sim.stop();
      rmSync(bdir, { recursive: true, force: true });
    }
  });
});

describe('a stream the provider answered with one JSON body', () => {
  test('the client that asked for a stream still gets one (Claude and a Chat-only provider)', async () => {
    for (const [rec, model, body] of [
      [recA, 'claude-sonnet-4-5', { id: 'msg_j', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5',
        content: [{ type: 'text', text: 'json not sse' }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 5, output_tokens: 3 } }],
      [recC, 'chat-4o', { id: 'c1', object: 'chat.completion', created: 1, model: 'gpt-4o', choices: [{ index: 0,
        message: { role: 'assistant', content: 'json not sse' }, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 } }],
    ]) {
      rec.behave = null;
      rec.queue({ body });
      const s = client({ maxRetries: 0 }).responses.stream({ model, input: 'Stream, please.' });
      const types = [];
      for await (const ev of s) types.push(ev.type);
      const final = await s.finalResponse();
      assert.equal(final.output_text, 'json not sse', model);
      assert.match(final.id, FRUGAL_ID);
      assert.equal(types[0], 'response.created', types.join());
      assert.equal(types.at(-1), 'response.completed', types.join());
      const got = await client().responses.retrieve(final.id);
      assert.equal(got.output_text, 'json not sse');
    }
    // a tool call answered whole: the arguments events and the item
    recA.behave = null;
    recA.queue({ body: { id: 'msg_jt', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5',
      content: [{ type: 'tool_use', id: 'toolu_j', name: 'get_weather', input: { city: 'Oslo' } }],
      stop_reason: 'tool_use', stop_sequence: null, usage: { input_tokens: 5, output_tokens: 3 } } });
    const s = client({ maxRetries: 0 }).responses.stream({ model: 'claude-sonnet-4-5', input: 'Oslo?', tools: [weatherTool] });
    const types = [];
    for await (const ev of s) types.push(ev.type);
    const final = await s.finalResponse();
    assert.ok(types.includes('response.function_call_arguments.delta') && types.includes('response.function_call_arguments.done'), types.join());
    const fc = final.output.find((o) => o.type === 'function_call');
    assert.deepEqual([fc.call_id, JSON.parse(fc.arguments)], ['toolu_j', { city: 'Oslo' }]);
  });
});

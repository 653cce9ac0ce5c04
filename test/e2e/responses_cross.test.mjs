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
// ledger rows of the translated turns and the spend map.
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

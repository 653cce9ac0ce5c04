// structured.test.mjs — structured outputs end to end: whatever reaches the
// client matches the requested schema or is a clear error in the caller's
// dialect.  Valid answers pass byte for byte (native structured output and
// the forced-tool path, both dialects, the built-in sim and the OpenAI SDK's
// zod parse helper); with a recording upstream answering programmed bodies:
// safe repairs (fences, prose, truncation), one retry as a linked ledger
// attempt, the 502 naming the failing JSON path, the config switches
// (retries, repair, validate), streams checked at their end, the output cap
// from bounded schemas, and refusals passed through unchecked.
import { after, before, beforeEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { z } from 'zod';
import { zodResponseFormat } from 'openai/helpers/zod';

import {
  Anthropic,
  OpenAI,
  anthropic,
  call,
  openai,
  rejectsWith,
  startFrugal,
  test as libTest,
  waitFor,
} from './lib/frugal.mjs';
import { startRecorder } from './lib/recorder.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const README = readFileSync(resolve(here, '..', '..', 'README.md'), 'utf8');
/* structured_output.stream: buffer is tested once the README documents it. */
const BUFFER_DOCUMENTED = /structured_output\.stream/.test(README) && /`buffer`/.test(README);

/* Every test here is short: a hang is a failure. */
const test = (name, fn) => libTest(name, { timeout: 20000 }, fn);

let rec; // one recording upstream for every daemon

/* The providers and models every daemon here has: the sim, and the recorder
 * in both dialects.  Upstream ids are explicit, so the recorder's request
 * shows which model frugal asked for. */
const NONNATIVE = 'claude-x-nonnative'; // not in the price table: no native structured output
function config(extra = {}) {
  return {
    server: { workers: 2 },
    providers: [
      { name: 'sim', type: 'sim' },
      { name: 'rec-openai', type: 'openai', base_url: `${rec.url}/v1`, api_key: 'sk-rec-oa' },
      { name: 'rec-anthropic', type: 'anthropic', base_url: rec.url, api_key: 'sk-rec-an', anthropic_version: '2026-10-21' },
    ],
    models: [
      { name: 'claude-haiku-4-5', provider: 'sim' },
      { name: 'gpt-4o-mini', provider: 'sim' },
      { name: 'json-claude', provider: 'sim', dialect: 'anthropic', model: NONNATIVE },
      { name: 'rec-gpt', provider: 'rec-openai', model: 'gpt-4o-mini' },
      { name: 'rec-claude', provider: 'rec-anthropic', model: 'claude-haiku-4-5' },
      { name: 'rec-claude-nonnative', provider: 'rec-anthropic', model: NONNATIVE, dialect: 'anthropic' },
    ],
    ...extra,
  };
}

/* Daemons by structured_output config, started on first use. */
const daemons = new Map();
async function daemon(name, so) {
  if (!daemons.has(name))
    daemons.set(name, startFrugal({ name: `frugal-${name}`, config: config(so ? { structured_output: so } : {}) }));
  return daemons.get(name);
}

before(async () => {
  rec = await startRecorder();
});

after(async () => {
  try {
    for (const p of daemons.values()) {
      const fr = await p.catch(() => null);
      if (fr) await fr.stop();
    }
  } finally {
    await rec?.stop();
  }
});

beforeEach(() => rec?.reset());

// ------------------------------------------------------------- helpers ----

const user = (text) => [{ role: 'user', content: text }];

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
/* name and age required, nickname optional: what a truncated answer may lose. */
const LOOSE_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    age: { type: 'integer', minimum: 0 },
    nickname: { type: 'string' },
  },
  required: ['name', 'age'],
  additionalProperties: false,
};
/* Bounded: every value an enum. */
const ENUM_SCHEMA = {
  type: 'object',
  properties: { sentiment: { type: 'string', enum: ['positive', 'negative', 'neutral'] } },
  required: ['sentiment'],
  additionalProperties: false,
};
/* Unbounded: a free string. */
const FREE_SCHEMA = {
  type: 'object',
  properties: { summary: { type: 'string' } },
  required: ['summary'],
  additionalProperties: false,
};

const oaFormat = (schema, name = 'person', strict = false) =>
  ({ type: 'json_schema', json_schema: { name, strict, schema } });
const anFormat = (schema) => ({ format: { type: 'json_schema', schema } });

/* Answers the recorder gives. */
const ANN = { name: 'Ann', age: 31, tags: ['pilot'] };
/* valid, but not in frugal's compact form: must arrive byte for byte */
const ANN_PRETTY = '{\n  "name": "Ann",\n  "age": 31,\n  "tags": [ "pilot" ]\n}';
const ANN_COMPACT = JSON.stringify(ANN);
const ANN_BAD = '{"name": "Ann", "age": "thirty-one", "tags": ["pilot"]}'; // $.age: wrong type
const FENCED = '```json\n' + ANN_COMPACT + '\n```';
const PROSE = `Sure! Here is the person you asked for:\n\n${ANN_COMPACT}\n\nLet me know if you need anything else.`;

/* Provider-shaped bodies with the fields these tests vary. */
function oaBody(content, { finish = 'stop', refusal = null, model = 'gpt-4o-mini' } = {}) {
  return {
    id: 'chatcmpl-rec-so',
    object: 'chat.completion',
    created: 1764000000,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content, refusal }, logprobs: null, finish_reason: finish }],
    usage: { prompt_tokens: 20, completion_tokens: 12, total_tokens: 32 },
  };
}
function anBody(content, { stop = 'end_turn', model = 'claude-haiku-4-5' } = {}) {
  return {
    id: 'msg_rec_so',
    type: 'message',
    role: 'assistant',
    model,
    content: typeof content === 'string' ? [{ type: 'text', text: content }] : content,
    stop_reason: stop,
    stop_sequence: null,
    usage: { input_tokens: 20, output_tokens: 12 },
  };
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

/* A raw streaming POST: the body text and its SSE frames [{event, data, json}]. */
async function rawStream(fr, path, body, headers = {}) {
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
    if (!data.length && event === null) continue; // a comment
    const d = data.join('\n');
    let json;
    try {
      json = JSON.parse(d);
    } catch {}
    frames.push({ event, data: d, json });
  }
  return { status: r.status, headers: r.headers, text, frames };
}
const AN_HEADERS = { 'anthropic-version': '2023-06-01' };

/* A tiny JSON Schema check for the sim's answers, independent of frugal's. */
function assertPerson(v, what) {
  assert.ok(v && typeof v === 'object' && !Array.isArray(v), `${what}: not an object: ${JSON.stringify(v)}`);
  assert.deepEqual(Object.keys(v).sort(), ['age', 'name', 'tags'], `${what}: ${JSON.stringify(v)}`);
  assert.equal(typeof v.name, 'string', what);
  assert.ok(Number.isInteger(v.age) && v.age >= 0, `${what}: age ${v.age}`);
  assert.ok(Array.isArray(v.tags) && v.tags.every((t) => typeof t === 'string'), `${what}: tags ${v.tags}`);
}
function parseJson(text, what) {
  assert.equal(typeof text, 'string', `${what}: answer is ${typeof text}: ${text}`);
  try {
    return JSON.parse(text);
  } catch {
    assert.fail(`${what}: the answer is not JSON: ${JSON.stringify(text)}`);
  }
}

/* The OpenAI-dialect structured-output error: 502, code, path, answer length. */
function assertOpenAI502(e, path, answer, what) {
  assert.ok(e instanceof OpenAI.APIError, `${what}: ${e?.constructor?.name}: ${e?.message}`);
  assert.equal(e.status, 502, `${what}: ${e.message}`);
  assert.equal(e.code, 'invalid_structured_output', `${what}: ${JSON.stringify(e.error)}`);
  assert.ok(e.message.includes(path), `${what}: the message does not name ${path}: ${e.message}`);
  if (answer !== undefined) {
    const n = Buffer.byteLength(answer);
    assert.ok(new RegExp(`\\b${n} bytes\\b`).test(e.message),
      `${what}: the message does not give the answer's length (${n} bytes): ${e.message}`);
  }
}
/* The Anthropic-dialect one: 502 api_error naming the path. */
function assertAnthropic502(e, path, what) {
  assert.ok(e instanceof Anthropic.APIError, `${what}: ${e?.constructor?.name}: ${e?.message}`);
  assert.equal(e.status, 502, `${what}: ${e.message}`);
  assert.equal(e.error?.type, 'error', `${what}: ${JSON.stringify(e.error)}`);
  assert.equal(e.error?.error?.type, 'api_error', `${what}: ${JSON.stringify(e.error)}`);
  assert.ok(e.error.error.message.includes(path), `${what}: the message does not name ${path}: ${e.error.error.message}`);
}

const upstreamCalls = () => rec.requests.filter((r) => r.method === 'POST').length;

// ================================================ valid answers, sim ====

describe('valid answers pass unchanged (sim)', () => {
  let fr;
  let raw; // the same daemon with validate: false, to compare the sim's own answer with
  before(async () => {
    fr = await daemon('default');
    raw = await daemon('novalidate', { validate: false });
  });

  test('OpenAI client → claude-haiku-4-5 (native output_config.format): the sim\'s JSON as content', async () => {
    const req = { model: 'claude-haiku-4-5', messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA, 'person', true) };
    const r = await openai(fr).chat.completions.create(req);
    const ch = r.choices[0];
    assert.equal(ch.finish_reason, 'stop');
    assert.equal(ch.message.tool_calls, undefined);
    assertPerson(parseJson(ch.message.content, 'native'), 'native');
    const r0 = await openai(raw).chat.completions.create(req);
    assert.equal(ch.message.content, r0.choices[0].message.content, 'validation changed a valid answer');
  });

  test('OpenAI client → a Claude model without native support: forced tool, answer in message.content', async () => {
    const req = { model: 'json-claude', messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA, 'person', true) };
    const r = await openai(fr).chat.completions.create(req);
    const ch = r.choices[0];
    assert.equal(ch.finish_reason, 'stop');
    assert.equal(ch.message.tool_calls, undefined, 'the forced tool must not show as a tool call');
    assertPerson(parseJson(ch.message.content, 'forced tool'), 'forced tool');
    const r0 = await openai(raw).chat.completions.create(req);
    assert.equal(ch.message.content, r0.choices[0].message.content, 'validation changed a valid answer');
  });

  test('OpenAI client → gpt-4o-mini (same dialect, native response_format)', async () => {
    const req = { model: 'gpt-4o-mini', messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA, 'person', true) };
    const r = await openai(fr).chat.completions.create(req);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assertPerson(parseJson(r.choices[0].message.content, 'gpt-4o-mini'), 'gpt-4o-mini');
    const r0 = await openai(raw).chat.completions.create(req);
    assert.equal(r.choices[0].message.content, r0.choices[0].message.content);
  });

  test('Anthropic client → gpt-4o-mini with output_config.format: JSON text', async () => {
    const req = { model: 'gpt-4o-mini', max_tokens: 500, messages: user('Invent a person'), output_config: anFormat(PERSON_SCHEMA) };
    const r = await anthropic(fr).messages.create(req);
    assert.equal(r.stop_reason, 'end_turn');
    assert.equal(r.content.length, 1);
    assert.equal(r.content[0].type, 'text');
    assertPerson(parseJson(r.content[0].text, 'Anthropic → gpt-4o-mini'), 'Anthropic → gpt-4o-mini');
    const r0 = await anthropic(raw).messages.create(req);
    assert.equal(r.content[0].text, r0.content[0].text);
  });

  test('Anthropic client → claude-haiku-4-5: output_config.format and a forced tool', async () => {
    const r = await anthropic(fr).messages.create({
      model: 'claude-haiku-4-5', max_tokens: 500, messages: user('Invent a person'), output_config: anFormat(PERSON_SCHEMA),
    });
    assert.equal(r.stop_reason, 'end_turn');
    assertPerson(parseJson(r.content[0].text, 'output_config'), 'output_config');
    const t = await anthropic(fr).messages.create({
      model: 'claude-haiku-4-5', max_tokens: 500, messages: user('Record a person'),
      tools: [{ name: 'record_person', description: 'Record a person', input_schema: PERSON_SCHEMA }],
      tool_choice: { type: 'tool', name: 'record_person' },
    });
    assert.equal(t.stop_reason, 'tool_use');
    const tu = t.content.find((b) => b.type === 'tool_use');
    assert.ok(tu, JSON.stringify(t.content));
    assert.equal(tu.name, 'record_person');
    assertPerson(tu.input, 'forced tool input');
  });

  test('OpenAI SDK parse helper with zodResponseFormat → a parsed object (native and forced-tool models)', async () => {
    const Person = z.object({ name: z.string(), age: z.number().int(), tags: z.array(z.string()) });
    for (const model of ['claude-haiku-4-5', 'json-claude', 'gpt-4o-mini']) {
      const r = await openai(fr).chat.completions.parse({
        model, messages: user('Invent a person'), response_format: zodResponseFormat(Person, 'person'),
      });
      const msg = r.choices[0].message;
      assert.ok(msg.parsed && typeof msg.parsed === 'object', `${model}: parsed=${JSON.stringify(msg.parsed)}, content=${msg.content}`);
      assert.ok(Person.safeParse(msg.parsed).success, `${model}: ${JSON.stringify(msg.parsed)}`);
      assert.deepEqual(msg.parsed, JSON.parse(msg.content), model);
      assert.equal(msg.refusal ?? null, null, model);
    }
  });
});

// ======================================= valid answers, recorder ====

describe('valid answers from a recording upstream pass byte for byte', () => {
  let fr;
  before(async () => {
    fr = await daemon('default');
  });

  test('OpenAI client → OpenAI upstream: content unchanged, response_format sent as asked', async () => {
    rec.queue({ body: oaBody(ANN_PRETTY) });
    const rf = oaFormat(PERSON_SCHEMA, 'person', true);
    const { data, response } = await openai(fr).chat.completions
      .create({ model: 'rec-gpt', messages: user('Invent a person'), response_format: rf }).withResponse();
    assert.equal(response.status, 200);
    assert.equal(data.choices[0].message.content, ANN_PRETTY);
    assert.equal(upstreamCalls(), 1);
    assert.deepEqual(rec.last().json.response_format, rf);
  });

  test('Anthropic client → Anthropic upstream: text unchanged, output_config sent as asked', async () => {
    rec.queue({ body: anBody(ANN_PRETTY) });
    const r = await anthropic(fr).messages.create({
      model: 'rec-claude', max_tokens: 300, messages: user('Invent a person'), output_config: anFormat(PERSON_SCHEMA),
    });
    assert.equal(r.content[0].text, ANN_PRETTY);
    assert.equal(r.stop_reason, 'end_turn');
    assert.equal(upstreamCalls(), 1);
    assert.deepEqual(rec.last().json.output_config?.format, { type: 'json_schema', schema: PERSON_SCHEMA });
  });

  test('OpenAI client → Anthropic upstream (native): content unchanged', async () => {
    rec.queue({ body: anBody(ANN_PRETTY) });
    const r = await openai(fr).chat.completions.create({
      model: 'rec-claude', messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    });
    assert.equal(r.choices[0].message.content, ANN_PRETTY);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(upstreamCalls(), 1);
    assert.equal(rec.last().json.output_config?.format?.type, 'json_schema', rec.last().raw);
    assert.equal(rec.last().json.tool_choice, undefined, rec.last().raw);
  });

  test('OpenAI client → Anthropic upstream without native support: forced tool, its input as content', async () => {
    rec.queue({ body: anBody([{ type: 'tool_use', id: 'toolu_1', name: 'person', input: ANN }], { stop: 'tool_use', model: NONNATIVE }) });
    const r = await openai(fr).chat.completions.create({
      model: 'rec-claude-nonnative', messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    });
    const up = rec.last().json;
    assert.equal(up.output_config, undefined, `no native format for ${NONNATIVE}: ${rec.last().raw}`);
    assert.equal(up.tool_choice?.type, 'tool', rec.last().raw);
    const tool = up.tools?.find((t) => t.name === up.tool_choice.name);
    assert.ok(tool, `the forced tool is not among the tools: ${rec.last().raw}`);
    assert.deepEqual(Object.keys(tool.input_schema.properties).sort(), ['age', 'name', 'tags']);
    const ch = r.choices[0];
    assert.equal(ch.message.tool_calls, undefined);
    assert.equal(ch.finish_reason, 'stop');
    assert.deepEqual(parseJson(ch.message.content, 'forced tool'), ANN);
    assert.equal(upstreamCalls(), 1);
  });

  test('json_object: any JSON object passes, an array does not', async () => {
    rec.queue({ body: oaBody('{"any": ["thing", 1]}') });
    const r = await openai(fr).chat.completions.create({
      model: 'rec-gpt', messages: user('JSON please'), response_format: { type: 'json_object' },
    });
    assert.equal(r.choices[0].message.content, '{"any": ["thing", 1]}');
    rec.reset();
    rec.queue({ body: oaBody('[1, 2]') }, { body: oaBody('[1, 2]') });
    const e = await rejectsWith(openai(fr).chat.completions.create({
      model: 'rec-gpt', messages: user('JSON please'), response_format: { type: 'json_object' },
    }), OpenAI.APIError, 'json_object array');
    assertOpenAI502(e, '$', '[1, 2]', 'json_object array');
    assert.equal(upstreamCalls(), 2);
  });
});

// ============================================================ repair ====

describe('safe repairs: one upstream call, the client gets pure JSON', () => {
  let fr;
  before(async () => {
    fr = await daemon('default');
  });

  const cases = [
    ['```json fences', FENCED],
    ['``` fences without a language', '```\n' + ANN_COMPACT + '\n```'],
    ['prose around the JSON', PROSE],
  ];
  for (const [what, answer] of cases) {
    test(`${what}: OpenAI → OpenAI, Anthropic → Anthropic, OpenAI → Anthropic`, async () => {
      rec.queue({ body: oaBody(answer) });
      const a = await openai(fr).chat.completions.create({
        model: 'rec-gpt', messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
      });
      assert.equal(a.choices[0].message.content.trim(), ANN_COMPACT, `OpenAI: ${JSON.stringify(a.choices[0].message.content)}`);
      assert.equal(upstreamCalls(), 1, 'a repaired answer needs no retry');

      rec.reset();
      rec.queue({ body: anBody(answer) });
      const b = await anthropic(fr).messages.create({
        model: 'rec-claude', max_tokens: 300, messages: user('Invent a person'), output_config: anFormat(PERSON_SCHEMA),
      });
      assert.equal(b.content[0].text.trim(), ANN_COMPACT, `Anthropic: ${JSON.stringify(b.content[0].text)}`);
      assert.equal(upstreamCalls(), 1);

      rec.reset();
      rec.queue({ body: anBody(answer) });
      const c = await openai(fr).chat.completions.create({
        model: 'rec-claude', messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
      });
      assert.equal(c.choices[0].message.content.trim(), ANN_COMPACT, `translated: ${JSON.stringify(c.choices[0].message.content)}`);
      assert.equal(upstreamCalls(), 1);
    });
  }

  test('two JSON values in the prose: no guessing — retried, then 502', async () => {
    const two = `First try: ${ANN_COMPACT}\nOr maybe: ${JSON.stringify({ ...ANN, age: 32 })}`;
    rec.queue({ body: oaBody(two) }, { body: oaBody(two) });
    const e = await rejectsWith(openai(fr).chat.completions.create({
      model: 'rec-gpt', messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    }), OpenAI.APIError, 'two JSON values');
    assertOpenAI502(e, '$', two, 'two JSON values');
    assert.equal(upstreamCalls(), 2);
  });

  test('truncated (finish_reason length / stop_reason max_tokens), closed form valid → repaired', async () => {
    const cut = '{"name": "Ann", "age": 31, "nickname": "Annie the gre';
    rec.queue({ body: oaBody(cut, { finish: 'length' }) });
    const a = await openai(fr).chat.completions.create({
      model: 'rec-gpt', messages: user('Invent a person'), response_format: oaFormat(LOOSE_SCHEMA),
    });
    const va = parseJson(a.choices[0].message.content, 'OpenAI truncated');
    assert.equal(va.name, 'Ann');
    assert.equal(va.age, 31);
    assert.ok(va.nickname === undefined || typeof va.nickname === 'string', JSON.stringify(va));
    assert.ok(a.choices[0].message.content.startsWith('{"name": "Ann", "age": 31'), 'repair only appends/removes bytes');
    assert.equal(upstreamCalls(), 1);

    rec.reset();
    rec.queue({ body: anBody(cut, { stop: 'max_tokens' }) });
    const b = await anthropic(fr).messages.create({
      model: 'rec-claude', max_tokens: 20, messages: user('Invent a person'), output_config: anFormat(LOOSE_SCHEMA),
    });
    const vb = parseJson(b.content[0].text, 'Anthropic truncated');
    assert.equal(vb.name, 'Ann');
    assert.equal(vb.age, 31);
    assert.equal(upstreamCalls(), 1);

    // the same text without the truncation mark is not closed: retried, then 502
    rec.reset();
    rec.queue({ body: oaBody(cut) }, { body: oaBody(cut) });
    const e = await rejectsWith(openai(fr).chat.completions.create({
      model: 'rec-gpt', messages: user('Invent a person'), response_format: oaFormat(LOOSE_SCHEMA),
    }), OpenAI.APIError, 'unterminated but not truncated');
    assertOpenAI502(e, '$', cut, 'unterminated but not truncated');
    assert.equal(upstreamCalls(), 2);
  });

  test('truncated answer missing a required field once closed → 502 naming it (both dialects)', async () => {
    const cut = '{"name": "Ann", "ag';
    rec.queue({ body: oaBody(cut, { finish: 'length' }) }, { body: oaBody(cut, { finish: 'length' }) });
    const e = await rejectsWith(openai(fr).chat.completions.create({
      model: 'rec-gpt', messages: user('Invent a person'), response_format: oaFormat(LOOSE_SCHEMA),
    }), OpenAI.APIError, 'truncated, missing age');
    assertOpenAI502(e, '$', cut, 'truncated, missing age');
    assert.equal(upstreamCalls(), 2);

    rec.reset();
    rec.queue({ body: anBody(cut, { stop: 'max_tokens' }) }, { body: anBody(cut, { stop: 'max_tokens' }) });
    const ea = await rejectsWith(anthropic(fr).messages.create({
      model: 'rec-claude', max_tokens: 8, messages: user('Invent a person'), output_config: anFormat(LOOSE_SCHEMA),
    }), Anthropic.APIError, 'Anthropic truncated, missing age');
    assertAnthropic502(ea, '$', 'Anthropic truncated, missing age');
    assert.equal(upstreamCalls(), 2);
  });
});

// ============================================================= retry ====

describe('retry: one more attempt on the same model, its own linked ledger record', () => {
  test('invalid then valid → the valid answer, 2 upstream calls, 2 ledger records, a new request id', async (t) => {
    const fr = await startFrugal({ name: 'frugal-ledger', config: config() }); // a ledger of its own
    try {
      rec.queue({ body: oaBody(ANN_BAD) }, { body: oaBody(ANN_PRETTY) });
      const { data, response } = await openai(fr).chat.completions.create({
        model: 'rec-gpt', messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
      }).withResponse();
      assert.equal(data.choices[0].message.content, ANN_PRETTY);
      assert.equal(upstreamCalls(), 2);
      assert.equal(rec.requests[1].raw, rec.requests[0].raw, 'the retry must ask the same model the same thing');
      const id = response.headers.get('x-frugal-request-id');
      assert.match(id ?? '', /^frg_/);
      // the failed attempt is logged with its own id
      const m = await waitFor(() => /(frg_[0-9a-z]+): The model's answer does not match the requested schema at \$\.age[^\n]*[Rr]etrying/
        .exec(fr.stderr()), { what: 'the retry log line' });
      const failedId = m[1];
      assert.notEqual(id, failedId, 'the successful attempt must have a new request id');

      const sp = await waitFor(async () => {
        const r = await call(fr, '/frugal/spend?since=1h', { method: 'GET' });
        return r.json?.requests >= 2 ? r.json : null;
      }, { timeoutMs: 5000, what: '2 ledger records' });
      assert.equal(sp.requests, 2, JSON.stringify(sp));
      assert.ok(sp.errors >= 1, `the failed attempt is an error record: ${JSON.stringify(sp)}`);
      const row = sp.by_model.find((r) => r.model === 'rec-gpt');
      assert.equal(row?.requests, 2, JSON.stringify(sp.by_model));

      // linked_id, read from the ledger itself where the sqlite3 CLI exists
      const db = join(fr.dir, 'frugal.db');
      let sqlite = true;
      try {
        execFileSync('sqlite3', ['-version'], { stdio: 'ignore' });
      } catch {
        sqlite = false;
      }
      assert.ok(existsSync(db), `no ledger at ${db}`);
      if (!sqlite) t.diagnostic('sqlite3 CLI not found: linked_id not read from the ledger');
      if (sqlite) {
        const rows = JSON.parse(execFileSync('sqlite3', ['-json', db,
          'select id, status, linked_id, error from calls order by ts_ms, rowid'], { encoding: 'utf8' }) || '[]');
        assert.equal(rows.length, 2, JSON.stringify(rows));
        const failed = rows.find((r) => r.id === failedId);
        const ok = rows.find((r) => r.id === id);
        assert.ok(failed && ok, `ledger ids ${rows.map((r) => r.id)} vs failed ${failedId}, ok ${id}`);
        assert.equal(ok.linked_id, failedId, 'the retry links to the failed attempt');
        assert.ok(failed.status >= 400, `failed attempt status ${failed.status}`);
        assert.match(failed.error ?? '', /\$\.age/);
        assert.equal(ok.status, 200);
      }
    } finally {
      await fr.stop();
    }
  });

  test('Anthropic client: invalid then valid → the valid answer after 2 calls', async () => {
    const fr = await daemon('default');
    rec.queue({ body: anBody(ANN_BAD) }, { body: anBody(ANN_PRETTY) });
    const r = await anthropic(fr).messages.create({
      model: 'rec-claude', max_tokens: 300, messages: user('Invent a person'), output_config: anFormat(PERSON_SCHEMA),
    });
    assert.equal(r.content[0].text, ANN_PRETTY);
    assert.equal(upstreamCalls(), 2);
  });

  test('invalid twice → 502 in the caller\'s dialect naming $.age (OpenAI, Anthropic, forced tool)', async () => {
    const fr = await daemon('default');
    rec.queue({ body: oaBody(ANN_BAD) }, { body: oaBody(ANN_BAD) });
    const e = await rejectsWith(openai(fr).chat.completions.create({
      model: 'rec-gpt', messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    }), OpenAI.InternalServerError, 'OpenAI invalid twice');
    assertOpenAI502(e, '$.age', ANN_BAD, 'OpenAI invalid twice');
    assert.equal(upstreamCalls(), 2);

    rec.reset();
    rec.queue({ body: anBody(ANN_BAD) }, { body: anBody(ANN_BAD) });
    const ea = await rejectsWith(anthropic(fr).messages.create({
      model: 'rec-claude', max_tokens: 300, messages: user('Invent a person'), output_config: anFormat(PERSON_SCHEMA),
    }), Anthropic.InternalServerError, 'Anthropic invalid twice');
    assertAnthropic502(ea, '$.age', 'Anthropic invalid twice');
    assert.equal(upstreamCalls(), 2);

    rec.reset();
    const badTool = anBody([{ type: 'tool_use', id: 'toolu_1', name: 'person', input: { ...ANN, age: 'x' } }], { stop: 'tool_use', model: NONNATIVE });
    rec.queue({ body: badTool }, { body: badTool });
    const et = await rejectsWith(openai(fr).chat.completions.create({
      model: 'rec-claude-nonnative', messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    }), OpenAI.APIError, 'forced tool invalid twice');
    assertOpenAI502(et, '$.age', undefined, 'forced tool invalid twice');
    assert.equal(upstreamCalls(), 2);

    rec.reset();
    rec.queue({ body: anBody(ANN_BAD) }, { body: anBody(ANN_BAD) });
    const ex = await rejectsWith(openai(fr).chat.completions.create({
      model: 'rec-claude', messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    }), OpenAI.APIError, 'OpenAI → Anthropic invalid twice');
    assertOpenAI502(ex, '$.age', ANN_BAD, 'OpenAI → Anthropic invalid twice');
  });
});

// ============================================================ config ====

describe('structured_output config', () => {
  test('retries: 0 → one upstream call, then 502', async () => {
    const fr = await daemon('retries0', { retries: 0 });
    rec.queue({ body: oaBody(ANN_BAD) }, { body: oaBody(ANN_PRETTY) });
    const e = await rejectsWith(openai(fr).chat.completions.create({
      model: 'rec-gpt', messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    }), OpenAI.APIError, 'retries 0');
    assertOpenAI502(e, '$.age', ANN_BAD, 'retries 0');
    assert.ok(!/after a retry/.test(e.message), e.message);
    assert.equal(upstreamCalls(), 1);
  });

  test('repair: false → a fenced answer is rejected and retried', async () => {
    const fr = await daemon('norepair', { repair: false });
    rec.queue({ body: oaBody(FENCED) }, { body: oaBody(ANN_PRETTY) });
    const r = await openai(fr).chat.completions.create({
      model: 'rec-gpt', messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    });
    assert.equal(r.choices[0].message.content, ANN_PRETTY, 'the client gets the retry\'s answer');
    assert.equal(upstreamCalls(), 2);

    rec.reset();
    rec.queue({ body: anBody(FENCED) }, { body: anBody(FENCED) });
    const e = await rejectsWith(anthropic(fr).messages.create({
      model: 'rec-claude', max_tokens: 300, messages: user('Invent a person'), output_config: anFormat(PERSON_SCHEMA),
    }), Anthropic.APIError, 'repair off, fenced twice');
    assertAnthropic502(e, '$', 'repair off, fenced twice');
    assert.equal(upstreamCalls(), 2);
  });

  test('validate: false → prose and wrong types pass through untouched', async () => {
    const fr = await daemon('novalidate', { validate: false });
    rec.queue({ body: oaBody(PROSE) });
    const r = await openai(fr).chat.completions.create({
      model: 'rec-gpt', messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    });
    assert.equal(r.choices[0].message.content, PROSE);
    assert.equal(upstreamCalls(), 1);

    rec.reset();
    rec.queue({ body: anBody(ANN_BAD) });
    const a = await anthropic(fr).messages.create({
      model: 'rec-claude', max_tokens: 300, messages: user('Invent a person'), output_config: anFormat(PERSON_SCHEMA),
    });
    assert.equal(a.content[0].text, ANN_BAD);
    assert.equal(upstreamCalls(), 1);

    rec.reset();
    rec.queue({ text: PROSE });
    const [chunks, err] = await drain(await openai(fr).chat.completions.create({
      model: 'rec-gpt', stream: true, messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    }));
    assert.equal(err, null, String(err));
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), PROSE);
  });
});

// =========================================================== streams ====

describe('streams: relayed as they come, checked at the end', () => {
  let fr;
  before(async () => {
    fr = await daemon('default');
  });

  test('a valid streamed answer passes and ends normally (OpenAI and Anthropic, same dialect and translated)', async () => {
    rec.queue({ text: ANN_PRETTY });
    const [chunks, err] = await drain(await openai(fr).chat.completions.create({
      model: 'rec-gpt', stream: true, messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    }));
    assert.equal(err, null, String(err));
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), ANN_PRETTY);
    assert.equal(chunks.filter((c) => c.choices[0]?.finish_reason).at(-1)?.choices[0].finish_reason, 'stop');
    assert.equal(rec.last().json.stream, true);

    rec.queue({ text: ANN_PRETTY });
    const raw = await rawStream(fr, '/v1/chat/completions', {
      model: 'rec-gpt', stream: true, messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    });
    assert.equal(raw.frames.at(-1).data, '[DONE]');
    assert.ok(!raw.frames.some((f) => f.json?.error), raw.text);

    rec.queue({ text: ANN_PRETTY });
    const [events, aerr] = await drain(await anthropic(fr).messages.create({
      model: 'rec-claude', max_tokens: 300, stream: true, messages: user('Invent a person'), output_config: anFormat(PERSON_SCHEMA),
    }));
    assert.equal(aerr, null, String(aerr));
    assert.equal(events.at(-1).type, 'message_stop');
    assert.equal(events.filter((e) => e.type === 'content_block_delta').map((e) => e.delta.text).join(''), ANN_PRETTY);

    // translated both ways
    rec.queue({ text: ANN_PRETTY });
    const fin = await openai(fr).chat.completions.stream({
      model: 'rec-claude', messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    }).finalChatCompletion();
    assert.equal(fin.choices[0].message.content, ANN_PRETTY);
    assert.equal(fin.choices[0].finish_reason, 'stop');
    rec.queue({ text: ANN_PRETTY });
    const msg = await anthropic(fr).messages.stream({
      model: 'rec-gpt', max_tokens: 300, messages: user('Invent a person'), output_config: anFormat(PERSON_SCHEMA),
    }).finalMessage();
    assert.equal(msg.content[0].text, ANN_PRETTY);
    assert.equal(msg.stop_reason, 'end_turn');
  });

  test('OpenAI: an invalid streamed answer ends with an error chunk, not [DONE]', async () => {
    rec.queue({ text: PROSE });
    const [chunks, err] = await drain(await openai(fr).chat.completions.create({
      model: 'rec-gpt', stream: true, messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    }));
    assert.ok(err instanceof OpenAI.APIError, `the SDK must raise: ${err} after ${chunks.length} chunks`);
    assert.ok(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('').length <= PROSE.length);
    assert.equal(upstreamCalls(), 1, 'a stream is not retried');

    rec.queue({ text: ANN_BAD });
    const raw = await rawStream(fr, '/v1/chat/completions', {
      model: 'rec-gpt', stream: true, messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    });
    assert.equal(raw.status, 200);
    const last = raw.frames.at(-1);
    assert.ok(last?.json?.error, `the last frame must be the error: ${last?.data}`);
    assert.equal(last.json.error.code, 'invalid_structured_output', last.data);
    assert.ok(last.json.error.message.includes('$.age'), last.data);
    assert.ok(!raw.frames.some((f) => f.data === '[DONE]'), 'no [DONE] after an invalid answer');
    const text = raw.frames.map((f) => f.json?.choices?.[0]?.delta?.content ?? '').join('');
    assert.equal(text, ANN_BAD, 'the text relayed before the error is the model\'s');

    // translated: OpenAI client, Anthropic upstream
    rec.queue({ text: PROSE });
    const [tchunks, terr] = await drain(await openai(fr).chat.completions.create({
      model: 'rec-claude', stream: true, messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    }));
    assert.ok(terr instanceof OpenAI.APIError, `translated: the SDK must raise: ${terr} after ${tchunks.length} chunks`);
    rec.queue({ text: ANN_BAD });
    const traw = await rawStream(fr, '/v1/chat/completions', {
      model: 'rec-claude', stream: true, messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    });
    assert.equal(traw.frames.at(-1)?.json?.error?.code, 'invalid_structured_output', `translated, last frame: ${traw.frames.at(-1)?.data}`);
    assert.ok(traw.frames.at(-1).json.error.message.includes('$.age'), traw.frames.at(-1).data);
    assert.ok(!traw.frames.some((f) => f.data === '[DONE]'), 'translated: no [DONE] after an invalid answer');
    assert.equal(traw.frames.map((f) => f.json?.choices?.[0]?.delta?.content ?? '').join(''), ANN_BAD);
  });

  test('Anthropic: an invalid streamed answer ends with event: error, not message_stop', async () => {
    rec.queue({ text: PROSE });
    const [events, err] = await drain(await anthropic(fr).messages.create({
      model: 'rec-claude', max_tokens: 300, stream: true, messages: user('Invent a person'), output_config: anFormat(PERSON_SCHEMA),
    }));
    assert.ok(err instanceof Anthropic.APIError, `the SDK must raise: ${err} after ${events.map((e) => e.type)}`);
    assert.equal(err.error?.error?.type, 'api_error', JSON.stringify(err.error));
    assert.ok(!events.some((e) => e.type === 'message_stop'));

    rec.queue({ text: ANN_BAD });
    const raw = await rawStream(fr, '/v1/messages', {
      model: 'rec-claude', max_tokens: 300, stream: true, messages: user('Invent a person'), output_config: anFormat(PERSON_SCHEMA),
    }, AN_HEADERS);
    const last = raw.frames.at(-1);
    assert.equal(last?.event, 'error', `last event: ${last?.event} ${last?.data}`);
    assert.equal(last.json?.error?.type, 'api_error', last.data);
    assert.ok(last.json.error.message.includes('$.age'), last.data);
    assert.ok(!raw.frames.some((f) => f.event === 'message_stop'));
    const text = raw.frames.filter((f) => f.event === 'content_block_delta').map((f) => f.json.delta.text).join('');
    assert.equal(text, ANN_BAD);

    // translated: Anthropic client, OpenAI upstream
    rec.queue({ text: ANN_BAD });
    const [tevents, terr] = await drain(await anthropic(fr).messages.create({
      model: 'rec-gpt', max_tokens: 300, stream: true, messages: user('Invent a person'), output_config: anFormat(PERSON_SCHEMA),
    }));
    assert.ok(terr instanceof Anthropic.APIError, `translated: ${terr} after ${tevents.map((e) => e.type)}`);
    assert.ok(terr.message.includes('$.age'), terr.message);
    assert.ok(!tevents.some((e) => e.type === 'message_stop'));
  });
});

// ======================================================== output cap ====

describe('output cap from a bounded schema', () => {
  let fr;
  before(async () => {
    fr = await daemon('default');
  });
  const positive = '{"sentiment": "positive"}';

  test('OpenAI → OpenAI: bounded schema, no limit → a small max_completion_tokens; a client limit is kept', async () => {
    rec.queue({ body: oaBody(positive) });
    const r = await openai(fr).chat.completions.create({
      model: 'rec-gpt', messages: user('Classify: great!'), response_format: oaFormat(ENUM_SCHEMA, 'sentiment', true),
    });
    assert.equal(r.choices[0].message.content, positive);
    const up = rec.last().json;
    assert.ok(Number.isInteger(up.max_completion_tokens), `no cap: ${rec.last().raw}`);
    assert.ok(up.max_completion_tokens > 8 && up.max_completion_tokens <= 256, `cap ${up.max_completion_tokens}`);
    assert.equal(up.max_tokens, undefined);

    rec.reset();
    rec.queue({ body: oaBody(positive) });
    await openai(fr).chat.completions.create({
      model: 'rec-gpt', max_tokens: 500, messages: user('Classify: great!'), response_format: oaFormat(ENUM_SCHEMA, 'sentiment', true),
    });
    assert.equal(rec.last().json.max_tokens, 500);
    assert.equal(rec.last().json.max_completion_tokens, undefined, rec.last().raw);

    rec.reset();
    rec.queue({ body: oaBody(positive) });
    await openai(fr).chat.completions.create({
      model: 'rec-gpt', max_completion_tokens: 700, messages: user('Classify: great!'), response_format: oaFormat(ENUM_SCHEMA, 'sentiment', true),
    });
    assert.equal(rec.last().json.max_completion_tokens, 700);
  });

  test('OpenAI → Anthropic: bounded schema → a small max_tokens; a free string → the model default', async () => {
    rec.queue({ body: anBody('plain') });
    await openai(fr).chat.completions.create({ model: 'rec-claude', messages: user('no schema') });
    const dflt = rec.last().json.max_tokens;
    assert.ok(Number.isInteger(dflt) && dflt > 1000, `default max_tokens ${dflt}`);

    rec.reset();
    rec.queue({ body: anBody(positive) });
    await openai(fr).chat.completions.create({
      model: 'rec-claude', messages: user('Classify: great!'), response_format: oaFormat(ENUM_SCHEMA, 'sentiment', true),
    });
    const capped = rec.last().json.max_tokens;
    assert.ok(Number.isInteger(capped) && capped > 8 && capped <= 256, `bounded schema: max_tokens ${capped}`);

    rec.reset();
    rec.queue({ body: anBody('{"summary": "fine"}') });
    await openai(fr).chat.completions.create({
      model: 'rec-claude', messages: user('Summarise'), response_format: oaFormat(FREE_SCHEMA, 'summary', true),
    });
    assert.equal(rec.last().json.max_tokens, dflt, 'an unbounded schema must not cap the output');
  });

  test('OpenAI → OpenAI: a free string → no limit set by frugal', async () => {
    rec.queue({ body: oaBody('{"summary": "fine"}') });
    await openai(fr).chat.completions.create({
      model: 'rec-gpt', messages: user('Summarise'), response_format: oaFormat(FREE_SCHEMA, 'summary', true),
    });
    const up = rec.last().json;
    assert.equal(up.max_completion_tokens, undefined, rec.last().raw);
    assert.equal(up.max_tokens, undefined, rec.last().raw);
  });
});

// ========================================================== refusals ====

describe('refusals pass through unchecked', () => {
  let fr;
  before(async () => {
    fr = await daemon('default');
  });
  const NO = "I'm sorry, I can't help with that.";

  test('OpenAI upstream message.refusal → the client gets the refusal, one call', async () => {
    rec.queue({ body: oaBody(null, { refusal: NO }) });
    const r = await openai(fr).chat.completions.create({
      model: 'rec-gpt', messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    });
    assert.equal(r.choices[0].message.refusal, NO);
    assert.equal(r.choices[0].message.content, null);
    assert.equal(upstreamCalls(), 1);
    // the parse helper surfaces it as a refusal, not a parse error
    rec.queue({ body: oaBody(null, { refusal: NO }) });
    const p = await openai(fr).chat.completions.parse({
      model: 'rec-gpt', messages: user('Invent a person'),
      response_format: zodResponseFormat(z.object({ name: z.string() }), 'person'),
    });
    assert.equal(p.choices[0].message.refusal, NO);
    assert.equal(p.choices[0].message.parsed, null);
  });

  test('Anthropic upstream stop_reason refusal → the client gets it, one call (Anthropic and OpenAI clients)', async () => {
    rec.queue({ body: anBody(NO, { stop: 'refusal' }) });
    const r = await anthropic(fr).messages.create({
      model: 'rec-claude', max_tokens: 300, messages: user('Invent a person'), output_config: anFormat(PERSON_SCHEMA),
    });
    assert.equal(r.stop_reason, 'refusal');
    assert.equal(r.content[0].text, NO);
    assert.equal(upstreamCalls(), 1);

    rec.reset();
    rec.queue({ body: anBody(NO, { stop: 'refusal' }) }, { body: anBody(NO, { stop: 'refusal' }) });
    const o = await openai(fr).chat.completions.create({
      model: 'rec-claude', messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    }).then((x) => x, (e) => e);
    assert.ok(!(o instanceof Error), `a translated refusal must not be checked against the schema: ${o?.message}`);
    assert.equal(upstreamCalls(), 1);
    const m = o.choices[0].message;
    assert.ok(m.refusal === NO || m.content === NO, JSON.stringify(o.choices[0]));
  });

  test('OpenAI upstream refusal → an Anthropic client gets it, one call', async () => {
    rec.queue({ body: oaBody(null, { refusal: NO }) }, { body: oaBody(null, { refusal: NO }) });
    const r = await anthropic(fr).messages.create({
      model: 'rec-gpt', max_tokens: 300, messages: user('Invent a person'), output_config: anFormat(PERSON_SCHEMA),
    }).then((x) => x, (e) => e);
    assert.ok(!(r instanceof Error), `a translated refusal must not be checked against the schema: ${r?.message}`);
    assert.equal(upstreamCalls(), 1);
    assert.equal(r.stop_reason, 'refusal', JSON.stringify(r));
  });
});

// ==================================================== stream: buffer ====

describe('structured_output.stream: buffer', { skip: BUFFER_DOCUMENTED ? false : 'not documented in README.md yet' }, () => {
  let fr;
  before(async () => {
    fr = await daemon('buffer', { stream: 'buffer' });
  });

  test('OpenAI stream=true: the upstream call does not stream; the client gets SSE of the repaired answer', async () => {
    rec.queue({ body: oaBody(FENCED) });
    const raw = await rawStream(fr, '/v1/chat/completions', {
      model: 'rec-gpt', stream: true, messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    });
    assert.equal(rec.last().json.stream ?? false, false, `upstream streamed: ${rec.last().raw}`);
    // OpenAI refuses stream_options on a request that does not stream
    assert.equal(rec.last().json.stream_options, undefined, `stream_options sent without a stream: ${rec.last().raw}`);
    assert.equal(raw.status, 200);
    assert.match(raw.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(raw.frames.at(-1).data, '[DONE]');
    const text = raw.frames.map((f) => f.json?.choices?.[0]?.delta?.content ?? '').join('');
    assert.equal(text.trim(), ANN_COMPACT);
    assert.equal(upstreamCalls(), 1);

    rec.queue({ body: oaBody(ANN_PRETTY) });
    const [chunks, err] = await drain(await openai(fr).chat.completions.create({
      model: 'rec-gpt', stream: true, messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    }));
    assert.equal(err, null, String(err));
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), ANN_PRETTY);
    assert.equal(chunks.filter((c) => c.choices[0]?.finish_reason).at(-1)?.choices[0].finish_reason, 'stop');
    assert.equal(upstreamCalls(), 2);

    // invalid, then valid on the retry: the client only ever sees the valid one
    rec.reset();
    rec.queue({ body: oaBody(ANN_BAD) }, { body: oaBody(ANN_PRETTY) });
    const raw2 = await rawStream(fr, '/v1/chat/completions', {
      model: 'rec-gpt', stream: true, messages: user('Invent a person'), response_format: oaFormat(PERSON_SCHEMA),
    });
    assert.equal(upstreamCalls(), 2);
    assert.ok(rec.requests.every((r) => !r.json.stream), 'no upstream call streams');
    assert.equal(raw2.frames.at(-1).data, '[DONE]', raw2.text);
    assert.equal(raw2.frames.map((f) => f.json?.choices?.[0]?.delta?.content ?? '').join(''), ANN_PRETTY);
    assert.ok(!raw2.text.includes('thirty-one'), 'the invalid answer must never reach the client');
  });

  test('OpenAI stream=true with stream_options: the upstream body has neither stream nor stream_options (OpenAI takes them only with a stream)', async () => {
    for (const so of [undefined, {}, { include_obfuscation: false }, { include_usage: true }]) {
      rec.reset();
      rec.queue({ body: oaBody(ANN_PRETTY) });
      const raw = await rawStream(fr, '/v1/chat/completions', {
        model: 'rec-gpt', stream: true, ...(so ? { stream_options: so } : {}), messages: user('Invent a person'),
        response_format: oaFormat(PERSON_SCHEMA),
      });
      assert.equal(raw.status, 200, `stream_options ${JSON.stringify(so)}: ${raw.text}`);
      assert.equal(raw.frames.at(-1).data, '[DONE]');
      const up = rec.last().json;
      assert.equal(up.stream ?? false, false);
      assert.equal(up.stream_options, undefined, `stream_options ${JSON.stringify(so)} sent upstream: ${rec.last().raw}`);
      const usage = raw.frames.some((f) => f.json?.usage);
      assert.equal(usage, so?.include_usage === true, 'the usage chunk only when asked');
    }
  });

  test('Anthropic stream=true (translated to an OpenAI upstream): non-streaming upstream, proper SSE back', async () => {
    rec.queue({ body: oaBody(PROSE) });
    const msg = await anthropic(fr).messages.stream({
      model: 'rec-gpt', max_tokens: 300, messages: user('Invent a person'), output_config: anFormat(PERSON_SCHEMA),
    }).finalMessage();
    assert.equal(rec.last().json.stream ?? false, false, `upstream streamed: ${rec.last().raw}`);
    assert.equal(msg.content[0].text.trim(), ANN_COMPACT);
    assert.equal(msg.stop_reason, 'end_turn');
  });

  test('buffered: invalid twice → retried, then a 502 in the caller\'s dialect', async () => {
    rec.queue({ body: anBody(ANN_BAD) }, { body: anBody(ANN_BAD) });
    const e = await rejectsWith((async () => {
      const [, err] = await drain(await anthropic(fr).messages.create({
        model: 'rec-claude', max_tokens: 300, stream: true, messages: user('Invent a person'), output_config: anFormat(PERSON_SCHEMA),
      }));
      if (err) throw err;
    })(), Anthropic.APIError, 'buffered invalid twice');
    assert.equal(e.status ?? 502, 502, e.message);
    assert.ok(JSON.stringify(e.error).includes('$.age'), JSON.stringify(e.error));
    assert.equal(upstreamCalls(), 2);
    assert.ok(rec.requests.every((r) => r.json.stream === false || r.json.stream === undefined),
      `no upstream call streams: ${rec.requests.map((r) => r.json.stream)}`);
  });
});

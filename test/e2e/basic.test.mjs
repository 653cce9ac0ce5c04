// basic.test.mjs — the happy paths through the official SDKs, against the
// in-process simulated provider: both dialects, streaming and not, tool
// calls, /v1/models and /healthz.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';

import { anthropic, anthropicLegacy, call, openai, startFrugal, test } from './lib/frugal.mjs';

const CONFIG = {
  server: { workers: 2 },
  providers: [{ name: 'sim', type: 'sim' }],
  models: [
    { name: 'gpt-4o-mini', provider: 'sim' },
    { name: 'claude-haiku-4-5', provider: 'sim' },
  ],
};

const WEATHER_OPENAI = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } },
      required: ['city', 'unit'],
    },
  },
};

const WEATHER_ANTHROPIC = {
  name: 'get_weather',
  description: 'Current weather for a city',
  input_schema: WEATHER_OPENAI.function.parameters,
};

let fr;
before(async () => {
  fr = await startFrugal({ config: CONFIG, name: 'frugal-basic' });
});
after(async () => {
  await fr?.stop();
});

const userMsg = (text) => [{ role: 'user', content: text }];

function assertFrugalHeaders(headers, model) {
  const id = headers.get('x-frugal-request-id');
  assert.ok(id && id.length >= 8, `x-frugal-request-id: ${id}`);
  assert.equal(headers.get('x-frugal-model'), model);
  assert.equal(headers.get('x-frugal-route'), 'fixed');
  return id;
}

describe('OpenAI SDK', () => {
  const req = { model: 'gpt-4o-mini', messages: userMsg('Say hello to the e2e suite') };

  test('non-streaming chat completion: content, usage, x-frugal-* headers', async () => {
    const c = openai(fr);
    const { data, response } = await c.chat.completions.create(req).withResponse();
    assert.equal(response.status, 200);
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.choices.length, 1);
    const msg = data.choices[0].message;
    assert.equal(msg.role, 'assistant');
    assert.equal(typeof msg.content, 'string');
    assert.match(msg.content, /^Simulated reply from gpt-4o-mini to: Say hello/);
    assert.equal(data.choices[0].finish_reason, 'stop');
    assert.ok(Number.isInteger(data.usage.prompt_tokens) && data.usage.prompt_tokens > 0, 'prompt_tokens');
    assert.ok(Number.isInteger(data.usage.completion_tokens) && data.usage.completion_tokens > 0, 'completion_tokens');
    assert.equal(data.usage.total_tokens, data.usage.prompt_tokens + data.usage.completion_tokens);
    const id1 = assertFrugalHeaders(response.headers, 'gpt-4o-mini');

    // deterministic answer, and a fresh request id per call
    const again = await c.chat.completions.create(req).withResponse();
    assert.equal(again.data.choices[0].message.content, msg.content);
    assert.notEqual(again.response.headers.get('x-frugal-request-id'), id1);
  });

  test('request ids start with the unix milliseconds, so ledger ids are time-ordered', async () => {
    // The ledger's primary key is the id: ids in time order append to its
    // index instead of writing a random index page per call (issue 17).
    const c = openai(fr);
    const ids = [];
    for (let i = 0; i < 6; i++) {
      const before = Date.now();
      const { response } = await c.chat.completions.create(req).withResponse();
      const id = response.headers.get('x-frugal-request-id');
      assert.match(id, /^frg_[0-9a-f]{31}$/, `x-frugal-request-id: ${id}`);
      const ms = parseInt(id.slice(4, 15), 16);
      assert.ok(ms >= before - 5000 && ms <= Date.now() + 5000, `${id}: ${ms} is not about ${before}`);
      ids.push(id);
    }
    assert.equal(new Set(ids).size, ids.length, 'ids are unique');
    const stamps = ids.map((id) => id.slice(4, 15));
    assert.deepEqual([...stamps].sort(), stamps, 'time prefixes in call order');
  });

  test('streaming chat completion: deltas add up to the non-streamed answer', async () => {
    const c = openai(fr);
    const expected = (await c.chat.completions.create(req)).choices[0].message.content;
    const { data: stream, response } = await c.chat.completions
      .create({ ...req, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    assert.match(response.headers.get('content-type'), /^text\/event-stream/);
    assertFrugalHeaders(response.headers, 'gpt-4o-mini');
    let text = '';
    let chunks = 0;
    let finish = null;
    let usage = null;
    for await (const chunk of stream) {
      chunks++;
      assert.equal(chunk.object, 'chat.completion.chunk');
      for (const ch of chunk.choices) {
        text += ch.delta?.content ?? '';
        if (ch.finish_reason) finish = ch.finish_reason;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    assert.ok(chunks >= 3, `only ${chunks} chunks`);
    assert.ok(text.length > 0);
    assert.equal(text, expected);
    assert.equal(finish, 'stop');
    assert.ok(usage && usage.completion_tokens > 0 && usage.prompt_tokens > 0, 'usage chunk (include_usage)');
  });

  test('tool call forced with tool_choice "required": JSON arguments', async () => {
    const c = openai(fr);
    const r = await c.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: userMsg('What is it like outside?'),
      tools: [WEATHER_OPENAI],
      tool_choice: 'required',
    });
    const ch = r.choices[0];
    assert.equal(ch.finish_reason, 'tool_calls');
    assert.equal(ch.message.tool_calls?.length, 1);
    const tc = ch.message.tool_calls[0];
    assert.equal(tc.type, 'function');
    assert.ok(tc.id, 'tool call id');
    assert.equal(tc.function.name, 'get_weather');
    const args = JSON.parse(tc.function.arguments);
    assert.equal(typeof args.city, 'string');
    assert.ok(['c', 'f'].includes(args.unit), `unit ${args.unit}`);
  });

  test('tool call with auto tool_choice when the user names the tool', async () => {
    const c = openai(fr);
    const r = await c.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: userMsg('Please use get_weather for Paris'),
      tools: [WEATHER_OPENAI],
    });
    assert.equal(r.choices[0].message.tool_calls?.[0]?.function?.name, 'get_weather');
    // and without the name: a plain answer
    const plain = await c.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: userMsg('Tell me a story'),
      tools: [WEATHER_OPENAI],
    });
    assert.ok(!plain.choices[0].message.tool_calls?.length, 'no tool call expected');
    assert.equal(typeof plain.choices[0].message.content, 'string');
  });

  test('streamed tool call: argument deltas assemble into valid JSON', async () => {
    const c = openai(fr);
    const stream = await c.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: userMsg('Weather please'),
      tools: [WEATHER_OPENAI],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      stream: true,
    });
    const calls = [];
    let finish = null;
    for await (const chunk of stream) {
      for (const ch of chunk.choices) {
        for (const d of ch.delta?.tool_calls ?? []) {
          const t = (calls[d.index] ??= { name: '', args: '' });
          if (d.function?.name) t.name += d.function.name;
          if (d.function?.arguments) t.args += d.function.arguments;
        }
        if (ch.finish_reason) finish = ch.finish_reason;
      }
    }
    assert.equal(calls.length, 1);
    assert.equal(calls[0].name, 'get_weather');
    const args = JSON.parse(calls[0].args);
    assert.equal(typeof args.city, 'string');
    assert.equal(finish, 'tool_calls');
  });

  test('models.list() lists exactly the configured models', async () => {
    const c = openai(fr);
    const ids = [];
    for await (const m of c.models.list()) {
      ids.push(m.id);
      assert.equal(m.object, 'model');
    }
    assert.deepEqual(ids.sort(), ['claude-haiku-4-5', 'gpt-4o-mini']);
  });
});

describe('Anthropic SDK 1.x', () => {
  const req = { model: 'claude-haiku-4-5', max_tokens: 200, messages: userMsg('Say hello to the e2e suite') };

  test('non-streaming message: text block, usage, x-frugal-* headers', async () => {
    const c = anthropic(fr);
    const { data, response } = await c.messages.create(req).withResponse();
    assert.equal(response.status, 200);
    assert.equal(data.type, 'message');
    assert.equal(data.role, 'assistant');
    assert.equal(data.content.length, 1);
    assert.equal(data.content[0].type, 'text');
    assert.match(data.content[0].text, /^Simulated reply from claude-haiku-4-5 to: Say hello/);
    assert.equal(data.stop_reason, 'end_turn');
    assert.ok(data.usage.input_tokens > 0 && data.usage.output_tokens > 0, JSON.stringify(data.usage));
    assertFrugalHeaders(response.headers, 'claude-haiku-4-5');
  });

  test('messages.stream().finalMessage() equals the non-streamed message', async () => {
    const c = anthropic(fr);
    const expected = await c.messages.create(req);
    const s = c.messages.stream(req);
    let deltas = '';
    s.on('text', (t) => (deltas += t));
    const final = await s.finalMessage();
    assert.equal(final.content[0].type, 'text');
    assert.equal(final.content[0].text, expected.content[0].text);
    assert.equal(deltas, expected.content[0].text);
    assert.equal(final.stop_reason, 'end_turn');
    assert.ok(final.usage.output_tokens > 0);
  });

  test('raw stream events come in protocol order', async () => {
    const c = anthropic(fr);
    const { data: stream, response } = await c.messages.create({ ...req, stream: true }).withResponse();
    assertFrugalHeaders(response.headers, 'claude-haiku-4-5');
    const types = [];
    let text = '';
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
    }
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
    assert.equal(types.at(-2), 'message_delta');
    const cbStart = types.indexOf('content_block_start');
    const cbDelta = types.indexOf('content_block_delta');
    const cbStop = types.lastIndexOf('content_block_stop');
    assert.ok(cbStart > 0 && cbDelta > cbStart && cbStop > cbDelta, types.join(','));
    assert.ok(cbStop < types.indexOf('message_delta'), types.join(','));
    assert.equal(types.filter((t) => t === 'message_start').length, 1);
    assert.equal(types.filter((t) => t === 'message_stop').length, 1);
    assert.ok(text.length > 0);
  });

  test('forced tool_choice {type:"tool"} gives a tool_use block', async () => {
    const c = anthropic(fr);
    const r = await c.messages.create({
      ...req,
      messages: userMsg('What is it like outside?'),
      tools: [WEATHER_ANTHROPIC],
      tool_choice: { type: 'tool', name: 'get_weather' },
    });
    assert.equal(r.stop_reason, 'tool_use');
    const tu = r.content.find((b) => b.type === 'tool_use');
    assert.ok(tu, `no tool_use block in ${JSON.stringify(r.content)}`);
    assert.equal(tu.name, 'get_weather');
    assert.ok(tu.id, 'tool_use id');
    assert.equal(typeof tu.input.city, 'string');
    assert.ok(['c', 'f'].includes(tu.input.unit), `unit ${tu.input.unit}`);
  });

  test('streamed tool_use: finalMessage() has the parsed input', async () => {
    const c = anthropic(fr);
    const final = await c.messages
      .stream({
        ...req,
        messages: userMsg('Weather please'),
        tools: [WEATHER_ANTHROPIC],
        tool_choice: { type: 'tool', name: 'get_weather' },
      })
      .finalMessage();
    assert.equal(final.stop_reason, 'tool_use');
    const tu = final.content.find((b) => b.type === 'tool_use');
    assert.ok(tu, JSON.stringify(final.content));
    assert.equal(tu.name, 'get_weather');
    assert.equal(typeof tu.input.city, 'string');
  });

  test('messages.countTokens() through /v1/messages/count_tokens', async () => {
    const c = anthropic(fr);
    const short = await c.messages.countTokens({ model: 'claude-haiku-4-5', messages: userMsg('hi') });
    const long = await c.messages.countTokens({ model: 'claude-haiku-4-5', messages: userMsg('hi '.repeat(400)) });
    assert.ok(Number.isInteger(short.input_tokens) && short.input_tokens > 0, JSON.stringify(short));
    assert.ok(long.input_tokens > short.input_tokens + 200, `${long.input_tokens} vs ${short.input_tokens}`);
  });

  test('models.list() in the Anthropic shape', async () => {
    const ids = [];
    for await (const m of anthropic(fr).models.list()) {
      assert.equal(m.type, 'model');
      ids.push(m.id);
    }
    assert.deepEqual(ids.sort(), ['claude-haiku-4-5', 'gpt-4o-mini']);
  });

  test('auto tool_choice: the tool is called when the user names it', async () => {
    const c = anthropic(fr);
    const r = await c.messages.create({
      ...req,
      messages: userMsg('Please use get_weather for Paris'),
      tools: [WEATHER_ANTHROPIC],
    });
    assert.equal(r.content.find((b) => b.type === 'tool_use')?.name, 'get_weather');
  });
});

describe('Anthropic SDK 0.x (legacy: x-api-key, anthropic-version 2023-06-01)', () => {
  const req = { model: 'claude-haiku-4-5', max_tokens: 200, messages: userMsg('Hello from the legacy SDK') };

  test('non-streaming message', async () => {
    const c = anthropicLegacy(fr);
    const { data, response } = await c.messages.create(req).withResponse();
    assert.equal(data.content[0].type, 'text');
    assert.match(data.content[0].text, /^Simulated reply from claude-haiku-4-5 to: Hello from the legacy/);
    assert.ok(data.usage.input_tokens > 0 && data.usage.output_tokens > 0);
    assertFrugalHeaders(response.headers, 'claude-haiku-4-5');
  });

  test('streaming message', async () => {
    const c = anthropicLegacy(fr);
    const expected = await c.messages.create(req);
    const final = await c.messages.stream(req).finalMessage();
    assert.equal(final.content[0].text, expected.content[0].text);
    assert.equal(final.stop_reason, 'end_turn');
    const types = [];
    for await (const ev of await c.messages.create({ ...req, stream: true })) types.push(ev.type);
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
  });
});

describe('plain HTTP', () => {
  test('GET /healthz', async () => {
    const r = await call(fr, '/healthz', { method: 'GET' });
    assert.equal(r.status, 200);
    assert.equal(r.json.status, 'ok');
    // the ledger's store (reachable; nothing spooled) and its queue
    assert.deepEqual({ ...r.json.store, queue: 0 }, { state: 'ok', spool: 0, queue: 0 });
  });

  test('GET /v1/models in the OpenAI list shape', async () => {
    const r = await call(fr, '/v1/models', { method: 'GET' });
    assert.equal(r.status, 200);
    assert.equal(r.json.object, 'list');
    assert.deepEqual(r.json.data.map((m) => m.id).sort(), ['claude-haiku-4-5', 'gpt-4o-mini']);
  });
});

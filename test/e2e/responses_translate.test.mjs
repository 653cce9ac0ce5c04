// responses_translate.test.mjs — the Responses API served by models whose
// provider has no Responses API: Claude models (translated to Anthropic
// Messages) and a Chat-Completions-only provider (`responses: false`,
// translated to Chat Completions).  Driven by the official `openai` SDK
// (create, stream, parse, a function-tool round trip), the Vercel AI SDK's
// default provider and @openai/agents; a route whose tiers sit on
// different dialects; the 400s for what cannot be translated; a cut stream.
// Upstream is the built-in simulated provider (Anthropic for claude-*), and
// a recorder standing in for a Chat-only provider to check the wire.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { zodTextFormat } from 'openai/helpers/zod';
import { generateObject, generateText, streamText } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { Agent, run, setDefaultOpenAIClient, setOpenAIAPI, setTracingDisabled, tool } from '@openai/agents';
import { ChatOpenAI } from '@langchain/openai';

import {
  OpenAI,
  call,
  ledgerFlushed,
  openai,
  rejectsWith,
  startFrugal,
  test as libTest,
} from './lib/frugal.mjs';
import { startRecorder } from './lib/recorder.mjs';

const test = (name, fn) => libTest(name, { timeout: 30000 }, fn);

const MASTER = 'sk-master-rtrans-e2e';
let fr;
let rec;
before(async () => {
  rec = await startRecorder();
  fr = await startFrugal({
    name: 'frugal-rtrans',
    config: {
      server: { master_key: MASTER },
      providers: [
        { name: 'sim', type: 'sim' },
        { name: 'sim-chat', type: 'sim', responses: false },
        { name: 'rec-chat', type: 'openai', base_url: `${rec.url}/v1`, api_key: 'sk-rec-rtrans', responses: false },
      ],
      models: [
        { name: 'claude-haiku-4-5', provider: 'sim' },
        { name: 'gpt-4o', provider: 'sim' },
        { name: 'chat-mini', provider: 'sim-chat', model: 'gpt-4o-mini' },
        { name: 'rec-chat', provider: 'rec-chat', model: 'llama-3-70b' },
      ],
      routes: [
        { name: 'cross', cheap: 'claude-haiku-4-5', frontier: 'chat-mini' },
      ],
      structured_output: { validate: true, retries: 1 },
      response_cache: { enabled: true, ttl: '1h' },
    },
  });
});
after(async () => {
  await fr?.stop();
  await rec?.stop();
});

const client = (o = {}) => openai(fr, o);

async function freshKey(name, extra = {}) {
  const r = await call(fr, '/frugal/keys', { body: { name, ...extra } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

async function spend(k, n) {
  await ledgerFlushed(fr, n);
  const r = await call(fr, `/frugal/spend?since=1h&key=${k.id}`, { method: 'GET' });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

const weatherTool = {
  type: 'function', name: 'get_weather', description: 'Weather in a city', strict: true,
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
};

for (const [model, upstream] of [['claude-haiku-4-5', 'claude-haiku-4-5'], ['chat-mini', 'gpt-4o-mini']]) {
  describe(`Responses API to ${model} (translated)`, () => {
    test('create: a Response object, usage in its shape, metered and priced', async () => {
      const k = await freshKey(`create-${model}`);
      const { data: r, response } = await client({ apiKey: k.key })
        .responses.create({ model, instructions: 'Be brief.', input: 'Name a colour.', max_output_tokens: 200 })
        .withResponse();
      assert.equal(r.object, 'response');
      assert.match(r.id, /^resp_/);
      assert.equal(r.model, model);
      assert.equal(r.status, 'completed');
      assert.equal(r.incomplete_details, null);
      assert.equal(r.error, null);
      assert.equal(r.instructions, 'Be brief.', 'the request fields are repeated');
      assert.equal(r.max_output_tokens, 200);
      assert.match(r.output_text, new RegExp(`^Simulated reply from ${upstream} to: `));
      assert.equal(r.output[0].type, 'message');
      assert.ok(r.output[0].id);
      const u = r.usage;
      assert.ok(u.input_tokens > 0 && u.output_tokens > 0);
      assert.equal(u.total_tokens, u.input_tokens + u.output_tokens);
      assert.equal(typeof u.input_tokens_details.cached_tokens, 'number');
      assert.equal(typeof u.output_tokens_details.reasoning_tokens, 'number');
      assert.equal(response.headers.get('x-frugal-model'), model);
      const cost = Number(response.headers.get('x-frugal-cost-usd'));
      assert.ok(cost > 0, 'priced');
      const sp = await spend(k, 1);
      assert.equal(sp.requests, 1);
      assert.equal(Number(sp.cost_usd).toFixed(6), cost.toFixed(6), 'the ledger has the call at the price the header said');
    });

    test('stream: the SDK stream helper accepts the events; usage in response.completed', async () => {
      const stream = client().responses.stream({ model, input: 'Tell me about streams.' });
      const types = [];
      let seq = -1;
      for await (const ev of stream) {
        types.push(ev.type);
        assert.equal(ev.sequence_number, seq + 1, 'sequence numbers count up from 0');
        seq = ev.sequence_number;
      }
      const final = await stream.finalResponse();
      assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress',
        'response.output_item.added', 'response.content_part.added']);
      assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done',
        'response.output_item.done', 'response.completed']);
      assert.ok(types.slice(4, -4).every((t) => t === 'response.output_text.delta'), types.join());
      assert.match(final.output_text, new RegExp(`^Simulated reply from ${upstream}`));
      assert.equal(final.status, 'completed');
      assert.ok(final.usage.input_tokens > 0 && final.usage.output_tokens > 0);
    });

    test('parse: text.format json_schema through the structured-output path', async () => {
      const Person = z.object({ name: z.string(), age: z.number().int() });
      const r = await client().responses.parse({
        model, input: 'Extract: Ada, 36.', text: { format: zodTextFormat(Person, 'person') },
      });
      assert.equal(typeof r.output_parsed.name, 'string');
      assert.ok(Number.isInteger(r.output_parsed.age));
    });

    test('a translated answer that does not match its schema is retried, then refused; streamed, ends in an error', async () => {
      const format = { type: 'json_schema', name: 'p', strict: true, schema: {
        type: 'object', properties: { name: { type: 'string' } }, required: ['name'], additionalProperties: false } };
      const err = await rejectsWith(client().responses.create({ model, input: 'Extract the person #sim:bad_schema', text: { format } }),
        OpenAI.APIError);
      assert.equal(err.code, 'invalid_structured_output', err.message);
      const stream = await client().responses.create({ model, stream: true, input: 'Extract the person #sim:bad_schema', text: { format } });
      const types = [];
      const e2 = await rejectsWith((async () => {
        for await (const ev of stream) types.push(ev.type);
      })(), OpenAI.APIError);
      assert.match(e2.message, /does not match the requested schema/);
      assert.ok(!types.includes('response.completed'), types.join());
    });

    test('budgets hold the translated call to its worst case; the response cache answers stateless repeats', async () => {
      const k = await freshKey(`tight-${model}`, { budget: '0.001/day' });
      const e = await rejectsWith(client({ apiKey: k.key }).responses.create({ model, input: 'hi', max_output_tokens: 100000 }),
        OpenAI.RateLimitError);
      assert.equal(e.code, 'budget_exceeded');
      const body = { model, input: `cache me please (${model})`, store: false };
      const a = await client().responses.create(body).withResponse();
      const b = await client().responses.create(body).withResponse();
      assert.equal(a.response.headers.get('x-frugal-cache'), 'miss');
      assert.equal(b.response.headers.get('x-frugal-cache'), 'hit');
      assert.equal(b.data.object, 'response');
      assert.equal(b.data.output_text, a.data.output_text);
    });

    test('a function tool round trip: function_call out, function_call_output back in input', async () => {
      const c = client();
      const input = [{ role: 'user', content: 'Use get_weather for Oslo.' }];
      const r1 = await c.responses.create({ model, input, tools: [weatherTool] });
      const call1 = r1.output.find((o) => o.type === 'function_call');
      assert.ok(call1, JSON.stringify(r1.output));
      assert.equal(call1.name, 'get_weather');
      assert.ok(call1.call_id && call1.id);
      assert.equal(typeof JSON.parse(call1.arguments).city, 'string');
      const r2 = await c.responses.create({
        model, tools: [weatherTool],
        input: [...input, ...r1.output, { type: 'function_call_output', call_id: call1.call_id, output: '{"temp_c":4}' }],
      });
      assert.equal(r2.status, 'completed');
      assert.ok(r2.output_text.length > 0, JSON.stringify(r2.output));
      assert.ok(!r2.output.some((o) => o.type === 'function_call'), 'the tool result was read');
    });

    test('streamed tool call: function_call_arguments events and the item in the final response', async () => {
      const stream = client().responses.stream({ model, input: 'Use get_weather for Oslo.', tools: [weatherTool] });
      const types = [];
      for await (const ev of stream) types.push(ev.type);
      const final = await stream.finalResponse();
      assert.equal(final.tools[0].name, 'get_weather', 'the request fields are repeated');
      assert.ok(types.includes('response.function_call_arguments.delta'), types.join());
      assert.ok(types.includes('response.function_call_arguments.done'), types.join());
      const fc = final.output.find((o) => o.type === 'function_call');
      assert.ok(fc && fc.call_id && JSON.parse(fc.arguments));
    });

    test('what cannot be translated is a 400 naming it', async () => {
      const c = client();
      let e = await rejectsWith(c.responses.create({ model, input: 'hi', tools: [weatherTool, { type: 'web_search' }] }),
        OpenAI.BadRequestError);
      assert.equal(e.param, 'tools[1]');
      assert.match(e.message, /web_search/);
      e = await rejectsWith(c.responses.create({ model, input: 'hi', previous_response_id: 'resp_123' }), OpenAI.BadRequestError);
      assert.equal(e.param, 'previous_response_id');
      e = await rejectsWith(c.responses.create({ model, input: [{ type: 'item_reference', id: 'msg_1' }] }), OpenAI.BadRequestError);
      assert.equal(e.param, 'input[0]');
      e = await rejectsWith(c.responses.create({ model, input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file-1', detail: 'auto' }] }] }),
        OpenAI.BadRequestError);
      assert.equal(e.param, 'input[0].content[0]');
      e = await rejectsWith(c.responses.inputTokens.count({ model, input: 'hi' }), OpenAI.BadRequestError);
      assert.equal(e.param, 'model');
    });

    test('a stream cut upstream ends in an error, never a clean completion', async () => {
      const stream = client({ maxRetries: 0 }).responses.stream({ model, input: 'Say a lot. #sim:cut_after=3' });
      const types = [];
      await assert.rejects((async () => {
        for await (const ev of stream) types.push(ev.type);
      })());
      assert.ok(!types.includes('response.completed'), types.join());
    });
  });
}

describe('Chat-Completions-only provider on the wire', () => {
  test('the call goes to /v1/chat/completions in Chat shape and comes back as a Response', async () => {
    rec.requests.length = 0;
    const r = await client().responses.create({
      model: 'rec-chat', instructions: 'Sys.', input: 'Hi', max_output_tokens: 40,
      reasoning: { effort: 'low' }, metadata: { a: 'b' },
    });
    assert.equal(rec.requests.length, 1);
    const q = rec.requests[0];
    assert.equal(q.path, '/v1/chat/completions');
    assert.equal(q.json.model, 'llama-3-70b');
    assert.deepEqual(q.json.messages, [{ role: 'system', content: 'Sys.' }, { role: 'user', content: 'Hi' }]);
    assert.equal(q.json.max_completion_tokens, 40);
    assert.equal(q.json.reasoning_effort, 'low');
    assert.equal(q.json.input, undefined);
    assert.equal(r.object, 'response');
    assert.equal(r.model, 'rec-chat');
    assert.equal(r.output_text, 'Recorded reply.');

    rec.requests.length = 0;
    const s = client().responses.stream({ model: 'rec-chat', input: 'Stream' });
    const final = await s.finalResponse();
    assert.equal(final.output_text, 'Recorded reply.');
    assert.equal(rec.requests[0].json.stream, true);
    assert.deepEqual(rec.requests[0].json.stream_options, { include_usage: true });
  });

  test('an upstream error comes back in the OpenAI error shape with its status', async () => {
    rec.queue({ status: 400, body: { error: { message: 'context too long', type: 'invalid_request_error', param: 'messages', code: null } } });
    const e = await rejectsWith(client({ maxRetries: 0 }).responses.create({ model: 'rec-chat', input: 'x' }), OpenAI.BadRequestError);
    assert.match(e.message, /context too long/);
    assert.equal(e.type, 'invalid_request_error');
  });
});

describe('routes and clients across dialects', () => {
  test('a route whose tiers are on different dialects serves both tiers', async () => {
    const c = client();
    const cheap = await c.responses.create({ model: 'cross', input: 'hi' }, { headers: { 'x-frugal-route': 'cheap' } }).withResponse();
    assert.equal(cheap.response.headers.get('x-frugal-model'), 'claude-haiku-4-5');
    assert.match(cheap.data.output_text, /claude-haiku-4-5/);
    const frontier = await c.responses.create({ model: 'cross', input: 'hi' }, { headers: { 'x-frugal-route': 'frontier' } }).withResponse();
    assert.equal(frontier.response.headers.get('x-frugal-model'), 'chat-mini');
    assert.match(frontier.data.output_text, /gpt-4o-mini/);
    assert.equal(frontier.data.model, 'cross');
  });

  test('Vercel AI SDK default provider (Responses API) against a Claude model', async () => {
    const provider = createOpenAI({ baseURL: `${fr.url}/v1`, apiKey: MASTER });
    const model = provider('claude-haiku-4-5');
    const g = await generateText({ model, prompt: 'Say hello.', maxRetries: 0 });
    assert.match(g.text, /^Simulated reply from claude-haiku-4-5/);
    assert.ok(g.usage.inputTokens > 0);
    const s = streamText({ model, prompt: 'Stream a sentence.', maxRetries: 0 });
    let text = '';
    for await (const d of s.textStream) text += d;
    assert.match(text, /Simulated reply from claude-haiku-4-5/);
    const o = await generateObject({
      model, maxRetries: 0, prompt: 'A city and its population.',
      schema: z.object({ city: z.string(), population: z.number().int() }),
    });
    assert.equal(typeof o.object.city, 'string');
  });

  test('@openai/agents against a Claude model', async () => {
    setTracingDisabled(true);
    setOpenAIAPI('responses');
    setDefaultOpenAIClient(new OpenAI({ apiKey: MASTER, baseURL: `${fr.url}/v1`, maxRetries: 0 }));
    const agent = new Agent({ name: 'Helper', instructions: 'Answer briefly.', model: 'claude-haiku-4-5' });
    const result = await run(agent, 'What is an agent?');
    assert.match(result.finalOutput, /^Simulated reply from claude-haiku-4-5/);
  });

  test('@openai/agents with a function tool against a Claude model: the agent loop sends the call and its output back', async () => {
    setTracingDisabled(true);
    setOpenAIAPI('responses');
    setDefaultOpenAIClient(new OpenAI({ apiKey: MASTER, baseURL: `${fr.url}/v1`, maxRetries: 0 }));
    const seen = [];
    const getWeather = tool({
      name: 'get_weather', description: 'Weather in a city',
      parameters: z.object({ city: z.string() }),
      execute: async ({ city }) => { seen.push(city); return `4 C in ${city}`; },
    });
    const agent = new Agent({ name: 'Weather', instructions: 'Use tools.', model: 'claude-haiku-4-5', tools: [getWeather] });
    const result = await run(agent, 'Use get_weather for Oslo.');
    assert.equal(seen.length, 1, 'the tool ran once');
    assert.ok(result.rawResponses.length >= 2, 'a second turn carried the tool output');
    assert.match(result.finalOutput, /^Simulated reply from claude-haiku-4-5/);
  });

  test('LangChain ChatOpenAI with useResponsesApi against a Claude model: invoke and stream', async () => {
    const llm = new ChatOpenAI({
      model: 'claude-haiku-4-5', useResponsesApi: true, apiKey: MASTER, maxRetries: 0,
      configuration: { baseURL: `${fr.url}/v1` },
    });
    const m = await llm.invoke('What is LangChain?');
    assert.match(String(m.content?.[0]?.text ?? m.content), /Simulated reply from claude-haiku-4-5/);
    assert.ok(m.usage_metadata?.input_tokens > 0);
    let streamed = '';
    for await (const chunk of await llm.stream('Stream it.')) {
      streamed += typeof chunk.content === 'string' ? chunk.content : chunk.content.map((c) => c.text ?? '').join('');
    }
    assert.match(streamed, /Simulated reply from claude-haiku-4-5/);
  });
});

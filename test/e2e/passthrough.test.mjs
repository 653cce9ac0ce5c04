// passthrough.test.mjs — what reaches the provider, checked on a recording
// upstream: unknown fields and key order survive, only the model id is
// rewritten, the client's key is swapped for the provider's key in the
// provider's own auth scheme, and the provider key never leaks back.
import { after, before, beforeEach, describe } from 'node:test';
import assert from 'node:assert/strict';

import { anthropic, anthropicLegacy, call, openai, startFrugal, test } from './lib/frugal.mjs';
import { DEFAULT_TEXT, startRecorder } from './lib/recorder.mjs';

const OPENAI_KEY = 'sk-provider-openai-7f3a9c1e55d2SECRET';
const ANTHROPIC_KEY = 'sk-ant-provider-0b8e4d2c77a1SECRET';
const MASTER = 'fg-master-e2e-4e1d9b';
const CLIENT_KEY = 'sk-client-anything-91c2f0';

let rec;
let fr; // with a master key
let open; // without a master key: any client key is accepted

function config(recUrl, masterKey) {
  return {
    server: { workers: 2, ...(masterKey ? { master_key: masterKey } : {}) },
    providers: [
      { name: 'oa', type: 'openai', base_url: `${recUrl}/v1`, api_key: OPENAI_KEY },
      { name: 'an', type: 'anthropic', base_url: recUrl, api_key: ANTHROPIC_KEY },
    ],
    models: [
      { name: 'gpt-4o-mini', provider: 'oa', model: 'gpt-4o-mini-2024-07-18' },
      { name: 'same-id', provider: 'oa' },
      { name: 'claude-haiku-4-5', provider: 'an', model: 'claude-haiku-4-5-20251001' },
      { name: 'claude-same-id', provider: 'an' },
    ],
    // nothing but the model id may change on the way: keep the optimising
    // stages (which legitimately add fields) out of these checks
    prompt_caching: { auto_breakpoints: false, openai_cache_key: false },
    response_cache: { enabled: false },
  };
}

before(async () => {
  rec = await startRecorder();
  fr = await startFrugal({ config: config(rec.url, MASTER), name: 'frugal-pass' });
  open = await startFrugal({ config: config(rec.url, null), name: 'frugal-pass-open' });
});

after(async () => {
  const logs = [];
  for (const d of [fr, open]) if (d) logs.push((await d.stop()).stderr);
  await rec?.stop();
  // the provider keys (and the master key) are never logged
  for (const log of logs) {
    for (const secret of [OPENAI_KEY, ANTHROPIC_KEY, MASTER, CLIENT_KEY])
      assert.ok(!log.includes(secret), `frugal logged a secret (${secret.slice(0, 12)}…)`);
    assert.ok(!log.includes('SECRET'), 'frugal logged part of a provider key');
  }
});

beforeEach(() => rec.reset());

/* Every secret the client must never see. */
function assertNoProviderKey(status, headers, text) {
  const all = [...headers.entries()].map(([k, v]) => `${k}: ${v}`).join('\n') + '\n' + text;
  for (const k of [OPENAI_KEY, ANTHROPIC_KEY])
    assert.ok(!all.includes(k), `provider key in the client's response (status ${status})`);
  assert.ok(!all.includes('SECRET'), 'part of a provider key in the response');
}

describe('request bodies reach the provider unchanged', () => {
  test('OpenAI: unknown fields kept in order, only model rewritten', async () => {
    // hand-written JSON: key order that is neither sorted nor "usual"
    const sent = {
      temperature: 0.7,
      frugal_future_field: { b: 1, a: [1, 2], z: { y: null, x: true } },
      messages: [
        { role: 'system', content: 'You are terse.', frugal_msg_extra: { q: 'keep me', p: 2 } },
        { content: 'Unicode: héllo — 日本語 🚀 "quoted" \\ back\nslash', role: 'user', name: 'e2e' },
      ],
      model: 'gpt-4o-mini',
      max_tokens: 64,
      metadata: { zz: '1', aa: '2' },
      seed: 12345678901,
      top_p: 1,
    };
    const r = await call(fr, '/v1/chat/completions', { body: JSON.stringify(sent) });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.choices[0].message.content, DEFAULT_TEXT);
    assert.equal(rec.requests.length, 1);
    const got = rec.last();
    assert.equal(got.method, 'POST');
    assert.equal(got.path, '/v1/chat/completions');
    assert.ok(got.json, `upstream body is not JSON: ${got.raw.slice(0, 200)}`);
    const want = { ...sent, model: 'gpt-4o-mini-2024-07-18' }; // same key position
    assert.deepEqual(got.json, want);
    // key order, at every level (JSON.stringify follows insertion order)
    assert.equal(JSON.stringify(got.json), JSON.stringify(want));
    assert.ok(got.raw.includes('"frugal_future_field":{"b":1,"a":[1,2],"z":{"y":null,"x":true}}'), got.raw);
    // frugal answers with the name the client asked for
    assert.equal(r.headers.get('x-frugal-model'), 'gpt-4o-mini');
  });

  test('OpenAI: with nothing to rewrite the body is forwarded byte for byte', async () => {
    const raw = '{ "model" : "same-id",\n  "messages": [ {"role":"user", "content":"hi", "x_extra": [3,2,1]} ],\n  "zeta": 1.50, "alpha": "A" }';
    const r = await call(fr, '/v1/chat/completions', { body: raw });
    assert.equal(r.status, 200, r.text);
    assert.equal(rec.last().raw, raw);
  });

  test('OpenAI: with a rewrite, every other byte is kept (whitespace, number spelling)', async () => {
    const raw = '{ "seed": 123456789012345678901234567890, "temperature": 1e-400, "top_p": -0.0,\n' +
      '  "model" :\t"gpt-4o-mini" ,\n  "messages": [{"role": "user", "content": "caf\\u00e9 \\ud83d\\ude80"}],\n' +
      '  "logit_bias": {"50256": -100}, "x": 1.50E+3 }';
    const r = await call(fr, '/v1/chat/completions', { body: raw });
    assert.equal(r.status, 200, r.text);
    assert.equal(rec.last().raw, raw.replace('"gpt-4o-mini"', '"gpt-4o-mini-2024-07-18"'));
  });

  test('duplicate or escaped "model" keys cannot make the provider run another model', async () => {
    // JSON parsers upstream take the LAST member of a duplicated key; frugal
    // must either refuse such a body or route, meter and forward the model
    // the provider will actually run.
    const bodies = [
      '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"model":"some-expensive-model"}',
      '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"mod\\u0065l":"some-expensive-model"}',
    ];
    for (const raw of bodies) {
      rec.reset();
      const r = await call(fr, '/v1/chat/completions', { body: raw });
      if (r.status === 400) {
        assertNoProviderKey(r.status, r.headers, r.text);
        assert.equal(rec.requests.length, 0);
        continue;
      }
      assert.equal(r.status, 200, r.text);
      const up = JSON.parse(rec.last().raw); // last member wins, as upstream
      assert.equal(up.model, 'gpt-4o-mini-2024-07-18',
        `frugal routed and metered '${r.headers.get('x-frugal-model')}' but the provider runs '${up.model}': ${rec.last().raw}`);
    }
    // same for "stream": frugal's idea of the reply framing must match the provider's
    rec.reset();
    const r = await call(fr, '/v1/chat/completions', {
      body: '{"model":"same-id","stream":true,"messages":[{"role":"user","content":"x"}],"stream":false}',
    });
    if (r.status !== 400) {
      const up = JSON.parse(rec.last().raw);
      const sse = /^text\/event-stream/.test(r.headers.get('content-type') ?? '');
      assert.equal(sse, up.stream === true, `client got ${sse ? 'SSE' : 'JSON'}, provider was asked stream=${up.stream}`);
    }
  });

  test('Anthropic: unknown fields in body, message and content block kept in order', async () => {
    const sent = {
      model: 'claude-haiku-4-5',
      frugal_future_field: { b: 1, a: [1, 2] },
      system: [{ type: 'text', text: 'Be brief.', zz_unknown: 1 }],
      messages: [
        {
          role: 'user',
          frugal_msg_extra: 'kept',
          content: [{ text: 'Hello ünïcode ✓', type: 'text', block_extra: { k: 'v' } }],
        },
      ],
      max_tokens: 100,
      temperature: 0.25,
      metadata: { user_id: 'u-1' },
    };
    const r = await call(fr, '/v1/messages', {
      body: JSON.stringify(sent),
      headers: { 'x-api-key': MASTER, 'anthropic-version': '2026-10-21' },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.content[0].text, DEFAULT_TEXT);
    const got = rec.last();
    assert.equal(got.path, '/v1/messages');
    const want = { ...sent, model: 'claude-haiku-4-5-20251001' };
    assert.equal(JSON.stringify(got.json), JSON.stringify(want));
  });

  test('Anthropic: streaming request body, nothing to rewrite → identical bytes', async () => {
    const raw = '{"model":"claude-same-id","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hey"}],"unknown_top":{"n":[1,{"m":2}]}}';
    const r = await call(fr, '/v1/messages', {
      body: raw,
      headers: { 'x-api-key': MASTER, 'anthropic-version': '2026-10-21' },
    });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type'), /^text\/event-stream/);
    assert.match(r.text, /event: message_stop/);
    assert.equal(rec.last().raw, raw);
  });
});

describe('credentials: the client key is replaced by the provider key', () => {
  function assertNoClientKey(k) {
    assert.ok(!rec.everything().includes(k), `the client's key reached the upstream`);
  }

  test('OpenAI SDK → Authorization: Bearer <provider key>', async () => {
    const c = openai(fr);
    const { data, response } = await c.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    assert.equal(data.choices[0].message.content, DEFAULT_TEXT);
    // the provider's request id reaches the client (support tickets need it)
    assert.equal(response.headers.get('x-request-id'), 'rec_1');
    const h = rec.last().headers;
    assert.equal(h.authorization, `Bearer ${OPENAI_KEY}`);
    assert.equal(h['x-api-key'], undefined);
    assertNoClientKey(MASTER);
    assertNoProviderKey(response.status, response.headers, JSON.stringify(data));
  });

  test('OpenAI streaming → provider key upstream, never back to the client', async () => {
    const r = await call(fr, '/v1/chat/completions', {
      body: { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] },
    });
    assert.equal(r.status, 200);
    assert.match(r.text, /data: \[DONE\]/);
    assert.equal(rec.last().headers.authorization, `Bearer ${OPENAI_KEY}`);
    assertNoClientKey(MASTER);
    assertNoProviderKey(r.status, r.headers, r.text);
  });

  test('Anthropic SDK 1.x (2026-10-21) → Authorization: Bearer, no x-api-key', async () => {
    const c = anthropic(fr, { defaultHeaders: { 'anthropic-beta': 'e2e-beta-2026-01-01,other-beta' } });
    const { data, response } = await c.messages
      .create({ model: 'claude-haiku-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    assert.equal(data.content[0].text, DEFAULT_TEXT);
    const h = rec.last().headers;
    assert.equal(h['anthropic-version'], '2026-10-21');
    assert.equal(h.authorization, `Bearer ${ANTHROPIC_KEY}`);
    assert.equal(h['x-api-key'], undefined);
    assert.equal(h['anthropic-beta'], 'e2e-beta-2026-01-01,other-beta');
    assertNoClientKey(MASTER);
    assertNoProviderKey(response.status, response.headers, JSON.stringify(data));
  });

  test('Anthropic SDK 0.x (2023-06-01) → x-api-key, no Authorization', async () => {
    const c = anthropicLegacy(fr, { defaultHeaders: { 'anthropic-beta': 'legacy-beta-1' } });
    const final = await c.messages
      .stream({ model: 'claude-haiku-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] })
      .finalMessage();
    assert.equal(final.content[0].text, DEFAULT_TEXT);
    const h = rec.last().headers;
    assert.equal(h['anthropic-version'], '2023-06-01');
    assert.equal(h['x-api-key'], ANTHROPIC_KEY);
    assert.equal(h.authorization, undefined);
    assert.equal(h['anthropic-beta'], 'legacy-beta-1');
    assertNoClientKey(MASTER);
  });

  test('without a master key any client key is accepted and never forwarded', async () => {
    const oa = openai(open, { apiKey: CLIENT_KEY });
    const r1 = await oa.chat.completions.create({ model: 'same-id', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(r1.choices[0].message.content, DEFAULT_TEXT);
    assert.equal(rec.last().headers.authorization, `Bearer ${OPENAI_KEY}`);
    const an = anthropicLegacy(open, { apiKey: CLIENT_KEY });
    await an.messages.create({ model: 'claude-same-id', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    assert.equal(rec.last().headers['x-api-key'], ANTHROPIC_KEY);
    const an1 = anthropic(open, { apiKey: CLIENT_KEY });
    await an1.messages.create({ model: 'claude-same-id', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    assert.equal(rec.last().headers.authorization, `Bearer ${ANTHROPIC_KEY}`);
    assert.equal(rec.requests.length, 3);
    assertNoClientKey(CLIENT_KEY);
  });

  test('provider error bodies and headers carry no provider key', async () => {
    rec.queue({ status: 401, body: { error: { message: 'Incorrect API key provided', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } } });
    const r = await call(fr, '/v1/chat/completions', {
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] },
    });
    assert.equal(r.status, 401);
    assertNoProviderKey(r.status, r.headers, r.text);
    // a transport failure is reported without the key either (every attempt:
    // curl retries once on a fresh connection when a reused one dies)
    rec.behave = () => ({ destroy: true });
    const r2 = await call(fr, '/v1/messages', {
      body: { model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] },
      headers: { 'x-api-key': MASTER, 'anthropic-version': '2023-06-01' },
    });
    assert.equal(r2.status, 502, r2.text);
    assertNoProviderKey(r2.status, r2.headers, r2.text);
  });
});

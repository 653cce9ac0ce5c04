// defer.test.mjs — deferral into provider batches (issue 21 part B2,
// call/defer.h, batch/batch_defer.h): a deferrable call whose model has no
// flex tier, on a provider with a batch API and a deadline of at least
// deferral.min_deadline, is collected for deferral.window_ms into one
// provider batch, held, and answered with its line's result at the batch
// price (x-frugal-defer: batch, saved_by.batch).  A batch slower than the
// deadline: answered in real time.  The simulated provider plays slow
// batches (#sim:batch_delay_ms).
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';

import { anthropic, call, ledgerFlushed, openai, startFrugal, test } from './lib/frugal.mjs';
import { billedChat as billed, nearWithin } from './lib/prices.mjs';

const user = (text) => [{ role: 'user', content: text }];
const MASTER = 'sk-defer-master';

const near = nearWithin(2.02e-6);

describe('deferral into provider batches', () => {
  let fr;
  before(async () => {
    fr = await startFrugal({
      name: 'frugal-defer',
      config: {
        server: { master_key: MASTER },
        providers: [{ name: 'sim', type: 'sim' }, { name: 'sim-chat', type: 'sim', responses: false }],
        models: [
          { name: 'gpt-4o-mini', provider: 'sim' }, // no flex: a provider batch
          { name: 'chat-only', model: 'gpt-4o-mini', provider: 'sim-chat' }, // no Responses API
          { name: 'gpt-5-mini', provider: 'sim' },  // flex first
          { name: 'claude-haiku-4-5', provider: 'sim' },
        ],
        batches: { poll_ms: 100 },
        deferral: { window_ms: 1000, min_deadline: '1s', max_deadline: '2m' }, // a window wide enough for concurrent calls under load
      },
    });
  });
  after(async () => {
    await fr?.stop();
  });

  const spend = async () => (await call(fr, '/frugal/spend?since=1h', { method: 'GET' })).json;
  let written = 0;
  const flushed = async (n) => {
    written += n;
    await ledgerFlushed(fr, written);
  };

  const ask = (model, headers = {}, text = 'write something') =>
    openai(fr, { apiKey: MASTER }).chat.completions
      .create({ model, messages: user(`${text} #sim:tokens=300 ${Math.random()}`) }, { headers })
      .withResponse();

  test('deferred calls (OpenAI SDK) share one provider batch and are answered at batch price', async () => {
    const s0 = await spend();
    const got = await Promise.all([0, 1, 2].map(() => ask('gpt-4o-mini', { 'x-frugal-defer': '2m' })));
    let cost = 0, saved = 0;
    for (const { data, response } of got) {
      assert.equal(response.headers.get('x-frugal-defer'), 'batch');
      assert.ok(data.choices[0].message.content.length > 0);
      cost += billed('gpt-4o-mini', data.usage, true);
      saved += billed('gpt-4o-mini', data.usage, false) - billed('gpt-4o-mini', data.usage, true);
    }
    await flushed(3);
    const s1 = await spend();
    assert.equal(s1.requests - s0.requests, 3, 'one record per call');
    near(s1.cost_usd - s0.cost_usd, cost, 'cost at batch rates');
    near(s1.saved_by.batch - s0.saved_by.batch, saved, 'saved_by.batch = standard - batch');
    assert.match(fr.err, /deferral: 3 line\(s\) in provider batch/, 'one provider batch for the window');
  });

  test('a deferred Messages call (Anthropic SDK) is answered from its batch line', async () => {
    const s0 = await spend();
    const { data, response } = await anthropic(fr, { apiKey: MASTER }).messages
      .create({ model: 'claude-haiku-4-5', max_tokens: 100, messages: user(`hello #sim:tokens=50 ${Math.random()}`) },
        { headers: { 'x-frugal-defer': '90s' } })
      .withResponse();
    assert.equal(response.headers.get('x-frugal-defer'), 'batch');
    assert.equal(data.type, 'message');
    await flushed(1);
    const s1 = await spend();
    assert.ok(s1.saved_by.batch - s0.saved_by.batch > 0, 'a batch saving');
  });

  test('a deferred Responses call (OpenAI SDK) is answered from its batch line', async () => {
    const { data, response } = await openai(fr, { apiKey: MASTER }).responses
      .create({ model: 'gpt-4o-mini', input: `hello #sim:tokens=50 ${Math.random()}` },
        { headers: { 'x-frugal-defer': '90s' } })
      .withResponse();
    assert.equal(response.headers.get('x-frugal-defer'), 'batch');
    assert.equal(data.object, 'response');
    assert.ok(data.output_text.length > 0);
    await flushed(1);
  });

  test('a deferred Responses call to a provider without the Responses API is batched as its translated Chat body', async () => {
    const s0 = await spend();
    const { data, response } = await openai(fr, { apiKey: MASTER }).responses
      .create({ model: 'chat-only', input: `hello #sim:tokens=50 ${Math.random()}` },
        { headers: { 'x-frugal-defer': '90s' } })
      .withResponse();
    assert.equal(response.headers.get('x-frugal-defer'), 'batch');
    assert.equal(data.object, 'response');
    assert.ok(data.output_text.length > 0);
    await flushed(1);
    const s1 = await spend();
    near(s1.cost_usd - s0.cost_usd, billed('gpt-4o-mini', {
      prompt_tokens: data.usage.input_tokens, completion_tokens: data.usage.output_tokens,
      prompt_tokens_details: { cached_tokens: data.usage.input_tokens_details?.cached_tokens ?? 0 },
    }, true), 'at batch rates');
  });

  test('a deferred Responses stream to a provider without the Responses API: held too, replayed as a Responses stream', async () => {
    const stream = await openai(fr, { apiKey: MASTER }).responses
      .create({ model: 'chat-only', stream: true, input: `hello #sim:tokens=50 ${Math.random()}` },
        { headers: { 'x-frugal-defer': '90s' } })
      .withResponse();
    assert.equal(stream.response.headers.get('x-frugal-defer'), 'batch');
    let done, text = '';
    for await (const ev of stream.data) {
      if (ev.type === 'response.output_text.delta') text += ev.delta;
      if (ev.type === 'response.completed') done = ev.response;
    }
    assert.equal(done.status, 'completed');
    assert.ok(text.length > 0);
    await flushed(1);
  });

  const calls = async () => (await call(fr, '/frugal/calls?limit=200', { method: 'GET' })).json.data ?? [];
  /* the late record of call `id`'s batch line, once the ledger has it */
  async function lateRecord(id) {
    for (let i = 0; i < 500; i++) {
      const r = (await calls()).find((c) => c.id === `${id}-b`);
      if (r) return r;
      await new Promise((res) => setTimeout(res, 20));
    }
    throw new Error(`no late batch record for ${id}`);
  }

  test('a batch slower than the deadline: real time at standard price, the late line recorded at batch price', async () => {
    const s0 = await spend();
    const { data, response } = await ask('gpt-4o-mini', { 'x-frugal-defer': '2s' }, 'slow #sim:batch_delay_ms=4000');
    assert.equal(response.headers.get('x-frugal-defer'), 'realtime');
    const id = response.headers.get('x-frugal-request-id');
    await flushed(1);
    const s1 = await spend();
    near(s1.cost_usd - s0.cost_usd, billed('gpt-4o-mini', data.usage, false), 'standard price');
    near(s1.saved_by.batch - s0.saved_by.batch, 0, 'no batch saving yet');
    // the line still finishes at the provider (4 s), which bills it: recorded
    const late = await lateRecord(id);
    assert.equal(late.status, 200);
    assert.ok(Number(late.cost_usd) > 0, 'the late line is billed');
    await flushed(1);
    const s2 = await spend();
    assert.ok(s2.saved_by.batch - s1.saved_by.batch > 0, 'at the batch price');
    assert.equal((await calls()).filter((c) => c.id === id).length, 1, 'the call itself once');
  });

  test('a deferred stream (OpenAI SDK) is held for its batch line and answered as a stream at batch price', async () => {
    const s0 = await spend();
    const { data: stream, response } = await openai(fr, { apiKey: MASTER }).chat.completions
      .create({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true },
        messages: user(`stream it #sim:tokens=300 ${Math.random()}`) }, { headers: { 'x-frugal-defer': '2m' } })
      .withResponse();
    assert.equal(response.headers.get('x-frugal-defer'), 'batch');
    assert.match(response.headers.get('content-type'), /^text\/event-stream/);
    let text = '', usage, finish, chunks = 0;
    for await (const ch of stream) {
      chunks++;
      if (ch.usage) usage = ch.usage;
      text += ch.choices[0]?.delta?.content ?? '';
      finish ??= ch.choices[0]?.finish_reason ?? undefined;
    }
    assert.ok(chunks >= 3, 'role, content, finish and usage chunks');
    assert.ok(text.length > 0, 'the content');
    assert.equal(finish, 'stop');
    assert.ok(usage?.completion_tokens > 0, 'the usage chunk (include_usage)');
    await flushed(1);
    const s1 = await spend();
    near(s1.cost_usd - s0.cost_usd, billed('gpt-4o-mini', usage, true), 'at batch rates');
    assert.ok(s1.saved_by.batch - s0.saved_by.batch > 0, 'saved_by.batch');
    assert.match(fr.err, /deferral: 1 line\(s\) in provider batch/);
  });

  test('a deferred stream without include_usage: no usage chunk, and no stream_options upstream (OpenAI refuses them without stream)', async () => {
    const { data: stream, response } = await openai(fr, { apiKey: MASTER }).chat.completions
      .create({ model: 'gpt-4o-mini', stream: true, messages: user(`plain #sim:tokens=40 ${Math.random()}`) },
        { headers: { 'x-frugal-defer': '2m' } })
      .withResponse();
    assert.equal(response.headers.get('x-frugal-defer'), 'batch');
    let text = '', usage = false;
    for await (const ch of stream) {
      if (ch.usage) usage = true;
      text += ch.choices[0]?.delta?.content ?? '';
    }
    assert.ok(text.length > 0);
    assert.equal(usage, false, 'the client did not ask for usage');
    await flushed(1);
  });

  test('a deferred Messages stream (Anthropic SDK) is answered as a stream from its batch line', async () => {
    const s0 = await spend();
    const stream = anthropic(fr, { apiKey: MASTER }).messages.stream(
      { model: 'claude-haiku-4-5', max_tokens: 100, messages: user(`hello #sim:tokens=50 ${Math.random()}`) },
      { headers: { 'x-frugal-defer': '90s' } });
    const { response } = await stream.withResponse();
    assert.equal(response.headers.get('x-frugal-defer'), 'batch');
    let deltas = 0;
    stream.on('text', () => deltas++);
    const msg = await stream.finalMessage();
    assert.equal(msg.type, 'message');
    assert.ok(deltas > 0 && msg.content[0].text.length > 0, 'text deltas');
    assert.ok(msg.usage.output_tokens > 0);
    await flushed(1);
    const s1 = await spend();
    assert.ok(s1.saved_by.batch - s0.saved_by.batch > 0, 'a batch saving');
  });

  test('a deferred stream whose batch is slower than the deadline: a real-time answer, still a stream', async () => {
    const s0 = await spend();
    const { data: stream, response } = await openai(fr, { apiKey: MASTER }).chat.completions
      .create({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true },
        messages: user(`slow #sim:batch_delay_ms=4000 #sim:tokens=300 ${Math.random()}`) },
        { headers: { 'x-frugal-defer': '2s' } })
      .withResponse();
    assert.equal(response.headers.get('x-frugal-defer'), 'realtime');
    let text = '', usage;
    for await (const ch of stream) {
      if (ch.usage) usage = ch.usage;
      text += ch.choices[0]?.delta?.content ?? '';
    }
    assert.ok(text.length > 0 && usage?.completion_tokens > 0);
    const id = response.headers.get('x-frugal-request-id');
    await flushed(1);
    const s1 = await spend();
    near(s1.cost_usd - s0.cost_usd, billed('gpt-4o-mini', usage, false), 'standard price');
    const late = await lateRecord(id);
    assert.equal(late.status, 200, 'the late line recorded');
    await flushed(1);
  });

  test('a deferred Responses stream (OpenAI SDK) is answered as a stream from its batch line', async () => {
    const s0 = await spend();
    const stream = await openai(fr, { apiKey: MASTER }).responses
      .create({ model: 'gpt-4o-mini', stream: true, input: `hello #sim:tokens=50 ${Math.random()}` },
        { headers: { 'x-frugal-defer': '90s' } })
      .withResponse();
    assert.equal(stream.response.headers.get('x-frugal-defer'), 'batch');
    let done, text = '';
    for await (const ev of stream.data) {
      if (ev.type === 'response.output_text.delta') text += ev.delta;
      if (ev.type === 'response.completed') done = ev.response;
    }
    assert.equal(done.status, 'completed');
    assert.ok(text.length > 0 && done.usage.output_tokens > 0);
    await flushed(1);
    const s1 = await spend();
    assert.ok(s1.saved_by.batch - s0.saved_by.batch > 0, 'a batch saving');
  });

  test('a deadline under min_deadline or a flex model: not a batch', async () => {
    const a = await ask('gpt-4o-mini', { 'x-frugal-defer': '500ms' });
    assert.equal(a.response.headers.get('x-frugal-defer'), 'realtime');
    const b = await ask('gpt-5-mini', { 'x-frugal-defer': '2m' });
    assert.equal(b.response.headers.get('x-frugal-defer'), 'flex');
    await flushed(2);
  });

  test('a held call and its line each hold the worst case on the key budget', async () => {
    const k = await call(fr, '/frugal/keys', { body: { name: 'deferbudget', budget: '10/day' } });
    assert.equal(k.status, 201, k.text);
    const reserved = async () =>
      Number((await call(fr, `/frugal/keys/${k.json.id}`, { method: 'GET' })).json.usage.budget.reserved_usd);
    const text = `same size #sim:delay_ms=3000 #sim:batch_delay_ms=3000 ${String(Math.random()).padEnd(20, '0').slice(0, 20)}`;
    const send = (headers) => openai(fr, { apiKey: k.json.key }).chat.completions
      .create({ model: 'gpt-4o-mini', max_tokens: 200, messages: user(text) }, { headers })
      .withResponse();
    const rt = send({}); // real time, 3 s at the provider
    await new Promise((r) => setTimeout(r, 1000));
    const one = await reserved();
    await rt;
    assert.ok(one > 0, 'a call in flight holds its worst case');
    const deferred = send({ 'x-frugal-defer': '2m' }); // its batch line takes 3 s
    await new Promise((r) => setTimeout(r, 1000));
    const both = await reserved();
    const { response } = await deferred;
    assert.equal(response.headers.get('x-frugal-defer'), 'batch');
    assert.ok(Math.abs(both - 2 * one) <= 0.02 * one, `the call and its line: ${both} vs 2 x ${one}`);
    await flushed(2);
    assert.equal(await reserved(), 0, 'both holds released');
  });

  test("a client's retry of a call whose client left waits for the same batch line", async () => {
    const before = (await spend()).requests;
    const body = JSON.stringify({ model: 'gpt-4o-mini',
      messages: user(`retry me #sim:batch_delay_ms=2500 ${Math.random()}`) });
    const post = (signal) => fetch(`${fr.url}/v1/chat/completions`, {
      method: 'POST',
      signal,
      headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json',
        'x-frugal-defer': '2m' },
      body,
    });
    const ac = new AbortController();
    const first = post(ac.signal).catch((e) => e);
    await new Promise((r) => setTimeout(r, 800)); // its line is in a provider batch by now
    ac.abort(); // as an SDK does on its timeout, before it retries
    assert.equal((await first).name, 'AbortError');
    // frugal has seen the first client leave (its call recorded, 499) before
    // the retry comes: else the line still has a waiter and is not shared
    await flushed(1);
    const retry = await post(undefined);
    assert.equal(retry.status, 200);
    assert.equal(retry.headers.get('x-frugal-defer'), 'batch');
    await retry.json();
    await flushed(1);
    await new Promise((r) => setTimeout(r, 1000));
    // the left call (499) and the retry answered from the line: no third,
    // late record of a line added twice or orphaned
    assert.equal((await spend()).requests - before, 2, 'one line for both');
  });

  test('a held client that disconnects: its call recorded once, its line when it ends', async () => {
    const before = (await spend()).requests;
    const ac = new AbortController();
    const p = fetch(`${fr.url}/v1/chat/completions`, {
      method: 'POST',
      signal: ac.signal,
      headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json',
        'x-frugal-defer': '2m' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: user(`leaving #sim:batch_delay_ms=2000 ${Math.random()}`) }),
    }).catch((e) => e);
    await new Promise((r) => setTimeout(r, 1000)); // held: the window, then 2 s of batch
    ac.abort();
    assert.equal((await p).name, 'AbortError');
    await flushed(1);
    const left = (await calls()).find((c) => c.status === 499);
    assert.ok(left, 'the abandoned call is recorded (499)');
    const late = await lateRecord(left.id); // the provider still bills the line
    assert.equal(late.status, 200);
    await flushed(1);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await spend()).requests - before, 2, 'the call once, its late line once');
  });
});

describe('deferral at shutdown', () => {
  test('held calls are answered in real time within the grace period', async () => {
    const fr = await startFrugal({
      name: 'frugal-defer-stop',
      config: {
        server: { master_key: MASTER, shutdown_grace_ms: 20000 },
        providers: [{ name: 'sim', type: 'sim' }],
        models: [{ name: 'gpt-4o-mini', provider: 'sim' }],
        batches: { poll_ms: 100 },
        deferral: { window_ms: 100, min_deadline: '1s', max_deadline: '5m' },
      },
    });
    try {
      const held = openai(fr, { apiKey: MASTER, maxRetries: 0 }).chat.completions
        .create({ model: 'gpt-4o-mini', messages: user(`hold me #sim:batch_delay_ms=600000 ${Math.random()}`) },
          { headers: { 'x-frugal-defer': '5m' } })
        .withResponse();
      let settled = false;
      held.then(() => { settled = true; }, () => { settled = true; });
      await new Promise((r) => setTimeout(r, 800)); // in its provider batch by now
      assert.equal(settled, false, 'the call is held for its batch line');
      fr.proc.kill('SIGTERM');
      const { data, response } = await held;
      assert.equal(response.headers.get('x-frugal-defer'), 'realtime');
      assert.ok(data.choices[0].message.content.length > 0);
    } finally {
      const st = await fr.stop({ send: false });
      assert.equal(st.code, 0);
    }
  });
});

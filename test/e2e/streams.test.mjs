// streams.test.mjs — streaming under stress: clients that hang up, upstreams
// that cut or stall, many concurrent streams, and event-by-event relaying.
import { after, before, beforeEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';

import { Anthropic, OpenAI, anthropic, anthropicLegacy, openai, sleep, startFrugal, test, waitFor } from './lib/frugal.mjs';
import { startRecorder } from './lib/recorder.mjs';

const IDLE_MS = 5000; // server.stream_idle_timeout_ms in this file: also the time a
// 100,000-token sim stream may take to start on a loaded machine (it is built whole first)

let rec;
let fr;

before(async () => {
  rec = await startRecorder();
  fr = await startFrugal({
    name: 'frugal-streams',
    config: {
      server: { workers: 2, stream_idle_timeout_ms: IDLE_MS },
      providers: [
        { name: 'sim-main', type: 'sim' },
        { name: 'rec-openai', type: 'openai', base_url: `${rec.url}/v1`, api_key: 'sk-rec-oa' },
        { name: 'rec-anthropic', type: 'anthropic', base_url: rec.url, api_key: 'sk-rec-an' },
      ],
      models: [
        { name: 'gpt-4o-mini', provider: 'sim-main' },
        { name: 'claude-haiku-4-5', provider: 'sim-main' },
        { name: 'rec-gpt', provider: 'rec-openai' },
        { name: 'rec-claude', provider: 'rec-anthropic' },
      ],
    },
  });
});

after(async () => {
  await fr?.stop();
  await rec?.stop();
});

beforeEach(() => rec.reset());

const user = (text) => [{ role: 'user', content: text }];

/* POST a streaming request over a raw connection; resolves once the first
 * body chunk arrived, with {req, res, first} — the caller decides when to
 * hang up. */
function openRawStream(path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = request(
      `${fr.url}${path}`,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers },
      },
      (res) => {
        if (res.statusCode !== 200) {
          let t = '';
          res.on('data', (d) => (t += d));
          res.on('end', () => reject(new Error(`status ${res.statusCode}: ${t}`)));
          return;
        }
        res.once('data', (first) => resolve({ req, res, first: first.toString() }));
      },
    );
    req.on('error', (e) => {
      if (!req.destroyed) reject(e);
    });
    req.end(data);
  });
}

async function stillServing() {
  // several calls, so both workers are exercised
  const c = openai(fr);
  const a = anthropic(fr);
  const rs = await Promise.all([
    ...Array.from({ length: 4 }, (_, i) =>
      c.chat.completions.create({ model: 'gpt-4o-mini', messages: user(`after ${i}`) })),
    ...Array.from({ length: 4 }, (_, i) =>
      a.messages.create({ model: 'claude-haiku-4-5', max_tokens: 50, messages: user(`after ${i}`) })),
  ]);
  for (const r of rs.slice(0, 4)) assert.match(r.choices[0].message.content, /Simulated reply/);
  for (const r of rs.slice(4)) assert.match(r.content[0].text, /Simulated reply/);
}

describe('client hangs up mid-stream', () => {
  test('raw socket destroyed after the first chunk (sim, both dialects): frugal keeps serving', async () => {
    const slow = '#sim:event_delay_ms=200 #sim:tokens=200';
    const o = await openRawStream('/v1/chat/completions', {
      model: 'gpt-4o-mini', stream: true, messages: user(`long story ${slow}`),
    });
    assert.match(o.first, /^data: /);
    o.req.destroy();
    const an = await openRawStream(
      '/v1/messages',
      { model: 'claude-haiku-4-5', max_tokens: 4000, stream: true, messages: user(`long story ${slow}`) },
      { 'anthropic-version': '2026-10-21' },
    );
    assert.match(an.first, /event: message_start/);
    an.req.destroy();
    await sleep(300);
    await stillServing();
  });

  test('SDK AbortController (OpenAI): the upstream connection is closed soon after', async () => {
    rec.queue({ events: 100, eventDelayMs: 200 });
    const ctrl = new AbortController();
    const stream = await openai(fr).chat.completions.create(
      { model: 'rec-gpt', stream: true, messages: user('slow please') },
      { signal: ctrl.signal },
    );
    let chunks = 0;
    let abortedAt = 0;
    try {
      for await (const chunk of stream) {
        chunks++;
        if (chunk.choices[0]?.delta?.content) {
          abortedAt = Date.now();
          ctrl.abort();
        }
      }
    } catch (e) {
      assert.ok(e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError', `${e?.constructor?.name}: ${e?.message}`);
    }
    assert.ok(abortedAt > 0, `no content chunk before the end (${chunks} chunks)`);
    const up = rec.requests[0];
    await waitFor(() => up.closedAt !== null, { timeoutMs: 2000, what: 'the upstream request to be closed' });
    assert.ok(up.closedAt - abortedAt < 2000, `upstream closed ${up.closedAt - abortedAt} ms after the client`);
    assert.ok(up.eventsSent < 50, `upstream sent ${up.eventsSent} events: the stream was not cancelled`);
    assert.equal(up.finishedAt, null);
  });

  test('raw hang-up (Anthropic): the upstream connection is closed soon after', async () => {
    rec.queue({ events: 100, eventDelayMs: 200 });
    const s = await openRawStream(
      '/v1/messages',
      { model: 'rec-claude', max_tokens: 100, stream: true, messages: user('slow please') },
      { 'anthropic-version': '2023-06-01' },
    );
    const at = Date.now();
    s.req.destroy();
    const up = rec.requests[0];
    await waitFor(() => up.closedAt !== null, { timeoutMs: 2000, what: 'the upstream request to be closed' });
    assert.ok(up.closedAt - at < 2000);
    assert.ok(up.eventsSent < 50, `upstream sent ${up.eventsSent} events`);
    await stillServing();
  });
});

describe('client hangs up before the answer', () => {
  test('non-streaming call aborted while the upstream is still thinking: upstream closed', async () => {
    rec.queue({ hang: true });
    const ctrl = new AbortController();
    const p = openai(fr).chat.completions.create({ model: 'rec-gpt', messages: user('x') }, { signal: ctrl.signal });
    await waitFor(() => rec.requests.length === 1, { what: 'the upstream request' });
    const at = Date.now();
    ctrl.abort();
    await assert.rejects(p, OpenAI.APIUserAbortError);
    const up = rec.requests[0];
    await waitFor(() => up.closedAt !== null, { timeoutMs: 2000, what: 'the upstream request to be closed' });
    assert.ok(up.closedAt - at < 2000);
    await stillServing();
  });
});

describe('upstream cuts or stalls a stream', () => {
  test('#sim:cut_after=3, OpenAI SDK: raises on the error chunk', async () => {
    const stream = await openai(fr).chat.completions.create({
      model: 'gpt-4o-mini', stream: true, messages: user('cut me #sim:cut_after=3 #sim:tokens=50'),
    });
    let n = 0;
    let err;
    try {
      for await (const _ of stream) n++;
    } catch (e) {
      err = e;
    }
    assert.ok(err, `the stream ended without an error after ${n} chunks`);
    assert.ok(err instanceof OpenAI.APIError, `${err.constructor.name}: ${err.message}`);
    assert.match(err.message, /sim-main/);
    assert.ok(n >= 1 && n <= 3, `${n} chunks before the error`);
  });

  test('#sim:cut_after=3, Anthropic SDK: raises on event: error', async () => {
    const req = { model: 'claude-haiku-4-5', max_tokens: 500, messages: user('cut me #sim:cut_after=3 #sim:tokens=50') };
    const types = [];
    let err;
    try {
      for await (const ev of await anthropic(fr).messages.create({ ...req, stream: true })) types.push(ev.type);
    } catch (e) {
      err = e;
    }
    assert.ok(err, `no error; events: ${types.join(',')}`);
    assert.ok(err instanceof Anthropic.APIError, `${err.constructor.name}: ${err.message}`);
    assert.equal(err.error?.error?.type, 'api_error', JSON.stringify(err.error));
    assert.match(err.error.error.message, /sim-main/);
    assert.ok(!types.includes('message_stop'));
    assert.equal(types[0], 'message_start');
    // the helper rejects too (and does not hang)
    await assert.rejects(anthropicLegacy(fr).messages.stream(req).finalMessage(), /sim-main/);
  });

  test('recorder drops the connection after 3 events: error event, no hang', async () => {
    rec.queue({ events: 20, cutAfter: 3 });
    const stream = await openai(fr).chat.completions.create({ model: 'rec-gpt', stream: true, messages: user('x') });
    await assert.rejects(
      (async () => {
        for await (const _ of stream);
      })(),
      (e) => e instanceof OpenAI.APIError && /rec-openai/.test(e.message),
    );
    rec.queue({ events: 20, cutAfter: 4 });
    await assert.rejects(
      anthropic(fr).messages.stream({ model: 'rec-claude', max_tokens: 5, messages: user('x') }).finalMessage(),
      (e) => e instanceof Anthropic.APIError && /rec-anthropic/.test(e.message),
    );
  });

  test(`upstream silent mid-stream longer than stream_idle_timeout_ms (${IDLE_MS}) → error event`, async () => {
    const t0 = Date.now();
    const stream = await openai(fr).chat.completions.create({
      model: 'gpt-4o-mini', stream: true, messages: user('#sim:stall_ms=12000 #sim:tokens=20'),
    });
    let err;
    try {
      for await (const _ of stream);
    } catch (e) {
      err = e;
    }
    const took = Date.now() - t0;
    assert.ok(err instanceof OpenAI.APIError, `expected an APIError, got ${err}`);
    assert.match(err.message, /timed out|idle/);
    // the silence allowed is the configured one (give or take a second), not
    // the stall's length
    assert.ok(took >= IDLE_MS - 100 && took < IDLE_MS + 3000,
      `the stream was cut after ${took} ms of which ~${took - 50} silent; stream_idle_timeout_ms is ${IDLE_MS}`);
  });
});

describe('many and slow streams', () => {
  test('200 concurrent streams, both dialects, all complete with the right text', async () => {
    const N = 100;
    const oc = openai(fr);
    const ac = anthropic(fr);
    const oreq = (i) => ({ model: 'gpt-4o-mini', messages: user(`concurrent request number ${i} #sim:tokens=${20 + (i % 7)}`) });
    const areq = (i) => ({ model: 'claude-haiku-4-5', max_tokens: 1000, messages: user(`concurrent request number ${i} #sim:tokens=${20 + (i % 5)}`) });
    const expectO = await Promise.all(Array.from({ length: N }, (_, i) =>
      oc.chat.completions.create(oreq(i)).then((r) => r.choices[0].message.content)));
    const expectA = await Promise.all(Array.from({ length: N }, (_, i) =>
      ac.messages.create(areq(i)).then((r) => r.content[0].text)));
    assert.equal(new Set(expectO).size, N, 'answers should differ per request');

    const t0 = Date.now();
    const got = await Promise.all([
      ...Array.from({ length: N }, async (_, i) => {
        let text = '';
        let finish = null;
        for await (const ch of await oc.chat.completions.create({ ...oreq(i), stream: true })) {
          text += ch.choices[0]?.delta?.content ?? '';
          finish = ch.choices[0]?.finish_reason ?? finish;
        }
        return { text, finish };
      }),
      ...Array.from({ length: N }, async (_, i) => {
        const m = await ac.messages.stream(areq(i)).finalMessage();
        return { text: m.content[0].text, finish: m.stop_reason };
      }),
    ]);
    for (let i = 0; i < N; i++) {
      assert.equal(got[i].text, expectO[i], `OpenAI stream ${i}`);
      assert.equal(got[i].finish, 'stop');
      assert.equal(got[N + i].text, expectA[i], `Anthropic stream ${i}`);
      assert.equal(got[N + i].finish, 'end_turn');
    }
    assert.ok(Date.now() - t0 < 30000);
    await stillServing();
  });

  test('events are relayed as they arrive (#sim:event_delay_ms=300)', async () => {
    const timeOpenAI = async () => {
      const t0 = Date.now();
      let first = 0;
      let n = 0;
      for await (const ch of await openai(fr).chat.completions.create({
        model: 'gpt-4o-mini', stream: true, messages: user('tick tock #sim:event_delay_ms=300'),
      })) {
        n++;
        if (!first && ch.choices[0]?.delta?.content) first = Date.now() - t0;
      }
      return { first, total: Date.now() - t0, n };
    };
    const timeAnthropic = async () => {
      // raw bytes: when each read arrives, not when the SDK parses it
      const t0 = Date.now();
      const r = await fetch(`${fr.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'anthropic-version': '2026-10-21', 'x-api-key': 'k' },
        body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 300, stream: true, messages: user('tick tock #sim:event_delay_ms=300') }),
      });
      assert.equal(r.status, 200);
      const arrivals = [];
      let text = '';
      const dec = new TextDecoder();
      for await (const chunk of r.body) {
        arrivals.push(Date.now() - t0);
        text += dec.decode(chunk, { stream: true });
      }
      assert.match(text, /event: message_stop/);
      return { first: arrivals[0], total: Date.now() - t0, n: arrivals.length };
    };
    const [o, a] = await Promise.all([timeOpenAI(), timeAnthropic()]);
    assert.ok(o.n >= 4, `OpenAI: ${o.n} chunks`);
    assert.ok(o.total >= 900, `OpenAI stream took only ${o.total} ms: delays not applied?`);
    assert.ok(o.first < o.total - 600, `OpenAI first content at ${o.first} ms of ${o.total} ms: buffered?`);
    assert.ok(a.n >= 4, `Anthropic: only ${a.n} reads: events were batched`);
    assert.ok(a.first < a.total - 600, `Anthropic first bytes at ${a.first} ms of ${a.total} ms: buffered?`);
  });

  /* A raw streamed request whose reader does not read for pauseMs, then
   * reads all: the text of its chunks, and whether [DONE] came. */
  async function readAfterPause(body, pauseMs) {
    const raw = await new Promise((resolve, reject) => {
      const data = JSON.stringify({ ...body, stream: true });
      const req = request(`${fr.url}/v1/chat/completions`, {
        method: 'POST', agent: false, headers: { 'content-type': 'application/json' },
      }, (res) => {
        res.pause();
        setTimeout(() => {
          let t = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (t += d));
          res.on('end', () => resolve(t));
          res.resume();
        }, pauseMs);
      });
      req.on('error', reject);
      req.end(data);
    });
    let text = '';
    let done = false;
    for (const ev of raw.split('\n\n')) {
      if (!ev.startsWith('data: ')) continue;
      const d = ev.slice(6);
      if (d === '[DONE]') {
        done = true;
        continue;
      }
      const j = JSON.parse(d);
      assert.equal(j.error, undefined, JSON.stringify(j.error));
      text += j.choices?.[0]?.delta?.content ?? '';
    }
    return { text, done };
  }

  test('a client that does not read for a while still gets the whole stream (back-pressure)', async () => {
    // ~400 KB of text, several MB of SSE framing: well past any socket buffer
    const body = { model: 'gpt-4o-mini', messages: user('big #sim:tokens=100000') };
    const expected = (await openai(fr).chat.completions.create(body)).choices[0].message.content;
    assert.equal(expected.length, 400000);
    const { text, done } = await readAfterPause(body, 1000);
    assert.ok(done, 'no [DONE]');
    assert.equal(text.length, expected.length);
    assert.ok(text === expected, 'streamed text differs from the non-streamed answer');
  });

  test(`a client that does not read for longer than stream_idle_timeout_ms (${IDLE_MS}) still gets the whole stream`, async () => {
    // the upstream is paused for the client's sake, not silent: its idle
    // timer must not run while frugal itself holds the upstream back
    const body = { model: 'gpt-4o-mini', messages: user('paused #sim:tokens=100000') };
    const { text, done } = await readAfterPause(body, IDLE_MS + 3000);
    assert.ok(done, 'no [DONE]');
    assert.equal(text.length, 400000);
  });

  test('request ids are unique across workers', async () => {
    const rs = await Promise.all(Array.from({ length: 64 }, (_, i) =>
      fetch(`${fr.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: user(`id ${i}`) }),
      }).then(async (r) => {
        await r.arrayBuffer();
        return r.headers.get('x-frugal-request-id');
      })));
    assert.ok(rs.every(Boolean));
    assert.equal(new Set(rs).size, rs.length);
  });

  test('recorder stream relayed unchanged (text and terminator)', async () => {
    const words = 'one two three four five six';
    rec.queue({ text: words });
    let text = '';
    let n = 0;
    for await (const ch of await openai(fr).chat.completions.create({ model: 'rec-gpt', stream: true, messages: user('x') })) {
      n++;
      text += ch.choices[0]?.delta?.content ?? '';
    }
    assert.equal(text, words);
    assert.equal(n, 8); // role chunk + 6 words + finish chunk
  });
});

// Provider failures before anything reaches the client: frugal retries with
// backoff (honouring retry-after), then moves to the model's fallbacks, and
// every attempt is in the ledger.
import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startFrugal, openai, call, test, freePort, waitFor, sleep } from './lib/frugal.mjs';
import { startRecorder } from './lib/recorder.mjs';

describe('retries and fallbacks', () => {
  let fr, rec, deadPort;
  before(async () => {
    rec = await startRecorder();
    deadPort = await freePort();   // nothing listens there
    fr = await startFrugal({
      name: 'frugal-failover',
      config: {
        providers: [
          { name: 'rec', type: 'openai', base_url: `${rec.url}/v1`, api_key: 'sk-rec' },
          { name: 'dead', type: 'openai', base_url: `http://127.0.0.1:${deadPort}/v1`, api_key: 'sk-dead' },
          { name: 'rec-strict', type: 'openai', base_url: `${rec.url}/v1`, api_key: 'sk-rec' },
          { name: 'rec-strict2', type: 'openai', base_url: `${rec.url}/v1`, api_key: 'sk-rec' },
          { name: 'sim', type: 'sim' },
        ],
        models: [
          { name: 'rec-gpt', provider: 'rec', model: 'gpt-4o-mini' },
          { name: 'gone-gpt', provider: 'dead', model: 'gpt-4o-mini' },
          { name: 'backup', provider: 'sim', model: 'gpt-4o' },
          { name: 'gone-stream', provider: 'dead', model: 'gpt-4o-mini' },
          { name: 'rec-backup', provider: 'rec', model: 'gpt-4o' },
          { name: 'strict-gpt', provider: 'rec-strict', model: 'gpt-4o-mini' },
          { name: 'strict2-gpt', provider: 'rec-strict2', model: 'gpt-4o-mini' },
        ],
        fallbacks: { 'gone-gpt': ['backup'], 'gone-stream': ['rec-backup'] },
      },
    });
  });
  after(async () => {
    await fr?.stop();
    await rec?.stop();
  });

  const ask = (model) => openai(fr).chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] })
    .withResponse();

  test('a 503 is retried and the retry answers', async () => {
    const n0 = rec.requests.length;
    rec.queue({ status: 503, body: { error: { message: 'busy', type: 'server_error', param: null, code: null } } });
    const { data, response } = await ask('rec-gpt');
    assert.ok(data.choices[0].message.content);
    assert.equal(rec.requests.length - n0, 2, 'one failed call, one retry');
    assert.equal(response.headers.get('x-frugal-route'), 'fixed');
  });

  test('retry-after is honoured', async () => {
    rec.queue({ status: 429, headers: { 'retry-after': '1' },
      body: { error: { message: 'slow down', type: 'requests', param: null, code: 'rate_limit_exceeded' } } });
    const t0 = Date.now();
    await ask('rec-gpt');
    assert.ok(Date.now() - t0 >= 950, `answered after ${Date.now() - t0} ms, before retry-after`);
  });

  test('a 400 is the request\'s fault: not retried', async () => {
    const n0 = rec.requests.length;
    rec.queue({ status: 400, body: { error: { message: 'bad', type: 'invalid_request_error', param: null, code: null } } });
    await assert.rejects(ask('rec-gpt'), (e) => e.status === 400);
    assert.equal(rec.requests.length - n0, 1);
  });

  test('a stream that falls back asks the fallback for its usage too (what frugal added is not lost)', async () => {
    const n0 = rec.requests.length;
    const stream = await openai(fr).chat.completions.create({
      model: 'gone-stream', stream: true, messages: [{ role: 'user', content: 'fall back, streaming' }],
    });
    let chunks = 0;
    for await (const ch of stream) {
      chunks++;
      assert.equal(ch.usage ?? undefined, undefined, 'the client did not ask for usage: none reaches it');
    }
    assert.ok(chunks > 0);
    const sent = rec.requests.slice(n0).filter((r) => r.path === '/v1/chat/completions');
    assert.equal(sent.length, 1, 'the fallback was asked once');
    assert.deepEqual(sent[0].json.stream_options, { include_usage: true },
      'frugal asks every stream it sends for its usage, a fallback too');
    assert.equal(sent[0].json.model, 'gpt-4o');
  });

  test('a provider refusing the stream_options frugal adds is asked again without them, and from then on', async () => {
    const n0 = rec.requests.length;
    rec.queue({ status: 400, body: { error: {
      message: 'Unrecognized request argument supplied: stream_options', type: 'invalid_request_error', param: null, code: null,
    } } });
    const text = async () => {
      const stream = await openai(fr).chat.completions.create({
        model: 'strict-gpt', stream: true, messages: [{ role: 'user', content: 'strict server' }],
      });
      let t = '';
      for await (const ch of stream) t += ch.choices[0]?.delta?.content ?? '';
      return t;
    };
    assert.ok((await text()).length > 0, 'the client got its stream');
    const sent = rec.requests.slice(n0);
    assert.equal(sent.length, 2, 'refused once, asked again');
    assert.deepEqual(sent[0].json.stream_options, { include_usage: true });
    assert.equal(sent[1].json.stream_options, undefined, 'asked again without them');
    assert.ok((await text()).length > 0);
    assert.equal(rec.requests.length - n0, 3, 'the next stream is asked once');
    assert.equal(rec.requests.at(-1).json.stream_options, undefined, 'and without them');
    // a stream the client asked usage for keeps the client's own member
    const s2 = await openai(fr).chat.completions.create({
      model: 'strict-gpt', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'mine' }],
    });
    for await (const _ of s2);
    assert.deepEqual(rec.requests.at(-1).json.stream_options, { include_usage: true });
  });

  test('a provider refusing the prompt_cache_key frugal adds is asked again without it, and from then on', async () => {
    const n0 = rec.requests.length;
    rec.queue({ status: 400, body: { error: {
      message: "Extra inputs are not permitted: 'prompt_cache_key'", type: 'invalid_request_error', param: null, code: null,
    } } });
    const ask2 = () => openai(fr).chat.completions.create({
      model: 'strict2-gpt', messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'strict about keys' }],
    });
    assert.ok((await ask2()).choices[0].message.content);
    const sent = rec.requests.slice(n0);
    assert.equal(sent.length, 2, 'refused once, asked again');
    assert.match(sent[0].json.prompt_cache_key ?? '', /^frg_/, 'frugal added its cache key');
    assert.equal(sent[1].json.prompt_cache_key, undefined, 'asked again without it');
    await ask2();
    assert.equal(rec.requests.length - n0, 3, 'the next call is asked once');
    assert.equal(rec.requests.at(-1).json.prompt_cache_key, undefined, 'and without it');
  });

  test('an unreachable provider falls back to the configured model', async () => {
    const { data, response } = await ask('gone-gpt');
    assert.match(data.choices[0].message.content, /gpt-4o/);
    assert.equal(response.headers.get('x-frugal-route'), 'fallback');
    assert.equal(response.headers.get('x-frugal-model'), 'backup');
    await new Promise((r) => setTimeout(r, 200));
    const spend = (await call(fr, '/frugal/spend?since=1h', { method: 'GET' })).json;
    assert.ok(spend.errors >= 3, `failed attempts recorded: ${spend.errors}`);   // the first call + 2 retries
  });
});

// ============================================ balancing across deployments ====

/* One model on two recorders (east is the model's own provider, west its
 * second deployment), so each call's deployment shows in who recorded it. */
const deployed = (east, west, extra = {}) => ({
  providers: [
    { name: 'east', type: 'openai', base_url: `${east.url}/v1`, api_key: 'sk-east' },
    { name: 'west', type: 'openai', base_url: `${west.url}/v1`, api_key: 'sk-west' },
  ],
  models: [{ name: 'bal-gpt', provider: 'east', model: 'gpt-4o-mini', deployments: [{ provider: 'west' }] }],
  ...extra,
});

const SYSTEM = (tag) => `You are the ${tag} assistant. ` + 'Answer briefly and cite the handbook. '.repeat(60);

function body(q, system) {
  const messages = system ? [{ role: 'system', content: system }] : [];
  messages.push({ role: 'user', content: q });
  return JSON.stringify({ model: 'bal-gpt', messages });
}

const ask = (fr, q, system) => call(fr, '/v1/chat/completions', { body: body(q, system) });

/* Run fn(i) for i < n with at most conc at a time. */
async function pool(n, conc, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(conc, n) }, async () => {
    while (next < n) await fn(next++);
  }));
}

/* Which recorder got the call asking q. */
function servedBy(east, west, q) {
  const got = (rec) => rec.requests.filter((r) => JSON.stringify(r.json?.messages ?? []).includes(q)).length;
  const [e, w] = [got(east), got(west)];
  assert.equal(e + w, 1, `${q}: exactly one deployment called (east ${e}, west ${w})`);
  return e ? 'east' : 'west';
}

describe('balancing across deployments: least in flight', () => {
  let east, west;
  before(async () => {
    east = await startRecorder();
    west = await startRecorder();
  });
  after(async () => {
    await east?.stop();
    await west?.stop();
  });

  test('new prompts avoid a slow deployment; counts come back to zero however calls end', async () => {
    east.reset();
    west.reset();
    const fr = await startFrugal({ name: 'frugal-balance', config: deployed(east, west) });
    try {
      // east answers after 1.5 s, west at once: round-robin would give each 12
      east.behave = () => ({ delayMs: 1500 });
      await pool(24, 4, async (i) => {
        const r = await ask(fr, `new question ${i}`);
        assert.equal(r.status, 200, r.text);
      });
      const [e, w] = [east.requests.length, west.requests.length];
      assert.equal(e + w, 24);
      assert.ok(e <= 6, `the slow deployment got ${e} of 24 calls (west ${w})`);
      assert.ok(w >= 18, `the fast deployment got ${w} of 24 calls`);

      // a client that leaves while its call hangs upstream (wherever it went)
      east.reset();
      west.reset();
      east.behave = west.behave = () => ({ hang: true });
      const ac = new AbortController();
      const gone = fetch(`${fr.url}/v1/chat/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: body('abandoned'), signal: ac.signal,
      }).catch(() => null);
      const hung = await waitFor(() => east.requests[0] ?? west.requests[0], { what: 'the hanging call upstream' });
      ac.abort();
      await gone;
      await waitFor(() => hung.closedAt !== null, { what: 'frugal to drop the upstream call' });

      // a call retried after a 503 (its first attempt ended, its retry too)
      east.reset();
      west.reset();
      east.behave = west.behave = null;
      const busy = { status: 503, body: { error: { message: 'busy', type: 'server_error', param: null, code: null } } };
      east.queue(busy);
      west.queue(busy);
      assert.equal((await ask(fr, 'retried question')).status, 200);
      east.reset();
      west.reset();

      // nothing is left counted: idle deployments take turns, one each in order
      const order = [];
      for (let i = 0; i < 6; i++) {
        assert.equal((await ask(fr, `after ${i}`)).status, 200);
        order.push(servedBy(east, west, `after ${i}`));
      }
      for (let i = 1; i < order.length; i++)
        assert.notEqual(order[i], order[i - 1], `idle deployments alternate: ${order}`);
    } finally {
      await fr.stop();
    }
  });

  test('a known prefix leaves its deployment once it is busier than the other by more than the margin', async () => {
    east.reset();
    west.reset();
    const fr = await startFrugal({
      name: 'frugal-affinity-margin', config: deployed(east, west, { prompt_caching: { affinity_margin: 2 } }),
    });
    try {
      const sys = SYSTEM('margin');
      assert.equal((await ask(fr, 'pin the prefix', sys)).status, 200);
      const home = servedBy(east, west, 'pin the prefix');
      const [slow, fast] = home === 'east' ? [east, west] : [west, east];
      slow.behave = () => ({ delayMs: 1500 });
      const n0 = { slow: slow.requests.length, fast: fast.requests.length };
      await Promise.all(Array.from({ length: 8 }, (_, i) => ask(fr, `burst ${i}`, sys)
        .then((r) => assert.equal(r.status, 200, r.text))));
      const onSlow = slow.requests.length - n0.slow, onFast = fast.requests.length - n0.fast;
      // affinity alone would keep all 8 on the slow one; with margin 2 it keeps
      // 3 (0, 1, 2 in flight are within the margin), then the rest move
      assert.ok(onSlow >= 3 && onSlow <= 4, `prefix's own deployment took ${onSlow} of 8 (other ${onFast})`);
      assert.equal(onSlow + onFast, 8);
      // and the prefix now lives on the other deployment
      slow.behave = null;
      assert.equal((await ask(fr, 'after the burst', sys)).status, 200);
      assert.equal(servedBy(east, west, 'after the burst'), home === 'east' ? 'west' : 'east');
    } finally {
      await fr.stop();
    }
  });

  test('a known prefix leaves a deployment whose circuit breaker is open', async () => {
    east.reset();
    west.reset();
    const fr = await startFrugal({
      name: 'frugal-affinity-breaker', config: deployed(east, west, { server: { upstream_retries: 0 } }),
    });
    try {
      const sys = SYSTEM('breaker');
      assert.equal((await ask(fr, 'pin it', sys)).status, 200);
      const home = servedBy(east, west, 'pin it');
      const [failing, other] = home === 'east' ? [east, west] : [west, east];
      failing.behave = () => ({ status: 503, body: { error: { message: 'down', type: 'server_error', param: null, code: null } } });
      // five failures in a row open the breaker; the prefix stays put until then
      for (let i = 0; i < 5; i++) assert.equal((await ask(fr, `failing ${i}`, sys)).status, 503);
      assert.equal(other.requests.length, 0, 'the healthy deployment was not used while the breaker was closed');
      const r = await ask(fr, 'breaker open', sys);
      assert.equal(r.status, 200, r.text);
      assert.equal(servedBy(east, west, 'breaker open'), home === 'east' ? 'west' : 'east');
    } finally {
      await fr.stop();
    }
  });
});

describe('a fallback that cannot start', () => {
  test('the client gets the reason (the fallback cannot take the request), and the daemon lives', async () => {
    // an Anthropic model falls back to an OpenAI one, and max_tokens 0 (a
    // cache pre-warm) has no OpenAI form: the fallback never starts.  The
    // failed start used to fall through to the answer it had just freed.
    const fr = await startFrugal({
      name: 'frugal-fallback-nostart',
      config: {
        server: { upstream_retries: 0 },
        providers: [{ name: 'sim', type: 'sim' }],
        models: [
          { name: 'claude-sonnet-4-5', provider: 'sim' },
          { name: 'gpt-4o', provider: 'sim' },
        ],
        fallbacks: { 'claude-sonnet-4-5': ['gpt-4o'] },
      },
    });
    try {
      const r = await call(fr, '/v1/messages', {
        headers: { 'x-sim-fault': 'status=503' },
        body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 0, messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(r.status, 400, r.text);
      assert.match(r.json.error.message, /max_tokens: 0/);
      const ok = await call(fr, '/v1/messages', {
        body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(ok.status, 200, ok.text);
    } finally {
      await fr.stop();
    }
  });
});

// ================================ a pooled connection closed by the provider ==

/* Between calls the upstream connection idles in libcurl's cache with its read
 * interest left armed (upstream.c); when the provider closes it, the wakeup is
 * not curl's and must disarm it: the daemon stays idle (no level-triggered
 * loop on the EOF) and the next call still gets an answer on a new connection. */
describe('a provider closing an idle pooled connection', () => {
  let fr, rec;
  before(async () => {
    rec = await startRecorder();
    fr = await startFrugal({
      name: 'frugal-pooled-close',
      config: {
        server: { workers: 1 },
        providers: [{ name: 'rec', type: 'openai', base_url: `${rec.url}/v1`, api_key: 'sk-rec' }],
        models: [{ name: 'rec-gpt', provider: 'rec', model: 'gpt-4o-mini' }],
      },
    });
  });
  after(async () => {
    await fr?.stop();
    await rec?.stop();
  });

  const ask = () => openai(fr).chat.completions.create({ model: 'rec-gpt', messages: [{ role: 'user', content: 'hi' }] });
  /* user+system CPU seconds of the daemon so far (all threads) */
  const cpuSeconds = () => {
    const f = readFileSync(`/proc/${fr.proc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  };

  test('the daemon does not spin on the closed connection and the next call is answered', async () => {
    await ask();
    await ask(); // the second call reuses the pooled connection
    const closed = rec._sockets.size;
    assert.ok(closed >= 1, 'the provider holds the pooled connection');
    for (const s of rec._sockets) s.destroy();
    await waitFor(() => rec._sockets.size === 0, { what: 'provider side closed' });
    const c0 = cpuSeconds();
    await sleep(1500);
    const used = cpuSeconds() - c0;
    // a loop on the EOF would burn the whole 1.5 s of a core (less only on a
    // starved machine); an idle daemon uses a few ms
    assert.ok(used < 0.5, `daemon used ${used.toFixed(2)} s of CPU while idle`);
    const r = await ask();
    assert.ok(r.choices[0].message.content);
    assert.ok(rec.requests.length >= 3);
  });
});

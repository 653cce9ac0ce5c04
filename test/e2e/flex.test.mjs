// flex.test.mjs — deferrable calls on OpenAI's flex tier (issue 21 part B,
// call/defer.h): a call with `x-frugal-defer: DURATION` (or matched by
// deferral.defer_for) to a flex-capable model is sent with service_tier
// "flex", priced at the model's batch rates (saved_by.flex), and a flex
// refusal for capacity (429 resource_unavailable) is retried until the
// deadline, then answered on the standard tier.  The simulated provider
// plays the refusals (#sim:flex_busy).
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';

import { anthropic, call, ledgerFlushed, metrics, openai, startFrugal, test } from './lib/frugal.mjs';
import { billedChat as billed, nearWithin } from './lib/prices.mjs';

const user = (text) => [{ role: 'user', content: text }];
const MASTER = 'sk-flex-master';

/* the spend map shows USD to 6 decimals: two rounded sums differ by < 1.01e-6 */
const near = nearWithin(1.01e-6);

describe('flex tier', () => {
  let fr, batchy;
  before(async () => {
    fr = await startFrugal({
      name: 'frugal-flex',
      config: {
        server: { master_key: MASTER },
        providers: [{ name: 'sim', type: 'sim' }],
        models: [
          { name: 'gpt-5-mini', provider: 'sim' },          // flex by the built-in list
          { name: 'gpt-4o-mini', provider: 'sim' },         // no flex
          { name: 'no-flex-5', provider: 'sim', model: 'gpt-5-mini', flex: false },
          { name: 'claude-haiku-4-5', provider: 'sim' },
        ],
        deferral: { max_deadline: '2m', defer_for: ['key:batchy'] },
      },
    });
    const r = await call(fr, '/frugal/keys', { body: { name: 'batchy' } });
    assert.equal(r.status, 201, r.text);
    batchy = r.json.key;
  });
  after(async () => {
    await fr?.stop();
  });

  const spend = async () => (await call(fr, '/frugal/spend?since=1h', { method: 'GET' })).json;
  let written = 0;
  /* wait until n more records are in the ledger */
  const flushed = async (n) => {
    written += n;
    await ledgerFlushed(fr, written);
  };

  const ask = (model, headers = {}, extra = {}, key = MASTER) =>
    openai(fr, { apiKey: key }).chat.completions
      .create({ model, messages: user(`write something #sim:tokens=400 ${Math.random()}`), ...extra },
        { headers })
      .withResponse();

  test('a deferrable call to a flex model goes flex, at flex price, saved_by.flex', async () => {
    const s0 = await spend();
    const { data, response } = await ask('gpt-5-mini', { 'x-frugal-defer': '5m' });
    assert.equal(data.service_tier, 'flex', 'the provider was asked for flex');
    assert.equal(response.headers.get('x-frugal-defer'), 'flex');
    await flushed(1);
    const s1 = await spend();
    const cost = billed('gpt-5-mini', data.usage, true);
    near(s1.cost_usd - s0.cost_usd, cost, 'cost at flex rates');
    near(s1.saved_by.flex - s0.saved_by.flex, billed('gpt-5-mini', data.usage, false) - cost,
      'saved_by.flex = standard - flex');
    near(s1.saved_by.batch - s0.saved_by.batch, 0, 'not a batch saving');
  });

  test('a key budget is charged the flex price (reserved at standard: flex may fall back)', async () => {
    const k = await call(fr, '/frugal/keys', { body: { name: 'flexbudget', budget: '1/day' } });
    assert.equal(k.status, 201, k.text);
    const { data } = await ask('gpt-5-mini', { 'x-frugal-defer': '5m' }, {}, k.json.key);
    assert.equal(data.service_tier, 'flex');
    await flushed(1);
    const view = await call(fr, `/frugal/keys/${k.json.id}`, { method: 'GET' });
    assert.equal(view.json.usage.budget.spent_usd, billed('gpt-5-mini', data.usage, true).toFixed(6));
  });

  test('without the header nothing changes: standard tier, no x-frugal-defer', async () => {
    const s0 = await spend();
    const { data, response } = await ask('gpt-5-mini');
    assert.equal(data.service_tier, 'default');
    assert.equal(response.headers.get('x-frugal-defer'), null);
    await flushed(1);
    const s1 = await spend();
    near(s1.cost_usd - s0.cost_usd, billed('gpt-5-mini', data.usage, false), 'standard price');
    near(s1.saved_by.flex - s0.saved_by.flex, 0, 'no flex saving');
  });

  test('a model without flex (built-in list or flex: false), deadline under min_deadline: real time', async () => {
    // (a longer deadline sends it to a provider batch: defer.test.mjs)
    for (const m of ['gpt-4o-mini', 'no-flex-5']) {
      const { data, response } = await ask(m, { 'x-frugal-defer': '30s' });
      assert.equal(data.service_tier, 'default', m);
      assert.equal(response.headers.get('x-frugal-defer'), 'realtime', m);
    }
    await flushed(2);
  });

  test('a client that chose its own service_tier keeps it', async () => {
    const { data, response } = await ask('gpt-5-mini', { 'x-frugal-defer': '5m' }, { service_tier: 'priority' });
    assert.equal(data.service_tier, 'priority');
    assert.equal(response.headers.get('x-frugal-defer'), 'realtime');
    await flushed(1);
  });

  test('a key named in deferral.defer_for is deferred without the header', async () => {
    const { data, response } = await ask('gpt-5-mini', {}, {}, batchy);
    assert.equal(data.service_tier, 'flex');
    assert.equal(response.headers.get('x-frugal-defer'), 'flex');
    await flushed(1);
  });

  test('a flex refusal for capacity is retried on flex: the client just gets its answer', async () => {
    const s0 = await spend();
    const { data, response } = await ask('gpt-5-mini', { 'x-frugal-defer': '5m', 'x-sim-fault': 'flex_busy=1' });
    assert.equal(data.service_tier, 'flex');
    assert.equal(response.headers.get('x-frugal-defer'), 'flex');
    await flushed(2); // the refused attempt is a record of its own
    const s1 = await spend();
    assert.equal(s1.requests - s0.requests, 2);
    assert.equal(s1.errors - s0.errors, 1, 'the refusal is recorded as a 429 attempt');
    near(s1.cost_usd - s0.cost_usd, billed('gpt-5-mini', data.usage, true), 'the refusal costs nothing');
  });

  test('flex refused until the deadline: answered on the standard tier at standard price', async () => {
    const s0 = await spend();
    const { data, response } = await ask('gpt-5-mini', { 'x-frugal-defer': '2s', 'x-sim-fault': 'flex_busy' });
    assert.equal(data.service_tier, 'default', 'standard after flex kept refusing');
    assert.equal(response.headers.get('x-frugal-defer'), 'realtime');
    const s1 = await waitForSpend(s0, 1);
    const refused = s1.errors - s0.errors;
    assert.ok(refused >= 1, `flex was tried first (${refused} refusals)`);
    near(s1.cost_usd - s0.cost_usd, billed('gpt-5-mini', data.usage, false), 'standard price');
    near(s1.saved_by.flex - s0.saved_by.flex, 0, 'no flex saving');
    written = s1.requests; // every record of this window is in
  });

  /* the spend once the standard answer is recorded (refusals vary in number) */
  async function waitForSpend(s0, answered) {
    for (let i = 0; i < 500; i++) {
      const s = await spend();
      if (s.requests - s.errors - (s0.requests - s0.errors) >= answered) return s;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('the answer was never recorded');
  }

  test('a client that leaves while flex refuses: each attempt recorded once, no more retries', async () => {
    const m0 = await metrics(fr);
    const before = m0.get('frugal_ledger_written_total');
    const ac = new AbortController();
    const p = fetch(`${fr.url}/v1/chat/completions`, {
      method: 'POST',
      signal: ac.signal,
      headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json',
        'x-frugal-defer': '2m', 'x-sim-fault': 'flex_busy' },
      body: JSON.stringify({ model: 'gpt-5-mini', messages: user(`leaving ${Math.random()}`) }),
    }).catch((e) => e);
    await ledgerFlushed(fr, before + 1); // flex refused at least once: frugal is waiting to retry
    ac.abort();
    assert.equal((await p).name, 'AbortError');
    // the call ends with the client: its last attempt is recorded, once,
    // and no flex retry follows (the next would be due within 2 s)
    await new Promise((r) => setTimeout(r, 1000));
    const settled = (await spend()).requests;
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await spend()).requests, settled, 'no attempt after the client left');
    assert.ok(settled - before <= 3, `${settled - before} records for one abandoned call`);
    const calls = (await call(fr, '/frugal/calls?limit=200', { method: 'GET' })).json.data ?? [];
    const ids = calls.map((c) => c.id);
    assert.equal(new Set(ids).size, ids.length, 'no record twice');
    written = settled;
  });

  test('streams go flex too (OpenAI SDK), priced at flex rates', async () => {
    const s0 = await spend();
    const { data: stream, response } = await openai(fr, { apiKey: MASTER }).chat.completions
      .create({ model: 'gpt-5-mini', stream: true, stream_options: { include_usage: true },
        messages: user(`stream it #sim:tokens=300 ${Math.random()}`) }, { headers: { 'x-frugal-defer': '90s' } })
      .withResponse();
    assert.equal(response.headers.get('x-frugal-defer'), 'flex');
    let usage, tier;
    for await (const ch of stream) {
      if (ch.usage) usage = ch.usage;
      tier ??= ch.service_tier;
    }
    assert.equal(tier, 'flex');
    await flushed(1);
    const s1 = await spend();
    near(s1.cost_usd - s0.cost_usd, billed('gpt-5-mini', usage, true), 'stream cost at flex rates');
  });

  test('an Anthropic-SDK stream to a flex OpenAI model goes flex (translated)', async () => {
    const s0 = await spend();
    const stream = anthropic(fr, { apiKey: MASTER }).messages.stream(
      { model: 'gpt-5-mini', max_tokens: 500, messages: user(`translated #sim:tokens=200 ${Math.random()}`) },
      { headers: { 'x-frugal-defer': '1m' } });
    const { response } = await stream.withResponse();
    assert.equal(response.headers.get('x-frugal-defer'), 'flex');
    const msg = await stream.finalMessage();
    assert.ok(msg.content[0].text.length > 0);
    await flushed(1);
    const s1 = await spend();
    const u = { prompt_tokens: msg.usage.input_tokens + (msg.usage.cache_read_input_tokens ?? 0),
      prompt_tokens_details: { cached_tokens: msg.usage.cache_read_input_tokens ?? 0 },
      completion_tokens: msg.usage.output_tokens };
    near(s1.cost_usd - s0.cost_usd, billed('gpt-5-mini', u, true), 'translated stream at flex rates');
    assert.ok(s1.saved_by.flex > s0.saved_by.flex);
  });

  test('the Responses API goes flex too', async () => {
    const { data, response } = await openai(fr, { apiKey: MASTER }).responses
      .create({ model: 'gpt-5-mini', input: `respond #sim:tokens=100 ${Math.random()}` },
        { headers: { 'x-frugal-defer': '1m' } })
      .withResponse();
    assert.equal(data.service_tier, 'flex');
    assert.equal(response.headers.get('x-frugal-defer'), 'flex');
    await flushed(1);
  });

  test('the dashboard time series splits out flex like the spend map', async () => {
    const ts = await call(fr, '/frugal/spend/timeseries?since=1h', { method: 'GET' });
    assert.equal(ts.status, 200, ts.text);
    const { since, until, totals } = ts.json;
    const sp = await call(fr, `/frugal/spend?since=${since}&until=${until}`, { method: 'GET' });
    assert.ok('flex' in totals.saved_by, JSON.stringify(totals.saved_by));
    assert.deepEqual(totals.saved_by, sp.json.saved_by);
  });

  test('a bad DURATION is a 400 in the caller\'s dialect naming the header', async () => {
    for (const bad of ['soon', '0', '5 m', '-3s', '99999999999999h', '']) {
      const oa = await call(fr, '/v1/chat/completions', {
        headers: { 'x-frugal-defer': bad },
        body: { model: 'gpt-5-mini', messages: user('hi') },
      });
      assert.equal(oa.status, 400, `${JSON.stringify(bad)}: ${oa.text}`);
      assert.equal(oa.json.error.param, 'x-frugal-defer');
      assert.match(oa.json.error.message, /x-frugal-defer/);
    }
    const an = await call(fr, '/v1/messages', {
      headers: { 'x-frugal-defer': 'later', 'anthropic-version': '2023-06-01' },
      body: { model: 'claude-haiku-4-5', max_tokens: 10, messages: user('hi') },
    });
    assert.equal(an.status, 400);
    assert.equal(an.json.type, 'error');
    assert.equal(an.json.error.type, 'invalid_request_error');
    assert.match(an.json.error.message, /x-frugal-defer/);
    const m = await metrics(fr);
    written = m.get('frugal_ledger_written_total'); // refused calls are recorded too
  });
});

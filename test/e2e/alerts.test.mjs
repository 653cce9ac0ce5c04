// alerts.test.mjs — budget alerts end to end (issue #23): a local webhook
// receiver gets one POST per threshold per period — under 100 concurrent
// calls crossing 80% and 100% at once, for a soft key budget and a soft tag
// budget that serve past their limit, for the gateway's own budget (which
// refuses), from a webhook that is down at first (retried, then delivered),
// across two replicas sharing Redis, and again after a period rollover.
// No body carries a secret.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

import {
  OpenAI,
  call,
  freePort,
  openai,
  runFrugal,
  sleep,
  startFrugal,
  tempDir,
  test,
  waitFor,
  writeConfig,
} from './lib/frugal.mjs';
import { startRedis } from './lib/redis.mjs';
import { cliKey, copyStore } from './lib/replicas.mjs';

const MASTER = 'fg-alerts-master-7f2c';
const user = (text) => [{ role: 'user', content: text }];
const MODELS = [{ name: 'gpt-4o-mini', provider: 'sim', dialect: 'openai' }];
// what a body may hold: nothing else
const FIELDS = ['budget', 'id', 'limit_usd', 'name', 'period', 'period_start', 'refused',
  'resets_at', 'soft', 'spent_usd', 'threshold', 'what', 'when'];

/* A webhook receiver: every POST's parsed body in .got; the first
 * `failFirst` POSTs are answered 503. */
async function startReceiver({ port = 0, failFirst = 0 } = {}) {
  const r = { got: [], posts: 0, raw: [] };
  r.server = createServer((req, res) => {
    let b = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (b += d));
    req.on('end', () => {
      r.posts++;
      r.raw.push({ method: req.method, url: req.url, headers: req.headers, body: b });
      if (r.posts <= failFirst) {
        res.writeHead(503);
        res.end('not now');
        return;
      }
      r.got.push(JSON.parse(b));
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise((res) => r.server.listen(port, '127.0.0.1', res));
  r.port = r.server.address().port;
  r.url = `http://127.0.0.1:${r.port}/hooks/budget`;
  r.of = (pred) => r.got.filter(pred);
  r.close = () => new Promise((res) => r.server.close(res));
  return r;
}

/* Wait until the alerts matching pred number n; then, a moment later (the
 * thread reads each budget once more), still n: no duplicate came. */
async function exactly(rcv, pred, n, what) {
  await waitFor(() => rcv.of(pred).length >= n, { timeoutMs: 20000, what });
  await sleep(1500);
  const got = rcv.of(pred);
  assert.equal(got.length, n, `${what}: ${JSON.stringify(got, null, 1)}`);
  return got;
}

function checkBody(a, secrets) {
  assert.deepEqual(Object.keys(a).sort(), FIELDS, JSON.stringify(a));
  assert.equal(a.what, 'budget_threshold');
  assert.match(a.when, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.match(a.spent_usd, /^\d+\.\d{6}$/);
  assert.match(a.limit_usd, /^\d+\.\d{6}$/);
  const raw = JSON.stringify(a);
  for (const s of secrets) assert.ok(!raw.includes(s), `a secret in ${raw}`);
  assert.ok(!/fk-[A-Za-z0-9]{10}/.test(raw), `a key secret in ${raw}`);
}

describe('alerts on one gateway', () => {
  const dir = tempDir('frugal-alerts-');
  let fr;
  let rcv;
  const oa = (key) => openai(fr, { apiKey: key, maxRetries: 0 });
  async function createKey(opts) {
    const r = await call(fr, '/frugal/keys', { body: opts });
    assert.equal(r.status, 201, r.text);
    return r.json;
  }

  before(async () => {
    rcv = await startReceiver();
    fr = await startFrugal({
      name: 'frugal-alerts',
      cwd: dir,
      config: {
        server: { workers: 2, master_key: MASTER },
        storage: `sqlite:${join(dir, 'frugal.db')}`,
        providers: [{ name: 'sim', type: 'sim' }],
        models: MODELS,
        alerts: { webhook: rcv.url, at: [0.8, 1.0] },
        tag_budgets: {
          'team=soft': { budget: '0.0002/day', soft: true },
          'team=quiet': '50/day',
        },
      },
    });
  });

  after(async () => {
    await fr?.stop();
    await rcv?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('100 concurrent calls cross 80% and 100% at once: one POST per threshold', async () => {
    // each call reserves ~$0.00007 and costs ~$0.00006: ~14 fit $0.001, so
    // their settled spend passes 80%; the other ~86 are refused, which is
    // the 100% alert (a budget held exactly stops just under its limit)
    const k = await createKey({ name: 'burst', budget: '0.001/day' });
    const req = () => oa(k.key).chat.completions.create({
      model: 'gpt-4o-mini', max_tokens: 100, messages: user('Go. #sim:tokens=100 #sim:delay_ms=800'),
    });
    const res = await Promise.allSettled(Array.from({ length: 100 }, req));
    const refused = res.filter((r) => r.status === 'rejected');
    assert.ok(refused.length >= 1, `${refused.length} refused`);
    for (const { reason: e } of refused) assert.equal(e.code, 'budget_exceeded', `${e}`);
    const mine = (a) => a.id === k.id;
    const got = await exactly(rcv, mine, 2, 'the 80% and 100% alerts of key burst');
    got.sort((a, b) => a.threshold - b.threshold);
    const [at80, at100] = got;
    assert.equal(at80.threshold, 0.8);
    assert.equal(at100.threshold, 1);
    for (const a of got) {
      checkBody(a, [k.key, MASTER]);
      assert.equal(a.budget, 'key');
      assert.equal(a.name, 'burst');
      assert.equal(a.limit_usd, '0.001000');
      assert.equal(a.period, 'day');
      assert.equal(a.soft, false);
      assert.match(a.period_start, /^\d{4}-\d\d-\d\dT00:00:00Z$/);
    }
    assert.ok(Number(at80.spent_usd) >= 0.0008, at80.spent_usd);
    // the POST itself: JSON to the operator's path
    const raw = rcv.raw.find((r) => r.body.includes(k.id));
    assert.equal(raw.method, 'POST');
    assert.equal(raw.url, '/hooks/budget');
    assert.match(raw.headers['content-type'], /^application\/json/);
    assert.ok(!JSON.stringify(raw.headers).includes(MASTER));
    // more calls and refusals in the same period send nothing more
    const more = await Promise.allSettled(Array.from({ length: 20 }, req));
    assert.ok(more.some((r) => r.status === 'rejected'), 'still over');
    await sleep(1500);
    assert.equal(rcv.of(mine).length, 2);
  });

  test('a soft key budget serves past its limit and alerts at 80% and 100%', async () => {
    const k = await createKey({ name: 'soft-one', budget: '0.0002/day', soft: true });
    assert.deepEqual(k.budget, { usd: '0.000200', period: 'day', soft: true });
    // ~$0.00006 each: 6 calls are ~180% of the budget, all served
    for (let i = 0; i < 6; i++) {
      const r = await oa(k.key).chat.completions.create({
        model: 'gpt-4o-mini', max_tokens: 100, messages: user('Go. #sim:tokens=100'),
      });
      assert.equal(r.choices[0].message.role, 'assistant');
    }
    const got = await exactly(rcv, (a) => a.id === k.id, 2, 'soft key alerts');
    for (const a of got) {
      checkBody(a, [k.key, MASTER]);
      assert.equal(a.soft, true);
      assert.equal(a.refused, false);
    }
    const view = await call(fr, `/frugal/keys/${k.id}`, { method: 'GET' });
    assert.ok(Number(view.json.usage.budget.spent_usd) > 0.0002, view.text);
  });

  test('a soft tag budget alerts without refusing; an untouched one stays quiet', async () => {
    const k = await createKey({ name: 'soft-team', tags: 'team=soft' });
    for (let i = 0; i < 5; i++)
      await oa(k.key).chat.completions.create({
        model: 'gpt-4o-mini', max_tokens: 100, messages: user('Go. #sim:tokens=100'),
      });
    const got = await exactly(rcv, (a) => a.budget === 'tag' && a.id === 'team=soft', 2, 'tag alerts');
    for (const a of got) {
      checkBody(a, [k.key, MASTER]);
      assert.equal(a.name, 'team=soft');
      assert.equal(a.soft, true);
    }
    const q = await createKey({ name: 'quiet-team', tags: 'team=quiet' });
    await oa(q.key).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 5, messages: user('hi') });
    await sleep(1000);
    assert.equal(rcv.of((a) => a.id === 'team=quiet').length, 0);
  });

  test('keys create --soft: the CLI and the admin API, which need a budget', async () => {
    const r = await call(fr, '/frugal/keys', { body: { name: 'x', soft: true } });
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.error.message, /soft budget needs a budget/);
    const bad = await call(fr, '/frugal/keys', { body: { name: 'x', budget: '1/day', soft: 'yes' } });
    assert.equal(bad.status, 400, bad.text);
    const cli = (...a) => runFrugal(['keys', ...a, '-c', fr.configFile], { cwd: dir });
    const made = await cli('create', '--name', 'cli-soft', '--budget', '0.5/day', '--soft');
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /budget: {2}\$0\.500000 per day \(UTC\), soft \(alerts, never refuses\)/);
    const no = await cli('create', '--name', 'cli-nosoft', '--soft');
    assert.equal(no.code, 2);
    assert.match(no.stderr, /soft budget needs a budget/);
    const list = await cli('list');
    assert.match(list.stdout, /cli-soft.*\$0\.500000\/day soft/);
    const js = JSON.parse((await cli('list', '--json')).stdout).find((k) => k.name === 'cli-soft');
    assert.deepEqual(js.budget, { usd: '0.500000', period: 'day', soft: true });
  });
});

describe('the gateway budget, with a webhook down at first', () => {
  const dir = tempDir('frugal-alerts-gw-');
  let fr;
  let rcv;
  let port;

  before(async () => {
    port = await freePort(); // nothing listens there yet
    fr = await startFrugal({
      name: 'frugal-alerts-gw',
      cwd: dir,
      config: {
        storage: `sqlite:${join(dir, 'frugal.db')}`,
        providers: [{ name: 'sim', type: 'sim' }],
        models: MODELS,
        alerts: { webhook: `http://127.0.0.1:${port}/gw`, at: [1.0] },
        gateway_budget: { usd: 0.0003, period: 'day' },
      },
    });
  });

  after(async () => {
    await fr?.stop();
    await rcv?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('gateway_budget refuses every caller past it, and its alert is retried until delivered', async () => {
    const client = openai(fr, { apiKey: 'anon-alerts-caller-9d3e', maxRetries: 0 });
    const go = () => client.chat.completions.create({
      model: 'gpt-4o-mini', max_tokens: 100, messages: user('Go. #sim:tokens=100'),
    });
    let served = 0;
    let e = null;
    for (let i = 0; i < 20 && !e; i++) e = await go().then(() => (served++, null), (x) => x);
    assert.ok(served >= 2, `${served} served`);
    assert.ok(e instanceof OpenAI.RateLimitError, `${e}`);
    assert.equal(e.code, 'budget_exceeded');
    assert.match(e.message, /daily budget of the gateway is \$0\.000300/);
    // the webhook is down: frugal says it retries
    await waitFor(() => /alerts: the webhook refused the alert for gateway/.test(fr.stderr()), {
      timeoutMs: 20000, what: 'a retry logged',
    });
    rcv = await startReceiver({ port, failFirst: 1 }); // up, and a 503 once more
    const got = await exactly(rcv, (a) => a.budget === 'gateway', 1, 'the gateway alert');
    checkBody(got[0], [MASTER]);
    assert.equal(got[0].id, 'gateway');
    assert.equal(got[0].threshold, 1);
    assert.equal(got[0].limit_usd, '0.000300');
    assert.equal(rcv.posts, 2, 'one 503, then delivered');
    assert.match(fr.stderr(), /alerts: sent the alert for gateway 'gateway' at 100%/);
  });
});

describe('two replicas on Redis', () => {
  const dir = tempDir('frugal-alerts-redis-');
  let redis;
  let rcv;
  const fr = {};
  let key;
  const configOf = (name) => ({
    server: { workers: 2, master_key: MASTER },
    storage: `sqlite:${join(dir, name, 'frugal.db')}`,
    redis: redis.url,
    providers: [{ name: 'sim', type: 'sim' }],
    models: MODELS,
    alerts: { webhook: rcv.url },
  });
  const start = async (name, env = {}) =>
    (fr[name] = await startFrugal({ name: `frugal-alerts-${name}`, config: configOf(name), cwd: join(dir, name), env }));

  before(async () => {
    redis = await startRedis();
    rcv = await startReceiver();
    for (const n of ['a', 'b']) mkdirSync(join(dir, n));
    const cfgA = writeConfig({ ...configOf('a'), server: { master_key: MASTER } }, join(dir, 'a'));
    key = await cliKey(cfgA, join(dir, 'a'), '--name', 'shared', '--budget', '0.001/day');
    copyStore(join(dir, 'a'), join(dir, 'b'));
    await start('a');
    await start('b');
  });

  after(async () => {
    for (const n of ['a', 'b']) await fr[n]?.stop();
    await redis?.cleanup();
    await rcv?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('100 concurrent calls over two replicas: still once per threshold; again in the next period', async () => {
    const req = (n) => openai(fr[n], { apiKey: key.key, maxRetries: 0 }).chat.completions.create({
      model: 'gpt-4o-mini', max_tokens: 100, messages: user('Go. #sim:tokens=100 #sim:delay_ms=800'),
    });
    const res = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => req(i % 2 ? 'b' : 'a')));
    assert.ok(res.some((r) => r.status === "rejected"), "some refused");
    const mine = (a) => a.id === key.id;
    const first = await exactly(rcv, mine, 2, 'one alert per threshold across replicas');
    assert.deepEqual(first.map((a) => a.threshold).sort(), [0.8, 1]);
    for (const a of first) checkBody(a, [key.key, MASTER]);
    const period = first[0].period_start;
    assert.ok(first.every((a) => a.period_start === period));

    // b restarted: the marks are in Redis, nothing is sent again
    await fr.b.stop();
    await start('b');
    const more = await Promise.allSettled(Array.from({ length: 20 }, () => req('b')));
    assert.ok(more.some((r) => r.status === 'rejected'), 'still over the budget');
    await sleep(1500);
    assert.equal(rcv.of(mine).length, 2);

    // b restarted a day later (its budget clock moved on: the next period):
    // the spend starts again at zero and the alerts come again, once each
    await fr.b.stop();
    await start('b', { FRUGAL_TEST_BUDGET_SHIFT_MS: String(86400000) });
    const res2 = await Promise.allSettled(Array.from({ length: 60 }, () => req('b')));
    assert.ok(res2.some((r) => r.status === 'fulfilled'), 'the new period admits calls');
    const all = await exactly(rcv, mine, 4, 'alerts again after the rollover');
    const next = all.filter((a) => a.period_start !== period);
    assert.equal(next.length, 2, JSON.stringify(all));
    assert.deepEqual(next.map((a) => a.threshold).sort(), [0.8, 1]);
    assert.ok(Date.parse(next[0].period_start) === Date.parse(period) + 86400000, `${next[0].period_start} after ${period}`);
  });
});

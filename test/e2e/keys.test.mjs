// keys.test.mjs — virtual keys end to end: their lifecycle through the CLI
// and the admin API, allow-lists, budgets held exactly under 100 concurrent
// calls (and across a restart), RPM/TPM limits with retry-after, tag
// budgets, and isolation of one key's spend from another's.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import {
  Anthropic,
  OpenAI,
  anthropic,
  call,
  openai,
  rejectsWith,
  runFrugal,
  sleep,
  startFrugal,
  tempDir,
  test,
  waitFor,
  writeConfig,
} from './lib/frugal.mjs';

const MASTER = 'fg-keys-master-0c7e';
const AN_HEADERS = { 'anthropic-version': '2026-10-21' };
const user = (text) => [{ role: 'user', content: text }];

const dir = tempDir('frugal-keys-');
const config = {
  server: { workers: 2, master_key: MASTER },
  storage: `sqlite:${join(dir, 'frugal.db')}`,
  providers: [{ name: 'sim', type: 'sim' }],
  models: [
    { name: 'gpt-4o-mini', provider: 'sim', dialect: 'openai' },
    { name: 'gpt-4o', provider: 'sim', dialect: 'openai' },
    { name: 'claude-haiku-4-5', provider: 'sim' },
  ],
  routes: [
    { name: 'auto', cheap: 'gpt-4o-mini', frontier: 'gpt-4o' },
    // operator rules by tag (no weights: a call no rule picks goes frontier)
    { name: 'by-team', cheap: 'gpt-4o-mini', frontier: 'gpt-4o',
      frontier_for: ['tag:team=research', 'tag:project=apollo'], cheap_for: ['tag:team=support'] },
  ],
  tag_budgets: { 'team=capped': '0.000001/day' },
};

let fr;

before(async () => {
  fr = await startFrugal({ name: 'frugal-keys', config, cwd: dir });
});

after(async () => {
  await fr?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/* `frugal keys ...` against the daemon's config and database. */
async function keysCli(...args) {
  return runFrugal(['keys', ...args, '-c', fr.configFile], { cwd: dir });
}

/* A key made through the admin API: its JSON, with the secret in .key. */
async function createKey(opts) {
  const r = await call(fr, '/frugal/keys', { body: opts });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

const oa = (key, o = {}) => openai(fr, { apiKey: key, ...o });
const an = (key, o = {}) => anthropic(fr, { apiKey: key, ...o });
const chat = (key, extra = {}) =>
  oa(key).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 20, messages: user('hi'), ...extra });

describe('key lifecycle', () => {
  test('a key made by `frugal keys create` works on its very next call', async () => {
    // Each round first sends an unknown key (which used to re-read the keys
    // table and then refuse to look again for a second), then creates a key
    // with the CLI and uses it at once: no waiting, no retry.
    for (let i = 0; i < 3; i++) {
      const wrong = 'fk-' + 'Q'.repeat(42) + String(i);
      const e = await chat(wrong).then(() => null, (x) => x);
      assert.ok(e instanceof OpenAI.AuthenticationError, `${e}`);
      const made = await keysCli('create', '--name', `next-call-${i}`, '--json');
      assert.equal(made.code, 0, made.stderr);
      const k = JSON.parse(made.stdout);
      const r = await chat(k.key);
      assert.equal(r.choices[0].message.role, 'assistant');
    }
  });

  test('revoke takes the key itself (CLI and admin API), matched by its hash', async () => {
    const made = JSON.parse((await keysCli('create', '--name', 'held', '--json')).stdout);
    assert.equal((await chat(made.key)).choices[0].message.role, 'assistant');
    const rev = await keysCli('revoke', made.key);
    assert.equal(rev.code, 0, rev.stderr);
    assert.match(rev.stdout, new RegExp(`revoked ${made.id} \\('held'\\)`));
    assert.ok(!rev.stdout.includes(made.key) && !rev.stderr.includes(made.key), 'the secret is not echoed');
    const err = await waitFor(() => chat(made.key).then(() => null, (e) => e), { timeoutMs: 5000, what: '401 after revoke' });
    assert.equal(err.code, 'key_revoked');
    // a secret nobody holds: exit 1, and the message does not echo it
    const nobody = 'fk-' + 'Z'.repeat(43);
    const miss = await keysCli('revoke', nobody);
    assert.equal(miss.code, 1);
    assert.match(miss.stderr, /no key in sqlite:.* matches the key fk-ZZZZ/);
    assert.ok(!miss.stderr.includes(nobody));

    const k2 = await createKey({ name: 'held-api' });
    let r = await call(fr, `/frugal/keys/${k2.key}/revoke`, { body: {} });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.id, k2.id);
    assert.equal(r.json.status, 'revoked');
    assert.ok(!r.text.includes(k2.key));
    r = await call(fr, `/frugal/keys/${nobody}`, { method: 'DELETE' });
    assert.equal(r.status, 404);
    assert.ok(!r.text.includes(nobody));
  });

  test('CLI: create prints the key once, list never shows it, revoke → 401 within seconds', async () => {
    const text = await keysCli('create', '--name', 'cli-text', '--rpm', '100');
    assert.equal(text.code, 0, text.stderr);
    const secret = /^key:\s+(fk-[A-Za-z0-9]{43})$/m.exec(text.stdout)?.[1];
    assert.ok(secret, text.stdout);
    assert.match(text.stdout, /^id:\s+key_[0-9a-f]{12}$/m);
    assert.match(text.stdout, /cannot show it again/);
    assert.equal(text.stdout.split(secret).length, 2, 'the secret is printed exactly once');

    const made = await keysCli('create', '--name', 'cli-json', '--json');
    assert.equal(made.code, 0, made.stderr);
    const k = JSON.parse(made.stdout);
    assert.match(k.key, /^fk-[A-Za-z0-9]{43}$/);
    assert.match(k.id, /^key_[0-9a-f]{12}$/);
    assert.equal(k.status, 'active');
    assert.equal(k.hint, k.key.slice(0, 7));

    const list = await keysCli('list', '--json');
    assert.equal(list.code, 0, list.stderr);
    const keys = JSON.parse(list.stdout);
    assert.ok(keys.some((x) => x.id === k.id && x.name === 'cli-json'));
    assert.ok(!list.stdout.includes(k.key) && !list.stdout.includes(secret), 'list shows no secret');
    assert.ok(keys.every((x) => !('key' in x) && !('hash' in x)));
    const table = await keysCli('list');
    assert.equal(table.code, 0);
    assert.match(table.stdout, new RegExp(`${k.id}\\s+cli-json\\s+${k.hint}\\s+active`));
    assert.ok(!table.stdout.includes(k.key));

    // the running daemon picks up a key created behind its back
    const r = await waitFor(() => chat(k.key).catch(() => null), { timeoutMs: 5000, what: 'new CLI key accepted' });
    assert.equal(r.choices[0].message.role, 'assistant');

    const rev = await keysCli('revoke', k.id);
    assert.equal(rev.code, 0, rev.stderr);
    assert.match(rev.stdout, new RegExp(`revoked ${k.id}`));
    const t0 = Date.now();
    const err = await waitFor(() => chat(k.key).then(() => null, (e) => e), { timeoutMs: 5000, what: '401 after revoke' });
    assert.ok(Date.now() - t0 < 5000);
    assert.ok(err instanceof OpenAI.AuthenticationError, `${err}`);
    assert.equal(err.code, 'key_revoked');
    assert.match(err.message, new RegExp(`${k.id}.*revoked at \\d{4}-\\d\\d-\\d\\dT`));
    // revoked again: says so, still exit 0; unknown: exit 1
    assert.match((await keysCli('revoke', k.id)).stdout, /already revoked/);
    assert.equal((await keysCli('revoke', 'key_000000000000')).code, 1);
    // the list says revoked
    const after = JSON.parse((await keysCli('list', '--json')).stdout).find((x) => x.id === k.id);
    assert.equal(after.status, 'revoked');
    assert.match(after.revoked_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  test('CLI: bad options are usage errors naming the option; no master key warns', async () => {
    let r = await keysCli('create', '--name', 'x', '--budget', '10/week');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /budget: '10\/week'/);
    r = await keysCli('create', '--name', 'x', '--models', 'gpt-4o-mini,nope');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /'nope' is neither a configured model nor a route/);
    r = await keysCli('create', '--budget', '1/day');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /name: required/);

    const d = tempDir('frugal-keys-nomaster-');
    try {
      const file = writeConfig({ ...config, server: { listen: '127.0.0.1:0' }, storage: `sqlite:${join(d, 'f.db')}` }, d);
      const w = await runFrugal(['keys', 'create', '--name', 'lonely', '-c', file], { cwd: d });
      assert.equal(w.code, 0, w.stderr);
      assert.match(w.stderr, /warning: server\.master_key is not set/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  test('admin API: create returns the key once, list hides it, revoke applies at once', async () => {
    const k = await createKey({ name: 'api-key', budget: '5/month', rpm: 50, tpm: 100000, models: ['gpt-4o-mini', 'auto'], tags: { team: 'search' } });
    assert.match(k.key, /^fk-[A-Za-z0-9]{43}$/);
    assert.deepEqual(k.budget, { usd: '5.000000', period: 'month' });
    assert.deepEqual(k.models, ['gpt-4o-mini', 'auto']);
    assert.deepEqual(k.tags, { team: 'search' });
    assert.equal(k.rpm, 50);

    const list = await call(fr, '/frugal/keys', { method: 'GET' });
    assert.equal(list.status, 200);
    assert.equal(list.json.object, 'list');
    const mine = list.json.data.find((x) => x.id === k.id);
    assert.ok(mine);
    assert.ok(!list.text.includes(k.key), 'the listing has no secret');
    assert.equal(mine.usage.budget.limit_usd, '5.000000');
    assert.match(mine.usage.budget.resets_at, /^\d{4}-\d\d-01T00:00:00Z$/);

    // usable at once, and what it spends shows in the listing
    await chat(k.key);
    const one = await call(fr, `/frugal/keys/${k.id}`, { method: 'GET' });
    assert.equal(one.status, 200);
    assert.ok(Number(one.json.usage.budget.spent_usd) > 0, one.text);
    assert.equal(one.json.usage.budget.reserved_usd, '0.000000');
    assert.equal(one.json.usage.requests_last_minute, 1);

    // a virtual key cannot use the admin API: 403 in its dialect
    let r = await call(fr, '/frugal/keys', { method: 'GET', key: k.key });
    assert.equal(r.status, 403);
    assert.equal(r.json.error.type, 'permission_error');
    r = await call(fr, '/frugal/keys', { body: { name: 'sneaky' }, key: k.key, headers: AN_HEADERS });
    assert.equal(r.status, 403);
    assert.equal(r.json.type, 'error');
    assert.equal(r.json.error.type, 'permission_error');

    // bad options: 400 naming them
    r = await call(fr, '/frugal/keys', { body: { name: 'x', colour: 'red' } });
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /'colour'/);
    r = await call(fr, '/frugal/keys', { body: { name: 'x', models: ['gpt-9'] } });
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /'gpt-9'/);
    r = await call(fr, '/frugal/keys/key_000000000000/revoke', { body: {} });
    assert.equal(r.status, 404);

    r = await call(fr, `/frugal/keys/${k.id}/revoke`, { body: {} });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'revoked');
    await rejectsWith(chat(k.key), OpenAI.AuthenticationError, 'revoked key');

    const k2 = await createKey({ name: 'api-key-2' });
    r = await call(fr, `/frugal/keys/${k2.id}`, { method: 'DELETE' });
    assert.equal(r.status, 200);
    assert.equal(r.json.status, 'revoked');
    const e = await rejectsWith(an(k2.key).messages.create({ model: 'claude-haiku-4-5', max_tokens: 20, messages: user('hi') }),
      Anthropic.AuthenticationError, 'deleted key, Anthropic SDK');
    assert.match(e.message, /revoked/);
  });

  test('expired keys get 401', async () => {
    const old = await createKey({ name: 'expired', expires: '2020-01-01' });
    assert.equal(old.status, 'expired');
    const e = await rejectsWith(chat(old.key), OpenAI.AuthenticationError, 'expired key');
    assert.equal(e.code, 'key_expired');
    assert.match(e.message, /expired at 2020-01-01T00:00:00Z/);

    const brief = await createKey({ name: 'brief', expires: '2s' });
    await chat(brief.key);
    await sleep(2100);
    await rejectsWith(chat(brief.key), OpenAI.AuthenticationError, 'key past its expiry');
  });

  test('wrong keys get 401 in both dialects', async () => {
    const fake = 'fk-' + 'A'.repeat(43); // the right shape, no such key
    for (const key of [fake, 'sk-not-a-frugal-key']) {
      const e = await rejectsWith(chat(key), OpenAI.AuthenticationError, `OpenAI SDK, ${key}`);
      assert.equal(e.code, 'invalid_api_key');
      const a = await rejectsWith(an(key).messages.create({ model: 'claude-haiku-4-5', max_tokens: 20, messages: user('hi') }),
        Anthropic.AuthenticationError, `Anthropic SDK, ${key}`);
      assert.equal(a.error?.error?.type, 'authentication_error');
    }
  });
});

describe('allow-lists', () => {
  test('a model outside the list is a 403 naming it, in both SDKs; a listed route works', async () => {
    const k = await createKey({ name: 'narrow', models: 'gpt-4o-mini,auto' });
    await chat(k.key);
    const viaRoute = await oa(k.key).chat.completions.create({ model: 'auto', max_tokens: 20, messages: user('hi') });
    assert.ok(viaRoute.choices[0].message.content);

    const e = await rejectsWith(oa(k.key).chat.completions.create({ model: 'gpt-4o', max_tokens: 20, messages: user('hi') }),
      OpenAI.PermissionDeniedError, 'OpenAI SDK, gpt-4o');
    assert.equal(e.status, 403);
    assert.equal(e.code, 'model_not_allowed');
    assert.match(e.message, /'gpt-4o' is not allowed for key 'narrow'/);
    assert.match(e.message, /gpt-4o-mini auto/);

    const a = await rejectsWith(an(k.key).messages.create({ model: 'claude-haiku-4-5', max_tokens: 20, messages: user('hi') }),
      Anthropic.PermissionDeniedError, 'Anthropic SDK, claude-haiku-4-5');
    assert.equal(a.status, 403);
    assert.match(a.message, /'claude-haiku-4-5' is not allowed/);

    // GET /v1/models lists what the key may call
    const models = await oa(k.key).models.list();
    assert.deepEqual(models.data.map((m) => m.id).sort(), ['auto', 'gpt-4o-mini']);
  });
});

describe('budgets', () => {
  test('100 concurrent calls: spend stays within the budget plus one reservation, the rest get 429 naming it', async () => {
    const BUDGET_PICO = 300_000_000n; // $0.000300
    const k = await createKey({ name: 'tight', budget: '0.0003/day' });
    const client = oa(k.key);
    // each call: a short prompt, 100 output tokens, held in flight 800 ms
    const req = () => client.chat.completions.create({
      model: 'gpt-4o-mini',
      max_tokens: 100,
      messages: user('Count slowly. #sim:tokens=100 #sim:delay_ms=800'),
    });
    const results = await Promise.allSettled(Array.from({ length: 100 }, req));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const denied = results.filter((r) => r.status === 'rejected');
    assert.ok(ok.length >= 1, 'some calls fit');
    assert.equal(ok.length + denied.length, 100);
    assert.ok(denied.length >= 90, `${denied.length} refused`);
    let reservation = 0n;
    for (const { reason: e } of denied) {
      assert.ok(e instanceof OpenAI.RateLimitError, `${e}`);
      assert.equal(e.status, 429);
      assert.equal(e.code, 'budget_exceeded');
      assert.match(e.message, /daily budget of key 'tight' \(key_[0-9a-f]{12}\) is \$0\.000300/);
      assert.match(e.message, /resets at \d{4}-\d\d-\d\dT00:00:00Z/);
      assert.equal(e.headers.get('x-should-retry'), 'false');
      const wait = Number(e.headers.get('retry-after'));
      assert.ok(wait >= 1 && wait <= 86400, `retry-after ${wait}`);
      const m = /may cost up to \$(\d+)\.(\d{6})/.exec(e.message);
      if (m) reservation = BigInt(m[1]) * 1_000_000_000_000n + BigInt(m[2]) * 1_000_000n;
    }
    assert.ok(reservation > 0n, 'a refusal names the call\'s reservation');

    // what the ledger recorded for this key
    const spendOf = async () => {
      const s = await call(fr, '/frugal/spend?since=1h', { method: 'GET', key: k.key });
      assert.equal(s.status, 200, s.text);
      return s.json;
    };
    const s = await waitFor(async () => {
      const j = await spendOf();
      return j.requests === 100 ? j : null;
    }, { what: '100 ledger rows for the key' });
    assert.equal(s.errors, denied.length);
    const spent = BigInt(Math.round(s.cost_usd * 1e6)) * 1_000_000n;
    assert.ok(spent > 0n);
    assert.ok(spent <= BUDGET_PICO + reservation,
      `spent ${spent} pico > budget ${BUDGET_PICO} + one reservation ${reservation}`);
    // the admin view agrees, with nothing left held
    const view = await call(fr, `/frugal/keys/${k.id}`, { method: 'GET' });
    assert.equal(view.json.usage.budget.reserved_usd, '0.000000');
    assert.equal(view.json.usage.budget.spent_usd, s.cost_usd.toFixed(6));

    // a budget survives a restart: the spend is read back from the ledger
    await fr.stop();
    fr = await startFrugal({ name: 'frugal-keys', config, cwd: dir });
    const again = await rejectsWith(chat(k.key, { max_tokens: 100 }), OpenAI.RateLimitError, 'after restart');
    assert.equal(again.code, 'budget_exceeded');
    const v2 = await call(fr, `/frugal/keys/${k.id}`, { method: 'GET' });
    assert.equal(v2.json.usage.budget.spent_usd, s.cost_usd.toFixed(6));
  });

  test('every way a call ends releases its hold exactly once', async () => {
    const k = await createKey({ name: 'holds', budget: '1/day' });
    const usage = async () => (await call(fr, `/frugal/keys/${k.id}`, { method: 'GET' })).json.usage.budget;
    // a stream read to the end
    const stream = await oa(k.key).chat.completions.create({
      model: 'gpt-4o-mini', max_tokens: 50, stream: true, messages: user('Stream. #sim:tokens=20'),
    });
    for await (const _ of stream);
    // a stream the client walks away from
    const ac = new AbortController();
    const cut = await oa(k.key).chat.completions.create({
      model: 'gpt-4o-mini', max_tokens: 50, stream: true,
      messages: user('Slowly. #sim:tokens=40 #sim:event_delay_ms=50'),
    }, { signal: ac.signal });
    let n = 0;
    try {
      for await (const _ of cut) if (++n === 3) ac.abort();
    } catch (e) {
      assert.ok(e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError', `${e}`);
    }
    assert.ok(n >= 3, `${n} chunks before the client left`);
    // a provider that keeps failing: three attempts, each settled
    await rejectsWith(chat(k.key, { messages: user('#sim:status=503') }), OpenAI.InternalServerError, '503s');
    // an Anthropic call translated from nothing: plain, non-streamed
    await an(k.key).messages.create({ model: 'claude-haiku-4-5', max_tokens: 20, messages: user('hi') });
    const b = await waitFor(async () => {
      const u = await usage();
      return u.reserved_usd === '0.000000' ? u : null;
    }, { what: 'no hold left' });
    assert.ok(Number(b.spent_usd) > 0);
    // and the in-memory spend equals what the ledger recorded for the key
    const s = await waitFor(async () => {
      const r = await call(fr, '/frugal/spend?since=1h', { method: 'GET', key: k.key });
      return r.json?.requests === 6 ? r.json : null;
    }, { what: 'six ledger rows (three for the 503 attempts)' });
    assert.equal(b.spent_usd, s.cost_usd.toFixed(6));
  });

  test('a tag budget applies to every call carrying the tag, whichever key', async () => {
    const k = await createKey({ name: 'capped-team', tags: 'team=capped' });
    const e = await rejectsWith(chat(k.key), OpenAI.RateLimitError, 'key with the tag');
    assert.equal(e.code, 'budget_exceeded');
    assert.match(e.message, /daily budget of tag 'team=capped' is \$0\.000001/);
    // the master key too, when it labels a call with the tag
    const r = await call(fr, '/v1/chat/completions', {
      body: { model: 'gpt-4o-mini', max_tokens: 5, messages: user('hi') },
      headers: { 'x-frugal-tags': 'team=capped' },
    });
    assert.equal(r.status, 429);
    assert.match(r.json.error.message, /tag 'team=capped'/);
    // a caller can't drop its key's tag: the key's tags win over x-frugal-tags
    const r2 = await call(fr, '/v1/chat/completions', {
      body: { model: 'gpt-4o-mini', max_tokens: 5, messages: user('hi') },
      headers: { 'x-frugal-tags': 'team=other' }, key: k.key,
    });
    assert.equal(r2.status, 429);
  });
});

describe('tags: one resolution for routing, budgets and the ledger', () => {
  /* The call's ledger row (tags, route, reason), once the writer stored it. */
  const row = (id) => waitFor(() => {
    const out = execFileSync('sqlite3', ['-json', join(dir, 'frugal.db'),
      `SELECT key_id, tags, route, route_reason FROM calls WHERE id = '${id}'`]).toString();
    return out.trim() ? JSON.parse(out)[0] : null;
  }, { what: `the ledger row of ${id}` });
  const send = (key) => call(fr, '/v1/chat/completions', {
    body: { model: 'by-team', max_tokens: 5, messages: user('hi') },
    headers: { 'x-frugal-tags': 'team=research, project=apollo' }, key,
  });

  test("a key's x-frugal-tags can't claim an operator's tag rule; the master key's can", async () => {
    // the key is team=support; its header says team=research (its own tag
    // wins that name) and project=apollo (recorded): the frontier_for rule
    // names both, and must see neither — a tag the key can't spend
    const k = await createKey({ name: 'support-bot', tags: 'team=support' });
    const r = await send(k.key);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.headers.get('x-frugal-route'), r.headers.get('x-frugal-model')], ['cheap', 'gpt-4o-mini']);
    const kr = await row(r.headers.get('x-frugal-request-id'));
    assert.deepEqual(kr, { key_id: k.id, tags: 'team=support,project=apollo', route: 'cheap',
                           route_reason: 'cheap tier for tag:team=support' });
    // the master key labels its own calls: its header is the call's tags
    const m = await send(undefined);
    assert.equal(m.status, 200, m.text);
    assert.deepEqual([m.headers.get('x-frugal-route'), m.headers.get('x-frugal-model')], ['frontier', 'gpt-4o']);
    const mr = await row(m.headers.get('x-frugal-request-id'));
    assert.deepEqual(mr, { key_id: 'master', tags: 'team=research, project=apollo', route: 'frontier',
                           route_reason: 'frontier tier for tag:team=research' });
  });
});

describe('rate limits', () => {
  test('RPM: the call over the limit gets 429 with retry-after', async () => {
    const k = await createKey({ name: 'rpm3', rpm: 3 });
    for (let i = 0; i < 3; i++) await chat(k.key);
    const e = await rejectsWith(chat(k.key), OpenAI.RateLimitError, '4th call');
    assert.equal(e.code, 'rate_limit_exceeded');
    assert.match(e.message, /key 'rpm3' \(key_[0-9a-f]{12}\): 3 requests per minute/);
    const wait = Number(e.headers.get('retry-after'));
    assert.ok(wait >= 1 && wait <= 60, `retry-after ${wait}`);
    assert.equal(e.headers.get('x-ratelimit-limit-requests'), '3');
    assert.notEqual(e.headers.get('x-should-retry'), 'false'); // worth retrying later
    // Anthropic clients see their rate_limit_error
    const a = await rejectsWith(an(k.key).messages.create({ model: 'claude-haiku-4-5', max_tokens: 20, messages: user('hi') }),
      Anthropic.RateLimitError, 'Anthropic SDK');
    assert.ok(Number(a.headers.get('retry-after')) >= 1);
  });

  test('TPM: worst-case tokens are held, real ones settled; too big never fits', async () => {
    const k = await createKey({ name: 'tpm', tpm: 2000 });
    // holds ~1070 tokens (prompt estimate + 1000), uses ~910
    await chat(k.key, { max_tokens: 1000, messages: user('Go on. #sim:tokens=900') });
    // ~1265 more would pass 2000
    const e = await rejectsWith(chat(k.key, { max_tokens: 1200 }), OpenAI.RateLimitError, 'second call');
    assert.equal(e.code, 'rate_limit_exceeded');
    assert.match(e.message, /2000 tokens per minute/);
    const wait = Number(e.headers.get('retry-after'));
    assert.ok(wait >= 1 && wait <= 60, `retry-after ${wait}`);
    // a small call still fits next to the first one's real usage
    await chat(k.key, { max_tokens: 50 });
    // a call whose worst case alone is over the limit is told so, not to retry
    const big = await rejectsWith(chat(k.key, { max_tokens: 5000 }), OpenAI.RateLimitError, 'too big');
    assert.match(big.message, /more than the 2000 tokens per minute/);
    assert.equal(big.headers.get('x-should-retry'), 'false');
  });
});

describe('isolation', () => {
  test('a key sees only its own spend; the master key sees all or one', async () => {
    const a = await createKey({ name: 'iso-a', tags: 'team=a' });
    const b = await createKey({ name: 'iso-b' });
    for (let i = 0; i < 2; i++) await chat(a.key);
    for (let i = 0; i < 3; i++) await chat(b.key, { messages: user('hello from b') });
    const spend = (key, q = '') => call(fr, `/frugal/spend?since=1h&by=key${q}`, { method: 'GET', key });
    const sa = await waitFor(async () => {
      const r = await spend(a.key);
      return r.json?.requests === 2 ? r : null;
    }, { what: "key A's two calls" });
    assert.equal(sa.json.key, a.id);
    assert.deepEqual(sa.json.by.rows.map((r) => r.key), [a.id]);
    const sb = await waitFor(async () => {
      const r = await spend(b.key);
      return r.json?.requests === 3 ? r : null;
    }, { what: "key B's three calls" });
    assert.deepEqual(sb.json.by.rows.map((r) => r.key), [b.id]);
    // A cannot ask for B's rows
    const peek = await spend(a.key, `&key=${b.id}`);
    assert.equal(peek.status, 403);
    assert.equal(peek.json.error.type, 'permission_error');
    // the master key: everyone, or one key
    const all = await spend(MASTER);
    const ids = all.json.by.rows.map((r) => r.key);
    assert.ok(ids.includes(a.id) && ids.includes(b.id));
    const onlyB = await spend(MASTER, `&key=${b.id}`);
    assert.equal(onlyB.json.requests, 3);
    // the ledger rows carry the key id and the key's tags
    const tags = await call(fr, '/frugal/spend?since=1h&by=tag', { method: 'GET', key: a.key });
    assert.deepEqual(tags.json.by.rows.map((r) => r.key), ['team=a']);
    // frugal report --key, from the command line
    const rep = await runFrugal(['report', '--json', '--since', '1h', '--key', b.id, '-c', fr.configFile], { cwd: dir });
    assert.equal(rep.code, 0, rep.stderr);
    assert.equal(JSON.parse(rep.stdout).requests, 3);
  });
});

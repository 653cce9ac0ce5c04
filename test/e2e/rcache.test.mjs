// rcache.test.mjs — the caches across replicas (issue #19): two frugal
// processes on one Redis, calls alternating between them.
//
//  - prompt-cache sightings are Redis's: a prefix first seen through A is
//    marked on its second sighting, through B;
//  - the response cache is Redis's: an answer cached through A is a hit
//    through B (plain and streamed, both dialects), expires after its TTL
//    (PXAT), and an answer over max_bytes / 8 is not stored;
//  - cache affinity is Redis's: the deployment that holds a prefix gets the
//    prefix's calls from either replica;
//  - round trips: MONITOR shows what one call sends (one script
//    at admission, waited for; at the end, the settlement and the cache's
//    value sent without waiting);
//  - Redis stopped: the cache misses, calls without a budget flow, calls
//    held to a budget meet budgets.on_store_down (fail_closed: 503); back,
//    the cache works again.
//
// Each replica has its own SQLite ledger; Redis from lib/redis.mjs.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

import {
  OpenAI,
  anthropic,
  call,
  openai,
  rejectsWith,
  sleep,
  startFrugal,
  tempDir,
  test,
  waitFor,
  writeConfig,
} from './lib/frugal.mjs';
import { markers, prompt } from './lib/prompts.mjs';
import { startRecorder } from './lib/recorder.mjs';
import { startRedis } from './lib/redis.mjs';
import { cliKey, copyStore } from './lib/replicas.mjs';

const MASTER = 'fg-rcache-master-3b9e';
const user = (text) => [{ role: 'user', content: text }];
const dir = tempDir('frugal-rcache-e2e-');
const NAMES = ['a', 'b'];

let redis;
let rec;   // the Anthropic and OpenAI provider (records what it got)
let east;  // two deployments of one model
let west;
const fr = {};
let served = 0; // each upstream answer says a different text
let budgetKey;

const configOf = (name) => ({
  server: { workers: 2, master_key: MASTER, upstream_retries: 0 },
  storage: `sqlite:${join(dir, name, 'frugal.db')}`,
  redis: redis.url,
  response_cache: { enabled: true, ttl: '3s', max_bytes: 64 * 1024 },
  providers: [
    { name: 'rec-an', type: 'anthropic', base_url: rec.url, api_key: 'sk-rec-an' },
    { name: 'rec-oa', type: 'openai', base_url: `${rec.url}/v1`, api_key: 'sk-rec-oa' },
    { name: 'east', type: 'anthropic', base_url: east.url, api_key: 'sk-east' },
    { name: 'west', type: 'anthropic', base_url: west.url, api_key: 'sk-west' },
  ],
  models: [
    { name: 'claude-sonnet-4-5', provider: 'rec-an' },
    { name: 'rc-gpt', provider: 'rec-oa', model: 'gpt-4o-mini' },
    { name: 'rc-claude', provider: 'rec-an', model: 'claude-haiku-4-5' },
    { name: 'claude-sonnet-4-6', provider: 'east', deployments: [{ provider: 'west' }] },
  ],
});

async function start(name) {
  fr[name] = await startFrugal({ name: `frugal-rcache-${name}`, config: configOf(name), cwd: join(dir, name) });
  return fr[name];
}

before(async () => {
  redis = await startRedis();
  rec = await startRecorder();
  rec.behave = () => ({ text: `Recorded answer number ${++served}.` });
  east = await startRecorder();
  west = await startRecorder();
  for (const n of NAMES) mkdirSync(join(dir, n));
  // a key with a budget, made in a's store and copied to b's (same id and secret)
  const cfgA = writeConfig({ ...configOf('a'), server: { master_key: MASTER } }, join(dir, 'a'));
  budgetKey = await cliKey(cfgA, join(dir, 'a'), '--name', 'budgeted', '--budget', '100/day');
  copyStore(join(dir, 'a'), join(dir, 'b'));
  for (const n of NAMES) await start(n);
});

after(async () => {
  for (const n of NAMES) await fr[n]?.stop();
  await redis?.cleanup();
  for (const r of [rec, east, west]) await r?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('prompt-cache sightings across replicas', () => {
  /* One Anthropic call through replica `name`; what the provider received. */
  async function send(name, body) {
    const n = rec.requests.length;
    await anthropic(fr[name]).messages.create({ max_tokens: 64, ...body });
    assert.equal(rec.requests.length, n + 1, 'one upstream request per call');
    return rec.last();
  }

  test('a recurring prompt is marked from its second sighting, whichever replica sees it', async () => {
    // one-off prompts, alternating: never marked
    for (let i = 0; i < 4; i++) {
      const up = await send(NAMES[i % 2], { model: 'claude-sonnet-4-5', system: prompt(`r-oneoff-${i}`), messages: user(`one-off ${i}`) });
      assert.deepEqual(markers(up.json), [], `one-off ${i} got a marker`);
    }
    const P = prompt('r-recurring');
    const first = await send('a', { model: 'claude-sonnet-4-5', system: P, messages: user('first question') });
    assert.deepEqual(markers(first.json), [], 'first sighting (through a): no marker');
    // the second sighting is b's first: the evidence is Redis's, not a's memory
    for (const [i, q] of ['second question', 'third question', 'fourth question'].entries()) {
      const name = NAMES[(i + 1) % 2];
      const up = await send(name, { model: 'claude-sonnet-4-5', system: P, messages: user(q) });
      assert.deepEqual(up.json.system, [{ type: 'text', text: P, cache_control: { type: 'ephemeral' } }],
        `${q} through ${name}: the system prompt carries a 5 m breakpoint`);
      assert.deepEqual(markers(up.json).map((m) => m.path), ['$.system[0]'], `${q}: exactly one marker`);
    }
  });

  test('a prompt sent once to another model is not a recurring prefix here (evidence is per model)', async () => {
    const P = prompt('r-per-model');
    await send('a', { model: 'claude-sonnet-4-5', system: P, messages: user('once on sonnet') });
    const up = await send('b', { model: 'rc-claude', system: P, messages: user('once on haiku') });
    assert.deepEqual(markers(up.json), [], 'first sighting on this model');
  });
});

describe('the response cache across replicas', () => {
  const post = (name, body, headers = {}) => call(fr[name], '/v1/chat/completions', { body, headers });

  test('an answer cached through a is a hit through b, byte for byte; the provider called once', async () => {
    const body = { model: 'rc-gpt', messages: user('What is the capital of France?') };
    const n = rec.requests.length;
    const a = await post('a', body);
    assert.equal(a.status, 200, a.text);
    assert.equal(a.headers.get('x-frugal-cache'), 'miss');
    const b = await waitFor(async () => {
      const r = await post('b', body);
      return r.headers.get('x-frugal-cache') === 'hit' ? r : null;
    }, { what: 'a hit through b' });
    assert.equal(b.text, a.text, 'the hit is the stored body');
    assert.equal(rec.requests.length, n + 1, 'the provider was called once');
    // and through a again, with the SDK
    const { data, response } = await openai(fr.a)
      .chat.completions.create({ messages: user('What is the capital of France?'), model: 'rc-gpt' })
      .withResponse();
    assert.equal(response.headers.get('x-frugal-cache'), 'hit');
    assert.equal(data.choices[0].message.content, a.json.choices[0].message.content);
    assert.equal(rec.requests.length, n + 1);
  });

  test('streams: a plain answer through a replays as SSE through b; a streamed miss through b is a streamed hit through a', async () => {
    const stream = async (name, body) => {
      const { data, response } = await openai(fr[name]).chat.completions.create({ ...body, stream: true }).withResponse();
      let text = '';
      const chunks = [];
      for await (const ch of data) {
        chunks.push(ch);
        text += ch.choices[0]?.delta?.content ?? '';
      }
      return { text, cache: response.headers.get('x-frugal-cache'), chunks };
    };
    const n = rec.requests.length;
    const plain = { model: 'rc-gpt', messages: user('Stream after plain, two replicas') };
    const { data, response } = await openai(fr.a).chat.completions.create(plain).withResponse();
    assert.equal(response.headers.get('x-frugal-cache'), 'miss');
    await sleep(100); // the value is told without waiting
    const s = await stream('b', plain);
    assert.equal(s.cache, 'hit');
    assert.equal(s.text, data.choices[0].message.content);
    assert.equal(s.chunks.at(-1).choices[0]?.finish_reason, 'stop');

    const body = { model: 'rc-gpt', messages: user('Stream twice, two replicas') };
    const m = await stream('b', body);
    assert.equal(m.cache, 'miss');
    await sleep(100);
    const h = await stream('a', body);
    assert.equal(h.cache, 'hit');
    assert.equal(h.text, m.text);
    assert.deepEqual(h.chunks.map((c) => c.choices[0]?.delta), m.chunks.map((c) => c.choices[0]?.delta), 'the same chunks');
    assert.equal(rec.requests.length, n + 2, 'the provider answered each question once');
  });

  test('Anthropic SDK: a miss through b, hits through a, streamed and plain', async () => {
    const body = { model: 'rc-claude', max_tokens: 50, messages: user('Anthropic across replicas') };
    const n = rec.requests.length;
    const { data: a, response: ra } = await anthropic(fr.b).messages.create(body).withResponse();
    assert.equal(ra.headers.get('x-frugal-cache'), 'miss');
    await sleep(100);
    const { data: b, response: rb } = await anthropic(fr.a).messages.create(body).withResponse();
    assert.equal(rb.headers.get('x-frugal-cache'), 'hit');
    assert.equal(b.content[0].text, a.content[0].text);
    const { data: s, response: rs } = await anthropic(fr.a).messages.create({ ...body, stream: true }).withResponse();
    assert.equal(rs.headers.get('x-frugal-cache'), 'hit');
    let text = '';
    for await (const ev of s) if (ev.type === 'content_block_delta') text += ev.delta.text;
    assert.equal(text, a.content[0].text);
    assert.equal(rec.requests.length, n + 1);
  });

  test('an entry expires after response_cache.ttl (3 s) on every replica', async () => {
    const body = { model: 'rc-gpt', messages: user('Expire me across replicas') };
    const a = await post('a', body);
    assert.equal(a.headers.get('x-frugal-cache'), 'miss');
    await sleep(100);
    assert.equal((await post('b', body)).headers.get('x-frugal-cache'), 'hit');
    await sleep(3300);
    const n = rec.requests.length;
    const c = await post('b', body);
    assert.equal(c.headers.get('x-frugal-cache'), 'miss', 'after the TTL');
    assert.equal(rec.requests.length, n + 1);
    assert.notEqual(c.json.choices[0].message.content, a.json.choices[0].message.content);
  });

  test('not stored: an answer above max_bytes / 8, and provider errors', async () => {
    // max_bytes 64 KiB: a value above 8 KiB is refused
    const long = 'x'.repeat(9000);
    rec.queue({ text: long });
    const body = { model: 'rc-gpt', messages: user('Answer at length, two replicas') };
    assert.equal((await post('a', body)).headers.get('x-frugal-cache'), 'miss');
    await sleep(100);
    const again = await post('b', body);
    assert.equal(again.headers.get('x-frugal-cache'), 'miss', 'too big to store');
    rec.queue({ status: 500, body: { error: { message: 'boom', type: 'server_error' } } });
    const bad = { model: 'rc-gpt', messages: user('Fail once, two replicas') };
    assert.equal((await post('a', bad)).status, 500);
    await sleep(100);
    const ok = await post('b', bad);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('x-frugal-cache'), 'miss', 'the error was not stored');
  });
});

describe('cache affinity across replicas', () => {
  test('the deployment that holds a prefix gets its calls from either replica', async () => {
    /* Which deployment received the call asking q (each q is unique). */
    const where = async (name, tag, q) => {
      await anthropic(fr[name]).messages.create({ model: 'claude-sonnet-4-6', max_tokens: 32, system: prompt(tag), messages: user(q) });
      const got = (r) => r.requests.filter((x) => x.json?.messages?.[0]?.content === q);
      const [e, w] = [got(east), got(west)];
      assert.equal(e.length + w.length, 1, `${q}: exactly one deployment called`);
      return e.length ? 'east' : 'west';
    };
    // two new prefixes through a take the two deployments in turn; b has
    // seen neither: its own turn would start where a's did
    const p1 = await where('a', 'aff-1', 'first prefix via a');
    const p2 = await where('a', 'aff-2', 'second prefix via a');
    assert.notEqual(p1, p2, 'new prefixes take turns');
    assert.equal(await where('b', 'aff-2', 'second prefix via b'), p2, 'b sends prefix 2 where a did');
    assert.equal(await where('b', 'aff-1', 'first prefix via b'), p1, 'b sends prefix 1 where a did');
    for (let i = 0; i < 6; i++) {
      const name = NAMES[i % 2];
      const [tag, want] = i % 3 ? ['aff-1', p1] : ['aff-2', p2];
      assert.equal(await where(name, tag, `${tag} again ${i} via ${name}`), want, `${tag} through ${name}`);
    }
  });
});

/* The commands one call sent, as MONITOR shows them (a raw connection):
 * {COMMAND: count}, leaving out what scripts ran inside Redis ("lua") and
 * the key reloaders' version reads and seed claims (GET, EVAL).  The
 * window opens once Redis has been quiet for 300 ms (an earlier call's
 * store or settlement, sent without waiting, may land late) and closes
 * 300 ms after `expected` commands have arrived. */
async function commandsOf(fn, expected) {
  const sock = connect(redis.port, '127.0.0.1');
  let buf = '';
  sock.setEncoding('utf8').on('data', (d) => { buf += d; });
  sock.write('MONITOR\r\n');
  await waitFor(() => buf.startsWith('+OK'), { what: 'MONITOR on' });
  const seen = [];
  let from = 1; // the lines before it were another call's (a late one)
  const count = () => {
    const d = {};
    seen.length = 0;
    for (const line of buf.split('\r\n').slice(from)) {
      const m = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] "([A-Za-z]+)"/.exec(line);
      if (!m || m[1] === 'lua') continue;
      const cmd = m[2].toUpperCase();
      if (cmd !== 'GET' && cmd !== 'EVAL') {
        d[cmd] = (d[cmd] ?? 0) + 1;
        seen.push(line.slice(0, 200));
      }
    }
    return d;
  };
  const total = (d) => Object.values(d).reduce((a, b) => a + b, 0);
  // start on a quiet Redis: what an earlier call sent without waiting (its
  // cache store, its settlement) must not be counted as this call's
  for (let quiet = 0; quiet < 3;) {
    const before = total(count());
    await sleep(100);
    quiet = total(count()) === before ? quiet + 1 : 0;
  }
  from = buf.split('\r\n').length - 1;
  try {
    await fn();
    // what is sent without waiting lands: wait for as many commands as
    // expected however loaded the machine (a late one must not fall into
    // the next call's window), then a while longer for any extra
    await waitFor(() => total(count()) >= expected, { what: `${expected} commands` }).catch(() => {});
    await sleep(300);
  } finally {
    sock.destroy();
  }
  const d = count();
  // what was counted, for the message of an assertion that fails
  Object.defineProperty(d, 'lines', { value: seen.join('\n'), enumerable: false });
  return d;
}

describe('round trips', () => {
  test('a call sends one script at admission; at the end its settlement and the cache\'s value, without waiting', async () => {
    const body = { model: 'rc-gpt', messages: user('Count my round trips') };
    // no key: the admission carries the cache lookup and the sightings; the
    // miss's answer is stored at the end
    let c = await commandsOf(() => post('a', body), 2);
    assert.deepEqual(c, { EVALSHA: 2 }, `miss: admission + store\n${c.lines}`);
    c = await commandsOf(() => post('b', body), 1);
    assert.deepEqual(c, { EVALSHA: 1 }, `hit: the admission only\n${c.lines}`);
    // a key with a budget: the same admission also reserves; settlement at the end
    const keyed = { model: 'rc-gpt', messages: user('Count my round trips, with a budget') };
    const k = (name) => call(fr[name], '/v1/chat/completions', { body: keyed, key: budgetKey.key });
    c = await commandsOf(() => k('a'), 3);
    assert.deepEqual(c, { EVALSHA: 3 }, `miss: admission, then settlement + store\n${c.lines}`);
    c = await commandsOf(() => k('b'), 2);
    assert.deepEqual(c, { EVALSHA: 2 }, `hit: admission, then settlement\n${c.lines}`);
  });
  const post = (name, body) => call(fr[name], '/v1/chat/completions', { body });
});

describe('Redis stopped', () => {
  test('the cache misses, calls without a budget flow, budgeted calls meet on_store_down; back, the cache works again', async () => {
    const body = { model: 'rc-gpt', messages: user('Cache while Redis is down') };
    await redis.stop();
    try {
      const n = rec.requests.length;
      for (const name of ['a', 'b', 'a']) {
        const r = await call(fr[name], '/v1/chat/completions', { body });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.headers.get('x-frugal-cache'), 'miss', `through ${name}: a miss, never an error`);
      }
      assert.equal(rec.requests.length, n + 3, 'every call went to the provider');
      const e = await rejectsWith(
        openai(fr.b, { apiKey: budgetKey.key, maxRetries: 0 }).chat.completions.create({ model: 'rc-gpt', messages: user('budgeted while down') }),
        OpenAI.APIError, 'a budgeted call while Redis is down');
      assert.equal(e.status, 503);
      assert.equal(e.code, 'budget_store_unavailable');
    } finally {
      await redis.start();
    }
    const again = { model: 'rc-gpt', messages: user('Cache after Redis is back') };
    const r = await waitFor(async () => {
      const x = await call(fr.a, '/v1/chat/completions', { body: again });
      if (x.status !== 200) return null;
      await sleep(100);
      const y = await call(fr.b, '/v1/chat/completions', { body: again });
      return y.headers.get('x-frugal-cache') === 'hit' ? y : null;
    }, { timeoutMs: 15000, stepMs: 200, what: 'a hit across replicas after Redis is back' });
    assert.equal(r.status, 200);
  });
});

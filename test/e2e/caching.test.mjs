// caching.test.mjs — prompt caching, cache affinity, the cache-busting
// detector and the response cache, end to end with the official SDKs.
//
// What frugal sent upstream is read from recording providers (lib/recorder);
// what caching is worth is read from the simulated provider, which implements
// the providers' caching accounting (Anthropic breakpoints written then read
// within the TTL, per-model minimums; OpenAI automatic prefix caching).  The
// expected money is computed here, independently, from the usage returned and
// data/prices.json (decimal strings → micro-USD per 1M tokens → pico-USD with
// BigInt).
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  anthropic,
  assertNoSanitizerReport,
  call,
  openai,
  runFrugal,
  sleep,
  startFrugal,
  startSim,
  tempDir,
  test,
  waitFor, metrics, ledgerFlushed,
} from './lib/frugal.mjs';
import { addTokens, microOf, picoToMicro, tokensAsNumbers, usd6 } from './lib/money.mjs';
import { markers, prompt } from './lib/prompts.mjs';
import { startRecorder } from './lib/recorder.mjs';

const here = dirname(fileURLToPath(import.meta.url));

// The SDK warns on every call that claude-sonnet-4-5 reaches end-of-life:
// keep one line of that, not a thousand.
{
  const warn = console.warn;
  let warned = 0;
  console.warn = (...a) => {
    if (/is deprecated and will reach end-of-life/.test(String(a[0])) && warned++) return;
    warn(...a);
  };
}

// ------------------------------------------------------------- prices ----

const PRICES_TEXT = readFileSync(resolve(here, '..', '..', 'data', 'prices.json'), 'utf8');
const MONEY = ['input', 'output', 'cache_read', 'cache_write_5m', 'cache_write_1h'];

/* "0.075" (USD per 1M tokens) → 75000n (micro-USD per 1M tokens), exactly. */
function microPerM(dec) {
  const m = /^(\d+)(?:\.(\d{1,6}))?$/.exec(dec);
  assert.ok(m, `price ${dec} is not a plain decimal`);
  return BigInt(m[1]) * 1000000n + BigInt(((m[2] ?? '') + '000000').slice(0, 6));
}

function priceRow(model) {
  const esc = model.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`"${esc}"\\s*:\\s*\\{([^}]*)\\}`).exec(PRICES_TEXT);
  assert.ok(m, `no ${model} in data/prices.json`);
  const row = {};
  for (const f of MONEY) {
    const v = new RegExp(`"${f}"\\s*:\\s*([0-9.]+)[,\\s}]`).exec(m[1] + '}');
    row[f] = v ? microPerM(v[1]) : null;
  }
  return row;
}

const SONNET = priceRow('claude-sonnet-4-5');
const MINI = priceRow('gpt-4o-mini');
// the provider's rules these tests rely on: a 5 m write is 1.25x, a read 0.1x
assert.equal(SONNET.input, 3000000n);
assert.equal(SONNET.cache_write_5m * 100n, SONNET.input * 125n);
assert.equal(SONNET.cache_read * 10n, SONNET.input);

const big = (v) => BigInt(v ?? 0);

/* Anthropic usage: input_tokens excludes cache reads and writes. */
function anthropicTokens(u) {
  const cc = u.cache_creation;
  return {
    input: big(u.input_tokens),
    cache_read: big(u.cache_read_input_tokens),
    cache_write_5m: cc ? big(cc.ephemeral_5m_input_tokens) : big(u.cache_creation_input_tokens),
    cache_write_1h: cc ? big(cc.ephemeral_1h_input_tokens) : 0n,
    output: big(u.output_tokens),
  };
}

/* OpenAI usage: prompt_tokens includes cached (and written) tokens. */
function openaiTokens(u) {
  const cached = big(u.prompt_tokens_details?.cached_tokens);
  const written = big(u.prompt_tokens_details?.cache_write_tokens);
  return {
    input: big(u.prompt_tokens) - cached - written,
    cache_read: cached,
    cache_write_5m: written,
    cache_write_1h: 0n,
    output: big(u.completion_tokens),
  };
}

/* Input-side pico-USD of tokens t at price row p. */
const inputCost = (p, t) =>
  t.input * p.input + t.cache_read * (p.cache_read ?? p.input) +
  t.cache_write_5m * (p.cache_write_5m ?? p.input) +
  t.cache_write_1h * (p.cache_write_1h ?? p.cache_write_5m ?? p.input);
/* pico-USD of the whole call. */
const cost = (p, t) => inputCost(p, t) + t.output * p.output;
/* The same call without frugal: every input token at the full input price. */
const allInput = (t) => t.input + t.cache_read + t.cache_write_5m + t.cache_write_1h;

const zeroTokens = () => ({ input: 0n, cache_read: 0n, cache_write_5m: 0n, cache_write_1h: 0n, output: 0n });

// ------------------------------------------------------------- helpers ----

const count = (s, sub) => s.split(sub).length - 1;

const flushed = (fr, n) => ledgerFlushed(fr, n, 10000);

async function spend(fr, query = 'since=1h') {
  const r = await call(fr, `/frugal/spend?${query}`, { method: 'GET' });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json, r.text);
  return r.json;
}

/* fn(i) for i in [0, n), at most `conc` at a time. */
async function pool(n, conc, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(conc, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/* frugal with a ledger of its own in a temp dir (removed by stop()). */
async function startWithStorage(name, config) {
  const dir = tempDir('frugal-caching-');
  const fr = await startFrugal({ name, cwd: dir, config: { storage: `sqlite:${join(dir, 'ledger.db')}`, ...config } });
  const stop = fr.stop;
  fr.stop = async (o) => {
    try {
      return await stop(o);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  return fr;
}

const user = (text) => [{ role: 'user', content: text }];

// ============================================ 1. placement (recorder) ====

describe('prompt-cache placement: what frugal sends upstream', () => {
  let rec;
  let fr;

  before(async () => {
    rec = await startRecorder();
    fr = await startFrugal({
      name: 'frugal-placement',
      config: {
        providers: [
          { name: 'rec-an', type: 'anthropic', base_url: rec.url, api_key: 'sk-rec-an' },
          { name: 'rec-oa', type: 'openai', base_url: `${rec.url}/v1`, api_key: 'sk-rec-oa' },
        ],
        models: [
          { name: 'claude-sonnet-4-5', provider: 'rec-an' },
          { name: 'claude-sonnet-4-6', provider: 'rec-an' },
          { name: 'claude-haiku-4-5', provider: 'rec-an' },
          { name: 'gpt-4o-mini', provider: 'rec-oa' },
        ],
      },
    });
  });

  after(async () => {
    await fr?.stop();
    await rec?.stop();
  });

  /* One Anthropic call; returns what the provider received. */
  async function send(body) {
    const n = rec.requests.length;
    await anthropic(fr).messages.create({ max_tokens: 64, ...body });
    assert.equal(rec.requests.length, n + 1, 'one upstream request per call');
    const up = rec.last();
    assert.equal(up.path, '/v1/messages');
    assert.ok(up.json, `upstream body is not JSON: ${up.raw.slice(0, 200)}`);
    return up;
  }

  test('one-off prompts are not marked; a recurring one is marked from its second sighting (5 m: no ttl)', async () => {
    // five different one-off 3,000-token prompts: no write premium for any
    for (let i = 0; i < 5; i++) {
      const system = prompt(`oneoff-${i}`);
      const up = await send({ model: 'claude-sonnet-4-5', system, messages: user(`one-off question ${i}`) });
      assert.ok(!up.raw.includes('cache_control'), `one-off prompt ${i} got a marker: ${JSON.stringify(markers(up.json))}`);
      assert.equal(up.json.system, system, 'the system prompt goes out as sent');
    }
    // the same 3,000-token system prompt, user turns seconds apart
    const P = prompt('recurring');
    const first = await send({ model: 'claude-sonnet-4-5', system: P, messages: user('first question') });
    assert.deepEqual(markers(first.json), [], 'first sighting: no marker');
    for (const q of ['second question', 'third question', 'fourth question']) {
      const up = await send({ model: 'claude-sonnet-4-5', system: P, messages: user(q) });
      assert.deepEqual(
        up.json.system,
        [{ type: 'text', text: P, cache_control: { type: 'ephemeral' } }],
        `${q}: the system prompt carries a 5 m breakpoint (no "ttl": calls are seconds apart)`,
      );
      assert.deepEqual(markers(up.json).map((m) => m.path), ['$.system[0]'], `${q}: exactly one marker`);
      assert.deepEqual(up.json.messages, user(q), `${q}: the final user turn is not marked and otherwise unchanged`);
      assert.equal(up.json.model, 'claude-sonnet-4-5');
      assert.equal(up.json.max_tokens, 64);
    }
  });

  test('minimum cacheable length per model family', async () => {
    // Sonnet 4.5: 1,024 tokens. ~900 tokens recurring: never marked.
    const short = prompt('short-sonnet', 3600);
    for (let i = 0; i < 3; i++) {
      const up = await send({ model: 'claude-sonnet-4-5', system: short, messages: user(`short ${i}`) });
      assert.deepEqual(markers(up.json), [], `~900 tokens < 1,024 on Sonnet (call ${i + 1})`);
    }
    // ~1,300 tokens recurring on Sonnet: marked on the second sighting
    const over = prompt('over-sonnet', 5200);
    await send({ model: 'claude-sonnet-4-5', system: over, messages: user('over 0') });
    const up2 = await send({ model: 'claude-sonnet-4-5', system: over, messages: user('over 1') });
    assert.deepEqual(markers(up2.json).map((m) => m.path), ['$.system[0]'], '~1,300 tokens >= 1,024 on Sonnet');

    // Haiku 4.5: 4,096 tokens.  3,000 tokens recurring: never marked.
    const P = prompt('haiku-3000');
    for (let i = 0; i < 4; i++) {
      const up = await send({ model: 'claude-haiku-4-5', system: P, messages: user(`haiku ${i}`) });
      assert.deepEqual(markers(up.json), [], `3,000 tokens < 4,096 on Haiku 4.5 (call ${i + 1})`);
      assert.equal(up.json.system, P);
    }
    // ~4,500 tokens recurring on Haiku: marked on the second sighting
    const L = prompt('haiku-4500', 18000);
    const l1 = await send({ model: 'claude-haiku-4-5', system: L, messages: user('long 0') });
    assert.deepEqual(markers(l1.json), []);
    const l2 = await send({ model: 'claude-haiku-4-5', system: L, messages: user('long 1') });
    assert.deepEqual(markers(l2.json).map((m) => m.path), ['$.system[0]'], '~4,500 tokens >= 4,096 on Haiku 4.5');
  });

  test("the client's own cache_control markers are kept as they are, and nothing is added", async () => {
    // a) a client breakpoint on the system block (1 h), sent three times
    const P = prompt('client-system');
    const body = {
      model: 'claude-sonnet-4-5',
      max_tokens: 64,
      system: [{ type: 'text', text: P, cache_control: { type: 'ephemeral', ttl: '1h' } }],
      messages: user('client marked'),
    };
    for (let i = 0; i < 3; i++) {
      const up = await send(body);
      assert.deepEqual(up.json, body, `call ${i + 1}: forwarded untouched`);
      assert.equal(count(up.raw, '"cache_control"'), 1, `call ${i + 1}: exactly the client's marker`);
    }
    // b) a recurring system prompt frugal would mark, but the client marked a
    //    message: frugal adds nothing (the client's placement is kept)
    const Q = prompt('client-message');
    await send({ model: 'claude-sonnet-4-5', system: Q, messages: user('q 1') });
    const marked = await send({ model: 'claude-sonnet-4-5', system: Q, messages: user('q 2') });
    assert.equal(markers(marked.json).length, 1, 'without client markers frugal marks this prompt');
    const withClient = {
      model: 'claude-sonnet-4-5',
      max_tokens: 64,
      system: Q,
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'q 3', cache_control: { type: 'ephemeral' } }] },
      ],
    };
    const up = await send(withClient);
    assert.deepEqual(up.json, withClient, 'the client marked a message: forwarded untouched, system not marked');
    // c) Anthropic's top-level automatic caching field counts as a client marker
    const top = { model: 'claude-sonnet-4-5', max_tokens: 64, cache_control: { type: 'ephemeral' }, system: Q, messages: user('q 4') };
    const upTop = await send(top);
    assert.deepEqual(upTop.json, top, 'top-level cache_control: forwarded untouched');
  });

  test('tools + system + a growing conversation: tools, system and the stable conversation end; never the final turn', async () => {
    // ~1,300 tokens of tools, ~3,000 of system
    const tools = ['lookup_order', 'refund_order', 'escalate'].map((name, i) => ({
      name,
      description: prompt(`tool-${name}`, 1800),
      input_schema: { type: 'object', properties: { id: { type: 'string', description: `the ${name} id` } }, required: ['id'] },
    }));
    const system = prompt('tools-system');
    const turns = [
      { role: 'user', content: 'My order 1234 has not arrived.' },
      { role: 'assistant', content: 'I am sorry to hear that. Let me check order 1234.' },
      { role: 'user', content: 'It was due last Tuesday.' },
    ];
    const c1 = await send({ model: 'claude-sonnet-4-5', tools, system, messages: turns });
    assert.deepEqual(markers(c1.json), [], 'first sighting of everything: no marker');

    const grown = [...turns, { role: 'assistant', content: 'I see it is delayed in transit.' }, { role: 'user', content: 'Can you refund it?' }];
    const c2 = await send({ model: 'claude-sonnet-4-5', tools, system, messages: grown });
    const m2 = markers(c2.json);
    assert.ok(m2.length <= 4, `never more than 4 breakpoints, got ${m2.length}`);
    assert.deepEqual(
      m2.map((m) => m.path),
      ['$.tools[2]', '$.system[0]', '$.messages[2].content[0]'],
      'markers at the end of tools, of system, and of the longest conversation stretch seen before (message 2)',
    );
    for (const m of m2) assert.deepEqual(m.value, { type: 'ephemeral' }, `${m.path}: a 5 m marker`);
    assert.equal(typeof c2.json.messages.at(-1).content, 'string', 'the final user turn is not marked');
    assert.deepEqual(c2.json.messages[2].content, [{ type: 'text', text: turns[2].content, cache_control: { type: 'ephemeral' } }]);
    assert.deepEqual(c2.json.messages.slice(3), grown.slice(3), 'the new turns are unchanged');
    assert.equal(c2.json.system[0].text, system);
    assert.deepEqual({ ...c2.json.tools[2], cache_control: undefined }, { ...tools[2], cache_control: undefined });

    // the conversation grows again: the marker moves to the new stable end
    const again = [...grown, { role: 'assistant', content: 'Yes, refund started.' }, { role: 'user', content: 'Thanks!' }];
    const c3 = await send({ model: 'claude-sonnet-4-5', tools, system, messages: again });
    assert.deepEqual(markers(c3.json).map((m) => m.path), ['$.tools[2]', '$.system[0]', '$.messages[4].content[0]']);
  });

  test('OpenAI clients calling an Anthropic model: the translated request is marked too', async () => {
    const P = prompt('oa-to-an');
    const oa = openai(fr);
    const ask = (q) =>
      oa.chat.completions.create({ model: 'claude-sonnet-4-5', messages: [{ role: 'system', content: P }, { role: 'user', content: q }] });
    await ask('translated 1');
    const c1 = rec.last();
    assert.equal(c1.path, '/v1/messages', 'translated to the Anthropic dialect');
    assert.deepEqual(markers(c1.json), [], 'first sighting: no marker');
    await ask('translated 2');
    const c2 = rec.last();
    const m = markers(c2.json);
    assert.equal(m.length, 1, `second sighting: one marker, got ${JSON.stringify(m)}`);
    assert.match(m[0].path, /^\$\.system/, 'on the system prompt');
    assert.deepEqual(m[0].value, { type: 'ephemeral' });
  });

  test('Responses clients calling an Anthropic model: the translated request is marked too', async () => {
    const P = prompt('rs-to-an');
    const oa = openai(fr);
    const ask = (q) => oa.responses.create({ model: 'claude-sonnet-4-5', instructions: P, input: q, store: false });
    await ask('translated 1');
    const c1 = rec.last();
    assert.equal(c1.path, '/v1/messages', 'translated to the Anthropic dialect');
    assert.deepEqual(markers(c1.json), [], 'first sighting: no marker');
    const r = await ask('translated 2');
    assert.equal(r.object, 'response');
    const m = markers(rec.last().json);
    assert.equal(m.length, 1, `second sighting: one marker, got ${JSON.stringify(m)}`);
    assert.match(m[0].path, /^\$\.system/, 'on the instructions (the system prompt)');
  });

  test('a tool parameter named "cache_control" is data, not a client marker', async () => {
    // an HTTP-caching tool whose schema has a property called cache_control
    const tools = [{
      name: 'set_headers',
      description: 'Set the HTTP caching headers of a page.',
      input_schema: { type: 'object', properties: { cache_control: { type: 'string', description: 'the Cache-Control header value' } } },
    }];
    const P = prompt('tool-named-cache-control');
    await send({ model: 'claude-sonnet-4-5', tools, system: P, messages: user('headers 1') });
    // BUG (src/promptcache.c plan_anthropic): "client placed a marker" is
    // memmem(src, "\"cache_control\"") over the whole body, so a schema
    // property of that name turns placement off for every call with this tool.
    const up = await send({ model: 'claude-sonnet-4-5', tools, system: P, messages: user('headers 2') });
    assert.deepEqual(up.json.tools, tools, 'the tool is forwarded as sent');
    assert.deepEqual(up.json.system, [{ type: 'text', text: P, cache_control: { type: 'ephemeral' } }],
      'the recurring system prompt is marked (the schema property is not a client cache_control)');
  });

  test('a system prompt sent as blocks: the marker goes on its last block', async () => {
    const blocks = [{ type: 'text', text: prompt('blocks-a', 6000) }, { type: 'text', text: prompt('blocks-b', 6000) }];
    const b1 = await send({ model: 'claude-sonnet-4-5', system: blocks, messages: user('blocks 1') });
    assert.deepEqual(b1.json.system, blocks);
    const b2 = await send({ model: 'claude-sonnet-4-5', system: blocks, messages: user('blocks 2') });
    assert.deepEqual(b2.json.system, [blocks[0], { ...blocks[1], cache_control: { type: 'ephemeral' } }]);
  });

  test('Anthropic clients calling an OpenAI model get the prompt_cache_key too', async () => {
    const P = prompt('an-to-oa');
    const keys = [];
    for (const q of ['x1', 'x2']) {
      await anthropic(fr).messages.create({ model: 'gpt-4o-mini', max_tokens: 64, system: P, messages: user(q) });
      const up = rec.last();
      assert.equal(up.path, '/v1/chat/completions', 'translated to the OpenAI dialect');
      assert.match(up.json.prompt_cache_key ?? '', /^frg_[0-9a-f]{16}$/, `${q}: prompt_cache_key`);
      keys.push(up.json.prompt_cache_key);
    }
    assert.equal(keys[0], keys[1]);
  });

  test('OpenAI: prompt_cache_key "frg_…" shared by calls with the same system prompt, kept when the client sets one', async () => {
    const oa = openai(fr);
    const P = prompt('oa-key-a');
    const Q = prompt('oa-key-b');
    const keys = [];
    for (const [sys, q] of [[P, 'a1'], [P, 'a2'], [Q, 'b1'], [P, 'a3'], [Q, 'b2']]) {
      await oa.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: sys }, { role: 'user', content: q }] });
      const up = rec.last();
      assert.equal(up.path, '/v1/chat/completions');
      assert.match(up.json.prompt_cache_key ?? '', /^frg_[0-9a-f]{16}$/, `${q}: prompt_cache_key`);
      assert.equal(count(up.raw, '"prompt_cache_key"'), 1);
      assert.ok(!up.raw.includes('cache_control'), 'no Anthropic markers on OpenAI');
      assert.deepEqual(up.json.messages, [{ role: 'system', content: sys }, { role: 'user', content: q }]);
      keys.push(up.json.prompt_cache_key);
    }
    assert.equal(keys[0], keys[1], 'same system prompt, same key (first sighting included)');
    assert.equal(keys[0], keys[3]);
    assert.equal(keys[2], keys[4]);
    assert.notEqual(keys[0], keys[2], 'different prompts, different keys');
    // a multi-turn conversation on the same system prompt shares the key
    await oa.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'system', content: P }, { role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }, { role: 'user', content: 'more' }],
    });
    assert.equal(rec.last().json.prompt_cache_key, keys[0]);
    // the client's own key wins
    const mine = { model: 'gpt-4o-mini', prompt_cache_key: 'team-search-v2', messages: [{ role: 'system', content: P }, { role: 'user', content: 'mine' }] };
    await oa.chat.completions.create(mine);
    const up = rec.last();
    assert.equal(up.json.prompt_cache_key, 'team-search-v2');
    assert.equal(count(up.raw, '"prompt_cache_key"'), 1);
    assert.deepEqual(up.json, mine, 'forwarded as sent');
  });

  test('one-off per model: a prompt sent once to another model is not a recurring prefix here', async () => {
    // Provider caches are per model (affinity.h: "the same prompt on two
    // models is two caches"): a prompt seen once on Sonnet 4.5 and then once
    // on Sonnet 4.6 is a one-off for 4.6, and marking it there pays the write
    // premium for an entry nothing will read.
    const P = prompt('cross-model');
    const a = await send({ model: 'claude-sonnet-4-5', system: P, messages: user('on 4.5') });
    assert.deepEqual(markers(a.json), []);
    // BUG (src/prefix.c fg_prefix_seen / src/promptcache.c seen_recently): the
    // sightings table is keyed by the prefix hash alone (no model), so the
    // 4.5 sighting makes this first 4.6 call "recurring" and it gets marked.
    const b = await send({ model: 'claude-sonnet-4-6', system: P, messages: user('on 4.6') });
    assert.deepEqual(markers(b.json), [], 'first sighting on claude-sonnet-4-6 was marked (sightings are not per model)');
  });
});

describe('prompt_caching config: ttl 1h, auto_breakpoints off', () => {
  let rec;
  before(async () => {
    rec = await startRecorder();
  });
  after(async () => {
    await rec?.stop();
  });

  const cfg = (prompt_caching) => ({
    prompt_caching,
    providers: [
      { name: 'rec-an', type: 'anthropic', base_url: rec.url, api_key: 'sk-rec-an' },
      { name: 'rec-oa', type: 'openai', base_url: `${rec.url}/v1`, api_key: 'sk-rec-oa' },
    ],
    models: [
      { name: 'claude-sonnet-4-5', provider: 'rec-an' },
      { name: 'gpt-4o-mini', provider: 'rec-oa' },
    ],
  });

  test('ttl: 1h makes every placed breakpoint a 1-hour one', async () => {
    const fr = await startFrugal({ name: 'frugal-ttl-1h', config: cfg({ ttl: '1h' }) });
    try {
      const P = prompt('ttl-1h');
      const an = anthropic(fr);
      await an.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 64, system: P, messages: user('one') });
      assert.deepEqual(markers(rec.last().json), [], 'first sighting: still no marker');
      await an.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 64, system: P, messages: user('two') });
      assert.deepEqual(rec.last().json.system, [{ type: 'text', text: P, cache_control: { type: 'ephemeral', ttl: '1h' } }]);
    } finally {
      await fr.stop();
    }
  });

  test('auto_breakpoints: false, openai_cache_key: false: nothing is added', async () => {
    const fr = await startFrugal({ name: 'frugal-pc-off', config: cfg({ auto_breakpoints: false, openai_cache_key: false }) });
    try {
      const P = prompt('pc-off');
      for (let i = 0; i < 3; i++) {
        const body = { model: 'claude-sonnet-4-5', max_tokens: 64, system: P, messages: user(`off ${i}`) };
        await anthropic(fr).messages.create(body);
        assert.deepEqual(rec.last().json, body, `call ${i + 1}: forwarded untouched`);
        const ob = { model: 'gpt-4o-mini', messages: [{ role: 'system', content: P }, { role: 'user', content: `off ${i}` }] };
        await openai(fr).chat.completions.create(ob);
        assert.deepEqual(rec.last().json, ob, `OpenAI call ${i + 1}: no prompt_cache_key`);
      }
    } finally {
      await fr.stop();
    }
  });
});

// ================================== 2. the sim's caching accounting ====

describe('prompt caching against the simulated provider', () => {
  let fr;
  before(async () => {
    fr = await startWithStorage('frugal-pc-sim', {
      providers: [{ name: 'sim', type: 'sim' }],
      models: [{ name: 'claude-sonnet-4-5', provider: 'sim' }],
    });
  });
  after(async () => {
    await fr?.stop();
  });

  test('call 1 uncached, call 2 writes the system prompt, calls 3+ read it; the spend map shows the savings', async () => {
    const P = prompt('sim-accounting');
    const an = anthropic(fr);
    const usage = [];
    for (let i = 0; i < 6; i++) {
      const r = await an.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 64, system: P, messages: user(`Question ${i}?`) });
      usage.push(r.usage);
    }
    assert.equal(usage[0].cache_creation_input_tokens, 0, 'call 1: no write');
    assert.equal(usage[0].cache_read_input_tokens, 0, 'call 1: no read');
    assert.ok(usage[0].input_tokens >= 3000 && usage[0].input_tokens <= 3100, `call 1 input ${usage[0].input_tokens}`);
    const w = usage[1].cache_creation_input_tokens;
    assert.ok(w >= 2990 && w <= 3050, `call 2 writes ≈ the 3,000-token prompt, got ${w}`);
    assert.equal(usage[1].cache_creation.ephemeral_5m_input_tokens, w, 'a 5 m write');
    assert.equal(usage[1].cache_read_input_tokens, 0);
    for (let i = 2; i < usage.length; i++) {
      assert.equal(usage[i].cache_read_input_tokens, w, `call ${i + 1} reads what call 2 wrote`);
      assert.equal(usage[i].cache_creation_input_tokens, 0, `call ${i + 1} writes nothing`);
      assert.ok(usage[i].input_tokens < 30, `call ${i + 1}: only the user turn is uncached (${usage[i].input_tokens})`);
    }

    await flushed(fr, usage.length);
    const sp = await spend(fr);
    const tot = zeroTokens();
    for (const u of usage) addTokens(tot, anthropicTokens(u));
    assert.deepEqual(sp.tokens, tokensAsNumbers(tot), 'ledger tokens = usage returned');
    const want = usage.reduce((s, u) => s + cost(SONNET, anthropicTokens(u)), 0n);
    assert.equal(microOf(sp.cost_usd), picoToMicro(want), 'cost_usd');
    const base = usage.reduce((s, u) => s + allInput(anthropicTokens(u)) * SONNET.input + big(u.output_tokens) * SONNET.output, 0n);
    assert.ok(sp.saved_by.prompt_cache > 0, `saved_by.prompt_cache ${sp.saved_by.prompt_cache}`);
    assert.equal(microOf(sp.saved_by.prompt_cache), picoToMicro(base - want), 'saved_by.prompt_cache = baseline - cost');
    assert.ok(sp.prompt_cache, 'the spend map has a prompt_cache section');
    assert.equal(sp.prompt_cache.hit_rate, 0.667, 'prompt_cache.hit_rate: 4 of 6 calls read');
    assert.equal(sp.prompt_cache.read_tokens, Number(tot.cache_read));
    assert.equal(sp.prompt_cache.written_tokens, w);
    assert.equal(sp.prompt_cache.written_never_read_tokens, 0);
  });
});

// ===================================================== 3. affinity ====

const deployedConfig = (east, west) => ({
  providers: [
    { name: 'east', type: 'anthropic', base_url: east, api_key: 'sk-east' },
    { name: 'west', type: 'anthropic', base_url: west, api_key: 'sk-west' },
  ],
  models: [{ name: 'claude-sonnet-4-5', provider: 'east', deployments: [{ provider: 'west' }] }],
});

describe('cache affinity across two deployments', () => {
  test('a prefix stays on one deployment; new prefixes take turns (recorders)', async () => {
    const east = await startRecorder();
    const west = await startRecorder();
    const fr = await startFrugal({ name: 'frugal-affinity-rec', config: deployedConfig(east.url, west.url) });
    try {
      const an = anthropic(fr);
      /* Which deployment received the call asking q (each q is unique). */
      const where = async (tag, q) => {
        await an.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 32, system: prompt(tag), messages: user(q) });
        const got = (rec) => rec.requests.filter((r) => r.json?.messages?.[0]?.content === q);
        const [e, w] = [got(east), got(west)];
        assert.equal(e.length + w.length, 1, `${q}: exactly one deployment called (east ${e.length}, west ${w.length})`);
        assert.equal((e[0] ?? w[0]).json.model, 'claude-sonnet-4-5');
        return e.length ? 'east' : 'west';
      };
      // an irregular order, so plain round-robin would scatter each prefix
      const seq = ['A', 'A', 'A', 'B', 'B', 'A', 'B', 'B', 'B', 'A', 'A', 'B'];
      const got = { A: new Set(), B: new Set() };
      for (const [i, p] of seq.entries()) got[p].add(await where(`aff-${p}`, `${p} question ${i}`));
      assert.deepEqual([...got.A].length, 1, `prefix A went to ${[...got.A]}`);
      assert.deepEqual([...got.B].length, 1, `prefix B went to ${[...got.B]}`);
      const [a] = got.A;
      const [b] = got.B;
      assert.notEqual(a, b, 'the second new prefix takes the other deployment');
      // two more new prefixes: one each
      const c = await where('aff-C', 'C question');
      const d = await where('aff-D', 'D question');
      assert.notEqual(c, d, 'new prefixes alternate');
      // under concurrency each prefix still stays put (8 at a time can never put one
      // deployment more than the default affinity_margin of 8 ahead of the other)
      const spread = { A: new Set(), B: new Set() };
      await pool(24, 8, async (i) => {
        const p = i % 3 ? 'A' : 'B';
        spread[p].add(await where(`aff-${p}`, `${p} burst ${i}`));
      });
      assert.deepEqual([...spread.A], [a], 'A stayed on its deployment under load');
      assert.deepEqual([...spread.B], [b], 'B stayed on its deployment under load');
      // the provider keys: each deployment got its own
      for (const r of east.requests) assert.match(JSON.stringify(r.headers), /sk-east/);
      for (const r of west.requests) assert.match(JSON.stringify(r.headers), /sk-west/);
    } finally {
      await fr.stop();
      await east.stop();
      await west.stop();
    }
  });

  test('cache reads happen on the deployment that wrote (two simulators)', async () => {
    const east = await startSim({ name: 'sim-east' });
    const west = await startSim({ name: 'sim-west' });
    const fr = await startFrugal({ name: 'frugal-affinity-sim', config: deployedConfig(east.url, west.url) });
    try {
      const an = anthropic(fr);
      const seq = ['A', 'A', 'A', 'B', 'B', 'A', 'B', 'B', 'A', 'B'];
      const seen = { A: 0, B: 0 };
      for (const [i, p] of seq.entries()) {
        const r = await an.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 32, system: prompt(`affsim-${p}`), messages: user(`${p} ${i}`) });
        const k = ++seen[p];
        const u = r.usage;
        if (k === 1) assert.deepEqual([u.cache_creation_input_tokens, u.cache_read_input_tokens], [0, 0], `${p} #1`);
        else if (k === 2) assert.ok(u.cache_creation_input_tokens > 2900 && !u.cache_read_input_tokens, `${p} #2 writes: ${JSON.stringify(u)}`);
        else
          assert.ok(u.cache_read_input_tokens > 2900 && !u.cache_creation_input_tokens,
            `${p} #${k} (call ${i + 1}) reads from the deployment that wrote: ${JSON.stringify(u)}`);
      }
      // Ask each simulator directly which prefix it holds (a read means it
      // has the entry): each prefix lives on exactly one, and not the same one.
      const holds = async (sim, p) => {
        const r = await fetch(`${sim.url}/v1/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'probe' },
          body: JSON.stringify({
            model: 'claude-sonnet-4-5', max_tokens: 8,
            system: [{ type: 'text', text: prompt(`affsim-${p}`), cache_control: { type: 'ephemeral' } }],
            messages: user('probe'),
          }),
        });
        assert.equal(r.status, 200);
        return (await r.json()).usage.cache_read_input_tokens > 0;
      };
      const at = {};
      for (const p of ['A', 'B']) {
        const [e, w] = [await holds(east, p), await holds(west, p)];
        assert.equal(Number(e) + Number(w), 1, `prefix ${p} is cached on exactly one simulator (east ${e}, west ${w})`);
        at[p] = e ? 'east' : 'west';
      }
      assert.notEqual(at.A, at.B, 'the two prefixes were spread over both deployments');
    } finally {
      await fr.stop();
      await east.stop();
      await west.stop();
    }
  });
});

// ========================================== 4. cache-busting detector ====

const T0 = Date.UTC(2026, 10, 26, 9, 0, 0);
const stamped = (i, P) => `Current time: ${new Date(T0 + i * 1000).toISOString()}\n${P}`;

describe('cache-busting detector', () => {
  let fr;
  before(async () => {
    fr = await startWithStorage('frugal-busters', {
      providers: [{ name: 'sim', type: 'sim' }],
      models: [{ name: 'claude-sonnet-4-5', provider: 'sim' }],
    });
  });
  after(async () => {
    await fr?.stop();
  });

  test('a timestamp at the top of the system prompt: where=system, its offset and text, a daily cost; the report prints it', async () => {
    const an = anthropic(fr);
    // a stable prompt first: no buster
    const S = prompt('busters-stable');
    for (let i = 0; i < 4; i++)
      await an.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 32, system: S, messages: user(`stable ${i}`) });
    // a conversation that grows turn by turn, then a different prompt altogether
    const conv = [];
    for (let i = 0; i < 4; i++) {
      conv.push({ role: 'user', content: `turn ${i}: tell me more` });
      const r = await an.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 32, system: S, messages: conv });
      conv.push({ role: 'assistant', content: r.content[0].text });
    }
    await an.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 32, system: prompt('busters-other'), messages: user('other') });
    await flushed(fr, 9);
    assert.deepEqual((await spend(fr)).cache_busters, [], 'identical prefixes, a growing conversation and a new prompt are not busters');

    const P = prompt('busters-stamped');
    let last;
    let reads = 0;
    for (let i = 0; i < 20; i++) {
      last = stamped(i, P);
      const r = await an.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 32, system: last, messages: user(`stamped ${i}`) });
      reads += r.usage.cache_read_input_tokens;
    }
    assert.equal(reads, 0, 'the timestamp defeats the provider cache (why this is a buster)');
    await flushed(fr, 29);
    const sp = await spend(fr);
    assert.equal(sp.cache_busters.length, 1, `one buster: ${JSON.stringify(sp.cache_busters)}`);
    const b = sp.cache_busters[0];
    assert.equal(b.where, 'system');
    assert.equal(b.offset, 'Current time: '.length, 'offset: the start of the timestamp');
    assert.equal(b.model, 'claude-sonnet-4-5');
    assert.equal(b.calls, 19, 'every call but the first');
    assert.ok(b.sample.startsWith(last.slice(14, 14 + 24)), `sample ${JSON.stringify(b.sample)} holds the latest timestamp`);
    assert.ok(b.tokens >= 19 * 2990 && b.tokens <= 19 * 3100, `tokens ${b.tokens} ≈ 19 × 3,000`);
    // priced at what a cache read would have saved: input - cache_read
    assert.equal(microOf(b.cost_usd), picoToMicro(BigInt(b.tokens) * (SONNET.input - SONNET.cache_read)), 'cost_usd');
    // 20 calls in a second of a 1 h window: a burst is not a daily rate (x24
    // would claim it costs that every day)
    assert.equal(b.cost_usd_per_day, null, `cost_usd_per_day ${b.cost_usd_per_day} from a burst`);
    assert.match(b.per_day_basis, /^not extrapolated: seen over \d+ s of a 60 min window$/);
    assert.ok(typeof b.advice === 'string' && b.advice.length > 10, 'advice');

    const r = await runFrugal(['report', '-c', fr.configFile, '--since', '1h']);
    assertNoSanitizerReport(r.stderr, 'frugal report');
    assert.equal(r.code, 0, r.stderr);
    const at = r.stdout.indexOf('Cache busters');
    assert.ok(at >= 0, `no "Cache busters" section:\n${r.stdout}`);
    const section = r.stdout.slice(at).split('\n\n')[0];
    assert.ok(!section.includes('(none)'), section);
    const row = section.split('\n').find((l) => /^\s+system\s/.test(l));
    assert.ok(row, `no "system" row in:\n${section}`);
    assert.match(row, /\s14\s/, 'the row shows the offset');
    assert.match(row, /2026-11-26T09:00:/, 'the row shows the sample');
  });
});

describe('cache-busting detector, OpenAI dialect', () => {
  test('a request id at the top of the system message', async () => {
    const fr = await startWithStorage('frugal-busters-oa', {
      providers: [{ name: 'sim', type: 'sim' }],
      models: [{ name: 'gpt-4o', provider: 'sim' }],
    });
    try {
      const P = prompt('busters-openai');
      for (let i = 0; i < 6; i++) {
        const id = `req_${(0x5f3a9c + i * 7919).toString(16)}`;
        await openai(fr).chat.completions.create({
          model: 'gpt-4o',
          messages: [{ role: 'system', content: `Request ${id}. ${P}` }, { role: 'user', content: `q ${i}` }],
        });
      }
      await flushed(fr, 6);
      const sp = await spend(fr);
      assert.equal(sp.cache_busters.length, 1, JSON.stringify(sp.cache_busters));
      const b = sp.cache_busters[0];
      assert.equal(b.where, 'system');
      assert.equal(b.offset, 'Request '.length, 'from the start of the id');
      assert.match(b.sample, /^req_[0-9a-f]+\. \[busters-openai\]/);
      assert.equal(b.calls, 5);
      assert.equal(b.model, 'gpt-4o');
      assert.ok(b.cost_usd > 0);
      assert.equal(b.cost_usd_per_day, null, 'five calls in a moment: no daily rate claimed');
    } finally {
      await fr.stop();
    }
  });
});

// ========================================= 5. response cache (exact) ====

describe('response cache', () => {
  let rec;
  let fr;
  let served = 0; // upstream answers so far: each one says a different text

  before(async () => {
    rec = await startRecorder();
    rec.behave = () => ({ text: `Recorded answer number ${++served}.` });
    fr = await startWithStorage('frugal-respcache', {
      server: { workers: 2, upstream_retries: 0 },   // each programmed failure is seen once
      response_cache: { enabled: true, ttl: '2s' },
      providers: [
        { name: 'rec-an', type: 'anthropic', base_url: rec.url, api_key: 'sk-rec-an' },
        { name: 'rec-oa', type: 'openai', base_url: `${rec.url}/v1`, api_key: 'sk-rec-oa' },
        { name: 'sim', type: 'sim' },
      ],
      models: [
        { name: 'rc-gpt', provider: 'rec-oa', model: 'gpt-4o-mini' },
        { name: 'rc-claude', provider: 'rec-an', model: 'claude-haiku-4-5' },
        { name: 'sim-gpt', provider: 'sim', model: 'gpt-4o-mini', dialect: 'openai' },
      ],
    });
  });

  after(async () => {
    await fr?.stop();
    await rec?.stop();
  });

  /* A raw OpenAI-dialect call (fetch), for byte-exact bodies. */
  const post = (body, headers = {}) => call(fr, '/v1/chat/completions', { body, headers });

  test('same request twice: miss then hit, identical body, the provider called once', async () => {
    const body = { model: 'rc-gpt', messages: user('What is the capital of France?') };
    const n = rec.requests.length;
    const a = await post(body);
    assert.equal(a.status, 200, a.text);
    assert.equal(a.headers.get('x-frugal-cache'), 'miss');
    const b = await post(body);
    assert.equal(b.headers.get('x-frugal-cache'), 'hit');
    assert.equal(b.text, a.text, 'the hit is the stored body, byte for byte');
    assert.equal(rec.requests.length, n + 1, 'the provider was called once');
    // the SDK reads a hit like any answer; key order in the body does not matter
    const { data, response } = await openai(fr)
      .chat.completions.create({ messages: user('What is the capital of France?'), model: 'rc-gpt' })
      .withResponse();
    assert.equal(response.headers.get('x-frugal-cache'), 'hit');
    assert.equal(data.choices[0].message.content, a.json.choices[0].message.content);
    assert.equal(rec.requests.length, n + 1);
  });

  test('x-frugal-cache: bypass skips the cache; temperature 0.7 is not cached; temperature 0 is', async () => {
    const body = { model: 'rc-gpt', messages: user('Bypass me') };
    const a = await post(body);
    assert.equal(a.headers.get('x-frugal-cache'), 'miss');
    const n = rec.requests.length;
    const b = await post(body, { 'x-frugal-cache': 'bypass' });
    assert.equal(b.status, 200);
    assert.equal(b.headers.get('x-frugal-cache'), 'bypass');
    assert.equal(rec.requests.length, n + 1, 'bypass: the provider was called');
    assert.notEqual(b.json.choices[0].message.content, a.json.choices[0].message.content, 'a fresh answer');

    const hot = { model: 'rc-gpt', temperature: 0.7, messages: user('Write me a poem') };
    for (let i = 0; i < 2; i++) {
      const r = await post(hot);
      assert.equal(r.headers.get('x-frugal-cache'), 'bypass', `temperature 0.7, call ${i + 1}`);
    }
    assert.equal(rec.requests.length, n + 3, 'temperature 0.7: the provider answered both');

    const cold = { model: 'rc-gpt', temperature: 0, messages: user('Write me a poem') };
    assert.equal((await post(cold)).headers.get('x-frugal-cache'), 'miss');
    assert.equal((await post(cold)).headers.get('x-frugal-cache'), 'hit');
    assert.equal(rec.requests.length, n + 4);
  });

  test('an entry expires after response_cache.ttl (2 s)', async () => {
    const body = { model: 'rc-gpt', messages: user('Expire me') };
    const a = await post(body);
    assert.equal(a.headers.get('x-frugal-cache'), 'miss');
    assert.equal((await post(body)).headers.get('x-frugal-cache'), 'hit');
    const n = rec.requests.length;
    await sleep(2300);
    const c = await post(body);
    assert.equal(c.headers.get('x-frugal-cache'), 'miss', 'after the TTL');
    assert.equal(rec.requests.length, n + 1);
    assert.notEqual(c.json.choices[0].message.content, a.json.choices[0].message.content);
    const d = await post(body);
    assert.equal(d.headers.get('x-frugal-cache'), 'hit', 'stored again');
    assert.equal(d.text, c.text);
  });

  /* Stream with the OpenAI SDK: {text, cache, chunks}. */
  async function oaStream(body) {
    const { data, response } = await openai(fr).chat.completions.create({ ...body, stream: true }).withResponse();
    let text = '';
    const chunks = [];
    for await (const ch of data) {
      chunks.push(ch);
      text += ch.choices[0]?.delta?.content ?? '';
    }
    return { text, cache: response.headers.get('x-frugal-cache'), chunks };
  }

  /* Stream with the Anthropic SDK: {text, cache, final}. */
  async function anStream(body) {
    const { data, response } = await anthropic(fr).messages.create({ ...body, stream: true }).withResponse();
    let text = '';
    const types = [];
    for await (const ev of data) {
      types.push(ev.type);
      if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
    }
    return { text, cache: response.headers.get('x-frugal-cache'), types };
  }

  test('streaming: a stream after a non-stream answer is a hit replayed as SSE the SDK parses', async () => {
    const body = { model: 'rc-gpt', messages: user('Stream after plain') };
    const n = rec.requests.length;
    const { data, response } = await openai(fr).chat.completions.create(body).withResponse();
    assert.equal(response.headers.get('x-frugal-cache'), 'miss');
    const s = await oaStream(body);
    assert.equal(s.cache, 'hit');
    assert.equal(s.text, data.choices[0].message.content, 'the same text');
    assert.equal(s.chunks.at(-1).choices[0]?.finish_reason, 'stop');
    assert.equal(rec.requests.length, n + 1, 'the provider was called once');
  });

  test('streaming: a streamed miss then a streamed hit with identical text', async () => {
    const body = { model: 'rc-gpt', messages: user('Stream twice') };
    const n = rec.requests.length;
    const a = await oaStream(body);
    assert.equal(a.cache, 'miss');
    assert.match(a.text, /^Recorded answer number \d+\.$/);
    const b = await oaStream(body);
    assert.equal(b.cache, 'hit');
    assert.equal(b.text, a.text);
    assert.deepEqual(b.chunks.map((c) => c.choices[0]?.delta), a.chunks.map((c) => c.choices[0]?.delta), 'the same chunks');
    assert.equal(rec.requests.length, n + 1);
    // raw SSE: the data lines of the hit are the miss's
    const raw = await fetch(`${fr.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-e2e' },
      body: JSON.stringify({ ...body, stream: true }),
    });
    assert.equal(raw.headers.get('x-frugal-cache'), 'hit');
    assert.match(raw.headers.get('content-type'), /^text\/event-stream/);
    const txt = await raw.text();
    assert.ok(txt.trimEnd().endsWith('data: [DONE]'), `ends with [DONE]:\n${txt.slice(-200)}`);
    assert.ok(!/"choices":\[\]/.test(txt), 'no usage chunk the client did not ask for');
    assert.equal(rec.requests.length, n + 1);
  });

  test('Anthropic SDK: miss, hit, and streamed hits from both forms', async () => {
    const an = anthropic(fr);
    const body = { model: 'rc-claude', max_tokens: 100, messages: user('Anthropic, cache me') };
    const n = rec.requests.length;
    const a = await an.messages.create(body).withResponse();
    assert.equal(a.response.headers.get('x-frugal-cache'), 'miss');
    const b = await an.messages.create(body).withResponse();
    assert.equal(b.response.headers.get('x-frugal-cache'), 'hit');
    assert.deepEqual(b.data, a.data, 'the same message');
    const s = await anStream(body);
    assert.equal(s.cache, 'hit', 'a stream answered from the stored JSON');
    assert.equal(s.text, a.data.content[0].text);
    assert.deepEqual(s.types, ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    assert.equal(rec.requests.length, n + 1);

    const sb = { model: 'rc-claude', max_tokens: 100, messages: user('Anthropic, stream me twice') };
    const s1 = await anStream(sb);
    assert.equal(s1.cache, 'miss');
    const s2 = await anStream(sb);
    assert.equal(s2.cache, 'hit');
    assert.equal(s2.text, s1.text);
    assert.match(s1.text, /^Recorded answer number \d+\.$/);
    const final = await an.messages.stream(sb).finalMessage();
    assert.equal(final.content[0].text, s1.text, 'MessageStream helper on a replayed stream');
    assert.equal(rec.requests.length, n + 2);
  });

  test('a replayed stream carries its cost comment just before the terminator, like any stream', async () => {
    const body = { model: 'sim-gpt', stream: true, messages: user('Comment position #sim:tokens=12') };
    const raw = () =>
      fetch(`${fr.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer sk-e2e' },
        body: JSON.stringify(body),
      });
    const a = await raw();
    assert.equal(a.headers.get('x-frugal-cache'), 'miss');
    const missText = await a.text();
    const b = await raw();
    assert.equal(b.headers.get('x-frugal-cache'), 'hit');
    const hitText = await b.text();
    const comment = (what, txt) => {
      const m = /^: x-frugal-cost-usd=(\S+) x-frugal-saved-usd=(\S+)$/m.exec(txt);
      assert.ok(m, `${what}: no cost comment in:\n${txt}`);
      return m;
    };
    const mc = comment('miss', missText);
    const hc = comment('hit', hitText);
    assert.ok(Number(mc[1]) > 0, 'the miss cost something');
    assert.equal(hc[1], '0.000000', 'the hit costs nothing');
    assert.equal(hc[2], mc[1], 'and saves what the miss cost');
    const dataOf = (t) => t.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.replace(/"id":"[^"]*"|"created":\d+/g, ''));
    assert.deepEqual(dataOf(hitText), dataOf(missText), 'the same data lines');
    // BUG (src/relay.c fg_relay_answer_cached): the comment is written into
    // the body before the replayed events, i.e. first, not before [DONE].
    for (const [what, txt, m] of [['miss', missText, mc], ['hit', hitText, hc]])
      assert.ok(txt.lastIndexOf('data: {') < m.index && m.index < txt.indexOf('data: [DONE]'),
        `${what}: the cost comment sits after the last chunk and before [DONE] (README "Headers"), got:\n${txt.slice(0, 300)}`);
  });

  test('not stored: provider errors and streams cut before their end', async () => {
    const body = { model: 'rc-gpt', messages: user('Fail first') };
    rec.queue({ status: 500, body: { error: { message: 'boom', type: 'server_error', param: null, code: null } } });
    const a = await post(body);
    assert.equal(a.status, 500);
    const n = rec.requests.length;
    const b = await post(body);
    assert.equal(b.status, 200, 'the error was not replayed');
    assert.equal(b.headers.get('x-frugal-cache'), 'miss');
    assert.equal(rec.requests.length, n + 1);

    const sb = { model: 'rc-gpt', messages: user('Cut me') };
    rec.queue({ events: 6, cutAfter: 3 });
    await assert.rejects(async () => {
      for await (const _ of await openai(fr).chat.completions.create({ ...sb, stream: true }));
    }, 'the cut stream fails for its client');
    const m = rec.requests.length;
    const c = await oaStream(sb);
    assert.equal(c.cache, 'miss', 'a cut stream is not replayed');
    assert.equal(rec.requests.length, m + 1);
  });

  test('the key: fields that cannot change the answer share an entry, the ones that can do not', async () => {
    const base = { model: 'rc-gpt', max_tokens: 50, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Key test' }] };
    assert.equal((await post(base)).headers.get('x-frugal-cache'), 'miss');
    const n = rec.requests.length;
    for (const extra of [{ user: 'alice' }, { metadata: { run: '7' } }, { prompt_cache_key: 'mine' }, { service_tier: 'default' }]) {
      const r = await post({ ...base, ...extra });
      assert.equal(r.headers.get('x-frugal-cache'), 'hit', `${JSON.stringify(extra)} does not change the answer`);
    }
    // the same object with its keys in another order and other whitespace
    const shuffled = `{ "messages": [ {"content":"Be brief.","role":"system"}, {"role":"user","content":"Key test"} ],\n "max_tokens": 50, "model": "rc-gpt" }`;
    assert.equal((await post(shuffled)).headers.get('x-frugal-cache'), 'hit', 'canonical: key order and whitespace');
    assert.equal(rec.requests.length, n);
    for (const other of [{ max_tokens: 51 }, { messages: [{ role: 'system', content: 'Be verbose.' }, base.messages[1]] }, { stop: ['x'] }]) {
      const r = await post({ ...base, ...other });
      assert.equal(r.headers.get('x-frugal-cache'), 'miss', `${JSON.stringify(other)} changes the answer`);
    }
    assert.equal(rec.requests.length, n + 3);
  });

  test('OpenAI streams: the stored stream keeps its usage chunk for clients that ask, and hides it from those that do not', async () => {
    const body = { model: 'sim-gpt', messages: user('Usage chunk please #sim:tokens=20') };
    const a = await oaStream(body);
    assert.equal(a.cache, 'miss');
    assert.deepEqual(a.chunks.filter((c) => c.usage), [], 'the miss: no usage chunk (not asked)');
    const b = await oaStream({ ...body, stream_options: { include_usage: true } });
    assert.equal(b.cache, 'hit', 'stored with the usage chunk frugal asked for');
    assert.equal(b.text, a.text);
    const u = b.chunks.filter((c) => c.usage);
    assert.equal(u.length, 1, 'one usage chunk');
    assert.equal(u[0].usage.completion_tokens, 20);
    const c = await oaStream(body);
    assert.equal(c.cache, 'hit');
    assert.deepEqual(c.chunks.filter((x) => x.usage || x.choices.length === 0), [], 'hidden again');
  });

  test('TTL runs from the first store: completing an entry with its other form does not extend it', async () => {
    const body = { model: 'rc-gpt', messages: user('TTL from the first store') };
    const t0 = Date.now();
    assert.equal((await oaStream(body)).cache, 'miss', 'stream: SSE form stored');
    await sleep(1200 - (Date.now() - t0));
    assert.equal((await post(body)).headers.get('x-frugal-cache'), 'miss', 'plain: JSON form missing (completes the entry)');
    assert.equal((await post(body)).headers.get('x-frugal-cache'), 'hit');
    await sleep(2250 - (Date.now() - t0));
    assert.equal((await post(body)).headers.get('x-frugal-cache'), 'miss', 'expired 2 s after the first store');
  });

  test('translated calls are cached in the client\'s dialect (both directions, streams included)', async () => {
    const n = rec.requests.length;
    // Anthropic SDK → OpenAI model
    const ab = { model: 'rc-gpt', max_tokens: 100, messages: user('Translated, Anthropic client') };
    const a1 = await anthropic(fr).messages.create(ab).withResponse();
    assert.equal(a1.response.headers.get('x-frugal-cache'), 'miss');
    const a2 = await anthropic(fr).messages.create(ab).withResponse();
    assert.equal(a2.response.headers.get('x-frugal-cache'), 'hit');
    assert.deepEqual(a2.data, a1.data);
    const as = { ...ab, messages: user('Translated stream, Anthropic client') };
    const s1 = await anStream(as);
    const s2 = await anStream(as);
    assert.deepEqual([s1.cache, s2.cache], ['miss', 'hit']);
    assert.equal(s2.text, s1.text);
    assert.deepEqual(s2.types, s1.types);
    // OpenAI SDK → Anthropic model
    const ob = { model: 'rc-claude', messages: user('Translated, OpenAI client') };
    const o1 = await oaStream(ob);
    const o2 = await oaStream(ob);
    assert.deepEqual([o1.cache, o2.cache], ['miss', 'hit']);
    assert.equal(o2.text, o1.text);
    assert.match(o1.text, /^Recorded answer number \d+\.$/);
    assert.equal(rec.requests.length, n + 3, 'three misses reached the provider');
    // a plain call can't be answered from a stored stream: a miss that completes the entry
    const o3 = await openai(fr).chat.completions.create(ob).withResponse();
    assert.equal(o3.response.headers.get('x-frugal-cache'), 'miss');
    const o4 = await openai(fr).chat.completions.create(ob).withResponse();
    assert.equal(o4.response.headers.get('x-frugal-cache'), 'hit');
    assert.deepEqual(o4.data, o3.data);
    assert.equal(rec.requests.length, n + 4);
  });

  test('the ledger: a hit costs $0 and counts as saved_by.response_cache', async () => {
    // everything before this test committed first
    const m0 = await metrics(fr);
    const done = [...m0].filter(([k]) => k.startsWith('frugal_requests_total{')).reduce((a, [, v]) => a + v, 0);
    await flushed(fr, done);
    const sp0 = await spend(fr);
    const oa = openai(fr, { defaultHeaders: { 'x-frugal-tags': 'case=rc-ledger' } });
    const body = { model: 'sim-gpt', messages: user('Price my hit. #sim:tokens=80') };
    const a = await oa.chat.completions.create(body).withResponse();
    assert.equal(a.response.headers.get('x-frugal-cache'), 'miss');
    const t = openaiTokens(a.data.usage);
    assert.equal(t.cache_read, 0n, 'a short prompt: no provider caching involved');
    const pico = cost(MINI, t);
    assert.equal(a.response.headers.get('x-frugal-cost-usd'), usd6(pico));
    const b = await oa.chat.completions.create(body).withResponse();
    assert.equal(b.response.headers.get('x-frugal-cache'), 'hit');
    assert.deepEqual(b.data, a.data);
    assert.equal(b.response.headers.get('x-frugal-cost-usd'), '0.000000', 'a hit costs nothing');
    assert.equal(b.response.headers.get('x-frugal-saved-usd'), usd6(pico), 'and saves what the call would cost');

    await flushed(fr, done + 2);
    const sp = await spend(fr, 'since=1h&by=tag');
    const row = sp.by.rows.find((r) => r.key === 'case=rc-ledger');
    assert.ok(row, JSON.stringify(sp.by.rows));
    assert.equal(row.requests, 2);
    assert.equal(microOf(row.cost_usd), picoToMicro(pico), 'only the miss costs');
    assert.equal(microOf(row.saved_usd), picoToMicro(pico), 'the hit saved what the miss cost');
    assert.ok(sp.saved_by.response_cache > 0, 'saved_by.response_cache');
    // (sums of the whole window: rounded once each, so allow 1 micro-USD)
    const d = microOf(sp.saved_by.response_cache) - microOf(sp0.saved_by.response_cache) - picoToMicro(pico);
    assert.ok(d >= -1n && d <= 1n, `saved_by.response_cache grew by the hit's price (off by ${d} micro-USD)`);
  });
});

describe('response cache memory bound', () => {
  let fr;
  const MAX = 32768; // entries up to 4 KB; about eight 300-token answers

  before(async () => {
    fr = await startFrugal({
      name: 'frugal-respcache-lru',
      config: {
        response_cache: { enabled: true, ttl: '1h', max_bytes: MAX },
        providers: [{ name: 'sim', type: 'sim' }],
        models: [{ name: 'gpt-4o-mini', provider: 'sim' }],
      },
    });
  });
  after(async () => {
    await fr?.stop();
  });

  test('least recently used entries are evicted to stay within max_bytes', async () => {
    const ask = (i) => call(fr, '/v1/chat/completions', { body: { model: 'gpt-4o-mini', messages: user(`Long answer ${i} #sim:tokens=300`) } });
    const first = await ask(0);
    assert.equal(first.status, 200, first.text);
    assert.ok(first.text.length > 1000 && first.text.length < MAX / 8 - 600, `a ${first.text.length}-byte answer fits one entry`);
    assert.equal(first.headers.get('x-frugal-cache'), 'miss');
    assert.equal((await ask(0)).headers.get('x-frugal-cache'), 'hit', 'stored');
    const N = Math.ceil((2 * MAX) / first.text.length); // twice the bound
    for (let i = 1; i <= N; i++) assert.equal((await ask(i)).headers.get('x-frugal-cache'), 'miss', `answer ${i}`);
    // recently used, not recently stored: keep using entry N-2 while N+1.. arrive
    const hot = N - 2;
    for (let i = N + 1; i <= 2 * N; i++) {
      assert.equal((await ask(hot)).headers.get('x-frugal-cache'), 'hit', `entry ${hot} in use (before ${i})`);
      assert.equal((await ask(i)).headers.get('x-frugal-cache'), 'miss', `answer ${i}`);
    }
    assert.equal((await ask(N - 1)).headers.get('x-frugal-cache'), 'miss', `entry ${N - 1}, unused since, was evicted before ${hot}`);
    assert.equal((await ask(2 * N)).headers.get('x-frugal-cache'), 'hit', 'the newest entry is kept');
    assert.equal((await ask(2 * N - 1)).headers.get('x-frugal-cache'), 'hit', 'and the one before');
    const again = await ask(0);
    assert.equal(again.headers.get('x-frugal-cache'), 'miss', 'the oldest entry was evicted');
    assert.equal(again.json.choices[0].message.content, first.json.choices[0].message.content, '(the sim is deterministic)');
  });

  test('an answer above max_bytes / 8 is not stored', async () => {
    const body = { model: 'gpt-4o-mini', messages: user('Too long #sim:tokens=2000') };
    const a = await call(fr, '/v1/chat/completions', { body });
    assert.ok(a.text.length > MAX / 8, `${a.text.length} bytes`);
    assert.equal(a.headers.get('x-frugal-cache'), 'miss');
    assert.equal((await call(fr, '/v1/chat/completions', { body })).headers.get('x-frugal-cache'), 'miss');
  });
});

// ============================================================ acceptance ====

describe('acceptance', () => {
  test('1,000 calls sharing a 3,000-token system prompt: input spend >= 85% lower, the ledger adds up', { timeout: 60000 }, async () => {
    const fr = await startWithStorage('frugal-accept-1', {
      server: { workers: 4 },
      providers: [{ name: 'sim', type: 'sim' }],
      models: [{ name: 'claude-sonnet-4-5', provider: 'sim' }],
    });
    try {
      const N = 1000;
      const SYSTEM = prompt('acceptance-1');
      const an = anthropic(fr);
      const calls = [];
      const one = async (i) => {
        const { data, response } = await an.messages
          .create({ model: 'claude-sonnet-4-5', max_tokens: 32, system: SYSTEM, messages: user(`Question ${i}: what is ${i} plus ${(i * 7) % 13}?`) })
          .withResponse();
        const t = anthropicTokens(data.usage);
        calls[i] = { t, pico: cost(SONNET, t), header: response.headers.get('x-frugal-cost-usd') };
      };
      // the first two in order: the write happens on the second sighting
      await one(0);
      await one(1);
      await pool(N - 2, 16, (k) => one(k + 2));
      assert.equal(calls.filter(Boolean).length, N);
      assert.equal(calls[0].t.cache_write_5m + calls[0].t.cache_read, 0n, 'call 1: not cached');
      assert.ok(calls[1].t.cache_write_5m > 2900n, 'call 2: written');

      let withFrugal = 0n;
      let without = 0n;
      const tot = zeroTokens();
      let pico = 0n;
      let reads = 0;
      for (const c of calls) {
        withFrugal += inputCost(SONNET, c.t);
        without += allInput(c.t) * SONNET.input;
        addTokens(tot, c.t);
        pico += c.pico;
        if (c.t.cache_read > 0n) reads++;
      }
      const pct = Number(((without - withFrugal) * 10000n) / without) / 100;
      console.log(`acceptance 1: input spend ${usd6(withFrugal)} USD with frugal vs ${usd6(without)} without (${pct}% lower); ${reads}/${N} calls read the cache`);
      assert.ok((without - withFrugal) * 100n >= without * 85n, `input spend only ${pct}% lower`);

      const bad = calls.map((c, i) => ({ i, header: c.header, want: usd6(c.pico) })).filter((c) => c.header !== c.want);
      assert.deepEqual(bad.slice(0, 5), [], `${bad.length} x-frugal-cost-usd headers differ from the usage arithmetic`);

      await flushed(fr, N);
      const sp = await spend(fr);
      assert.equal(sp.requests, N);
      assert.equal(sp.errors, 0);
      assert.deepEqual(sp.tokens, tokensAsNumbers(tot), 'tokens by class = the usage returned');
      assert.equal(microOf(sp.cost_usd), picoToMicro(pico), `cost_usd ${sp.cost_usd} vs the providers' ${usd6(pico)}`);
      const base = calls.reduce((s, c) => s + allInput(c.t) * SONNET.input + c.t.output * SONNET.output, 0n);
      assert.equal(microOf(sp.baseline_usd), picoToMicro(base), 'baseline_usd');
      assert.equal(microOf(sp.saved_by.prompt_cache), picoToMicro(base - pico), 'saved_by.prompt_cache');
      assert.equal(sp.prompt_cache.hit_rate, Math.round((reads / N) * 1000) / 1000, 'prompt_cache.hit_rate');
      assert.ok(sp.prompt_cache.hit_rate >= 0.99);
      assert.deepEqual(sp.cache_busters, [], 'no busters in a stable workload');
    } finally {
      await fr.stop();
    }
  });

  test('the same workload with a timestamp at the top of the system prompt: the buster is named with its cost (a burst gets no daily rate)', { timeout: 60000 }, async () => {
    const fr = await startWithStorage('frugal-accept-2', {
      server: { workers: 4 },
      providers: [{ name: 'sim', type: 'sim' }],
      models: [{ name: 'claude-sonnet-4-5', provider: 'sim' }],
    });
    try {
      const N = 200;
      const P = prompt('acceptance-2');
      const an = anthropic(fr);
      let reads = 0;
      await pool(N, 10, async (i) => {
        const r = await an.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 32, system: stamped(i, P), messages: user(`Question ${i}?`) });
        reads += r.usage.cache_read_input_tokens;
      });
      assert.equal(reads, 0, 'nothing was ever read from the provider cache');
      await flushed(fr, N);
      const sp = await spend(fr);
      assert.equal(sp.cache_busters.length, 1, JSON.stringify(sp.cache_busters));
      const b = sp.cache_busters[0];
      console.log(`acceptance 2: ${JSON.stringify({ ...b, advice: undefined })}`);
      assert.equal(b.where, 'system');
      assert.equal(b.offset, 14);
      assert.match(b.sample, /^2026-11-26T09:0\d:\d\d\.000Z/);
      assert.ok(b.calls >= N - 10 && b.calls <= N - 1, `calls ${b.calls}`);
      assert.equal(microOf(b.cost_usd), picoToMicro(BigInt(b.tokens) * (SONNET.input - SONNET.cache_read)));
      // 200 calls in a second or two of the 1 h window: the cost is real, a
      // daily rate would be an extrapolation from a burst (x24), so none
      assert.equal(b.cost_usd_per_day, null, `cost_usd_per_day ${b.cost_usd_per_day}`);
      assert.match(b.per_day_basis, /^not extrapolated: seen over \d+ s of a 60 min window$/);
    } finally {
      await fr.stop();
    }
  });
});

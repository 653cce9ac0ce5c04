// providers.test.mjs — OpenAI-compatible providers priced right (issue 21
// part A).  One `type: openai` provider points at the standalone simulated
// provider, which answers in each provider's usage flavour by the upstream
// model's prefix (src/sim/sim_flavour.c): DeepSeek's cache hit/miss
// counts, Gemini's thoughts outside completion_tokens, Groq's x_groq.usage
// in its last stream chunk, llama-server's timings, a vLLM-style server
// with no usage.  frugal recognises each from what comes back (the host is
// the same for all), and the ledger rows are asserted exactly, computed
// here from what the provider returned and the prices (pico-USD, BigInt).
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import {
  anthropic,
  call,
  ledgerFlushed,
  runFrugal,
  openai,
  startFrugal,
  startSim,
  tempDir,
  test,
} from './lib/frugal.mjs';

/* "0.15" USD per 1M tokens → micro-USD per 1M tokens (BigInt). */
function micro(dec) {
  const m = /^(\d+)(?:\.(\d{1,6}))?$/.exec(dec);
  assert.ok(m, `price ${dec}`);
  return BigInt(m[1]) * 1000000n + BigInt(((m[2] ?? '') + '000000').slice(0, 6));
}
const price = (input, cacheRead, output) => ({ input: micro(input), cache_read: micro(cacheRead), output: micro(output) });

/* deepseek-flash in data/prices.json: off-peak list price, peak hours
 * Mon-Fri 01:00-04:00 and 06:00-10:00 UTC at twice that. */
const DS_OFF = price('0.15', '0.003', '0.6');
const DS_PEAK = price('0.3', '0.006', '1.2');
function deepseekAt(tsMs) {
  const d = new Date(tsMs);
  const day = d.getUTCDay(), m = d.getUTCHours() * 60 + d.getUTCMinutes();
  const peak = day >= 1 && day <= 5 && ((m >= 60 && m < 240) || (m >= 360 && m < 600));
  return peak ? DS_PEAK : DS_OFF;
}

/* A config window "HH:MM" around now (UTC), so the schedule applies. */
const hhmm = (ms) => new Date(ms).toISOString().slice(11, 16);
const NOW = Date.now();
const WINDOW = { from: hhmm(NOW - 2 * 3600e3), to: hhmm(NOW + 2 * 3600e3) };
const SCHEDULED = price('0.07', '0.001', '0.3');
const GEMINI = price('0.3', '0.03', '2.5');
const GROQ = price('0.05', '0.05', '0.08');

const cost = (p, t) =>
  BigInt(t.input) * p.input + BigInt(t.cache_read) * p.cache_read + BigInt(t.output) * p.output;

/* A long fixed system prompt (~2,400 tokens): the sim caches repeats of
 * prefixes from 1,024 tokens, as OpenAI-style providers do. */
const LONG = Array.from({ length: 1200 }, (_, i) => `rule${i % 97}`).join(' ');

describe('OpenAI-compatible providers: usage flavours and prices', () => {
  let sim, fr, dir;
  before(async () => {
    sim = await startSim({ name: 'sim-prov' });
    dir = tempDir();
    fr = await startFrugal({
      name: 'frugal-prov',
      cwd: dir,
      config: {
        storage: `sqlite:${join(dir, 'ledger.db')}`,
        providers: [{ name: 'compat', type: 'openai', base_url: `${sim.url}/v1`, api_key: 'sk-compat' }],
        models: [
          { name: 'ds', provider: 'compat', model: 'deepseek-flash' },
          {
            name: 'ds-night', provider: 'compat', model: 'deepseek-flash',
            price_schedule: [{ from: WINDOW.from, to: WINDOW.to, price: { input: '0.07', cache_read: '0.001', output: '0.3' } }],
          },
          { name: 'gem', provider: 'compat', model: 'gemini-2.5-flash', price: { input: '0.3', cache_read: '0.03', output: '2.5' } },
          { name: 'groq', provider: 'compat', model: 'groq-llama-3.1-8b', price: { input: '0.05', output: '0.08' } },
          { name: 'llama', provider: 'compat', model: 'llama-server-qwen', price: { input: '0', output: '0' } },
          { name: 'vllm', provider: 'compat', model: 'vllm-qwen', price: { input: '0.1', output: '0.1' } },
        ],
        response_cache: { enabled: false },
      },
    });
  });
  after(async () => {
    await fr?.stop();
    await sim?.stop();
  });

  let written = 0;
  /* The ledger row of the call whose x-frugal-request-id is id. */
  async function row(id) {
    written++;
    await ledgerFlushed(fr, written);
    const out = execFileSync('sqlite3', ['-json', join(dir, 'ledger.db'),
      `SELECT ts_ms, model, input_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
              output_tokens, reasoning_tokens, priced, cost_pico, error FROM calls WHERE id = '${id}'`], { encoding: 'utf8' });
    const rows = JSON.parse(out || '[]');
    assert.equal(rows.length, 1, `one ledger row for ${id}`);
    return rows[0];
  }

  const ask = (model, user, extra = {}) => ({
    model, max_tokens: 24, temperature: 0,
    messages: [{ role: 'system', content: LONG }, { role: 'user', content: user }], ...extra,
  });

  test('DeepSeek: cache hit/miss counts billed as cache reads and uncached input, at the built-in peak or off-peak price', async () => {
    const oa = openai(fr);
    for (const q of ['first', 'second']) {
      const { data, response } = await oa.chat.completions.create(ask('ds', `deepseek ${q}`)).withResponse();
      const u = data.usage;
      assert.equal(u.prompt_tokens, u.prompt_cache_hit_tokens + u.prompt_cache_miss_tokens);
      assert.equal(u.prompt_tokens_details, undefined, 'the sim plays DeepSeek without cached_tokens');
      const r = await row(response.headers.get('x-frugal-request-id'));
      const t = { input: u.prompt_cache_miss_tokens, cache_read: u.prompt_cache_hit_tokens, output: u.completion_tokens };
      assert.deepEqual(
        [r.input_tokens, r.cache_read_tokens, r.cache_write_5m_tokens, r.cache_write_1h_tokens, r.output_tokens, r.priced],
        [t.input, t.cache_read, 0, 0, t.output, 1]);
      assert.equal(BigInt(r.cost_pico), cost(deepseekAt(r.ts_ms), t));
      assert.equal(r.error, null);
      if (q === 'second') assert.ok(t.cache_read > 0, 'the repeated prefix was a cache hit');
    }
  });

  test('DeepSeek streamed (keep-alive comment first): the same classes from the usage chunk', async () => {
    const oa = openai(fr);
    const { data: stream, response } = await oa.chat.completions.create(ask('ds', 'deepseek stream', { stream: true })).withResponse();
    let text = '', chunks = 0;
    for await (const ch of stream) {
      chunks++;
      text += ch.choices[0]?.delta?.content ?? '';
      assert.equal(ch.usage ?? null, null, 'the usage chunk frugal asked for is not relayed');
    }
    assert.ok(text.length > 0 && chunks > 1);
    const r = await row(response.headers.get('x-frugal-request-id'));
    assert.ok(r.cache_read_tokens > 0, 'the shared prefix was read from the cache');
    assert.ok(r.input_tokens > 0 && r.output_tokens > 0);
    assert.equal(BigInt(r.cost_pico), cost(deepseekAt(r.ts_ms), { input: r.input_tokens, cache_read: r.cache_read_tokens, output: r.output_tokens }));
    assert.equal(r.error, null);
  });

  test('price_schedule: the window covering the call\'s start prices it', async () => {
    const { data, response } = await openai(fr).chat.completions.create(ask('ds-night', 'scheduled')).withResponse();
    const u = data.usage;
    const r = await row(response.headers.get('x-frugal-request-id'));
    const t = { input: u.prompt_cache_miss_tokens, cache_read: u.prompt_cache_hit_tokens, output: u.completion_tokens };
    assert.equal(BigInt(r.cost_pico), cost(SCHEDULED, t));
    const m = (cost(SCHEDULED, t) + 500000n) / 1000000n;
    assert.equal(response.headers.get('x-frugal-cost-usd'), `${m / 1000000n}.${String(m % 1000000n).padStart(6, '0')}`);
  });

  test('Anthropic SDK through translation to DeepSeek: the client and the ledger see the hit/miss split', async () => {
    const an = anthropic(fr);
    const { data: msg, response } = await an.messages.create({
      model: 'ds', max_tokens: 24, system: LONG, messages: [{ role: 'user', content: 'deepseek via anthropic' }],
    }).withResponse();
    const r = await row(response.headers.get('x-frugal-request-id'));
    assert.ok(r.cache_read_tokens > 0);
    assert.equal(msg.usage.input_tokens, r.input_tokens);
    assert.equal(msg.usage.cache_read_input_tokens, r.cache_read_tokens);
    assert.equal(msg.usage.cache_creation_input_tokens, 0);
    assert.equal(msg.usage.output_tokens, r.output_tokens);
    assert.equal(BigInt(r.cost_pico), cost(deepseekAt(r.ts_ms), { input: r.input_tokens, cache_read: r.cache_read_tokens, output: r.output_tokens }));
  });

  test('Gemini-style: cached tokens read, thoughts outside completion_tokens billed as output', async () => {
    const oa = openai(fr);
    let last;
    for (const q of ['one', 'two']) {
      const { data, response } = await oa.chat.completions.create(ask('gem', `gemini ${q}`)).withResponse();
      last = { u: data.usage, r: await row(response.headers.get('x-frugal-request-id')) };
    }
    const { u, r } = last;
    const cached = u.prompt_tokens_details.cached_tokens;
    assert.ok(cached > 0);
    const thoughts = u.total_tokens - u.prompt_tokens - u.completion_tokens;
    assert.equal(thoughts, 16);
    const t = { input: u.prompt_tokens - cached, cache_read: cached, output: u.completion_tokens + thoughts };
    assert.deepEqual([r.input_tokens, r.cache_read_tokens, r.output_tokens, r.reasoning_tokens],
      [t.input, t.cache_read, t.output, thoughts]);
    assert.equal(BigInt(r.cost_pico), cost(GEMINI, t));
  });

  test('Groq-style stream: usage only in the last chunk\'s x_groq.usage', async () => {
    const { data: stream, response } = await openai(fr).chat.completions.create({
      model: 'groq', max_tokens: 24, stream: true, stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'groq hello' }],
    }).withResponse();
    let xg = null;
    for await (const ch of stream) if (ch.x_groq?.usage) xg = ch.x_groq.usage;
    assert.ok(xg, 'the client saw x_groq.usage');
    const r = await row(response.headers.get('x-frugal-request-id'));
    assert.deepEqual([r.input_tokens, r.cache_read_tokens, r.output_tokens, r.error],
      [xg.prompt_tokens, 0, xg.completion_tokens, null]);
    assert.equal(BigInt(r.cost_pico), cost(GROQ, { input: xg.prompt_tokens, cache_read: 0, output: xg.completion_tokens }));
  });

  test('llama-server: no usage object, its timings counted exactly', async () => {
    const oa = openai(fr);
    let last;
    for (const q of ['a', 'b']) {
      const { data, response } = await oa.chat.completions.create(ask('llama', `llama ${q}`)).withResponse();
      assert.equal(data.usage, undefined);
      last = { t: data.timings, r: await row(response.headers.get('x-frugal-request-id')) };
    }
    const { t, r } = last;
    assert.ok(t.cache_n > 0);
    assert.deepEqual([r.input_tokens, r.cache_read_tokens, r.output_tokens, r.error],
      [t.prompt_n, t.cache_n, t.predicted_n, null]);
  });

  test('vLLM-style server without usage: counted from the answer and the stream, the row marked estimated', async () => {
    const oa = openai(fr);
    const { data, response } = await oa.chat.completions.create({
      model: 'vllm', max_tokens: 24, messages: [{ role: 'user', content: 'vllm hello there' }],
    }).withResponse();
    assert.equal(data.usage, undefined);
    let r = await row(response.headers.get('x-frugal-request-id'));
    assert.ok(r.input_tokens > 0 && r.output_tokens > 0);
    assert.match(r.error, /no usage reported; tokens estimated/);
    assert.equal(BigInt(r.cost_pico), (BigInt(r.input_tokens) + BigInt(r.output_tokens)) * micro('0.1'));

    const { data: stream, response: sr } = await oa.chat.completions.create({
      model: 'vllm', max_tokens: 24, stream: true, messages: [{ role: 'user', content: 'vllm stream' }],
    }).withResponse();
    let pieces = 0;
    for await (const ch of stream) if (ch.choices[0]?.delta?.content) pieces++;
    r = await row(sr.headers.get('x-frugal-request-id'));
    assert.match(r.error, /no usage reported; tokens estimated/);
    assert.ok(r.input_tokens > 0);
    assert.ok(r.output_tokens >= pieces, 'output counted from the stream events');
  });
});

// A self-hosted server priced by the hour: every call's record carries its
// share, idle stretches have records of their own, and the records of the
// run add up to the hours frugal ran (logged at stop, in pico-USD).
describe('self-hosted provider priced by the hour', () => {
  test('shares of calls (sequential, concurrent, streamed, translated) and idle add up to the hours', async () => {
    const sim = await startSim({ name: 'sim-gpu' });
    const dir = tempDir();
    const t0 = Date.now();
    const fr = await startFrugal({
      name: 'frugal-gpu',
      cwd: dir,
      config: {
        storage: `sqlite:${join(dir, 'ledger.db')}`,
        providers: [
          { name: 'gpu', type: 'openai', base_url: `${sim.url}/v1`, api_key: 'sk-gpu', cost: { per_hour_usd: '2.49', max_concurrency: 8 } },
          { name: 'api', type: 'openai', base_url: `${sim.url}/v1`, api_key: 'sk-api' },
        ],
        models: [{ name: 'qwen', provider: 'gpu', model: 'qwen-3-32b' }, { name: 'mini', provider: 'api', model: 'gpt-4o-mini' },
          { name: 'big', provider: 'api', model: 'gpt-4o' }],
        routes: [{ name: 'auto', cheap: 'qwen', frontier: 'big' }, { name: 'alt', cheap: 'mini', frontier: 'qwen' }],
        response_cache: { enabled: false },
      },
    });
    let stopped = false;
    try {
      const oa = openai(fr);
      const ids = [];
      const tFirst = Date.now();
      for (let i = 0; i < 3; i++) {
        const { response } = await oa.chat.completions.create({ model: 'qwen', max_tokens: 16, messages: [{ role: 'user', content: `seq ${i}` }] }).withResponse();
        ids.push(response.headers.get('x-frugal-request-id'));
      }
      const conc = await Promise.all(Array.from({ length: 4 }, (_, i) =>
        oa.chat.completions.create({ model: 'qwen', max_tokens: 16, messages: [{ role: 'user', content: `conc ${i}` }] }).withResponse()));
      for (const { response } of conc) ids.push(response.headers.get('x-frugal-request-id'));
      const { data: stream, response: sr } = await oa.chat.completions.create({ model: 'qwen', max_tokens: 16, stream: true, messages: [{ role: 'user', content: 'stream' }] }).withResponse();
      for await (const _ of stream);
      ids.push(sr.headers.get('x-frugal-request-id'));
      const { response: ar } = await anthropic(fr).messages.create({ model: 'qwen', max_tokens: 16, messages: [{ role: 'user', content: 'via anthropic' }] }).withResponse();
      ids.push(ar.headers.get('x-frugal-request-id'));
      const tLast = Date.now();
      await ledgerFlushed(fr, ids.length);
      // the live spend map has the section too (idle so far: before the stop)
      const live = await call(fr, '/frugal/spend?since=1h', { method: 'GET' });
      assert.equal(live.status, 200, live.text);
      assert.deepEqual(live.json.self_hosted.map((g) => [g.provider, g.requests]), [['gpu', ids.length]]);
      const { stderr } = await fr.stop();
      stopped = true;
      const t1 = Date.now();
      const m = /self-hosted provider gpu: (\d+) us run, ([0-9.]+) USD \((\d+) pico-USD/.exec(stderr);
      assert.ok(m, 'the stop line states the run');
      const us = BigInt(m[1]), total = BigInt(m[3]);
      assert.equal(total, 2490000n * us / 3600n, 'the hours at $2.49/h');
      const ms = Number(us) / 1000;
      assert.ok(ms >= tLast - tFirst && ms <= t1 - t0 + 1000, `${ms} ms within the run`);
      const rows = JSON.parse(execFileSync('sqlite3', ['-json', join(dir, 'ledger.db'),
        `SELECT id, key_id, endpoint, model, priced, cost_pico, baseline_pico, saved_routing_pico FROM calls WHERE provider = 'gpu'`],
      { encoding: 'utf8' }) || '[]');
      const calls = rows.filter((r) => r.endpoint !== 'idle'), idle = rows.filter((r) => r.endpoint === 'idle');
      assert.deepEqual(calls.map((r) => r.id).sort(), [...ids].sort(), 'one record per call');
      for (const r of calls) {
        assert.equal(r.priced, 1);
        assert.ok(r.cost_pico > 0, 'each call pays a share');
        assert.equal(r.baseline_pico, r.cost_pico);
      }
      assert.ok(idle.length >= 1 && idle.every((r) => r.key_id === 'idle' && r.model === '(idle)' && r.cost_pico > 0));
      const sum = rows.reduce((a, r) => a + BigInt(r.cost_pico), 0n);
      assert.equal(sum, total, 'calls + idle = the hours');

      // frugal report: utilisation and the break-even against the cheapest
      // API model of a route the server is on (gpt-4o-mini: 0.15 / 0.075 / 0.60)
      const rep = await runFrugal(['report', '-c', fr.configFile, '--since', '1h', '--json'], { cwd: dir });
      assert.equal(rep.code, 0, rep.stderr);
      const sh = JSON.parse(rep.stdout).self_hosted;
      assert.equal(sh.length, 1);
      const g = sh[0];
      const tok = JSON.parse(execFileSync('sqlite3', ['-json', join(dir, 'ledger.db'),
        `SELECT sum(input_tokens) i, sum(cache_read_tokens) cr, sum(output_tokens) o, sum(latency_us) l FROM calls WHERE provider = 'gpu' AND endpoint != 'idle'`],
      { encoding: 'utf8' }))[0];
      const usd = (pico) => Number((pico + 500000n) / 1000000n) / 1e6;
      const idleP = idle.reduce((a, r) => a + BigInt(r.cost_pico), 0n);
      assert.deepEqual([g.provider, g.requests, g.cost_usd, g.idle_usd, g.calls_usd, g.max_concurrency],
        ['gpu', ids.length, usd(total), usd(idleP), usd(total - idleP), 8]);
      assert.equal(g.per_hour_usd, 2.49);
      assert.ok(Math.abs(g.hours - ms / 3.6e6) < 2e-6, `hours ${g.hours} vs ${ms} ms`);
      assert.ok(g.busy_share > 0 && g.busy_share < 1);
      assert.ok(g.utilisation > 0 && g.utilisation <= 1);
      const tokens = tok.i + tok.cr + tok.o;
      assert.equal(g.tokens, tokens);
      const apiPico = BigInt(tok.i) * 150000n + BigInt(tok.cr) * 75000n + BigInt(tok.o) * 600000n;
      assert.equal(g.api.model, 'mini');
      assert.equal(g.api.cost_usd, usd(apiPico));
      const be = Number(2490000n * 1000000n * BigInt(tokens)) / Number(apiPico);
      assert.ok(Math.abs(g.api.break_even_tokens_per_hour - be) <= 1, `${g.api.break_even_tokens_per_hour} vs ${be}`);
      const txt = await runFrugal(['report', '-c', fr.configFile, '--since', '1h'], { cwd: dir });
      assert.match(txt.stdout, /Self-hosted: gpu \(\$2\.490000\/h, 8 calls at once\)/);
      assert.match(txt.stdout, /break-even at \d+ tokens\/h/);
    } finally {
      if (!stopped) await fr.stop();
      await sim.stop();
    }
  });
});

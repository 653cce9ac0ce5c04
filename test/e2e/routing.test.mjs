// Routing through the real daemon: a route picks its cheap or frontier
// model per call (rules first, then the classifier), says which and why,
// and the ledger counts the routing savings against the frontier model.
import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFrugal, openai, anthropic, call, test, ledgerFlushed, tempDir, runFrugal, writeConfig } from './lib/frugal.mjs';
import { startRecorder } from './lib/recorder.mjs';

const WEIGHTS = fileURLToPath(new URL('../../data/router-weights.frw', import.meta.url));

const config = (route) => ({
  providers: [{ name: 'sim', type: 'sim' }],
  models: [
    { name: 'gpt-4o-mini', provider: 'sim' },
    { name: 'gpt-4o', provider: 'sim' },
    { name: 'claude-sonnet-4-5', provider: 'sim' },
  ],
  routes: [{ name: 'auto', cheap: 'gpt-4o-mini', frontier: 'gpt-4o', weights: WEIGHTS, ...route }],
});

const EASY = 'What is the capital of France?';
const HARD = 'Prove that there are infinitely many primes p such that p + 2 is also prime, or explain ' +
  'step by step why this is an open problem, and derive the best known bounds. Then implement a ' +
  'segmented sieve in C that counts twin primes below 10^12 and analyze its complexity.';

async function routed(fr, content, headers = {}) {
  const r = await call(fr, '/v1/chat/completions', {
    body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content }] }), headers,
  });
  assert.equal(r.status, 200, r.text);
  return { model: r.headers.get('x-frugal-model'), route: r.headers.get('x-frugal-route'), r };
}

describe('routes pick a tier per call', () => {
  let fr;
  before(async () => { fr = await startFrugal({ config: config({}), name: 'frugal-routing' }); });
  after(async () => { await fr?.stop(); });

  test('x-frugal-route forces a tier, both ways', async () => {
    const c = await routed(fr, HARD, { 'x-frugal-route': 'cheap' });
    assert.deepEqual([c.model, c.route], ['gpt-4o-mini', 'cheap']);
    const f = await routed(fr, EASY, { 'x-frugal-route': 'frontier' });
    assert.deepEqual([f.model, f.route], ['gpt-4o', 'frontier']);
  });

  test('without a forced tier the classifier decides, and the ledger says why', async () => {
    const h = await routed(fr, HARD);
    assert.ok(['cheap', 'frontier'].includes(h.route), h.route);
    assert.equal(h.model, h.route === 'cheap' ? 'gpt-4o-mini' : 'gpt-4o');
  });

  test('both SDKs reach a route; the answer comes from the chosen model', async () => {
    const o = await openai(fr, { defaultHeaders: { 'x-frugal-route': 'cheap' } }).chat.completions.create({
      model: 'auto', messages: [{ role: 'user', content: EASY }] });
    assert.match(o.choices[0].message.content, /gpt-4o-mini/);
    const a = await anthropic(fr, { defaultHeaders: { 'x-frugal-route': 'frontier' } }).messages.create({
      model: 'auto', max_tokens: 50, messages: [{ role: 'user', content: HARD }] });
    assert.match(a.content[0].text, /gpt-4o\b/);
  });

  test('routing savings are counted against the frontier model', async () => {
    const before = (await call(fr, '/frugal/spend?since=1h', { method: 'GET' })).json;
    await routed(fr, EASY, { 'x-frugal-route': 'cheap' });
    await new Promise((r) => setTimeout(r, 150));
    const after = (await call(fr, '/frugal/spend?since=1h', { method: 'GET' })).json;
    assert.ok(after.saved_by.routing > before.saved_by.routing,
      `routing savings did not grow: ${before.saved_by.routing} -> ${after.saved_by.routing}`);
    assert.ok(after.baseline_usd > after.cost_usd);
  });

  test('GET /v1/models lists the route', async () => {
    const r = await call(fr, '/v1/models', { method: 'GET' });
    assert.ok(r.json.data.some((m) => m.id === 'auto'));
  });
});

describe('route options', () => {
  test('frontier_share 0 and 1 send everything cheap / frontier', async () => {
    for (const [share, want] of [[0, 'cheap'], [1, 'frontier']]) {
      const fr = await startFrugal({ config: config({ frontier_share: share }), name: `frugal-share-${share}` });
      try {
        for (const q of [EASY, HARD]) assert.equal((await routed(fr, q)).route, want, `share ${share}: ${q.slice(0, 20)}`);
      } finally {
        await fr.stop();
      }
    }
  });

  test('frontier_on_tools sends calls with tools to the frontier', async () => {
    const fr = await startFrugal({ config: config({ frontier_on_tools: true }), name: 'frugal-tools' });
    try {
      const r = await call(fr, '/v1/chat/completions', {
        body: JSON.stringify({
          model: 'auto', messages: [{ role: 'user', content: EASY }],
          tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }],
        }),
      });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-frugal-route'), 'frontier');
    } finally {
      await fr.stop();
    }
  });

  test('a cheap answer cut by the model\'s output limit escalates, both calls in the ledger', async () => {
    const cfg = config({ escalate_on: ['truncated', 'empty'], frontier_share: 0 });
    // a cheap model whose output limit is 5 tokens: a cut at 5 is its limit
    cfg.models = [...cfg.models, { name: 'mini-short', provider: 'sim', model: 'gpt-4o-mini', max_output_tokens: 5 }];
    cfg.routes = [...cfg.routes, { ...cfg.routes[0], name: 'auto-short', cheap: 'mini-short' }];
    const fr = await startFrugal({ config: cfg, name: 'frugal-escalate' });
    try {
      const send = (model, extra) => call(fr, '/v1/chat/completions', {
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'write a lot #sim:tokens=80' }], ...extra }),
      });
      const r = await send('auto-short', { max_tokens: 5 });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-frugal-route'), 'escalated');
      assert.equal(r.headers.get('x-frugal-model'), 'gpt-4o');
      // an answer that is not short of anything stays cheap
      const ok = await send('auto', {});
      assert.equal(ok.headers.get('x-frugal-route'), 'cheap');
      await new Promise((res) => setTimeout(res, 200));
      const spend = (await call(fr, '/frugal/spend?since=1h', { method: 'GET' })).json;
      assert.equal(spend.escalations.count, 1);
      assert.ok(spend.escalations.cost_usd > 0 && spend.escalations.cheap_attempts_usd > 0);
      assert.equal(spend.requests, 3);   // the cheap attempt, its escalation, the cheap answer
    } finally {
      await fr.stop();
    }
  });

  test('a cheap answer cut by the client\'s own max_tokens is not escalated (the frontier model would be cut there too)', async () => {
    const fr = await startFrugal({
      config: config({ escalate_on: ['truncated', 'empty'], frontier_share: 0 }), name: 'frugal-escalate-client-cap',
    });
    try {
      const r = await call(fr, '/v1/chat/completions', {
        body: JSON.stringify({ model: 'auto', max_tokens: 5, messages: [{ role: 'user', content: 'write a lot #sim:tokens=80' }] }),
      });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-frugal-route'), 'cheap');
      assert.equal(r.headers.get('x-frugal-model'), 'gpt-4o-mini');
      assert.equal(r.json.choices[0].finish_reason, 'length');
      // streamed: not held back for an escalation that cannot come, and not escalated
      const s = await call(fr, '/v1/chat/completions', {
        body: JSON.stringify({ model: 'auto', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'write a lot #sim:tokens=80' }] }),
      });
      assert.equal(s.headers.get('x-frugal-route'), 'cheap');
      assert.match(s.text, /"finish_reason":"length"/);
    } finally {
      await fr.stop();
    }
  });

  test('without escalate_on a short answer is returned as the cheap model gave it', async () => {
    const fr = await startFrugal({ config: config({}), name: 'frugal-noescalate' });
    try {
      const r = await call(fr, '/v1/chat/completions', {
        headers: { 'x-frugal-route': 'cheap' },
        body: JSON.stringify({ model: 'auto', max_tokens: 5, messages: [{ role: 'user', content: 'write a lot #sim:tokens=80' }] }),
      });
      assert.equal(r.headers.get('x-frugal-route'), 'cheap');
      assert.equal(r.json.choices[0].finish_reason, 'length');
    } finally {
      await fr.stop();
    }
  });

  test('a weights file that does not load is a startup error naming it', async () => {
    await assert.rejects(
      startFrugal({ config: config({ weights: '/nonexistent/weights.frw' }), name: 'frugal-badweights' }),
      /routes\[0\]\.weights/);
  });
});

// quality_target: the threshold is the cheapest operating point whose
// one-sided 90% Wilson lower bound on the route's labels meets the target.
describe('quality_target sets the threshold from the route\'s labels', () => {
  const labelFile = (rows) => {
    const f = join(tempDir('frugal-labels-'), 'labels.jsonl');
    writeFileSync(f, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    return f;
  };
  const reasons = (fr) => JSON.parse(execFileSync('sqlite3', ['-json', join(fr.dir, 'frugal.db'),
    'select model, route, route_reason from calls order by rowid'], { encoding: 'utf8' }) || '[]');

  test('labels on which the cheap model alone meets the target send everything cheap, and say so (both SDKs)', async () => {
    // 1,000 labels, 99% cheap answers fine: lower bound 0.984 >= 0.95
    const rows = Array.from({ length: 1000 }, (_, i) => ({ score: (i * 7919 % 1000) / 1000, cheap_ok: i % 100 !== 0 }));
    const fr = await startFrugal({ config: config({ quality_target: 0.95, labels: labelFile(rows) }), name: 'frugal-qt-cheap' });
    try {
      for (const q of [EASY, HARD]) assert.equal((await routed(fr, q)).route, 'cheap', q.slice(0, 20));
      const o = await openai(fr).chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: HARD }] });
      assert.match(o.choices[0].message.content, /gpt-4o-mini/);
      const a = await anthropic(fr).messages.create({ model: 'auto', max_tokens: 50, messages: [{ role: 'user', content: HARD }] });
      assert.match(a.content[0].text, /gpt-4o-mini/);
      await ledgerFlushed(fr, 4);
      const rs = reasons(fr);
      assert.equal(rs.length, 4, JSON.stringify(rs));
      for (const r of rs) assert.match(r.route_reason, /quality_target 0\.950: the cheap model alone meets it on 1000 labels/);
    } finally {
      await fr.stop();
    }
  });

  test('labels that separate the prompts put the threshold between them', async () => {
    // the easy prompt's cheap answers are fine, the hard one's never are:
    // cheap alone keeps 300/330 = 0.91 < 0.95; sending the hard prompt
    // frontier keeps 1.0 (bound 0.995), so the threshold splits them
    const rows = [...Array.from({ length: 300 }, () => ({ prompt: EASY, cheap_ok: true })),
      ...Array.from({ length: 30 }, () => ({ prompt: HARD, cheap_ok: false }))];
    const fr = await startFrugal({ config: config({ quality_target: 0.95, labels: labelFile(rows) }), name: 'frugal-qt-split' });
    try {
      assert.equal((await routed(fr, EASY)).route, 'cheap');
      assert.equal((await routed(fr, HARD)).route, 'frontier');
      await ledgerFlushed(fr, 2);
      for (const r of reasons(fr)) assert.match(r.route_reason, /classifier score .* threshold .* \(quality_target\)/);
    } finally {
      await fr.stop();
    }
  });

  test('too few labels to prove the target: every call goes frontier, with the reason', async () => {
    const rows = Array.from({ length: 10 }, (_, i) => ({ score: i / 10, cheap_ok: true }));
    const fr = await startFrugal({ config: config({ quality_target: 0.95, labels: labelFile(rows) }), name: 'frugal-qt-few' });
    try {
      assert.equal((await routed(fr, EASY)).route, 'frontier');
      await ledgerFlushed(fr, 1);
      assert.match(reasons(fr)[0].route_reason, /no cheaper point proves it on 10 labels/);
    } finally {
      await fr.stop();
    }
  });

  test('configuration mistakes are startup errors naming the key or the file line', async () => {
    await assert.rejects(startFrugal({ config: config({ quality_target: 0.95 }), name: 'frugal-qt-nolabels' }),
      /routes\[0\]\.quality_target: needs the route's held-out labels/);
    const ok = labelFile([{ score: 0.5, cheap_ok: true }]);
    await assert.rejects(startFrugal({ config: config({ quality_target: 0.95, labels: ok, frontier_share: 0.3 }), name: 'frugal-qt-both' }),
      /routes\[0\]\.quality_target: sets the threshold from labels: remove frontier_share/);
    const bad = labelFile([{ score: 0.5, cheap_ok: true }, { prompt: 'x', cheap_ok: 'yes' }]);
    await assert.rejects(startFrugal({ config: config({ quality_target: 0.95, labels: bad }), name: 'frugal-qt-badline' }),
      /routes\[0\]\.labels: .*labels\.jsonl:2: needs "cheap_ok"/);
  });
});

// escalate_on: [format]: a cheap answer that misses the route's format
// (a pattern searched with multiline matching, or a JSON Schema) is asked
// again of the frontier model.  The sim echoes the prompt's start, so a
// prompt that ends in "ANSWER: 42" gives an answer with that final line.
describe('format checks escalate cheap answers that miss them', () => {
  const PATTERN = '^.*ANSWER: [0-9]+$';
  let fr;
  before(async () => {
    const cfg = config({ frontier_share: 0, escalate_on: ['format'], format: PATTERN });
    cfg.routes.push({ ...cfg.routes[0], name: 'auto-json', format: {
      type: 'object', required: ['answer'], properties: { answer: { type: 'integer' } } } });
    fr = await startFrugal({ config: cfg, name: 'frugal-format' });
  });
  after(async () => { await fr?.stop(); });
  const rows = () => JSON.parse(execFileSync('sqlite3', ['-json', join(fr.dir, 'frugal.db'),
    'select id, model, route, route_reason, linked_id from calls order by rowid'], { encoding: 'utf8' }) || '[]');

  test('an answer with the final-answer line stays cheap; one without is escalated, both records linked', async () => {
    const ok = await routed(fr, 'What is 6*7? ANSWER: 42');
    assert.deepEqual([ok.model, ok.route], ['gpt-4o-mini', 'cheap']);
    const miss = await routed(fr, 'What is 6*7? Think it over.');
    assert.deepEqual([miss.model, miss.route], ['gpt-4o', 'escalated']);
    assert.match(miss.r.json.choices[0].message.content, /gpt-4o\b/);
    await ledgerFlushed(fr, 3);
    const [, cheap, esc] = rows();
    assert.equal(cheap.model, 'gpt-4o-mini');
    assert.equal(esc.linked_id, cheap.id);
    assert.match(esc.route_reason, /cheap answer missed the route's format: escalated/);
    const spend = (await call(fr, '/frugal/spend?since=1h', { method: 'GET' })).json;
    assert.equal(spend.escalations.count, 1, JSON.stringify(spend.escalations));
    assert.equal(spend.escalations.by_reason.format, 1, JSON.stringify(spend.escalations));
    assert.ok(spend.escalations.cheap_attempts_usd > 0, JSON.stringify(spend.escalations));
  });

  test('both SDKs: the missed format is answered by the frontier model', async () => {
    const o = await openai(fr).chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'Count the sheep.' }] });
    assert.match(o.choices[0].message.content, /gpt-4o\b/);
    const a = await anthropic(fr).messages.create({ model: 'auto', max_tokens: 200, messages: [{ role: 'user', content: 'Count the sheep.' }] });
    assert.match(a.content[0].text, /gpt-4o\b/);
    const a2 = await anthropic(fr).messages.create({ model: 'auto', max_tokens: 200, messages: [{ role: 'user', content: 'Count. ANSWER: 7' }] });
    assert.match(a2.content[0].text, /gpt-4o-mini/);
  });

  test('a JSON Schema format: prose escalates, a conforming JSON answer stays cheap', async () => {
    const prose = await routed(fr, 'Give me the answer. ANSWER: 1');
    assert.equal(prose.route, 'cheap', 'the first route checks the pattern, not the schema');
    const r = await call(fr, '/v1/chat/completions', { body: JSON.stringify({
      model: 'auto-json', messages: [{ role: 'user', content: 'Give me the answer. ANSWER: 1' }] }) });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-frugal-route'), 'escalated', 'prose is not JSON');
    const schema = { type: 'object', required: ['answer'], additionalProperties: false, properties: { answer: { type: 'integer' } } };
    const j = await call(fr, '/v1/chat/completions', { body: JSON.stringify({
      model: 'auto-json', messages: [{ role: 'user', content: 'Give me the answer.' }],
      response_format: { type: 'json_schema', json_schema: { name: 'a', strict: true, schema } } }) });
    assert.equal(j.status, 200, j.text);
    assert.equal(j.headers.get('x-frugal-route'), 'cheap', j.json.choices[0].message.content);
  });

  test('frugal check names the line of a bad pattern or schema, and format in escalate_on without one', async () => {
    const dir = tempDir();
    try {
      const base = config({ escalate_on: ['format'] });
      for (const [fmt, want] of [['(unclosed', /:\d+: routes\[0\]\.format: invalid pattern: missing closing parenthesis/],
        [{ type: 'object', properties: { a: { $ref: 'http://x/y' } } }, /:\d+: routes\[0\]\.format: .*ref/i],
        [undefined, /routes\[0\]\.escalate_on: format needs the route's format/]]) {
        const route = { ...base.routes[0], ...(fmt === undefined ? {} : { format: fmt }) };
        const file = writeConfig({ ...base, routes: [route] }, dir);
        const r = await runFrugal(['check', '-c', file], { cwd: dir });
        assert.equal(r.code, 2, r.stdout + r.stderr);
        assert.match(r.stderr, want);
      }
      const file = writeConfig({ ...base, routes: [{ ...base.routes[0], format: PATTERN }] }, dir);
      const ok = await runFrugal(['check', '-c', file], { cwd: dir });
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// cold_start: the issue's triage mix (60 one-word labelling tickets, 40 long
// incident investigations; test/e2e/fixtures/triage.jsonl).  The generic
// weights rank it no better than a coin; under cold_start: frontier they
// decide only inside their confidence band (measured out of fold on the
// training file), so no investigation is sent cheap.
describe('cold start on a route without its own labels', () => {
  const TRIAGE = readFileSync(new URL('./fixtures/triage.jsonl', import.meta.url), 'utf8')
    .trim().split('\n').map((l) => JSON.parse(l));
  const run = async (route, name) => {
    const fr = await startFrugal({ config: config(route), name });
    try {
      const n = { ticket: { cheap: 0, frontier: 0 }, investigation: { cheap: 0, frontier: 0 } };
      for (const r of TRIAGE) n[r.kind][(await routed(fr, r.prompt)).route]++;
      await ledgerFlushed(fr, TRIAGE.length);
      const spend = (await call(fr, '/frugal/spend?since=1h', { method: 'GET' })).json;
      console.log(`# triage ${name}: ${JSON.stringify(n)} cold_start ${JSON.stringify(spend.routing_cold_start)}`);
      return { n, spend };
    } finally {
      await fr.stop();
    }
  };

  test('the triage fixture is the issue\'s mix', () => {
    assert.equal(TRIAGE.filter((r) => r.kind === 'ticket').length, 60);
    assert.equal(TRIAGE.filter((r) => r.kind === 'investigation').length, 40);
  });

  test('cold_start: frontier sends no investigation cheap, and the spend map reports the cold-start share', async () => {
    const { n, spend } = await run({ cold_start: 'frontier' }, 'frugal-cold-frontier');
    assert.equal(n.investigation.cheap, 0, JSON.stringify(n));
    assert.equal(n.investigation.frontier, 40);
    const cs = spend.routing_cold_start;
    assert.equal(cs.calls, 100, JSON.stringify(cs));
    assert.equal(cs.to_cold_tier + cs.confident, 100, JSON.stringify(cs));
    assert.equal(cs.to_cold_tier, n.ticket.frontier + n.investigation.frontier - cs.confident_frontier, JSON.stringify({ cs, n }));
  });

  test('cold_start: classifier (the default) is today\'s classifier and reports no cold-start calls', async () => {
    const { n, spend } = await run({}, 'frugal-cold-default');
    assert.equal(n.ticket.cheap + n.ticket.frontier + n.investigation.cheap + n.investigation.frontier, 100);
    assert.equal(spend.routing_cold_start.calls, 0);
  });

  test('cold_start: cheap sends what the weights are not confident of to the cheap model', async () => {
    const { n, spend } = await run({ cold_start: 'cheap' }, 'frugal-cold-cheap');
    // the shipped weights are never confident of "frontier" across every
    // training source (frontier_at = inf): everything goes cheap
    assert.equal(n.ticket.frontier + n.investigation.frontier, spend.routing_cold_start.confident_frontier);
    assert.equal(spend.routing_cold_start.calls, 100);
  });

  test('labels of its own end the cold start: quality_target decides', async () => {
    const f = join(tempDir('frugal-labels-'), 'labels.jsonl');
    writeFileSync(f, Array.from({ length: 1000 }, (_, i) => JSON.stringify({ score: i / 1000, cheap_ok: i % 100 !== 0 })).join('\n'));
    const fr = await startFrugal({ config: config({ cold_start: 'frontier', quality_target: 0.95, labels: f }), name: 'frugal-cold-labels' });
    try {
      assert.equal((await routed(fr, TRIAGE[70].prompt)).route, 'cheap');
    } finally {
      await fr.stop();
    }
  });

  test('a bad cold_start value names the key', async () => {
    await assert.rejects(startFrugal({ config: config({ cold_start: 'maybe' }), name: 'frugal-cold-bad' }),
      /routes\[0\]\.cold_start: must be classifier, frontier or cheap/);
  });
});

describe('escalation on an answer that fails its schema', () => {
  let rec, fr;
  before(async () => {
    rec = await startRecorder();
    fr = await startFrugal({
      name: 'frugal-escalate-schema',
      config: {
        providers: [
          { name: 'rec', type: 'openai', base_url: `${rec.url}/v1`, api_key: 'sk-rec' },
          { name: 'sim', type: 'sim' },
        ],
        models: [
          { name: 'rec-mini', provider: 'rec', model: 'gpt-4o-mini' },
          { name: 'gpt-4o', provider: 'sim' },
        ],
        routes: [{ name: 'auto', cheap: 'rec-mini', frontier: 'gpt-4o', weights: WEIGHTS,
          frontier_share: 0, escalate_on: ['invalid_schema'] }],
        structured_output: { validate: true, repair: true, retries: 1, stream: 'buffer' },
      },
    });
  });
  after(async () => {
    await fr?.stop();
    await rec?.stop();
  });

  const PERSON = {
    type: 'object',
    properties: {
      name: { type: 'string' },
      age: { type: 'integer', minimum: 0 },
      tags: { type: 'array', items: { type: 'string' } },
    },
    required: ['name', 'age', 'tags'],
    additionalProperties: false,
  };
  /* wrong type at $.age: nothing a safe repair may fix */
  const BAD = '{"name": "Ann", "age": "thirty-one", "tags": ["pilot"]}';
  const cheapAnswer = (content) => ({
    body: {
      id: 'chatcmpl-rec', object: 'chat.completion', created: 1764000000, model: 'gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: 20, completion_tokens: 12, total_tokens: 32 },
    },
  });

  test('invalid after repair and retry → the frontier model answers, valid; three linked ledger records', async () => {
    rec.queue(cheapAnswer(BAD), cheapAnswer('```json\n' + BAD + '\n```'));
    const r = await call(fr, '/v1/chat/completions', {
      body: {
        model: 'auto', messages: [{ role: 'user', content: 'Invent a person' }],
        response_format: { type: 'json_schema', json_schema: { name: 'person', strict: true, schema: PERSON } },
      },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-frugal-route'), 'escalated');
    assert.equal(r.headers.get('x-frugal-model'), 'gpt-4o');
    assert.equal(rec.requests.length, 2, 'the cheap model was asked twice (the call and its retry)');
    assert.deepEqual(rec.requests[1].json.response_format, rec.requests[0].json.response_format);

    // the final answer matches the schema (checked here, not by frugal)
    const v = JSON.parse(r.json.choices[0].message.content);
    assert.deepEqual(Object.keys(v).sort(), ['age', 'name', 'tags'], JSON.stringify(v));
    assert.equal(typeof v.name, 'string');
    assert.ok(Number.isInteger(v.age) && v.age >= 0, `age ${v.age}`);
    assert.ok(Array.isArray(v.tags) && v.tags.every((t) => typeof t === 'string'), JSON.stringify(v.tags));

    await ledgerFlushed(fr, 3);
    const spend = (await call(fr, '/frugal/spend?since=1h', { method: 'GET' })).json;
    assert.equal(spend.requests, 3, 'two cheap attempts and the frontier answer');
    assert.equal(spend.errors, 2, 'both cheap attempts failed their check');
    assert.equal(spend.escalations.count, 1);
    assert.ok(spend.escalations.cost_usd > 0 && spend.escalations.cheap_attempts_usd > 0, JSON.stringify(spend.escalations));

    // the attempts, linked one to the next, in the ledger itself
    const rows = JSON.parse(execFileSync('sqlite3', ['-json', join(fr.dir, 'frugal.db'),
      'select id, model, route, status, linked_id, error from calls order by rowid'], { encoding: 'utf8' }) || '[]');
    assert.equal(rows.length, 3, JSON.stringify(rows));
    const [first, retry, final] = rows;
    assert.deepEqual([first.model, retry.model, final.model], ['rec-mini', 'rec-mini', 'gpt-4o']);
    assert.deepEqual([first.route, retry.route, final.route], ['cheap', 'cheap', 'escalated']);
    assert.equal(first.linked_id, null);
    assert.equal(retry.linked_id, first.id, 'the retry links to the first attempt');
    assert.equal(final.linked_id, retry.id, 'the escalation links to the retry');
    assert.equal(final.id, r.headers.get('x-frugal-request-id'));
    for (const bad of [first, retry]) {
      assert.equal(bad.status, 502, `a failed check is an error record: ${JSON.stringify(rows)}`);
      assert.match(bad.error ?? '', /does not match the requested schema/);
    }
    assert.match(first.error, /\$\.age/);
    assert.match(retry.error, /after a retry/);
    assert.equal(final.status, 200);
  });

  test('a buffered stream escalates the same way: the frontier model is asked for the whole answer too', async () => {
    rec.queue(cheapAnswer(BAD), cheapAnswer(BAD));
    const n0 = rec.requests.length;
    const stream = await openai(fr).chat.completions.create({
      model: 'auto', stream: true, messages: [{ role: 'user', content: 'Invent a person, streamed' }],
      response_format: { type: 'json_schema', json_schema: { name: 'person', strict: true, schema: PERSON } },
    });
    let text = '';
    for await (const ch of stream) text += ch.choices[0]?.delta?.content ?? '';
    assert.equal(rec.requests.length - n0, 2, 'the cheap model was asked twice');
    assert.equal(rec.requests[n0].json.stream, false, 'buffered: the cheap model was asked for the whole answer');
    const v = JSON.parse(text);
    assert.deepEqual(Object.keys(v).sort(), ['age', 'name', 'tags'], text);
  });

});

/* The cheap model speaks the other dialect (translated), the frontier model
 * the client's own (passthrough): the frontier's request must carry what
 * frugal adds to a passthrough body (buffering, the usage opt-in), though
 * the first attempt's translated body did not. */
describe('escalation from a translated cheap model to a passthrough frontier', () => {
  let rec, fr;
  before(async () => {
    rec = await startRecorder();
    fr = await startFrugal({
      name: 'frugal-escalate-mixed',
      config: {
        providers: [
          { name: 'rec-an', type: 'anthropic', base_url: rec.url, api_key: 'sk-rec' },
          { name: 'rec-oa', type: 'openai', base_url: `${rec.url}/v1`, api_key: 'sk-rec' },
        ],
        models: [
          { name: 'haiku', provider: 'rec-an', model: 'claude-haiku-4-5' },
          { name: 'big', provider: 'rec-oa', model: 'gpt-4o' },
        ],
        routes: [{ name: 'auto', cheap: 'haiku', frontier: 'big', weights: WEIGHTS,
          frontier_share: 0, escalate_on: ['invalid_schema'] }],
        structured_output: { validate: true, repair: false, retries: 0, stream: 'buffer' },
      },
    });
  });
  after(async () => {
    await fr?.stop();
    await rec?.stop();
  });

  test('a buffered stream escalated to the client\'s own dialect asks for the whole answer and its usage', async () => {
    const schema = { type: 'object', properties: { age: { type: 'integer' } }, required: ['age'], additionalProperties: false };
    rec.queue({ body: {
      id: 'msg_rec', type: 'message', role: 'assistant', model: 'claude-haiku-4-5',
      content: [{ type: 'text', text: '{"age": "old"}' }], stop_reason: 'end_turn', stop_sequence: null,
      usage: { input_tokens: 20, output_tokens: 8 },
    } }, { body: {
      id: 'chatcmpl-rec', object: 'chat.completion', created: 1764000000, model: 'gpt-4o',
      choices: [{ index: 0, message: { role: 'assistant', content: '{"age": 31}', refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: 20, completion_tokens: 6, total_tokens: 26 },
    } });
    const stream = await openai(fr).chat.completions.create({
      model: 'auto', stream: true, messages: [{ role: 'user', content: 'How old?' }],
      response_format: { type: 'json_schema', json_schema: { name: 'age', strict: true, schema } },
    });
    let text = '';
    for await (const ch of stream) text += ch.choices[0]?.delta?.content ?? '';
    assert.deepEqual(JSON.parse(text), { age: 31 });
    assert.equal(rec.requests.length, 2, 'the cheap model, then the frontier');
    assert.equal(rec.requests[0].path, '/v1/messages');
    assert.equal(rec.requests[1].path, '/v1/chat/completions');
    assert.equal(rec.requests[1].json.stream, false, 'buffered: the frontier is asked for the whole answer');
  });
});

describe('streamed escalation: held until the first content', () => {
  let rec, fr;
  before(async () => {
    rec = await startRecorder();
    fr = await startFrugal({
      name: 'frugal-escalate-stream',
      config: {
        providers: [
          { name: 'rec', type: 'openai', base_url: `${rec.url}/v1`, api_key: 'sk-rec' },
          { name: 'sim', type: 'sim' },
        ],
        models: [
          { name: 'rec-mini', provider: 'rec', model: 'gpt-4o-mini' },
          { name: 'gpt-4o', provider: 'sim', dialect: 'openai' },
        ],
        routes: [{ name: 'auto', cheap: 'rec-mini', frontier: 'gpt-4o', weights: WEIGHTS,
          frontier_share: 0, escalate_on: ['empty', 'refusal', 'truncated'] }],
      },
    });
  });
  after(async () => {
    await fr?.stop();
    await rec?.stop();
  });

  const chunk = (delta, finish = null) => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk',
    created: 1764000000, model: 'gpt-4o-mini', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;

  async function streamText(extraHeaders = {}) {
    const { data, response } = await openai(fr, { defaultHeaders: extraHeaders }).chat.completions
      .create({ model: 'auto', stream: true, messages: [{ role: 'user', content: 'Say something' }] })
      .withResponse();
    let text = '';
    for await (const ch of data) text += ch.choices[0]?.delta?.content ?? '';
    return { text, route: response.headers.get('x-frugal-route'), model: response.headers.get('x-frugal-model') };
  }

  test('an empty cheap stream never reaches the client: the frontier model streams instead', async () => {
    rec.queue({ text: '' });
    const before = rec.requests.length;
    const r = await streamText();
    assert.equal(rec.requests.length, before + 1);
    assert.equal(r.route, 'escalated');
    assert.equal(r.model, 'gpt-4o');
    assert.match(r.text, /Simulated reply from gpt-4o/);
  });

  test('a refusal before any content escalates; the client sees no trace of it', async () => {
    rec.queue({ sse: chunk({ role: 'assistant', content: '', refusal: null }) +
      chunk({ refusal: "I can't help with that." }) + chunk({}, 'stop') + 'data: [DONE]\n\n' });
    const r = await streamText();
    assert.equal(r.route, 'escalated');
    assert.doesNotMatch(r.text, /can't help/);
    assert.match(r.text, /Simulated reply/);
  });

  test('a cheap stream with content is released as it came, not escalated', async () => {
    rec.queue({ text: 'A perfectly fine cheap answer.', eventDelayMs: 5 });
    const r = await streamText();
    assert.equal(r.route, 'cheap');
    assert.equal(r.text, 'A perfectly fine cheap answer.');
  });

  test('Anthropic SDK streaming through translation escalates an empty cheap stream too', async () => {
    rec.queue({ text: '' });
    const stream = anthropic(fr).messages.stream({ model: 'auto', max_tokens: 50,
      messages: [{ role: 'user', content: 'Say something' }] });
    const msg = await stream.finalMessage();
    assert.match(msg.content.map((b) => b.text ?? '').join(''), /Simulated reply from gpt-4o/);
  });

  test('the cheap attempt and the escalation are both in the ledger, linked', async () => {
    rec.queue({ text: '' });
    await streamText({ 'x-frugal-tags': 'case=stream-escalation' });
    const rows = await (async () => {
      for (let i = 0; i < 100; i++) {
        const r = JSON.parse(execFileSync('sqlite3', ['-json', join(fr.dir, 'frugal.db'),
          "select id, model, route, status, linked_id from calls where tags like '%case=stream-escalation%' order by rowid"],
        { encoding: 'utf8' }) || '[]');
        if (r.length >= 2) return r;
        await new Promise((res) => setTimeout(res, 50));
      }
      return [];
    })();
    assert.equal(rows.length, 2, JSON.stringify(rows));
    assert.deepEqual(rows.map((r) => [r.model, r.route]), [['rec-mini', 'cheap'], ['gpt-4o', 'escalated']]);
    assert.equal(rows[1].linked_id, rows[0].id);
  });
});

describe('an escalation that cannot start', () => {
  test('the client gets the reason (the frontier model cannot take the request), and the daemon lives', async () => {
    // a cheap Anthropic tier and an OpenAI frontier: max_tokens 0 (a cache
    // pre-warm) comes back empty from the cheap model, and the escalation's
    // translation to OpenAI refuses it.  The failed start used to fall through
    // to the freed cheap answer.
    const cfg = config({ cheap: 'claude-sonnet-4-5', escalate_on: ['truncated', 'empty'], frontier_share: 0 });
    const fr = await startFrugal({ config: cfg, name: 'frugal-escalate-nostart' });
    try {
      const r = await call(fr, '/v1/messages', {
        body: JSON.stringify({ model: 'auto', max_tokens: 0, messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.type, 'error');
      assert.match(r.json.error.message, /max_tokens: 0/);
      const ok = await call(fr, '/v1/messages', {
        body: JSON.stringify({ model: 'auto', max_tokens: 50, messages: [{ role: 'user', content: EASY }] }),
      });
      assert.equal(ok.status, 200, ok.text);
    } finally {
      await fr.stop();
    }
  });
});

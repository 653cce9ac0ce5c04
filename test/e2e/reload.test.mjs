// reload.test.mjs — reloading the config without dropping a call (issue
// #23): SIGHUP and POST /frugal/reload re-read the config file; calls in
// flight finish on the config they started under and the ledger prices each
// call by it; new calls see the new models and prices; a broken file is
// refused with `frugal check`'s errors and the old config keeps serving; a
// new listener address needs a restart; only the master key may reload.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import {
  call,
  ledgerFlushed,
  metrics,
  openai,
  runFrugal,
  startFrugal,
  tempDir,
  test,
  toYaml,
  waitFor,
  writeConfig,
} from './lib/frugal.mjs';

const MASTER = 'fk-reload-master-0123456789';

/* The config: one simulated provider, gpt-4o-mini at a test price (USD per
 * 1M tokens; whole micro-USD per token so costs are exact). */
function config(dir, { mini = { input: '1.00', output: '2.00' }, extraModels = [], server = {} } = {}) {
  return {
    server: { listen: '127.0.0.1:0', workers: 2, master_key: MASTER, ...server },
    storage: `sqlite:${join(dir, 'ledger.db')}`,
    providers: [{ name: 'sim', type: 'sim' }],
    models: [{ name: 'gpt-4o-mini', provider: 'sim', price: mini }, ...extraModels],
  };
}

/* micro-USD of a ledger row at a price of whole USD per 1M tokens. */
const microAt = (row, inUsd, outUsd) => row.input_tokens * inUsd + row.output_tokens * outUsd;
const microOf = (row) => Math.round(row.cost_usd * 1e6);

async function reload(fr, key = MASTER) {
  return call(fr, '/frugal/reload', { body: {}, key });
}

async function ledgerRows(fr) {
  const r = await call(fr, '/frugal/calls?limit=200', { method: 'GET' });
  assert.equal(r.status, 200, r.text);
  return new Map(r.json.data.map((c) => [c.id, c]));
}

async function written(fr) {
  return (await metrics(fr)).get('frugal_ledger_written_total') ?? 0;
}

describe('reload under load', () => {
  let fr;
  let dir;

  before(async () => {
    dir = tempDir('frugal-reload-');
    fr = await startFrugal({ name: 'frugal-reload', cwd: dir, config: config(dir) });
  });

  after(async () => {
    try {
      if (fr && !fr.exited) await fr.stop();
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a reload adding a model and changing a price while 50 streams are in flight', async () => {
    const oa = openai(fr);
    // before: gpt-4o is not configured
    const before404 = await call(fr, '/v1/chat/completions', {
      body: { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] },
    });
    assert.equal(before404.status, 404, before404.text);

    const N = 50;
    const firstChunk = [];
    const streams = Array.from({ length: N }, (_, i) =>
      (async () => {
        const { data, response } = await oa.chat.completions
          .create({
            model: 'gpt-4o-mini',
            stream: true,
            stream_options: { include_usage: true },
            messages: [{ role: 'user', content: `stream ${i} #sim:tokens=12 #sim:event_delay_ms=150` }],
          })
          .withResponse();
        const id = response.headers.get('x-frugal-request-id');
        let text = '';
        let usage = null;
        let got = false;
        for await (const chunk of data) {
          if (!got) {
            got = true;
            firstChunk.push(i);
          }
          text += chunk.choices?.[0]?.delta?.content ?? '';
          if (chunk.usage) usage = chunk.usage;
        }
        return { id, text, usage };
      })());
    // every stream has started (its call pinned the config) before the reload
    await waitFor(() => firstChunk.length === N, { timeoutMs: 60000, what: 'all 50 streams started' });

    writeConfig(config(dir, {
      mini: { input: '3.00', output: '4.00' },
      extraModels: [{ name: 'gpt-4o', provider: 'sim', price: { input: '5.00', output: '6.00' } }],
    }), dir);
    const r = await reload(fr);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.reloaded, true);
    assert.deepEqual(r.json.models_added, ['gpt-4o']);
    assert.deepEqual(r.json.prices_changed, ['gpt-4o-mini']);
    assert.deepEqual(r.json.restart_needed, []);
    assert.match(r.json.summary, /models added gpt-4o; prices changed gpt-4o-mini/);
    assert.match(fr.stderr(), /config reloaded from .*frugal\.yaml \(generation 1\): models added gpt-4o/);

    // new calls see the change: the new model answers, the new price applies
    const fresh = await oa.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'new model' }] }).withResponse();
    const freshId = fresh.response.headers.get('x-frugal-request-id');
    const mini = await oa.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'new price' }] }).withResponse();
    const miniId = mini.response.headers.get('x-frugal-request-id');
    const list = await oa.models.list();
    assert.ok(list.data.some((m) => m.id === 'gpt-4o'), 'GET /v1/models lists the added model');

    // every stream in flight finished, whole
    const done = await Promise.all(streams);
    for (const s of done) {
      assert.ok(s.id, 'x-frugal-request-id');
      assert.ok(s.text.length > 0, `stream ${s.id} has its answer`);
      assert.ok(s.usage && s.usage.completion_tokens > 0, `stream ${s.id} has its usage`);
    }

    await ledgerFlushed(fr, N + 2);
    const rows = await ledgerRows(fr);
    for (const s of done) {
      const row = rows.get(s.id);
      assert.ok(row, `ledger row of stream ${s.id}`);
      assert.equal(row.status, 200);
      assert.equal(microOf(row), microAt(row, 1, 2), `stream ${s.id} is priced by the config it started under`);
    }
    const rf = rows.get(freshId);
    assert.equal(rf.model, 'gpt-4o');
    assert.equal(microOf(rf), microAt(rf, 5, 6));
    const rm = rows.get(miniId);
    assert.equal(microOf(rm), microAt(rm, 3, 4), 'a call after the reload gets the new price');
    assert.notEqual(microAt(rm, 3, 4), microAt(rm, 1, 2));
  });

  test('a broken config is refused (POST and SIGHUP) with frugal check\'s errors; the old one serves', async () => {
    const good = readFileSync(fr.configFile, 'utf8');
    const bad = good.replace('"5.00"', '"five dollars"') + 'unknown_section: 1\n';
    writeConfig(bad, dir);
    const check = await runFrugal(['check', '-c', fr.configFile]);
    assert.notEqual(check.code, 0);
    const checkErrors = check.stderr.trim().split('\n').filter((l) => /:\d+: /.test(l));
    assert.ok(checkErrors.length >= 2, check.stderr);

    const r = await reload(fr);
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.reloaded, false);
    assert.equal(r.json.error.code, 'invalid_config');
    assert.deepEqual(r.json.errors, checkErrors, 'the same errors as frugal check');
    assert.match(r.json.errors.join('\n'), /frugal\.yaml:\d+: models\[1\]\.price\.input: /);

    const logged = fr.stderr().length;
    fr.proc.kill('SIGHUP');
    await waitFor(() => /reload refused: .*unknown_section/.test(fr.stderr().slice(logged)),
      { timeoutMs: 10000, what: 'the SIGHUP reload refused in the log' });

    // the running config (gpt-4o at 5/6, gpt-4o-mini at 3/4) still serves
    const n0 = await written(fr);
    const oa = openai(fr);
    const res = await oa.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'still here' }] }).withResponse();
    const id = res.response.headers.get('x-frugal-request-id');
    await ledgerFlushed(fr, n0 + 1);
    const row = (await ledgerRows(fr)).get(id);
    assert.equal(microOf(row), microAt(row, 5, 6));
    writeConfig(good, dir);
  });

  test('SIGHUP reloads a valid file', async () => {
    writeConfig(config(dir, {
      mini: { input: '3.00', output: '4.00' },
      extraModels: [
        { name: 'gpt-4o', provider: 'sim', price: { input: '5.00', output: '6.00' } },
        { name: 'gpt-4.1', provider: 'sim', price: { input: '7.00', output: '8.00' } },
      ],
    }), dir);
    const logged = fr.stderr().length;
    fr.proc.kill('SIGHUP');
    await waitFor(() => /config reloaded .*models added gpt-4\.1/.test(fr.stderr().slice(logged)),
      { timeoutMs: 10000, what: 'the SIGHUP reload in the log' });
    const oa = openai(fr);
    const res = await oa.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hup' }] });
    assert.ok(res.choices[0].message.content.length > 0);
  });

  test('a new listener address needs a restart: said in the reply and the log; the old listener serves', async () => {
    const text = toYaml(config(dir, {
      mini: { input: '3.00', output: '4.00' },
      server: { listen: '127.0.0.1:1' },
    })).replace(/^\n/, '') + '\n';
    writeConfig(text, dir);
    const r = await reload(fr);
    assert.equal(r.status, 200, r.text);
    const listen = r.json.restart_needed.find((x) => x.key === 'server.listen');
    assert.ok(listen, r.text);
    assert.equal(listen.running, '127.0.0.1:0');
    assert.match(listen.message, /restart/);
    assert.match(r.json.summary, /restart needed for server\.listen \(still listening on 127\.0\.0\.1:0\)/);
    assert.deepEqual(r.json.models_removed, ['gpt-4o', 'gpt-4.1']);
    assert.match(fr.stderr(), /restart needed for server\.listen/);
    const oa = openai(fr);
    const res = await oa.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'same port' }] });
    assert.ok(res.choices[0].message.content.length > 0);
    const gone = await call(fr, '/v1/chat/completions', {
      body: { model: 'gpt-4o', messages: [{ role: 'user', content: 'removed' }] },
    });
    assert.equal(gone.status, 404, gone.text);
  });

  test('only the master key may reload', async () => {
    assert.equal((await reload(fr, null)).status, 401);
    assert.equal((await reload(fr, 'fk-not-the-master-key-000')).status, 401);
    const k = await call(fr, '/frugal/keys', { body: { name: 'reloader' } });
    assert.equal(k.status, 201, k.text);
    const r = await reload(fr, k.json.key);
    assert.equal(r.status, 403, r.text);
    assert.match(r.json.error.message, /master key/);
    const get = await call(fr, '/frugal/reload', { method: 'GET' });
    assert.equal(get.status, 405);
  });
});

describe('reload with a self-hosted provider', () => {
  test('a reload that keeps a provider\'s cost keeps billing its hours once', async () => {
    const dir = tempDir('frugal-reload-gpu-');
    const cfg = (miniIn) => ({
      server: { listen: '127.0.0.1:0', workers: 2, master_key: MASTER },
      storage: `sqlite:${join(dir, 'ledger.db')}`,
      providers: [
        { name: 'sim', type: 'sim' },
        { name: 'gpu', type: 'sim', cost: { per_hour_usd: '2.49', max_concurrency: 8 } },
      ],
      models: [
        { name: 'gpt-4o-mini', provider: 'sim', price: { input: miniIn, output: '2.00' } },
        { name: 'qwen', provider: 'gpu' },
      ],
    });
    const fr = await startFrugal({ name: 'frugal-reload-gpu', cwd: dir, config: cfg('1.00') });
    try {
      const oa = openai(fr);
      await oa.chat.completions.create({ model: 'qwen', messages: [{ role: 'user', content: 'before' }] });
      writeConfig(cfg('3.00'), dir);
      const r = await reload(fr);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.prices_changed, ['gpt-4o-mini']);
      assert.deepEqual(r.json.providers_changed, []);
      await oa.chat.completions.create({ model: 'qwen', messages: [{ role: 'user', content: 'after' }] });
    } finally {
      await fr.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    // one run of the server's hours at stop: the reload did not start a second
    const runs = fr.stderr().match(/self-hosted provider gpu: \d+ us run/g) ?? [];
    assert.equal(runs.length, 1, fr.stderr());
  });
});

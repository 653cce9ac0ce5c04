// lifecycle.test.mjs — the process: graceful SIGTERM, config errors with
// file:line:key, env: secrets, and running on built-in defaults.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  anthropic,
  anthropicLegacy,
  assertNoSanitizerReport,
  call,
  freePort,
  openai,
  runFrugal,
  sleep,
  startFrugal,
  tempDir,
  test,
} from './lib/frugal.mjs';

const SIM_CONFIG = {
  server: { workers: 2 },
  providers: [{ name: 'sim', type: 'sim' }],
  models: [
    { name: 'gpt-4o-mini', provider: 'sim' },
    { name: 'claude-haiku-4-5', provider: 'sim' },
  ],
};

const user = (text) => [{ role: 'user', content: text }];

describe('graceful shutdown', () => {
  test('SIGTERM during in-flight requests: they complete, new work is refused, exit 0', async () => {
    const fr = await startFrugal({ config: SIM_CONFIG, name: 'frugal-sigterm' });
    try {
      const t0 = Date.now();
      const slow = openai(fr).chat.completions.create({
        model: 'gpt-4o-mini', messages: user('take your time #sim:delay_ms=1500'),
      });
      const slowStream = (async () => {
        let text = '';
        const s = anthropic(fr).messages.stream({
          model: 'claude-haiku-4-5', max_tokens: 500, messages: user('stream slowly #sim:event_delay_ms=150'),
        });
        s.on('text', (t) => (text += t));
        const m = await s.finalMessage();
        return { m, text };
      })();
      slow.catch(() => {});
      slowStream.catch(() => {});
      await sleep(400); // both requests are with the upstream by now
      fr.proc.kill('SIGTERM');
      await sleep(200);
      // no new work once draining: refused, or 503 on a kept-alive connection
      let status = null;
      try {
        status = (await call(fr, '/healthz', { method: 'GET' })).status;
      } catch {
        status = 'refused';
      }
      assert.notEqual(status, 200, 'a draining gateway accepted new work');

      const r = await slow;
      assert.match(r.choices[0].message.content, /^Simulated reply from gpt-4o-mini/);
      assert.ok(Date.now() - t0 >= 1400, 'the slow request returned too early');
      const { m, text } = await slowStream;
      assert.equal(m.stop_reason, 'end_turn');
      assert.equal(m.content[0].text, text);
      assert.ok(text.length > 0);
    } finally {
      const { stderr } = await fr.stop({ send: false });
      assert.match(stderr, /SIGTERM/);
    }
  });

  test('streams still running after shutdown_grace_ms are cut, and the process exits 0', async () => {
    const fr = await startFrugal({
      config: { ...SIM_CONFIG, server: { workers: 2, shutdown_grace_ms: 500 } },
      name: 'frugal-grace',
    });
    const streams = [0, 1, 2, 3].map(async (i) => {
      let text = '';
      try {
        for await (const ch of await openai(fr).chat.completions.create({
          model: 'gpt-4o-mini', stream: true, messages: user(`endless ${i} #sim:event_delay_ms=100 #sim:tokens=5000`),
        }))
          text += ch.choices[0]?.delta?.content ?? '';
        return { ok: true, text };
      } catch (e) {
        return { ok: false, text, e };
      }
    });
    await sleep(500);
    const t0 = Date.now();
    fr.proc.kill('SIGTERM');
    await fr.stop({ send: false });
    const took = Date.now() - t0;
    assert.ok(took >= 400 && took < 5000, `exit took ${took} ms with shutdown_grace_ms 500`);
    for (const r of await Promise.all(streams)) {
      assert.ok(r.text.length > 0, 'the stream had started');
      assert.ok(r.text.length < 20000, 'the stream cannot have completed');
      assert.equal(r.ok, false, 'a cut stream must not look complete to the client');
    }
  });

  test('SIGINT on an idle gateway exits 0 promptly', async () => {
    const fr = await startFrugal({ config: SIM_CONFIG, name: 'frugal-sigint' });
    const r = await call(fr, '/healthz', { method: 'GET' });
    assert.equal(r.status, 200);
    const t0 = Date.now();
    await fr.stop({ signal: 'SIGINT' });
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms to exit`);
  });
});

describe('configuration errors', () => {
  test('frugal check: unknown keys → exit 2 with file:line and dotted key, all of them', async () => {
    const dir = tempDir();
    try {
      const file = join(dir, 'bad.yaml');
      writeFileSync(
        file,
        [
          'server:', //                      1
          '  listen: 127.0.0.1:0', //        2
          '  wrokers: 2', //                 3
          'providers:', //                   4
          '  - name: sim', //                5
          '    type: sim', //                6
          '    api_kee: nope', //            7
          'models:', //                      8
          '  - name: gpt-4o-mini', //        9
          '    provider: sim', //           10
          '',
        ].join('\n'),
      );
      const r = await runFrugal(['check', '-c', file], { cwd: dir });
      assertNoSanitizerReport(r.stderr);
      assert.equal(r.code, 2, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
      const out = r.stdout + r.stderr;
      assert.match(out, /bad\.yaml:3\b[^\n]*server\.wrokers/, out);
      assert.match(out, /bad\.yaml:7\b[^\n]*providers\[0\]\.api_kee/, out);
      assert.doesNotMatch(r.stdout, /\bok\b/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('frugal check: a good config → exit 0', async () => {
    const dir = tempDir();
    try {
      const file = join(dir, 'good.yaml');
      writeFileSync(file, 'providers:\n  - name: sim\n    type: sim\nmodels:\n  - name: gpt-4o-mini\n    provider: sim\n');
      const r = await runFrugal(['check', '-c', file], { cwd: dir });
      assertNoSanitizerReport(r.stderr);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /ok/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('api_key: env:UNSET → serve refuses to start (exit 2) naming the variable', async () => {
    const dir = tempDir();
    try {
      const file = join(dir, 'frugal.yaml');
      writeFileSync(
        file,
        [
          'server:',
          '  listen: 127.0.0.1:0',
          'providers:',
          '  - name: openai',
          '    type: openai',
          '    api_key: env:FRUGAL_E2E_SURELY_UNSET_VAR',
          'models:',
          '  - name: gpt-4o-mini',
          '    provider: openai',
          '',
        ].join('\n'),
      );
      const r = await runFrugal(['serve', '-c', file], { cwd: dir, env: { FRUGAL_E2E_SURELY_UNSET_VAR: undefined } });
      assertNoSanitizerReport(r.stderr);
      assert.equal(r.code, 2, `exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, /FRUGAL_E2E_SURELY_UNSET_VAR/);
      assert.match(r.stderr, /frugal\.yaml:6\b/);
      assert.doesNotMatch(r.stdout, /listening/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bad usage → exit 2', async () => {
    const r = await runFrugal(['no-such-command']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no-such-command/);
    const r2 = await runFrugal(['serve', '--bogus']);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /--bogus/);
  });
});

describe('built-in defaults', () => {
  test('no config file, no provider keys: simulated providers, both SDKs work', async () => {
    const dir = tempDir(); // no frugal.yaml here
    const port = await freePort();
    const fr = await startFrugal({ cwd: dir, env: { FRUGAL_LISTEN: `127.0.0.1:${port}` }, name: 'frugal-defaults' });
    try {
      assert.equal(fr.port, port, 'FRUGAL_LISTEN not honoured');
      assert.match(fr.stderr(), /built-in defaults/);

      const ids = [];
      for await (const m of openai(fr).models.list()) ids.push(m.id);
      for (const want of ['gpt-4o-mini', 'claude-haiku-4-5'])
        assert.ok(ids.includes(want), `${want} not in ${ids.join(', ')}`);

      const o = await openai(fr).chat.completions.create({ model: 'gpt-4o-mini', messages: user('defaults?') });
      assert.match(o.choices[0].message.content, /^Simulated reply from gpt-4o-mini/);
      let streamed = '';
      for await (const ch of await openai(fr).chat.completions.create({ model: 'gpt-4o-mini', messages: user('defaults?'), stream: true }))
        streamed += ch.choices[0]?.delta?.content ?? '';
      assert.equal(streamed, o.choices[0].message.content);

      const a = await anthropic(fr).messages.create({ model: 'claude-haiku-4-5', max_tokens: 100, messages: user('defaults?') });
      assert.match(a.content[0].text, /^Simulated reply from claude-haiku-4-5/);
      const l = await anthropicLegacy(fr).messages.stream({ model: 'claude-haiku-4-5', max_tokens: 100, messages: user('defaults?') }).finalMessage();
      assert.equal(l.content[0].text, a.content[0].text);
    } finally {
      await fr.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

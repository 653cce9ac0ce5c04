// newuser.test.mjs — what a new user meets first: the README's minimal
// config works as printed, a config without models is called out, and the
// commands that read the database (report, keys) find the one `serve` uses
// from any directory, never create an empty one, and do not ask for the
// providers' secrets.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  assertNoSanitizerReport,
  ledgerFlushed,
  openai,
  runFrugal,
  startFrugal,
  startSim,
  tempDir,
  test,
} from './lib/frugal.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const README = readFileSync(resolve(here, '..', '..', 'README.md'), 'utf8');

/* The README's minimal config, exactly as printed. */
function readmeMinimalConfig() {
  const m = /```yaml\n(# minimal frugal\.yaml\n[\s\S]*?)```/.exec(README);
  assert.ok(m, 'README has a "# minimal frugal.yaml" block');
  return m[1];
}

let sim;
const dirs = [];
const dir = (p) => {
  const d = realpathSync(tempDir(p));
  dirs.push(d);
  return d;
};

before(async () => {
  sim = await startSim({ name: 'sim-newuser' });
});

after(async () => {
  await sim?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('a new user', () => {
  test("the README's minimal config passes `frugal check` and serves calls", async () => {
    const d = dir('frugal-readme-');
    const text = readmeMinimalConfig();
    assert.match(text, /base_url: https:\/\/api\.openai\.com\/v1/);
    // the only changes: the provider is the simulator, and the port is free
    const cfg = text.replace('https://api.openai.com/v1', `${sim.url}/v1`) + 'server:\n  listen: 127.0.0.1:0\n';
    writeFileSync(join(d, 'frugal.yaml'), cfg);
    const env = { OPENAI_API_KEY: 'sk-readme-minimal-0001' };
    const chk = await runFrugal(['check'], { cwd: d, env });
    assertNoSanitizerReport(chk.stderr);
    assert.equal(chk.code, 0, chk.stderr);
    assert.match(chk.stdout, /^frugal\.yaml: ok \(1 providers, 2 models, 1 routes; storage sqlite:\//);
    const fr = await startFrugal({ config: cfg, cwd: d, env, name: 'frugal-readme' });
    try {
      for (const model of ['gpt-4o-mini', 'gpt-4o', 'auto']) {
        const r = await openai(fr).chat.completions.create({ model, max_tokens: 16, messages: [{ role: 'user', content: 'Hello' }] });
        assert.equal(r.choices[0].message.role, 'assistant', model);
      }
    } finally {
      await fr.stop();
    }
  });

  test('a config file without models: check refuses it (exit 2), serve warns', async () => {
    const d = dir('frugal-nomodels-');
    writeFileSync(join(d, 'frugal.yaml'), 'server:\n  listen: 127.0.0.1:0\n');
    const chk = await runFrugal(['check'], { cwd: d });
    assertNoSanitizerReport(chk.stderr);
    assert.equal(chk.code, 2, chk.stdout + chk.stderr);
    assert.match(chk.stderr, /frugal\.yaml: no models are configured.*replaces the built-in defaults/s);
    assert.doesNotMatch(chk.stdout, /\bok\b/);
    const fr = await startFrugal({ config: 'server:\n  listen: 127.0.0.1:0\n', cwd: d, name: 'frugal-nomodels' });
    try {
      assert.match(fr.stderr(), /configures no models: every call will get 404/);
    } finally {
      await fr.stop();
    }
  });

  test('report and keys find the database serve uses from any directory, need no provider secrets, and never create one', async () => {
    const conf = dir('frugal-conf-');
    const elsewhere = dir('frugal-serve-cwd-');
    const other = dir('frugal-other-cwd-');
    const file = join(conf, 'frugal.yaml');
    writeFileSync(file, [
      'server:',
      '  listen: 127.0.0.1:0',
      'storage: sqlite:frugal.db',
      'providers:',
      '  - name: oa',
      '    type: openai',
      `    base_url: ${sim.url}/v1`,
      '    api_key: env:NEWUSER_TEST_OA_KEY',
      'models:',
      '  - name: gpt-4o-mini',
      '    provider: oa',
      '',
    ].join('\n'));
    const env = { NEWUSER_TEST_OA_KEY: 'sk-newuser-oa-0001' };
    const fr = await startFrugal({ args: ['serve', '-c', file], cwd: elsewhere, env, name: 'frugal-elsewhere' });
    try {
      await openai(fr).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
      await ledgerFlushed(fr, 1);
    } finally {
      await fr.stop();
    }
    assert.ok(existsSync(join(conf, 'frugal.db')), 'the relative storage path is next to the config file');
    assert.ok(!existsSync(join(elsewhere, 'frugal.db')), 'not in the directory serve ran in');

    // from a third directory, without the provider's secret in the environment
    const rep = await runFrugal(['report', '-c', file, '--json', '--since', '1h'], { cwd: other });
    assertNoSanitizerReport(rep.stderr);
    assert.equal(rep.code, 0, rep.stderr);
    assert.equal(JSON.parse(rep.stdout).requests, 1);
    const made = await runFrugal(['keys', 'create', '--name', 'from-afar', '--json', '-c', file], { cwd: other });
    assert.equal(made.code, 0, made.stderr);
    const list = await runFrugal(['keys', 'list', '--json', '-c', file], { cwd: other });
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout).map((k) => k.name), ['from-afar']);
    assert.ok(!existsSync(join(other, 'frugal.db')));

    // no config and no database here: a clear error naming the path, nothing created
    for (const args of [['report'], ['keys', 'list'], ['keys', 'revoke', 'key_000000000000']]) {
      const r = await runFrugal(args, { cwd: other });
      assertNoSanitizerReport(r.stderr);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.ok(r.stderr.includes(join(other, 'frugal.db')), r.stderr);
      assert.match(r.stderr, /no (ledger|database) at/);
      assert.ok(!existsSync(join(other, 'frugal.db')), `${args.join(' ')} created an empty database`);
    }
  });

  test('`frugal analyze` on a file that is not a log fails, naming the file and line', async () => {
    const d = dir('frugal-analyze-');
    const notLog = join(d, 'notes.txt');
    writeFileSync(notLog, 'shopping list\n{"a": 1}\n');
    const r = await runFrugal(['analyze', notLog], { cwd: d });
    assertNoSanitizerReport(r.stderr);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`${notLog.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:1: invalid JSON`));
    assert.match(r.stderr, /notes\.txt: not a log: none of its 2 lines is a log line .* the first bad one is line 1/);
    assert.equal(r.stdout, '', 'no spend map of $0 for a file that is not a log');
    // a real log with one bad line still works (the bad line is reported)
    const log = readFileSync(resolve(here, '..', '..', 'examples', 'sample-log.jsonl'), 'utf8');
    const mixed = join(d, 'mixed.jsonl');
    writeFileSync(mixed, 'oops\n' + log);
    const ok = await runFrugal(['analyze', mixed, '--json'], { cwd: d });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /mixed\.jsonl:1: invalid JSON/);
    assert.ok(JSON.parse(ok.stdout).requests > 0);
  });
});

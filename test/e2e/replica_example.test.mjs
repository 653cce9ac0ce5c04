// replica_example.test.mjs — examples/frugal-replica.yaml and
// examples/frugal.service (README, "Running several replicas") keep working
// with the current config keys: the unit's own commands (`frugal migrate`,
// then `frugal serve`, with the unit's arguments) run on the example config
// with its environment variables pointing at a real Postgres and Redis, and
// the replica comes up with both stores shared (`/healthz` names each).
// Only the example's host paths (/var/lib/frugal, /etc/frugal) and its
// public listen address are swapped for temporary ones.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { call, runFrugal, startFrugal, tempDir, test } from './lib/frugal.mjs';
import { startPg } from './lib/pg.mjs';
import { startRedis } from './lib/redis.mjs';

const EXAMPLES = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples');
const pg = startPg();
const dir = tempDir('frugal-replica-example-');
let redis, env, yaml;

/* ExecStartPre= / ExecStart= of the unit: frugal's arguments, the config
 * path replaced by ours. */
function unitCommand(unit, key, configFile) {
  const m = unit.match(new RegExp(`^${key}=(\\S+) (.*)$`, 'm'));
  assert.ok(m, `examples/frugal.service has no ${key}=`);
  assert.match(m[1], /\/frugal$/, `${key} runs frugal`);
  const args = m[2].trim().split(/\s+/);
  const c = args.indexOf('-c');
  assert.ok(c >= 0 && args[c + 1] === '/etc/frugal/frugal.yaml', `${key} reads /etc/frugal/frugal.yaml`);
  args[c + 1] = configFile;
  return args;
}

describe('the replica example (systemd unit + config)', { skip: !pg && 'Postgres is not installed' }, () => {
  before(async () => {
    redis = await startRedis();
    const state = join(dir, 'state');
    mkdirSync(state);
    yaml = readFileSync(join(EXAMPLES, 'frugal-replica.yaml'), 'utf8')
      .replaceAll('/var/lib/frugal', state)
      .replace(/listen: 0\.0\.0\.0:\d+/, 'listen: 127.0.0.1:0');
    env = {
      FRUGAL_DATABASE_URL: pg.createDb('replica_example'),
      FRUGAL_REDIS_URL: redis.url,
      FRUGAL_MASTER_KEY: 'fg-example-master-5d1a',
      OPENAI_API_KEY: 'sk-example-not-used',
    };
  });

  after(async () => {
    await redis?.cleanup();
    pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('frugal check accepts the example config and it names Postgres and Redis', async () => {
    assert.match(yaml, /^redis: env:FRUGAL_REDIS_URL/m, 'the example shares budgets through Redis');
    assert.match(yaml, /^storage: env:FRUGAL_DATABASE_URL/m);
    const file = join(dir, 'check.yaml');
    writeFileSync(file, yaml);
    const r = await runFrugal(['check', '-c', file], { env });
    assert.equal(r.code, 0, r.stderr);
  });

  test("the unit's commands: migrate, then serve, with both stores ok in /healthz", async () => {
    const unit = readFileSync(join(EXAMPLES, 'frugal.service'), 'utf8');
    assert.match(unit, /FRUGAL_REDIS_URL=/, 'the unit documents the Redis URL in its env file');
    const cwd = join(dir, 'serve');
    mkdirSync(cwd);
    const file = join(cwd, 'frugal.yaml');
    writeFileSync(file, yaml);
    const pre = await runFrugal(unitCommand(unit, 'ExecStartPre', file), { env, cwd });
    assert.equal(pre.code, 0, pre.stderr);
    const args = unitCommand(unit, 'ExecStart', file);
    const fr = await startFrugal({ env, cwd, args, name: 'frugal-replica-example' });
    try {
      const h = await call(fr, '/healthz', { method: 'GET' });
      assert.equal(h.status, 200, h.text);
      assert.equal(h.json.store?.state, 'ok', h.text);
      assert.equal(h.json.redis?.state, 'ok', h.text);
      // a key made through the admin API lands in Postgres (the shared key store)
      const body = { name: 'example', budget: '1/day' };
      const k = await call(fr, '/frugal/keys', { body, key: env.FRUGAL_MASTER_KEY });
      assert.equal(k.status, 201, k.text);
    } finally {
      await fr.stop();
    }
  });
});

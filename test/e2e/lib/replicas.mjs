// lib/replicas.mjs — setting up several frugal replicas that must know the
// same virtual keys (redis.test.mjs, rcache.test.mjs): each replica has its
// own SQLite store, so the keys are made once through the CLI in the first
// replica's store and that store is copied, file by file, to the others
// before any daemon starts.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

import { runFrugal } from './frugal.mjs';

/* `frugal keys create ARGS --json -c cfgFile` run in cwd: the new key's JSON. */
export async function cliKey(cfgFile, cwd, ...args) {
  const r = await runFrugal(['keys', 'create', ...args, '--json', '-c', cfgFile], { cwd });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/* Copy the SQLite store frugal.db (with its WAL and shared-memory files, as
 * far as they exist) from directory `from` to directory `to`. */
export function copyStore(from, to) {
  for (const ext of ['', '-wal', '-shm'])
    if (existsSync(join(from, `frugal.db${ext}`)))
      copyFileSync(join(from, `frugal.db${ext}`), join(to, `frugal.db${ext}`));
}

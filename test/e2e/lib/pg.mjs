// lib/pg.mjs — a throwaway Postgres for end-to-end tests (test/pg-run.sh).
//
//   const pg = await startPg();      // null: Postgres is not installed (skip)
//   const dsn = pg.createDb('t1');   // a database of its own: its DSN
//   pg.sql('t1', 'SELECT 1')          // rows as text ("a|b" lines)
//   await pg.sqlAsync('t1', '…')      // the same, not blocking the test
//   pg.pause(); pg.resume();          // stop the server, start it again
//   pg.stop();
//
// When the binaries are missing, startPg() returns null after a loud
// message, unless FRUGAL_REQUIRE_PG=1 (.ci/run): then it throws, so CI can
// never skip these tests silently.

import { execFile, execFileSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const SCRIPT = resolve(here, '..', '..', 'pg-run.sh');

const run = (...args) => execFileSync(SCRIPT, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

export function startPg() {
  let out;
  try {
    out = run('start').trim();
  } catch (e) {
    if (e.status === 3 && process.env.FRUGAL_REQUIRE_PG !== '1') {
      process.stderr.write(`\n*** SKIPPED: Postgres tests (Postgres is not installed) ***\n${e.stderr}\n`);
      return null;
    }
    throw new Error(`test/pg-run.sh start failed (${e.status}): ${e.stderr}`);
  }
  const [dir, dsn] = out.split(' ');
  const live = { up: true };
  const pg = {
    dir,
    dsn,
    dsnFor: (db) => dsn.replace('/postgres?', `/${db}?`),
    createDb(db) {
      run('createdb', dir, db);
      return pg.dsnFor(db);
    },
    sql: (db, q) => run('sql', dir, db, q).trim(),
    // the same without blocking this process (a statement that waits)
    sqlAsync: (db, q) =>
      new Promise((res, rej) =>
        execFile(SCRIPT, ['sql', dir, db, q], { encoding: 'utf8' }, (e, out, err) =>
          e ? rej(new Error(`${e.message}: ${err}`)) : res(out.trim()))),
    pause() {
      run('pause', dir);
      live.up = false;
    },
    resume() {
      run('resume', dir);
      live.up = true;
    },
    stop() {
      if (dir) run('stop', dir);
    },
  };
  return pg;
}

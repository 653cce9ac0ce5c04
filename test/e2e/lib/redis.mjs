// lib/redis.mjs — a redis-server of the test's own: an ephemeral port, a
// temporary directory, no persistence (nothing written to disk).
//
//   const r = await startRedis();
//   r.url             redis://127.0.0.1:PORT
//   await r.stop()    SHUTDOWN NOSAVE (SIGTERM), wait for the exit
//   await r.start()   again, on the same port, empty
//
// redis-server must be installed (scripts/install-deps.sh installs it): a
// missing binary fails the test, it is never skipped.
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { freePort, tempDir } from './frugal.mjs';

export const REDIS_BIN = process.env.REDIS_SERVER ?? 'redis-server';

const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {}
  }
});

export async function startRedis() {
  const v = spawnSync(REDIS_BIN, ['--version'], { encoding: 'utf8' });
  if (v.error || v.status !== 0)
    throw new Error(`${REDIS_BIN} is not installed (scripts/install-deps.sh installs redis-server)`);
  const dir = tempDir('frugal-redis-');
  const port = await freePort();
  const r = { port, url: `redis://127.0.0.1:${port}`, dir, proc: null, log: '' };
  r.start = () =>
    new Promise((res, rej) => {
      const proc = spawn(REDIS_BIN, [
        '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
        '--save', '', '--appendonly', 'no', '--daemonize', 'no',
      ], { stdio: ['ignore', 'pipe', 'pipe'] });
      r.proc = proc;
      live.add(proc);
      const timer = setTimeout(() => rej(new Error(`redis-server not ready:\n${r.log}`)), 10000);
      const onData = (d) => {
        r.log += d;
        if (/Ready to accept connections/.test(r.log.slice(-4000))) {
          clearTimeout(timer);
          res(r);
        }
      };
      proc.stdout.setEncoding('utf8').on('data', onData);
      proc.stderr.setEncoding('utf8').on('data', onData);
      proc.on('exit', () => {
        live.delete(proc);
        clearTimeout(timer);
      });
      proc.on('error', (e) => {
        clearTimeout(timer);
        rej(e);
      });
    });
  r.stop = () =>
    new Promise((res) => {
      const p = r.proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return res();
      p.on('exit', () => res());
      p.kill('SIGTERM');
    });
  r.cleanup = async () => {
    await r.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  await r.start();
  return r;
}

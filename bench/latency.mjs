// Paced latency probe for bench/run.sh.
//   node latency.mjs URL BODY_FILE RATE SECONDS CONNS MODE [WARMUP]
// Sends RATE requests/s for SECONDS (open loop, fixed schedule) over at most
// CONNS keep-alive connections, after WARMUP unrecorded requests. MODE is
// "full" (time to the end of the response) or "ttfb" (time to the first body
// byte, for streams). Prints one JSON line: {n, errors, p50_ms, p90_ms,
// p99_ms, max_ms, late}. Latency is measured from the actual send, and
// requests that could not be sent on schedule are counted in "late".
import http from 'node:http';
import fs from 'node:fs';

const [url, bodyFile, rateS, secondsS, connsS, mode, warmupS = '50'] = process.argv.slice(2);
if (!url || !bodyFile || !mode) {
  console.error('usage: node latency.mjs URL BODY_FILE RATE SECONDS CONNS full|ttfb [WARMUP]');
  process.exit(2);
}
const body = fs.readFileSync(bodyFile);
const rate = Number(rateS), seconds = Number(secondsS), conns = Number(connsS);
const warmup = Number(warmupS);
const u = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: conns, maxFreeSockets: conns });
const opts = {
  host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'POST', agent,
  headers: {
    'content-type': 'application/json',
    'authorization': `Bearer ${process.env.BENCH_AUTH ?? 'sk-bench'}`,
    'content-length': body.length,
  },
};

let inflight = 0, errors = 0, late = 0;
const samples = [];

function one(record) {
  return new Promise((resolve) => {
    inflight++;
    const t0 = process.hrtime.bigint();
    let first = null, done = false;
    const finish = (ok) => {
      if (done) return;
      done = true;
      inflight--;
      if (!ok) errors += record ? 1 : 0;
      resolve();
    };
    const req = http.request(opts, (res) => {
      if (res.statusCode !== 200) { res.resume(); res.on('end', () => finish(false)); return; }
      res.on('data', () => {
        if (first === null) {
          first = process.hrtime.bigint();
          if (record && mode === 'ttfb') samples.push(Number(first - t0) / 1e6);
        }
      });
      res.on('end', () => {
        if (record && mode !== 'ttfb') samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
        finish(first !== null);
      });
      res.on('error', () => finish(false));
    });
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
    req.on('error', () => finish(false));
    req.end(body);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  // Warm up: open the connections and let the target settle.
  for (let i = 0; i < warmup; i += conns) {
    await Promise.all(Array.from({ length: Math.min(conns, warmup - i) }, () => one(false)));
  }
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const start = performance.now();
  const pending = [];
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    else if (wait < -interval) late++;
    if (inflight >= conns) late++;  // will queue in the agent
    pending.push(one(true));
  }
  await Promise.all(pending);
  agent.destroy();
  samples.sort((a, b) => a - b);
  const pct = (p) => samples.length
    ? samples[Math.min(samples.length - 1, Math.ceil((p / 100) * samples.length) - 1)] : NaN;
  const r3 = (x) => Math.round(x * 1000) / 1000;
  console.log(JSON.stringify({
    n: samples.length, errors, late,
    p50_ms: r3(pct(50)), p90_ms: r3(pct(90)), p99_ms: r3(pct(99)), max_ms: r3(pct(100)),
  }));
}
main().catch((e) => { console.error(e); process.exit(1); });

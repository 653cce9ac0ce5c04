// bench/routing_shadow.mjs — the end-to-end shadow simulation of issue #22:
// a stream of one domain's TRAIN rows through the REAL daemon and the
// simulated provider (`frugal sim --say-table`), with the data set's label
// standing in for the judge: for a sampled call the judge's request quotes
// the client's prompt, and the sim answers it "tie" (label 1, the weak
// model sufficed) or "A" (in both orders: label 0, the frontier was
// needed), with `noise` of the verdicts flipped.  The route learns
// (routes[].learn, retraining in the daemon, built-in weights as the
// start); the same stream also goes through a static route (the shipped
// weights pinned) and straight to the frontier model.  At checkpoints:
//   - cumulative cost: the learning route's calls + its shadow and judge
//     calls (ledger rows under routing_eval), the static route, always-frontier;
//   - quality kept on the stream (a cheap answer counts its clean label, a
//     frontier answer counts 1) and on the domain's HELD-OUT rows sent as
//     streamed calls (never sampled, so they teach the route nothing).
// The prompts are sent as they are in the data set (no marker in the text:
// the router sees exactly the data set's words).
import { spawn, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sayLine } from './routing_say.mjs';
import { BIN, WEIGHTS, f3, held, pct, rng, sample, tmpPath, train } from './routing_lib.mjs';

const CHEAP = 'gpt-4o-mini', FRONTIER = 'gpt-4o';

function start(args, ready, name) {
  const p = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const m = new Promise((res, rej) => {
    const look = (d) => {
      out += d;
      const x = out.match(ready);
      if (x) res(x);
    };
    p.stdout.on('data', look);
    p.stderr.on('data', look);
    p.on('exit', (c) => rej(new Error(`${name} exited ${c}: ${out.slice(-2000)}`)));
  });
  return { p, ready: m, log: () => out };
}
const stop = (s) => new Promise((res) => {
  if (s.p.exitCode !== null) return res();
  s.p.on('exit', res);
  s.p.kill('SIGTERM');
});

async function pool(items, n, fn) {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (i < items.length) {
      const k = i++;
      await fn(items[k], k);
    }
  }));
}

async function metrics(url) {
  const t = await (await fetch(`${url}/metrics`)).text();
  const m = new Map();
  for (const l of t.split('\n')) if (l && !l.startsWith('#')) m.set(l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1)));
  return m;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function shadowSim({ domain = 'math', rows: nrows = Infinity, noise = 0, sampleRate = 0.25,
  retrainEvery = 50, checkpoints = [100, 250, 500, 750], seed = 1, qualityTarget = 0, log = console.log } = {}) {
  const stream = sample(train.filter((r) => r.domain === domain), nrows, seed);
  const probe = held.filter((r) => r.domain === domain);
  const r = rng(seed * 7 + 3);
  const said = new Map(); // prompt -> verdict the judge gives
  for (const x of stream) {
    const label = r() < noise ? !x.weak_suffices : x.weak_suffices;
    said.set(x.prompt, label ? 'tie' : 'A');
  }
  const table = tmpPath('say.jsonl');
  writeFileSync(table, [...said].map(([p, v]) => sayLine(p, v)).join('\n') + '\n');
  const dir = tmpPath('daemon');
  execFileSync('mkdir', ['-p', dir]);
  const sim = start(['sim', '--listen', '127.0.0.1:0', '--say-table', table], /frugal sim listening on (http:\/\/\S+)/, 'sim');
  let fr;
  try {
    return await run(await sim.ready);
  } finally { // never leave a daemon behind, even when a step failed
    if (fr) await stop(fr);
    await stop(sim);
  }

  async function run([, simUrl]) {
    const cfg = {
      server: { listen: '127.0.0.1:0', workers: 2 },
      storage: `sqlite:${join(dir, 'ledger.db')}`,
      providers: [{ name: 'sim', type: 'sim', base_url: simUrl }],
      models: [{ name: CHEAP, provider: 'sim' }, { name: FRONTIER, provider: 'sim' }],
      routes: [
        { name: 'learn', cheap: CHEAP, frontier: FRONTIER,
          learn: { sample: sampleRate, judge: FRONTIER, budget_usd_per_day: 1000, retrain_every: retrainEvery },
          ...(qualityTarget ? { quality_target: qualityTarget } : {}) },
        { name: 'static', cheap: CHEAP, frontier: FRONTIER, weights: WEIGHTS },
      ],
    };
    const cfgFile = join(dir, 'frugal.yaml');
    writeFileSync(cfgFile, JSON.stringify(cfg, null, 1));
    fr = start(['serve', '-c', cfgFile], /frugal listening on (http:\/\/[^\s]+) \(/, 'frugal');
    const url = (await fr.ready)[1].replace(/\/$/, '');
    const ask = async (model, prompt, stream = false) => {
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: prompt }], ...(stream ? { stream } : {}) }),
      });
      await res.text();
      if (res.status !== 200) throw new Error(`${model}: HTTP ${res.status}`);
      return { model: res.headers.get('x-frugal-model'), cost: Number(res.headers.get('x-frugal-cost-usd') ?? 0) };
    };
    const acc = { learn: 0, static: 0, frontier: 0, qLearn: 0, qStatic: 0, n: 0 };
    const kept = (x, model) => (model === FRONTIER ? 1 : x.weak_suffices ? 1 : 0);
    // the learning route's shadow and judge calls, from the ledger
    const evalCost = () => {
      const q = (like) => Number(execFileSync('sqlite3', [join(dir, 'ledger.db'),
        "SELECT coalesce(sum(cost_pico), 0) FROM calls WHERE route = 'routing_eval' AND tags LIKE '%route=learn%' " +
        `AND route_reason LIKE '${like}'`]).toString().trim()) / 1e12;
      const shadow = q('shadow%'), judge = q('judge%');
      return { usd: q('%'), shadow, judge };
    };
    // every sampled evaluation ended and the ledger has written it all
    const settle = async () => {
      for (let t = 0; t < 600; t++) {
        const m = await metrics(url);
        const g = (o) => m.get(`frugal_routing_eval_total{route="learn",outcome="${o}"}`) ?? 0;
        if (g('sampled') === g('label_ok') + g('label_worse') + g('unlabelled') && m.get('frugal_ledger_queue_depth') === 0)
          return { labels: g('label_ok') + g('label_worse'), unlabelled: g('unlabelled') };
        await sleep(100);
      }
      throw new Error('shadow evaluations did not settle');
    };
    const probeQuality = async (model) => {
      let q = 0, fs = 0;
      await pool(probe, 6, async (x) => {
        const a = await ask(model, x.prompt, true);
        q += kept(x, a.model);
        fs += a.model === FRONTIER;
      });
      return { q: q / probe.length, share: fs / probe.length };
    };
    log(`\n### Shadow simulation: ${domain}, ${stream.length} train rows streamed, judge = the data set's label` +
      `${noise ? ` with ${Math.round(noise * 100)}% of verdicts flipped` : ' (clean)'}, sample ${sampleRate}, retrain every ${retrainEvery} labels` +
      `${qualityTarget ? `, quality_target ${qualityTarget}` : ''}\n`);
    log('| rows | labels | fits swapped in / run | learning route: calls + learning = total | static route | always frontier | ' +
      'learning vs static | stream quality kept: learning / static | held-out quality kept (frontier share): learning / static |');
    log('|---:|---:|---:|---|---:|---:|---:|---|---|');
    const staticHeld = await probeQuality('static');
    const marks = [...checkpoints.filter((c) => c < stream.length), stream.length];
    let at = 0;
    const rowsOut = [];
    for (const mark of marks) {
      await pool(stream.slice(at, mark), 6, async (x) => {
        const [l, s, f] = await Promise.all([ask('learn', x.prompt), ask('static', x.prompt), ask(FRONTIER, x.prompt)]);
        acc.learn += l.cost;
        acc.static += s.cost;
        acc.frontier += f.cost;
        acc.qLearn += kept(x, l.model);
        acc.qStatic += kept(x, s.model);
      });
      at = mark;
      const st = await settle();
      await sleep(2500); // the retraining thread ticks once a second
      const fits = (fr.log().match(/swapped in/g) ?? []).length, runs = (fr.log().match(/fitted version/g) ?? []).length;
      const ev = evalCost();
      const h = await probeQuality('learn');
      const total = acc.learn + ev.usd;
      const row = { rows: mark, labels: st.labels, fits, runs, learnCalls: acc.learn, learnEval: ev.usd, total,
        shadow: ev.shadow, judge: ev.judge,
        static: acc.static, frontier: acc.frontier, qLearn: acc.qLearn / mark, qStatic: acc.qStatic / mark, held: h, staticHeld };
      rowsOut.push(row);
      log(`| ${mark} | ${st.labels} | ${fits} / ${runs} | $${acc.learn.toFixed(4)} + $${ev.usd.toFixed(4)} = $${total.toFixed(4)} | ` +
        `$${acc.static.toFixed(4)} | $${acc.frontier.toFixed(4)} | ${(total / acc.static).toFixed(2)}× | ` +
        `${f3(row.qLearn)} / ${f3(row.qStatic)} | ${f3(h.q)} (${pct(h.share)}) / ${f3(staticHeld.q)} (${pct(staticHeld.share)}) |`);
    }
    const fitsLog = fr.log().split('\n').filter((l) => /fitted version/.test(l))
      .map((l) => l.replace(/^.*route learn: /, ''));
    const last = rowsOut.at(-1);
    log(`\nLearning cost: $${(last.learnEval / Math.max(1, last.labels)).toFixed(5)} per label ` +
      `(shadow calls $${last.shadow.toFixed(4)}, judge calls $${last.judge.toFixed(4)}); ` +
      `a client call costs $${(last.learnCalls / last.rows).toFixed(5)} on average. The daemon's fits:`);
    for (const l of fitsLog) log(`- ${l}`);
    return { rows: rowsOut, fits: fitsLog };
  }
}

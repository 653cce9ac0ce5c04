// bench/routing_tune.mjs — the prior strength lambda of the daemon's
// retraining (FG_ROUTE_TOOL_PRIOR_LAMBDA), chosen by cross-validation
// WITHIN the train file: for each train fold f, a generic prior fitted on
// the other folds (never on f), k of a domain's own labels drawn from the
// other folds fitted on it at each lambda, APGR on the domain's fold-f
// rows.  The held-out file is not read.
import { apgr, f3, fitOnPrior, genericPrior, mean, sample, train } from './routing_lib.mjs';

export const LAMBDAS = [0.01, 0.1, 0.3, 1, 3, 10, 30];
// "per label": lambda = c / k, the MAP form (the labels' summed loss
// against a fixed prior), so more labels move the weights further
export const PER_LABEL = [10, 30, 100, 300, 1000];
const KS = [100, 200, 500];
const FOLDS = [1, 2, 3, 4];

export function tunePrior({ draws = 1, perLabel = false, log = console.log } = {}) {
  const grid = perLabel ? PER_LABEL : LAMBDAS;
  const lam = (c, k) => (perLabel ? c / k : c);
  const name = (c) => (perLabel ? `λ=${c}/k` : `λ=${c}`);
  log('\n## Prior strength: cross-validated within the train file (held-out not read)\n');
  log(`For each train fold f: a generic prior fitted on the other folds, k own labels of the domain drawn ` +
    `from the other folds (${draws} draw(s)), fitted on that prior at each lambda; mean APGR on the ` +
    'domain\'s fold-f rows. "prior only" is the fold prior unchanged.\n');
  const priors = Object.fromEntries(FOLDS.map((f) => [f, genericPrior((r) => r.fold !== f, `prior-not${f}`)]));
  const res = {}; // res[dom][k][lambda] = mean APGR
  const base_ = {}; // base_[dom/k] = the fold priors' APGRs
  log('| domain | k | prior only | ' + grid.map(name).join(' | ') + ' | best |');
  log('|---|---:|---:|' + grid.map(() => '---:').join('|') + '|---|');
  for (const dom of ['math', 'code', 'chat', 'knowledge']) {
    res[dom] = {};
    for (const k of KS) {
      const cells = Object.fromEntries(grid.map((l) => [l, []]));
      const base = [];
      let ok = true;
      for (const f of FOLDS) {
        const pool = train.filter((r) => r.domain === dom && r.fold !== f);
        const val = train.filter((r) => r.domain === dom && r.fold === f);
        if (pool.length < k) {
          ok = false;
          break;
        }
        base.push(apgr(priors[f], val));
        for (let d = 0; d < draws; d++) {
          const rows = sample(pool, k, 7919 * k + 31 * f + d + 1);
          for (const l of grid) cells[l].push(apgr(fitOnPrior(rows, priors[f], lam(l, k)), val));
        }
      }
      if (!ok) continue;
      base_[`${dom}/${k}`] = mean(base);
      const m = Object.fromEntries(grid.map((l) => [l, mean(cells[l])]));
      res[dom][k] = m;
      const best = grid.reduce((a, b) => (m[b] > m[a] ? b : a));
      log(`| ${dom} | ${k} | ${f3(mean(base))} | ${grid.map((l) => f3(m[l])).join(' | ')} | ${name(best)} |`);
    }
  }
  // one lambda for every route: the best mean over every (domain, k) cell
  const all = Object.values(res).flatMap((byK) => Object.values(byK));
  const overall = Object.fromEntries(grid.map((l) => [l, mean(all.map((m) => m[l]))]));
  const best = grid.reduce((a, b) => (overall[b] > overall[a] ? b : a));
  const prior = mean(Object.values(base_).flat());
  log(`| **mean of the cells** | | ${f3(prior)} | ${grid.map((l) => f3(overall[l])).join(' | ')} | **${name(best)}** |`);
  return { best, overall, prior };
}

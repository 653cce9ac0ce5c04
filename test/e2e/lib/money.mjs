// Exact money arithmetic for tests: pico-USD (1e-12) BigInts, the way the
// ledger counts, and the 6-decimal strings frugal prints.

export const addTokens = (a, b) => {
  for (const k of Object.keys(a)) a[k] += b[k];
  return a;
};

export const tokensAsNumbers = (t) =>
  Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Number(v)]));

/* pico → micro-USD, half away from zero. */
export function picoToMicro(pico) {
  const neg = pico < 0n;
  const a = neg ? -pico : pico;
  const m = (a + 500000n) / 1000000n;
  return neg ? -m : m;
}

/* pico → "0.001234" (6 decimals; no "-0.000000"). */
export function usd6(pico) {
  const m = picoToMicro(pico);
  const a = m < 0n ? -m : m;
  return `${m < 0n ? '-' : ''}${a / 1000000n}.${String(a % 1000000n).padStart(6, '0')}`;
}

/* A USD number of the spend map (≤ 6 decimals) → micro-USD. */
export const microOf = (x) => BigInt(Math.round(x * 1e6));

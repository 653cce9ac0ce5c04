// lib/prompts.mjs — prompt material for the prompt-cache tests
// (caching.test.mjs on one daemon, rcache.test.mjs across replicas): long
// deterministic prompts that are cacheable prefixes, and the cache_control
// markers frugal placed in what the provider got.

/* A deterministic prompt of `chars` characters (~chars/4 tokens), unique per
 * tag from its first byte on. */
export function prompt(tag, chars = 12000) {
  let s = `[${tag}] `;
  for (let i = 1; s.length < chars; i++)
    s += `Rule ${tag}-${String(i).padStart(4, '0')}: answer politely, cite the section, never invent a price. `;
  return s.slice(0, chars);
}

/* Every cache_control marker in a JSON value: [{path, value}]. */
export function markers(v, path = '$', out = []) {
  if (Array.isArray(v)) v.forEach((x, i) => markers(x, `${path}[${i}]`, out));
  else if (v && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) {
      if (k === 'cache_control') out.push({ path, value: x });
      else markers(x, `${path}.${k}`, out);
    }
  return out;
}

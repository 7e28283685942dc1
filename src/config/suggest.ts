// "Did you mean" for unknown keys: the nearest known key by edit distance, if it is close
// enough that the typo is the likely explanation.

export function editDistance(a: string, b: string): number {
  // Optimal string alignment distance (Levenshtein plus adjacent transposition), since
  // swapped letters ("adress"/"addrses") are the most common typo in keys.
  const m = a.length;
  const n = b.length;
  const d: number[][] = Array.from({ length: m + 1 }, (_, i) => Array.from({ length: n + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= m; i++) {
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const row = d[i]!;
      const prev = d[i - 1]!;
      let v = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      row[j] = v;
    }
  }
  return d[m]![n]!;
}

/** The closest candidate within a typo-sized distance, or null. */
export function closest(word: string, candidates: readonly string[]): string | null {
  const w = word.toLowerCase().replace(/-/g, '_');
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const dist = editDistance(w, c.toLowerCase());
    if (dist < bestD) {
      bestD = dist;
      best = c;
    }
  }
  const budget = Math.max(1, Math.floor(word.length / 3));
  if (best !== null && bestD <= budget) return best;
  // A key with something added or cut off: "batch_size" for "batch", "addr" for "address".
  for (const c of candidates) {
    const k = c.toLowerCase();
    if (Math.min(k.length, w.length) >= 4 && (w.startsWith(k) || k.startsWith(w))) return c;
  }
  return null;
}

/**
 * "did you mean --store?": the known name nearest to a mistyped one, when it is near enough to
 * be what was meant. Distance is optimal string alignment (Levenshtein plus swapped neighbours,
 * the commonest typo), case ignored; a known name that starts with what was typed also counts
 * (`--max-f` for `--max-frame-bytes`) when it is the only one.
 */
export function nearest(typed: string, known: readonly string[]): string | undefined {
  const t = typed.toLowerCase();
  // Allow one edit in short names, two from six characters, three from twelve.
  const limit = t.length < 6 ? 1 : t.length < 12 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const d = distance(t, name.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  if (best !== undefined && bestDistance <= limit) return best;
  const prefixed = t.length >= 3 ? known.filter((name) => name.toLowerCase().startsWith(t)) : [];
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** `; did you mean X?` or nothing, for the end of a message. */
export function didYouMean(typed: string, known: readonly string[], show: (name: string) => string = (n) => n): string {
  const match = nearest(typed, known);
  return match === undefined ? '' : `; did you mean ${show(match)}?`;
}

function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The message for a sub-command that does not exist: the nearest one, then all of them. */
export function unknownCommand(typed: string, commands: readonly string[]): string {
  const hint = didYouMean(typed, commands);
  return `unknown command ${JSON.stringify(typed)}${hint ? `${hint} Commands` : '; commands'}: ${commands.join(', ')}`;
}

/**
 * The command lines util.parseArgs has nothing to decide about, read without it: only long
 * options of known names, `--name value` or `--name=value` for a string, `--name` alone for a
 * boolean, a value that does not look like an option. What such a line means is the same under
 * parseArgs (strict, the last of a repeated option wins), so the result is the same.
 *
 * Anything else (a positional, `--`, a short option, an unknown name, a value that starts with
 * a dash, a missing value, `--flag=x`) returns undefined and goes to parseArgs, which accepts or
 * refuses it with its own words. The reason is start-up cost: the first use of parseArgs loads
 * and compiles its two modules, 5% of a Node start (callgrind), paid by the per-connection
 * receiver for every connection, whose command line (receiver.env) is always this simple.
 */
export function readSimpleArgv(
  args: readonly string[],
  flags: Readonly<Record<string, { type: 'string' | 'boolean' }>>,
): { values: Record<string, string | boolean>; positionals: string[] } | undefined {
  const values: Record<string, string | boolean> = Object.create(null);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--') || arg.length === 2) return undefined;
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const type = Object.hasOwn(flags, name) ? flags[name]!.type : undefined;
    if (type === undefined) return undefined;
    if (type === 'boolean') {
      if (eq >= 0) return undefined;
      values[name] = true;
    } else if (eq >= 0) {
      values[name] = arg.slice(eq + 1);
    } else {
      const value = args[++i];
      if (value === undefined || value.startsWith('-')) return undefined;
      values[name] = value;
    }
  }
  return { values, positionals: [] };
}

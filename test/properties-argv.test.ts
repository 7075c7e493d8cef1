import fc from 'fast-check';
import { parseArgs } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadOptions } from '../packages/shared/src/options.ts';
import { readSimpleArgv } from '../packages/shared/src/simple-argv.ts';

// The command lines read without util.parseArgs (simple-argv.ts) must mean what parseArgs makes
// of them, and every other line must be left to parseArgs: checked against parseArgs itself.

const flags = { store: { type: 'string' }, 'min-free': { type: 'string' }, help: { type: 'boolean' }, config: { type: 'string' } } as const;

/** What parseArgs makes of `args`, as loadOptions asks it, or the message it refuses them with. */
function byParseArgs(args: string[]) {
  try {
    const { values, positionals } = parseArgs({ args, options: flags, allowPositionals: true, strict: true });
    return { values: { ...values }, positionals };
  } catch (e) {
    return { refused: (e as Error).message };
  }
}

// Words that make up command lines: options known and unknown, values, dashes and equals signs.
const word = fc.constantFrom('--store', '--min-free', '--help', '--config', '--stor', '--no-help', '-s', '-', '--', '--store=', '--store=/a', '--help=true', '--min-free=-1', '/var/lib/x', '0', '512MiB', '', '-1', '--=x', '--__proto__', 'receive');

describe('command lines read without util.parseArgs', () => {
  it('mean what parseArgs makes of them, and whatever it would refuse is left to it', () => {
    fc.assert(
      fc.property(fc.array(word, { maxLength: 6 }), (args) => {
        const simple = readSimpleArgv(args, flags);
        const full = byParseArgs(args);
        if (simple === undefined) return;
        expect(full).not.toHaveProperty('refused');
        expect({ values: { ...simple.values }, positionals: simple.positionals }).toEqual(full);
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    [['--store', '/s', '--min-free', '0']],
    [['--store=/s', '--help']],
    [['--store', '/a', '--store', '/b']],
    [['--store', '']],
    [[]],
  ])('takes %j itself', (args) => {
    expect(readSimpleArgv(args, flags)).toBeDefined();
  });

  it.each([
    [['receive']],
    [['--store']],
    [['--store', '--help']],
    [['--store', '-']],
    [['--help=yes']],
    [['-s', 'x']],
    [['--', '--store']],
    [['--stor', 'x']],
    [['--toString', 'x']],
  ])('leaves %j to parseArgs', (args) => {
    expect(readSimpleArgv(args, flags)).toBeUndefined();
  });

  it('keeps parseArgs refusals word for word through loadOptions', () => {
    const spec = { store: { kind: 'path', description: 's' } } as const;
    expect(() => loadOptions(spec, ['--store'], {})).toThrow("Option '--store <value>' argument missing");
    expect(() => loadOptions(spec, ['--stor', 'x'], {})).toThrow("Unknown option '--stor'; did you mean --store?");
    expect(loadOptions(spec, ['--store', '/a', '--store=/b'], {}).values.store).toBe('/b');
  });
});

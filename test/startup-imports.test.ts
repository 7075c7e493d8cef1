import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers/receiver.ts';

/**
 * The per-connection receiver (dist/entry.cjs, started once per connection under Accept=yes)
 * must stay lean: it may hold only the connection path (src/receive/), the store (src/store/),
 * the camera keys it checks handshakes against (src/keys/, but not their CLI) and packages/shared, and load nothing heavy. Read from the build's own metafile, so that a
 * stray import anywhere on that path fails here, not in a benchmark weeks later.
 */

interface Metafile {
  inputs: Record<string, unknown>;
  outputs: Record<string, { imports: { path: string; kind: string; external?: boolean }[] }>;
}

const RECEIVER = join(ROOT, 'packages/receiver');
const HEAVY = /(^|\/)(pino|date-fns|@date-fns|sharp|chokidar|send|playwright-core|mqtt|@nats-io)(\/|$)/;

describe('the per-connection bundle', () => {
  let meta: Metafile;
  beforeAll(() => {
    execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), 'receiver'], { cwd: ROOT, stdio: 'pipe' });
    meta = JSON.parse(readFileSync(join(RECEIVER, 'dist/entry.meta.json'), 'utf8')) as Metafile;
  }, 120_000);

  it('bundles only src/receive/, src/store/, src/keys/ (not the camera command) and packages/shared (and the entry itself)', () => {
    const inputs = Object.keys(meta.inputs);
    expect(inputs).toContain('src/entry.ts');
    expect(inputs.some((p) => p.startsWith('src/receive/'))).toBe(true);
    const outside = inputs.filter((p) => p !== 'src/entry.ts' && !/^(src\/receive\/|src\/store\/|src\/keys\/|\.\.\/shared\/)/.test(p));
    expect(inputs).not.toContain('src/keys/camera-command.ts');
    expect(outside).toEqual([]);
  });

  it('requires only node: built-ins at start-up; anything else only on demand, and nothing heavy', () => {
    const imports = Object.values(meta.outputs).flatMap((o) => o.imports);
    const atStart = imports.filter((i) => i.kind !== 'dynamic-import').map((i) => i.path);
    expect(atStart.filter((p) => !p.startsWith('node:'))).toEqual([]);
    const onDemand = [...new Set(imports.filter((i) => i.kind === 'dynamic-import').map((i) => i.path))].sort();
    // The full CLI and the listener (other modes), the store watcher (the gallery's), and
    // date-fns only for a custom --name-pattern, the NATS store
    // only for --store nats://: none of them runs for a default connection.
    expect(onDemand).toEqual(['./cli.js', './file-watch.js', './listener.js', './open-nats.js', '@date-fns/utc', 'date-fns/format', 'date-fns/parse']);
    expect(atStart.filter((p) => HEAVY.test(p))).toEqual([]);
    expect(Object.keys(meta.inputs).filter((p) => p.includes('node_modules'))).toEqual([]);
  });
});

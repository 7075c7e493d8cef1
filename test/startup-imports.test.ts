import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, ROOT, startReceiver, tempDir } from './helpers/receiver.ts';

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

/**
 * Built-in modules cost the per-connection receiver too: each one it loads is read and compiled
 * at every connection. These are the ones it once loaded without needing them (node:net and its
 * streams for a plaintext connection, perf_hooks through the global `performance`, parseArgs'
 * modules for a plain command line, node:os at load, node:tty and node:crypto).
 */
const NOT_FOR_ONE_FRAME = ['net', 'tls', 'crypto', 'tty', 'os', 'perf_hooks', 'internal/util/parse_args/parse_args', 'stream'];

describe('the per-connection receiver at run time', () => {
  const dir = tempDir('startup-modules-');
  afterAll(() => dir.remove());

  it('stores a plaintext frame without loading the built-ins it does not need', async () => {
    // Preloaded: says at exit which built-ins the process loaded after start-up.
    const preload = join(dir.path, 'modules.cjs');
    writeFileSync(preload, "const at = new Set(process.moduleLoadList);\nprocess.on('exit', () => require('fs').writeSync(2, 'LOADED ' + JSON.stringify(process.moduleLoadList.filter((m) => !at.has(m))) + '\\n'));\n");
    const receiver = await startReceiver('inetd', join(dir.path, 'store'), ['--min-free', '0'], { NODE_OPTIONS: `--require ${preload}` });
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        let text = '';
        const socket = connect({ port: receiver.port, host: '127.0.0.1', allowHalfOpen: true });
        socket.on('connect', () => socket.end(readFileSync(join(FIXTURES, 'jpeg/cjpeg-baseline.jpg'))));
        socket.on('data', (d) => (text += d));
        socket.on('error', reject);
        socket.on('close', () => resolve(text));
      });
      expect(answer).toMatch(/^OK /);
      while (!/LOADED /.test(receiver.stderr())) await new Promise((r) => setTimeout(r, 20));
      const loaded = (JSON.parse(/LOADED (.*)/.exec(receiver.stderr())![1]!) as string[]).map((m) => m.replace(/^NativeModule /, ''));
      expect(loaded.filter((m) => NOT_FOR_ONE_FRAME.includes(m))).toEqual([]);
    } finally {
      await receiver.stop();
    }
  }, 30_000);
});

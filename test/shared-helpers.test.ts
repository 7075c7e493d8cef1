import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import sharpLib from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DurableFile,
  EXIT,
  formatBytes,
  formatDuration,
  formatDurationOption,
  formatSizeOption,
  fsError,
  loadOptions,
  resolveStateFolder,
  SurveillanceError,
  tempOwner,
  writeFileDurably,
} from '@surveillance/shared';
import { DEFAULT_PIXEL_LIMIT, loadSharp } from '@surveillance/shared/sharp';
import { cleanEnv, ROOT, tempDir } from './helpers/receiver.ts';

const tmp = tempDir('shared-helpers-');
afterAll(() => tmp.remove());

describe('DurableFile', () => {
  it('appears under its name whole, by rename, and leaves no temporary file', () => {
    const dir = join(tmp.path, 'rename');
    mkdirSync(dir);
    const file = DurableFile.create(dir);
    expect(tempOwner(file.tempPath.slice(dir.length + 1))).toBe(process.pid);
    file.write(Buffer.from('hello '));
    file.write(Buffer.from('world'));
    expect(existsSync(join(dir, 'out.txt'))).toBe(false);
    expect(file.commit(join(dir, 'out.txt'), { how: 'rename' })).toBe(true);
    expect(readFileSync(join(dir, 'out.txt'), 'utf8')).toBe('hello world');
    expect(file.bytes).toBe(11);
    expect(readdirSync(dir)).toEqual(['out.txt']);
  });

  it('by link refuses an existing name (the DUP rule) and keeps the first copy', () => {
    const dir = join(tmp.path, 'link');
    mkdirSync(dir);
    const first = DurableFile.create(dir);
    first.write(Buffer.from('first'));
    expect(first.commit(join(dir, 'a/b/frame.jpg'), { how: 'link', mtime: new Date(Date.UTC(2026, 0, 2)) })).toBe(true);
    const second = DurableFile.create(dir);
    second.write(Buffer.from('second'));
    expect(second.commit(join(dir, 'a/b/frame.jpg'), { how: 'link' })).toBe(false);
    expect(readFileSync(join(dir, 'a/b/frame.jpg'), 'utf8')).toBe('first');
    expect(statSync(join(dir, 'a/b/frame.jpg')).mtime.toISOString()).toBe('2026-01-02T00:00:00.000Z');
    expect(readdirSync(dir)).toEqual(['a']); // missing folders were made; no temporary file left
  });

  it('abort drops everything written', () => {
    const dir = join(tmp.path, 'abort');
    mkdirSync(dir);
    const file = DurableFile.create(dir);
    file.write(Buffer.alloc(1000));
    file.abort();
    file.abort();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('writeFileDurably writes beside the target (hidden) or through a temp folder', () => {
    const dir = join(tmp.path, 'oneshot');
    mkdirSync(join(dir, 'tmp'), { recursive: true });
    writeFileDurably(join(dir, 'a.json'), '{"a":1}\n');
    writeFileDurably(join(dir, 'b.bin'), Buffer.from([1, 2, 3]), { tempFolder: join(dir, 'tmp'), sync: false });
    expect(readFileSync(join(dir, 'a.json'), 'utf8')).toBe('{"a":1}\n');
    expect([...readFileSync(join(dir, 'b.bin'))]).toEqual([1, 2, 3]);
    expect(readdirSync(dir).sort()).toEqual(['a.json', 'b.bin', 'tmp']);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  it('fails on an unwritable place before any work, with an errno error for fsError', () => {
    let thrown: unknown;
    try {
      DurableFile.create(join(tmp.path, 'no-such-folder'));
    } catch (e) {
      thrown = e;
    }
    expect(fsError('cannot write out.jpg', thrown, 'output')).toMatchObject({ code: 'cannot-write', message: 'cannot write out.jpg: ENOENT: no such file or directory' });
    expect(fsError('cannot store', thrown, 'store')).toMatchObject({ code: 'store-failed' });
  });
});

describe('fsError', () => {
  const enospc = Object.assign(new Error("ENOSPC: no space left on device, write '/s/.incoming/1-a.part'"), { code: 'ENOSPC' });
  it('maps a full disk by whose file it is', () => {
    expect(fsError('cannot store x', enospc, 'store')).toMatchObject({ code: 'store-full', message: 'cannot store x: ENOSPC: no space left on device' });
    expect(fsError('cannot write x', enospc, 'output')).toMatchObject({ code: 'cannot-write' });
  });
  it('leaves a bug a bug', () => {
    const bug = new TypeError('x is not a function');
    expect(fsError('cannot store x', bug, 'store')).toBe(bug);
  });
});

describe('human units', () => {
  it.each([
    [1024, '1KiB'],
    [64 * 1024, '64KiB'],
    [256 * 1024 * 1024, '256MiB'],
    [1000, '1000'],
    [1536, '1536'],
  ])('size %d as an option value is %s', (bytes, text) => expect(formatSizeOption(bytes)).toBe(text));
  it.each([
    [10, '10ms'],
    [1500, '1500ms'],
    [1000, '1s'],
    [60_000, '1m'],
    [600_000, '10m'],
    [86_400_000, '1d'],
    [0, '0ms'],
  ])('duration %d ms as an option value is %s', (ms, text) => expect(formatDurationOption(ms)).toBe(text));
  it('rounds for people', () => {
    expect(formatBytes(3.4 * 1024 * 1024)).toBe('3.4 MiB');
    expect(formatDuration(3 * 3_600_000 + 20 * 60_000)).toBe('3h 20m');
  });
});

describe('option limits and defaults in the units the user types', () => {
  const spec = {
    wait: { kind: 'duration', description: 'd', default: 1000, min: 10, max: 3_600_000 },
    room: { kind: 'size', description: 's', default: 1024 * 1024, min: 1024 },
  } as const;
  it.each([
    [['--wait', '5ms'], 'option wait (from --wait): "5ms" is not valid: must be at least 10ms'],
    [['--wait', '2h'], 'option wait (from --wait): "2h" is not valid: must be at most 1h'],
    [['--room', '100'], 'option room (from --room): "100" is not valid: must be at least 1KiB'],
  ])('%j', (argv, message) => {
    expect(() => loadOptions(spec, argv, {})).toThrow(new SurveillanceError('usage', message));
  });
});

describe('resolveStateFolder', () => {
  it('takes the option, else the first StateDirectory=, else says what to pass', () => {
    expect(resolveStateFolder('/x', 'spool', { STATE_DIRECTORY: '/a:/b' })).toBe('/x');
    expect(resolveStateFolder(undefined, 'spool', { STATE_DIRECTORY: '/a:/b' })).toBe('/a');
    expect(() => resolveStateFolder(undefined, 'store', {})).toThrow('no store folder: pass --store DIR or set SURVEILLANCE_STORE');
  });
});

describe('sharp loader', () => {
  it('refuses an image above the pixel limit before decoding it, and takes one below', async () => {
    const jpeg = await sharpLib({ create: { width: 200, height: 100, channels: 3, background: '#808080' } }).jpeg().toBuffer();
    const small = await loadSharp({ limitInputPixels: 10_000 });
    await expect(small(jpeg).raw().toBuffer()).rejects.toThrow(/pixel limit/i);
    const usual = await loadSharp();
    expect((await usual(jpeg).metadata()).width).toBe(200);
    expect(DEFAULT_PIXEL_LIMIT).toBe(50_000_000); // the scanner's DEFAULT_MAX_PIXELS: what a receiver accepts decodes
  });
});

/** A small program of its own, bundled as the real ones are: exit statuses and signals are the point. */
function program(source: string): string {
  const outfile = join(tmp.path, `program-${Math.random().toString(36).slice(2)}.mjs`);
  buildSync({ stdin: { contents: source, resolveDir: ROOT, loader: 'ts' }, bundle: true, platform: 'node', format: 'esm', outfile, logLevel: 'warning' });
  return outfile;
}

function runMainScript(body: string) {
  const script = program(`import { runMain, SurveillanceError } from './packages/shared/src/index.ts';\nawait runMain('prog', async () => { ${body} });\n`);
  return spawnSync(process.execPath, [script], { env: cleanEnv(), encoding: 'utf8', timeout: 20_000 });
}

describe('runMain', () => {
  it('ends a bug (not a SurveillanceError) with its stack and status 70, apart from every operational status', () => {
    const r = runMainScript("throw new TypeError('x');");
    expect(r.status).toBe(EXIT.software);
    expect(r.stderr).toMatch(/^prog: internal error: TypeError: x\n\s+at /);
  });
  it("ends an 'internal' error with the original's stack and status 70", () => {
    const r = runMainScript("throw new SurveillanceError('internal', 'wrapped', { cause: new RangeError('deep') });");
    expect(r.status).toBe(70);
    expect(r.stderr).toMatch(/^prog: internal error: RangeError: deep\n\s+at /);
  });
  it('ends an operational error with one line and its own status', () => {
    const r = runMainScript("throw new SurveillanceError('unreachable', 'receiver down');");
    expect([r.status, r.stderr]).toEqual([EXIT.unavailable, 'prog: unreachable: receiver down\n']);
  });
});

describe('stopSignal', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('resolves with %s', async (signal) => {
    const script = program(`import { stopSignal } from './packages/shared/src/index.ts';\nconst alive = setInterval(() => {}, 1000); // a daemon's work keeps it running; signal handlers do not\nconst stopped = stopSignal();\nprocess.stdout.write('ready\\n');\nprocess.stdout.write(await stopped + '\\n');\nclearInterval(alive);\n`);
    const child = spawn(process.execPath, [script], { env: cleanEnv() });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out === 'ready\n') child.kill(signal);
    });
    const status = await new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    expect([status, out]).toEqual([0, `ready\n${signal}\n`]);
  });
});

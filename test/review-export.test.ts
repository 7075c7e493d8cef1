import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frameName } from '../packages/receiver/src/store/frame-name.ts';
import { cleanEnv, RECEIVER_BIN } from './helpers/receiver.ts';
import { cli, ensureBuilt, TZ } from './helpers/review-cli.ts';
import { storeTempDir, writeStore, type FixtureFrame } from './helpers/store-fixture.ts';
import { needTools } from './helpers/tools.ts';

// export: contact sheets and time-lapses checked as real images (sharp reads them back,
// ffprobe counts MJPEG frames), never a partial file, and the progress bar only on a TTY.

const dir = storeTempDir('review-export-');
const store = join(dir.path, 'store');
const outDir = join(dir.path, 'out');
let frames: FixtureFrame[] = [];

beforeAll(() => {
  ensureBuilt();
  frames = writeStore(store);
  mkdirSync(outDir);
});
afterAll(() => dir.remove());

const onDay = (camera: string, from: string, to: string) => frames.filter((f) => f.camera === camera && f.time >= new Date(from) && f.time < new Date(to));
/** Nothing but finished outputs in the folder: no temporary `.NAME.PID.part` left behind. */
const leftovers = (folder: string) => readdirSync(folder).filter((n) => n.startsWith('.'));

describe('contact sheet', () => {
  it.each([
    ['sheet.jpg', 'jpeg'],
    ['sheet.png', 'png'],
  ])('%s: a grid of the local day the clocks go forward', async (file, format) => {
    const out = join(outDir, file);
    const r = cli(['export', '--store', store, '--camera', 'front', '--day', '2026-03-29', '--max-frames', '24', '--columns', '6', '--width', '160', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`^wrote ${out}: contact sheet of 24 frames \\(of 1380 in range\\) of front, 2026-03-29 00:00:00\\+01:00 \\.\\. 2026-03-29 23:59:00\\+02:00, 988x\\d+, [\\d.]+ KiB\\n$`),
    );
    const meta = await sharp(out).metadata();
    expect(meta.format).toBe(format);
    expect(meta.width).toBe(6 * (160 + 4) + 4);
    // Four rows of 160x120 thumbnails (the fixtures are 4:3) under a title band.
    expect(meta.height).toBeGreaterThan(4 * 124);
    expect(meta.height).toBeLessThan(4 * 124 + 60);
    expect(leftovers(outDir)).toEqual([]);
  });

  it('draws each frame\'s time on it: the label band differs from the same thumbnail without it', async () => {
    const out = join(outDir, 'one.png');
    expect(cli(['export', '--store', store, '--camera', 'front', '--from', '2026-03-29 12:00', '--max-frames', '1', '--width', '160', '--out', out]).status).toBe(0);
    const first = onDay('front', '2026-03-29T10:00:00Z', '2026-03-29T10:01:00Z')[0]!;
    const plain = await sharp(join(store, first.name)).resize(160, 120).removeAlpha().raw().toBuffer();
    const sheet = await sharp(out).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const tileTop = sheet.info.height - 4 - 120;
    const row = (buf: Buffer, width: number, y: number, x0: number) => buf.subarray((y * width + x0) * 3, (y * width + x0 + 160) * 3);
    const diff = (y: number) => {
      const a = row(sheet.data, sheet.info.width, tileTop + y, 4);
      const b = row(plain, 160, y, 0);
      return a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.length;
    };
    expect(diff(40)).toBeLessThan(12); // the picture itself, recompressed
    expect(diff(115)).toBeGreaterThan(30); // the label band at the bottom
  });
});

describe('time-lapse', () => {
  it.each([
    ['lapse.webp', 'webp'],
    ['lapse.gif', 'gif'],
  ])('%s: an animation with one page per frame picked', async (file, format) => {
    const out = join(outDir, file);
    const r = cli(['export', '--store', store, '--camera', 'front', '--day', '2026-10-25', '--max-frames', '12', '--width', '160', '--fps', '4', '--out', out]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('time-lapse of 12 frames (of 750 in range) of front, 2026-10-25 00:00:00+02:00 .. 2026-10-25 23:58:00+01:00, 160x120, 12 frames at 4.0 fps');
    const meta = await sharp(out, { animated: true }).metadata();
    expect(meta).toMatchObject({ format, width: 160, pageHeight: 120, pages: 12, loop: 0 });
    expect(meta.delay).toEqual(new Array(12).fill(250));
  });

  it.skipIf(!needTools('ffprobe'))('mjpeg: the original JPEGs, every --step-th, back to back', () => {
    const out = join(outDir, 'lapse.mjpeg');
    const r = cli(['export', '--store', store, '--camera', 'back-yard', '--day', '2026-03-29', '--step', '10', '--out', out]);
    expect(r.status).toBe(0);
    const picked = onDay('back-yard', '2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z').filter((_, i) => i % 10 === 0);
    expect(picked).toHaveLength(26);
    expect(readFileSync(out)).toEqual(Buffer.concat(picked.map((f) => readFileSync(join(store, f.name)))));
    const probe = spawnSync('ffprobe', ['-v', 'error', '-f', 'mjpeg', '-count_frames', '-show_entries', 'stream=nb_read_frames,width,height', '-of', 'csv=p=0', out], { encoding: 'utf8' });
    expect(probe.stdout.trim()).toBe('320,240,26');
  });

  it('spreads --max-frames evenly from the first frame to the last', () => {
    const out = join(outDir, 'spread.mjpeg');
    cli(['export', '--store', store, '--camera', 'front', '--day', '2026-03-28', '--max-frames', '3', '--out', out]);
    const day = onDay('front', '2026-03-27T23:00:00Z', '2026-03-28T23:00:00Z');
    const expected = [day[0]!, day[Math.round((day.length - 1) / 2)]!, day.at(-1)!];
    expect(readFileSync(out)).toEqual(Buffer.concat(expected.map((f) => readFileSync(join(store, f.name)))));
  });
});

describe('damaged frames and failures', () => {
  const bad = join(dir.path, 'bad');
  beforeAll(() => {
    writeStore(bad, [{ camera: 'porch', from: new Date('2026-05-01T10:00:00Z'), to: new Date('2026-05-01T10:04:00Z'), everyMs: 60_000 }], { litter: false });
    // One frame whose bytes are not a picture, as after a disk error; one camera with nothing readable.
    writeFileSync(join(bad, frameName('porch', new Date('2026-05-01T10:01:30Z'), 'broken')), 'not a jpeg');
    mkdirSync(join(bad, 'attic/2026-05-01'), { recursive: true });
    writeFileSync(join(bad, frameName('attic', new Date('2026-05-01T10:00:00Z'), 'x')), 'garbage');
  });

  it('skips an unreadable frame, says so, and makes the rest', async () => {
    const out = join(outDir, 'porch.webp');
    const r = cli(['export', '--store', bad, '--camera', 'porch', '--width', '160', '--out', out]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^skipped 1 unreadable frame\(s\), first porch\/2026-05-01\/20260501T100130\.000Z_broken\.jpg: .+\n$/);
    expect((await sharp(out, { animated: true }).metadata()).pages).toBe(4);
  });

  it.each([
    ['attic.jpg', 65, 'bad-jpeg: none of the 1 frames picked could be read'],
    ['attic.gif', 65, 'bad-jpeg: none of the 1 frames picked could be read'],
    ['attic.mjpeg', 65, 'bad-jpeg: none of the 1 frames picked could be read'],
  ])('%s from a camera with nothing readable fails, and an existing file stays as it was', (file, status, message) => {
    const out = join(outDir, file);
    writeFileSync(out, 'the previous export');
    const r = cli(['export', '--store', bad, '--camera', 'attic', '--out', out]);
    expect(r.status).toBe(status);
    expect(r.stderr).toContain(`surveillance-receiver: ${message}`);
    expect(readFileSync(out, 'utf8')).toBe('the previous export');
    expect(leftovers(outDir)).toEqual([]);
  });

  const P = 'surveillance-receiver';
  it.each([
    [['--camera', 'front', '--day', '2026-03-29'], 64, `${P}: usage: option --out FILE is required: the file to write (.jpg/.png sheet, .webp/.gif/.mjpeg time-lapse)`],
    [['--camera', 'front', '--out', 'OUT/x.bmp'], 64, `${P}: usage: cannot tell what to make from --out OUT/x.bmp: use .jpg or .png (contact sheet), .webp or .gif (time-lapse) or .mjpeg (time-lapse of the original JPEGs)`],
    [['--camera', 'front', '--out', 'OUT/noext'], 64, `${P}: usage: cannot tell what to make from --out OUT/noext: use .jpg or .png (contact sheet), .webp or .gif (time-lapse) or .mjpeg (time-lapse of the original JPEGs)`],
    [['--out', 'OUT/x.jpg'], 64, `${P}: usage: option --camera is required: the store has 2 cameras (back-yard, front)`],
    [['--camera', 'side', '--out', 'OUT/x.jpg'], 66, `${P}: not-found: no camera "side" in store STORE; cameras: back-yard, front`],
    [['--camera', 'front', '--day', '2026-01-01', '--out', 'OUT/x.jpg'], 66, `${P}: not-found: no frames of camera "front" from 2026-01-01 00:00:00+01:00 to 2026-01-02 00:00:00+01:00`],
    [['--camera', 'front', '--out', 'OUT/missing/x.jpg'], 73, `${P}: cannot-write: cannot write OUT/missing/x.jpg: folder OUT/missing does not exist`],
    [['--camera', 'front', '--out', 'OUT'], 64, `${P}: usage: cannot tell what to make from --out OUT: use .jpg or .png (contact sheet), .webp or .gif (time-lapse) or .mjpeg (time-lapse of the original JPEGs)`],
    [['--camera', 'front', '--out', '/proc/x.jpg'], 73, `${P}: cannot-write: cannot write /proc/x.jpg: ENOENT: no such file or directory`],
    [['--camera', 'front', '--max-frames', '2000', '--width', '1000', '--out', 'OUT/huge.png'], 64, `${P}: usage: a contact sheet of 2000 frames would be 8036x188540 pixels, too large: lower --max-frames or --width, or change --columns`],
    [['--camera', 'front', '--max-frames', '5000', '--width', '1000', '--out', 'OUT/huge.gif'], 64, `${P}: usage: a time-lapse of 5000 frames at 1000x750 needs 10.5 GiB of memory, more than 768.0 MiB: lower --max-frames or --width`],
    [['--camera', 'front', '--fps', '0', '--out', 'OUT/x.gif'], 64, `${P}: usage: option fps (from --fps): "0" is not valid: must be at least 0.1`],
    [['--camera', 'front', '--width', '8', '--out', 'OUT/x.gif'], 64, `${P}: usage: option width (from --width): "8" is not valid: must be at least 16`],
  ])('%j exits %i with no output file', (args, status, message) => {
    const r = cli(['export', '--store', store, ...args.map((a) => a.replace('OUT', outDir))]);
    expect(r).toEqual({ status, stdout: '', stderr: `${message.replaceAll('OUT', outDir).replace('STORE', store)}\n` });
    expect(existsSync(join(outDir, 'x.jpg')) || existsSync(join(outDir, 'huge.png')) || existsSync(join(outDir, 'x.gif'))).toBe(false);
    expect(leftovers(outDir)).toEqual([]);
  });

  it('SIGTERM in the middle of an export leaves no file at all', async () => {
    const out = join(outDir, 'interrupted.gif');
    const child = spawn(process.execPath, [RECEIVER_BIN, 'export', '--store', store, '--camera', 'front', '--max-frames', '400', '--width', '640', '--out', out], {
      env: cleanEnv({ TZ }),
      stdio: 'ignore',
    });
    // The temporary file appears as soon as the export starts writing: then interrupt it.
    const deadline = Date.now() + 20_000;
    while (!readdirSync(outDir).some((n) => n.startsWith('.interrupted.gif.')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(143);
    expect(existsSync(out)).toBe(false);
    expect(leftovers(outDir)).toEqual([]);
  });
});

describe.skipIf(!needTools('script'))('progress bar', () => {
  it('draws on a terminal and not in a pipe', () => {
    const out = join(outDir, 'tty.mjpeg');
    const args = ['export', '--store', store, '--camera', 'front', '--day', '2026-03-29', '--out', out];
    const command = [process.execPath, RECEIVER_BIN, ...args].map((a) => `'${a}'`).join(' ');
    // script(1) gives the command a pseudo-terminal, as an interactive shell would.
    const tty = spawnSync('script', ['-qec', `${command} >/dev/null`, '/dev/null'], { env: cleanEnv({ TZ }), encoding: 'utf8' });
    expect(tty.status).toBe(0);
    expect(tty.stdout).toContain('\rexport front [');
    expect(tty.stdout).toContain('] 1380/1380');
    expect(tty.stdout).toContain('\r\x1b[K');
    const piped = cli(args);
    expect(piped.stderr).toBe('');
  });
});

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SurveillanceError, isCompleteJpeg, loadOptions } from '@surveillance/shared';
import {
  ChangeDetector,
  detectorOptions,
  detectorSpec,
  type Decision,
} from '../packages/sender/src/change-detector.ts';
import { analysisWidth } from '../packages/sender/src/greyscale.ts';
import { FIXTURES, ROOT, cleanEnv, tempDir } from './helpers/receiver.ts';
import { needTools } from './helpers/tools.ts';
import { SceneGenerator, maskPng, type FrameSpec, type Lighting } from './helpers/scenes.ts';

function detector(argv: string[] = []): Promise<ChangeDetector> {
  return ChangeDetector.create(detectorOptions(loadOptions(detectorSpec, argv, {}).values));
}

async function decideAll(d: ChangeDetector, g: SceneGenerator, frames: FrameSpec[]): Promise<Decision[]> {
  const decisions: Decision[] = [];
  for (const spec of frames) decisions.push(await d.decide(await g.frame(spec)));
  return decisions;
}

const summary = (ds: Decision[]) => ds.map((d) => `${d.reason}${d.changed ? '!' : ''}`);

/** A webcam's sensor noise; every other frame also decoded and re-encoded at a lower quality. */
const CAMERA = { noise: 6, quality: 80 } as const;
const camera = (count: number, extra: FrameSpec = {}): FrameSpec[] =>
  Array.from({ length: count }, (_, i) => ({ ...CAMERA, ...(i % 2 ? { reencode: 70 } : {}), ...extra }));

/** Evening lamp, then the ceiling light: about +60 grey levels, with the tone curve bent too. */
const DIM: Lighting = { gain: 0.65 };
const BRIGHT: Lighting = { gain: 1.05, gamma: 0.9, offset: 5 };
/** A lamp switched on near the top left corner: up to 80% brighter there, much less elsewhere. */
const LAMP: Lighting = { ...DIM, lamp: 0.8 };

/** Objects walk along the wall, left to right, one step per frame. */
const walk = (share: number, extra: FrameSpec = {}, xs = [0.3, 0.4, 0.5, 0.6]): FrameSpec[] =>
  xs.map((x) => ({ ...CAMERA, ...extra, objects: [{ x, y: 0.18, share }] }));

describe.each([
  [640, 480, '213x160'],
  [1920, 1080, '240x135'],
])('a %ix%i camera', (width, height, analysisSize) => {
  let scene: SceneGenerator;
  beforeAll(() => {
    scene = new SceneGenerator(width, height, 7);
  });

  it(`compares a ${analysisSize} greyscale frame and keeps the first frame`, async () => {
    const [first, second] = await decideAll(await detector(), scene, camera(2));
    expect(first).toMatchObject({ changed: true, reason: 'first', size: analysisSize });
    expect(second).toEqual({
      changed: false,
      reason: 'still',
      changedShare: 0,
      noiseLevel: expect.any(Number),
      brightnessShift: expect.any(Number),
      ms: expect.any(Number),
      size: analysisSize,
    });
  });

  it('does not fire on sensor noise and JPEG re-encoding', async () => {
    const decisions = await decideAll(await detector(), scene, camera(10));
    expect(summary(decisions.slice(1))).toEqual(Array(9).fill('still'));
  });

  it('does not fire on slow lighting drift (clouds, dusk)', async () => {
    const drift = Array.from({ length: 12 }, (_, i) => ({ ...CAMERA, light: { gain: 1 + 0.01 * i, offset: 2 * i } }));
    const decisions = await decideAll(await detector(), scene, drift);
    expect(decisions.slice(1).filter((d) => d.changed)).toEqual([]);
    expect(decisions.at(-1)!.brightnessShift).toBeGreaterThan(0);
  });

  it.each([
    ['switched on', DIM, BRIGHT],
    ['switched off', BRIGHT, DIM],
  ])('does not fire on a light %s, and re-bases the reference', async (_, before, after) => {
    const decisions = await decideAll(await detector(), scene, [...camera(3, { light: before }), ...camera(4, { light: after })]);
    expect(summary(decisions)).toEqual(['first!', 'still', 'still', 'lighting', 'still', 'still', 'still']);
    expect(Math.abs(decisions[3]!.brightnessShift)).toBeGreaterThan(30);
  });

  it.each([0.01, 0.04, 0.15])('fires on every step of an object covering %s of the frame', async (share) => {
    const decisions = await decideAll(await detector(), scene, [...camera(3), ...walk(share)]);
    expect(summary(decisions)).toEqual(['first!', 'still', 'still', 'motion!', 'motion!', 'motion!', 'motion!']);
    for (const d of decisions.slice(3)) expect(d.changedShare).toBeGreaterThan(share * 0.5);
  });

  it('fires on an object that comes in with the light, and follows it afterwards', async () => {
    const decisions = await decideAll(await detector(), scene, [...camera(3, { light: DIM }), ...walk(0.01, { light: BRIGHT }, [0.3, 0.4, 0.5])]);
    expect(summary(decisions)).toEqual(['first!', 'still', 'still', 'motion!', 'motion!', 'motion!']);
    expect(decisions[3]!.brightnessShift).toBeGreaterThan(30);
  });

  it('ignores motion inside the mask but not outside it', async () => {
    const dir = tempDir('change-detection-');
    try {
      const mask = join(dir.path, 'mask.png');
      writeFileSync(mask, await maskPng(width, height, { x0: 0.6, y0: 0, x1: 1, y1: 0.45 }));
      const inside = walk(0.01, {}, [0.7, 0.75, 0.8, 0.85]);
      const masked = await decideAll(await detector(['--mask', mask]), scene, [...camera(3), ...inside]);
      expect(summary(masked.slice(1))).toEqual(Array(6).fill('still'));
      const unmasked = await decideAll(await detector(), scene, [...camera(3), ...inside]);
      expect(summary(unmasked.slice(3))).toEqual(Array(4).fill('motion!'));
      const outside = await decideAll(await detector(['--mask', mask]), scene, [...camera(3), ...walk(0.01)]);
      expect(summary(outside.slice(3))).toEqual(Array(4).fill('motion!'));
    } finally {
      dir.remove();
    }
  });
});

// 720p compares 160x90, the smallest analysis size a common camera gets: the cases where too
// few pixels would show first (noise read as motion, the smallest object missed), not the whole
// set above again, which would add most of a minute of scene generation.
describe('a 1280x720 camera', () => {
  let scene: SceneGenerator;
  beforeAll(() => {
    scene = new SceneGenerator(1280, 720, 7);
  });

  it('compares 160x90 and does not fire on sensor noise and JPEG re-encoding', async () => {
    const decisions = await decideAll(await detector(), scene, camera(8));
    expect(decisions[0]).toMatchObject({ changed: true, reason: 'first', size: '160x90' });
    expect(summary(decisions.slice(1))).toEqual(Array(7).fill('still'));
  });

  it('fires on every step of an object covering 0.01 of the frame', async () => {
    const decisions = await decideAll(await detector(), scene, [...camera(3), ...walk(0.01)]);
    expect(summary(decisions)).toEqual(['first!', 'still', 'still', 'motion!', 'motion!', 'motion!', 'motion!']);
  });

  it('does not fire on a light switched on, and re-bases the reference', async () => {
    const decisions = await decideAll(await detector(), scene, [...camera(3, { light: DIM }), ...camera(4, { light: BRIGHT })]);
    expect(summary(decisions)).toEqual(['first!', 'still', 'still', 'lighting', 'still', 'still', 'still']);
  });
});

describe('a 640x480 camera, more cases', () => {
  const scene = new SceneGenerator(640, 480, 11);

  it('does not fire on a lamp that lights one corner much more than the rest', async () => {
    const decisions = await decideAll(await detector(), scene, [...camera(3, { light: DIM }), ...camera(3, { light: LAMP })]);
    expect(summary(decisions)).toEqual(['first!', 'still', 'still', 'lighting', 'still', 'still']);
  });

  it('fires on an object that comes in with the lamp', async () => {
    const decisions = await decideAll(await detector(), scene, [...camera(3, { light: DIM }), ...walk(0.01, { light: LAMP }, [0.6])]);
    expect(summary(decisions)).toEqual(['first!', 'still', 'still', 'motion!']);
  });

  it("raises the automatic noise level with a noisy sensor, where a fixed low level fires on noise", async () => {
    const noisy = camera(8, { noise: 25 });
    const auto = await decideAll(await detector(), scene, noisy);
    expect(summary(auto.slice(1))).toEqual(Array(7).fill('still'));
    expect(auto.at(-1)!.noiseLevel).toBeGreaterThan(10);
    const fixed = await decideAll(await detector(['--noise', '3']), scene, noisy);
    expect(fixed.slice(1).every((d) => d.changed && d.noiseLevel === 3)).toBe(true);
    // ...and the raised level still sees a person walking in.
    const walking = await decideAll(await detector(), scene, [...noisy, ...walk(0.01, { noise: 25 })]);
    expect(summary(walking.slice(-4))).toEqual(Array(4).fill('motion!'));
  });

  it('keeps a parked object as a change for a while, then learns it as background', async () => {
    const parked = Array.from({ length: 80 }, () => ({ ...CAMERA, objects: [{ x: 0.5, y: 0.18, share: 0.04 }] }));
    const decisions = await decideAll(await detector(), scene, [...camera(2), ...parked]);
    expect(summary(decisions.slice(2, 12))).toEqual(Array(10).fill('motion!'));
    const learnt = decisions.findIndex((d, i) => i > 2 && !d.changed);
    expect(learnt).toBeGreaterThan(12);
    expect(summary(decisions.slice(learnt))).toEqual(Array(decisions.length - learnt).fill('still'));
  });

  it('compares with the frame given by setReference (the last frame sent)', async () => {
    const d = await detector();
    const [withObject] = walk(0.04, {}, [0.5]);
    await d.setReference(await scene.frame(withObject));
    expect((await d.decide(await scene.frame(withObject))).reason).toBe('still');
    expect((await d.decide(await scene.frame(CAMERA))).reason).toBe('motion');
  });

  it('after setReference with the frame just decided, compares with that frame', async () => {
    const d = await detector();
    const [here, there] = walk(0.04, {}, [0.3, 0.6]);
    await d.decide(await scene.frame(CAMERA));
    const kept = await scene.frame(here!);
    expect((await d.decide(kept)).reason).toBe('motion');
    await d.setReference(kept);
    expect((await d.decide(await scene.frame(here!))).reason).toBe('still');
    expect((await d.decide(await scene.frame(there!))).reason).toBe('motion');
  });

  it('sees a frame of another size as a new first frame', async () => {
    const d = await detector();
    await d.decide(await scene.frame(CAMERA));
    const other = await new SceneGenerator(320, 240, 11).frame(CAMERA);
    expect(await d.decide(other)).toMatchObject({ changed: true, reason: 'first', size: '320x240' });
  });
});

describe('frames that cannot be compared', () => {
  const baseline = readFileSync(join(FIXTURES, 'jpeg/cjpeg-baseline.jpg'));
  const png = readFileSync(join(FIXTURES, 'bad/image.png'));
  const sofAt = baseline.indexOf(Buffer.from([0xff, 0xc0]));

  it.each([
    // Without the scanner's result from the caller, the detector scans the frame itself, with
    // the same scanner (and so the same words) as the receiver.
    ['empty', Buffer.alloc(0), 'cannot compare frame: no JPEG bytes before the end of input'],
    ['a PNG', png, 'cannot compare frame: not a valid JPEG at byte 0: does not start with a JPEG SOI marker (FF D8), found 89'],
    ['cut before its frame header', baseline.subarray(0, sofAt), `cannot compare frame: JPEG truncated after ${sofAt} bytes: input ended before image data`],
    ['garbage after SOI', Buffer.from([0xff, 0xd8, 0x12, 0x34, 0x56, 0x78]), 'cannot compare frame: not a valid JPEG at byte 2: expected a marker, found 12'],
    ['cut in the middle of its image data', baseline.subarray(0, baseline.length >> 1), /^cannot compare frame: JPEG truncated after \d+ bytes: input ended inside image data/],
  ])('rejects %s with bad-jpeg, and keeps working', async (_, bytes, message) => {
    const d = await detector();
    await d.decide(baseline);
    const error = await d.decide(bytes).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SurveillanceError);
    expect(error).toMatchObject({ code: 'bad-jpeg', message });
    expect(await d.decide(baseline)).toMatchObject({ changed: false, reason: 'still' });
  });
});

describe('detector options', () => {
  const dir = tempDir('change-detection-options-');
  const notImage = join(dir.path, 'notes.txt');
  const black = join(dir.path, 'black.png');
  beforeAll(async () => {
    writeFileSync(notImage, 'not an image\n');
    writeFileSync(black, await maskPng(64, 48, { x0: 0, y0: 0, x1: 1, y1: 1 }));
  });
  afterAll(() => dir.remove());

  it('has defaults for a typical indoor webcam', () => {
    expect(detectorOptions(loadOptions(detectorSpec, [], {}).values)).toEqual({
      threshold: 0.005,
      noise: 'auto',
      mask: undefined,
      analysisWidth: 200,
    });
  });

  it('reads every option from flags and the environment', () => {
    const { values } = loadOptions(detectorSpec, ['--noise', '12.5', '--threshold', '0.02'], {
      SURVEILLANCE_ANALYSIS_WIDTH: '320',
      SURVEILLANCE_MASK: black,
    });
    expect(detectorOptions(values)).toEqual({ threshold: 0.02, noise: 12.5, mask: black, analysisWidth: 320 });
  });

  it.each([
    [['--noise', 'loud'], `option noise: "loud" is not valid: expected 'auto' or a number of grey levels from 0 to 255`],
    [['--noise', '300'], `option noise: "300" is not valid: expected 'auto' or a number of grey levels from 0 to 255`],
    [['--noise=-1'], `option noise: "-1" is not valid: expected 'auto' or a number of grey levels from 0 to 255`],
    [['--threshold', '2'], 'option threshold (from --threshold): "2" is not valid: must be at most 1'],
    [['--threshold', '1%'], 'option threshold (from --threshold): "1%" is not valid: expected a number'],
    [['--analysis-width', '8'], 'option analysis-width (from --analysis-width): "8" is not valid: must be at least 16'],
    [['--mask', '/nonexistent/mask.png'], 'option mask: cannot read /nonexistent/mask.png: ENOENT'],
    [['--mask', '/tmp'], 'option mask: /tmp is not a file'],
  ])('%j fails with a usage error naming the option', (argv, message) => {
    const error = (() => {
      try {
        detectorOptions(loadOptions(detectorSpec, argv, {}).values);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(SurveillanceError);
    expect(error).toMatchObject({ code: 'usage', message });
  });

  it('rejects a mask that is not an image, when the detector starts', async () => {
    await expect(detector(['--mask', notImage])).rejects.toMatchObject({
      code: 'usage',
      message: expect.stringMatching(new RegExp(`^option mask: ${notImage} is not an image that can be read: `)),
    });
  });

  it('rejects a mask that ignores the whole frame', async () => {
    await expect(detector(['--mask', black])).rejects.toMatchObject({
      code: 'usage',
      message: `option mask: ${black} is dark everywhere, so nothing would be compared (light = compared, dark = ignored)`,
    });
  });
});

describe('analysis width', () => {
  it.each([
    [1920, 200, 240],
    [1280, 200, 160],
    [1366, 200, 171],
    [640, 200, 213],
    [320, 200, 320],
    [3840, 200, 480],
    [1920, 400, 384],
    [640, 1000, 640],
  ])('for a %i px wide frame and %i requested is %i (1/8 of it rounded up, or a size libjpeg decodes at 1/4 or 1/2)', (frame, requested, expected) => {
    expect(analysisWidth(frame, requested)).toBe(expected);
  });
});

describe('scripts/fake-camera.mjs, a webcam tool stand-in', () => {
  const FAKE_CAMERA = join(ROOT, 'scripts/fake-camera.mjs');
  const dir = tempDir('fake-camera-');
  afterAll(() => dir.remove());
  const camera = (args: string[]) => spawnSync(process.execPath, [FAKE_CAMERA, ...args], { env: cleanEnv(), encoding: 'utf8' });

  /** Runs the camera until `watch` returns true (polled every millisecond or so), then SIGTERM. */
  async function runUntil(args: string[], watch: () => boolean): Promise<{ status: number | null; seen: boolean }> {
    const child = spawn(process.execPath, [FAKE_CAMERA, ...args], { env: cleanEnv(), stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let seen = false;
    for (let polls = 0; polls < 3000 && !seen; polls++) {
      seen = watch();
      await sleep(1);
    }
    child.kill('SIGTERM');
    return { status: await exited, seen };
  }

  it('explains itself with --help', () => {
    const result = camera(['--help']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^Usage: node scripts\/fake-camera\.mjs/);
    expect(result.stdout).toContain('--atomic');
  });

  it.each([
    [['--fps', '0'], 'fake-camera: usage: --fps "0": expected a number from 0.01 to 120'],
    [['--frames', '1.5'], 'fake-camera: usage: --frames "1.5": expected a whole number from 0 to 9007199254740991'],
    [['--size', '640'], 'fake-camera: usage: --size "640": expected WIDTHxHEIGHT, each 16 to 8192, such as 640x480'],
    [['--motion', 'maybe'], 'fake-camera: usage: --motion "maybe": expected on or off'],
    [['--atomic', '--ffmpeg'], 'fake-camera: usage: --atomic and --ffmpeg cannot be combined (ffmpeg writes the file itself)'],
    [['--bogus'], "fake-camera: usage: Unknown option '--bogus'; see --help"],
  ])('%j exits 64 with a usage message', (args, message) => {
    const result = camera([...args, '--out', join(dir.path, 'never.jpg')]);
    expect(result.stderr.trim()).toBe(message);
    expect(result.status).toBe(64);
    expect(existsSync(join(dir.path, 'never.jpg'))).toBe(false);
  });

  it('writes --frames frames of --size, then exits 0', async () => {
    const out = join(dir.path, 'frames.jpg');
    expect(camera(['--out', out, '--frames', '3', '--fps', '50', '--size', '320x240']).status).toBe(0);
    expect(await sharp(out).metadata()).toMatchObject({ format: 'jpeg', width: 320, height: 240 });
  });

  it('draws an object that moves (the detector fires), or none with --motion off', async () => {
    const frame = (n: number, motion: string) => {
      const out = join(dir.path, `motion-${motion}-${n}.jpg`);
      expect(camera(['--out', out, '--frames', String(n), '--fps', '100', '--motion', motion]).status).toBe(0);
      return readFileSync(out);
    };
    for (const [motion, reason] of [['on', 'motion'], ['off', 'still']]) {
      const d = await detector();
      await d.decide(frame(1, motion));
      expect((await d.decide(frame(6, motion))).reason).toBe(reason);
    }
  });

  it('rewrites the file in place (same inode), so that a reader can catch a half-written frame; SIGTERM ends it with 0', async () => {
    const out = join(dir.path, 'in-place.jpg');
    let inode: number | undefined;
    let sameInode = true;
    const { status, seen } = await runUntil(['--out', out, '--fps', '20', '--chunk', '1024', '--chunk-delay', '2'], () => {
      if (!existsSync(out)) return false;
      const ino = statSync(out).ino;
      inode ??= ino;
      sameInode &&= ino === inode;
      const bytes = readFileSync(out);
      return bytes.length > 0 && !isCompleteJpeg(bytes);
    });
    expect(seen).toBe(true);
    expect(sameInode).toBe(true);
    expect(status).toBe(0);
  });

  it('--atomic replaces the file by rename (new inode), so that readers never see a partial frame', async () => {
    const out = join(dir.path, 'atomic.jpg');
    const inodes = new Set<number>();
    let partial = false;
    const { status, seen } = await runUntil(['--out', out, '--fps', '50', '--atomic'], () => {
      if (!existsSync(out)) return false;
      inodes.add(statSync(out).ino);
      partial ||= !isCompleteJpeg(readFileSync(out));
      return inodes.size >= 5;
    });
    expect(seen).toBe(true);
    expect(partial).toBe(false);
    expect(status).toBe(0);
  });

  describe.skipIf(!needTools('ffmpeg'))('--ffmpeg', () => {
    it('runs ffmpeg -update 1 on a lavfi test source for --frames frames', async () => {
      const out = join(dir.path, 'ffmpeg.jpg');
      const result = camera(['--ffmpeg', '--out', out, '--frames', '3', '--fps', '25', '--size', '320x240']);
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      expect(await sharp(out).metadata()).toMatchObject({ format: 'jpeg', width: 320, height: 240 });
    });

    it('stops ffmpeg on SIGTERM and exits 0', async () => {
      const out = join(dir.path, 'ffmpeg-forever.jpg');
      const { status, seen } = await runUntil(['--ffmpeg', '--out', out, '--fps', '10'], () => existsSync(out) && isCompleteJpeg(readFileSync(out)));
      expect(seen).toBe(true);
      expect(status).toBe(0);
    });
  });
});

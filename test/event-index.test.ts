import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendIndex, indexLine, indexPath, markFrames, parseIndex } from '../packages/receiver/src/store/event-index.ts';
import { groupEvents } from '../packages/receiver/src/store/events.ts';
import type { FrameEntry, FrameMeta } from '../packages/receiver/src/store/store.ts';
import { ROOT, tempDir } from './helpers/receiver.ts';

const T0 = Date.parse('2026-11-21T23:59:58.000Z');
const meta = (i: number, extra: Partial<FrameMeta> = {}): FrameMeta => ({ camera: 'front', time: new Date(T0 + i * 1000), id: `id-${i}`, reason: 'motion', score: i / 100, ...extra });
const entry = (m: FrameMeta): FrameEntry => ({ camera: m.camera, time: m.time, id: m.id, name: `${m.camera}/${m.id}.jpg` });

describe('event index', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir('event-index-');
  });
  afterEach(() => tmp.remove());

  it('one short checksummed line per frame in STORE/.index/CAMERA/<UTC day>.log, read back as marks', () => {
    const metas = [meta(0, { reason: 'first', score: 1 }), meta(1), meta(3, { reason: 'heartbeat', score: undefined }), meta(4, { reason: undefined })];
    for (const m of metas) appendIndex(tmp.path, m);
    expect(indexPath(tmp.path, 'front', metas[0]!.time)).toBe(join(tmp.path, '.index/front/2026-11-21.log'));
    const day2 = readFileSync(join(tmp.path, '.index/front/2026-11-22.log'), 'ascii');
    expect(day2.split('\n')[0]).toMatch(/^1795305601000 id-3 heartbeat - [0-9a-f]{8}$/);
    const { frames, dropped } = markFrames(tmp.path, 'front', metas.map(entry));
    expect(dropped).toBe(0);
    expect(frames.map((f) => [f.id, f.reason, f.score])).toEqual([
      ['id-0', 'first', 1],
      ['id-1', 'motion', 0.01],
      ['id-3', 'heartbeat', undefined],
      ['id-4', undefined, 0.04],
    ]);
  });

  it('a torn last line and a damaged line are dropped whole; the line glued to a torn one after a reboot is kept', () => {
    const good = [0, 1, 2].map((i) => indexLine(meta(i)));
    const damaged = good[1]!.replace('motion', 'heartb');
    const text = good[0]! + damaged + good[2]!.slice(0, 15) /* torn by a power cut */ + indexLine(meta(5)) + indexLine(meta(6)).slice(0, 20);
    const parsed = parseIndex(text);
    expect([...parsed.marks.keys()]).toEqual([`${T0} id-0`, `${T0 + 5000} id-5`]);
    expect(parsed.dropped).toBe(3);
    // A changed score is a damaged line too, not another score.
    expect(parseIndex(good[2]!.replace('0.02', '0.92')).marks.size).toBe(0);
  });

  it('receivers appending at once, and one killed right after its write: every line whole', async () => {
    // The module as the receiver runs it: bundled, in a plain Node process.
    const bundle = join(tmp.path, 'event-index.mjs');
    buildSync({ entryPoints: [join(ROOT, 'packages/receiver/src/store/event-index.ts')], bundle: true, platform: 'node', format: 'esm', outfile: bundle, logLevel: 'warning' });
    const script = `
      const { appendIndex } = await import(${JSON.stringify(bundle)});
      const [dir, w] = process.argv.slice(1);
      for (let i = 0; i < 300; i++) appendIndex(dir, { camera: 'front', time: new Date(${T0} + i), id: 'w' + w + '-' + i, reason: 'motion', score: 0.5 });
      if (w === '0') process.kill(process.pid, 'SIGKILL');`;
    const codes = await Promise.all(
      [0, 1, 2, 3].map(
        (w) =>
          new Promise<string>((resolve) => {
            const child = spawn(process.execPath, ['--input-type=module', '-e', script, tmp.path, String(w)], { stdio: 'inherit' });
            child.on('exit', (code, signal) => resolve(signal ?? String(code)));
          }),
      ),
    );
    expect(codes).toEqual(['SIGKILL', '0', '0', '0']);
    const parsed = parseIndex(readFileSync(join(tmp.path, '.index/front/2026-11-21.log'), 'ascii'));
    expect(parsed.dropped).toBe(0);
    expect(parsed.marks.size).toBe(1200);
  });

  it('deleted or damaged: the events come back from the frames alone, the frames it lost counting as motion', () => {
    // A burst with a heartbeat 20 s after it: with the index, one event; without, the heartbeat extends nothing it knows of.
    const metas = [meta(0), meta(5, { score: 0.9 }), meta(25, { reason: 'heartbeat', score: 0 })];
    for (const m of metas) appendIndex(tmp.path, m);
    const now = new Date(T0 + 3_600_000);
    const events = () => groupEvents('front', markFrames(tmp.path, 'front', metas.map(entry)).frames, 10_000, now);
    expect(events().map((e) => [e.frames, e.cover.id])).toEqual([[2, 'id-5']]);
    rmSync(join(tmp.path, '.index'), { recursive: true });
    expect(events().map((e) => [e.frames, e.cover.id])).toEqual([[2, 'id-0'], [1, 'id-25']]);
    // Appending again after the deletion starts the file anew.
    for (const m of metas) appendIndex(tmp.path, m);
    writeFileSync(join(tmp.path, '.index/front/2026-11-21.log'), 'garbage\n\0\0\0');
    appendFileSync(join(tmp.path, '.index/front/2026-11-22.log'), 'more garbage');
    expect(events().map((e) => [e.frames, e.cover.id])).toEqual([[2, 'id-5']]);
  });
});

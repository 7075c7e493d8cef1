import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreWatch } from '../packages/receiver/src/store/file-watch.ts';
import { DEFAULT_NAME_PATTERN } from '../packages/receiver/src/store/frame-name.ts';
import type { FrameEntry } from '../packages/receiver/src/store/store.ts';
import { tempDir } from './helpers/receiver.ts';

/**
 * The file store's watcher (the gallery's live view) around its start: chokidar's first scan
 * reports the folders there are, and a day folder made while it runs (after the gallery listed
 * the store) must not lose the frames it got before its own watch was set.
 */
describe('the file store watcher as it starts', () => {
  const dir = tempDir();
  let watcher: StoreWatch | undefined;
  afterEach(async () => {
    await watcher?.close();
    watcher = undefined;
  });

  /** The names reported as added until `ms` after start (a bounded wait, not a timing assert). */
  function collect(w: StoreWatch, until: (names: string[]) => boolean, ms: number): Promise<string[]> {
    const names: string[] = [];
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(names), ms);
      w.on('added', (frames: FrameEntry[]) => {
        names.push(...frames.map((f) => f.name));
        if (until(names)) {
          clearTimeout(timer);
          resolve(names);
        }
      });
    });
  }

  it('reports the frames of a day folder made as it starts, before its folder was watched', async () => {
    const root = join(dir.path, 'made-now');
    const name = 'garden/2026-11-22/20261122T100000.000Z_early.jpg';
    mkdirSync(join(root, 'garden/2026-11-22'), { recursive: true });
    writeFileSync(join(root, name), 'jpeg');
    // Started, for the watcher, the moment the folder was made: it was made during the scan.
    const born = statSync(join(root, 'garden/2026-11-22')).birthtimeMs;
    watcher = new StoreWatch(root, DEFAULT_NAME_PATTERN, 20, () => born);
    const seen = collect(watcher, (names) => names.includes(name), 10_000);
    await watcher.start();
    expect(await seen).toEqual([name]);
  });

  it('does not report the frames of folders that were there long before it started', async () => {
    const root = join(dir.path, 'old');
    mkdirSync(join(root, 'garden/2026-11-21'), { recursive: true });
    writeFileSync(join(root, 'garden/2026-11-21/20261121T100000.000Z_old.jpg'), 'jpeg');
    // Started, for the watcher, a minute after those folders were made.
    watcher = new StoreWatch(root, DEFAULT_NAME_PATTERN, 20, () => Date.now() + 60_000);
    const late = 'garden/2026-11-21/20261121T110000.000Z_late.jpg';
    const seen = collect(watcher, (names) => names.includes(late), 10_000);
    await watcher.start();
    writeFileSync(join(root, late), 'jpeg');
    // Only what arrived after it started.
    expect(await seen).toEqual([late]);
  });
});

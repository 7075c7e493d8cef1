import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AsyncDurableFile, tempOwner } from '@surveillance/shared';
import { tempDir } from './helpers/receiver.ts';

const tmp = tempDir('durable-file-async-');
afterAll(() => tmp.remove());

/** Waits until `check` holds (the file's calls run on the thread pool, after the test's). */
async function eventually(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
}

describe('AsyncDurableFile: DurableFile on the thread pool, for many files at once', () => {
  it('writes every byte in order, whatever the chunks, and appears under its name with its mtime', async () => {
    const dir = join(tmp.path, 'chunks');
    mkdirSync(dir);
    // Tiny and large chunks, past both the byte and the chunk count that make it write early.
    const chunks: Buffer[] = [];
    for (let i = 0; i < 700; i++) chunks.push(Buffer.alloc(i % 7 === 0 ? 65_536 : 1 + (i % 13), i % 251));
    const file = AsyncDurableFile.start(dir);
    expect(tempOwner(file.tempPath.slice(dir.length + 1))).toBe(process.pid);
    for (const c of chunks) file.write(c);
    const target = join(dir, 'cam/2026-01-02/frame.jpg');
    expect(await file.commit(target, { how: 'link', mtime: new Date(Date.UTC(2026, 0, 2)) })).toBe(true);
    expect(readFileSync(target).equals(Buffer.concat(chunks))).toBe(true);
    expect(file.bytes).toBe(Buffer.concat(chunks).length);
    expect(statSync(target).mtime.toISOString()).toBe('2026-01-02T00:00:00.000Z');
    expect(readdirSync(dir)).toEqual(['cam']); // the missing folders were made; no temporary file left
  });

  it('by link: of two files committed to one name at once, one is stored and the other refused (the DUP rule)', async () => {
    const dir = join(tmp.path, 'race');
    mkdirSync(dir);
    const target = join(dir, 'frame.jpg');
    const files = ['first', 'second'].map((text) => {
      const file = AsyncDurableFile.start(dir);
      file.write(Buffer.from(text));
      return { text, file };
    });
    const placed = await Promise.all(files.map(({ file }) => file.commit(target, { how: 'link' })));
    expect(placed.filter(Boolean)).toHaveLength(1);
    expect(readFileSync(target, 'utf8')).toBe(files[placed.indexOf(true)]!.text);
    expect(readdirSync(dir)).toEqual(['frame.jpg']);
  });

  it('by rename replaces the name', async () => {
    const dir = join(tmp.path, 'rename');
    mkdirSync(dir);
    writeFileSync(join(dir, 'note.json'), 'old');
    const file = AsyncDurableFile.start(dir, { prefix: '.note.' });
    file.write(Buffer.from('new'));
    expect(await file.commit(join(dir, 'note.json'), { how: 'rename' })).toBe(true);
    expect(readFileSync(join(dir, 'note.json'), 'utf8')).toBe('new');
    expect(readdirSync(dir)).toEqual(['note.json']);
  });

  it('abort drops everything, even while the open is still under way', async () => {
    const dir = join(tmp.path, 'abort');
    mkdirSync(dir);
    const early = AsyncDurableFile.start(dir);
    early.write(Buffer.alloc(1000));
    early.abort(); // before the open on the pool can have completed
    early.abort();
    const late = AsyncDurableFile.start(dir);
    late.write(Buffer.alloc(2 * 1024 * 1024)); // written on the pool before the abort
    await eventually(() => readdirSync(dir).length > 0);
    late.abort();
    await eventually(() => readdirSync(dir).length === 0);
  });

  it('an open that fails is thrown by commit and the next write, as the errno error for fsError', async () => {
    const notAFolder = join(tmp.path, 'a-file');
    writeFileSync(notAFolder, '');
    const file = AsyncDurableFile.start(notAFolder);
    file.write(Buffer.from('lost')); // the open has not failed yet: held
    await expect(file.commit(join(tmp.path, 'never.jpg'), { how: 'link' })).rejects.toMatchObject({ code: 'ENOTDIR' });
    expect(() => file.write(Buffer.from('more'))).toThrow(/ENOTDIR/);
    expect(existsSync(join(tmp.path, 'never.jpg'))).toBe(false);
  });
});

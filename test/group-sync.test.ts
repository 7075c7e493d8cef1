import { linkSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GroupSync } from '../packages/shared/src/group-sync.ts';
import { tempDir } from './helpers/receiver.ts';

describe('GroupSync: one folder fsync covers the links made before it starts', () => {
  const dir = tempDir('group-sync-');
  afterAll(() => dir.remove());

  it('links made in the same tick share one fsync; a link made while it runs waits for the next', async () => {
    const folder = join(dir.path, 'cam');
    mkdirSync(folder);
    const sync = new GroupSync();
    const link = (n: number) => {
      writeFileSync(join(dir.path, `t${n}`), 'x');
      linkSync(join(dir.path, `t${n}`), join(folder, `f${n}`));
      return sync.sync(folder);
    };
    const first = [link(1), link(2), link(3)];
    expect(sync.started).toBe(0); // not before the tick is over: later links may still join
    await Promise.resolve();
    await Promise.resolve();
    expect(sync.started).toBe(1);
    // This link may be after the running fsync began: it must not be covered by it.
    const late = link(4);
    const later = link(5);
    expect(later).toBe(late);
    const order: string[] = [];
    await Promise.all([Promise.all(first).then(() => order.push('first')), late.then(() => order.push('late'))]);
    expect(order).toEqual(['first', 'late']);
    expect(sync.started).toBe(2);
  });

  it('an fsync that fails rejects every caller it covered, and the next one starts afresh', async () => {
    const sync = new GroupSync();
    const gone = join(dir.path, 'missing');
    const results = await Promise.allSettled([sync.sync(gone), sync.sync(gone)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason.code).toBe('ENOENT');
    mkdirSync(gone);
    await expect(sync.sync(gone)).resolves.toBeUndefined();
    expect(sync.started).toBe(2);
  });

  it('folders are independent', async () => {
    const sync = new GroupSync();
    for (const f of ['a', 'b']) mkdirSync(join(dir.path, f));
    await Promise.all([sync.sync(join(dir.path, 'a')), sync.sync(join(dir.path, 'b')), sync.sync(join(dir.path, 'a'))]);
    expect(sync.started).toBe(2);
  });
});

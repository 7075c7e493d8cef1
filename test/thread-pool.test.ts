import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LISTENER_POOL_THREADS, sizeThreadPool } from '../packages/receiver/src/receive/thread-pool.ts';
import { exchange } from './helpers/client.ts';
import { FIXTURES, startReceiver, tempDir } from './helpers/receiver.ts';

describe('the listener thread pool', () => {
  it('is sized unless the user sized it', () => {
    const unset: NodeJS.ProcessEnv = {};
    sizeThreadPool(unset);
    expect(unset.UV_THREADPOOL_SIZE).toBe(String(LISTENER_POOL_THREADS));
    const set: NodeJS.ProcessEnv = { UV_THREADPOOL_SIZE: '2' };
    sizeThreadPool(set);
    expect(set.UV_THREADPOOL_SIZE).toBe('2');
  });

  // Threads counted in /proc: the same program with libuv's default of 4 set by hand has
  // LISTENER_POOL_THREADS - 4 fewer, so the size took effect (libuv reads it only once).
  it.skipIf(!existsSync('/proc/self/task'))('takes effect in a --listen process, after a frame is stored', async () => {
    const frame = readFileSync(join(FIXTURES, 'jpeg', 'cjpeg-baseline.jpg'));
    const threads = async (env: Record<string, string>) => {
      const dir = tempDir();
      const receiver = await startReceiver('standalone', dir.path, [], env);
      try {
        const { lines } = await exchange(receiver.port, [frame]);
        expect(lines[0]).toMatch(/^OK /);
        return readdirSync(`/proc/${receiver.process.pid}/task`).length;
      } finally {
        await receiver.stop();
        dir.remove();
      }
    };
    const sized = await threads({});
    const byHand = await threads({ UV_THREADPOOL_SIZE: '4' });
    expect(sized - byHand).toBe(LISTENER_POOL_THREADS - 4);
  });
});

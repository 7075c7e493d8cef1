import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '@surveillance/shared';
import { Delivery } from '../packages/sender/src/delivery.ts';
import { Spool, type SpooledFrame } from '../packages/sender/src/spool.ts';
import { FIXTURES, tempDir } from './helpers/receiver.ts';

/**
 * A bug is not an outage: an error that is not a SurveillanceError must not come out of
 * delivery as `unreachable` (retried for ever, looking like a network problem). The spool here
 * has a deliberate bug after the receiver's answer; the receiver is a real TCP server that
 * answers OK for every frame id it is sent.
 */

const JPEG = readFileSync(join(FIXTURES, 'jpeg/cjpeg-baseline.jpg'));

class BuggySpool extends Spool {
  override remove(_frame: SpooledFrame): void {
    throw new TypeError("Cannot read properties of undefined (reading 'name')");
  }
}

function recordingLogger() {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (a: unknown, b?: string) => lines.push({ level, msg: typeof a === 'string' ? a : (b ?? '') });
  return { lines, log: { fatal: at('fatal'), error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), trace: at('trace') } as Logger };
}

describe('delivery and bugs', () => {
  const tmp = tempDir('sender-honest-');
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer((socket) => {
      let text = '';
      socket.setEncoding('latin1').on('data', (chunk: string) => {
        text += chunk;
        for (const m of text.matchAll(/SVF1 camera=\S+ id=(\S+) /g)) socket.write(`OK ${m[1]} c/stored.jpg\n`);
        text = text.replace(/SVF1 camera=\S+ id=\S+ /g, '');
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    tmp.remove();
  });

  const delivery = (dir: string, log: Logger) => {
    const spool = new BuggySpool({ dir: join(tmp.path, dir), maxBytes: 1 << 24, maxFiles: 100, log }).open();
    spool.add(JPEG, { camera: 'c', time: new Date(Date.UTC(2026, 0, 1)) });
    return new Delivery({ spool, to: { host: '127.0.0.1', port }, log, timeoutMs: 2000, lingerMs: 100, retryMinMs: 10, retryMaxMs: 20 });
  };

  it('the daemon loop stops with the bug itself, not retried and not logged as an outage', async () => {
    const { lines, log } = recordingLogger();
    const d = delivery('loop', log);
    const error = await d.start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(lines.filter((l) => /cannot deliver/.test(l.msg))).toEqual([]);
  });

  it('drain (for once) throws the bug instead of answering with an operational error', async () => {
    const { log } = recordingLogger();
    await expect(delivery('drain', log).drain()).rejects.toBeInstanceOf(TypeError);
  });
});

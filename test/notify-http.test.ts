import { createServer, type IncomingMessage } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign, verifySignature } from '../packages/receiver/src/notify/webhook.ts';
import { cleanEnv, freePort, tempDir } from './helpers/receiver.ts';
import { JPEGS, startNotifier, storeFrame, type RunningNotifier } from './helpers/notify.ts';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

const SECRET = 'a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5';

describe('verifySignature (what a webhook receiver runs)', () => {
  const body = '{"type":"event.start"}';
  const now = 1_800_000_000;
  it('accepts a fresh signature and refuses a tampered body, another secret, an old or future timestamp, junk', () => {
    const header = sign(SECRET, body, now);
    expect(header).toMatch(/^t=1800000000,v1=[0-9a-f]{64}$/);
    expect(verifySignature(SECRET, header, body, now + 299)).toBe(true);
    expect(verifySignature(SECRET, header, body.replace('start', 'end'), now)).toBe(false);
    expect(verifySignature('another secret', header, body, now)).toBe(false);
    expect(verifySignature(SECRET, header, body, now + 301)).toBe(false);
    expect(verifySignature(SECRET, header, body, now - 301)).toBe(false);
    // The timestamp is signed: moving it forward breaks the signature.
    expect(verifySignature(SECRET, header.replace(`t=${now}`, `t=${now + 100}`), body, now + 100)).toBe(false);
    for (const junk of ['', 't=,v1=', `t=${now}`, `v1=${'0'.repeat(64)}`, `t=${now},v1=zz`]) expect(verifySignature(SECRET, junk, body, now)).toBe(false);
  });
});

describe('notify to a webhook and ntfy (a local HTTP server stands in for both)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let notifier: RunningNotifier;
  let server: ReturnType<typeof createServer>;
  const received: Received[] = [];
  const waiters: (() => void)[] = [];
  let failFirstHook = true;

  const waitFor = (test: (r: Received) => boolean, what: string): Promise<Received> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no request: ${what}; got ${received.map((r) => `${r.method} ${r.url}`).join(', ')}\n${notifier.log()}`)), 30_000);
      const check = () => {
        const r = received.find(test);
        if (r) {
          clearTimeout(timer);
          resolve(r);
        } else waiters.push(check);
      };
      check();
    });

  beforeAll(async () => {
    tmp = tempDir('notify-http-');
    const port = await freePort();
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) });
        for (const w of waiters.splice(0)) w();
        // The webhook is down at first: the notifier must retry, not drop.
        if (req.url === '/hook' && failFirstHook) {
          failFirstHook = false;
          res.writeHead(503).end('busy');
        } else res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const secretFile = join(tmp.path, 'webhook-secret');
    writeFileSync(secretFile, `${SECRET}\n`);
    writeFileSync(join(tmp.path, 'ntfy-token'), 'tk_test\n');
    notifier = startNotifier(
      ['--store', join(tmp.path, 'store'), '--event-gap', '1s', '--cooldown', '0', '--silence', '0', '--gallery-url', 'https://nvr.example:8080/', '--webhook', `http://127.0.0.1:${port}/hook`, '--webhook-secret-file', secretFile, '--ntfy', `http://127.0.0.1:${port}/cams`],
      // The ntfy token as a systemd credential would give it.
      cleanEnv({ CREDENTIALS_DIRECTORY: tmp.path }),
    );
    storeFrame(join(tmp.path, 'store'), 'yard', new Date(Date.now() - 3_600_000), JPEGS[0]!, 'motion', 0.1);
    await notifier.waitLog(/"msg":"notifying"/);
  });

  afterAll(async () => {
    await notifier?.stop();
    server?.close();
    tmp?.remove();
  });

  it('POSTs the event, signed; retried after a 503, logged once; ntfy gets the cover as an attachment with title, tags and a click URL', async () => {
    const t = new Date();
    const name = storeFrame(join(tmp.path, 'store'), 'yard', t, JPEGS[1]!, 'motion', 0.4);
    const hooks = [await waitFor((r) => r.url === '/hook', 'first POST'), await waitFor((r) => r.url === '/hook' && received.filter((x) => x.url === '/hook').length >= 2, 'retried POST')];
    const retried = received.filter((r) => r.url === '/hook')[1]!;
    for (const hook of [hooks[0]!, retried]) {
      expect(hook.method).toBe('POST');
      expect(hook.headers['content-type']).toBe('application/json');
      const signature = String(hook.headers['x-surveillance-signature']);
      const sent = Number(/t=(\d+)/.exec(signature)![1]);
      expect(verifySignature(SECRET, signature, hook.body.toString(), sent)).toBe(true);
      expect(verifySignature(SECRET, signature, hook.body.toString().replace('yard', 'yarb'), sent)).toBe(false);
      expect(verifySignature(SECRET, signature, hook.body.toString(), sent + 3600)).toBe(false);
    }
    const event = JSON.parse(retried.body.toString());
    expect(event).toMatchObject({ type: 'event.start', event: { camera: 'yard', start: t.toISOString(), cover: name, frames: 1 }, url: `https://nvr.example:8080/?event=${encodeURIComponent(`yard-${t.toISOString().replace(/[-:]/g, '')}`)}` });

    const push = await waitFor((r) => r.url === '/cams', 'ntfy PUT');
    expect(push.method).toBe('PUT');
    expect(push.body).toEqual(JPEGS[1]);
    expect(push.headers).toMatchObject({ filename: `${event.event.id}.jpg`, title: 'Motion: yard', tags: 'rotating_light,camera', click: event.url, authorization: 'Bearer tk_test' });

    await notifier.waitLog(/webhook 127\.0\.0\.1:\d+ takes notifications again/);
    expect(notifier.log().match(/does not take notifications/g)).toHaveLength(1);
  });
});

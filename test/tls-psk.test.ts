import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { connect, TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  formatKeyLine,
  parseKeyLine,
  parsePskIdentity,
  pskClientOptions,
  pskServerOptions,
  PSK_CIPHER,
  type CameraKey,
} from '@surveillance/shared';

const front: CameraKey = { camera: 'front.door', keyId: 'a1b2c3', key: randomBytes(32) };

/**
 * A plain TCP server that wraps each accepted socket server-side, the way the inetd-mode
 * receiver wraps fd 0: the handshake, not a header, says which camera is on the line.
 */
describe('TLS-PSK option builders, over real sockets', () => {
  let server: Server;
  let port: number;
  const seen: string[] = [];
  beforeAll(async () => {
    server = createServer((raw: Socket) => {
      let who = '';
      const tls = new TLSSocket(raw, {
        isServer: true,
        ...pskServerOptions(
          (camera, keyId) => (camera === front.camera && keyId === front.keyId ? front.key : undefined),
          (_s, id) => (who = `${id.camera}/${id.keyId}`),
        ),
      });
      tls.on('secure', () => {
        seen.push(who);
        tls.end(`hello ${who} ${tls.getCipher().name}\n`);
      });
      tls.on('error', () => raw.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => server.close());

  const talk = (k: CameraKey) =>
    new Promise<string>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, ...pskClientOptions(k) });
      let text = '';
      s.setEncoding('utf8');
      s.on('data', (d) => (text += d));
      s.on('end', () => resolve(text));
      s.on('error', reject);
    });

  it('negotiates ECDHE-PSK-CHACHA20-POLY1305 and names the camera from the identity', async () => {
    expect(await talk(front)).toBe(`hello front.door/a1b2c3 ${PSK_CIPHER}\n`);
  });

  it('fails the handshake with a wrong key, an unknown key id or an unknown camera', async () => {
    await expect(talk({ ...front, key: randomBytes(32) })).rejects.toThrow(/alert|decrypt|bad record mac|handshake/i);
    await expect(talk({ ...front, keyId: 'zz' })).rejects.toThrow();
    await expect(talk({ ...front, camera: 'back' })).rejects.toThrow();
    expect(seen).toEqual(['front.door/a1b2c3']);
  });

  it('round-trips a key line and refuses broken ones without quoting the key', () => {
    const line = formatKeyLine(front);
    expect(line).toMatch(/^svk1 front\.door a1b2c3 [A-Za-z0-9_-]{43}\n$/);
    expect(parseKeyLine(line, 'k')).toEqual(front);
    const secret = front.key.toString('base64url');
    for (const bad of ['', 'svk1 front a1', line + line, line.replace('svk1', 'svk2'), line.replace(secret, secret.slice(1)), line.replace('a1b2c3', 'A.B')]) {
      let message = '';
      try {
        parseKeyLine(bad, '/etc/key');
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(/^key file \/etc\/key: /);
      expect(message).not.toContain(secret.slice(2, 20));
    }
    expect(parsePskIdentity('front.door.a1b2c3')).toEqual({ camera: 'front.door', keyId: 'a1b2c3' });
    expect(parsePskIdentity('nodot')).toBeUndefined();
    expect(parsePskIdentity('.a1')).toBeUndefined();
  });
});

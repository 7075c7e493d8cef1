import { describe, expect, it } from 'vitest';
import { parseNatsAddress } from '../packages/receiver/src/store/nats/nats-address.ts';
import { dayFilter, frameKey, parseFrameKey } from '../packages/receiver/src/store/nats/nats-keys.ts';

describe('NATS store address', () => {
  it('reads servers, bucket, user and TLS', () => {
    expect(parseNatsAddress('nats://10.0.0.1:4222,10.0.0.2:4222,[::1]:4223/frames')).toEqual({
      servers: ['10.0.0.1:4222', '10.0.0.2:4222', '[::1]:4223'],
      bucket: 'frames',
      user: undefined,
      tls: false,
      location: 'nats://10.0.0.1:4222,10.0.0.2:4222,[::1]:4223/frames',
    });
    expect(parseNatsAddress('tls://cam@nats.example:4222/site-a')).toMatchObject({ user: 'cam', tls: true, location: 'tls://nats.example:4222/site-a' });
  });

  it('refuses a password in the address without repeating it, and bad parts by name', () => {
    expect(() => parseNatsAddress('nats://cam:hunter2@h:4222/b')).toThrow(/password does not belong/);
    try {
      parseNatsAddress('nats://cam:hunter2@h:4222/b');
    } catch (e) {
      expect((e as Error).message).not.toContain('hunter2');
    }
    expect(() => parseNatsAddress('nats://h/b')).toThrow(/"h" is not HOST:PORT/);
    expect(() => parseNatsAddress('nats://h:99999/b')).toThrow(/not HOST:PORT/);
    expect(() => parseNatsAddress('nats://h:4222/a.b')).toThrow(/bucket "a.b"/);
    expect(() => parseNatsAddress('nats://h:4222/')).toThrow(/bucket ""/);
    expect(() => parseNatsAddress('http://h:4222/b')).toThrow(/not a NATS address/);
  });
});

describe('NATS index keys', () => {
  it('a frame key is a subject of its camera and UTC day, and reads back to the same name', () => {
    const f = { camera: 'front.door', time: new Date('2026-11-21T05:53:00.123Z'), id: '4f2a-9c' };
    const key = frameKey(f);
    expect(key).toBe('f.front=door.2026-11-21.20261121T055300123Z_4f2a-9c');
    expect(key.startsWith(dayFilter('front.door', '2026-11-21').slice(0, -1))).toBe(true);
    expect(parseFrameKey(key)).toEqual({ ...f, name: 'front.door/2026-11-21/20261121T055300.123Z_4f2a-9c.jpg' });
    for (const bad of ['d.cam.2026-11-21', 'f.cam.2026-11-21', 'f.cam.2026-11-22.20261121T055300123Z_a', 'f.cam.2026-11-21.x_a']) expect(parseFrameKey(bad)).toBeUndefined();
  });
});

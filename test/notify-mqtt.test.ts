import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, tempDir } from './helpers/receiver.ts';
import { JPEGS, startMosquitto, startNotifier, storeFrame, subscriber, type Mosquitto, type RunningNotifier } from './helpers/notify.ts';

describe('notify over MQTT, with a real mosquitto', () => {
  let tmp: ReturnType<typeof tempDir>;
  let broker: Mosquitto;
  let notifier: RunningNotifier;
  let store: string;

  beforeAll(async () => {
    tmp = tempDir('notify-mqtt-');
    store = join(tmp.path, 'store');
    broker = await startMosquitto(tmp.path, { notify: 'notify-pw', watcher: 'watcher-pw' });
    // A camera the store knows before the notifier starts: discovered at once.
    storeFrame(store, 'front.door', new Date(Date.now() - 3_600_000), JPEGS[0]!, 'motion', 0.1);
    const passwordFile = join(tmp.path, 'mqtt-password');
    writeFileSync(passwordFile, 'notify-pw\n');
    notifier = startNotifier(
      ['--store', store, '--mqtt', `mqtt://notify@127.0.0.1:${broker.port}`, '--mqtt-password-file', passwordFile, '--event-gap', '1500ms', '--cooldown', '0', '--silence', '0'],
      cleanEnv(),
    );
    await notifier.waitLog(/"msg":"notifying"/);
  });

  afterAll(async () => {
    if (process.env.SHOW_LOG) console.log(notifier?.log());
    await notifier?.stop('SIGKILL');
    await broker?.stop();
    tmp?.remove();
  });

  it('retains Home Assistant discovery: a motion binary_sensor and an image entity per camera, one device, with availability', async () => {
    // A client that connects later gets them: they are retained.
    const late = await subscriber(broker.port, ['homeassistant/#', 'surveillance/availability']);
    try {
      const motion = await late.waitFor((m) => m.topic === 'homeassistant/binary_sensor/surveillance_front_door/motion/config', 'motion config');
      const image = await late.waitFor((m) => m.topic === 'homeassistant/image/surveillance_front_door/snapshot/config', 'image config');
      const online = await late.waitFor((m) => m.topic === 'surveillance/availability', 'availability');
      expect([motion.retain, image.retain, online.retain, online.payload.toString()]).toEqual([true, true, true, 'online']);
      const m = JSON.parse(motion.payload.toString());
      const i = JSON.parse(image.payload.toString());
      expect(m).toMatchObject({ device_class: 'motion', state_topic: 'surveillance/front.door/motion', payload_on: 'ON', payload_off: 'OFF', availability_topic: 'surveillance/availability' });
      expect(i).toMatchObject({ image_topic: 'surveillance/front.door/snapshot', content_type: 'image/jpeg', availability_topic: 'surveillance/availability' });
      expect(m.device.identifiers).toEqual(i.device.identifiers);
      expect(m.unique_id).not.toBe(i.unique_id);
    } finally {
      await late.client.endAsync();
    }
  });

  it("ON after an event's first frame, the best frame as the retained snapshot, OFF after the gap; heartbeats are no part of it", async () => {
    const sub = await subscriber(broker.port, ['surveillance/front.door/#']);
    try {
      const t = Date.now();
      storeFrame(store, 'front.door', new Date(t - 200), JPEGS[2]!, 'heartbeat', 0);
      const first = storeFrame(store, 'front.door', new Date(t), JPEGS[0]!, 'motion', 0.1);
      const on = await sub.waitFor((m) => m.topic === 'surveillance/front.door/motion' && m.payload.toString() === 'ON', 'motion ON');
      expect(on.retain).toBe(false); // delivered live, not from the retained store
      storeFrame(store, 'front.door', new Date(t + 100), JPEGS[1]!, 'motion', 0.6);
      storeFrame(store, 'front.door', new Date(t + 200), JPEGS[2]!, 'motion', 0.3);
      const off = await sub.waitFor((m) => m.topic === 'surveillance/front.door/motion' && m.payload.toString() === 'OFF', 'motion OFF');
      await sub.waitFor((m) => m.topic === 'surveillance/front.door/event' && m.payload.includes('event.end'), 'event.end');
      const seen = sub.messages.map((m) => m.topic.split('/')[2] + (m.topic.endsWith('motion') ? `=${m.payload}` : ''));
      expect(seen.indexOf('motion=ON')).toBeLessThan(seen.indexOf('motion=OFF'));
      expect(off.retain).toBe(false);
      const snapshots = sub.messages.filter((m) => m.topic === 'surveillance/front.door/snapshot');
      expect(snapshots[0]!.payload).toEqual(JPEGS[0]); // the first frame first, at once
      expect(snapshots.at(-1)!.payload).toEqual(JPEGS[1]); // then the cover: the largest score
      const events = sub.messages.filter((m) => m.topic === 'surveillance/front.door/event').map((m) => JSON.parse(m.payload.toString()));
      expect(events.map((e) => e.type)).toEqual(['event.start', 'event.end']);
      expect(events[1].event).toMatchObject({ camera: 'front.door', start: new Date(t).toISOString(), frames: 3, score: 0.6 });
      expect(events[0].event.cover).toBe(first);

      // What a client connecting now sees: the retained state.
      const late = await subscriber(broker.port, ['surveillance/front.door/motion', 'surveillance/front.door/snapshot']);
      const state = await late.waitFor((m) => m.topic.endsWith('motion'), 'retained motion');
      const snap = await late.waitFor((m) => m.topic.endsWith('snapshot'), 'retained snapshot');
      expect([state.retain, state.payload.toString(), snap.retain]).toEqual([true, 'OFF', true]);
      expect(snap.payload).toEqual(JPEGS[1]);
      await late.client.endAsync();
    } finally {
      await sub.client.endAsync();
    }
  });

  it('availability goes offline when the notifier is killed (the last will)', async () => {
    const sub = await subscriber(broker.port, ['surveillance/availability']);
    try {
      await sub.waitFor((m) => m.payload.toString() === 'online', 'online');
      await notifier.stop('SIGKILL');
      const offline = await sub.waitFor((m) => m.payload.toString() === 'offline', 'offline after SIGKILL');
      expect(offline.topic).toBe('surveillance/availability');
    } finally {
      await sub.client.endAsync();
    }
  });
});

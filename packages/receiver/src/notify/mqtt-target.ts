import { readFileSync } from 'node:fs';
import { SurveillanceError, type Logger } from '@surveillance/shared';
import type { MqttClient } from 'mqtt';
import { noticeJson, type Notice, type Target } from './notice.ts';

/**
 * MQTT, the way Home Assistant (and Frigate's users) expect it:
 *
 *   surveillance/availability           online / offline (retained; offline is the last will)
 *   surveillance/<camera>/motion        ON / OFF (retained)
 *   surveillance/<camera>/snapshot      the cover JPEG's bytes (retained)
 *   surveillance/<camera>/event         the event as JSON (as webhooks get it)
 *   surveillance/<camera>/silent        ON while the camera sends nothing, not even heartbeats (retained)
 *   homeassistant/.../config            discovery (retained): per camera one device with a motion
 *                                       binary_sensor, an image entity and a "problem" binary_sensor
 *
 * Publishing goes through the outbox: while the broker is away a publish fails at once (no queue
 * inside the client to replay later), and the outbox keeps only the latest state.
 */

export interface MqttTargetOptions {
  url: string;
  password?: string;
  /** CA certificate (PEM) for mqtts:// with a private CA. */
  ca?: string;
  prefix?: string;
  discoveryPrefix?: string;
  log: Logger;
  /** Called when the broker is back, so that the outbox sends at once. */
  onConnect?: () => void;
}

const TIMEOUT_MS = 10_000;

/** An MQTT topic level / HA object id made from a camera name ('.' is not allowed in HA ids). */
const objectId = (camera: string) => camera.replace(/[^A-Za-z0-9_-]/g, '_');

export function checkMqttUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SurveillanceError('usage', `option mqtt: ${JSON.stringify(text)} is not a URL like mqtt://user@host:1883 or mqtts://host:8883`);
  }
  if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:') throw new SurveillanceError('usage', `option mqtt: use mqtt:// or mqtts://, not ${url.protocol}//`);
  if (url.password) throw new SurveillanceError('usage', 'option mqtt: no password in the URL (every user can read a command line); put it in the mqtt-password credential or --mqtt-password-file');
  if (url.pathname !== '' && url.pathname !== '/') throw new SurveillanceError('usage', `option mqtt: a broker URL has no path (${url.pathname})`);
  return url;
}

export class MqttTarget implements Target {
  readonly name: string;
  private client: MqttClient | undefined;
  private known: readonly string[] = [];
  private readonly prefix: string;
  private readonly discovery: string;
  private connectedOnce = false;

  constructor(private readonly options: MqttTargetOptions) {
    const url = checkMqttUrl(options.url);
    this.name = `MQTT broker ${url.host}`;
    this.prefix = options.prefix ?? 'surveillance';
    this.discovery = options.discoveryPrefix ?? 'homeassistant';
  }

  get availabilityTopic(): string {
    return `${this.prefix}/availability`;
  }

  /** Connects in the background; publishing fails until it has. */
  async start(): Promise<void> {
    // A CommonJS package: bundled, its exports may sit on `default`.
    const mqtt = (await import('mqtt')) as typeof import('mqtt') & { default?: typeof import('mqtt') };
    const connect = mqtt.connect ?? mqtt.default!.connect;
    const url = checkMqttUrl(this.options.url);
    const client = connect(this.options.url, {
      username: url.username ? decodeURIComponent(url.username) : undefined,
      password: this.options.password,
      ca: this.options.ca ? readFileSync(this.options.ca) : undefined,
      clientId: `surveillance-notify-${process.pid}`,
      reconnectPeriod: 2000,
      connectTimeout: TIMEOUT_MS,
      queueQoSZero: false,
      will: { topic: this.availabilityTopic, payload: Buffer.from('offline'), retain: true, qos: 1 },
    });
    this.client = client;
    client.on('connect', () => {
      if (this.connectedOnce) this.options.log.info({ broker: url.host }, 'connected to the MQTT broker again');
      this.connectedOnce = true;
      void this.announce().then(
        () => this.options.onConnect?.(),
        () => undefined, // the outbox retries, and the next connect announces again
      );
    });
    // Errors reach the outbox through failed publishes; logging each reconnect would flood.
    client.on('error', () => undefined);
  }

  /** Availability and discovery, on every (re)connect: a broker without persistence forgets them. */
  private async announce(): Promise<void> {
    await this.publish(this.availabilityTopic, 'online', true);
    for (const camera of this.known) await this.discover(camera);
  }

  async cameras(cameras: readonly string[]): Promise<void> {
    const added = cameras.filter((c) => !this.known.includes(c));
    this.known = [...cameras];
    for (const camera of added) await this.discover(camera);
  }

  private async discover(camera: string): Promise<void> {
    const id = objectId(camera);
    const base = `${this.prefix}/${camera}`;
    const device = { identifiers: [`surveillance_${id}`], name: `Camera ${camera}`, manufacturer: 'surveillance', model: 'camera box' };
    const common = { availability_topic: this.availabilityTopic, device };
    const configs: [string, object][] = [
      [`binary_sensor/surveillance_${id}/motion`, { name: 'Motion', unique_id: `surveillance_${id}_motion`, state_topic: `${base}/motion`, device_class: 'motion', payload_on: 'ON', payload_off: 'OFF', ...common }],
      [`image/surveillance_${id}/snapshot`, { name: 'Snapshot', unique_id: `surveillance_${id}_snapshot`, image_topic: `${base}/snapshot`, content_type: 'image/jpeg', ...common }],
      [`binary_sensor/surveillance_${id}/silent`, { name: 'Silent', unique_id: `surveillance_${id}_silent`, state_topic: `${base}/silent`, device_class: 'problem', payload_on: 'ON', payload_off: 'OFF', ...common }],
    ];
    for (const [path, config] of configs) await this.publish(`${this.discovery}/${path}/config`, JSON.stringify(config), true);
  }

  async send(notice: Notice): Promise<void> {
    if ('event' in notice) {
      const base = `${this.prefix}/${notice.event.camera}`;
      if (notice.kind === 'start') await this.publish(`${base}/motion`, 'ON', true);
      if (notice.kind !== 'end' && notice.cover) await this.publish(`${base}/snapshot`, notice.cover, true);
      if (notice.kind === 'end') await this.publish(`${base}/motion`, 'OFF', true);
      if (notice.kind !== 'update') await this.publish(`${base}/event`, JSON.stringify(noticeJson(notice)), false);
    } else {
      await this.publish(`${this.prefix}/${notice.camera}/silent`, notice.kind === 'silent' ? 'ON' : 'OFF', true);
    }
  }

  private publish(topic: string, payload: string | Buffer, retain: boolean): Promise<void> {
    const client = this.client;
    if (!client?.connected) return Promise.reject(new Error('not connected'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no PUBACK within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
      client.publish(topic, payload, { qos: 1, retain }, (e) => {
        clearTimeout(timer);
        if (e) reject(e);
        else resolve();
      });
    });
  }

  /** A clean stop says offline itself (the will is only for a death). */
  async close(): Promise<void> {
    const client = this.client;
    if (!client) return;
    if (client.connected) await this.publish(this.availabilityTopic, 'offline', true).catch(() => undefined);
    await client.endAsync().catch(() => undefined);
  }
}

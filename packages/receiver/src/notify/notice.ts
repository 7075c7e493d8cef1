import type { FrameEvent } from '../store/events.ts';

/**
 * What the notifier tells its targets. Each target turns a notice into its own messages (MQTT
 * topics, a webhook POST, an ntfy push) and may ignore kinds it has no use for.
 */
export type Notice =
  | {
      /** start: a new event; update: the open event has a better cover; end: it is over. */
      kind: 'start' | 'update' | 'end';
      event: FrameEvent;
      /** The cover frame's JPEG (start and update; undefined when it vanished meanwhile). */
      cover?: Buffer;
      /** The event in the gallery, when --gallery-url is given. */
      url?: string;
      /**
       * Within --cooldown of the camera's previous announced event: push targets (webhook,
       * ntfy) stay quiet; MQTT state still follows, since automations rely on it.
       */
      cooledDown: boolean;
    }
  | {
      /** silent: no frame (nor heartbeat) from a known camera for --silence; back: one came. */
      kind: 'silent' | 'back';
      camera: string;
      lastSeen: Date;
    };

/** Where notices go. `send` throws when the target did not take the notice (the outbox retries). */
export interface Target {
  readonly name: string;
  /** The cameras known so far (MQTT discovery); called again when one is added. */
  cameras?(cameras: readonly string[]): Promise<void>;
  send(notice: Notice): Promise<void>;
  close(): Promise<void>;
}

export function noticeCamera(notice: Notice): string {
  return 'event' in notice ? notice.event.camera : notice.camera;
}

/** The JSON body that webhooks get and MQTT's event topic carries. */
export function noticeJson(notice: Notice): Record<string, unknown> {
  if ('event' in notice) {
    const e = notice.event;
    return {
      type: `event.${notice.kind}`,
      event: {
        id: e.id,
        camera: e.camera,
        start: e.start.toISOString(),
        last: e.last.toISOString(),
        end: e.end?.toISOString() ?? null,
        frames: e.frames,
        cover: e.cover.name,
        ...(e.cover.score !== undefined && e.cover.reason !== 'first' ? { score: e.cover.score } : {}),
      },
      ...(notice.url ? { url: notice.url } : {}),
    };
  }
  return { type: `camera.${notice.kind}`, camera: notice.camera, lastSeen: notice.lastSeen.toISOString() };
}

import type { Target, Notice } from './notice.ts';
import { expectOk } from './webhook.ts';

/**
 * ntfy-compatible push (ntfy.sh or a self-hosted ntfy): a PUT of the cover JPEG to URL/topic,
 * which ntfy attaches to the message (`Filename` names it), with the title, tags and message in
 * headers and a click URL to the event in the gallery. A camera that falls silent is a plain
 * message. Header values must be ASCII: camera names are.
 */

const TIMEOUT_MS = 15_000;

export class NtfyTarget implements Target {
  readonly name: string;

  constructor(
    private readonly url: URL,
    private readonly token: string | undefined,
    private readonly notifyEnd: boolean,
  ) {
    this.name = `ntfy ${url.host}${url.pathname}`;
  }

  async send(notice: Notice): Promise<void> {
    const headers: Record<string, string> = {};
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    let body: Blob | string;
    if ('event' in notice) {
      if (notice.kind === 'update' || notice.cooledDown || (notice.kind === 'end' && !this.notifyEnd)) return;
      const e = notice.event;
      const local = e.start.toLocaleTimeString('en-GB');
      headers.Title = notice.kind === 'start' ? `Motion: ${e.camera}` : `Motion over: ${e.camera}`;
      headers.Tags = notice.kind === 'start' ? 'rotating_light,camera' : 'white_check_mark,camera';
      headers.Message = notice.kind === 'start' ? `${e.camera} at ${local}` : `${e.camera} from ${local}, ${e.frames} frame(s)`;
      if (notice.url) headers.Click = notice.url;
      if (notice.kind === 'start' && notice.cover) {
        headers.Filename = `${e.id}.jpg`;
        body = new Blob([new Uint8Array(notice.cover)], { type: 'image/jpeg' });
      } else {
        body = headers.Message;
      }
    } else {
      headers.Title = notice.kind === 'silent' ? `Camera silent: ${notice.camera}` : `Camera back: ${notice.camera}`;
      headers.Tags = notice.kind === 'silent' ? 'warning,camera' : 'white_check_mark,camera';
      headers.Priority = notice.kind === 'silent' ? 'high' : 'default';
      body = `${notice.camera}: last frame at ${notice.lastSeen.toLocaleString('en-GB')}`;
    }
    const response = await fetch(this.url, { method: 'PUT', headers, body, signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'error' });
    await expectOk(response, this.name);
  }

  async close(): Promise<void> {}
}

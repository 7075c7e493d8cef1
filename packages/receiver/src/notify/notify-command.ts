import { loadLineFormatter, stopSignal, SurveillanceError, type Spec } from '@surveillance/shared';
import { createLogger } from '@surveillance/shared/log';
import { startCommand } from '../command-start.ts';
import { storeSpec } from '../store/store-options.ts';
import { eventGapOption } from '../review/review-command.ts';
import { MqttTarget } from './mqtt-target.ts';
import type { Target } from './notice.ts';
import { Notifier } from './notifier.ts';
import { NtfyTarget } from './ntfy.ts';
import { Outbox } from './outbox.ts';
import { readSecret } from './secret.ts';
import { checkHttpUrl, WebhookTarget } from './webhook.ts';

const HELP = `Usage: surveillance-receiver notify [options]

Watches the store and tells MQTT (with Home Assistant discovery), a webhook and/or ntfy when
an event starts (a camera's burst of frames after --event-gap of quiet) and when it ends, and
when a known camera falls silent (no frame, not even a heartbeat, for --silence).

Secrets never go on the command line: each is read from the file its --*-file option names,
else from the systemd credential of that name ($CREDENTIALS_DIRECTORY): mqtt-password,
webhook-secret, ntfy-token. With no target given, it logs what it would send.`;

export const notifySpec = {
  ...storeSpec,
  ...eventGapOption,
  cooldown: { kind: 'duration', description: 'after an event is pushed (webhook, ntfy), events of that camera starting within this are not pushed; MQTT state always follows', default: 60_000, defaultText: '1m', min: 0 },
  silence: { kind: 'duration', description: "alert when a known camera sends nothing, not even a heartbeat, for this long; 0 never (the sender's --heartbeat is 10m by default)", default: 1_800_000, defaultText: '30m', min: 0 },
  'notify-end': { kind: 'boolean', description: 'also push (webhook, ntfy) when an event ends; MQTT always says OFF', default: false },
  'gallery-url': { kind: 'string', description: "the gallery's address as people reach it, for links to events (e.g. https://nvr.example:8080/)" },
  mqtt: { kind: 'string', description: 'MQTT broker, mqtt://[user@]host:port or mqtts://... (password: credential mqtt-password)' },
  'mqtt-password-file': { kind: 'path', description: 'file holding the MQTT password (default: credential mqtt-password)' },
  'mqtt-ca': { kind: 'path', description: 'CA certificate (PEM) that signed an mqtts:// broker, when not a public one' },
  'mqtt-prefix': { kind: 'string', description: 'first level of the topics', default: 'surveillance' },
  'discovery-prefix': { kind: 'string', description: "Home Assistant's discovery prefix", default: 'homeassistant' },
  webhook: { kind: 'string', description: 'URL to POST signed event JSON to (secret: credential webhook-secret)' },
  'webhook-secret-file': { kind: 'path', description: 'file holding the webhook signing secret (default: credential webhook-secret)' },
  ntfy: { kind: 'string', description: 'ntfy topic URL to push to, e.g. https://ntfy.sh/my-cameras-x7f3 (token, optional: credential ntfy-token)' },
  'ntfy-token-file': { kind: 'path', description: 'file holding an ntfy access token (default: credential ntfy-token)' },
} as const satisfies Spec;

const TOPIC_RE = /^[A-Za-z0-9_-]{1,64}$/;

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const start = await startCommand(HELP, notifySpec, argv, env);
  if (!start) return 0;
  const { values, store } = start;
  const log = createLogger('surveillance-notify', values['log-level'] as 'info', env, await loadLineFormatter(values['log-format'], env));
  for (const key of ['mqtt-prefix', 'discovery-prefix'] as const) {
    if (!TOPIC_RE.test(values[key])) throw new SurveillanceError('usage', `option ${key}: ${JSON.stringify(values[key])} must be 1-64 letters, digits, '_' or '-'`);
  }
  if (values['gallery-url'] !== undefined) checkHttpUrl('gallery-url', values['gallery-url']);

  const targets: Target[] = [];
  const outboxes: Outbox[] = [];
  let mqtt: MqttTarget | undefined;
  if (values.mqtt !== undefined) {
    mqtt = new MqttTarget({
      url: values.mqtt,
      password: readSecret('mqtt-password', values['mqtt-password-file'], env),
      ca: values['mqtt-ca'],
      prefix: values['mqtt-prefix'],
      discoveryPrefix: values['discovery-prefix'],
      log,
      onConnect: () => outboxes.find((o) => o.target === mqtt)?.wake(),
    });
    targets.push(mqtt);
  }
  if (values.webhook !== undefined) {
    const url = checkHttpUrl('webhook', values.webhook);
    const secret = readSecret('webhook-secret', values['webhook-secret-file'], env);
    if (!secret) throw new SurveillanceError('usage', 'option webhook: webhooks are signed; give the secret as the webhook-secret credential or --webhook-secret-file (e.g. openssl rand -hex 32)');
    targets.push(new WebhookTarget(url, secret, values['notify-end']));
  }
  if (values.ntfy !== undefined) {
    targets.push(new NtfyTarget(checkHttpUrl('ntfy', values.ntfy), readSecret('ntfy-token', values['ntfy-token-file'], env), values['notify-end']));
  }
  for (const target of targets) outboxes.push(new Outbox(target, log));

  const { storeSource } = await import('./store-source.ts');
  const notifier = new Notifier({
    source: storeSource(store),
    outboxes,
    gapMs: values['event-gap'],
    cooldownMs: values.cooldown,
    silenceMs: values.silence,
    galleryUrl: values['gallery-url'],
    log,
  });
  await mqtt?.start();
  await notifier.start();
  log.info({ store: store.location, targets: targets.map((t) => t.name), eventGapMs: values['event-gap'] }, targets.length ? 'notifying' : 'no target given: logging what would be sent');

  const signal = await stopSignal();
  log.info(`${signal}: closing`);
  await notifier.close();
  return 0;
}

import { EXIT, formatBytes, formatDuration, formatHostPort, isBug, SurveillanceError, type CameraKey, type HostPort } from '@surveillance/shared';
import { loadCameraKey } from './camera-key.ts';
import { ReceiverConnection } from './receiver-client.ts';
import { loadCommand } from './sender-command.ts';
import { resolveSpool, spoolStats } from './spool.ts';

const HELP = `Usage: surveillance-sender status --spool DIR [--to HOST:PORT] [--json]\n\n--spool may be left out only under systemd, whose StateDirectory= sets $STATE_DIRECTORY.

Shows the spool (frames waiting and their size, frames the receiver refused for good), the
last frame the receiver acknowledged, and, with --to, whether the receiver answers a ping.
Reads the spool without changing it, so it is safe next to a running sender.
Exit status: 0, or 69 when --to is given and the receiver does not answer.`;

interface ReceiverState {
  address: string;
  answers: boolean;
  ms?: number;
  error?: string;
}

async function pingReceiver(to: HostPort, timeoutMs: number, key?: CameraKey): Promise<ReceiverState> {
  const address = formatHostPort(to);
  const started = performance.now();
  let connection: ReceiverConnection | undefined;
  try {
    connection = await ReceiverConnection.open(to, timeoutMs, key);
    await connection.ping();
    return { address, answers: true, ms: Math.round(performance.now() - started) };
  } catch (e) {
    if (isBug(e)) throw e;
    return { address, answers: false, error: `${(e as SurveillanceError).code}: ${(e as SurveillanceError).message}` };
  } finally {
    await connection?.close();
  }
}

function ago(from: Date, now: Date): string {
  return `${formatDuration(Math.max(0, now.getTime() - from.getTime()))} ago`;
}

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const loaded = loadCommand('status', argv, env, HELP);
  if (!loaded) return 0;
  const { values } = loaded;
  const dir = resolveSpool(values.spool, env);
  const stats = spoolStats(dir);
  const receiver = values.to ? await pingReceiver(values.to, values.timeout, loadCameraKey(values.key, env)) : undefined;
  const limits = { files: values['spool-max-files'], bytes: values['spool-max-bytes'] };

  if (values.json) {
    process.stdout.write(`${JSON.stringify({ spool: dir, backlog: { ...stats, lastSent: undefined }, limits, lastSent: stats.lastSent ?? null, receiver: receiver ?? null })}\n`);
  } else {
    const now = new Date();
    const rows: [string, string][] = [
      ['spool', dir],
      ['backlog', stats.files === 0 ? 'none' : `${stats.files} frame(s), ${formatBytes(stats.bytes)}, oldest captured ${stats.oldest!.toISOString()} (${ago(stats.oldest!, now)})`],
      ['limits', `${limits.files} frames, ${formatBytes(limits.bytes)}; the oldest are dropped beyond`],
      ['rejected', stats.rejected === 0 ? 'none' : `${stats.rejected} frame(s) the receiver refused for good, in ${dir}/rejected`],
      [
        'last sent',
        stats.lastSent
          ? `${stats.lastSent.id} captured ${stats.lastSent.time}, stored as ${stats.lastSent.stored} (${stats.lastSent.status}, ${ago(new Date(stats.lastSent.acknowledgedAt), now)})`
          : 'nothing acknowledged yet',
      ],
    ];
    if (receiver) rows.push(['receiver', receiver.answers ? `${receiver.address} answers (${receiver.ms} ms)` : `${receiver.address} does not answer: ${receiver.error}`]);
    process.stdout.write(rows.map(([k, v]) => `${k.padEnd(10)} ${v}\n`).join(''));
  }
  return receiver && !receiver.answers ? EXIT.unavailable : EXIT.ok;
}

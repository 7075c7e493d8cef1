import { EXIT, SurveillanceError, type HostPort } from '@surveillance/shared';
import { ReceiverConnection } from './receiver-client.ts';
import { formatHostPort, loadCommand, resolveSpool } from './sender-options.ts';
import { spoolStats } from './spool.ts';

const HELP = `Usage: surveillance-sender status [--spool DIR] [--to HOST:PORT] [--json]

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

async function pingReceiver(to: HostPort, timeoutMs: number): Promise<ReceiverState> {
  const address = formatHostPort(to);
  const started = performance.now();
  let connection: ReceiverConnection | undefined;
  try {
    connection = await ReceiverConnection.open(to, timeoutMs);
    await connection.ping();
    return { address, answers: true, ms: Math.round(performance.now() - started) };
  } catch (e) {
    return { address, answers: false, error: e instanceof SurveillanceError ? `${e.code}: ${e.message}` : (e as Error).message };
  } finally {
    await connection?.close();
  }
}

function ago(from: Date, now: Date): string {
  const s = Math.round((now.getTime() - from.getTime()) / 1000);
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172_800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} days ago`;
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const loaded = loadCommand(argv, env, HELP);
  if (!loaded) return 0;
  const { values } = loaded;
  const dir = resolveSpool(values.spool, env);
  const stats = spoolStats(dir);
  const receiver = values.to ? await pingReceiver(values.to, values.timeout) : undefined;
  const limits = { files: values['spool-max-files'], bytes: values['spool-max-bytes'] };

  if (values.json) {
    process.stdout.write(`${JSON.stringify({ spool: dir, backlog: { ...stats, lastSent: undefined }, limits, lastSent: stats.lastSent ?? null, receiver: receiver ?? null })}\n`);
  } else {
    const now = new Date();
    const rows: [string, string][] = [
      ['spool', dir],
      ['backlog', stats.files === 0 ? 'none' : `${stats.files} frame(s), ${size(stats.bytes)}, oldest captured ${stats.oldest!.toISOString()} (${ago(stats.oldest!, now)})`],
      ['limits', `${limits.files} frames, ${size(limits.bytes)}; the oldest are dropped beyond`],
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

import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { describeBytes, EXIT, formatHelp, loadOptions, scanJpeg, SurveillanceError, type Ack, type HostPort } from '@surveillance/shared';
import { ReceiverConnection, type OutgoingFrame } from './receiver-client.ts';
import { required, resolveCamera, spec } from './sender-options.ts';

const HELP = `Usage: surveillance-sender send --to HOST:PORT [--camera NAME] FILE...

Delivers JPEG files now, as framed frames over one connection, and prints one line per file
on stdout: "FILE: OK|DUP STORED-NAME" or "FILE: ERR CODE REASON". A file's id is a hash of its
bytes and its capture time its modification time, so sending a file again answers DUP instead
of storing a second copy. A missing or non-JPEG file is reported and the others still go.
Exit status: 0 when every file was acknowledged; 69 when the receiver could not be reached;
1 when it refused a frame; 65 when only input files were bad. Nothing is spooled.`;

interface Outcome {
  file: string;
  ack: Ack;
}

/** Reads and checks one file; the frame's id is its content's hash, stable across resends. */
function loadFrame(file: string, camera: string): OutgoingFrame {
  let bytes: Buffer;
  let time: Date;
  try {
    time = statSync(file).mtime;
    bytes = readFileSync(file);
  } catch (e) {
    throw new SurveillanceError('not-found', `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let length: number;
  try {
    length = scanJpeg(bytes).bytes;
  } catch (e) {
    const head = bytes.subarray(0, 8);
    const what = head[0] === 0xff && head[1] === 0xd8 ? (e as Error).message : `not a JPEG: ${describeBytes(head)}`;
    throw new SurveillanceError('bad-jpeg', what);
  }
  const jpeg = bytes.subarray(0, length);
  return { camera, id: createHash('sha256').update(jpeg).digest('hex').slice(0, 16), time, jpeg };
}

function errAck(e: unknown): Ack {
  const error = e instanceof SurveillanceError ? e : new SurveillanceError('unreachable', (e as Error).message);
  return { status: 'ERR', id: '-', code: error.code, reason: error.message };
}

async function deliver(to: HostPort, timeoutMs: number, frames: { file: string; frame: OutgoingFrame }[], report: (o: Outcome) => void): Promise<void> {
  let connection: ReceiverConnection | undefined;
  try {
    for (const { file, frame } of frames) {
      let ack: Ack;
      try {
        connection = connection?.usable ? connection : await ReceiverConnection.open(to, timeoutMs);
        ack = await connection.send(frame);
      } catch (e) {
        connection?.destroy();
        connection = undefined;
        ack = errAck(e);
      }
      // The receiver ends the connection after an ERR: the next file gets a new one.
      if (ack.status === 'ERR') connection = undefined;
      report({ file, ack });
    }
  } finally {
    await connection?.close();
  }
}

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = loadOptions(spec, argv, env);
  if (values.help) {
    process.stdout.write(formatHelp(HELP, spec));
    return 0;
  }
  const to = required(values.to, 'to', 'the receiver to deliver the files to');
  const camera = resolveCamera(values.camera);
  if (positionals.length === 0) throw new SurveillanceError('usage', 'no FILE given: send --to HOST:PORT FILE...');

  const report = (o: Outcome) => {
    const { ack } = o;
    process.stdout.write(ack.status === 'ERR' ? `${o.file}: ERR ${ack.code} ${ack.reason}\n` : `${o.file}: ${ack.status} ${ack.name}\n`);
  };
  const frames: { file: string; frame: OutgoingFrame }[] = [];
  for (const file of positionals) {
    try {
      frames.push({ file, frame: loadFrame(file, camera) });
    } catch (e) {
      report({ file, ack: errAck(e) });
    }
  }
  const refused: string[] = [];
  await deliver(to, values.timeout, frames, (o) => {
    report(o);
    if (o.ack.status === 'ERR') refused.push(o.ack.code);
  });

  if (refused.includes('unreachable')) return EXIT.unavailable;
  if (refused.length > 0) return EXIT.failure;
  return frames.length < positionals.length ? EXIT.dataErr : EXIT.ok;
}

import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { describeBytes, EXIT, isBug, scanJpeg, SurveillanceError, type Ack, type CameraKey, type HostPort } from '@surveillance/shared';
import { ReceiverConnection, type OutgoingFrame } from './receiver-client.ts';
import { cameraOfKey, loadCameraKey } from './camera-key.ts';
import { resolveCamera } from './camera-name.ts';
import { captureTimeNote, type CaptureTime } from './capture-time.ts';
import { loadCommand, required } from './sender-command.ts';

const HELP = `Usage: surveillance-sender send --to HOST:PORT [--camera NAME] [--time mtime|now] FILE...

Delivers JPEG files now, as framed frames over one connection, and prints one line per file
on stdout: "FILE: OK|DUP STORED-NAME (capture time: ...)" or "FILE: ERR CODE REASON". A file's
id is a hash of its bytes and its capture time, by default, its modification time, so sending
a file again answers DUP instead of storing a second copy. A file just copied or checked out
has the time of that, and sorts there among the frames: --time now stores it as captured when
it is sent. A missing or non-JPEG file is reported and the others still go.
Exit status: 0 when every file was acknowledged; 69 when the receiver could not be reached;
1 when it refused a frame; 65 when only input files were bad. Nothing is spooled.`;

/** Reads and checks one file; the frame's id is its content's hash, stable across resends. */
function loadFrame(file: string, camera: string, timeMode: CaptureTime): OutgoingFrame {
  let bytes: Buffer;
  let time: Date;
  try {
    const mtime = statSync(file).mtime;
    time = timeMode === 'now' ? new Date() : mtime;
    bytes = readFileSync(file);
  } catch (e) {
    throw new SurveillanceError('not-found', `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let length: number;
  try {
    length = scanJpeg(bytes).bytes;
  } catch (e) {
    if (isBug(e)) throw e;
    const head = bytes.subarray(0, 8);
    const what = head[0] === 0xff && head[1] === 0xd8 ? (e as Error).message : `not a JPEG: ${describeBytes(head)}`;
    throw new SurveillanceError('bad-jpeg', what);
  }
  const jpeg = bytes.subarray(0, length);
  return { camera, id: createHash('sha256').update(jpeg).digest('hex').slice(0, 16), time, jpeg };
}

/** An error as this file's outcome line; a bug is no outcome: it ends the command (status 70). */
function errAck(e: unknown): Ack {
  if (isBug(e)) throw e;
  const error = e as SurveillanceError;
  return { status: 'ERR', id: '-', code: error.code, reason: error.message };
}

/**
 * One connection for all files, opened when the first good file needs it and again after an
 * ERR (the receiver ends the connection then). Once the receiver cannot be reached at all, the
 * remaining files are reported unreachable without waiting for each connection attempt.
 */
class Sender {
  private connection: ReceiverConnection | undefined;
  private down: SurveillanceError | undefined;

  constructor(
    private readonly to: HostPort,
    private readonly timeoutMs: number,
    private readonly key?: CameraKey,
  ) {}

  async send(frame: OutgoingFrame): Promise<Ack> {
    if (this.down) return errAck(this.down);
    try {
      if (!this.connection?.usable) {
        this.connection = undefined;
        this.connection = await ReceiverConnection.open(this.to, this.timeoutMs, this.key).catch((e: SurveillanceError) => {
          this.down = e;
          throw e;
        });
      }
      const ack = await this.connection.send(frame);
      if (ack.status === 'ERR') this.drop();
      return ack;
    } catch (e) {
      this.drop();
      return errAck(e);
    }
  }

  async close(): Promise<void> {
    await this.connection?.close();
  }

  private drop(): void {
    this.connection?.destroy();
    this.connection = undefined;
  }
}

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const loaded = loadCommand('send', argv, env, HELP);
  if (!loaded) return 0;
  const { values, files } = loaded;
  const to = required(values.to, 'to', 'the receiver to deliver the files to');
  const key = loadCameraKey(values.key, env);
  const camera = resolveCamera(cameraOfKey(key, values.camera));
  if (files.length === 0) throw new SurveillanceError('usage', 'no FILE given: send --to HOST:PORT FILE...');

  const timeMode = values.time as CaptureTime;
  const note = captureTimeNote(timeMode);
  const sender = new Sender(to, values.timeout, key);
  const refused: string[] = [];
  let badInput = 0;
  const print = (file: string, ack: Ack) =>
    process.stdout.write(ack.status === 'ERR' ? `${file}: ERR ${ack.code} ${ack.reason}\n` : `${file}: ${ack.status} ${ack.name} ${note}\n`);
  try {
    for (const file of files) {
      let frame: OutgoingFrame;
      try {
        frame = loadFrame(file, camera, timeMode);
      } catch (e) {
        badInput++;
        print(file, errAck(e));
        continue;
      }
      const ack = await sender.send(frame);
      if (ack.status === 'ERR') refused.push(ack.code);
      print(file, ack);
    }
  } finally {
    await sender.close();
  }
  if (refused.includes('unreachable')) return EXIT.unavailable;
  if (refused.length > 0) return EXIT.failure;
  return badInput > 0 ? EXIT.dataErr : EXIT.ok;
}

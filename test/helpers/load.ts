import { connect } from 'node:net';
import { encodeHeader } from '@surveillance/shared';

/**
 * A camera for load tests: sends `count` framed frames over one connection, each after the
 * answer to the one before (as the sender does), and when a connection is refused or cut
 * (over a socket's connection limit), connects again after a short random pause and goes on
 * with the first frame not acknowledged. Lighter than 64 sender processes on two cores, and
 * the same protocol.
 */
export interface CameraResult {
  camera: string;
  acknowledged: number;
  duplicates: number;
  connections: number;
  /** Connections closed before any answer: refused by a limit. */
  refused: number;
  errors: string[];
}

export function loadCamera(port: number, camera: string, count: number, jpeg: Buffer, time: () => Date = () => new Date()): Promise<CameraResult> {
  const result: CameraResult = { camera, acknowledged: 0, duplicates: 0, connections: 0, refused: 0, errors: [] };
  const unit = (i: number) => Buffer.concat([encodeHeader({ camera, id: `${camera}-${i}`, time: time(), length: jpeg.length }), jpeg]);
  const once = () =>
    new Promise<void>((resolve) => {
      result.connections++;
      const socket = connect({ host: '127.0.0.1', port });
      let answers = 0;
      let buffered = '';
      socket.setEncoding('utf8');
      socket.on('connect', () => socket.write(unit(result.acknowledged)));
      socket.on('data', (d: string) => {
        buffered += d;
        let lf: number;
        while ((lf = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, lf);
          buffered = buffered.slice(lf + 1);
          answers++;
          if (line.startsWith('OK ') || line.startsWith('DUP ')) {
            if (line.startsWith('DUP ')) result.duplicates++;
            result.acknowledged++;
            if (result.acknowledged === count) socket.end();
            else socket.write(unit(result.acknowledged));
          } else {
            result.errors.push(line);
            socket.destroy();
          }
        }
      });
      socket.on('error', () => {});
      socket.on('close', () => {
        if (answers === 0) result.refused++;
        resolve();
      });
    });
  return (async () => {
    while (result.acknowledged < count && result.errors.length < 5) {
      await once();
      if (result.acknowledged < count) await new Promise((r) => setTimeout(r, 20 + Math.random() * 80));
    }
    return result;
  })();
}

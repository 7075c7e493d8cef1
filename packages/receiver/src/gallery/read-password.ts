import { SurveillanceError } from '@surveillance/shared';

/**
 * A password from the terminal, typed twice without echo, or else the first line of stdin
 * (for scripts: `printf '%s\n' "$PW" | surveillance-receiver serve --set-password`). Never
 * from argv or the environment.
 */
export async function readPassword(stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stdin) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size > 4096) throw new SurveillanceError('usage', 'the password on stdin is longer than 4096 bytes');
    }
    const text = Buffer.concat(chunks).toString('utf8');
    return text.split(/\r?\n/)[0] ?? '';
  }
  const first = await ask(stdin, 'New gallery password: ');
  const again = await ask(stdin, 'Again: ');
  if (first !== again) throw new SurveillanceError('usage', 'the two passwords differ; nothing was changed');
  return first;
}

function ask(stdin: NodeJS.ReadStream, prompt: string): Promise<string> {
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (e?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (e) reject(e);
      else resolve(text);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003' || ch === '\u0004') return done(new SurveillanceError('usage', 'no password given; nothing was changed'));
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on('data', onData);
  });
}

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { formatHelp, formatKeyLine, ignoreClosedStdout, KEY_BYTES, loadOptions, SurveillanceError, type Spec } from '@surveillance/shared';
import { CameraKeys, type KeyEntry } from './camera-keys.ts';
import { CameraSeen } from './camera-seen.ts';
import { adminKeyFolder, adminStore } from './key-folder.ts';

const HELP = `Usage: surveillance-receiver camera add NAME      pair a camera: make its key
       surveillance-receiver camera list          cameras, their keys, when last seen
       surveillance-receiver camera rotate NAME   a second key; the old one retires once
                                                  the camera has connected with the new one
       surveillance-receiver camera remove NAME   unpair: its keys stop working at once

Once a key folder exists, the receiver (started with it, or under systemd with the folder as
LoadCredential=camera-keys:FOLDER) takes frames only over TLS from cameras with a key, and
each camera only under its own name. A listener that reads the folder itself finds a camera
added while it runs within a few seconds; under systemd, surveillance-listener.service keeps the
copy of the credential it started with until it is restarted (this command says so).

add and rotate print the key once, as one line on stdout. Keep it on the camera box as its
key file, readable only by the sender (for example /etc/surveillance/camera.key, mode 600),
and give it to the sender with --key FILE or scripts/install-sender-units.sh --key FILE.

The folder is written 0700, each key 0600. Retired keys are deleted by the next camera
command. Last-seen times come from the receiver's store (STORE/.cameras/).`;

const spec = {
  keys: { kind: 'path', description: 'key folder', defaultText: '/etc/surveillance/camera-keys as root, else ~/.config/surveillance/camera-keys' },
  store: { kind: 'path', description: "the receiver's store, for last-seen times", defaultText: '/var/lib/surveillance as root, else ~/.local/state/surveillance' },
  help: { kind: 'boolean', description: 'show this help', default: false, flagOnly: true },
} as const satisfies Spec;

const ACTIONS = ['add', 'list', 'rotate', 'remove'] as const;

function usage(message: string): SurveillanceError {
  return new SurveillanceError('usage', message);
}

function cannotWrite(dir: string, e: unknown): SurveillanceError {
  const code = (e as NodeJS.ErrnoException).code;
  return new SurveillanceError('cannot-write', `key folder ${dir}: ${code ?? (e as Error).message}${code === 'EACCES' ? ' (run as the user that owns it, e.g. with sudo)' : ''}`, { cause: e });
}

interface Row {
  entry: KeyEntry;
  state: 'active' | 'retired';
}

/**
 * Every key with its state. Retired keys (older than the newest one the camera connected
 * with) are deleted when the folder lets us; a read-only folder keeps them, still refused.
 */
function sweep(keys: CameraKeys, seen: CameraSeen): Row[] {
  const rows: Row[] = [];
  for (const entry of keys.list()) {
    const retired = seen.isRetired(entry.camera, entry.keyId);
    if (retired) {
      try {
        keys.delete(entry);
        continue;
      } catch {
        // read-only (a credential, a mounted folder): listed as retired, refused all the same
      }
    }
    rows.push({ entry, state: retired ? 'retired' : 'active' });
  }
  return rows;
}

/**
 * Under systemd, LoadCredential= copies the key folder when the service starts. The per-connection
 * receiver (surveillance@.service) starts for every connection and so sees a change at once; the
 * listener (surveillance-listener.service) runs for many connections and keeps the copy it
 * started with until it is restarted (or exits when idle and is started again). When that listener
 * is installed and enabled with this folder as its credential, the admin is told so.
 */
export function listenerRestartHint(dir: string, unitDir = '/etc/systemd/system'): string | undefined {
  const enabled = existsSync(join(unitDir, 'sockets.target.wants/surveillance-listener.socket'));
  let unit: string;
  try {
    unit = readFileSync(join(unitDir, 'surveillance-listener.service'), 'utf8');
  } catch {
    return undefined;
  }
  const loads = unit.split('\n').some((l) => /^LoadCredential=camera-keys:/.test(l) && resolve(l.slice(l.indexOf(':') + 1).trim()) === resolve(dir));
  if (!enabled || !loads) return undefined;
  return 'hint: surveillance-listener.service loads this key folder as a credential, copied when it starts: until it restarts it uses the keys it started with. Take the change now: sudo systemctl restart surveillance-listener.service\n';
}

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env, now = () => new Date()): Promise<number> {
  ignoreClosedStdout();
  const { values, positionals } = loadOptions(spec, argv, env);
  if (values.help || positionals.length === 0) {
    process.stdout.write(formatHelp(HELP, spec));
    return values.help ? 0 : 64;
  }
  const [action, name, ...rest] = positionals;
  if (!(ACTIONS as readonly string[]).includes(action!)) throw usage(`unknown camera command ${JSON.stringify(action)}; choose ${ACTIONS.join(', ')}`);
  if (action === 'list' ? name !== undefined : name === undefined) throw usage(action === 'list' ? `camera list takes no name` : `camera ${action} needs the camera's NAME`);
  if (rest.length > 0) throw usage(`unexpected argument ${JSON.stringify(rest[0])}; see --help`);

  const dir = adminKeyFolder(values.keys, env);
  let keys: CameraKeys;
  try {
    keys = CameraKeys.open(dir, { create: action === 'add' });
  } catch (e) {
    if (e instanceof SurveillanceError) throw e;
    throw cannotWrite(dir, e);
  }
  const seen = new CameraSeen(adminStore(values.store, env));
  const rows = sweep(keys, seen);
  const ofCamera = rows.filter((r) => r.entry.camera === name);

  const write = (fn: () => void) => {
    try {
      fn();
    } catch (e) {
      if (e instanceof SurveillanceError) throw e;
      throw cannotWrite(dir, e);
    }
  };

  switch (action) {
    case 'list': {
      if (rows.length === 0) {
        process.stdout.write(`no cameras paired in ${dir}: surveillance-receiver camera add NAME\n`);
        return 0;
      }
      const lines = [['CAMERA', 'KEY', 'MADE', 'STATE', 'LAST SEEN']];
      for (const { entry, state } of rows) {
        const last = seen.get(entry.camera);
        const inUse = last?.keyId === entry.keyId;
        lines.push([
          entry.camera,
          entry.keyId,
          entry.made.toISOString(),
          inUse ? 'active, in use' : state,
          inUse ? last.at.toISOString() : last && state === 'active' ? 'not with this key yet' : last ? '-' : 'never',
        ]);
      }
      const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
      process.stdout.write(lines.map((l) => l.map((c, i) => (i === l.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n');
      return 0;
    }
    case 'add':
    case 'rotate': {
      if (action === 'add' && ofCamera.length > 0) throw usage(`camera ${name} is already paired (key ${ofCamera.at(-1)!.entry.keyId}); to give it a new key: surveillance-receiver camera rotate ${name}`);
      if (action === 'rotate' && ofCamera.length === 0) throw new SurveillanceError('not-found', `camera ${name} is not paired in ${dir}; pair it with: surveillance-receiver camera add ${name}`);
      let line = '';
      write(() => {
        line = formatKeyLine(keys.add(name!, () => randomBytes(KEY_BYTES), now()));
      });
      process.stdout.write(line);
      process.stderr.write(
        action === 'add'
          ? `camera ${name} paired: store the line above on the camera box as its key file (mode 600); it is not shown again\n`
          : `camera ${name}: new key made; the old one works until the camera has connected with the new one. Store the line above on the camera box in place of its key file\n`,
      );
      process.stderr.write(listenerRestartHint(dir) ?? '');
      return 0;
    }
    case 'remove': {
      if (ofCamera.length === 0) throw new SurveillanceError('not-found', `camera ${name} is not paired in ${dir}`);
      write(() => {
        for (const { entry } of ofCamera) keys.delete(entry);
      });
      try {
        seen.forget(name!);
      } catch {
        // a store we may not write: the hint goes stale, and a new pairing starts a new one
      }
      process.stderr.write(`camera ${name} removed: ${ofCamera.length} key(s) deleted; its frames stay in the store\n`);
      process.stderr.write(listenerRestartHint(dir) ?? '');
      return 0;
    }
  }
  return 0;
}

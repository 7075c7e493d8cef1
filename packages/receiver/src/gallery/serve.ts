import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir, availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { listenError, loadLineFormatter, loadOptions, stopSignal, SurveillanceError, writeFileDurably, writeStdout, type Spec } from '@surveillance/shared';
import { createLogger } from '@surveillance/shared/log';
import { startCommand } from '../command-start.ts';
import { eventGapOption } from '../review/review-command.ts';
import { storeSpec } from '../store/store-options.ts';
import { checkPasswordHash, hashPassword, isLoopbackHost, MIN_PASSWORD_LENGTH, MIN_TOKEN_LENGTH } from './access.ts';
import { GalleryServer } from './gallery-server.ts';
import { readPassword } from './read-password.ts';

const HELP = `Usage: surveillance-receiver serve [options]
       surveillance-receiver serve --set-password [--password-file FILE]

A web gallery of the store. It opens on the Events view: a card per event (a camera's burst of
frames after --event-gap of quiet; heartbeats are not part of one), newest first, that plays
when clicked, with the day's timeline of events (zoom to an hour or to an event), and new
events as they happen. The Frames view has every frame of a day as thumbnails, full-size frames
with keyboard navigation (arrows, Home, End, Escape, Space to play), and new frames as they arrive.
Days and times are shown in this machine's time zone (TZ); names on disk stay in UTC.

It listens on 127.0.0.1 only, unless told otherwise. Any other address is reachable from other
machines and needs a login and HTTPS:
  --set-password        asks for a password (on the terminal, or one line on stdin) and stores
                        its scrypt hash in the password file; the gallery then has a login page
  --tls-cert/--tls-key  PEM files for HTTPS (or a reverse proxy such as Caddy in front, with
                        the gallery on 127.0.0.1)
  --insecure-http       serve plain HTTP beyond loopback all the same (a trusted network only)
Scripts send "Authorization: Bearer TOKEN", the token read from --token-file, the credential
gallery-token or $SURVEILLANCE_TOKEN; never from the command line, where ps shows it.
Under systemd, LoadCredential= may provide gallery-password, gallery-token, gallery-tls-cert
and gallery-tls-key instead of the files; surveillance-gallery.service loads them from
/etc/surveillance/gallery.d/ (files password, token, tls-cert, tls-key).

Thumbnails are made once and kept in STORE/.thumbs/.`;

export const serveSpec = {
  ...storeSpec,
  ...eventGapOption,
  listen: { kind: 'hostport', description: 'address to serve the gallery on', default: { host: '127.0.0.1', port: 8080 } },
  'password-file': {
    kind: 'path',
    description: 'file holding the login password hash (written by --set-password)',
    defaultText: '$CREDENTIALS_DIRECTORY/gallery-password, else /etc/surveillance/gallery.d/password as root (what surveillance-gallery.service loads), ~/.config/surveillance/gallery-password otherwise',
  },
  'set-password': { kind: 'boolean', description: 'ask for a new password, store its hash in the password file, and exit', default: false, flagOnly: true },
  'token-file': {
    kind: 'path',
    description: `file holding a token of at least ${MIN_TOKEN_LENGTH} characters for scripts (e.g. openssl rand -hex 16 > FILE)`,
    defaultText: '$CREDENTIALS_DIRECTORY/gallery-token; $SURVEILLANCE_TOKEN also works',
  },
  'tls-cert': { kind: 'path', description: 'HTTPS certificate (PEM)', defaultText: '$CREDENTIALS_DIRECTORY/gallery-tls-cert' },
  'tls-key': { kind: 'path', description: 'HTTPS private key (PEM)', defaultText: '$CREDENTIALS_DIRECTORY/gallery-tls-key' },
  'insecure-http': { kind: 'boolean', description: 'allow plain HTTP on an address other machines can reach', default: false },
  session: { kind: 'duration', description: 'a login lasts this long', default: 7 * 86_400_000, defaultText: '7d', min: 60_000 },
  'thumb-jobs': {
    kind: 'int',
    description: 'thumbnails made at once',
    // More jobs than CPUs overlaps decoding with disk reads; past 4 they queue for libuv's
    // thread pool (4 threads), which serving files needs too. Measured in scripts/bench/50-gallery.mjs.
    default: Math.min(4, availableParallelism() + 2),
    defaultText: 'CPUs + 2, at most 4',
    min: 1,
    max: 64,
  },
} as const satisfies Spec;

function usage(message: string): SurveillanceError {
  return new SurveillanceError('usage', message);
}

/**
 * A credential systemd loaded for us, if there is one: `gallery-password` from
 * LoadCredential=gallery-password:FILE, or `gallery_password` from the folder
 * LoadCredential=gallery:/etc/surveillance/gallery.d (surveillance-gallery.service), where each
 * file becomes gallery_FILE.
 */
function credential(env: NodeJS.ProcessEnv, name: `gallery-${string}`): string | undefined {
  const dir = env.CREDENTIALS_DIRECTORY;
  if (!dir) return undefined;
  return [join(dir, name), join(dir, name.replace('gallery-', 'gallery_'))].find((p) => existsSync(p));
}

/** As root, the file surveillance-gallery.service loads from its credentials folder. */
function defaultPasswordFile(env: NodeJS.ProcessEnv): string {
  if (process.getuid?.() === 0) return '/etc/surveillance/gallery.d/password';
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'surveillance', 'gallery-password');
}

function readSecretFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new SurveillanceError('not-found', `${what} ${path} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}

function readPem(path: string | undefined, what: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new SurveillanceError('not-found', `${what} ${path} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (argv.some((a) => a === '--token' || a.startsWith('--token='))) {
    throw usage('--token is not taken on the command line, where ps shows it to every user: put the token in a file (--token-file FILE, mode 600), a systemd credential (gallery-token) or $SURVEILLANCE_TOKEN');
  }
  if (argv.some((a) => a === '--password' || a.startsWith('--password='))) {
    throw usage('a password is never taken on the command line: surveillance-receiver serve --set-password asks for it');
  }
  if (argv.includes('--set-password')) return setPassword(argv, env);
  const start = await startCommand(HELP, serveSpec, argv, env);
  if (!start) return 0;
  const { values, store } = start;
  const root = store.location;
  const { host, port } = values.listen;

  const tokenFile = values['token-file'] ?? credential(env, 'gallery-token');
  const token = tokenFile !== undefined ? readSecretFile(tokenFile, 'token file') : env.SURVEILLANCE_TOKEN || undefined;
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw usage(`token${tokenFile ? ` in ${tokenFile}` : ' in $SURVEILLANCE_TOKEN'}: too short (${token.length} characters); use at least ${MIN_TOKEN_LENGTH}, e.g. $(openssl rand -hex 16)`);
  }
  const passwordFile = values['password-file'] ?? credential(env, 'gallery-password') ?? (existsSync(defaultPasswordFile(env)) ? defaultPasswordFile(env) : undefined);
  const passwordHash = passwordFile !== undefined ? readSecretFile(passwordFile, 'password file') : undefined;
  const hashProblem = passwordHash !== undefined ? checkPasswordHash(passwordHash) : undefined;
  if (hashProblem) throw usage(`password file ${passwordFile}: ${hashProblem}`);

  const certPath = values['tls-cert'] ?? credential(env, 'gallery-tls-cert');
  const keyPath = values['tls-key'] ?? credential(env, 'gallery-tls-key');
  if ((certPath === undefined) !== (keyPath === undefined)) throw usage('HTTPS needs both --tls-cert and --tls-key');
  const cert = readPem(certPath, 'certificate');
  const key = readPem(keyPath, 'private key');
  const tls = cert && key ? { cert, key } : undefined;

  if (!isLoopbackHost(host)) {
    if (passwordHash === undefined && token === undefined) {
      throw usage(`--listen ${host}:${port} is reachable from other machines: set a login first (surveillance-receiver serve --set-password), or listen on 127.0.0.1`);
    }
    if (!tls && !values['insecure-http']) {
      throw usage(`--listen ${host}:${port} is reachable from other machines: serve HTTPS (--tls-cert and --tls-key, or a reverse proxy on this machine in front of 127.0.0.1), or say --insecure-http`);
    }
  }

  const log = createLogger('surveillance-receiver', values['log-level'] as 'info', env, await loadLineFormatter(values['log-format'], env));
  let gallery: GalleryServer;
  try {
    gallery = new GalleryServer({ store, access: { passwordHash, token, sessionMs: values.session }, tls, thumbJobs: values['thumb-jobs'], gapMs: values['event-gap'], log, env });
  } catch (e) {
    // A certificate and key that do not fit, or are not PEM.
    throw usage(`HTTPS: ${(e as Error).message} (--tls-cert ${certPath}, --tls-key ${keyPath})`);
  }
  let url: string;
  try {
    url = await gallery.listen(host, port);
  } catch (e) {
    await gallery.close();
    throw listenError(values.listen, e);
  }
  // The one line on stdout: where to point a browser.
  writeStdout(`Gallery of ${root} at ${url}\n`);
  log.info({ url, store: root, login: passwordHash !== undefined, token: token !== undefined, https: tls !== undefined }, 'listening');

  const signal = await stopSignal();
  log.info({ thumbnailsMade: gallery.thumbs.made }, `${signal}: closing`);
  await gallery.close();
  return 0;
}

/** serve --set-password: the hash goes to the password file, 0600, written whole. */
async function setPassword(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const spec = { 'password-file': serveSpec['password-file'], 'set-password': serveSpec['set-password'] };
  const { values, positionals } = loadOptions(spec, argv, env);
  if (positionals.length > 0) throw usage(`unexpected argument ${JSON.stringify(positionals[0])}; see --help`);
  const file = values['password-file'] ?? defaultPasswordFile(env);
  const password = await readPassword();
  if (password.length < MIN_PASSWORD_LENGTH) throw usage(`password too short (${password.length} characters); use at least ${MIN_PASSWORD_LENGTH}`);
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileDurably(file, await hashPassword(password), { mode: 0o600 });
  } catch (e) {
    throw new SurveillanceError('cannot-write', `password file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  process.stderr.write(`password set: its hash is in ${file}; restart the gallery to use it${file === '/etc/surveillance/gallery.d/password' ? ' (sudo systemctl restart surveillance-gallery)' : ''}\n`);
  return 0;
}

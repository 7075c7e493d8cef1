import { availableParallelism } from 'node:os';
import { listenError, loadLineFormatter, stopSignal, SurveillanceError, type Spec } from '@surveillance/shared';
import { createLogger } from '@surveillance/shared/log';
import { startCommand } from '../command-start.ts';
import { storeSpec } from '../store/store-options.ts';
import { isLoopbackHost, MIN_TOKEN_LENGTH } from './access.ts';
import { GalleryServer } from './gallery-server.ts';

const HELP = `Usage: surveillance-receiver serve [options]

A web gallery of the store: cameras and days, a timeline of thumbnails, full-size frames with
keyboard navigation (arrows, Home, End, Escape, Space to play), and new frames as they arrive.
Days and times are shown in this machine's time zone (TZ); names on disk stay in UTC.

It listens on 127.0.0.1 only, unless told otherwise. Any other address is reachable from other
machines and needs --token: open the gallery once as http://HOST:PORT/?token=TOKEN; the
browser keeps a cookie after that. Scripts may send "Authorization: Bearer TOKEN".

Thumbnails are made once and kept in STORE/.thumbs/.`;

export const serveSpec = {
  ...storeSpec,
  listen: { kind: 'hostport', description: 'address to serve the gallery on', default: { host: '127.0.0.1', port: 8080 } },
  token: {
    kind: 'string',
    description: `secret of at least ${MIN_TOKEN_LENGTH} characters that browsers must present; required beyond loopback (e.g. openssl rand -hex 16)`,
  },
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

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const start = await startCommand(HELP, serveSpec, argv, env);
  if (!start) return 0;
  const { values, store } = start;
  const root = store.location;
  const { host, port } = values.listen;
  const token = values.token;
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new SurveillanceError('usage', `option token: too short (${token.length} characters); use at least ${MIN_TOKEN_LENGTH}, e.g. $(openssl rand -hex 16)`);
  }
  if (token === undefined && !isLoopbackHost(host)) {
    throw new SurveillanceError(
      'usage',
      `--listen ${host}:${port} is reachable from other machines: give a --token (or SURVEILLANCE_TOKEN) of at least ${MIN_TOKEN_LENGTH} characters, or listen on 127.0.0.1`,
    );
  }

  const log = createLogger('surveillance-receiver', values['log-level'] as 'info', env, await loadLineFormatter(values['log-format'], env));
  const gallery = new GalleryServer({ store, token, thumbJobs: values['thumb-jobs'], log, env });
  let url: string;
  try {
    url = await gallery.listen(host, port);
  } catch (e) {
    await gallery.close();
    throw listenError(values.listen, e);
  }
  // The one line on stdout: where to point a browser (never with the token in it).
  process.stdout.write(`Gallery of ${root} at ${url}\n`);
  log.info({ url, store: root, token: token !== undefined }, 'listening');

  const signal = await stopSignal();
  log.info({ thumbnailsMade: gallery.thumbs.made }, `${signal}: closing`);
  await gallery.close();
  return 0;
}

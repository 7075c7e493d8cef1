import { SurveillanceError } from '@surveillance/shared';

/**
 * A NATS store's address: `nats://[USER@]HOST:PORT[,HOST:PORT...]/BUCKET`, or `tls://...` to
 * require TLS. Pure code: it only reads the text. A password in the address is refused, since
 * an address is an option and options can be seen in argv or a unit file: the password comes
 * from a file (see nats-options.ts).
 */
export interface NatsAddress {
  /** `HOST:PORT` of every server to try. */
  servers: string[];
  bucket: string;
  user?: string;
  tls: boolean;
  /** The address without credentials, for messages and the cache folder's name. */
  location: string;
}

const BUCKET_RE = /^[A-Za-z0-9_-]{1,64}$/;
const USER_RE = /^[A-Za-z0-9._-]{1,128}$/;
const HOST_RE = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

export function isNatsAddress(text: string): boolean {
  return /^(nats|tls):\/\//i.test(text);
}

export function parseNatsAddress(text: string): NatsAddress {
  const bad = (why: string) => new SurveillanceError('usage', `store ${JSON.stringify(text.replace(/\/\/[^@/]*:[^@/]*@/, '//***@').slice(0, 200))}: ${why}; expected nats://[USER@]HOST:PORT[,HOST:PORT...]/BUCKET`);
  const m = /^(nats|tls):\/\/(?:([^@/]*)@)?([^/]+)\/([^/?#]*)$/i.exec(text);
  if (!m) throw bad('not a NATS address');
  const [, scheme, userPart, hostList, bucket] = m;
  if (userPart !== undefined) {
    if (userPart.includes(':')) throw bad('a password does not belong in the address: give it in a file (--nats-password-file, or the systemd credential nats-password)');
    if (!USER_RE.test(userPart)) throw bad(`user ${JSON.stringify(userPart)} must be letters, digits, '.', '_' or '-'`);
  }
  const servers = hostList!.split(',');
  for (const s of servers) {
    const hm = HOST_RE.exec(s);
    if (!hm || Number(hm[1]) < 1 || Number(hm[1]) > 65535) throw bad(`${JSON.stringify(s)} is not HOST:PORT`);
  }
  if (!BUCKET_RE.test(bucket!)) throw bad(`bucket ${JSON.stringify(bucket)} must be 1-64 letters, digits, '_' or '-'`);
  const tls = scheme!.toLowerCase() === 'tls';
  return {
    servers,
    bucket: bucket!,
    user: userPart,
    tls,
    location: `${tls ? 'tls' : 'nats'}://${servers.join(',')}/${bucket}`,
  };
}

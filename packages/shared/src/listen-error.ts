import { SurveillanceError } from './errors.ts';
import { formatHostPort, type HostPort } from './options.ts';

/**
 * Why a server could not listen, said once and with what to do. Node's own message repeats
 * the code (`EADDRINUSE listen EADDRINUSE: address already in use`); the user needs the
 * address, the reason in words and a hint. The code is `unavailable` (exit 69): the command
 * line is well-formed, the address is what is missing. Anything without an errno code is a bug
 * and is returned unchanged.
 */
export function listenError(at: HostPort | { fd: number }, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (!(e instanceof Error) || typeof code !== 'string') return e instanceof Error ? e : new Error(String(e));
  if ('fd' in at) return new SurveillanceError('unavailable', `cannot listen on the socket passed as fd ${at.fd}: ${e.message}`, { cause: e });
  const where = formatHostPort(at);
  const reason = REASONS[code]?.(at) ?? `${code}: ${e.message.replace(new RegExp(`^.*?\\b${code}\\b:?\\s*`), '')}`;
  return new SurveillanceError('unavailable', `cannot listen on ${where}: ${reason}`, { cause: e });
}

const REASONS: Record<string, (at: HostPort) => string> = {
  EADDRINUSE: (at) =>
    `the address is in use: another receiver or program listens there (see which: ss -ltnp 'sport = :${at.port}'), or choose another port`,
  EADDRNOTAVAIL: (at) => `${at.host} is not an address of this machine (see ip -brief address), or use 0.0.0.0 for all of them`,
  EACCES: (at) => `permission denied: port ${at.port} is below 1024, which needs root or CAP_NET_BIND_SERVICE; or choose a port above 1023`,
  ENOTFOUND: (at) => `the host ${at.host} cannot be resolved (no such name); give an address such as 127.0.0.1 or 0.0.0.0`,
  EAI_AGAIN: (at) => `the host ${at.host} cannot be resolved now (the name server did not answer); give an address such as 127.0.0.1 or 0.0.0.0`,
};

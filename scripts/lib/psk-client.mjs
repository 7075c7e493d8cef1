// A camera's side of the TLS-PSK link for the scripts (bench, build), which cannot import the
// TypeScript of packages/shared: the same options as pskClientOptions in src/tls-psk.ts.
import { connect } from 'node:tls';

/** Connects to 127.0.0.1:`port` as camera `key.camera` with key `key.keyId` (`key.key`, bytes). */
export function connectPsk(port, key) {
  return connect({
    port,
    host: '127.0.0.1',
    ciphers: 'ECDHE-PSK-CHACHA20-POLY1305',
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    ca: [],
    checkServerIdentity: () => undefined,
    pskCallback: () => ({ psk: key.key, identity: `${key.camera}.${key.keyId}` }),
  });
}

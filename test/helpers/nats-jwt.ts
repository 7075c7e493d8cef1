import { createHash } from 'node:crypto';
// Through the receiver's dependency: the test workspace does not depend on NATS itself.
import { nkeys } from '../../packages/receiver/node_modules/@nats-io/transport-node/lib/mod.js';

/**
 * Operator-mode credentials without the `nsc` tool (Debian 12 does not package it; its `nsc`
 * is an unrelated R library): an operator, its system account, an account with JetStream and a user, as the JWTs
 * nsc would issue, signed with NKeys (ed25519) by @nats-io/nkeys, which the NATS client
 * depends on. The format is NATS's JWT v2: header {"typ":"JWT","alg":"ed25519-nkey"}, claims
 * with jti (base32 of the SHA-512/256 of the claims), iat, iss, sub, name and `nats`.
 */

const b64url = (b: Uint8Array | string) => Buffer.from(b).toString('base64url');
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

function jwt(signer: nkeys.KeyPair, sub: string, name: string, nats: Record<string, unknown>, iat: number): string {
  const claims: Record<string, unknown> = { jti: '', iat, iss: signer.getPublicKey(), name, sub, nats };
  claims.jti = base32(createHash('sha512-256').update(JSON.stringify(claims)).digest());
  const body = `${b64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }))}.${b64url(JSON.stringify(claims))}`;
  return `${body}.${b64url(signer.sign(new TextEncoder().encode(body)))}`;
}

const UNLIMITED = { subs: -1, data: -1, payload: -1 };

export interface OperatorSetup {
  /** nats-server config lines: the operator, the account preloaded into a memory resolver. */
  config: string;
  /** A creds file of a user of that account, as `nsc generate creds` writes it. */
  creds: string;
  /** The user's seed, to check that it is never printed. */
  seed: string;
}

export function operatorSetup(iat: number): OperatorSetup {
  const operator = nkeys.createOperator();
  const account = nkeys.createAccount();
  const user = nkeys.createUser();
  const operatorJwt = jwt(operator, operator.getPublicKey(), 'surveillance-op', { type: 'operator', version: 2 }, iat);
  const accountJwt = jwt(
    operator,
    account.getPublicKey(),
    'SURVEILLANCE',
    {
      limits: { ...UNLIMITED, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 },
      default_permissions: { pub: {}, sub: {} },
      type: 'account',
      version: 2,
    },
    iat,
  );
  // JetStream needs a system account, as nsc's `init` makes.
  const system = nkeys.createAccount();
  const systemJwt = jwt(operator, system.getPublicKey(), 'SYS', { limits: { ...UNLIMITED, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 }, type: 'account', version: 2 }, iat);
  const userJwt = jwt(account, user.getPublicKey(), 'cam', { pub: {}, sub: {}, ...UNLIMITED, type: 'user', version: 2 }, iat);
  const seed = new TextDecoder().decode(user.getSeed());
  const config = `operator: "${operatorJwt}"\nsystem_account: ${system.getPublicKey()}\nresolver: MEMORY\nresolver_preload: {\n  ${account.getPublicKey()}: "${accountJwt}"\n  ${system.getPublicKey()}: "${systemJwt}"\n}\n`;
  const creds = `-----BEGIN NATS USER JWT-----\n${userJwt}\n------END NATS USER JWT------\n\n************************* IMPORTANT *************************\nNKEY Seed printed below can be used to sign and prove identity.\nNKEYs are sensitive and should be treated as secrets.\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n\n*************************************************************\n`;
  return { config, creds, seed };
}

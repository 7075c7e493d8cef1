import { checkCameraName } from './protocol.ts';
import { SurveillanceError } from './errors.ts';

/**
 * The camera link's TLS layer (docs/protocol.md, "TLS"): TLS 1.2 with a pre-shared key per
 * camera, ECDHE-PSK-CHACHA20-POLY1305 (RFC 5489, 7905). Forward secrecy from the ephemeral
 * ECDH, and both ends prove they hold the key, so there are no certificates to make, pin or
 * renew. Node offers external PSKs only in TLS 1.2, hence the cap on both sides: without it,
 * or without the cipher listed on both sides, the handshake fails with alert 40.
 *
 * This module builds plain option objects and never imports node:tls itself: the
 * per-connection receiver without keys must not pay for loading it (+18% of a Node start).
 * The code that opens TLS connections imports node:tls where it does so.
 *
 * Identity: `CAMERA.KEYID`, sent by the client in the clear during the handshake. It names the
 * camera and which of its keys it uses, so the server finds the one key to try (two exist for a
 * while during a rotation) and a failed handshake proves the client lacks that very key. The
 * camera's name for storing is this identity's, established by the handshake, never a header
 * field.
 */

export const PSK_CIPHER = 'ECDHE-PSK-CHACHA20-POLY1305';
/** Sent by the receiver as its identity hint; a client may check it to catch a wrong port. */
export const PSK_HINT = 'surveillance-receiver';
/** 256 bits. */
export const KEY_BYTES = 32;
/** The first word of a key line, versioned so that a later format can be told apart. */
export const KEY_LINE_MAGIC = 'svk1';

/** One camera key: the camera it belongs to, which of its keys, and the secret bytes. */
export interface CameraKey {
  camera: string;
  keyId: string;
  key: Buffer;
}

const KEY_ID_RE = /^[0-9a-z]{1,16}$/;

export function checkKeyId(keyId: string): string | undefined {
  return KEY_ID_RE.test(keyId) ? undefined : `key id ${JSON.stringify(keyId.slice(0, 40))} must be 1-16 lowercase letters or digits`;
}

export function pskIdentity(camera: string, keyId: string): string {
  return `${camera}.${keyId}`;
}

/** `CAMERA.KEYID` back into its parts (camera names may hold dots; key ids never do). */
export function parsePskIdentity(identity: string): { camera: string; keyId: string } | undefined {
  const dot = identity.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const camera = identity.slice(0, dot);
  const keyId = identity.slice(dot + 1);
  if (checkCameraName(camera) !== undefined || checkKeyId(keyId) !== undefined) return undefined;
  return { camera, keyId };
}

/** The one line `camera add` prints and the camera box keeps as its key file. */
export function formatKeyLine(k: CameraKey): string {
  return `${KEY_LINE_MAGIC} ${k.camera} ${k.keyId} ${k.key.toString('base64url')}\n`;
}

/**
 * Reads a key line. `where` names the file in the message, never the line: a message must not
 * carry the key into a log.
 */
export function parseKeyLine(text: string, where: string): CameraKey {
  const bad = (why: string) => new SurveillanceError('usage', `key file ${where}: ${why}; expected one line "${KEY_LINE_MAGIC} CAMERA KEYID KEY" as printed by surveillance-receiver camera add`);
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== 1) throw bad(lines.length === 0 ? 'it is empty' : `it has ${lines.length} lines`);
  const words = lines[0]!.trim().split(/\s+/);
  if (words.length !== 4 || words[0] !== KEY_LINE_MAGIC) throw bad('it is not a key line');
  const [, camera, keyId, encoded] = words as [string, string, string, string];
  const cameraProblem = checkCameraName(camera);
  if (cameraProblem) throw bad(cameraProblem);
  const idProblem = checkKeyId(keyId);
  if (idProblem) throw bad(idProblem);
  if (!/^[A-Za-z0-9_-]+$/.test(encoded)) throw bad('the key is not base64url');
  const key = Buffer.from(encoded, 'base64url');
  if (key.length !== KEY_BYTES) throw bad(`the key has ${key.length} bytes, not ${KEY_BYTES}`);
  return { camera, keyId, key };
}

/**
 * `ca: []`: no certificate authorities. Without it every secure context parses Node's bundled
 * root certificates, which took 80-95 ms here (more than a whole Node start), for nothing: a
 * PSK handshake has no certificate to check.
 */
const COMMON = { ciphers: PSK_CIPHER, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ca: [] as string[] } as const;

/**
 * Options for a tls.TLSSocket / tls.createServer on the receiver's side. `lookup` answers the
 * client's identity with its key, or undefined for an unknown camera or key (the handshake then
 * fails); `onIdentity` hears which identity a socket presented, before the handshake finishes.
 */
export function pskServerOptions(
  lookup: (camera: string, keyId: string) => Buffer | undefined,
  onIdentity?: (socket: unknown, id: { camera: string; keyId: string }) => void,
) {
  return {
    ...COMMON,
    pskIdentityHint: PSK_HINT,
    pskCallback(socket: unknown, identity: string): Buffer | null {
      const id = parsePskIdentity(identity);
      const key = id && lookup(id.camera, id.keyId);
      if (!id || !key) return null;
      onIdentity?.(socket, id);
      return key;
    },
  };
}

/** Options for tls.connect on the camera's side. */
export function pskClientOptions(k: CameraKey) {
  return {
    ...COMMON,
    // No certificate comes with a PSK cipher; the server proves itself by knowing the key.
    checkServerIdentity: () => undefined,
    pskCallback: () => ({ psk: k.key, identity: pskIdentity(k.camera, k.keyId) }),
  };
}

export { SurveillanceError, isSurveillanceError, EXIT, type ErrorCode } from './errors.ts';
export { JpegScanner, scanJpeg, isCompleteJpeg, type JpegInfo } from './jpeg-scanner.ts';
export {
  PING_LINE,
  HeaderReader,
  checkCameraName,
  checkFrameId,
  classify,
  describeBytes,
  encodeHeader,
  formatAck,
  parseAck,
  parseHeader,
  type Ack,
  type FrameHeader,
  type UnitKind,
} from './protocol.ts';
export {
  envName,
  formatHelp,
  loadOptions,
  type HostPort,
  type Kind,
  type Spec,
  type Values,
} from './options.ts';
// pino's createLogger is imported from '@surveillance/shared/log', so that importing this index
// never loads pino (the per-connection receiver must not pay for it).
export { createLineLogger, LOG_LEVELS, type Logger, type LogLevel } from './log-line.ts';
export { ignoreClosedStdout, runMain } from './main.ts';
export { fsyncPath } from './fsync-path.ts';
export {
  KEY_BYTES,
  KEY_LINE_MAGIC,
  PSK_CIPHER,
  PSK_HINT,
  checkKeyId,
  formatKeyLine,
  parseKeyLine,
  parsePskIdentity,
  pskClientOptions,
  pskIdentity,
  pskServerOptions,
  type CameraKey,
} from './tls-psk.ts';

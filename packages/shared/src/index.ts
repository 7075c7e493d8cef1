export { SurveillanceError, isSurveillanceError, asSurveillanceError, isBug, usage, EXIT, type ErrorCode } from './errors.ts';
export { DEFAULT_MAX_PIXELS, JpegScanner, scanJpeg, isCompleteJpeg, type FfSearch, type JpegInfo } from './jpeg-scanner.ts';
export { checkCaptureTime, DEFAULT_CAPTURE_WINDOW, type CaptureWindow } from './capture-time.ts';
export {
  PING_LINE,
  CAMERA_NAME_PATTERN,
  FRAME_ID_PATTERN,
  HeaderReader,
  checkCameraName,
  checkFrameId,
  classify,
  describeBytes,
  encodeHeader,
  formatScore,
  formatAck,
  parseAck,
  parseHeader,
  type Ack,
  type FrameHeader,
  type FrameReason,
  type UnitKind,
} from './protocol.ts';
export {
  envName,
  formatHelp,
  formatHostPort,
  loadCommand,
  loadOptions,
  type HostPort,
  type Kind,
  type Spec,
  type Values,
} from './options.ts';
// pino's createLogger is imported from '@surveillance/shared/log', and sharp's loader from
// '@surveillance/shared/sharp', so that importing this index loads neither (the per-connection
// receiver must not pay for them).
export { createLineLogger, loadLineFormatter, logSpec, LOG_FORMATS, LOG_LEVELS, type LineFormatter, type LogFormat, type Logger, type LogLevel } from './log-line.ts';
export { runMain } from './main.ts';
export { ignoreClosedStdout, writeStderr, writeStdout } from './stdout.ts';
export {
  DurableFile,
  fsyncPath,
  makeFolder,
  tempName,
  tempOwner,
  writeAll,
  writeFileDurably,
  type CommitOptions,
  type DurableFileOptions,
} from './durable-file.ts';
export { AsyncDurableFile } from './durable-file-async.ts';
export { listenError } from './listen-error.ts';
export { GroupSync, fsyncFd, fsyncFolder } from './group-sync.ts';
export { fsError, fsErrorCode, isDiskFull, isErrnoError, type FileRole } from './fs-error.ts';
export { formatBytes, formatDuration, formatDurationOption, formatSizeOption } from './human-units.ts';
export { stopSignal } from './signals.ts';
export { resolveStateFolder } from './state-directory.ts';
export { didYouMean, nearest, unknownCommand } from './suggest.ts';
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

// The frame header line of docs/protocol.md, for benchmarks that run as plain node scripts
// without the TypeScript sources.
export function encodeHeader(camera, id, length, time = new Date()) {
  return Buffer.from(`SVF1 camera=${camera} id=${id} time=${time.toISOString()} length=${length}\n`, 'ascii');
}

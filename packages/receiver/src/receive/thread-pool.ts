/**
 * The size of libuv's thread pool in the listener modes, where every file call of a frame
 * (open, write, fsync, link, the folder's fsync) runs on it (AsyncDurableFile): with 16 cameras
 * at once, 4 threads (libuv's default) are all waiting in fsync while the other frames' calls
 * queue behind them, and more fsyncs at once are what the file system's journal commits
 * together. 8 measured best of 4, 8 and 16 (scripts/bench/10-receiver.mjs, 16 cameras: 1.1-1.2x
 * the frames per second of 4, on this machine's ext4 and on a journaled one); a process per
 * connection never has more than one frame, and does its file calls synchronously.
 */
export const LISTENER_POOL_THREADS = 8;

/**
 * Sets UV_THREADPOOL_SIZE unless the user did. libuv reads it once, when the pool first
 * starts: before the first asynchronous file call, which in this program is the ES module
 * loader reading the CLI, so this runs before that import.
 */
export function sizeThreadPool(env: NodeJS.ProcessEnv = process.env): void {
  env.UV_THREADPOOL_SIZE ??= String(LISTENER_POOL_THREADS);
}

/**
 * Resolves with the first of SIGTERM (systemd stopping the unit) and SIGINT (Ctrl-C), for
 * daemons that stop in order: the other signal's handler is removed, so a second Ctrl-C during
 * the stop gets Node's default (the process ends at once), which is what a person means by it.
 */
export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

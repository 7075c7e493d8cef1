/** A sub-command: its module's `run`, given the arguments after the command's name. */
export type Command = { run(argv: string[]): Promise<number | void> };

/** Loads and runs a command, and closes the stores it opened however it ended (both CLI entries, in runMain). */
export async function runCommand(load: () => Promise<Command>, argv: string[]): Promise<number | void> {
  const command = await load();
  try {
    return await command.run(argv);
  } finally {
    const { closeStores } = await import('./store/store-options.ts');
    await closeStores();
  }
}

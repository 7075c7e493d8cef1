import type { Command } from './command-run.ts';

/**
 * The review commands: the store-reading commands run from a terminal or a script. Both CLI
 * entries know them: cli.ts (with every other command) and review-entry.ts, the CommonJS
 * bundle the bin hands these names to. Each is loaded only when asked for.
 */
export const REVIEW_COMMANDS: Record<string, () => Promise<Command>> = {
  list: () => import('./review/list.ts'),
  stats: () => import('./review/stats.ts'),
  show: () => import('./review/show.ts'),
  open: () => import('./review/open.ts'),
  events: () => import('./review/events.ts'),
  export: () => import('./review/export.ts'),
  prune: () => import('./review/prune.ts'),
  migrate: () => import('./review/migrate.ts'),
};

// `open` is `show` handed to xdg-open; the command table wants one module per command.
export { runOpen as run } from './show.ts';

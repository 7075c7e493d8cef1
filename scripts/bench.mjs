// `pnpm bench`: every numbered benchmark section in scripts/bench/ (NN-name.mjs), in order, in one run, each printing
// its own table. Sections compare against a baseline measured in the same run and report
// ratios: the machines are shared and noisy, absolute times are only context.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('./bench/', import.meta.url));
const only = process.argv.slice(2);
for (const file of readdirSync(dir).filter((f) => /^\d\d-.*\.mjs$/.test(f)).sort()) {
  if (only.length && !only.some((o) => file.includes(o))) continue;
  const section = await import(new URL(`./bench/${file}`, import.meta.url).href);
  console.log(`\n## ${section.title ?? file}\n`);
  await section.run();
}

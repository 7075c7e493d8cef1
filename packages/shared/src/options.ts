import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { usage } from './errors.ts';
import { formatDurationOption, formatSizeOption } from './human-units.ts';
import { readSimpleArgv } from './simple-argv.ts';
import { didYouMean } from './suggest.ts';

/**
 * The one funnel for options. Every option has one name, used as `--name` on the command line,
 * `SURVEILLANCE_NAME` in the environment (dashes become underscores) and `"name"` in a JSON
 * config file (`--config FILE` or `SURVEILLANCE_CONFIG`). Precedence: flag, environment,
 * config file, default. Values are parsed and checked once, at start-up; a bad one fails with
 * a message that names the option and where the value came from.
 */

export interface HostPort {
  host: string;
  port: number;
}

interface Kinds {
  string: string;
  path: string;
  boolean: boolean;
  int: number;
  number: number;
  /** Bytes, from "16MiB", "300KB", "1G" or a plain number of bytes. */
  size: number;
  /** Milliseconds, from "500ms", "10s", "5m", "2h", "7d"; a plain number is seconds. */
  duration: number;
  hostport: HostPort;
}

export type Kind = keyof Kinds;

export interface OptionSpec<K extends Kind = Kind> {
  kind: K;
  description: string;
  default?: Kinds[K];
  /** Allowed values for a string option. */
  choices?: readonly string[];
  min?: number;
  max?: number;
  /** Only on the command line (e.g. --help), never from the environment or a file. */
  flagOnly?: boolean;
  /** Shown in --help instead of the default's value. */
  defaultText?: string;
}

export type Spec = Record<string, OptionSpec>;

export type Values<S extends Spec> = {
  readonly [N in keyof S]: S[N] extends OptionSpec<infer K>
    ? S[N] extends { default: unknown }
      ? Kinds[K]
      : Kinds[K] | undefined
    : never;
};

export const ENV_PREFIX = 'SURVEILLANCE_';

export function envName(option: string): string {
  return ENV_PREFIX + option.toUpperCase().replace(/-/g, '_');
}

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1024, kib: 1024, kb: 1000,
  m: 1024 ** 2, mib: 1024 ** 2, mb: 1000 ** 2,
  g: 1024 ** 3, gib: 1024 ** 3, gb: 1000 ** 3,
  t: 1024 ** 4, tib: 1024 ** 4, tb: 1000 ** 4,
};

const DURATION_UNITS: Record<string, number> = {
  '': 1000, ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000,
};

/** A number too large to hold exactly (or Infinity) is refused, not rounded into another value. */
const exact = (n: number): number | undefined => (Number.isSafeInteger(n) ? n : undefined);

export function parseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m && Object.hasOwn(SIZE_UNITS, m[2]!.toLowerCase()) ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  return m && unit !== undefined ? exact(Math.round(Number(m[1]) * unit)) : undefined;
}

export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m && Object.hasOwn(DURATION_UNITS, m[2]!.toLowerCase()) ? DURATION_UNITS[m[2]!.toLowerCase()] : undefined;
  return m && unit !== undefined ? exact(Math.round(Number(m[1]) * unit)) : undefined;
}

export function parseHostPort(text: string): HostPort | undefined {
  const read = readHostPort(text);
  return typeof read === 'string' ? undefined : read;
}

/**
 * HOST:PORT, or why not, in words. The host's syntax is checked here, so that `999.1.1.1`
 * is refused as a usage error up front instead of reaching the resolver (`ENOTFOUND
 * getaddrinfo`); whether a well-formed name resolves is only known when it is used.
 */
/** node:net costs a tenth of a Node start: loaded only when a HOST:PORT is given. */
const net = () => process.getBuiltinModule('node:net');

function readHostPort(text: string): HostPort | string {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) return `expected ${EXPECTED.hostport}`;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return `port ${m[3]} is not between 1 and 65535`;
  if (m[1] !== undefined) return net().isIPv6(m[1]) ? { host: m[1], port } : `[${m[1]}] is not an IPv6 address`;
  const host = m[2] || '0.0.0.0';
  // A name whose last label is a number can only be meant as an IPv4 address.
  if (/(^|\.)\d+$/.test(host)) return net().isIPv4(host) ? { host, port } : `${host} is not an IPv4 address (four numbers from 0 to 255)`;
  const labels = host.split('.');
  if (host.length > 253 || !labels.every((l) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l))) {
    return `${host} is not a host name (letters, digits and -, between dots) or an address`;
  }
  return { host, port };
}

/** HOST:PORT as parseHostPort reads it back: an IPv6 address in brackets. */
export function formatHostPort(to: HostPort): string {
  return to.host.includes(':') ? `[${to.host}]:${to.port}` : `${to.host}:${to.port}`;
}

const EXPECTED: Record<Kind, string> = {
  string: 'a string',
  path: 'a path',
  boolean: 'true or false',
  int: 'a whole number',
  number: 'a number',
  size: 'a size such as 16MiB, 300KB or 1G',
  duration: 'a duration such as 500ms, 10s, 5m, 2h or 7d',
  hostport: 'HOST:PORT, such as 127.0.0.1:4444 or [::1]:4444',
};

function convert(name: string, spec: OptionSpec, raw: unknown, source: string): unknown {
  const bad = (why = `expected ${EXPECTED[spec.kind]}`) =>
    usage(`option ${name} (from ${source}): ${JSON.stringify(raw)} is not valid: ${why}`);
  let value: unknown;
  const text = typeof raw === 'string' ? raw : undefined;
  switch (spec.kind) {
    case 'string':
    case 'path':
      if (typeof raw !== 'string' || raw === '') throw bad();
      value = raw;
      if (spec.choices && !spec.choices.includes(raw)) throw bad(`choose one of ${spec.choices.join(', ')}`);
      break;
    case 'boolean':
      if (typeof raw === 'boolean') value = raw;
      else if (text && /^(1|true|yes|on)$/i.test(text)) value = true;
      else if (text && /^(0|false|no|off)$/i.test(text)) value = false;
      else throw bad();
      break;
    case 'int':
    case 'number': {
      value = typeof raw === 'number' ? raw : text && text.trim() !== '' ? Number(text) : Number.NaN;
      if (!Number.isFinite(value as number)) throw bad();
      if (spec.kind === 'int' && !Number.isInteger(value)) throw bad();
      break;
    }
    case 'size':
      value = typeof raw === 'number' ? raw : text !== undefined ? parseSize(text) : undefined;
      if (value === undefined) throw bad();
      break;
    case 'duration':
      value = typeof raw === 'number' ? raw * 1000 : text !== undefined ? parseDuration(text) : undefined;
      if (value === undefined) throw bad();
      break;
    case 'hostport': {
      const read = text !== undefined ? readHostPort(text) : `expected ${EXPECTED.hostport}`;
      if (typeof read === 'string') throw bad(read);
      value = read;
      break;
    }
  }
  if (typeof value === 'number') {
    if (spec.min !== undefined && value < spec.min) throw bad(`must be at least ${formatValue(spec.kind, spec.min)}`);
    if (spec.max !== undefined && value > spec.max) throw bad(`must be at most ${formatValue(spec.kind, spec.max)}`);
  }
  return value;
}

export interface Loaded<S extends Spec> {
  values: Values<S>;
  positionals: string[];
}

/**
 * Reads argv, env and the optional config file against `spec`. The `config` option is
 * understood by every command and need not be in `spec`.
 */
export function loadOptions<S extends Spec>(spec: S, argv: readonly string[], env: NodeJS.ProcessEnv): Loaded<S> {
  const flags: Record<string, { type: 'string' | 'boolean' }> = { config: { type: 'string' } };
  for (const [name, s] of Object.entries(spec)) flags[name] = { type: s.kind === 'boolean' ? 'boolean' : 'string' };
  // The common command line without util.parseArgs (simple-argv.ts says why); the rest with it.
  const parsed = readSimpleArgv(argv, flags) ?? parseArgv(argv, flags);
  const fromFlags = parsed.values as Record<string, unknown>;
  const configPath = (fromFlags.config as string | undefined) ?? env[envName('config')];
  const fromFile = configPath ? readConfig(configPath, spec) : {};

  const values: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(spec)) {
    const envValue = s.flagOnly ? undefined : env[envName(name)];
    if (fromFlags[name] !== undefined) values[name] = convert(name, s, fromFlags[name], `--${name}`);
    else if (envValue !== undefined && envValue !== '') values[name] = convert(name, s, envValue, `$${envName(name)}`);
    else if (!s.flagOnly && fromFile[name] !== undefined) values[name] = convert(name, s, fromFile[name], configPath!);
    else values[name] = s.default;
  }
  return { values: Object.freeze(values) as Values<S>, positionals: parsed.positionals };
}

/** util.parseArgs, its refusals as usage errors that suggest the option meant. */
function parseArgv(argv: readonly string[], flags: Record<string, { type: 'string' | 'boolean' }>): { values: Record<string, unknown>; positionals: string[] } {
  try {
    return parseArgs({ args: [...argv], options: flags, allowPositionals: true, strict: true });
  } catch (e) {
    const message = (e as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    const unknown = (e as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'--?([^'=]+)/.exec(message)?.[1] : undefined;
    const hint = unknown === undefined ? '' : didYouMean(unknown, Object.keys(flags), (n) => `--${n}`);
    throw usage(`${message}${hint || '; see --help'}`);
  }
}

function readConfig(path: string, spec: Spec): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw usage(`config file ${path} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw usage(`config file ${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw usage(`config file ${path} must hold a JSON object of option names to values`);
  }
  for (const key of Object.keys(data)) {
    if (!(key in spec) || spec[key]!.flagOnly) {
      const known = Object.keys(spec).filter((name) => !spec[name]!.flagOnly);
      throw usage(`config file ${path}: unknown option ${JSON.stringify(key)}${didYouMean(key, known, (n) => JSON.stringify(n))}`);
    }
  }
  return data as Record<string, unknown>;
}

/**
 * A command's options, or undefined after printing its --help: the start every command shares.
 * Arguments other than options are refused unless the command takes some (`positionals`).
 */
export function loadCommand<S extends Spec & { help: OptionSpec<'boolean'> }>(
  spec: S,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  help: string,
  options: { positionals?: boolean; shown?: readonly (keyof S & string)[] } = {},
): Loaded<S> | undefined {
  const loaded = loadOptions(spec, argv, env);
  if ((loaded.values as Record<string, unknown>).help) {
    process.stdout.write(formatHelp(help, spec, options.shown));
    return undefined;
  }
  if (!options.positionals && loaded.positionals.length > 0) throw usage(`unexpected argument ${JSON.stringify(loaded.positionals[0])}; see --help`);
  return loaded;
}

/**
 * --help text: usage lines, then each option with its environment name and default: every
 * option of `spec`, or only those `shown` (the ones that apply to this command, when several
 * commands share one spec so that one config file serves them all).
 */
export function formatHelp(usageText: string, spec: Spec, shown?: readonly string[]): string {
  const entries = Object.entries(spec).filter(([name]) => shown === undefined || shown.includes(name) || name === 'help');
  const rows = entries.map(([name, s]) => {
    const flag = `--${name}${s.kind === 'boolean' ? '' : ` ${s.kind.toUpperCase()}`}`;
    const def = s.defaultText ?? (s.default === undefined || s.default === false ? '' : formatDefault(s));
    const env = s.flagOnly ? '' : `  [${envName(name)}]`;
    return `  ${flag.padEnd(28)} ${s.description}${def ? ` (default: ${def})` : ''}${env}`;
  });
  rows.push(`  ${'--config PATH'.padEnd(28)} JSON file of option names to values  [${envName('config')}]`);
  const others = shown === undefined ? '' : '\nThe other commands\' options are accepted too (one config file serves them all) and change nothing here.\n';
  return `${usageText.trimEnd()}\n\nOptions (flag, then environment variable; a config file uses the flag's name):\n${rows.join('\n')}\n${others}`;
}

function formatDefault(s: OptionSpec): string {
  const v = s.default;
  if (s.kind === 'hostport') return `${(v as HostPort).host}:${(v as HostPort).port}`;
  return typeof v === 'number' ? formatValue(s.kind, v) : String(v);
}

/** A value as the user would type it: 10ms and 64KiB, not 10 and 65536. */
function formatValue(kind: Kind, value: number): string {
  if (kind === 'duration') return formatDurationOption(value);
  if (kind === 'size') return formatSizeOption(value);
  return String(value);
}

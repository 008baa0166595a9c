/**
 * The command line's arguments: `node:util` `parseArgs` per command, checked into a
 * {@link CliCommand}. Reading DATA (a file, stdin) happens later (see data.ts).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Metas } from '../protocol/metas.js';
import { HELP, type CommandName } from './help.js';
import { OUTPUT_MODES, type OutputMode } from './output.js';

/** A usage error: the message goes to stderr with a hint to `--help`; exit code 1. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A checked command line (DATA still unread). */
export interface CliCommand {
  readonly name: CommandName;
  readonly url: string;
  readonly event: string;
  /** The DATA argument as typed: text, `@file` or `-`. Undefined: no data. */
  readonly data: string | undefined;
  /** The `Data-Type` meta to mark the data with (`--data-type`), already expanded. */
  readonly dataType: string | undefined;
  readonly metas: Metas;
  /** `--timeout` in milliseconds. */
  readonly timeout: number | undefined;
  readonly output: OutputMode;
  readonly quiet: boolean;
  readonly verbose: boolean;
  /** `--count`: stream/listen stop after this many values/messages. */
  readonly count: number | undefined;
  readonly tlsCa: string | undefined;
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  readonly insecure: boolean;
  /** listen: `--reply` (DATA syntax, `-` excluded). */
  readonly reply: string | undefined;
  /** listen: `--alarm` text. */
  readonly alarm: string | undefined;
  /** listen: `--player` name (join a broker instead of listening). */
  readonly player: string | undefined;
}

/** What `parseCommandLine` found: a command to run, or text to print (help, version). */
export type ParsedCommandLine = { kind: 'run'; command: CliCommand } | { kind: 'print'; text: string };

type Options = NonNullable<ParseArgsConfig['options']>;

const COMMON: Options = {
  meta: { type: 'string', short: 'm', multiple: true },
  timeout: { type: 'string', short: 't' },
  output: { type: 'string', short: 'o' },
  quiet: { type: 'boolean', short: 'q' },
  verbose: { type: 'boolean', short: 'v' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};
const CALLER: Options = {
  ...COMMON,
  at: { type: 'string' },
  'data-type': { type: 'string' },
  insecure: { type: 'boolean', short: 'k' },
};
const OPTIONS: Record<CommandName, Options> = {
  call: CALLER,
  stream: { ...CALLER, count: { type: 'string', short: 'n' } },
  send: CALLER,
  listen: {
    ...COMMON,
    'data-type': { type: 'string' },
    count: { type: 'string', short: 'n' },
    reply: { type: 'string' },
    alarm: { type: 'string' },
    player: { type: 'string' },
    insecure: { type: 'boolean', short: 'k' },
  },
};

/** Short names of common `Data-Type`s; anything holding a `/` is taken as is. */
const DATA_TYPES: Readonly<Record<string, string>> = {
  json: 'application/json',
  text: 'text/plain',
  binary: 'application/octet-stream',
  bytes: 'application/octet-stream',
  msgpack: 'application/msgpack',
};

/**
 * Parses `argv` (without `node` and the script). Throws {@link UsageError} for anything a
 * user got wrong.
 */
export function parseCommandLine(argv: readonly string[], version: string): ParsedCommandLine {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined;
    if (topic !== undefined && !isCommand(topic)) throw new UsageError(`unknown command '${topic}'`);
    return { kind: 'print', text: topic === undefined ? HELP.main : HELP[topic] };
  }
  if (first === '--version' || first === '-V') return { kind: 'print', text: `${version}\n` };
  if (!isCommand(first)) throw new UsageError(`unknown command '${first}' (commands: call, stream, send, listen)`);
  const name = first;

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...rest], options: OPTIONS[name], allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const values = parsed.values as Record<string, string | string[] | boolean | undefined>;
  if (values['help'] === true) return { kind: 'print', text: HELP[name] };

  const positionals = parsed.positionals;
  const wanted = name === 'listen' ? 1 : 2;
  const most = name === 'listen' ? 1 : 3;
  if (positionals.length < wanted) throw new UsageError(name === 'listen' ? 'listen needs a URL' : `${name} needs a URL and an EVENT`);
  if (positionals.length > most) throw new UsageError(`too many arguments: ${positionals.slice(most).map((a) => JSON.stringify(a)).join(' ')}`);

  const str = (key: string): string | undefined => values[key] as string | undefined;
  const metas = parseMetaOptions((values['meta'] as string[] | undefined) ?? []);
  const at = str('at');
  if (at !== undefined) {
    if (at === '') throw new UsageError('--at needs a player name');
    metas['@'] = at;
  }
  const reply = str('reply');
  if (reply === '-') throw new UsageError('--reply cannot read stdin: give the value, or @file');
  if (reply !== undefined && str('alarm') !== undefined) throw new UsageError('--reply and --alarm exclude each other');
  const player = str('player');
  if (player === '') throw new UsageError('--player needs a name');

  return {
    kind: 'run',
    command: {
      name,
      url: positionals[0]!,
      event: positionals[1] ?? '',
      data: positionals[2],
      dataType: dataTypeOf(str('data-type')),
      metas,
      timeout: positiveInteger('--timeout', str('timeout')),
      output: outputMode(str('output')),
      quiet: values['quiet'] === true,
      verbose: values['verbose'] === true,
      count: positiveInteger('--count', str('count')),
      tlsCa: str('tls-ca'),
      tlsCert: str('tls-cert'),
      tlsKey: str('tls-key'),
      insecure: values['insecure'] === true,
      reply,
      alarm: str('alarm'),
      player,
    },
  };
}

function isCommand(word: string): word is CommandName {
  return word === 'call' || word === 'stream' || word === 'send' || word === 'listen';
}

// `k=v`, the value may hold '=' (as metas do on the wire); '&' has no escape in a metaString.
function parseMetaOptions(items: readonly string[]): Metas {
  const metas: Metas = Object.create(null) as Metas;
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--meta ${JSON.stringify(item)}: expected k=v`);
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (key.includes('&') || value.includes('&')) throw new UsageError(`--meta ${JSON.stringify(item)}: '&' cannot travel in a meta`);
    metas[key] = value;
  }
  return metas;
}

function dataTypeOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const known = DATA_TYPES[value.toLowerCase()];
  if (known !== undefined) return known;
  if (value.includes('/') && !value.includes('&')) return value;
  throw new UsageError(`--data-type ${JSON.stringify(value)}: use json, text, binary, msgpack or a media type (type/subtype)`);
}

function outputMode(value: string | undefined): OutputMode {
  if (value === undefined) return 'auto';
  if ((OUTPUT_MODES as readonly string[]).includes(value)) return value as OutputMode;
  throw new UsageError(`--output ${JSON.stringify(value)}: use ${OUTPUT_MODES.join(', ')}`);
}

function positiveInteger(option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0 || n > 2_147_483_647) {
    throw new UsageError(`${option} ${JSON.stringify(value)}: expected a whole number from 1 to 2147483647`);
  }
  return n;
}

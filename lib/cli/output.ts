/**
 * How the command line prints what it receives: values on stdout in the chosen `--output`
 * mode, metas and errors on stderr.
 */
import { flagName } from '../protocol/flags.js';
import type { ReceivedMessage } from '../session/types.js';

/** The `--output` modes (see help.ts). */
export const OUTPUT_MODES = ['auto', 'json', 'text', 'raw', 'hex', 'frame'] as const;
export type OutputMode = (typeof OUTPUT_MODES)[number];

/** A value as its `Data-Type` says to read it. */
type Decoded =
  | { kind: 'empty' }
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; text: string }
  | { kind: 'bytes'; bytes: Buffer };

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A `Data-Type` without parameters, lower case: `Application/JSON; charset=utf-8` → `application/json`. */
export function mediaType(dataType: string): string {
  const semi = dataType.indexOf(';');
  return (semi < 0 ? dataType : dataType.slice(0, semi)).trim().toLowerCase();
}

/**
 * Reads data by its `Data-Type` (as the Nest transport's serializer marks it): `...json` is
 * JSON (text when it does not parse), `text/*` text, any other type bytes. Unmarked data
 * (upstream peers send no `Data-Type`) is text when it is UTF-8, bytes otherwise; with
 * `parseUnmarked` JSON-looking text is parsed.
 */
function decode(data: Buffer, dataType: string | undefined, parseUnmarked: boolean): Decoded {
  if (data.length === 0) return { kind: 'empty' };
  if (dataType !== undefined) {
    const type = mediaType(dataType);
    if (type.endsWith('json')) return parseJson(data.toString('utf8'));
    if (type.startsWith('text/')) return { kind: 'text', text: data.toString('utf8') };
    return { kind: 'bytes', bytes: data };
  }
  let text: string;
  try {
    text = STRICT_UTF8.decode(data);
  } catch {
    return { kind: 'bytes', bytes: data };
  }
  return parseUnmarked ? parseJson(text) : { kind: 'text', text };
}

function parseJson(text: string): Decoded {
  try {
    return { kind: 'json', value: JSON.parse(text) as unknown };
  } catch {
    return { kind: 'text', text };
  }
}

/** The JSON form of a value: JSON as is, text as a string, bytes as `{ base64 }`, nothing as null. */
function jsonValue(decoded: Decoded): unknown {
  switch (decoded.kind) {
    case 'empty': return null;
    case 'json': return decoded.value;
    case 'text': return decoded.text;
    case 'bytes': return { base64: decoded.bytes.toString('base64') };
  }
}

/** `xxd`-like lines: offset, 16 bytes in hex, their printable ASCII. */
export function hexDump(bytes: Buffer): string {
  let out = '';
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const row = bytes.subarray(offset, offset + 16);
    let hex = '';
    let ascii = '';
    for (let i = 0; i < 16; i++) {
      hex += i < row.length ? row[i]!.toString(16).padStart(2, '0') + ' ' : '   ';
      if (i === 7) hex += ' ';
      if (i < row.length) ascii += row[i]! >= 0x20 && row[i]! < 0x7f ? String.fromCharCode(row[i]!) : '.';
    }
    out += `${offset.toString(16).padStart(8, '0')}  ${hex} |${ascii}|\n`;
  }
  return out;
}

/** Terminates a printed value with one newline (unless it has one). */
function line(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}

/** Where the printer writes: process.stdout/stderr, or anything alike. */
export interface OutputStreams {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
}

/** Prints values, metas and errors for one command. */
export class Printer {
  private readonly tty: boolean;

  constructor(
    private readonly mode: OutputMode,
    private readonly streams: OutputStreams,
    readonly quiet: boolean,
    readonly verbose: boolean,
  ) {
    this.tty = streams.stdout.isTTY === true;
  }

  /**
   * Prints one received value on stdout. Returns false when stdout's buffer is full (wait for
   * its 'drain' before printing more).
   */
  value(message: ReceivedMessage): boolean {
    const out = this.render(message);
    return out === undefined ? true : this.streams.stdout.write(out);
  }

  /** Prints a received Message/Request/Subscribe (listen): a header line, then its value. */
  received(message: ReceivedMessage): boolean {
    if (this.mode === 'frame' || this.mode === 'raw' || this.mode === 'json') return this.value(message);
    const metas = message.metaString === '' ? '' : ` ${message.metaString}`;
    this.streams.stdout.write(`[${flagName(message.flag)}] ${message.event}${metas}\n`);
    // Between header lines raw bytes would run into the next header: a hex dump instead.
    const out = this.render(message, true);
    return out === undefined ? true : this.streams.stdout.write(out);
  }

  /** The empty ReplyEnd that ended a stream: a line of its own in frame mode only (it carries no value). */
  end(message: ReceivedMessage): void {
    if (this.mode === 'frame') this.value(message);
  }

  /** Prints a message's metas on stderr (`< k: v` lines), unless quiet or in frame mode. */
  metas(message: ReceivedMessage): void {
    if (this.quiet || this.mode === 'frame') return;
    for (const [key, value] of Object.entries(message.metas)) this.streams.stderr.write(`< ${key}: ${value}\n`);
  }

  /** A diagnostic line on stderr (with --verbose only). */
  debug(text: string): void {
    if (this.verbose) this.streams.stderr.write(`* ${text}\n`);
  }

  /** An error line on stderr. */
  error(text: string): void {
    this.streams.stderr.write(`nestjs-socketd: ${text}\n`);
  }

  /** A line on stderr as is (status lines such as "listening on URL"). */
  note(text: string): void {
    this.streams.stderr.write(`${text}\n`);
  }

  private render(message: ReceivedMessage, framed = false): string | Buffer | undefined {
    const dataType = message.meta('Data-Type');
    switch (this.mode) {
      case 'raw': return message.data;
      case 'text': return message.data.length === 0 ? undefined : line(message.dataAsString());
      case 'hex': return hexDump(message.data);
      case 'json': return `${JSON.stringify(jsonValue(decode(message.data, dataType, true)))}\n`;
      case 'frame': return `${JSON.stringify({
        flag: flagName(message.flag),
        sid: message.sid,
        event: message.event,
        metas: { ...message.metas },
        data: jsonValue(decode(message.data, dataType, true)),
      })}\n`;
      case 'auto': {
        const decoded = decode(message.data, dataType, false);
        switch (decoded.kind) {
          case 'empty': return undefined;
          case 'json': return `${JSON.stringify(decoded.value, null, 2)}\n`;
          case 'text': return line(decoded.text);
          case 'bytes': return this.tty || framed ? hexDump(decoded.bytes) : decoded.bytes;
        }
      }
    }
  }
}

import type { Metas, ReceivedMessage } from '../session/types.js';
import { decodeData, decodeJson, decodeText } from './codec.js';

/** A received Message, Request, Reply or ReplyEnd, with its data as a `Uint8Array`. */
export interface BrowserMessage {
  readonly sid: string;
  readonly event: string;
  readonly metas: Readonly<Metas>;
  /** The data (fragments reassembled): a view, not a copy. */
  readonly data: Uint8Array;
  /** The `Data-Type` meta (`application/json`, `text/plain`, ...), undefined when there is none. */
  readonly dataType: string | undefined;
  /**
   * The value, decoded by `dataType`: parsed JSON for `application/json`, the string for
   * `text/*`, the bytes for other types; unmarked data (upstream peers) is read as the Nest
   * transport reads it (empty: undefined; JSON text: its value; other text: the string; not
   * UTF-8: the bytes). Decoded once, on first read.
   */
  readonly value: unknown;
  /** The data as UTF-8 text, whatever its type. */
  text(): string;
  /**
   * The data as JSON gives it: parsed for `application/json` and unmarked data, the string
   * itself for `text/*` (a Nest handler's string reply). Throws a `TypeError` for other types.
   */
  json<T = unknown>(): T;
  /** The data as bytes (the same view as `data`), whatever its type. */
  bytes(): Uint8Array;
}

const NOT_DECODED: unique symbol = Symbol('not decoded');

/** A {@link BrowserMessage} over a received engine message; decodes lazily. */
export class ReceivedBrowserMessage implements BrowserMessage {
  readonly data: Uint8Array;
  private decoded: unknown = NOT_DECODED;

  constructor(protected readonly message: ReceivedMessage) {
    const buf = message.data;
    this.data = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get sid(): string {
    return this.message.sid;
  }

  get event(): string {
    return this.message.event;
  }

  get metas(): Readonly<Metas> {
    return this.message.metas;
  }

  get dataType(): string | undefined {
    return this.message.meta('Data-Type');
  }

  get value(): unknown {
    if (this.decoded === NOT_DECODED) this.decoded = decodeData(this.data, this.dataType);
    return this.decoded;
  }

  text(): string {
    return decodeText(this.data);
  }

  json<T = unknown>(): T {
    return decodeJson(this.data, this.dataType) as T;
  }

  bytes(): Uint8Array {
    return this.data;
  }
}

import type { Deserializer, Serializer } from '@nestjs/microservices';
import type { Metas, Payload, ReceivedMessage } from '../session/types.js';
import { DATA_TYPE_BINARY, DATA_TYPE_JSON, DATA_TYPE_META } from './socketd.constants.js';

/** What a serializer turns a value into: the data of a Socket.D message and its metas. */
export interface SocketDEntity {
  /** Bytes or text (sent as UTF-8); undefined for no data. */
  data?: Payload;
  /** Metas describing the data (e.g. `Data-Type`). Must not be mutated by the transport. */
  metas?: Readonly<Metas>;
}

/**
 * Serializer used by {@link SocketDServer} (replies) and {@link SocketDClient} (requests,
 * events): a Nest `Serializer` from a value to a {@link SocketDEntity}. May return a promise.
 */
export type SocketDSerializerLike = Serializer<unknown, SocketDEntity>;
/**
 * Deserializer used by both ends: a Nest `Deserializer` from a received message (data and
 * metas) to the value handed to handlers / subscribers. May return a promise.
 */
export type SocketDDeserializerLike = Deserializer<ReceivedMessage, unknown>;

const EMPTY_ENTITY: SocketDEntity = Object.freeze({});
// Our own messages carry exactly one of these metaStrings: comparing the raw string spares
// parsing the metas of every streamed item (it showed as ~13% of a 1M-item stream).
const JSON_META_STRING = `${DATA_TYPE_META}=${DATA_TYPE_JSON}`;
const BINARY_META_STRING = `${DATA_TYPE_META}=${DATA_TYPE_BINARY}`;
const JSON_METAS: Readonly<Metas> = Object.freeze({ [DATA_TYPE_META]: DATA_TYPE_JSON });
const BINARY_METAS: Readonly<Metas> = Object.freeze({ [DATA_TYPE_META]: DATA_TYPE_BINARY });

/**
 * The metas of an entity as the engine takes them: our serializer's two constant metas as
 * their pre-serialised strings (spares serialising them for every message).
 */
export function metasArg(metas: Readonly<Metas> | undefined): Metas | string | undefined {
  if (metas === JSON_METAS) return JSON_META_STRING;
  if (metas === BINARY_METAS) return BINARY_META_STRING;
  return metas as Metas | undefined;
}

/**
 * Default serializer: a Buffer or Uint8Array travels as raw bytes with
 * `Data-Type=application/octet-stream`; `undefined` as no data; anything else as JSON with
 * `Data-Type=application/json`. Throws on values JSON cannot encode (cycles, BigInt).
 */
export class SocketDSerializer implements SocketDSerializerLike {
  serialize(value: unknown): SocketDEntity {
    if (value === undefined) return EMPTY_ENTITY;
    if (value instanceof Uint8Array) return { data: value, metas: BINARY_METAS };
    const json = JSON.stringify(value);
    // Functions and symbols have no JSON form: send them as "no value", like JSON.stringify in an object.
    if (json === undefined) return EMPTY_ENTITY;
    return { data: json, metas: JSON_METAS };
  }
}

/**
 * Default deserializer, by the message's `Data-Type` meta:
 * - `application/octet-stream` (or any non-text type) → the data as a `Buffer`;
 * - `application/json` (or any `...json` type) → `JSON.parse` of the data (undefined if empty);
 * - `text/...` → the data as a string;
 * - no `Data-Type` (upstream peers usually send none): empty → undefined; JSON text → its
 *   value; anything else → the raw text.
 * Throws on a message marked JSON whose data is not JSON.
 */
export class SocketDDeserializer implements SocketDDeserializerLike {
  deserialize(message: ReceivedMessage): unknown {
    const metaString = message.metaString;
    const data = message.data;
    if (metaString === JSON_META_STRING) return data.length === 0 ? undefined : JSON.parse(message.dataAsString());
    if (metaString === BINARY_META_STRING) return data;
    const type = metaString.length === 0 ? undefined : message.meta(DATA_TYPE_META);
    if (type === undefined) {
      if (data.length === 0) return undefined;
      return parseLenient(message.dataAsString());
    }
    if (type === DATA_TYPE_JSON || type.endsWith('json')) {
      return data.length === 0 ? undefined : JSON.parse(message.dataAsString());
    }
    if (type.startsWith('text/')) return message.dataAsString();
    return data;
  }
}

/** True when a ReplyEnd carries a value (data, or a `Data-Type` saying an empty value is one). */
export function carriesValue(message: ReceivedMessage): boolean {
  return message.data.length > 0 || (message.metaString.length > 0 && message.meta(DATA_TYPE_META) !== undefined);
}

// Unmarked data from upstream peers: JSON when it parses, otherwise the text as it is.
function parseLenient(text: string): unknown {
  const c = text.charCodeAt(0);
  const maybeJson =
    c === 0x7b /* { */ || c === 0x5b /* [ */ || c === 0x22 /* " */ || c === 0x2d /* - */ ||
    (c >= 0x30 && c <= 0x39) || text === 'true' || text === 'false' || text === 'null';
  if (!maybeJson) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** True for a promise-like result of a pluggable serializer. */
export function isThenable<T>(value: unknown): value is PromiseLike<T> {
  return value !== null && typeof value === 'object' && typeof (value as PromiseLike<T>).then === 'function';
}

import type { Serializer } from '@nestjs/microservices';
import type { Metas, Payload } from '../session/types.js';
import { DATA_TYPE_BINARY, DATA_TYPE_JSON, DATA_TYPE_META, DATA_TYPE_TEXT } from './socketd.constants.js';

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

const EMPTY_ENTITY: SocketDEntity = Object.freeze({});
// Our own messages carry exactly one of these metaStrings: comparing the raw string spares
// parsing the metas of every streamed item (it showed as ~13% of a 1M-item stream).
/** The meta string of JSON data, as our serializer sends it. */
export const JSON_META_STRING = `${DATA_TYPE_META}=${DATA_TYPE_JSON}`;
/** The meta string of raw bytes, as our serializer sends it. */
export const BINARY_META_STRING = `${DATA_TYPE_META}=${DATA_TYPE_BINARY}`;
/** The meta string of a string value (raw UTF-8 text), as our serializer sends it. */
export const TEXT_META_STRING = `${DATA_TYPE_META}=${DATA_TYPE_TEXT}`;
const JSON_METAS: Readonly<Metas> = Object.freeze({ [DATA_TYPE_META]: DATA_TYPE_JSON });
const BINARY_METAS: Readonly<Metas> = Object.freeze({ [DATA_TYPE_META]: DATA_TYPE_BINARY });
const TEXT_METAS: Readonly<Metas> = Object.freeze({ [DATA_TYPE_META]: DATA_TYPE_TEXT });

/**
 * The metas of an entity as the engine takes them: our serializer's two constant metas as
 * their pre-serialised strings (spares serialising them for every message).
 */
export function metasArg(metas: Readonly<Metas> | undefined): Metas | string | undefined {
  if (metas === JSON_METAS) return JSON_META_STRING;
  if (metas === TEXT_METAS) return TEXT_META_STRING;
  if (metas === BINARY_METAS) return BINARY_META_STRING;
  return metas as Metas | undefined;
}

/**
 * The metas to send with an entity: the codec's, then Nest packet metadata (dispatch hook),
 * then per-call metas; the most specific wins. Allocates only when there is something to merge.
 */
export function mergeMetas(
  codec: Readonly<Metas> | undefined,
  metadata: Readonly<Record<string, string>> | undefined,
  call: Readonly<Metas> | undefined,
): Metas | string | undefined {
  if (metadata === undefined && call === undefined) return metasArg(codec);
  return { ...codec, ...metadata, ...call };
}

/**
 * Default serializer, so that upstream peers read each value as they expect it:
 * - a string travels as its raw UTF-8 text with `Data-Type=text/plain` (an upstream handler's
 *   `dataAsString()` reads `hi`, not `"hi"`);
 * - a Buffer or Uint8Array as raw bytes with `Data-Type=application/octet-stream`;
 * - `undefined` as no data;
 * - anything else as JSON with `Data-Type=application/json`.
 * {@link SocketDDeserializer} turns each back into the same kind of value. Throws on values
 * JSON cannot encode (cycles, BigInt).
 */
export class SocketDSerializer implements SocketDSerializerLike {
  serialize(value: unknown): SocketDEntity {
    if (value === undefined) return EMPTY_ENTITY;
    if (typeof value === 'string') return { data: value, metas: TEXT_METAS };
    if (value instanceof Uint8Array) return { data: value, metas: BINARY_METAS };
    const json = JSON.stringify(value);
    // Functions and symbols have no JSON form: send them as "no value", like JSON.stringify in an object.
    if (json === undefined) return EMPTY_ENTITY;
    return { data: json, metas: JSON_METAS };
  }
}

/** True for a promise-like result of a pluggable serializer. */
export function isThenable<T>(value: unknown): value is PromiseLike<T> {
  return value !== null && typeof value === 'object' && typeof (value as PromiseLike<T>).then === 'function';
}

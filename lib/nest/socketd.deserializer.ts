import type { Deserializer } from '@nestjs/microservices';
import { isUtf8 } from 'node:buffer';
import type { ReceivedMessage } from '../session/types.js';
import { DATA_TYPE_BINARY, DATA_TYPE_META, DATA_TYPE_MSGPACK } from './socketd.constants.js';
import { BINARY_META_STRING, isThenable, JSON_META_STRING, TEXT_META_STRING } from './socketd.serializer.js';

/**
 * Deserializer used by both ends: a Nest `Deserializer` from a received message (data and
 * metas) to the value handed to handlers / subscribers. May return a promise.
 */
export type SocketDDeserializerLike = Deserializer<ReceivedMessage, unknown>;

/**
 * Data marked with a `Data-Type` meta that the deserializer does not read (a msgpack peer
 * calling a JSON service, ...): the value cannot be decoded and is never guessed at.
 * `code` is `SOCKETD_ERR_DATA_TYPE`; see {@link decodeFailure} for what each side reports.
 */
export class SocketDDataTypeError extends Error {
  readonly code = 'SOCKETD_ERR_DATA_TYPE';

  constructor(readonly dataType: string) {
    super(`no deserializer for Data-Type '${dataType}'`);
    this.name = 'SocketDDataTypeError';
  }
}

/**
 * Default deserializer, by the message's `Data-Type` meta (parameters such as `; charset=utf-8`
 * and letter case are ignored):
 * - `application/json` (or any `...json` type) → `JSON.parse` of the data (undefined if empty);
 * - `text/...` (our strings are `text/plain`) → the data as a string;
 * - `application/octet-stream` → the data as a `Buffer`;
 * - no `Data-Type` (upstream peers never send one): empty → undefined; bytes that are not
 *   valid UTF-8 → a `Buffer`, byte for byte; JSON text → its value; any other text → the string;
 * - any other type (`application/msgpack`, ...) → throws {@link SocketDDataTypeError}: a codec
 *   this side was not given, rather than bytes handed to the handler as if they were the value.
 * Throws on a message marked JSON whose data is not JSON.
 */
export class SocketDDeserializer implements SocketDDeserializerLike {
  deserialize(message: ReceivedMessage): unknown {
    const metaString = message.metaString;
    const data = message.data;
    if (metaString === JSON_META_STRING) return data.length === 0 ? undefined : JSON.parse(message.dataAsString());
    if (metaString === TEXT_META_STRING) return message.dataAsString();
    if (metaString === BINARY_META_STRING) return data;
    const marked = metaString.length === 0 ? undefined : message.meta(DATA_TYPE_META);
    if (marked === undefined) {
      if (data.length === 0) return undefined;
      // Decoding binary as UTF-8 would replace bytes with U+FFFD: hand them over untouched.
      if (!isUtf8(data)) return data;
      return parseLenient(message.dataAsString());
    }
    const type = mediaType(marked);
    if (type.endsWith('json')) return data.length === 0 ? undefined : JSON.parse(message.dataAsString());
    if (type.startsWith('text/')) return message.dataAsString();
    if (type === DATA_TYPE_BINARY) return data;
    throw new SocketDDataTypeError(marked);
  }
}

/** A `Data-Type` without its parameters, in lower case: `Application/JSON; charset=utf-8` → `application/json`. */
function mediaType(dataType: string): string {
  const semi = dataType.indexOf(';');
  return (semi < 0 ? dataType : dataType.slice(0, semi)).trim().toLowerCase();
}

/**
 * Runs a deserializer on one received message, and refuses the one mistake that compiles: a
 * Nest-style `deserialize(value) { return value }` that hands the received message itself to
 * handlers. The result may be a promise (of the value).
 * @throws SocketDDeserializerMisuseError when the deserializer returned the message.
 */
export function decodeMessage(deserializer: SocketDDeserializerLike, message: ReceivedMessage): unknown {
  const value = deserializer.deserialize(message);
  if (value === message) throw new SocketDDeserializerMisuseError(deserializer);
  if (isThenable(value)) {
    return Promise.resolve(value).then((v) => {
      if (v === message) throw new SocketDDeserializerMisuseError(deserializer);
      return v;
    });
  }
  return value;
}

/** A deserializer that returned the received message instead of the value it carries. */
export class SocketDDeserializerMisuseError extends Error {
  readonly code = 'SOCKETD_ERR_DESERIALIZER';

  constructor(deserializer: SocketDDeserializerLike) {
    const ctor = (deserializer as object).constructor;
    const who = ctor === undefined || ctor === Object ? "the deserializer's deserialize()" : `${ctor.name}.deserialize()`;
    super(
      `${who} returned the received message itself: a Socket.D deserializer gets the ` +
      'ReceivedMessage and returns the value it carries (read message.data, message.dataAsString() ' +
      "and message.meta('Data-Type'), or extend SocketDDeserializer); an identity deserializer from " +
      'another Nest transport does not fit',
    );
    this.name = 'SocketDDeserializerMisuseError';
  }
}

/**
 * What a failed decode means, for a log line or an error: for a {@link SocketDDataTypeError},
 * which `deserializer` option of `owner` (e.g. `the SocketDServer`) to set, and the codec
 * this package ships for the type when there is one; else the error's own message.
 */
export function decodeFailure(err: unknown, owner: string): string {
  if (!(err instanceof SocketDDataTypeError)) return err instanceof Error ? err.message : String(err);
  const shipped = mediaType(err.dataType) === DATA_TYPE_MSGPACK ? " (SocketDMsgpackDeserializer from 'nestjs-socketd/msgpack')" : '';
  return `data of Data-Type '${err.dataType}', which ${owner}'s deserializer does not read: set the \`deserializer\` option of ${owner} to one that does${shipped}`;
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

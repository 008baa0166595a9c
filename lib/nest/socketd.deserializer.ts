import type { Deserializer } from '@nestjs/microservices';
import { isUtf8 } from 'node:buffer';
import type { ReceivedMessage } from '../session/types.js';
import { DATA_TYPE_JSON, DATA_TYPE_META } from './socketd.constants.js';
import { BINARY_META_STRING, JSON_META_STRING, TEXT_META_STRING } from './socketd.serializer.js';

/**
 * Deserializer used by both ends: a Nest `Deserializer` from a received message (data and
 * metas) to the value handed to handlers / subscribers. May return a promise.
 */
export type SocketDDeserializerLike = Deserializer<ReceivedMessage, unknown>;

/**
 * Default deserializer, by the message's `Data-Type` meta:
 * - `application/octet-stream` (or any non-text type) → the data as a `Buffer`;
 * - `application/json` (or any `...json` type) → `JSON.parse` of the data (undefined if empty);
 * - `text/...` (our strings are `text/plain`) → the data as a string;
 * - no `Data-Type` (upstream peers never send one): empty → undefined; bytes that are not
 *   valid UTF-8 → a `Buffer`, byte for byte; JSON text → its value; any other text → the string.
 * Throws on a message marked JSON whose data is not JSON.
 */
export class SocketDDeserializer implements SocketDDeserializerLike {
  deserialize(message: ReceivedMessage): unknown {
    const metaString = message.metaString;
    const data = message.data;
    if (metaString === JSON_META_STRING) return data.length === 0 ? undefined : JSON.parse(message.dataAsString());
    if (metaString === TEXT_META_STRING) return message.dataAsString();
    if (metaString === BINARY_META_STRING) return data;
    const type = metaString.length === 0 ? undefined : message.meta(DATA_TYPE_META);
    if (type === undefined) {
      if (data.length === 0) return undefined;
      // Decoding binary as UTF-8 would replace bytes with U+FFFD: hand them over untouched.
      if (!isUtf8(data)) return data;
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

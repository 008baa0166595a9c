import { decodeFrame as decodeBuffer, encodeFrame as encodeBuffer } from '../protocol/frame-codec.js';
import type { Flag } from '../protocol/flags.js';

/** A frame with its data as a `Uint8Array` (spec section 2). */
export interface BrowserFrame {
  readonly flag: Flag;
  readonly sid: string;
  readonly event: string;
  readonly metaString: string;
  readonly data: Uint8Array;
}

/**
 * Decodes bytes holding exactly one frame with the engine's own codec (a view of `bytes`
 * is decoded, nothing copied). Throws the codec's `SocketDError`s.
 */
export function decodeFrame(bytes: Uint8Array, maxFrameSize?: number): BrowserFrame {
  const frame = decodeBuffer(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), maxFrameSize);
  const data = frame.data;
  return { ...frame, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** Encodes one frame with the engine's own codec. */
export function encodeFrame(frame: BrowserFrame): Uint8Array {
  const data = frame.data;
  const buf = encodeBuffer({ ...frame, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) });
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

const UTF8 = new TextDecoder();
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A `Data-Type` without its parameters, in lower case (`Application/JSON; charset=utf-8` → `application/json`). */
function mediaType(dataType: string): string {
  const semi = dataType.indexOf(';');
  return (semi < 0 ? dataType : dataType.slice(0, semi)).trim().toLowerCase();
}

/**
 * The value of received data by its `Data-Type` meta, as the Nest transport's serializer marks
 * it (and as its default deserializer reads it):
 * - `application/json` (or any `...json` type): the parsed JSON (undefined when empty);
 * - `text/*` (a Nest handler's string): the string;
 * - any other type (`application/octet-stream`, `application/msgpack`, ...): the bytes;
 * - no `Data-Type` (upstream Java/JS/Python peers send none): undefined when empty, the bytes
 *   when they are not UTF-8, the parsed value of JSON text, else the text.
 * Throws a `SyntaxError` for data marked JSON that is not JSON.
 */
export function decodeData(data: Uint8Array, dataType: string | undefined): unknown {
  if (dataType === undefined) return decodeUnmarked(data);
  const type = mediaType(dataType);
  if (type.endsWith('json')) return data.length === 0 ? undefined : JSON.parse(UTF8.decode(data));
  if (type.startsWith('text/')) return UTF8.decode(data);
  return data;
}

/**
 * The data as JSON would give it, by its `Data-Type`: parsed for JSON and unmarked data, the
 * string itself for `text/*` (a string reply's JSON value is that string). Throws a `TypeError`
 * for any other type (bytes are not JSON) and a `SyntaxError` for text that is not JSON.
 */
export function decodeJson(data: Uint8Array, dataType: string | undefined): unknown {
  const type = dataType === undefined ? undefined : mediaType(dataType);
  if (type === undefined || type.endsWith('json')) return JSON.parse(UTF8.decode(data));
  if (type.startsWith('text/')) return UTF8.decode(data);
  throw new TypeError(`the data is '${dataType}', not JSON: read it with bytes() or value`);
}

/** The data as UTF-8 text (whatever its `Data-Type`). */
export function decodeText(data: Uint8Array): string {
  return UTF8.decode(data);
}

function decodeUnmarked(data: Uint8Array): unknown {
  if (data.length === 0) return undefined;
  let text: string;
  try {
    text = STRICT_UTF8.decode(data);
  } catch {
    // Not UTF-8: decoding would replace bytes with U+FFFD; hand them over untouched.
    return data;
  }
  const c = text.charCodeAt(0);
  const maybeJson = c === 0x7b || c === 0x5b || c === 0x22 || c === 0x2d || (c >= 0x30 && c <= 0x39) || text === 'true' || text === 'false' || text === 'null';
  if (!maybeJson) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

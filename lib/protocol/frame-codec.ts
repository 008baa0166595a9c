/**
 * Frame <-> bytes (spec section 2). Pure functions: no I/O, no state.
 *
 * ```
 * +-----------+------------+-----+-------+-------+-------+------------+-------+-------------+
 * | len:int32 | flag:int32 | sid | 00 0A | event | 00 0A | metaString | 00 0A | data (rest) |
 * +-----------+------------+-----+-------+-------+-------+------------+-------+-------------+
 * ```
 * Ping and Pong are the 8-byte frame `len=8, flag`.
 */
import {
  EMPTY_BUFFER,
  EMPTY_FRAME_LENGTH,
  MAX_DATA_BYTES,
  MAX_EVENT_BYTES,
  MAX_FRAME_LENGTH,
  MAX_META_BYTES,
  MAX_SID_BYTES,
  MIN_MESSAGE_FRAME_LENGTH,
  TERMINATOR_0,
  TERMINATOR_1,
} from './constants.js';
import { socketDError } from './errors.js';
import { Flags, isKnownFlag, type Flag } from './flags.js';
import type { Frame } from './frame.js';
import { wrongProtocolHint } from './wrong-protocol.js';
import type { CachedField, FieldCache } from './field-cache.js';

/** Bytes of `len` + `flag`. */
const HEADER_BYTES = 8;
/** Three `00 0A` terminators. */
const TERMINATORS_BYTES = 6;
/** ASCII strings up to this length are written by a JS loop: cheaper than a call into C++. */
const SMALL_ASCII_WRITE = 16;

// Buffer#utf8Slice / #utf8Write skip the argument juggling of toString()/write(). They are
// not in @types/node, so fall back to the public methods if a runtime ever lacks them.
interface FastUtf8 {
  utf8Slice(start: number, end: number): string;
  utf8Write(text: string, offset: number, length: number): number;
}
const HAS_FAST_UTF8 = typeof (Buffer.prototype as unknown as Partial<FastUtf8>).utf8Slice === 'function' &&
  typeof (Buffer.prototype as unknown as Partial<FastUtf8>).utf8Write === 'function';

function sliceUtf8(buf: Buffer, start: number, end: number): string {
  if (start === end) return '';
  return HAS_FAST_UTF8 ? (buf as unknown as FastUtf8).utf8Slice(start, end) : buf.toString('utf8', start, end);
}

/** True for flags encoded as the 8-byte frame without a message (spec section 5). */
export function isEmptyFrameFlag(flag: number): boolean {
  return flag === Flags.Ping || flag === Flags.Pong;
}

/**
 * Throws `SOCKETD_ERR_FRAME_LENGTH` (close 1002) unless `len` is a legal frame length:
 * exactly 8, or 14..`maxFrameSize` (spec section 2.3). Called before any body is buffered.
 *
 * @param maxFrameSize largest accepted frame; default {@link MAX_FRAME_LENGTH} (17 MiB).
 */
export function checkFrameLength(len: number, maxFrameSize: number = MAX_FRAME_LENGTH): void {
  if (len === EMPTY_FRAME_LENGTH) return;
  if (len < MIN_MESSAGE_FRAME_LENGTH) {
    throw socketDError('FRAME_LENGTH', `frame length ${len} is below ${len < EMPTY_FRAME_LENGTH ? EMPTY_FRAME_LENGTH : MIN_MESSAGE_FRAME_LENGTH}`, { length: len });
  }
  if (len > maxFrameSize) {
    throw socketDError('FRAME_LENGTH', `frame length ${len} exceeds ${maxFrameSize}${wrongProtocolHint(len)}`, { length: len, max: maxFrameSize });
  }
}

// ---------------------------------------------------------------------------------------
// Encoding

/** UTF-8 byte length of an outgoing field; refuses over-limit fields and U+0000 (spec 2.2, 2.3). */
function fieldBytes(text: string, limit: number, name: string): number {
  const n = text.length;
  if (n === 0) return 0;
  // Every UTF-16 unit is at least one UTF-8 byte, so a long string needs no byteLength().
  const bytes = n > limit ? -1 : Buffer.byteLength(text, 'utf8');
  if (bytes < 0 || bytes > limit) {
    const actual = bytes < 0 ? Buffer.byteLength(text, 'utf8') : bytes;
    throw socketDError('SIZE_LIMIT', `${name} is ${actual} bytes, over the limit of ${limit}`, { field: name, length: actual, max: limit });
  }
  // No escaping exists: a NUL followed by '\n' would end the field early (spec 2.2), and
  // Python peers break on any NUL, so strings with U+0000 are refused outright.
  if (text.indexOf('\u0000') !== -1) {
    throw socketDError('INVALID_ARGUMENT', `${name} contains U+0000, which the frame format cannot carry`, { field: name });
  }
  return bytes;
}

/** Writes `text` (known to be `bytes` UTF-8 bytes) then `00 0A`; returns the next offset. */
function writeField(buf: Buffer, text: string, bytes: number, at: number): number {
  if (bytes !== 0) {
    if (bytes === text.length && bytes <= SMALL_ASCII_WRITE) {
      // byteLength === length means pure ASCII: one byte per UTF-16 unit.
      for (let i = 0; i < bytes; i++) buf[at + i] = text.charCodeAt(i);
    } else if (HAS_FAST_UTF8) {
      (buf as unknown as FastUtf8).utf8Write(text, at, bytes);
    } else {
      buf.write(text, at, bytes, 'utf8');
    }
    at += bytes;
  }
  buf[at] = TERMINATOR_0;
  buf[at + 1] = TERMINATOR_1;
  return at + 2;
}

/**
 * Encodes one frame into a new, exactly-sized buffer (one allocation).
 *
 * Ping and Pong are written as the 8-byte frame whatever their fields hold; every other flag
 * carries a message with its three `00 0A` terminators, even when all fields are empty.
 *
 * @throws `SOCKETD_ERR_SIZE_LIMIT` (nothing encoded) when sid > 64, event > 512,
 *   metaString > 4096 or data > 16 MiB bytes (UTF-8), as upstream senders refuse (spec 2.3).
 * @throws `SOCKETD_ERR_INVALID_ARGUMENT` for a flag outside the table of spec section 5, or a
 *   sid/event/metaString containing U+0000.
 */
export function encodeFrame(frame: Frame): Buffer {
  return encode(frame, true);
}

/**
 * Encodes everything of a frame but its data: the returned head's length field counts the
 * data too, so `head` followed by `frame.data` is exactly {@link encodeFrame}'s bytes. For
 * large data, writing the two buffers back to back (one writev) spares copying the data.
 * Same checks and errors as {@link encodeFrame}.
 */
export function encodeFrameHead(frame: Frame): Buffer {
  return encode(frame, false);
}

/**
 * Encodes a message frame from its parts into one exactly-sized buffer. `data` may be text,
 * written as UTF-8 straight into the frame (no interim Buffer of it); `dataBytes` is its
 * UTF-8 length (`data.length` for bytes). With `heads`, the encoded sid, event and metaString
 * of the previous frame are reused while they repeat (a stream's Replies: three fewer UTF-8
 * encodings and checks per frame). Same checks and errors as {@link encodeFrame}.
 */
export function encodeMessageFrame(
  flag: Flag, sid: string, event: string, metaString: string, data: Buffer | string, dataBytes: number, heads?: HeadCache,
): Buffer {
  if (heads === undefined || isEmptyFrameFlag(flag) || !isKnownFlag(flag)) {
    return encodeParts(flag, sid, event, metaString, data, dataBytes, true);
  }
  if (sid !== heads.sid || event !== heads.event || metaString !== heads.metaString) {
    heads.sid = sid;
    heads.event = event;
    heads.metaString = metaString;
    heads.fields = undefined;
    return encodeParts(flag, sid, event, metaString, data, dataBytes, true);
  }
  // The same fields twice in a row: keep their encoding for the frames that follow.
  const fields = heads.fields ??= encodeFields(sid, event, metaString);
  checkDataBytes(dataBytes);
  const len = HEADER_BYTES + fields.length + dataBytes;
  const buf = Buffer.allocUnsafe(len);
  buf.writeInt32BE(len, 0);
  buf.writeInt32BE(flag, 4);
  buf.set(fields, HEADER_BYTES);
  writeData(buf, data, dataBytes, HEADER_BYTES + fields.length);
  return buf;
}

/** The fields of the last message frame a writer encoded (see {@link encodeMessageFrame}). */
export interface HeadCache {
  sid: string | undefined;
  event: string | undefined;
  metaString: string | undefined;
  /** Their encoding with terminators, once they repeated. */
  fields: Buffer | undefined;
}

/** A new, empty {@link HeadCache}. */
export function newHeadCache(): HeadCache {
  return { sid: undefined, event: undefined, metaString: undefined, fields: undefined };
}

function encodeFields(sid: string, event: string, metaString: string): Buffer {
  const sidBytes = fieldBytes(sid, MAX_SID_BYTES, 'sid');
  const eventBytes = fieldBytes(event, MAX_EVENT_BYTES, 'event');
  const metaBytes = fieldBytes(metaString, MAX_META_BYTES, 'metaString');
  const buf = Buffer.allocUnsafe(TERMINATORS_BYTES + sidBytes + eventBytes + metaBytes);
  writeField(buf, metaString, metaBytes, writeField(buf, event, eventBytes, writeField(buf, sid, sidBytes, 0)));
  return buf;
}

// Refuses data over MAX_DATA_BYTES before anything is allocated, as upstream senders do.
function checkDataBytes(dataBytes: number): void {
  if (dataBytes > MAX_DATA_BYTES) {
    throw socketDError('SIZE_LIMIT', `data is ${dataBytes} bytes, over the limit of ${MAX_DATA_BYTES}`, { field: 'data', length: dataBytes, max: MAX_DATA_BYTES });
  }
}

function writeData(buf: Buffer, data: Buffer | string, dataBytes: number, at: number): void {
  if (dataBytes === 0) return;
  if (typeof data !== 'string') buf.set(data, at);
  else if (HAS_FAST_UTF8) (buf as unknown as FastUtf8).utf8Write(data, at, dataBytes);
  else buf.write(data, at, dataBytes, 'utf8');
}

function encode(frame: Frame, withData: boolean): Buffer {
  return encodeParts(frame.flag, frame.sid, frame.event, frame.metaString, frame.data, frame.data.length, withData);
}

function encodeParts(flag: Flag, sid: string, event: string, metaString: string, data: Buffer | string, dataBytes: number, withData: boolean): Buffer {
  if (isEmptyFrameFlag(flag)) {
    const buf = Buffer.allocUnsafe(EMPTY_FRAME_LENGTH);
    buf.writeInt32BE(EMPTY_FRAME_LENGTH, 0);
    buf.writeInt32BE(flag, 4);
    return buf;
  }
  if (!isKnownFlag(flag)) {
    throw socketDError('INVALID_ARGUMENT', `cannot encode unknown flag ${flag}`, { flag });
  }
  const sidBytes = fieldBytes(sid, MAX_SID_BYTES, 'sid');
  const eventBytes = fieldBytes(event, MAX_EVENT_BYTES, 'event');
  const metaBytes = fieldBytes(metaString, MAX_META_BYTES, 'metaString');
  checkDataBytes(dataBytes);
  const len = HEADER_BYTES + TERMINATORS_BYTES + sidBytes + eventBytes + metaBytes + dataBytes;
  const buf = Buffer.allocUnsafe(withData ? len : len - dataBytes);
  buf.writeInt32BE(len, 0);
  buf.writeInt32BE(flag, 4);
  let at = writeField(buf, sid, sidBytes, HEADER_BYTES);
  at = writeField(buf, event, eventBytes, at);
  at = writeField(buf, metaString, metaBytes, at);
  if (withData) writeData(buf, data, dataBytes, at);
  return buf;
}

// ---------------------------------------------------------------------------------------
// Decoding

/**
 * Offset of the `00 0A` ending the field that starts at `start`, or throws.
 *
 * Spec 2.2: the field ends at the first 0x00 IMMEDIATELY followed by 0x0A; a lone 00 or 0A is
 * content. The scan stops after `limit` content bytes, so an over-long field costs O(limit).
 */
function findTerminator(buf: Buffer, start: number, end: number, limit: number, name: string): number {
  // Last offset that may hold the 0x00: the field may be at most `limit` bytes, and the
  // 0x0A must lie inside the frame.
  const last = Math.min(start + limit, end - 2);
  // Look at the byte after the candidate: content bytes (neither 00 nor 0A) rule out two
  // positions at once, which halves the loop on the hot path.
  let i = start;
  while (i <= last) {
    const next = buf[i + 1];
    if (next === TERMINATOR_1) {
      if (buf[i] === TERMINATOR_0) return i;
      i += 2;
    } else if (next === TERMINATOR_0) {
      i += 1;
    } else {
      i += 2;
    }
  }
  if (start + limit < end - 2) {
    throw socketDError('FIELD_TOO_LONG', `${name} has no 00 0A within its limit of ${limit} bytes`, { field: name, max: limit });
  }
  throw socketDError('NO_TERMINATOR', `${name} has no 00 0A terminator inside the frame`, { field: name });
}

/**
 * Decodes the frame occupying `buf[offset, offset + len)`; `len` must already have passed
 * {@link checkFrameLength} and equal the frame's length field. Strings are copied out; `data`
 * is a zero-copy view into `buf`. Used by {@link decodeFrame} and the stream decoder.
 *
 * A Ping/Pong with a body is accepted and its body ignored (spec section 5). A message flag
 * in an 8-byte frame decodes with empty fields, as upstream decodes it "with no message".
 * With `fields` (one {@link FieldCache} per connection), fields equal to the previous frame's
 * are taken from it instead of being scanned and decoded again.
 *
 * @throws `SOCKETD_ERR_UNKNOWN_FLAG`, `SOCKETD_ERR_NO_TERMINATOR`, `SOCKETD_ERR_FIELD_TOO_LONG`
 *   (all close code 1002).
 */
export function decodeFrameAt(buf: Buffer, offset: number, len: number, fields?: FieldCache): Frame {
  const flag = buf.readInt32BE(offset + 4);
  if (!isKnownFlag(flag)) {
    throw socketDError('UNKNOWN_FLAG', `unknown flag ${flag}`, { flag });
  }
  if (len === EMPTY_FRAME_LENGTH || isEmptyFrameFlag(flag)) {
    return { flag, sid: '', event: '', metaString: '', data: EMPTY_BUFFER };
  }
  const end = offset + len;
  const sidStart = offset + HEADER_BYTES;
  if (fields !== undefined) {
    // Fields equal to the cached ones (followed by their terminator) are neither scanned nor decoded again.
    const sidEnd = cachedField(buf, sidStart, end, fields.sid, MAX_SID_BYTES, 'sid');
    const eventEnd = cachedField(buf, sidEnd + 2, end, fields.event, MAX_EVENT_BYTES, 'event');
    const metaEnd = cachedField(buf, eventEnd + 2, end, fields.metaString, MAX_META_BYTES, 'metaString');
    return messageFrame(buf, flag as Flag, fields.sid.text!, fields.event.text!, fields.metaString.text!, metaEnd + 2, end);
  }
  const sidEnd = findTerminator(buf, sidStart, end, MAX_SID_BYTES, 'sid');
  const eventEnd = findTerminator(buf, sidEnd + 2, end, MAX_EVENT_BYTES, 'event');
  const metaEnd = findTerminator(buf, eventEnd + 2, end, MAX_META_BYTES, 'metaString');
  return messageFrame(buf, flag as Flag, sliceUtf8(buf, sidStart, sidEnd), sliceUtf8(buf, sidEnd + 2, eventEnd),
    sliceUtf8(buf, eventEnd + 2, metaEnd), metaEnd + 2, end);
}

// The decoded frame, its data a view of buf[dataStart, end) once checked against the limit.
function messageFrame(buf: Buffer, flag: Flag, sid: string, event: string, metaString: string, dataStart: number, end: number): Frame {
  const dataBytes = end - dataStart;
  if (dataBytes > MAX_DATA_BYTES) {
    throw socketDError('FIELD_TOO_LONG', `data is ${dataBytes} bytes, over the limit of ${MAX_DATA_BYTES}`, { field: 'data', length: dataBytes, max: MAX_DATA_BYTES });
  }
  return { flag, sid, event, metaString, data: dataBytes === 0 ? EMPTY_BUFFER : buf.subarray(dataStart, end) };
}

// The end of the field at `start`: the cached one when the bytes repeat it, else scanned,
// decoded and cached.
function cachedField(buf: Buffer, start: number, end: number, cache: CachedField, limit: number, name: string): number {
  let stop = cache.match(buf, start, end);
  if (stop < 0) {
    stop = findTerminator(buf, start, end, limit, name);
    cache.remember(buf, start, stop, sliceUtf8(buf, start, stop));
  }
  return stop;
}

/**
 * Throws `SOCKETD_ERR_NUL_IN_FIELD` (close 1002) when a received frame's sid, event or
 * metaString holds U+0000. {@link decodeFrameAt} reads a lone 00 as content (spec 2.2, as
 * upstream does), but {@link encodeFrame} refuses it, so a session could never answer such a
 * frame (its Connack, Reply or Alarm echoes the sid and event): sessions refuse it on arrival.
 */
export function checkReceivedFields(frame: Frame): void {
  const field = frame.sid.indexOf('\u0000') !== -1 ? 'sid'
    : frame.event.indexOf('\u0000') !== -1 ? 'event'
      : frame.metaString.indexOf('\u0000') !== -1 ? 'metaString' : undefined;
  if (field !== undefined) {
    throw socketDError('NUL_IN_FIELD', `${field} holds a 00 byte, which no answer could carry back`, { field, flag: frame.flag });
  }
}

/**
 * Decodes a buffer holding exactly one whole frame (a WebSocket binary message, spec 3.2).
 *
 * @param maxFrameSize largest accepted frame; default {@link MAX_FRAME_LENGTH} (17 MiB).
 * @param fields a connection's {@link FieldCache} (its messages' fields often repeat).
 * @throws `SOCKETD_ERR_FRAME_LENGTH` for an illegal length field, `SOCKETD_ERR_BAD_MESSAGE`
 *   when the buffer is not exactly that long, and the errors of {@link decodeFrameAt};
 *   all with close code 1002.
 */
export function decodeFrame(buf: Buffer, maxFrameSize: number = MAX_FRAME_LENGTH, fields?: FieldCache): Frame {
  if (buf.length < 4) {
    throw socketDError('BAD_MESSAGE', `message of ${buf.length} bytes is shorter than a length field`, { length: buf.length });
  }
  const len = buf.readInt32BE(0);
  checkFrameLength(len, maxFrameSize);
  if (len !== buf.length) {
    throw socketDError('BAD_MESSAGE', `message of ${buf.length} bytes holds a frame of length ${len}`, { length: len, messageLength: buf.length });
  }
  return decodeFrameAt(buf, 0, len, fields);
}

/**
 * Stream decoder for byte-stream transports (TCP, spec section 3.1): frames back to back,
 * delimited by their `len` field, arriving in chunks split anywhere.
 */
import { MAX_FRAME_LENGTH, MIN_MESSAGE_FRAME_LENGTH } from './constants.js';
import { socketDError } from './errors.js';
import { FieldCache } from './field-cache.js';
import { checkFrameLength, decodeFrameAt } from './frame-codec.js';
import type { Frame } from './frame.js';

/** Options of {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /**
   * Largest accepted frame, including its 4 length bytes; 14..17 825 792.
   * Default {@link MAX_FRAME_LENGTH} (17 MiB, spec section 2.3).
   */
  readonly maxFrameSize?: number;
}

/** Bytes of the length field. */
const LENGTH_BYTES = 4;
/** `expected` while the length field of the next frame is not yet buffered. */
const UNKNOWN = -1;
/**
 * Views the incomplete frame may hold before small ones are copied together. Every chunk
 * costs an object and often its own backing store (about 256 bytes for a 1-byte read), so
 * 1 MB sent one byte at a time once held 256 MB; held views are now at most this many.
 */
const MAX_HELD_CHUNKS = 32;
/** Views averaging this size or more are kept as they are: their overhead is negligible. */
const SMALL_CHUNK_BYTES = 4096;
/** Smallest accumulation buffer. */
const MIN_ACCUMULATOR_BYTES = 256;

/**
 * Splits a byte stream into frames.
 *
 * It keeps a list of the chunks of the one incomplete frame (never a joined buffer):
 *
 * - Frames lying wholly inside a chunk are decoded in place; their `data` is a view into
 *   the chunk (zero copy).
 * - A frame spanning chunks is copied once into an exactly-sized buffer when its last
 *   byte arrives.
 * - The length field is checked as soon as its 4 bytes are there, before any body byte is
 *   kept, so a hostile 2 GiB prefix allocates nothing (spec section 2.3).
 * - A trickle of small chunks is not kept as a list: once {@link MAX_HELD_CHUNKS} views
 *   averaging under 4 KiB are held, they are copied into one accumulation buffer that grows
 *   geometrically with what arrived (never to more than twice the bytes received, capped by
 *   the declared length), so a 17 MiB prefix followed by a byte allocates nothing.
 *
 * `push` calls `onFrame` synchronously for every complete frame. A violation throws a
 * `SocketDError` with close code 1002; the decoder then rethrows it on every `push` until
 * {@link FrameDecoder.reset}. An exception thrown by `onFrame` does the same (the bytes after
 * that frame are dropped). `push` must not be called from inside `onFrame`; `reset` may be,
 * and stops the delivery of the rest of the chunk.
 */
export class FrameDecoder {
  private readonly maxFrameSize: number;
  /** The fields of the last frame: a stream's frames repeat them (see `FieldCache`). */
  private readonly fields = new FieldCache();
  /** Chunks of the incomplete frame at the head of the stream (after `acc`'s bytes). */
  private chunks: Buffer[] = [];
  /** Bytes in `chunks`. */
  private chunkBytes = 0;
  /** First bytes of the incomplete frame, copied together from small chunks (see compact()). */
  private acc: Buffer | undefined;
  /** Bytes used in `acc`. */
  private accUsed = 0;
  /** Length of the incomplete frame, or UNKNOWN while fewer than 4 bytes are buffered. */
  private expected = UNKNOWN;
  private failure: unknown = undefined;
  /** Bumped by reset(), so a reset from inside onFrame stops the current push. */
  private epoch = 0;

  /**
   * @param onFrame receives each decoded frame, in stream order.
   * @param options see {@link FrameDecoderOptions}.
   * @throws `SOCKETD_ERR_INVALID_ARGUMENT` for a `maxFrameSize` outside 14..17 825 792.
   */
  constructor(
    private readonly onFrame: (frame: Frame) => void,
    options: FrameDecoderOptions = {},
  ) {
    const max = options.maxFrameSize ?? MAX_FRAME_LENGTH;
    if (!Number.isInteger(max) || max < MIN_MESSAGE_FRAME_LENGTH || max > MAX_FRAME_LENGTH) {
      throw socketDError('INVALID_ARGUMENT', `maxFrameSize must be an integer in ${MIN_MESSAGE_FRAME_LENGTH}..${MAX_FRAME_LENGTH}, got ${max}`);
    }
    this.maxFrameSize = max;
  }

  /** Bytes held for the incomplete frame at the head of the stream (0 between frames). */
  get bufferedBytes(): number {
    return this.accUsed + this.chunkBytes;
  }

  /** Drops buffered bytes and any failure; the next byte pushed starts a frame. */
  reset(): void {
    this.clear();
    this.failure = undefined;
    this.epoch++;
  }

  /**
   * Feeds the next chunk of the stream. Delivers every frame it completes, then returns.
   *
   * @throws `SocketDError` (close code 1002) on a protocol violation: `FRAME_LENGTH`,
   *   `UNKNOWN_FLAG`, `NO_TERMINATOR`, `FIELD_TOO_LONG`.
   */
  push(chunk: Buffer): void {
    if (this.failure !== undefined) throw this.failure;
    if (chunk.length === 0) return;
    try {
      if (this.chunkBytes === 0 && this.accUsed === 0) this.scan(chunk, 0);
      else this.complete(chunk);
    } catch (err) {
      this.clear();
      this.failure = err;
      throw err;
    }
  }

  private clear(): void {
    this.chunks = [];
    this.chunkBytes = 0;
    this.acc = undefined;
    this.accUsed = 0;
    this.expected = UNKNOWN;
  }

  /** Decodes whole frames in place from `chunk[offset..]`, then buffers the remainder. */
  private scan(chunk: Buffer, offset: number): void {
    const size = chunk.length;
    const epoch = this.epoch;
    while (size - offset >= LENGTH_BYTES) {
      const len = chunk.readInt32BE(offset);
      checkFrameLength(len, this.maxFrameSize);
      if (size - offset < len) {
        this.expected = len;
        break;
      }
      const frame = decodeFrameAt(chunk, offset, len, this.fields);
      offset += len;
      this.onFrame(frame);
      if (this.epoch !== epoch) return;
    }
    if (offset < size) {
      // Keep a view, not a copy: only the frame's own bytes are held.
      this.chunks.push(offset === 0 ? chunk : chunk.subarray(offset));
      this.chunkBytes = size - offset;
    }
  }

  /** Adds `chunk` to an incomplete frame; finishes it if it can, then scans the rest. */
  private complete(chunk: Buffer): void {
    const before = this.accUsed + this.chunkBytes;
    this.chunks.push(chunk);
    this.chunkBytes += chunk.length;
    const buffered = before + chunk.length;
    if (this.expected === UNKNOWN) {
      if (buffered < LENGTH_BYTES) return;
      const len = this.peekLength();
      checkFrameLength(len, this.maxFrameSize);
      this.expected = len;
    }
    const len = this.expected;
    if (buffered < len) {
      const chunks = this.chunks;
      if (chunks.length >= MAX_HELD_CHUNKS && this.chunkBytes < chunks.length * SMALL_CHUNK_BYTES) this.compact();
      return;
    }

    // Before this chunk less than one frame was buffered, so the frame ends inside `chunk`.
    const fromChunk = len - before;
    const acc = this.acc;
    // The accumulator is the frame's buffer once it was sized to the declared length.
    const frameBuf = acc !== undefined && acc.length === len ? acc : Buffer.allocUnsafe(len);
    let at = 0;
    if (acc !== undefined) {
      if (frameBuf !== acc) frameBuf.set(acc.subarray(0, this.accUsed), 0);
      at = this.accUsed;
    }
    const chunks = this.chunks;
    for (let i = 0; i < chunks.length - 1; i++) {
      frameBuf.set(chunks[i], at);
      at += chunks[i].length;
    }
    frameBuf.set(fromChunk === chunk.length ? chunk : chunk.subarray(0, fromChunk), at);
    this.clear();

    const epoch = this.epoch;
    this.onFrame(decodeFrameAt(frameBuf, 0, len, this.fields));
    if (this.epoch === epoch && fromChunk < chunk.length) this.scan(chunk, fromChunk);
  }

  /**
   * Copies the held views into the accumulation buffer, growing it geometrically: to the
   * declared length once half of it arrived (that buffer is then the frame's own), else to
   * twice what is held. Called only while the frame is incomplete, so every byte is its own.
   */
  private compact(): void {
    const needed = this.accUsed + this.chunkBytes;
    let acc = this.acc;
    if (acc === undefined || acc.length < needed) {
      const len = this.expected;
      const size = needed * 2 >= len ? len : Math.min(len, Math.max(needed * 2, MIN_ACCUMULATOR_BYTES));
      const grown = Buffer.allocUnsafe(size);
      if (acc !== undefined) grown.set(acc.subarray(0, this.accUsed), 0);
      acc = this.acc = grown;
    }
    let at = this.accUsed;
    for (const part of this.chunks) {
      acc.set(part, at);
      at += part.length;
    }
    this.accUsed = at;
    this.chunks = [];
    this.chunkBytes = 0;
  }

  /** Reads the big-endian int32 at the head of the chunk list (it may span chunks). */
  private peekLength(): number {
    const first = this.chunks[0];
    if (first.length >= LENGTH_BYTES) return first.readInt32BE(0);
    let value = 0;
    let got = 0;
    for (let c = 0; got < LENGTH_BYTES; c++) {
      const part = this.chunks[c];
      for (let i = 0; i < part.length && got < LENGTH_BYTES; i++, got++) value = (value << 8) | part[i];
    }
    // `<< 8` works on int32, so the result is already signed like readInt32BE's.
    return value;
  }
}

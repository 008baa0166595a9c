/**
 * Stream decoder for byte-stream transports (TCP, spec section 3.1): frames back to back,
 * delimited by their `len` field, arriving in chunks split anywhere.
 */
import { MAX_FRAME_LENGTH, MIN_MESSAGE_FRAME_LENGTH } from './constants.js';
import { socketDError } from './errors.js';
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
 *
 * `push` calls `onFrame` synchronously for every complete frame. A violation throws a
 * `SocketDError` with close code 1002; the decoder then rethrows it on every `push` until
 * {@link FrameDecoder.reset}. An exception thrown by `onFrame` does the same (the bytes after
 * that frame are dropped). `push` must not be called from inside `onFrame`; `reset` may be,
 * and stops the delivery of the rest of the chunk.
 */
export class FrameDecoder {
  private readonly maxFrameSize: number;
  /** Chunks of the incomplete frame at the head of the stream. */
  private chunks: Buffer[] = [];
  private buffered = 0;
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

  /** Bytes held for the incomplete frame at the head of the stream. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Drops buffered bytes and any failure; the next byte pushed starts a frame. */
  reset(): void {
    this.chunks = [];
    this.buffered = 0;
    this.expected = UNKNOWN;
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
      if (this.buffered === 0) this.scan(chunk, 0);
      else this.complete(chunk);
    } catch (err) {
      this.chunks = [];
      this.buffered = 0;
      this.expected = UNKNOWN;
      this.failure = err;
      throw err;
    }
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
      const frame = decodeFrameAt(chunk, offset, len);
      offset += len;
      this.onFrame(frame);
      if (this.epoch !== epoch) return;
    }
    if (offset < size) {
      // Keep a view, not a copy: only the frame's own bytes are held.
      this.chunks.push(offset === 0 ? chunk : chunk.subarray(offset));
      this.buffered = size - offset;
    }
  }

  /** Adds `chunk` to an incomplete frame; finishes it if it can, then scans the rest. */
  private complete(chunk: Buffer): void {
    const before = this.buffered;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.expected === UNKNOWN) {
      if (this.buffered < LENGTH_BYTES) return;
      const len = this.peekLength();
      checkFrameLength(len, this.maxFrameSize);
      this.expected = len;
    }
    const len = this.expected;
    if (this.buffered < len) return;

    // Before this chunk less than one frame was buffered, so the frame ends inside `chunk`.
    const fromChunk = len - before;
    const frameBuf = Buffer.allocUnsafe(len);
    let at = 0;
    const chunks = this.chunks;
    for (let i = 0; i < chunks.length - 1; i++) {
      frameBuf.set(chunks[i], at);
      at += chunks[i].length;
    }
    frameBuf.set(fromChunk === chunk.length ? chunk : chunk.subarray(0, fromChunk), at);
    this.chunks = [];
    this.buffered = 0;
    this.expected = UNKNOWN;

    const epoch = this.epoch;
    this.onFrame(decodeFrameAt(frameBuf, 0, len));
    if (this.epoch === epoch && fromChunk < chunk.length) this.scan(chunk, fromChunk);
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

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

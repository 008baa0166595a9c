import type { IoCounters } from './telemetry.js';
import { EMPTY_BUFFER, MetaKeys } from '../protocol/constants.js';
import { socketDError } from '../protocol/errors.js';
import { Flags, isFragmentable } from '../protocol/flags.js';
import type { Flag } from '../protocol/flags.js';
import type { Frame } from '../protocol/frame.js';
import { encodeFrame, encodeFrameHead, encodeMessageFrame, newHeadCache } from '../protocol/frame-codec.js';
import { fragmentFrame } from '../protocol/fragments.js';
import { serializeMetas } from '../protocol/metas.js';
import type { Connection } from './connection.js';
import type { Metas, Payload } from './types.js';

const PING = encodeFrame({ flag: Flags.Ping, sid: '', event: '', metaString: '', data: EMPTY_BUFFER });
const PONG = encodeFrame({ flag: Flags.Pong, sid: '', event: '', metaString: '', data: EMPTY_BUFFER });
/**
 * Pings in a row that found bytes still queued for the peer (so got no Pong) before the peer
 * counts as flooding: a heartbeat every few seconds never comes near it.
 */
export const MAX_UNANSWERED_PINGS = 1024;
/** Data from this size on is written beside its frame's head rather than copied into one buffer. */
const SPLIT_DATA_BYTES = 64 * 1024;

/**
 * Turns a session's outgoing messages into frames on its connection: fragments data above
 * `fragmentSize` (spec section 8, in index order), encodes small frames into one buffer each
 * and hands large data beside its encoded head (no copy on tcp).
 */
export class FrameWriter {
  private unansweredPings = 0;
  /** The fields of the last frame written: a stream's Replies repeat them. */
  private readonly heads = newHeadCache();
  /** Telemetry's frame and byte counters (set only when something records). */
  io: IoCounters | undefined;

  constructor(
    private readonly connection: Connection,
    private readonly fragmentSize: number,
    /** Called when a write found the transport above its high-water mark. */
    private readonly onBlocked: () => void,
    /** Largest payload sent (the session's `maxMessageSize`). */
    private readonly maxMessageSize = Infinity,
  ) {}

  /**
   * Refuses a message before anything is written when its payload is over `maxMessageSize`,
   * or when its frame would not fit one datagram of a datagram transport: the call it belongs
   * to fails alone, where the peer would otherwise drop or refuse the whole message.
   *
   * @throws SocketDError `SOCKETD_ERR_MESSAGE_TOO_LARGE` or `SOCKETD_ERR_DATAGRAM_TOO_LARGE`
   *   (no close code: nothing was sent).
   */
  checkSize(event: string, dataBytes: number, sid = '', metaString = ''): void {
    const limit = this.connection.capabilities?.maxFrameSize;
    if (limit !== undefined) {
      // len + flag + three fields with their 2-byte terminators + data (spec 2.1).
      const length = 14 + Buffer.byteLength(sid) + Buffer.byteLength(event) + Buffer.byteLength(metaString) + dataBytes;
      if (length > limit) throw frameTooLarge(event, length, limit, this.connection.capabilities!.datagram);
    }
    if (dataBytes <= this.maxMessageSize) return;
    throw socketDError(
      'MESSAGE_TOO_LARGE',
      `payload of '${event}' is ${dataBytes} bytes, over maxMessageSize ${this.maxMessageSize}; nothing was sent`,
      { event, size: dataBytes, maxMessageSize: this.maxMessageSize },
    );
  }

  /**
   * Writes one message frame (fragmented when needed); false under backpressure. Text data is
   * encoded straight into the frame (no Buffer of it first) unless it must be fragmented.
   */
  write(flag: Flag, sid: string, event: string, metaString: string, data: Buffer | string): boolean {
    const dataBytes = payloadBytes(data);
    this.checkSize(event, dataBytes, sid, metaString);
    return this.writeChecked(flag, sid, event, metaString, data, dataBytes);
  }

  /** {@link write} for a message whose size `checkSize` already passed (`dataBytes` of `data`). */
  writeChecked(flag: Flag, sid: string, event: string, metaString: string, data: Buffer | string, dataBytes: number): boolean {
    let ok: boolean;
    if (this.io !== undefined) {
      this.io.framesOut += dataBytes > this.fragmentSize && isFragmentable(flag) ? Math.ceil(dataBytes / this.fragmentSize) : 1;
      this.io.bytesOut += dataBytes;
    }
    if (dataBytes > this.fragmentSize && isFragmentable(flag)) {
      ok = true;
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      for (const part of fragmentFrame({ flag, sid, event, metaString, data: bytes }, this.fragmentSize)) {
        ok = this.writeFrame(part);
      }
    } else if (typeof data === 'string' || dataBytes < SPLIT_DATA_BYTES) {
      ok = this.connection.write(encodeMessageFrame(flag, sid, event, metaString, data, dataBytes, this.heads));
    } else {
      ok = this.connection.writeParts(encodeFrameHead({ flag, sid, event, metaString, data }), data);
    }
    if (!ok) this.onBlocked();
    return ok;
  }

  /** Writes an already built frame (Connect, Connack) as is. */
  writeFrame(frame: Frame): boolean {
    if (frame.data.length < SPLIT_DATA_BYTES) return this.connection.write(encodeFrame(frame));
    return this.connection.writeParts(encodeFrameHead(frame), frame.data);
  }

  // Pings and Pongs report backpressure too: a peer flooding Pings without reading must not
  // pile Pongs up (the session stops reading it until it drains).
  ping(): void {
    if (!this.connection.write(PING)) this.onBlocked();
  }

  /**
   * Answers a Ping with a Pong, unless bytes are still queued for the peer: one that does not
   * read needs no more Pongs (what is queued shows we are alive once it reads), and a flood of
   * Pings then costs no memory. Returns false once `MAX_UNANSWERED_PINGS` Pings in a row found
   * bytes queued: the peer floods Pings without reading.
   */
  pong(): boolean {
    if (this.connection.bufferedAmount > 0) return ++this.unansweredPings <= MAX_UNANSWERED_PINGS;
    this.unansweredPings = 0;
    if (!this.connection.write(PONG)) this.onBlocked();
    return true;
  }

  /** A Close frame with `code`, unless the connection is already closing. */
  close(code: number): void {
    if (this.connection.closed) return;
    this.connection.write(encodeFrame({ flag: Flags.Close, sid: '', event: '', metaString: `${MetaKeys.CODE}=${code}`, data: EMPTY_BUFFER }));
  }
}

/**
 * A payload as the writer takes it: Buffers and strings as they are (a string is encoded
 * straight into its frame), Uint8Arrays as a Buffer view without a copy.
 */
export function toPayload(data: Payload | undefined): Buffer | string {
  if (data === undefined) return EMPTY_BUFFER;
  if (typeof data === 'string' || Buffer.isBuffer(data)) return data;
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw socketDError('INVALID_ARGUMENT', `payload must be a Buffer, Uint8Array or string, got ${typeof data}`);
}

/** UTF-8 bytes of a payload as {@link toPayload} returns it. */
export function payloadBytes(data: Buffer | string): number {
  if (typeof data !== 'string') return data.length;
  return data.length === 0 ? 0 : Buffer.byteLength(data, 'utf8');
}

/** Metas as a meta string; a string is taken as already serialised (hot paths reuse one). */
export function metaStringOf(metas: Metas | string | undefined): string {
  if (metas === undefined) return '';
  return typeof metas === 'string' ? metas : serializeMetas(metas);
}

function frameTooLarge(event: string, length: number, limit: number, datagram: boolean) {
  const what = datagram ? `does not fit in one datagram of maxDatagramSize ${limit}; nothing was sent (a datagram transport does not fragment)`
    : `is over the ${limit} bytes one write of this transport carries; nothing was sent`;
  return socketDError('DATAGRAM_TOO_LARGE', `'${event}': a frame of ${length} bytes ${what}`, { length, maxDatagramSize: limit });
}

import { socketDError, type SocketDError } from '../protocol/errors.js';
import { unmask } from './ws-mask.js';

/** WebSocket opcodes (RFC 6455 5.2). */
export const WsOpcode = { CONTINUATION: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

/** WebSocket close codes this transport sends (RFC 6455 7.4.1). */
export const WsCloseCode = {
  NORMAL: 1000,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  INVALID_PAYLOAD: 1007,
  MESSAGE_TOO_BIG: 1009,
} as const;

/** A WebSocket-level violation: a SocketDError (close 1002 for the session) with the WebSocket close code to send. */
export type WsViolation = SocketDError & { wsCloseCode: number };

/** A violation of RFC 6455 framing (`BAD_MESSAGE`, or `FRAME_LENGTH` for an oversized message). */
export function wsViolation(kind: 'BAD_MESSAGE' | 'FRAME_LENGTH', wsCloseCode: number, message: string): WsViolation {
  const err = socketDError(kind, `WebSocket: ${message}`) as WsViolation;
  err.wsCloseCode = wsCloseCode;
  return err;
}

/** What the reader delivers, synchronously from `push()`. */
export interface WsReaderSink {
  /** A complete binary message (a view into a received chunk, or a buffer of its own). */
  onBinary(payload: Buffer): void;
  /** A ping, pong or close frame (payload of at most 125 bytes, unmasked). */
  onControl(opcode: number, payload: Buffer): void;
}

/** Longest header: 2 bytes, 8 of extended length, 4 of mask key. */
const MAX_HEADER_BYTES = 14;
/** Views a partial message may hold before small ones are copied together (as FrameDecoder). */
const MAX_HELD_CHUNKS = 32;
const SMALL_CHUNK_BYTES = 4096;
const MIN_ACCUMULATOR_BYTES = 256;
const EMPTY = Buffer.alloc(0);

/**
 * Cuts a received byte stream into WebSocket frames and messages (RFC 6455 5), for one side
 * of a connection: a server expects every frame masked, a client none.
 *
 * - Every header field is checked as soon as it is buffered: RSV bits, opcodes, control
 *   frames (final, at most 125 bytes), the mask bit, the 64-bit length's top bit, and the
 *   message's size against `maxMessageBytes`, before any byte of its payload is kept.
 * - Fragmented messages are reassembled (control frames may come between fragments); a text
 *   message is refused at its first header (Socket.D sends binary messages only).
 * - A message lying wholly inside one chunk is delivered as a view (unmasked in place); one
 *   spanning chunks is held as views and copied once at its end; a trickle of small chunks is
 *   copied into one buffer grown at most to twice what arrived.
 *
 * A violation throws a `WsViolation`; the reader then refuses every later `push`.
 */
export class WsReader {
  private readonly header = Buffer.alloc(MAX_HEADER_BYTES);
  private headerUsed = 0;
  /** Payload bytes of the current frame still to come; -1 while reading a header. */
  private remaining = -1;
  private frameOpcode = 0;
  private frameFin = false;
  private readonly mask = Buffer.alloc(4);
  private masked = false;
  /** Payload bytes of the current frame already read (the mask's phase). */
  private frameDone = 0;
  /** Opcode of the message being reassembled (0: none). */
  private messageOpcode = 0;
  /** Views of the partial message (after `acc`'s bytes). */
  private parts: Buffer[] = [];
  private partBytes = 0;
  private acc: Buffer | undefined;
  private accUsed = 0;
  /** Declared bytes of the partial message (frames seen so far). */
  private messageBytes = 0;
  private readonly control = Buffer.alloc(125);
  private controlUsed = 0;
  private failure: unknown;
  private stopped = false;

  constructor(
    private readonly sink: WsReaderSink,
    /** True on the server: every frame must be masked (and none on the client). */
    private readonly expectMasked: boolean,
    private readonly maxMessageBytes: number,
  ) {}

  /** Bytes held for what is incomplete (a header, a message, a control frame). */
  get bufferedBytes(): number {
    return this.headerUsed + this.accUsed + this.partBytes + this.controlUsed;
  }

  /** Stops delivering (the rest of the current chunk is dropped) and drops what is held. */
  stop(): void {
    this.stopped = true;
    this.dropMessage();
    this.headerUsed = this.controlUsed = 0;
  }

  /** Feeds the next received chunk; delivers what it completes. */
  push(chunk: Buffer): void {
    if (this.failure !== undefined) throw this.failure;
    try {
      this.read(chunk);
    } catch (err) {
      this.failure = err;
      this.stop();
      throw err;
    }
  }

  private read(chunk: Buffer): void {
    const size = chunk.length;
    let at = 0;
    while (at < size && !this.stopped) {
      if (this.remaining < 0) {
        at = this.readHeader(chunk, at);
        if (this.remaining < 0) return;
        if (this.remaining > 0) continue;
      }
      const n = Math.min(this.remaining, size - at);
      const piece = n === 0 ? EMPTY : chunk.subarray(at, at + n);
      if (this.masked && n > 0) unmask(chunk, at, at + n, this.mask, 0, this.frameDone);
      this.frameDone += n;
      this.remaining -= n;
      at += n;
      if (this.frameOpcode >= WsOpcode.CLOSE) this.controlPiece(piece);
      else this.dataPiece(piece);
    }
  }

  /** Buffers header bytes from `chunk[at..]`; once complete, checks it and starts the payload. Returns the new offset. */
  private readHeader(chunk: Buffer, at: number): number {
    const h = this.header;
    if (this.headerUsed === 0 && chunk.length - at >= MAX_HEADER_BYTES) {
      // The whole header is in the chunk (the common case): checked and copied at once.
      this.checkFirstByte(chunk[at]!);
      h[0] = chunk[at]!;
      this.checkSecondByte(chunk[at + 1]!);
      h[1] = chunk[at + 1]!;
      const n = this.headerBytes();
      for (let i = 2; i < n; i++) h[i] = chunk[at + i]!;
      this.headerUsed = n;
      this.startFrame();
      return at + n;
    }
    while (at < chunk.length) {
      h[this.headerUsed++] = chunk[at++]!;
      if (this.headerUsed === 1) this.checkFirstByte(h[0]!);
      else if (this.headerUsed === 2) this.checkSecondByte(h[1]!);
      if (this.headerUsed >= 2 && this.headerUsed === this.headerBytes()) {
        this.startFrame();
        return at;
      }
    }
    return at;
  }

  /** Bytes of the header being read (its first two bytes are buffered). */
  private headerBytes(): number {
    const b = this.header[1]!;
    const len7 = b & 0x7f;
    return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + ((b & 0x80) !== 0 ? 4 : 0);
  }

  private checkFirstByte(b: number): void {
    if ((b & 0x70) !== 0) throw wsViolation('BAD_MESSAGE', WsCloseCode.PROTOCOL_ERROR, 'RSV bits set without a negotiated extension');
    const opcode = b & 0x0f;
    const fin = (b & 0x80) !== 0;
    if (opcode >= WsOpcode.CLOSE) {
      if (opcode > WsOpcode.PONG) throw wsViolation('BAD_MESSAGE', WsCloseCode.PROTOCOL_ERROR, `unknown opcode ${opcode}`);
      if (!fin) throw wsViolation('BAD_MESSAGE', WsCloseCode.PROTOCOL_ERROR, 'fragmented control frame');
    } else if (opcode === WsOpcode.CONTINUATION) {
      if (this.messageOpcode === 0) throw wsViolation('BAD_MESSAGE', WsCloseCode.PROTOCOL_ERROR, 'continuation frame without a message to continue');
    } else if (opcode === WsOpcode.TEXT) {
      throw wsViolation('BAD_MESSAGE', WsCloseCode.UNSUPPORTED_DATA, 'text message received; Socket.D sends one frame per binary message');
    } else if (opcode === WsOpcode.BINARY) {
      if (this.messageOpcode !== 0) throw wsViolation('BAD_MESSAGE', WsCloseCode.PROTOCOL_ERROR, 'new message before the previous one ended');
    } else {
      throw wsViolation('BAD_MESSAGE', WsCloseCode.PROTOCOL_ERROR, `unknown opcode ${opcode}`);
    }
  }

  private checkSecondByte(b: number): void {
    const masked = (b & 0x80) !== 0;
    if (masked !== this.expectMasked) {
      throw wsViolation('BAD_MESSAGE', WsCloseCode.PROTOCOL_ERROR, masked ? 'masked frame from the server' : 'unmasked frame from a client');
    }
    if ((this.header[0]! & 0x0f) >= WsOpcode.CLOSE && (b & 0x7f) > 125) {
      throw wsViolation('BAD_MESSAGE', WsCloseCode.PROTOCOL_ERROR, 'control frame over 125 bytes');
    }
  }

  private startFrame(): void {
    const h = this.header;
    const len7 = h[1]! & 0x7f;
    let length = len7;
    let maskAt = 2;
    if (len7 === 126) {
      length = h.readUInt16BE(2);
      maskAt = 4;
    } else if (len7 === 127) {
      const high = h.readUInt32BE(2);
      if (high > 0x7fffffff) throw wsViolation('BAD_MESSAGE', WsCloseCode.PROTOCOL_ERROR, '64-bit payload length with its most significant bit set');
      // Anything at or over 2^21 * 2^32 is far over any maxMessageBytes: no precision needed.
      length = high * 0x1_0000_0000 + h.readUInt32BE(6);
      maskAt = 10;
    }
    const opcode = h[0]! & 0x0f;
    this.frameOpcode = opcode;
    this.frameFin = (h[0]! & 0x80) !== 0;
    this.masked = (h[1]! & 0x80) !== 0;
    if (this.masked) h.copy(this.mask, 0, maskAt, maskAt + 4);
    if (opcode < WsOpcode.CLOSE) {
      if (this.messageBytes + length > this.maxMessageBytes) {
        throw wsViolation('FRAME_LENGTH', WsCloseCode.MESSAGE_TOO_BIG,
          `message of ${this.messageBytes + length}+ bytes, over maxFrameSize ${this.maxMessageBytes}`);
      }
      this.messageBytes += length;
      if (opcode !== WsOpcode.CONTINUATION) this.messageOpcode = opcode;
    }
    this.headerUsed = 0;
    this.frameDone = 0;
    this.remaining = length;
  }

  private controlPiece(piece: Buffer): void {
    if (piece.length > 0) {
      piece.copy(this.control, this.controlUsed);
      this.controlUsed += piece.length;
    }
    if (this.remaining !== 0) return;
    const payload = Buffer.from(this.control.subarray(0, this.controlUsed));
    this.controlUsed = 0;
    this.remaining = -1;
    this.sink.onControl(this.frameOpcode, payload);
  }

  private dataPiece(piece: Buffer): void {
    const done = this.remaining === 0;
    if (done) this.remaining = -1;
    if (done && this.frameFin && this.partBytes === 0 && this.accUsed === 0) {
      // The whole message in this chunk (the common case): a view, no copy.
      this.messageOpcode = 0;
      this.messageBytes = 0;
      this.sink.onBinary(piece);
      return;
    }
    if (piece.length > 0) this.hold(piece);
    if (!done || !this.frameFin) return;
    const message = this.joined();
    this.dropMessage();
    this.sink.onBinary(message);
  }

  private hold(piece: Buffer): void {
    this.parts.push(piece);
    this.partBytes += piece.length;
    if (this.parts.length >= MAX_HELD_CHUNKS && this.partBytes < this.parts.length * SMALL_CHUNK_BYTES) this.compact();
  }

  /**
   * Copies the held views into `acc`, grown to twice what is held: at most the message's size
   * once its final frame is declared, else at most `maxMessageBytes`.
   */
  private compact(): void {
    const needed = this.accUsed + this.partBytes;
    let acc = this.acc;
    if (acc === undefined || acc.length < needed) {
      const cap = this.frameFin ? this.messageBytes : this.maxMessageBytes;
      const size = Math.max(needed, Math.min(cap, Math.max(needed * 2, MIN_ACCUMULATOR_BYTES)));
      const grown = Buffer.allocUnsafe(size);
      if (acc !== undefined) acc.copy(grown, 0, 0, this.accUsed);
      acc = this.acc = grown;
    }
    let at = this.accUsed;
    for (const part of this.parts) {
      part.copy(acc, at);
      at += part.length;
    }
    this.accUsed = at;
    this.parts = [];
    this.partBytes = 0;
  }

  /** The whole partial message as one buffer. */
  private joined(): Buffer {
    const total = this.accUsed + this.partBytes;
    if (this.accUsed === 0 && this.parts.length === 1) return this.parts[0]!;
    if (this.acc !== undefined && this.partBytes === 0) return this.acc.subarray(0, total);
    const out = Buffer.allocUnsafe(total);
    let at = 0;
    if (this.acc !== undefined) at = this.acc.copy(out, 0, 0, this.accUsed);
    for (const part of this.parts) at += part.copy(out, at);
    return out;
  }

  private dropMessage(): void {
    this.messageOpcode = 0;
    this.messageBytes = 0;
    this.parts = [];
    this.partBytes = 0;
    this.acc = undefined;
    this.accUsed = 0;
  }
}

import type { Socket } from 'node:net';
import { CORK_FLUSH_BYTES } from './base-connection.js';
import { unmask, writeMaskKey } from './ws-mask.js';

/**
 * Both sides of `sd:ws`: WebSocket messages framed here and written to the `net.Socket` in
 * chunks of many messages, instead of one `ws.send()` each (as the server did first, and the
 * client until it masked its frames here too).
 *
 * Why: `ws.send()` writes each message as two socket writes (a 2-10 byte header Buffer, then
 * the data), so a Socket.D frame of ~55 bytes waiting in the socket (corked for the tick, or
 * behind a write the kernel has not taken yet) is two Buffer objects and two Writable requests
 * on the JS heap, several times its bytes, which `bufferedAmount` (and so the high-water mark)
 * does not see. Enough of them live through a scavenge or two to be promoted: streaming 1M
 * items, `--trace-gc` showed ~3 MB promoted per scavenge over ws (~0 over tcp) and old space
 * growing to ~90 MB before each mark-compact took it back to ~25 MB (server RSS +117 MB, sd:tcp
 * +40 MB). One Buffer per message (header + frame) still measured +63 MB for the slow consumer.
 *
 * Here each frame is copied, behind its WebSocket header, into a 64 KiB slab, and what is
 * staged is written as one chunk whenever BaseConnection uncorks (the end of the tick, or
 * `CORK_FIRST_FLUSH_BYTES` / `CORK_FLUSH_BYTES` into a synchronous loop): the socket queues one
 * request per chunk of hundreds of frames, and a tick still leaves in one writev. Slabs are
 * recycled through a process-wide pool as soon as every chunk of them has left, so a long
 * stream reuses the same few slabs instead of leaving a trail of buffers for the GC.
 *
 * On the wire: one unfragmented binary message per frame, the header in its shortest form
 * (7-bit, 16-bit or 64-bit length), as `ws` writes it (RFC 6455 5.2). A server never masks; a
 * client masks every frame with a fresh key (5.3), while copying it into the slab, large
 * frames included (copied slab by slab: a client cannot write them as they are).
 */

/** Bytes of one slab: one full chunk at most (`CORK_FLUSH_BYTES`). */
export const WS_SLAB_BYTES = CORK_FLUSH_BYTES;
/** Server side, frames above this many bytes are not copied: their header is staged and the frame written as is, after the chunk (a client copies them slab by slab, masking). */
export const WS_COPY_MAX_BYTES = 16 * 1024;
/** Free slabs kept in the process-wide pool (2 MiB); more are left to the GC. */
const MAX_FREE_SLABS = 32;
/** Opcode byte of a final binary frame: FIN + opcode 2, no RSV bits. */
const FIN_BINARY = 0x82;

/** The WebSocket header bytes of a message of `length` bytes (RFC 6455 5.2), 4 more when masked. */
export function wsHeaderLength(length: number, masked = false): number {
  return (length < 126 ? 2 : length < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

/**
 * Writes the header of a final message of `length` bytes at `at`, in its shortest form
 * (binary unless `opcode` says otherwise), with a fresh mask key when `masked`; returns the
 * offset after it (where the payload goes; the key is the 4 bytes before).
 */
export function writeWsHeader(buf: Buffer, at: number, length: number, masked = false, firstByte: number = FIN_BINARY): number {
  buf[at] = firstByte;
  const maskBit = masked ? 0x80 : 0;
  let end: number;
  if (length < 126) {
    buf[at + 1] = maskBit | length;
    end = at + 2;
  } else if (length < 65536) {
    buf[at + 1] = maskBit | 126;
    buf[at + 2] = length >>> 8;
    buf[at + 3] = length & 0xff;
    end = at + 4;
  } else {
    buf[at + 1] = maskBit | 127;
    buf.writeUInt32BE(Math.floor(length / 0x1_0000_0000), at + 2);
    buf.writeUInt32BE(length >>> 0, at + 6);
    end = at + 10;
  }
  if (!masked) return end;
  writeMaskKey(buf, end);
  return end + 4;
}

/** One slab: used by one stage at a time; back to the pool once none of its chunks is pending. */
interface Slab {
  readonly buf: Buffer;
  /** Chunks of this slab handed to the socket and not known to be written yet. */
  pending: number;
}

/** Free slabs, shared by the stages of the process (LIFO: the slab just freed is reused, still in cache). */
const freeSlabs: Slab[] = [];

function takeSlab(): Slab {
  return freeSlabs.pop() ?? { buf: Buffer.allocUnsafeSlow(WS_SLAB_BYTES), pending: 0 };
}

function releaseSlab(slab: Slab): void {
  if (freeSlabs.length < MAX_FREE_SLABS) freeSlabs.push(slab);
}

/**
 * Stages the messages of one WebSocket and writes them to its socket in chunks
 * (see the file comment). The owner calls `flush()` before the socket is uncorked and
 * `settle()` after; and since the chunks go straight to the socket, `flush()` before whatever
 * is written to the socket otherwise; control frames go through `writeControl()`, behind
 * what is staged.
 *
 * A slab is reused once every chunk of it was written: known from the chunk's write callback,
 * or sooner from the socket's `writableLength` being 0 after an uncork (a synchronous writev
 * took everything; its callbacks run only after the current tick, and a synchronous producer
 * that the kernel keeps up with may write a whole stream in one tick).
 *
 * Only for a `net.Socket` (or `tls.TLSSocket`): once its write is done the bytes are in the
 * kernel (or encrypted), so the slab may be overwritten. A generic Duplex may keep the chunk by
 * reference after its callback.
 */
export class WsStage {
  private slab: Slab | undefined;
  /** Staged bytes are `slab.buf[start, end)`. */
  private start = 0;
  private end = 0;
  /** The slab of each chunk handed to the socket whose write callback has not run, in write order. */
  private readonly inflight: Slab[] = [];
  /** Write callbacks still to come for chunks `settle()` already found written. */
  private settledAhead = 0;
  private discarded = false;

  // Bound once: the callback of every chunk (Node calls them in write order).
  private readonly chunkWritten = (): void => {
    if (this.settledAhead > 0) this.settledAhead--;
    else if (!this.discarded) {
      const slab = this.inflight.shift();
      if (slab !== undefined && --slab.pending === 0) this.idle(slab);
    }
    this.onWritten();
  };
  private readonly directWritten = (): void => this.onWritten();

  constructor(
    private readonly socket: Socket,
    /** Runs after each write of the stage completed (the connection checks for its drain there). */
    private readonly onWritten: () => void,
    /** Client side: every message masked with a fresh key, while it is copied (RFC 6455 5.3). */
    private readonly masked = false,
  ) {}

  /** Bytes staged and not yet handed to the socket. */
  get staged(): number {
    return this.end - this.start;
  }

  /** Stages `frame` as one binary message (its chunk written at once when `cb` is given). */
  write(frame: Buffer, cb?: (err?: Error | null) => void): void {
    if (this.discarded) return;
    const n = frame.length;
    if (n > WS_COPY_MAX_BYTES) {
      if (this.masked) this.writeMaskedLarge(n, undefined, frame, cb);
      else this.writeDirect(n, undefined, frame, cb);
      return;
    }
    const buf = this.reserve(wsHeaderLength(n, this.masked) + n);
    const at = writeWsHeader(buf, this.end, n, this.masked);
    buf.set(frame, at);
    this.end = at + n;
    if (this.masked) unmask(buf, at, at + n, buf, at - 4, 0);
    if (cb !== undefined) this.flush(cb);
  }

  /** Stages `head` + `data` as one binary message (its chunk written at once when `cb` is given). */
  writeParts(head: Buffer, data: Buffer, cb?: (err?: Error | null) => void): void {
    if (this.discarded) return;
    const n = head.length + data.length;
    if (n > WS_COPY_MAX_BYTES) {
      if (this.masked) this.writeMaskedLarge(n, head, data, cb);
      else this.writeDirect(n, head, data, cb);
      return;
    }
    const buf = this.reserve(wsHeaderLength(n, this.masked) + n);
    const start = writeWsHeader(buf, this.end, n, this.masked);
    buf.set(head, start);
    const at = start + head.length;
    buf.set(data, at);
    this.end = at + data.length;
    if (this.masked) unmask(buf, start, this.end, buf, start - 4, 0);
    if (cb !== undefined) this.flush(cb);
  }

  /**
   * Stages a control frame (close, ping, pong: at most 125 bytes, RFC 6455 5.5) and flushes
   * it, so that it leaves behind every message staged before it.
   */
  writeControl(opcode: number, payload: Buffer): void {
    if (this.discarded) return;
    const n = payload.length;
    const buf = this.reserve(wsHeaderLength(n, this.masked) + n);
    const at = writeWsHeader(buf, this.end, n, this.masked, 0x80 | opcode);
    buf.set(payload, at);
    this.end = at + n;
    if (this.masked) unmask(buf, at, this.end, buf, at - 4, 0);
    this.flush();
  }

  /** Hands what is staged to the socket as one chunk (before anything else is written to it). */
  flush(cb?: (err?: Error | null) => void): void {
    const slab = this.slab;
    if (slab === undefined || this.end === this.start) return;
    const chunk = slab.buf.subarray(this.start, this.end);
    this.start = this.end;
    // Ended or destroyed under us (ws ends the socket on the peer's FIN): nothing more leaves.
    if (!this.socket.writable) return;
    slab.pending++;
    this.inflight.push(slab);
    this.socket.write(chunk, cb === undefined ? this.chunkWritten : (err) => {
      this.chunkWritten();
      cb(err);
    });
  }

  /**
   * After the socket was uncorked: if it holds nothing, every chunk handed to it is in the
   * kernel, and their slabs are free before their callbacks run.
   */
  settle(): void {
    const inflight = this.inflight;
    if (inflight.length === 0 || this.socket.writableLength !== 0 || this.discarded) return;
    this.settledAhead += inflight.length;
    // A slab's chunks are consecutive here (it is used until full, and reused only once free).
    let last: Slab | undefined;
    for (let i = 0; i < inflight.length; i++) {
      const slab = inflight[i]!;
      if (slab === last) continue;
      last = slab;
      slab.pending = 0;
      this.idle(slab);
    }
    inflight.length = 0;
  }

  /**
   * The connection closed: drops what is staged. Slabs with chunks still in the socket are
   * left to the GC rather than pooled (a destroyed socket calls back in no set order).
   */
  discard(): void {
    if (this.discarded) return;
    this.discarded = true;
    const slab = this.slab;
    this.slab = undefined;
    this.start = this.end = 0;
    this.inflight.length = 0;
    if (slab !== undefined && slab.pending === 0) releaseSlab(slab);
  }

  /** `slab` has no chunk pending: back to the pool, unless it is the current one with bytes staged. */
  private idle(slab: Slab): void {
    if (slab === this.slab) {
      if (this.end !== this.start) return;
      this.slab = undefined;
      this.start = this.end = 0;
    }
    releaseSlab(slab);
  }

  /** A slab with `bytes` free after `end`; the current one is retired (flushed) if it has less. */
  private reserve(bytes: number): Buffer {
    let slab = this.slab;
    if (slab !== undefined) {
      if (WS_SLAB_BYTES - this.end >= bytes) return slab.buf;
      this.flush();
      this.slab = undefined;
      // Back to the pool by idle() once its chunks are written.
      if (slab.pending === 0) releaseSlab(slab);
    }
    slab = takeSlab();
    this.slab = slab;
    this.start = this.end = 0;
    return slab.buf;
  }

  /**
   * A large message from a client: masked while it is copied into slabs, one slab after the
   * other (the key of the header applies across them), each flushed when full.
   */
  private writeMaskedLarge(length: number, head: Buffer | undefined, data: Buffer, cb: ((err?: Error | null) => void) | undefined): void {
    let buf = this.reserve(wsHeaderLength(length, true) + 1);
    this.end = writeWsHeader(buf, this.end, length, true);
    const key = Buffer.from(buf.subarray(this.end - 4, this.end));
    let phase = 0;
    for (const part of head === undefined ? [data] : [head, data]) {
      let from = 0;
      while (from < part.length) {
        if (this.end === WS_SLAB_BYTES) buf = this.reserve(WS_SLAB_BYTES);
        const n = Math.min(part.length - from, WS_SLAB_BYTES - this.end);
        const at = this.end;
        buf.set(n === part.length ? part : part.subarray(from, from + n), at);
        unmask(buf, at, at + n, key, 0, phase);
        this.end = at + n;
        phase += n;
        from += n;
      }
    }
    this.flush(cb);
  }

  /** A large message: its header (and `head`) staged and flushed, then `data` written as is (no copy). */
  private writeDirect(length: number, head: Buffer | undefined, data: Buffer, cb: ((err?: Error | null) => void) | undefined): void {
    const headBytes = head === undefined || head.length > WS_COPY_MAX_BYTES ? 0 : head.length;
    const buf = this.reserve(wsHeaderLength(length) + headBytes);
    let at = writeWsHeader(buf, this.end, length);
    if (headBytes !== 0) {
      buf.set(head!, at);
      at += headBytes;
    }
    this.end = at;
    this.flush();
    const socket = this.socket;
    if (!socket.writable) return;
    if (head !== undefined && headBytes === 0) socket.write(head);
    socket.write(data, cb === undefined ? this.directWritten : (err) => {
      cb(err);
      this.onWritten();
    });
  }
}

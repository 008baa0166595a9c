import type { Socket } from 'node:net';
import { EMPTY_BUFFER, MetaKeys, CloseCodes } from '../protocol/constants.js';
import { isSocketDError, socketDError, type SocketDError } from '../protocol/errors.js';
import { encodeFrame } from '../protocol/frame-codec.js';
import { Flags } from '../protocol/flags.js';
import {
  DEFAULT_FRAME_TIMEOUT,
  DEFAULT_HIGH_WATER_MARK,
  DEFAULT_MAX_WRITE_BUFFER_SIZE,
  type Connection,
  type ConnectionHandlers,
  type ConnectionMemory,
  type TransportOptions,
} from '../session/connection.js';
import type { ByteBudget } from './byte-budget.js';
/** Default `endTimeout`: after `end()`, the socket is destroyed if the peer has not closed in 3 s. */
export const DEFAULT_END_TIMEOUT = 3000;

/** Options of one TCP or WebSocket connection. */
export interface ConnectionOptions extends TransportOptions {
  /**
   * Milliseconds `end()` waits for the peer to close before destroying the socket
   * (default 3000). The timer is unref'd: it never keeps the process alive.
   */
  endTimeout?: number;
  /** Server side: the budget of partial-frame bytes shared by the server's connections. */
  pendingBudget?: ByteBudget;
  /** Server side: when the socket was accepted (`performance.now()`); default: now. */
  acceptedAt?: number;
  /**
   * Server side: this connection's account in the server's memory budget, charged with its
   * partial frame and its queued writes, closed (everything given back) when it closes.
   */
  memory?: ConnectionMemory;
}

/**
 * Corked bytes at which the socket is uncorked at once rather than at the end of the tick:
 * 4 KiB for the first flush of a tick (the peer waits for the first answer: ~100 small
 * frames, ~0.1 ms of a synchronous producer), 64 KiB for the next ones (one writev each,
 * a loopback socket's usual chunk). A handler writing 100k replies in one synchronous loop
 * so has its first bytes on the wire at once, and the loop's frames never sit in memory all
 * together. A tick that writes less than 4 KiB (most do) still leaves in one writev.
 */
export const CORK_FIRST_FLUSH_BYTES = 4 * 1024;
/** See `CORK_FIRST_FLUSH_BYTES`. */
export const CORK_FLUSH_BYTES = 64 * 1024;

/** Sent, when it still fits, before dropping a connection whose write buffer is full. */
const CLOSE_ILLEGAL = encodeFrame({
  flag: Flags.Close, sid: '', event: '', metaString: `${MetaKeys.CODE}=${CloseCodes.ILLEGAL}`, data: EMPTY_BUFFER,
});

/**
 * What every transport connection shares: corking of the underlying `net.Socket` per tick and
 * per `CORK_FLUSH_BYTES`, the high-water mark and `onDrain`, the decode-failure path, and
 * reporting `onClose` once.
 * Subclasses say how a frame is sent, how reading pauses and how the connection ends.
 */
export abstract class BaseConnection implements Connection {
  readonly remoteAddress: string | undefined;
  readonly acceptedAt: number | undefined;
  readonly memory: ConnectionMemory | undefined;
  protected handlers: ConnectionHandlers | undefined;
  protected readonly highWaterMark: number;
  protected readonly maxWriteBufferSize: number;
  protected readonly endTimeout: number;
  private readonly frameTimeout: number;
  private readonly pendingBudget: ByteBudget | undefined;
  /** Bytes of this connection's partial frame counted in `pendingBudget` and `memory`. */
  private pendingTaken = 0;
  /** Queued write bytes counted in `memory` (brought up to `bufferedAmount` on each write, uncork and drain). */
  private writeTaken = 0;
  /** Runs from the first byte of a frame to its last (see afterChunk()). */
  private frameTimer: NodeJS.Timeout | undefined;
  /** False after a protocol error, `end()` or `destroy()`: received bytes are dropped. */
  protected decoding = true;
  protected userPaused = false;
  protected ending = false;
  protected endTimer: NodeJS.Timeout | undefined;
  /** True while the socket is corked by us. */
  private corked = false;
  /** Bytes written since the socket was corked. */
  private corkedBytes = 0;
  /** Corked bytes that make `corkedWrite()` flush: first `CORK_FIRST_FLUSH_BYTES` of a tick, then `CORK_FLUSH_BYTES`. */
  private corkLimit = CORK_FIRST_FLUSH_BYTES;
  /** True while the end-of-tick microtask is queued (at most one per tick). */
  private tickEndQueued = false;
  /** True after `write()` returned false, until `onDrain` is called. */
  private drainWanted = false;
  private closeReported = false;
  private error: Error | undefined;
  /** True when `error` came from `destroy(err)`: reported as given, not wrapped. */
  private errorIsLocal = false;

  // Bound once so the hot path allocates no closure per write.
  protected readonly uncork = (): void => {
    this.corked = false;
    this.corkedBytes = 0;
    this.beforeUncork();
    this.socket?.uncork();
    this.afterUncork();
    if (this.writeTaken !== 0) this.syncWriteCharge();
  };
  private readonly onTickEnd = (): void => {
    this.tickEndQueued = false;
    this.corkLimit = CORK_FIRST_FLUSH_BYTES;
    if (this.corked) this.uncork();
  };
  protected readonly onSocketDrain = (): void => this.fireDrain();
  // Write callback, used only when highWaterMark is below the socket's own (see write()).
  private readonly onFlushed = (err?: Error | null): void => {
    if (!err) this.fireDrain();
  };
  private readonly onFrameTimeout = (): void => {
    this.frameTimer = undefined;
    if (!this.decoding) return;
    this.failDecoding(socketDError('FRAME_TIMEOUT',
      `${this.kind} connection ${this.remoteAddress ?? ''}: a frame did not arrive whole within frameTimeout ${this.frameTimeout} ms of its first byte`));
  };

  protected constructor(
    /** The socket under the connection: corked per tick, its 'drain' heard (undefined if unknown). */
    protected readonly socket: Socket | undefined,
    options: ConnectionOptions,
    /** `TCP` or `WebSocket`, for error messages. */
    private readonly kind: string,
  ) {
    this.highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    // Never below the high-water mark, or a write could fail before backpressure was signalled.
    this.maxWriteBufferSize = Math.max(options.maxWriteBufferSize ?? DEFAULT_MAX_WRITE_BUFFER_SIZE, this.highWaterMark);
    this.endTimeout = options.endTimeout ?? DEFAULT_END_TIMEOUT;
    this.frameTimeout = options.frameTimeout ?? DEFAULT_FRAME_TIMEOUT;
    this.pendingBudget = options.pendingBudget;
    this.memory = options.memory;
    this.acceptedAt = options.acceptedAt;
    const addr = socket?.remoteAddress;
    this.remoteAddress = addr === undefined ? undefined
      : addr.includes(':') ? `[${addr}]:${socket!.remotePort}` : `${addr}:${socket!.remotePort}`;
    socket?.on('drain', this.onSocketDrain);
  }

  abstract get bufferedAmount(): number;
  abstract get closed(): boolean;
  abstract setHandlers(handlers: ConnectionHandlers): void;
  abstract end(): void;
  abstract destroy(err?: Error): void;
  /** Hands one frame to the underlying socket (with `cb` once it was flushed, when given). */
  protected abstract send(frame: Buffer, cb?: (err?: Error | null) => void): void;
  /**
   * Hands one frame given as head + data to the underlying socket, whole (`cb` after the
   * data was flushed, when given).
   */
  protected abstract sendParts(head: Buffer, data: Buffer, cb?: (err?: Error | null) => void): void;
  /** Pauses the underlying socket or WebSocket. */
  protected abstract pauseSource(): void;
  /** Resumes the underlying socket or WebSocket. */
  protected abstract resumeSource(): void;

  pause(): void {
    this.userPaused = true;
    this.pauseSource();
  }

  resume(): void {
    this.userPaused = false;
    if (this.handlers !== undefined && this.decoding) this.resumeSource();
  }

  write(frame: Buffer): boolean {
    if (this.closed) return false;
    const after = this.bufferedAmount + frame.length;
    if (after > this.maxWriteBufferSize || (this.memory !== undefined && !this.chargeWrites(after))) return this.overflow(after);
    this.corkTick();
    let ok = false;
    if (this.drainWanted) this.send(frame);
    else if (after <= this.highWaterMark) {
      this.send(frame);
      ok = true;
    } else if (this.wantsFlushCallback(after)) this.send(frame, this.onFlushed);
    else this.send(frame);
    this.corkedWrite(frame.length);
    return ok;
  }

  writeParts(head: Buffer, data: Buffer): boolean {
    if (this.closed) return false;
    const after = this.bufferedAmount + head.length + data.length;
    if (after > this.maxWriteBufferSize || (this.memory !== undefined && !this.chargeWrites(after))) return this.overflow(after);
    this.corkTick();
    let ok = false;
    if (this.drainWanted) this.sendParts(head, data);
    else if (after <= this.highWaterMark) {
      this.sendParts(head, data);
      ok = true;
    } else if (this.wantsFlushCallback(after)) this.sendParts(head, data, this.onFlushed);
    else this.sendParts(head, data);
    this.corkedWrite(head.length + data.length);
    return ok;
  }

  /**
   * Brings this connection's charge for queued writes to `after` bytes: true when the memory
   * budget has room for them (O(1); the charge follows `bufferedAmount` down on uncork and drain).
   */
  private chargeWrites(after: number): boolean {
    const more = after - this.writeTaken;
    if (more > 0 && !this.memory!.take(more)) return false;
    if (more < 0) this.memory!.give(-more);
    this.writeTaken = after;
    return true;
  }

  /** Gives back what left the write queue since the last charge. */
  private syncWriteCharge(): void {
    const now = this.closed ? 0 : this.bufferedAmount;
    if (now < this.writeTaken) {
      this.memory!.give(this.writeTaken - now);
      this.writeTaken = now;
    }
  }

  /**
   * A write would queue more than `maxWriteBufferSize`, or more than the memory budget has
   * room for: the peer is not reading what it is sent. Rather than queue without bound, drop
   * the connection: with a Close 1002 behind what is queued when that still fits (flushed
   * within `endTimeout`), else at once. The session hears
   * `onClose(SOCKETD_ERR_WRITE_BUFFER_FULL)`. Returns false (nothing was written).
   */
  private overflow(after: number): false {
    const why = after > this.maxWriteBufferSize ? `maxWriteBufferSize ${this.maxWriteBufferSize}`
      : this.memory!.describeRefusal(after - this.writeTaken);
    const err = socketDError('WRITE_BUFFER_FULL',
      `${this.kind} connection ${this.remoteAddress ?? ''}: writing would queue ${after} bytes, over ${why}; the peer does not read`);
    this.recordError(err, true);
    this.decoding = false;
    if (this.bufferedAmount + CLOSE_ILLEGAL.length <= this.maxWriteBufferSize) {
      this.send(CLOSE_ILLEGAL);
      this.end();
    } else {
      this.destroy(err);
    }
    return false;
  }

  /**
   * After each received chunk: `pending` bytes of an incomplete frame are buffered now, and
   * `completed` says whether a frame completed during the chunk. Runs the frame timer (from a
   * frame's first byte to its last: a trickle does not restart it) and keeps this
   * connection's share of the server's pending-bytes budget. False when it failed the
   * connection.
   */
  protected afterChunk(pending: number, completed: boolean): boolean {
    if (pending !== this.pendingTaken && !this.chargePartial(pending)) return false;
    if (pending === 0) {
      if (this.frameTimer !== undefined) {
        clearTimeout(this.frameTimer);
        this.frameTimer = undefined;
      }
    } else if (this.frameTimer === undefined || completed) {
      // A new frame started (the one timed before, if any, completed in this chunk).
      if (this.frameTimer !== undefined) clearTimeout(this.frameTimer);
      this.frameTimer = setTimeout(this.onFrameTimeout, this.frameTimeout);
      this.frameTimer.unref();
    }
    return true;
  }

  /**
   * Brings the charge of this connection's partial frame to `pending` bytes, in
   * `maxPendingFrameBytes` and in the memory budget; false when it failed the connection.
   */
  private chargePartial(pending: number): boolean {
    const budget = this.pendingBudget;
    const memory = this.memory;
    const more = pending - this.pendingTaken;
    if (more > 0) {
      if (budget !== undefined && !budget.take(more)) {
        this.failDecoding(socketDError('PENDING_FRAME_BYTES',
          `${this.kind} connection ${this.remoteAddress ?? ''}: ${pending} bytes of a partial frame would put the server over maxPendingFrameBytes ${budget.limit}`));
        return false;
      }
      if (memory !== undefined && !memory.take(more)) {
        budget?.give(more);
        this.failDecoding(socketDError('PENDING_FRAME_BYTES',
          `${this.kind} connection ${this.remoteAddress ?? ''}: ${pending} bytes of a partial frame would pass ${memory.describeRefusal(more)}`));
        return false;
      }
    } else {
      budget?.give(-more);
      memory?.give(-more);
    }
    this.pendingTaken = pending;
    return true;
  }

  /** Reading stopped for good: stop the frame timer and give back the budget. */
  private stopPartial(): void {
    if (this.frameTimer !== undefined) {
      clearTimeout(this.frameTimer);
      this.frameTimer = undefined;
    }
    if (this.pendingTaken !== 0) {
      this.pendingBudget?.give(this.pendingTaken);
      this.memory?.give(this.pendingTaken);
      this.pendingTaken = 0;
    }
  }

  /** Crossing the high-water mark: true when the write needs a flush callback to hear the drain. */
  private wantsFlushCallback(after: number): boolean {
    this.drainWanted = true;
    // The socket emits 'drain' only if its own high-water mark was crossed. Below that, wait
    // for this frame's write callback instead (everything before it has then left too).
    const socket = this.socket;
    return socket === undefined || after < socket.writableHighWaterMark;
  }

  private corkTick(): void {
    const socket = this.socket;
    if (!this.corked && socket !== undefined) {
      // Cork on the first write of a tick so the frames of the tick leave in one writev
      // (measured: 2.8x the frames/s of uncorked small writes). Uncork in a microtask rather
      // than process.nextTick: nextTick would wait for the whole microtask queue, so a chain
      // of promise continuations that keep writing would hold every byte back until
      // highWaterMark.
      this.corked = true;
      socket.cork();
      if (!this.tickEndQueued) {
        this.tickEndQueued = true;
        queueMicrotask(this.onTickEnd);
      }
    }
  }

  /**
   * Counts `bytes` just written; at the limit (`CORK_FIRST_FLUSH_BYTES`, then
   * `CORK_FLUSH_BYTES` until the tick ends) uncorks now, and the next write corks again.
   * Without this bound a synchronous loop of writes (rxjs `range`, 100k `session.reply()`
   * calls) would send nothing until it ended: the first item would wait for the last, and
   * every frame of the loop would sit in memory at once.
   */
  private corkedWrite(bytes: number): void {
    if (!this.corked || (this.corkedBytes += bytes) < this.corkLimit) return;
    this.corkLimit = CORK_FLUSH_BYTES;
    this.uncork();
  }

  /** Runs before every uncork (end of tick, flush limits, `end()`): a subclass hands staged bytes to the socket. */
  protected beforeUncork(): void {}

  /** Runs after every uncork: the socket has written what it could. */
  protected afterUncork(): void {}

  /** Flushes what is corked (before ending). */
  protected flushCorked(): void {
    if (this.corked) this.uncork();
  }

  /** Keeps the first error seen; `local` errors (from `destroy(err)`) are reported as given. */
  protected recordError(err: Error, local = false): void {
    if (this.error !== undefined) return;
    this.error = err;
    this.errorIsLocal = local;
  }

  protected failDecoding(err: unknown): void {
    this.decoding = false;
    this.stopPartial();
    this.pauseSource();
    if (this.handlers === undefined) {
      this.destroy(err instanceof Error ? err : new Error(String(err)));
    } else if (isSocketDError(err) && err.closeCode !== undefined) {
      this.handlers!.onProtocolError(err as SocketDError);
    } else {
      // Not a framing error: a handler threw. Don't let it crash the process from a socket event.
      this.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  }

  protected fireDrain(): void {
    if (this.writeTaken !== 0) this.syncWriteCharge();
    if (!this.drainWanted || this.closed) return;
    this.drainWanted = false;
    this.handlers?.onDrain();
  }

  protected reportClose(): void {
    this.stopPartial();
    this.memory?.close();
    this.writeTaken = 0;
    if (this.closeReported || this.handlers === undefined) return;
    this.closeReported = true;
    const err = this.error;
    this.handlers.onClose(
      err === undefined || this.errorIsLocal || isSocketDError(err) ? err
        : socketDError('TRANSPORT', `${this.kind} connection ${this.remoteAddress ?? ''} failed: ${err.message}`, { cause: err }),
    );
  }
}

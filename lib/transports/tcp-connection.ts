import type { Socket } from 'node:net';
import { MAX_FRAME_LENGTH } from '../protocol/constants.js';
import { socketDError } from '../protocol/errors.js';
import type { Frame } from '../protocol/frame.js';
import { FrameDecoder } from '../protocol/frame-decoder.js';
import { BaseConnection, type ConnectionOptions } from './base-connection.js';
import type { ConnectionHandlers } from '../session/connection.js';

/**
 * A Socket.D connection over a `net.Socket` (spec section 3.1): back-to-back frames on a byte
 * stream, cut by a `FrameDecoder`.
 *
 * - Reading starts only once `setHandlers()` is called (the socket stays paused until then,
 *   so early frames wait in the kernel, not in memory).
 * - Frames written in one tick are corked and leave in one `writev` (uncorked in a microtask).
 * - `onClose` fires exactly once, on the socket's `close` (after `end()` once the peer closed
 *   or the `endTimeout` elapsed; after `destroy()` at once).
 * - After `end()`, `destroy()` or a protocol error no more frames are delivered.
 */
export class TcpConnection extends BaseConnection {
  private readonly decoder: FrameDecoder;
  private socketClosed = false;
  /** Set by onFrame: a frame completed during the current chunk. */
  private framed = false;

  // Bound once so the hot path allocates no closure per chunk.
  private readonly onData = (chunk: Buffer): void => {
    if (!this.decoding) return;
    this.framed = false;
    try {
      this.decoder.push(chunk);
    } catch (err) {
      this.failDecoding(err);
      return;
    }
    if (this.decoding) this.afterChunk(this.decoder.bufferedBytes, this.framed);
  };
  private readonly onFrame = (frame: Frame): void => {
    this.framed = true;
    if (this.decoding) this.handlers!.onFrame(frame);
  };

  constructor(private readonly tcp: Socket, options: ConnectionOptions = {}) {
    super(tcp, options, 'TCP');
    this.decoder = new FrameDecoder(this.onFrame, { maxFrameSize: options.maxFrameSize ?? MAX_FRAME_LENGTH });
    // Frames are small and latency matters; batching is done by corking, not by Nagle.
    tcp.setNoDelay(true);
    tcp.pause();
    tcp.on('error', (err: Error) => this.recordError(err));
    tcp.on('close', () => {
      this.socketClosed = true;
      this.decoding = false;
      this.decoder.reset();
      if (this.endTimer !== undefined) clearTimeout(this.endTimer);
      this.reportClose();
    });
  }

  get bufferedAmount(): number {
    return this.tcp.writableLength;
  }

  /** Bytes of a partial frame held by the decoder. */
  get pendingFrameBytes(): number {
    return this.decoder.bufferedBytes;
  }

  get closed(): boolean {
    return this.ending || this.socketClosed || this.tcp.destroyed;
  }

  setHandlers(handlers: ConnectionHandlers): void {
    if (this.handlers !== undefined) throw socketDError('INVALID_ARGUMENT', 'Connection handlers are already set');
    this.handlers = handlers;
    if (this.socketClosed) {
      this.reportClose();
      return;
    }
    this.tcp.on('data', this.onData);
    if (!this.userPaused) this.tcp.resume();
  }

  end(): void {
    if (this.closed) return;
    this.ending = true;
    this.decoding = false;
    this.flushCorked();
    this.tcp.end();
    // Keep reading (and dropping) so the peer's FIN is seen and 'close' follows.
    if (this.handlers === undefined) this.tcp.on('data', this.onData);
    this.tcp.resume();
    this.endTimer = setTimeout(() => this.tcp.destroy(), this.endTimeout);
    this.endTimer.unref();
  }

  destroy(err?: Error): void {
    this.decoding = false;
    if (err !== undefined) this.recordError(err, true);
    if (!this.tcp.destroyed) this.tcp.destroy();
  }

  protected send(frame: Buffer, cb?: (err?: Error | null) => void): void {
    this.tcp.write(frame, cb);
  }

  protected sendParts(head: Buffer, data: Buffer, cb?: (err?: Error | null) => void): void {
    // Both go into the same writev (the socket is corked for the tick).
    this.tcp.write(head);
    this.tcp.write(data, cb);
  }

  protected pauseSource(): void {
    this.tcp.pause();
  }

  protected resumeSource(): void {
    this.tcp.resume();
  }
}

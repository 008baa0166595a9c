import type { Socket } from 'node:net';
import { MAX_FRAME_LENGTH } from '../protocol/constants.js';
import { socketDError } from '../protocol/errors.js';
import type { Frame } from '../protocol/frame.js';
import { FrameDecoder } from '../protocol/frame-decoder.js';
import { BaseConnection, type ConnectionOptions } from './base-connection.js';
import type { ConnectionHandlers } from '../session/connection.js';
import { clientTlsError, closedAfterHandshakeError, speaksTlsError, TLS_ALERT_RECORD } from './tls-errors.js';

/** Options of a `TcpConnection`. */
export interface TcpConnectionOptions extends ConnectionOptions {
  /** The socket is a `tls.TLSSocket` whose handshake is done (TLS errors get `SOCKETD_ERR_TLS`). */
  overTls?: boolean;
  /** This end dialled (client errors name the server and the fix). */
  client?: boolean;
}

/**
 * A Socket.D connection over a `net.Socket` or a `tls.TLSSocket` (a `net.Socket` subclass:
 * pause/resume, cork/writev and `writableLength` count plaintext) (spec section 3.1):
 * back-to-back frames on a byte stream, cut by a `FrameDecoder`.
 *
 * - Reading starts only once `setHandlers()` is called (the socket stays paused until then,
 *   so early frames wait in the kernel, not in memory).
 * - Frames written in one tick are corked and leave in one `writev` (uncorked in a microtask,
 *   or as soon as `CORK_FLUSH_BYTES` (64 KiB) are corked).
 * - `onClose` fires exactly once, on the socket's `close` (after `end()` once the peer closed
 *   or the `endTimeout` elapsed; after `destroy()` at once).
 * - After `end()`, `destroy()` or a protocol error no more frames are delivered.
 */
export class TcpConnection extends BaseConnection {
  private readonly decoder: FrameDecoder;
  private socketClosed = false;
  /** Set by onFrame: a frame completed during the current chunk. */
  private framed = false;
  /** True once a byte was received. */
  private received = false;
  private readonly overTls: boolean;
  private readonly client: boolean;
  /** `destroy()` was called here (a local close is no news about the server). */
  private destroyedHere = false;

  // Bound once so the hot path allocates no closure per chunk.
  private readonly onData = (chunk: Buffer): void => {
    if (!this.decoding) return;
    if (!this.received) {
      this.received = true;
      // A frame starts 00 or 01 (lengths up to 17 MiB): 15 is a TLS alert, the answer of a
      // TLS server to our plain Connect (spec 3.1: TLS = the same frames inside TLS).
      if (this.client && !this.overTls && chunk[0] === TLS_ALERT_RECORD) {
        this.failDecoding(speaksTlsError(this.remoteAddress ?? 'the server'));
        return;
      }
    }
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

  constructor(private readonly tcp: Socket, options: TcpConnectionOptions = {}) {
    super(tcp, options, options.overTls === true ? 'TLS' : 'TCP');
    this.overTls = options.overTls === true;
    this.client = options.client === true;
    this.decoder = new FrameDecoder(this.onFrame, { maxFrameSize: options.maxFrameSize ?? MAX_FRAME_LENGTH });
    // Frames are small and latency matters; batching is done by corking, not by Nagle.
    tcp.setNoDelay(true);
    tcp.pause();
    tcp.on('error', (err: Error) => {
      // TLS 1.3: the server checks our certificate after our handshake ended, so its alert
      // (certificate required, unknown CA) arrives here, as an error of the open connection.
      this.recordError(this.overTls && this.client ? this.clientTlsError(err) : err);
    });
    tcp.on('close', () => {
      if (this.overTls && this.client && !this.received && !this.ending && !this.destroyedHere) {
        // Hung up right after the handshake without a frame: our server does that when it
        // refuses a client certificate (kept only if no error came first).
        this.recordError(closedAfterHandshakeError(this.remoteAddress ?? 'the server'));
      }
      this.socketClosed = true;
      this.decoding = false;
      this.decoder.reset();
      if (this.endTimer !== undefined) clearTimeout(this.endTimer);
      this.reportClose();
    });
  }

  /** A TLS client's socket error as SOCKETD_ERR_TLS when it is about TLS (else as it is). */
  private clientTlsError(err: Error): Error {
    const where = this.remoteAddress ?? 'the server';
    const tlsErr = clientTlsError(err, where, false);
    if (tlsErr !== undefined) return tlsErr;
    // A reset before any frame: the server destroyed the socket with our Connect unread, which
    // ours does when it refuses a client certificate.
    const code = (err as { code?: unknown }).code;
    return !this.received && (code === 'ECONNRESET' || code === 'EPIPE') ? closedAfterHandshakeError(where) : err;
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
    this.destroyedHere = true;
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

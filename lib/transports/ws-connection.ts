import type { Socket } from 'node:net';
import type { RawData, WebSocket } from 'ws';
import { MAX_FRAME_LENGTH } from '../protocol/constants.js';
import { isSocketDError, socketDError, type SocketDError } from '../protocol/errors.js';
import { decodeFrame } from '../protocol/frame-codec.js';
import { DEFAULT_END_TIMEOUT, DEFAULT_HIGH_WATER_MARK, type ConnectionOptions } from './tcp-connection.js';
import type { Connection, ConnectionHandlers } from './transport.js';

/** WebSocket subprotocol token offered by clients and required by servers (spec section 3.2). */
export const SOCKETD_SUBPROTOCOL = 'Socket.D';

// Reused for every send: binary, never compressed (upstream declines permessage-deflate).
const SEND_OPTIONS = { binary: true, compress: false, fin: true } as const;
/** ws' close code for a normal closure, sent by `end()`. */
const WS_NORMAL_CLOSURE = 1000;

/**
 * A Socket.D connection over a `ws` WebSocket (spec section 3.2): exactly one frame per binary
 * message, in both directions.
 *
 * - A text message, or a binary message that is not exactly one valid frame, is a protocol
 *   error (`SOCKETD_ERR_BAD_MESSAGE` / `_FRAME_LENGTH` / ..., close code 1002).
 * - Reading is paused until `setHandlers()`; frames written in one tick are corked on the
 *   underlying socket so they leave in one writev.
 * - `end()` starts the WebSocket close handshake (code 1000); the socket is terminated if it
 *   has not closed after `endTimeout`. `onClose` fires once, on the WebSocket's `close`.
 * - A message over `maxFrameSize` is refused by ws itself (it closes with WS code 1009): that
 *   is reported as `onClose(SOCKETD_ERR_FRAME_LENGTH)`, not as a protocol error, since the
 *   WebSocket is already closing.
 * - `pause()` takes effect at the next network chunk: messages already received in the current
 *   chunk are still delivered.
 */
export class WsConnection implements Connection {
  readonly remoteAddress: string | undefined;

  private handlers: ConnectionHandlers | undefined;
  /**
   * Messages received before `setHandlers()` (`undefined` for a text message). Reading is
   * paused until then, so this holds at most one network chunk's worth.
   */
  private held: (Buffer | undefined)[] | undefined;
  private readonly socket: Socket | undefined;
  private readonly maxFrameSize: number;
  private readonly highWaterMark: number;
  private readonly endTimeout: number;
  private corked = false;
  private drainWanted = false;
  private decoding = true;
  private userPaused = false;
  private ending = false;
  private wsClosed = false;
  private closeReported = false;
  private error: Error | undefined;
  private errorIsLocal = false;
  private endTimer: NodeJS.Timeout | undefined;

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket!.uncork();
  };
  private readonly onMessage = (data: RawData, isBinary: boolean): void => {
    if (!this.decoding) return;
    // binaryType is 'nodebuffer' (the default), so binary data is always a Buffer.
    if (this.handlers === undefined) (this.held ??= []).push(isBinary ? data as Buffer : undefined);
    else this.handleMessage(isBinary ? data as Buffer : undefined);
  };
  private readonly onSocketDrain = (): void => {
    this.fireDrain();
  };
  private readonly onFlushed = (err?: Error | null): void => {
    if (!err) this.fireDrain();
  };

  constructor(private readonly ws: WebSocket, options: ConnectionOptions = {}) {
    this.maxFrameSize = options.maxFrameSize ?? MAX_FRAME_LENGTH;
    this.highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    this.endTimeout = options.endTimeout ?? DEFAULT_END_TIMEOUT;
    // ws has no public accessor for its net.Socket; it is needed to cork per tick and to hear
    // 'drain' (ws re-emits neither). ws >= 8 keeps it in `_socket` once open.
    this.socket = (ws as unknown as { _socket?: Socket })._socket ?? undefined;
    const addr = this.socket?.remoteAddress;
    this.remoteAddress = addr === undefined ? undefined
      : addr.includes(':') ? `[${addr}]:${this.socket!.remotePort}` : `${addr}:${this.socket!.remotePort}`;

    ws.pause();
    ws.on('message', this.onMessage);
    this.socket?.on('drain', this.onSocketDrain);
    ws.on('error', (err: Error & { code?: string }) => {
      if (this.error !== undefined) return;
      this.error = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
        ? socketDError('FRAME_LENGTH', `WebSocket message over maxFrameSize ${this.maxFrameSize}`)
        : err;
    });
    ws.on('close', () => {
      this.wsClosed = true;
      this.decoding = false;
      if (this.endTimer !== undefined) clearTimeout(this.endTimer);
      this.reportClose();
    });
  }

  get bufferedAmount(): number {
    // Includes the socket's write buffer and what ws queued itself.
    return this.ws.bufferedAmount;
  }

  get closed(): boolean {
    return this.ending || this.wsClosed || this.ws.readyState !== this.ws.OPEN;
  }

  setHandlers(handlers: ConnectionHandlers): void {
    if (this.handlers !== undefined) throw socketDError('INVALID_ARGUMENT', 'Connection handlers are already set');
    this.handlers = handlers;
    if (this.wsClosed) {
      this.reportClose();
      return;
    }
    const held = this.held;
    this.held = undefined;
    if (held !== undefined) for (let i = 0; i < held.length && this.decoding; i++) this.handleMessage(held[i]);
    if (!this.userPaused && this.decoding) this.ws.resume();
  }

  write(frame: Buffer): boolean {
    if (this.closed) return false;
    const socket = this.socket;
    if (!this.corked && socket !== undefined) {
      // ws writes header and payload per message; corking the socket for the rest of the tick
      // makes all messages of the tick leave in one writev.
      this.corked = true;
      socket.cork();
      queueMicrotask(this.uncork);
    }
    if (this.drainWanted) {
      this.ws.send(frame, SEND_OPTIONS);
      return false;
    }
    const after = this.ws.bufferedAmount + frame.length;
    if (after <= this.highWaterMark) {
      this.ws.send(frame, SEND_OPTIONS);
      return true;
    }
    this.drainWanted = true;
    // As in TcpConnection: the socket emits 'drain' only above its own high-water mark.
    if (socket === undefined || after < socket.writableHighWaterMark) this.ws.send(frame, SEND_OPTIONS, this.onFlushed);
    else this.ws.send(frame, SEND_OPTIONS);
    return false;
  }

  pause(): void {
    this.userPaused = true;
    this.ws.pause();
  }

  resume(): void {
    this.userPaused = false;
    if (this.handlers !== undefined && this.decoding) this.ws.resume();
  }

  end(): void {
    if (this.closed) return;
    this.ending = true;
    this.decoding = false;
    if (this.corked) this.uncork();
    // Keep reading so the peer's close frame is seen and the handshake completes.
    this.ws.resume();
    this.ws.close(WS_NORMAL_CLOSURE);
    this.endTimer = setTimeout(() => this.ws.terminate(), this.endTimeout);
    this.endTimer.unref();
  }

  destroy(err?: Error): void {
    this.decoding = false;
    if (err !== undefined && this.error === undefined) {
      this.error = err;
      this.errorIsLocal = true;
    }
    if (!this.wsClosed) this.ws.terminate();
  }

  /** One received message; `undefined` is a text message. */
  private handleMessage(message: Buffer | undefined): void {
    if (message === undefined) {
      this.failDecoding(socketDError('BAD_MESSAGE', 'WebSocket text message received; Socket.D sends one frame per binary message'));
      return;
    }
    try {
      this.handlers!.onFrame(decodeFrame(message, this.maxFrameSize));
    } catch (err) {
      this.failDecoding(err);
    }
  }

  private failDecoding(err: unknown): void {
    this.decoding = false;
    this.ws.pause();
    if (isSocketDError(err) && err.closeCode !== undefined) {
      this.handlers!.onProtocolError(err as SocketDError);
    } else {
      // Not a framing error: a handler threw. Don't let it escape from a socket event.
      this.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private fireDrain(): void {
    if (!this.drainWanted || this.closed) return;
    this.drainWanted = false;
    this.handlers?.onDrain();
  }

  private reportClose(): void {
    if (this.closeReported || this.handlers === undefined) return;
    this.closeReported = true;
    const err = this.error;
    this.handlers.onClose(
      err === undefined || this.errorIsLocal || isSocketDError(err) ? err
        : socketDError('TRANSPORT', `WebSocket connection ${this.remoteAddress ?? ''} failed: ${err.message}`, { cause: err }),
    );
  }
}

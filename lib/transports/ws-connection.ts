import { Socket } from 'node:net';
import type { RawData, WebSocket } from 'ws';
import { MAX_FRAME_LENGTH } from '../protocol/constants.js';
import { socketDError } from '../protocol/errors.js';
import { decodeFrame } from '../protocol/frame-codec.js';
import { FieldCache } from '../protocol/field-cache.js';
import { BaseConnection, type ConnectionOptions } from './base-connection.js';
import type { ConnectionHandlers } from '../session/connection.js';
import { WsStage } from './ws-stage.js';

/** WebSocket subprotocol token offered by clients and required by servers (spec section 3.2). */
export const SOCKETD_SUBPROTOCOL = 'Socket.D';

// Reused for every send: binary, never compressed (upstream declines permessage-deflate).
const SEND_OPTIONS = { binary: true, compress: false, fin: true } as const;
/** ws' close code for a normal closure, sent by `end()`. */
const WS_NORMAL_CLOSURE = 1000;

/**
 * What ws' Receiver holds of a message not yet delivered: unparsed bytes, and the payload of
 * the fragments received so far. Private fields of ws 8 (no public accessor exists); when
 * absent, partial messages are neither timed nor counted.
 */
interface WsReceiverState {
  _bufferedBytes: number;
  _messageLength: number;
}

/** ws' Sender (private in ws 8): every frame ws writes itself (pong, close, ping) goes through `sendFrame`. */
interface WsSenderHook {
  sendFrame(list: Buffer[], cb?: (err?: Error | null) => void): void;
}

/**
 * A Socket.D connection over a `ws` WebSocket (spec section 3.2): exactly one frame per binary
 * message, in both directions.
 *
 * - A text message, or a binary message that is not exactly one valid frame, is a protocol
 *   error (`SOCKETD_ERR_BAD_MESSAGE` / `_FRAME_LENGTH` / ..., close code 1002).
 * - Reading is paused until `setHandlers()`; frames written in one tick are corked on the
 *   underlying socket so they leave in one writev (at most `CORK_FLUSH_BYTES`, 64 KiB, per writev).
 * - `end()` starts the WebSocket close handshake (code 1000); the socket is terminated if it
 *   has not closed after `endTimeout`. `onClose` fires once, on the WebSocket's `close`.
 * - A message over `maxFrameSize` is refused by ws itself (it closes with WS code 1009): that
 *   is reported as `onClose(SOCKETD_ERR_FRAME_LENGTH)`, not as a protocol error, since the
 *   WebSocket is already closing.
 * - `pause()` takes effect at the next network chunk: messages already received in the current
 *   chunk are still delivered.
 * - Server side, frames are framed here and leave in chunks of many messages (`WsStage`, see
 *   ws-stage.ts for why); ws' own writes (pongs, close) flush the stage first. The client masks
 *   its frames and writes them through `ws.send()`.
 */
export class WsConnection extends BaseConnection {
  /**
   * Messages received before `setHandlers()` (`undefined` for a text message). Reading is
   * paused until then, so this holds at most one network chunk's worth.
   */
  private held: (Buffer | undefined)[] | undefined;
  private readonly maxFrameSize: number;
  /** The fields of the last message: a stream's messages repeat them (see `FieldCache`). */
  private readonly fields = new FieldCache();
  private wsClosed = false;
  private readonly receiver: WsReceiverState | undefined;
  /** Set by onMessage: a message completed during the current network chunk. */
  private messaged = false;
  /** Server side: messages staged and written in chunks (undefined: through `ws.send()`). */
  private readonly stage: WsStage | undefined;
  /** Every uncork of BaseConnection (end of tick, flush limits, end()) first hands the staged chunk to the socket. */
  protected override beforeUncork(): void {
    this.stage?.flush();
  }

  protected override afterUncork(): void {
    this.stage?.settle();
  }

  private readonly onMessage = (data: RawData, isBinary: boolean): void => {
    this.messaged = true;
    if (!this.decoding) return;
    // binaryType is 'nodebuffer' (the default), so binary data is always a Buffer.
    if (this.handlers === undefined) (this.held ??= []).push(isBinary ? data as Buffer : undefined);
    else this.handleMessage(isBinary ? data as Buffer : undefined);
  };

  private readonly ws: WebSocket;

  /**
   * @param socket an open `ws` (8.x) `WebSocket`. Typed `object` so that the published
   * declarations need no `@types/ws` (a devDependency).
   */
  constructor(socket: object, options: ConnectionOptions = {}) {
    const ws = socket as WebSocket;
    // ws has no public accessor for its net.Socket; it is needed to cork per tick and to hear
    // 'drain' (ws re-emits neither). ws >= 8 keeps it in `_socket` once open.
    super((ws as unknown as { _socket?: Socket })._socket ?? undefined, options, 'WebSocket');
    this.ws = ws;
    this.maxFrameSize = options.maxFrameSize ?? MAX_FRAME_LENGTH;
    ws.pause();
    ws.on('message', this.onMessage);
    const receiver = (ws as unknown as { _receiver?: WsReceiverState })._receiver;
    if (this.socket !== undefined && typeof receiver?._bufferedBytes === 'number' && typeof receiver._messageLength === 'number') {
      this.receiver = receiver;
      // Added after ws' own 'data' listener, so ws has parsed the chunk (and emitted its
      // messages: allowSynchronousEvents is ws' default) when this runs.
      this.socket.on('data', this.onSocketData);
    }
    ws.on('error', (err: Error & { code?: string }) => {
      this.recordError(err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
        ? socketDError('FRAME_LENGTH', `WebSocket message over maxFrameSize ${this.maxFrameSize}`)
        : err);
    });
    this.stage = this.createStage(ws);
    ws.on('close', () => {
      this.stage?.discard();
      this.wsClosed = true;
      this.decoding = false;
      if (this.endTimer !== undefined) clearTimeout(this.endTimer);
      this.reportClose();
    });
  }

  /** Bytes of a partial message ws holds (unparsed bytes plus fragments received so far). */
  get pendingFrameBytes(): number {
    const r = this.receiver;
    return r === undefined ? 0 : r._bufferedBytes + r._messageLength;
  }

  get bufferedAmount(): number {
    // Includes the socket's write buffer and what ws queued itself, and what is staged.
    const stage = this.stage;
    return stage === undefined ? this.ws.bufferedAmount : this.ws.bufferedAmount + stage.staged;
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

  end(): void {
    if (this.closed) return;
    this.ending = true;
    this.decoding = false;
    this.stage?.flush();
    this.flushCorked();
    // Keep reading so the peer's close frame is seen and the handshake completes.
    this.ws.resume();
    this.ws.close(WS_NORMAL_CLOSURE);
    this.endTimer = setTimeout(() => this.ws.terminate(), this.endTimeout);
    this.endTimer.unref();
  }

  destroy(err?: Error): void {
    this.decoding = false;
    if (err !== undefined) this.recordError(err, true);
    this.stage?.discard();
    if (!this.wsClosed) this.ws.terminate();
  }

  protected send(frame: Buffer, cb?: (err?: Error | null) => void): void {
    if (this.stage !== undefined) this.stage.write(frame, cb);
    else this.ws.send(frame, SEND_OPTIONS, cb);
  }

  protected sendParts(head: Buffer, data: Buffer, cb?: (err?: Error | null) => void): void {
    // One single-fragment message, as upstream peers send it. Sending head and data as two
    // fragments of one message (RFC 6455 5.4) saved the copy but measured no faster, since the
    // receiving ws joins the fragments again. The stage writes large data as is, after the
    // header and head (no copy); ws.send() needs them joined.
    if (this.stage !== undefined) this.stage.writeParts(head, data, cb);
    else this.ws.send(Buffer.concat([head, data], head.length + data.length), SEND_OPTIONS, cb);
  }

  /**
   * After each write of the stage completed. The socket's own 'drain' covers every crossing of
   * the high-water mark as things are (the staged bytes a crossing counted reach the corked
   * socket together at the next uncork, so they set its needDrain when over its own mark, and
   * below it write() asks for a flush callback); this also reports the drain once all the
   * stage wrote has left, should bytes ever reach the socket without crossing its mark.
   */
  private readonly onStageWritten = (): void => {
    if (this.bufferedAmount === 0) this.fireDrain();
  };

  /**
   * A stage for a server-side WebSocket on a `net.Socket` whose Sender can be hooked (ws 8);
   * else undefined and frames go through `ws.send()`. A client must mask, which ws does.
   */
  private createStage(ws: WebSocket): WsStage | undefined {
    const internals = ws as unknown as { _isServer?: unknown; _sender?: Partial<WsSenderHook> };
    const socket = this.socket;
    const sender = internals._sender;
    if (internals._isServer !== true || !(socket instanceof Socket) || typeof sender?.sendFrame !== 'function') return undefined;
    const stage = new WsStage(socket, this.onStageWritten);
    // ws writes pongs and its close frame straight to the socket: what is staged goes first.
    const sendFrame = sender.sendFrame;
    sender.sendFrame = (list, cb) => {
      stage.flush();
      sendFrame.call(sender, list, cb);
    };
    // ws ends the socket on the peer's FIN without a close frame: the staged bytes go before.
    socket.prependListener('end', () => stage.flush());
    return stage;
  }

  protected pauseSource(): void {
    this.ws.pause();
  }

  protected resumeSource(): void {
    this.ws.resume();
  }

  // The frame timer and the server's pending-bytes budget see ws' partial message after each chunk.
  private readonly onSocketData = (): void => {
    const completed = this.messaged;
    this.messaged = false;
    if (this.decoding) this.afterChunk(this.pendingFrameBytes, completed);
  };

  /** One received message; `undefined` is a text message. */
  private handleMessage(message: Buffer | undefined): void {
    if (message === undefined) {
      this.failDecoding(socketDError('BAD_MESSAGE', 'WebSocket text message received; Socket.D sends one frame per binary message'));
      return;
    }
    try {
      this.handlers!.onFrame(decodeFrame(message, this.maxFrameSize, this.fields));
    } catch (err) {
      this.failDecoding(err);
    }
  }
}

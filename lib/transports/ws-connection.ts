import type { Socket } from 'node:net';
import { isUtf8 } from 'node:buffer';
import { MAX_FRAME_LENGTH } from '../protocol/constants.js';
import { socketDError } from '../protocol/errors.js';
import { decodeFrame } from '../protocol/frame-codec.js';
import { FieldCache } from '../protocol/field-cache.js';
import { BaseConnection, type ConnectionOptions } from './base-connection.js';
import type { ConnectionHandlers } from '../session/connection.js';
import { WsStage } from './ws-stage.js';
import { WsCloseCode, WsOpcode, WsReader, wsViolation, type WsReaderSink, type WsViolation } from './ws-reader.js';

/** WebSocket subprotocol token offered by clients and required by servers (spec section 3.2). */
export const SOCKETD_SUBPROTOCOL = 'Socket.D';

/** Options of a `WsConnection`. */
export interface WsConnectionOptions extends ConnectionOptions {
  /** This end dialled: it masks what it sends and refuses masked frames (RFC 6455 5.1). */
  client?: boolean;
  /** Bytes that came after the HTTP upgrade, read before the socket's own. */
  head?: Buffer;
}

/** A close code a peer may send (RFC 6455 7.4). */
function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

function closePayload(code: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(code, 0);
  return b;
}

/**
 * A Socket.D connection over a WebSocket (spec section 3.2) whose HTTP upgrade is done:
 * exactly one frame per binary message, in both directions, framed here on the raw socket
 * (RFC 6455; no extension is ever negotiated).
 *
 * - Received bytes go through a `WsReader`: the frame timer and the server's pending-bytes
 *   budget see every partial header, message or control frame, as over tcp.
 * - A text message, or a binary message that is not exactly one valid frame, is a protocol
 *   error (`SOCKETD_ERR_BAD_MESSAGE` / `_FRAME_LENGTH` / ..., close code 1002; a text message
 *   is refused from its header, and the WebSocket Close then says 1003).
 * - A message over `maxFrameSize` is refused from its header, before any of its bytes is kept:
 *   WebSocket Close 1009, reported as `onClose(SOCKETD_ERR_FRAME_LENGTH)`. A framing violation
 *   (RSV bits, unknown opcode, a server's masked frame, a client's unmasked one, a bad control
 *   frame or close code) likewise: Close 1002 (1007 for a reason that is not UTF-8),
 *   `onClose(SOCKETD_ERR_BAD_MESSAGE)`.
 * - Pings are answered with a pong of the same payload (skipped while over the high-water
 *   mark: RFC 6455 5.5.3 allows answering only the latest); pongs are ignored.
 * - `end()` sends Close 1000 (or the code of the violation) and keeps reading until the peer's
 *   Close; the socket is destroyed if it has not closed after `endTimeout`. A peer's Close is
 *   answered with the same code and the socket ended. `onClose` fires once, on the socket's
 *   `close`.
 * - Reading is paused until `setHandlers()`; `pause()` takes effect at the next network chunk.
 * - Frames are staged and written in chunks of many messages (`WsStage`), masked while copied
 *   on the client side.
 */
export class WsConnection extends BaseConnection {
  private readonly tcp: Socket;
  private readonly reader: WsReader;
  private readonly stage: WsStage;
  private readonly maxFrameSize: number;
  /** The fields of the last message: a stream's messages repeat them (see `FieldCache`). */
  private readonly fields = new FieldCache();
  private head: Buffer | undefined;
  private reading = false;
  private socketClosed = false;
  private closeSent = false;
  private closeReceived = false;
  /** The code `end()` sends: 1000, or that of a WebSocket violation of the peer. */
  private closeCode: number = WsCloseCode.NORMAL;
  /** The reader failed: what else arrives is dropped. */
  private readerFailed = false;
  /** Set by onBinary: a message completed during the current chunk. */
  private messaged = false;

  private readonly onData = (chunk: Buffer): void => {
    if (this.readerFailed || this.socketClosed) return;
    this.messaged = false;
    try {
      this.reader.push(chunk);
    } catch (err) {
      this.onViolation(err as WsViolation);
      return;
    }
    if (this.decoding) this.afterChunk(this.reader.bufferedBytes, this.messaged);
  };

  /** Every uncork of BaseConnection (end of tick, flush limits, end()) first hands the staged chunk to the socket. */
  protected override beforeUncork(): void {
    this.stage.flush();
  }

  protected override afterUncork(): void {
    this.stage.settle();
  }

  /**
   * @param socket the socket of a WebSocket whose HTTP upgrade is done (a `net.Socket`, or a
   *   `tls.TLSSocket` for wss).
   */
  constructor(socket: Socket, options: WsConnectionOptions = {}) {
    super(socket, options, 'WebSocket');
    this.tcp = socket;
    const client = options.client === true;
    this.maxFrameSize = options.maxFrameSize ?? MAX_FRAME_LENGTH;
    const sink: WsReaderSink = {
      onBinary: (payload) => this.onBinary(payload),
      onControl: (opcode, payload) => this.onControl(opcode, payload),
    };
    this.reader = new WsReader(sink, !client, this.maxFrameSize);
    this.stage = new WsStage(socket, this.onStageWritten, client);
    this.head = options.head !== undefined && options.head.length > 0 ? options.head : undefined;
    socket.setNoDelay(true);
    socket.setTimeout(0);
    socket.pause();
    socket.on('error', (err: Error) => this.recordError(err));
    // The peer's FIN (with or without its Close): what is staged goes, then ours.
    socket.on('end', () => {
      this.stage.flush();
      this.flushCorked();
      socket.end();
    });
    socket.on('close', () => {
      this.stage.discard();
      this.socketClosed = true;
      this.decoding = false;
      this.reader.stop();
      if (this.endTimer !== undefined) clearTimeout(this.endTimer);
      this.reportClose();
    });
  }

  /** Bytes held for an incomplete WebSocket frame or message. */
  get pendingFrameBytes(): number {
    return this.reader.bufferedBytes;
  }

  get bufferedAmount(): number {
    return this.tcp.writableLength + this.stage.staged;
  }

  get closed(): boolean {
    return this.ending || this.socketClosed || this.closeReceived || this.tcp.destroyed;
  }

  setHandlers(handlers: ConnectionHandlers): void {
    if (this.handlers !== undefined) throw socketDError('INVALID_ARGUMENT', 'Connection handlers are already set');
    this.handlers = handlers;
    if (this.socketClosed) {
      this.reportClose();
      return;
    }
    this.startReading();
    if (!this.userPaused && this.decoding) this.tcp.resume();
  }

  end(): void {
    if (this.closed) return;
    this.ending = true;
    this.decoding = false;
    this.sendClose(this.closeCode);
    this.flushCorked();
    // Keep reading so the peer's Close is seen and the handshake completes.
    this.startReading();
    this.tcp.resume();
    this.endTimer = setTimeout(() => this.tcp.destroy(), this.endTimeout);
    this.endTimer.unref();
  }

  destroy(err?: Error): void {
    this.decoding = false;
    if (err !== undefined) this.recordError(err, true);
    this.stage.discard();
    if (!this.tcp.destroyed) this.tcp.destroy();
  }

  /** A complete binary message from the reader: one Socket.D frame. */
  private onBinary(payload: Buffer): void {
    this.messaged = true;
    if (!this.decoding) return;
    try {
      this.handlers!.onFrame(decodeFrame(payload, this.maxFrameSize, this.fields));
    } catch (err) {
      this.failDecoding(err);
    }
  }

  /** A control frame from the reader (a throw here is a violation, see onViolation). */
  private onControl(opcode: number, payload: Buffer): void {
    if (opcode === WsOpcode.PING) {
      if (!this.closeSent && this.bufferedAmount <= this.highWaterMark) {
        this.stage.writeControl(WsOpcode.PONG, payload);
        if (this.tcp.writableCorked === 0) this.stage.settle();
      }
      return;
    }
    if (opcode !== WsOpcode.CLOSE) return; // a pong
    if (payload.length === 1) throw wsViolation('BAD_MESSAGE', WsCloseCode.PROTOCOL_ERROR, 'close frame with a 1-byte payload');
    const code = payload.length === 0 ? undefined : payload.readUInt16BE(0);
    if (code !== undefined && !isValidCloseCode(code)) throw wsViolation('BAD_MESSAGE', WsCloseCode.PROTOCOL_ERROR, `invalid close code ${code}`);
    if (payload.length > 2 && !isUtf8(payload.subarray(2))) throw wsViolation('BAD_MESSAGE', WsCloseCode.INVALID_PAYLOAD, 'close reason is not UTF-8');
    this.closeReceived = true;
    this.decoding = false;
    this.reader.stop();
    this.sendClose(code ?? WsCloseCode.NORMAL, code === undefined);
    this.flushCorked();
    this.tcp.end();
    if (this.endTimer === undefined) {
      this.endTimer = setTimeout(() => this.tcp.destroy(), this.endTimeout);
      this.endTimer.unref();
    }
  }

  /** Sends our Close once (empty when answering an empty one). */
  private sendClose(code: number, empty = false): void {
    if (this.closeSent || this.socketClosed) return;
    this.closeSent = true;
    this.stage.writeControl(WsOpcode.CLOSE, empty ? Buffer.alloc(0) : closePayload(code));
  }

  /**
   * The reader refused what arrived. A text message is a Socket.D protocol error (as a binary
   * message that is not one frame). A WebSocket-level violation (framing, or a message over
   * `maxFrameSize`) closes at the WebSocket level, as ws did: the Close with its code (1002,
   * 1007, 1009), and `onClose` with the error (`SOCKETD_ERR_BAD_MESSAGE` / `_FRAME_LENGTH`).
   */
  private onViolation(err: WsViolation): void {
    this.readerFailed = true;
    if (!this.decoding) {
      // Already closing: nothing more to tell.
      this.destroy();
      return;
    }
    if (err.wsCloseCode === WsCloseCode.UNSUPPORTED_DATA) {
      this.closeCode = err.wsCloseCode;
      this.failDecoding(err);
      return;
    }
    this.recordError(err);
    this.decoding = false;
    this.ending = true;
    this.sendClose(err.wsCloseCode ?? WsCloseCode.PROTOCOL_ERROR);
    this.flushCorked();
    this.tcp.end();
    this.tcp.resume();
    this.endTimer = setTimeout(() => this.tcp.destroy(), this.endTimeout);
    this.endTimer.unref();
  }

  private startReading(): void {
    if (this.reading) return;
    this.reading = true;
    this.tcp.on('data', this.onData);
    const head = this.head;
    this.head = undefined;
    if (head !== undefined) this.onData(head);
  }

  protected send(frame: Buffer, cb?: (err?: Error | null) => void): void {
    this.stage.write(frame, cb);
  }

  protected sendParts(head: Buffer, data: Buffer, cb?: (err?: Error | null) => void): void {
    // One single-fragment message, as upstream peers send it. The server stage writes large
    // data as is, after the header and head (no copy); the client's is copied while masked.
    this.stage.writeParts(head, data, cb);
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

  protected pauseSource(): void {
    this.tcp.pause();
  }

  protected resumeSource(): void {
    this.tcp.resume();
  }
}

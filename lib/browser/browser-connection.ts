import { MAX_FRAME_LENGTH } from '../protocol/constants.js';
import { socketDError } from '../protocol/errors.js';
import { decodeFrame } from '../protocol/frame-codec.js';
import { FieldCache } from '../protocol/field-cache.js';
import {
  DEFAULT_HIGH_WATER_MARK,
  DEFAULT_MAX_WRITE_BUFFER_SIZE,
  type Connection,
  type ConnectionHandlers,
  type TransportOptions,
} from '../session/connection.js';
import { WS_OPEN, type BrowserWebSocket } from './web-socket.js';

/** While a write waits for the browser to flush, `bufferedAmount` is polled this often (ms). */
const DRAIN_POLL_MS = 8;
/** After `end()`, the close is reported even if the browser never fires `close` (ms). */
const END_TIMEOUT_MS = 3000;
/** WebSocket close codes that mean an orderly close (1005: the peer sent no code). */
const NORMAL_CLOSES = new Set([1000, 1001, 1005]);

/**
 * A Socket.D connection over the browser's own `WebSocket` (spec section 3.2): one frame per
 * binary message both ways, decoded by the engine's `decodeFrame` (the same codec as Node).
 *
 * What the browser does not give, and what stands in for it:
 * - no 'drain' event: once `write()` returned false, `bufferedAmount` is polled every few ms
 *   and `onDrain` fires when it is back under half the high-water mark;
 * - no way to pause the socket: `pause()` holds received messages in order until `resume()`;
 * - no terminate: `destroy()` starts the close handshake and reports the close at once.
 */
export class BrowserWsConnection implements Connection {
  readonly remoteAddress: string | undefined;
  private handlers: ConnectionHandlers | undefined;
  /** Messages received before `setHandlers()` or while paused, in order. */
  private held: (ArrayBuffer | string)[] = [];
  private paused = false;
  private decoding = true;
  private ending = false;
  /** Reports the close if the WebSocket's close event never comes after `end()`. */
  private endTimer: ReturnType<typeof setTimeout> | undefined;
  private closeReported = false;
  private error: Error | undefined;
  private drainTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly highWaterMark: number;
  private readonly maxWriteBufferSize: number;
  private readonly maxFrameSize: number;
  /** The fields of the last message: a stream's messages repeat them (see `FieldCache`). */
  private readonly fields = new FieldCache();

  constructor(private readonly ws: BrowserWebSocket, remoteAddress: string | undefined, options: TransportOptions = {}) {
    this.remoteAddress = remoteAddress;
    this.highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    this.maxWriteBufferSize = Math.max(options.maxWriteBufferSize ?? DEFAULT_MAX_WRITE_BUFFER_SIZE, this.highWaterMark);
    this.maxFrameSize = options.maxFrameSize ?? MAX_FRAME_LENGTH;
    ws.binaryType = 'arraybuffer';
    ws.addEventListener('message', (event) => {
      if (!this.decoding) return;
      if (this.handlers === undefined || this.paused) this.held.push(event.data);
      else this.handleMessage(event.data);
    });
    ws.addEventListener('close', (event) => {
      this.decoding = false;
      if (!this.ending && !NORMAL_CLOSES.has(event.code)) {
        this.error ??= socketDError('TRANSPORT', `WebSocket to ${remoteAddress ?? '?'} closed with code ${event.code}${event.reason === '' ? '' : ` (${event.reason})`}`);
      }
      this.reportClose();
    });
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  get closed(): boolean {
    return this.ending || this.closeReported || this.ws.readyState !== WS_OPEN;
  }

  setHandlers(handlers: ConnectionHandlers): void {
    if (this.handlers !== undefined) throw socketDError('INVALID_ARGUMENT', 'Connection handlers are already set');
    this.handlers = handlers;
    if (this.ws.readyState > WS_OPEN) {
      this.reportClose();
      return;
    }
    this.deliverHeld();
  }

  write(frame: Uint8Array): boolean {
    if (this.closed) return false;
    const after = this.ws.bufferedAmount + frame.length;
    if (after > this.maxWriteBufferSize) {
      this.destroy(socketDError('WRITE_BUFFER_FULL', `WebSocket write buffer would hold ${after} bytes, over maxWriteBufferSize ${this.maxWriteBufferSize}`));
      return false;
    }
    this.ws.send(frame);
    if (after <= this.highWaterMark) return true;
    this.watchDrain();
    return false;
  }

  writeParts(head: Uint8Array, data: Uint8Array): boolean {
    // One frame per message (spec 3.2): the browser sends a view as one message, so join them.
    const joined = new Uint8Array(head.length + data.length);
    joined.set(head, 0);
    joined.set(data, head.length);
    return this.write(joined as Buffer);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    if (this.handlers !== undefined) this.deliverHeld();
  }

  end(): void {
    if (this.closed) return;
    this.ending = true;
    this.decoding = false;
    this.ws.close(1000);
    this.endTimer = setTimeout(() => this.reportClose(), END_TIMEOUT_MS);
  }

  destroy(err?: Error): void {
    this.decoding = false;
    if (err !== undefined) this.error ??= err;
    this.ending = true;
    if (this.ws.readyState <= WS_OPEN) this.ws.close(1000);
    this.reportClose();
  }

  private deliverHeld(): void {
    while (this.held.length > 0 && !this.paused && this.decoding) this.handleMessage(this.held.shift()!);
  }

  private handleMessage(message: ArrayBuffer | string): void {
    if (typeof message === 'string') {
      this.failDecoding(socketDError('BAD_MESSAGE', 'WebSocket text message received; Socket.D sends one frame per binary message'));
      return;
    }
    try {
      this.handlers!.onFrame(decodeFrame(Buffer.from(message), this.maxFrameSize, this.fields));
    } catch (err) {
      this.failDecoding(err);
    }
  }

  private failDecoding(err: unknown): void {
    this.decoding = false;
    this.held = [];
    this.handlers!.onProtocolError(err as ReturnType<typeof socketDError>);
  }

  private watchDrain(): void {
    if (this.drainTimer !== undefined) return;
    const poll = (): void => {
      this.drainTimer = undefined;
      if (this.closeReported) return;
      if (this.ws.bufferedAmount > this.highWaterMark / 2) this.drainTimer = setTimeout(poll, DRAIN_POLL_MS);
      else this.handlers?.onDrain();
    };
    this.drainTimer = setTimeout(poll, DRAIN_POLL_MS);
  }

  private reportClose(): void {
    if (this.closeReported || this.handlers === undefined) return;
    this.closeReported = true;
    clearTimeout(this.drainTimer);
    clearTimeout(this.endTimer);
    this.handlers.onClose(this.error);
  }
}

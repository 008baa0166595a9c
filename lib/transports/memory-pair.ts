import { decodeFrame } from '../protocol/frame-codec.js';
import { isSocketDError, socketDError } from '../protocol/errors.js';
import type { Frame } from '../protocol/frame.js';
import { STREAM_CAPABILITIES, type Connection, type ConnectionCapabilities, type ConnectionHandlers } from '../session/connection.js';

/** Options of {@link createMemoryPair}, per direction (both ends use the same). */
export interface MemoryPairOptions {
  /** `write()` returns false once more than this many bytes wait for the peer (default 1 MiB). */
  readonly highWaterMark?: number;
  /** Milliseconds between a `write()` and the peer's `onFrame` (default 0: the next macrotask). */
  readonly delayMs?: number;
  /** Largest accepted frame (default 17 MiB): a bigger one is a protocol error at the receiver. */
  readonly maxFrameSize?: number;
  /** What both ends declare (default {@link STREAM_CAPABILITIES}): e.g. a datagram transport's. */
  readonly capabilities?: ConnectionCapabilities;
}

interface InFlight {
  readonly bytes: Buffer;
  readonly dueAt: number;
}

/**
 * One end of an in-memory connection pair: what one side writes reaches the other as whole
 * frames, decoded like a socket's. Bytes count as buffered until the peer took them, so a
 * paused (not reading) peer fills the writer's buffer and `write()` returns false past the
 * high-water mark, as over TCP; `onDrain` follows once the peer read enough.
 */
export class MemoryConnection implements Connection {
  readonly remoteAddress: string;
  readonly capabilities: ConnectionCapabilities;
  peer!: MemoryConnection;
  private handlers: ConnectionHandlers | undefined;
  private readonly inbox: InFlight[] = [];
  private buffered = 0;
  private blocked = false;
  private paused = false;
  private ending = false;
  private isClosed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly highWaterMark: number;
  private readonly delayMs: number;
  private readonly maxFrameSize: number | undefined;
  /** Frames received before `setHandlers`. */
  private early: Frame[] = [];

  constructor(name: string, options: MemoryPairOptions) {
    this.remoteAddress = name;
    this.highWaterMark = options.highWaterMark ?? 1024 * 1024;
    this.delayMs = options.delayMs ?? 0;
    this.maxFrameSize = options.maxFrameSize;
    this.capabilities = options.capabilities ?? STREAM_CAPABILITIES;
  }

  get bufferedAmount(): number { return this.buffered; }
  get closed(): boolean { return this.isClosed; }

  setHandlers(handlers: ConnectionHandlers): void {
    this.handlers = handlers;
    for (const frame of this.early.splice(0)) if (!this.isClosed) handlers.onFrame(frame);
  }

  write(frame: Buffer): boolean {
    if (this.isClosed || this.ending) return false;
    const max = this.capabilities.maxFrameSize;
    if (max !== undefined && frame.length > max) {
      throw socketDError('DATAGRAM_TOO_LARGE', `frame of ${frame.length} bytes is over the ${max} bytes one write can carry`);
    }
    // The caller may reuse its buffer once write() returned, as with a socket.
    const bytes = Buffer.from(frame);
    this.buffered += bytes.length;
    this.peer.receive({ bytes, dueAt: performance.now() + this.delayMs });
    if (this.buffered > this.highWaterMark) this.blocked = true;
    return !this.blocked;
  }

  writeParts(head: Buffer, data: Buffer): boolean {
    return this.write(Buffer.concat([head, data]));
  }

  pause(): void { this.paused = true; }

  resume(): void {
    this.paused = false;
    this.schedule();
  }

  end(): void {
    if (this.isClosed || this.ending) return;
    this.ending = true;
    // The peer closes once it took everything written before this end().
    this.peer.receive({ bytes: END, dueAt: performance.now() + this.delayMs });
  }

  destroy(err?: Error): void {
    if (this.isClosed) return;
    this.shutdown(err);
    this.peer.shutdown();
  }

  private receive(item: InFlight): void {
    this.inbox.push(item);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== undefined || this.paused || this.isClosed || this.inbox.length === 0) return;
    const wait = Math.max(0, this.inbox[0]!.dueAt - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.deliver();
    }, wait);
  }

  /** Hands every due frame to the handlers, like one socket read. */
  private deliver(): void {
    const now = performance.now();
    while (!this.paused && !this.isClosed && this.inbox.length > 0 && this.inbox[0]!.dueAt <= now) {
      const { bytes } = this.inbox.shift()!;
      if (bytes === END) {
        this.shutdown();
        this.peer.shutdown();
        return;
      }
      this.peer.taken(bytes.length);
      let frame: Frame;
      try {
        frame = decodeFrame(bytes, this.maxFrameSize);
      } catch (err) {
        if (!isSocketDError(err)) throw err;
        this.paused = true;
        this.handlers?.onProtocolError(err);
        return;
      }
      if (this.handlers === undefined) this.early.push(frame);
      else this.handlers.onFrame(frame);
    }
    this.schedule();
  }

  /** The peer read `bytes` of what this end wrote. */
  private taken(bytes: number): void {
    this.buffered -= bytes;
    if (this.blocked && this.buffered <= this.highWaterMark / 2 && !this.isClosed) {
      this.blocked = false;
      this.handlers?.onDrain();
    }
  }

  private shutdown(err?: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.inbox.length = 0;
    this.buffered = 0;
    this.handlers?.onClose(err);
  }
}

/** The end-of-stream marker queued by `end()`. */
const END = Buffer.alloc(0);

/**
 * Two connected in-memory connections `[client, server]`, implementing the Connection contract
 * without a socket: for unit tests of sessions (deadlines, held frames, stream tables, close
 * ordering) with configurable backpressure and delay.
 */
export function createMemoryPair(options: MemoryPairOptions = {}): [MemoryConnection, MemoryConnection] {
  const client = new MemoryConnection('memory:server', options);
  const server = new MemoryConnection('memory:client', options);
  client.peer = server;
  server.peer = client;
  return [client, server];
}

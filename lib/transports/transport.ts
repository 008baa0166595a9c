import type { Frame } from '../protocol/frame.js';
import type { SocketDError } from '../protocol/errors.js';

/**
 * The transport contract: interfaces only. A transport turns bytes into whole frames and
 * whole encoded frames into bytes; it knows nothing of sessions, handshakes or streams.
 */

/** What a connection reports to the session that owns it. */
export interface ConnectionHandlers {
  /** One decoded frame. Called synchronously for every frame of a received chunk. */
  onFrame(frame: Frame): void;
  /**
   * The bytes received break the framing (the error's `closeCode` is 1002). The connection
   * stops decoding; the session sends Close 1002 if it can and then destroys the connection.
   */
  onProtocolError(err: SocketDError): void;
  /** The write buffer fell back below the low-water mark after `write()` returned false. */
  onDrain(): void;
  /** The transport is gone (either side). Called once. `err` when it failed. */
  onClose(err?: Error): void;
}

/** One transport connection (a TCP socket or a WebSocket), both sides. */
export interface Connection {
  /** `ip:port` of the peer when known. */
  readonly remoteAddress: string | undefined;
  /** Bytes accepted by `write()` and not yet handed to the OS. */
  readonly bufferedAmount: number;
  /** True once closed or destroyed. */
  readonly closed: boolean;
  /** Attaches the session's handlers; frames received before this are held. */
  setHandlers(handlers: ConnectionHandlers): void;
  /**
   * Writes one whole encoded frame (never part of one). Frames written in the same tick
   * leave in as few syscalls as possible. Returns false once `bufferedAmount` is above the
   * high-water mark: the caller should wait for `onDrain` before writing more.
   */
  write(frame: Buffer): boolean;
  /**
   * Writes one frame given as its encoded head (`encodeFrameHead`) and its data, back to back
   * and whole. TCP writes both in one writev without joining them, so large data is not
   * copied; WebSocket joins them into one message. The data must not be modified until it
   * was flushed. Same return value as `write()`.
   */
  writeParts(head: Buffer, data: Buffer): boolean;
  /** Stops reading from the peer (the socket's receive window fills up). */
  pause(): void;
  /** Resumes reading. */
  resume(): void;
  /** Flushes what was written, then closes. */
  end(): void;
  /** Closes at once, dropping unsent bytes. */
  destroy(err?: Error): void;
}

/** Options common to every transport. */
export interface TransportOptions {
  /** Largest accepted frame length (default and maximum: 17 MiB). */
  maxFrameSize?: number;
  /** `write()` returns false above this many buffered bytes (default 1 MiB). */
  highWaterMark?: number;
}

/** Dials a server. */
export interface ClientTransport {
  /** Opens a connection to the URL; rejects with a `SocketDError` (TRANSPORT) on failure. */
  connect(url: ParsedUrl, options: TransportOptions & { connectTimeout: number }): Promise<Connection>;
}

/** Accepts connections. */
export interface ServerTransport {
  /** Starts listening; every accepted connection goes to `onConnection`. */
  listen(onConnection: (connection: Connection) => void): Promise<void>;
  /** Stops accepting new connections (existing ones stay up). */
  close(): Promise<void>;
  /** The bound address, once listening. */
  address(): { host: string; port: number } | undefined;
  /** The native server (`net.Server`, `ws.WebSocketServer`). */
  unwrap(): unknown;
}

/** A parsed `[sd:]<schema>://host[:port][/path][?query]` URL (spec section 3.4). */
export interface ParsedUrl {
  /** Transport schema without the `sd:` prefix: `tcp`, `ws` or `wss`. */
  readonly schema: string;
  /** The URL without `sd:`, verbatim: sent in Connect and dialled by WebSocket clients. */
  readonly linkUrl: string;
  readonly host: string;
  /** The URL's port, or 8602. */
  readonly port: number;
  /** URL path, `/` when empty. */
  readonly path: string;
  /** Raw query string without `?` (may be empty). */
  readonly query: string;
}

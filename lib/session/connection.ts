import type { Frame } from '../protocol/frame.js';
import type { SocketDError } from '../protocol/errors.js';

/**
 * The Connection contract, owned by the session layer that uses it. A transport (the ones the
 * package ships, or one of the user's) implements these interfaces and is registered by schema
 * (`registerTransport`) or handed in (`transports` option); it turns bytes into whole frames
 * and whole encoded frames into bytes, and knows nothing of sessions, handshakes or streams.
 *
 * The contract knows frames, backpressure, pause/resume and close. What differs between
 * transports is declared, not named: a connection's {@link ConnectionCapabilities}, and the
 * options a transport takes beyond {@link TransportOptions}, which the transports add to
 * {@link TransportClientOptions} / {@link TransportServerOptions} (declaration merging) and
 * the session passes through untouched.
 */

/** Default `highWaterMark`: `write()` returns false above 1 MiB buffered. */
export const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;
/** Default `maxWriteBufferSize`: a write that would queue more than 80 MiB drops the connection. */
export const DEFAULT_MAX_WRITE_BUFFER_SIZE = 80 * 1024 * 1024;
/** Default `frameTimeout`: a frame must arrive whole within 30 s of its first byte. */
export const DEFAULT_FRAME_TIMEOUT = 30_000;
/** Default `maxPendingFrameBytes`: bytes of partial frames one server buffers, all connections together. */
export const DEFAULT_MAX_PENDING_FRAME_BYTES = 256 * 1024 * 1024;
/** Default `memoryBudget`: bytes one server holds for its peers, all connections together. */
export const DEFAULT_MEMORY_BUDGET = 256 * 1024 * 1024;
/** Default `memoryBudgetPerAddress`: the share of the budget the connections of one remote IP may hold. */
export const DEFAULT_MEMORY_BUDGET_PER_ADDRESS = 128 * 1024 * 1024;
/**
 * Default `memoryBudgetPerConnection`: one connection's share. Room for the largest default
 * message (`maxMessageSize` 64 MiB) being reassembled while its last 16 MiB fragment arrives.
 */
export const DEFAULT_MEMORY_BUDGET_PER_CONNECTION = 96 * 1024 * 1024;

/** Default `handshakeTimeout`: from the accepted socket to the Connack, 10 s. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;
/** Default `maxConnectionsPerAddress`: open connections from one remote IP. */
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 256;

/** What a connection can carry; the session adapts to it and never asks which transport it is. */
export interface ConnectionCapabilities {
  /**
   * True when every write is one datagram (spec 3.3): frames are never fragmented on this
   * connection, and a frame over `maxFrameSize` fails its call (`SOCKETD_ERR_DATAGRAM_TOO_LARGE`).
   */
  readonly datagram: boolean;
  /**
   * The largest encoded frame one write can carry. `write()`/`writeParts()` throw
   * `SOCKETD_ERR_DATAGRAM_TOO_LARGE` (nothing sent) for a bigger one; the session checks it
   * first. Undefined: any frame up to the protocol's 17 MiB.
   */
  readonly maxFrameSize?: number;
}

/** The capabilities of a byte-stream connection: it fragments, any frame size. */
export const STREAM_CAPABILITIES: ConnectionCapabilities = Object.freeze({ datagram: false });

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
  /** What this connection can carry; absent means {@link STREAM_CAPABILITIES}. */
  readonly capabilities?: ConnectionCapabilities;
  /**
   * Server side: when the transport accepted the connection (`performance.now()` ms), before
   * any transport-level handshake such as the WebSocket upgrade. The session's handshake
   * timeout counts from here. Undefined on client connections.
   */
  readonly acceptedAt?: number;
  /**
   * Server side: this connection's account in the server's memory budget (its partial frame
   * and queued writes are charged there by the transport; the session charges fragments and
   * open streams). Closed by the transport when the connection closes. Undefined on clients.
   */
  readonly memory?: ConnectionMemory;
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

/**
 * A connection's draw on its server's memory budget (`MemoryBudget` in memory-budget.ts):
 * O(1) integer arithmetic, no allocation.
 */
export interface ConnectionMemory {
  /** Bytes this connection holds now. */
  readonly used: number;
  /** Takes `n` more bytes; false, taking nothing, when there is no room. */
  take(n: number): boolean;
  /** Gives back `n` bytes taken before (nothing once closed). */
  give(n: number): void;
  /** True when `n` more bytes would fit now (nothing is taken). */
  fits(n: number): boolean;
  /** Bytes left in this connection's own share (whatever its address and the server have left). */
  shareLeft(): number;
  /** Names what would refuse `n` more bytes, for an error message. */
  describeRefusal(n: number): string;
  /** The connection closed: gives back everything it held. */
  close(): void;
}

/** A server's memory budget as its transports see it: one account per accepted connection. */
export interface ServerMemory {
  /** Opens the account of one connection from `ip`. */
  open(ip: string | undefined): ConnectionMemory;
}

/** Options common to every transport. */
export interface TransportOptions {
  /** Largest accepted frame length (default and maximum: 17 MiB). */
  maxFrameSize?: number;
  /** `write()` returns false above this many buffered bytes (default 1 MiB). */
  highWaterMark?: number;
  /**
   * Hard cap on bytes queued for writing (default 80 MiB; at least `highWaterMark`). A write
   * that would pass it drops the connection (`SOCKETD_ERR_WRITE_BUFFER_FULL`, close 1002).
   */
  maxWriteBufferSize?: number;
  /**
   * Milliseconds a frame may take from its first byte to its last (default 30 000). Past it
   * the connection closes with 1002 (`SOCKETD_ERR_FRAME_TIMEOUT`).
   */
  frameTimeout?: number;
}

/**
 * Options of client transports beyond {@link TransportOptions}. Empty here: each transport
 * declares its own keys by declaration merging (lib/transports/transport-options.ts adds
 * `tls`, `maxDatagramSize`, ...). `ClientOptions` extends it, so those keys stay where users
 * put them; the session hands them to the transport's `connect()` untouched.
 */
export interface TransportClientOptions {}

/**
 * Options of server transports beyond {@link TransportOptions}, declared by the transports
 * as {@link TransportClientOptions} is (`tls`, `httpServer`, `requireSubprotocol`, ...).
 * `ServerOptions` extends it; the session passes them through untouched.
 */
export interface TransportServerOptions {}

/** Where a server transport reports what it cannot put on a connection. */
export interface TransportLogger {
  warn(message: string): void;
}

/** What a client session hands its transport's `connect()`. */
export interface ClientConnectOptions extends TransportOptions, TransportClientOptions {
  /** Milliseconds for the whole transport connect (DNS, TCP, TLS, upgrade). */
  connectTimeout: number;
}

/** What a server hands its transport; each transport ignores what does not apply to it. */
export interface ServerTransportOptions extends TransportOptions, TransportServerOptions {
  /** Connections accepted at once; further ones are refused. */
  maxConnections?: number;
  /** Open connections from one remote IP; further ones are refused (default 256). */
  maxConnectionsPerAddress?: number;
  /**
   * Bytes of partial frames buffered over all the server's connections (default 256 MiB).
   * The connection that would pass it closes with 1002 (`SOCKETD_ERR_PENDING_FRAME_BYTES`).
   */
  maxPendingFrameBytes?: number;
  /**
   * The server's memory budget: each accepted connection draws from it through its own
   * account (`Connection.memory`, opened with the socket's remote IP).
   */
  budget?: ServerMemory;
  /**
   * Milliseconds from the accepted socket to the end of the transport's own handshake (a
   * WebSocket upgrade, a TLS handshake); the session's handshake timeout then covers the rest up to the Connack.
   */
  handshakeTimeout?: number;
  /** Refused connections are logged here (one line each). */
  logger?: TransportLogger;
  /** An error of the listening server after `listen()` resolved (e.g. EMFILE on accept). */
  onError?(err: Error): void;
}

/** Dials a server. */
export interface ClientTransport {
  /** Opens a connection to the URL; rejects with a `SocketDError` (TRANSPORT) on failure. */
  connect(url: ParsedUrl, options: ClientConnectOptions): Promise<Connection>;
}

/** Accepts connections. */
export interface ServerTransport {
  /** Starts listening; every accepted connection goes to `onConnection`. */
  listen(onConnection: (connection: Connection) => void): Promise<void>;
  /** Stops accepting new connections (existing ones stay up). */
  close(): Promise<void>;
  /** The bound address, once listening. */
  address(): { host: string; port: number } | undefined;
  /** The native server the transport runs on (typed by each transport). */
  unwrap(): unknown;
  /** Counters of the transport, when it keeps any (datagrams dropped, Connects refused, ...). */
  stats?(): Readonly<Record<string, number>>;
}

/**
 * One transport, as registered: its schema, the aliases that name it in URLs, its client and
 * how to build its server.
 */
export interface Transport {
  /** Canonical schema (lower case, without `sd:`), as in URLs. */
  readonly schema: string;
  /** Other schemas that mean this transport (upstream's implementation-named aliases). */
  readonly aliases?: readonly string[];
  /** Dials this transport's URLs. Shared by every client: keep no per-connection state in it. */
  readonly client: ClientTransport;
  /**
   * True when `createServer()` honours a `tls` server option. `SdServer` refuses a `tls`
   * option for a transport without it, so a server never runs in plain text while configured
   * for TLS.
   */
  readonly serverTls?: boolean;
  /** Appended to that refusal: how this transport serves TLS instead, if it can. */
  readonly serverTlsHint?: string;
  /**
   * A server bound to `url.host:url.port` (port 0 = a free one). May throw a `SocketDError`
   * (`SOCKETD_ERR_INVALID_ARGUMENT`) for options it cannot work with.
   */
  createServer(url: ParsedUrl, options: ServerTransportOptions): ServerTransport;
}

/** A parsed `[sd:]<schema>://host[:port][/path][?query]` URL (spec section 3.4). */
export interface ParsedUrl {
  /** Canonical transport schema without the `sd:` prefix. */
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

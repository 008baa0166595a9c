import type { Frame } from '../protocol/frame.js';
import type { SocketDError } from '../protocol/errors.js';

import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { ConnectionOptions as TlsConnectionOptions, TlsOptions } from 'node:tls';

/**
 * The Connection contract, owned by the session layer that uses it. A transport (tcp, ws,
 * or one of the user's) implements these interfaces and is registered by schema
 * (`registerTransport`); it turns bytes into whole frames and whole encoded frames into
 * bytes, and knows nothing of sessions, handshakes or streams.
 */

/** Default `highWaterMark`: `write()` returns false above 1 MiB buffered. */
export const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;
/** Default `maxWriteBufferSize`: a write that would queue more than 80 MiB drops the connection. */
export const DEFAULT_MAX_WRITE_BUFFER_SIZE = 80 * 1024 * 1024;
/** Default `frameTimeout`: a frame must arrive whole within 30 s of its first byte. */
export const DEFAULT_FRAME_TIMEOUT = 30_000;
/** Default `maxPendingFrameBytes`: bytes of partial frames one server buffers, all connections together. */
export const DEFAULT_MAX_PENDING_FRAME_BYTES = 256 * 1024 * 1024;
/** Default `handshakeTimeout`: from the accepted socket to the Connack, 10 s. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;
/** Default `maxConnectionsPerAddress`: open connections from one remote IP. */
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 256;
/** Default `maxDatagramSize` of `sd:udp`: upstream's receive buffer (`maxUdpSize`, spec 3.3 and 11). */
export const DEFAULT_MAX_DATAGRAM_SIZE = 2048;
/** Largest `maxDatagramSize`: the largest UDP payload over IPv4. */
export const MAX_DATAGRAM_SIZE = 65_507;

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
  /**
   * Datagram transports (`sd:udp`) only: the largest frame one write can carry. When set,
   * sessions do not fragment on this connection (spec 3.3), and `write()`/`writeParts()`
   * throw `SOCKETD_ERR_DATAGRAM_TOO_LARGE` (nothing sent) for a bigger frame.
   */
  readonly maxDatagramSize?: number;
  /**
   * Server side: when the transport accepted the connection (`performance.now()` ms), before
   * any transport-level handshake such as the WebSocket upgrade. The session's handshake
   * timeout counts from here. Undefined on client connections.
   */
  readonly acceptedAt?: number;
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
  /**
   * Datagram transports (`sd:udp`): the largest datagram sent or accepted, in bytes (default
   * 2048, as upstream; at most 65 507). Bigger received datagrams are dropped (counted).
   */
  maxDatagramSize?: number;
}

/** Where a server transport reports what it cannot put on a connection. */
export interface TransportLogger {
  warn(message: string): void;
}

/**
 * TLS settings of a client (`wss`, `tcps`, or `tcp` with TLS): all optional. `ca` to trust a
 * private CA, `cert`/`key` (or `pfx`) for a client certificate, `servername` for the name the
 * server's certificate must carry when it is not the URL's host.
 */
export type TlsClientOptions = Pick<TlsConnectionOptions, 'ca' | 'cert' | 'key' | 'pfx' | 'passphrase' | 'rejectUnauthorized' | 'servername' | 'checkServerIdentity' | 'minVersion' | 'maxVersion' | 'ciphers'>;

/**
 * TLS settings of a tcp server (node:tls `TlsOptions`): `key` + `cert` (or `pfx`, or a
 * `secureContext`/`SNICallback`) are required; `ca` + `requestCert` + `rejectUnauthorized`
 * ask for and check client certificates (mutual TLS).
 */
export type TlsServerOptions = Pick<TlsOptions, 'key' | 'cert' | 'ca' | 'pfx' | 'passphrase' | 'crl' | 'requestCert' | 'rejectUnauthorized' | 'ciphers' | 'minVersion' | 'maxVersion' | 'ecdhCurve' | 'secureContext' | 'SNICallback' | 'sessionTimeout'>;

/** What a client session hands its transport's `connect()`. */
export interface ClientConnectOptions extends TransportOptions {
  /** Milliseconds for the whole transport connect (DNS, TCP, TLS, upgrade). */
  connectTimeout: number;
  /**
   * TLS settings for TLS transports (`wss`, `tcps`; `tcp` dials TLS when they are given);
   * others ignore them.
   */
  tls?: TlsClientOptions;
}

/** What a server hands its transport; each transport ignores what does not apply to it. */
export interface ServerTransportOptions extends TransportOptions {
  /** Connections accepted at once; further ones are refused. */
  maxConnections?: number;
  /** WebSocket: refuse upgrades that do not offer the `Socket.D` subprotocol. */
  requireSubprotocol?: boolean;
  /** WebSocket: attach to this HTTP(S) server instead of opening a port. */
  httpServer?: HttpServer | HttpsServer;
  /**
   * tcp/tcps: serve TLS with these settings. Only transports registered with `serverTls`
   * get it (`SdServer` refuses it for others rather than serve plain text).
   */
  tls?: TlsServerOptions;
  /** Open connections from one remote IP; further ones are refused (default 256). */
  maxConnectionsPerAddress?: number;
  /**
   * Bytes of partial frames buffered over all the server's connections (default 256 MiB).
   * The connection that would pass it closes with 1002 (`SOCKETD_ERR_PENDING_FRAME_BYTES`).
   */
  maxPendingFrameBytes?: number;
  /**
   * Milliseconds from the accepted socket to the end of the transport's own handshake (the
   * WebSocket upgrade); the session's handshake timeout then covers the rest up to the Connack.
   */
  handshakeTimeout?: number;
  /**
   * `sd:udp`: also accept clients whose Connect does not ask for a udp token (upstream peers),
   * trusting their source address (default false: refused with Close 1001).
   */
  udpAllowTokenless?: boolean;
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
  /** The native server (`net.Server`, `ws.WebSocketServer`, `dgram.Socket`). */
  unwrap(): unknown;
  /** Counters of the transport, when it keeps any (`sd:udp`: datagrams dropped, Connects refused, ...). */
  stats?(): Readonly<Record<string, number>>;
}

/**
 * One transport, as registered: its schema, the aliases that name it in URLs, its client and
 * how to build its server.
 */
export interface Transport {
  /** Canonical schema (lower case, without `sd:`): `tcp`, `ws`, `wss`, ... */
  readonly schema: string;
  /** Other schemas that mean this transport (e.g. `tcp-java`, `tcp-netty`). */
  readonly aliases?: readonly string[];
  /** Dials this transport's URLs. Shared by every client: keep no per-connection state in it. */
  readonly client: ClientTransport;
  /**
   * True when `createServer()` honours `ServerTransportOptions.tls`. `SdServer` refuses a `tls`
   * option for a transport without it, so a server never runs in plain text while configured
   * for TLS.
   */
  readonly serverTls?: boolean;
  /**
   * A server bound to `url.host:url.port` (port 0 = a free one). May throw a `SocketDError`
   * (`SOCKETD_ERR_INVALID_ARGUMENT`) for options it cannot work with.
   */
  createServer(url: ParsedUrl, options: ServerTransportOptions): ServerTransport;
}

/** A parsed `[sd:]<schema>://host[:port][/path][?query]` URL (spec section 3.4). */
export interface ParsedUrl {
  /** Canonical transport schema without the `sd:` prefix (`tcp`, `ws`, `wss`, ...). */
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

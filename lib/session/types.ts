import type { Flag } from '../protocol/flags.js';

import type { Metas } from '../protocol/metas.js';
import type { TlsClientOptions, TlsServerOptions } from './connection.js';
/** Metadata of a message: `k=v` pairs (spec section 4). */
export type { Metas };

/** Payload accepted by every send: bytes as they are, strings as UTF-8. */
export type Payload = Buffer | Uint8Array | string;

/** A logger the engine reports through (Nest's `Logger` fits). Default: warnings and errors to stderr. */
export interface EngineLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string, stack?: string): void;
  debug?(message: string): void;
}

/** The handshake as the server sees it (spec section 6.1), and as the client sees the Connack. */
export interface Handshake {
  /** The link URL from the Connect frame, e.g. `tcp://127.0.0.1:8602/path?u=a`. */
  readonly url: string;
  /** Its path, `/` when empty. */
  readonly path: string;
  /** Query parameters (percent-decoded, `+` kept) merged with the Connect metas, metas winning. */
  readonly params: Readonly<Metas>;
  /** The peer's `Socket.D` meta (`1.0` for Java/JS, `2.5.13` for Python). Never checked. */
  readonly version: string | undefined;
}

/** A received Message, Request, Subscribe, Reply or ReplyEnd (fragments already reassembled). */
export interface ReceivedMessage {
  readonly flag: Flag;
  readonly sid: string;
  readonly event: string;
  /** Raw meta string as received. */
  readonly metaString: string;
  /** Parsed metas (parsed once, on first access). */
  readonly metas: Readonly<Metas>;
  readonly data: Buffer;
  /** One meta, or undefined. */
  meta(name: string): string | undefined;
  /** Data as UTF-8 text. */
  dataAsString(): string;
  /** True for Request and Subscribe: the peer waits for an answer. */
  readonly isRequest: boolean;
  readonly isSubscribe: boolean;
  /**
   * For a received Request/Subscribe: true once the requester cancelled it (see `onCancel`),
   * or it was answered to the end, or the session closed.
   */
  readonly isDone: boolean;
  /**
   * For a received Request/Subscribe: runs `fn` once if the requester cancels the stream
   * (an Alarm on its sid) or the session closes before the stream is answered to the end.
   */
  onCancel(fn: () => void): void;
  /**
   * For a received Request/Subscribe: runs `fn` with each Alarm the requester sends on the
   * stream that is not a cancel (a cancel carries meta `X-Cancel`; it runs `onCancel` hooks
   * instead). Such an Alarm leaves the stream open.
   */
  onAlarm(fn: (alarm: ReceivedMessage) => void): void;
}

/** Options of one outgoing Message, Request or Subscribe. */
export interface SendOptions {
  /** Metas, or an already serialised meta string (`k=v&k2=v2`) when the same ones are sent often. */
  metas?: Metas | string;
}

export interface RequestOptions extends SendOptions {
  /**
   * Milliseconds until the request fails with SOCKETD_ERR_TIMEOUT. Default: the session's
   * `requestTimeout` (Request) or `streamTimeout` (Subscribe). 0 = that default, negative =
   * `streamTimeout` (as upstream). An integer: anything else (NaN, 1.5, Infinity) throws
   * SOCKETD_ERR_INVALID_ARGUMENT.
   */
  timeout?: number;
  /**
   * Milliseconds to the first Reply, ReplyEnd or Alarm of a Subscribe (a Request's first
   * answer is its end: use `timeout`). When it passes first, the stream is cancelled at the
   * peer and fails with SOCKETD_ERR_TIMEOUT, `details.bound` `'firstReply'` (`'end'` for
   * `timeout`). Default 0: no such bound. An integer >= 0, else SOCKETD_ERR_INVALID_ARGUMENT.
   */
  firstReplyTimeout?: number;
}

/** Callbacks of one outgoing Subscribe (also usable for a Request: see `Session.stream`). */
export interface StreamObserver {
  /**
   * Each value: every Reply, and a ReplyEnd that carries data (its last value, as upstream
   * peers may send it; `reply.flag` tells). For a Request, its one Reply or ReplyEnd.
   */
  next(reply: ReceivedMessage): void;
  /**
   * The stream ended. `end` is the ReplyEnd when it carried no data (for its metas), and
   * undefined when its data went to `next` just before, or when a Request's answer ended it.
   * It never carries a value: every value reaches `next` exactly once.
   */
  complete(end: ReceivedMessage | undefined): void;
  /** An Alarm (SOCKETD_ERR_ALARM), a timeout, or the connection closed. */
  error(err: Error): void;
}

/** A pending outgoing stream. */
export interface StreamHandle {
  readonly sid: string;
  /**
   * Forget the stream locally and tell the responder (an Alarm with the stream's sid and meta
   * `X-Cancel=1`; upstream peers hand such an Alarm to their error hook and carry on).
   */
  cancel(): void;
}

/** Session state (spec section 6.2). */
export type SessionState = 'handshaking' | 'open' | 'closing' | 'closed';

/**
 * One handshaken connection. Both ends may start any exchange.
 *
 * Every send returns false when the transport's buffer is above its high-water mark; the
 * frame was still queued. Wait for `drain()` before sending more to respect backpressure.
 */
export interface Session {
  /** Local random id of this session (not on the wire). */
  readonly id: string;
  readonly state: SessionState;
  /** True while open (not closing or closed). */
  readonly isOpen: boolean;
  readonly handshake: Handshake;
  readonly remoteAddress: string | undefined;
  /** Bytes queued in the transport. */
  readonly bufferedAmount: number;
  /** Code the session closed with (set once closed). */
  readonly closeCode: number | undefined;
  /** Free-form per-session storage for the application. */
  readonly attrs: Map<string, unknown>;

  /** Message: fire-and-forget. */
  send(event: string, data?: Payload, options?: SendOptions): boolean;
  /** Request: resolves with the first Reply or ReplyEnd. */
  request(event: string, data?: Payload, options?: RequestOptions): Promise<ReceivedMessage>;
  /** Subscribe: Reply... then ReplyEnd; every value (a ReplyEnd's data too) reaches `observer.next`. */
  subscribe(event: string, data: Payload | undefined, observer: StreamObserver, options?: RequestOptions): StreamHandle;
  /** Request with a streaming observer (used when a peer may answer with several Replies). */
  stream(kind: 'request' | 'subscribe', event: string, data: Payload | undefined, observer: StreamObserver, options?: RequestOptions): StreamHandle;

  /** Reply to a received Request/Subscribe (completes a Request). `metas` may be a serialised meta string. */
  reply(to: ReceivedMessage, data?: Payload, metas?: Metas | string): boolean;
  /** Last reply to a received Request/Subscribe. */
  replyEnd(to: ReceivedMessage, data?: Payload, metas?: Metas | string): boolean;
  /** Alarm about a received message: fails the requester's stream with `text`. */
  alarm(to: ReceivedMessage, text: string, metas?: Metas | string): boolean;

  /** Resolves once the transport's buffer is below its low-water mark (at once if it is). */
  drain(): Promise<void>;
  /**
   * Stops handling (and reading) the peer's frames until `until` settles; frames already read
   * wait in order. Optional: sessions of this engine have it (a broker passes a slow target's
   * backpressure on to the peer that feeds it).
   */
  pauseUntil?(until: Promise<unknown>): void;
  /**
   * Close code 1000: ask the peer to start no new exchanges; this side starts none either
   * (the session turns `closing`). Resolves once the peer has read it (its Pong to the Ping
   * sent after the Close) or the session closed; later Requests from the peer get an Alarm.
   */
  preclose(): Promise<void>;
  /** Close code 1001 (or `code`), then close the transport once flushed. */
  close(code?: number): void;
  /** Close listeners: the code and, for failures, the error. */
  onClose(fn: (code: number, err?: Error) => void): void;
}

/** What an application plugs into a session (server or client side). */
export interface SessionListener {
  /** The session is open (after Connack). Sends from here reach the peer after the Connack. */
  onOpen?(session: Session): void;
  /**
   * A Message, Request or Subscribe from the peer. Answer with `session.reply/replyEnd/alarm`.
   * A handler that throws (or whose promise rejects) is logged, and a Request/Subscribe it
   * was handling fails on the requester's side with an Alarm carrying the error's message.
   */
  onMessage?(session: Session, message: ReceivedMessage): unknown;
  /** A Reply/ReplyEnd for no pending stream (late, duplicate or answering a Message). */
  onOrphanReply?(session: Session, message: ReceivedMessage): void;
  /** An Alarm for no pending stream, or a Pressure frame. */
  onAlarm?(session: Session, message: ReceivedMessage): void;
  /** Close code 1000 from the peer: it will close soon. */
  onClosing?(session: Session): void;
  /** The session closed. */
  onClose?(session: Session, code: number, err?: Error): void;
}

/** Options shared by both ends. */
export interface SessionOptions {
  /** Milliseconds a Request waits for its answer. Default 10 000. */
  requestTimeout?: number;
  /** Milliseconds a Subscribe waits for its ReplyEnd. Default 7 200 000 (2 h). */
  streamTimeout?: number;
  /** Close after this many milliseconds without any inbound frame; 0 disables. Default 60 000. */
  idleTimeout?: number;
  /** Payloads above this many bytes are fragmented; 1 KiB..16 MiB. Default 16 MiB. */
  fragmentSize?: number;
  /** Largest reassembled message accepted. Default 64 MiB. */
  maxMessageSize?: number;
  /** Largest total of declared bytes of messages being reassembled per session. Default 128 MiB. */
  maxPendingFragmentBytes?: number;
  /** Largest frame accepted (default and maximum 17 MiB). */
  maxFrameSize?: number;
  /** Outgoing streams pending per session before new ones fail. Default 65 536. */
  maxPendingStreams?: number;
  /** Incoming Request/Subscribe streams unanswered per session before the peer is dropped. Default 65 536. */
  maxInboundStreams?: number;
  /** Transport high-water mark in bytes: sends return false above it. Default 1 MiB. */
  highWaterMark?: number;
  /**
   * Hard cap on bytes queued for writing per connection (at least `highWaterMark`). A send
   * that would pass it drops the connection: SOCKETD_ERR_WRITE_BUFFER_FULL (close 1002).
   * Default 80 MiB.
   */
  maxWriteBufferSize?: number;
  /**
   * Milliseconds from a frame's first byte to its last; past it the connection closes with
   * 1002 (SOCKETD_ERR_FRAME_TIMEOUT). Default 30 000.
   */
  frameTimeout?: number;
  /**
   * `sd:udp` only: the largest datagram sent or accepted, in bytes, 64..65 507. Default 2048
   * (upstream's `maxUdpSize`). Over udp a frame is never fragmented: a send, request or reply
   * whose frame would be longer fails alone with SOCKETD_ERR_DATAGRAM_TOO_LARGE (nothing sent),
   * and longer datagrams received are dropped (counted in the server's `transportStats()`).
   */
  maxDatagramSize?: number;
  /**
   * Engine logger. Default: warnings and errors to `process.stderr` (debug off); `false`
   * silences the engine.
   */
  logger?: EngineLogger | false;
}

/** Options of `SdServer` / `listen()`. */
export interface ServerOptions extends SessionOptions, SessionListener {
  /**
   * Runs on each Connect before the Connack. Return false, or throw, to refuse the client
   * (Close 1001; its connect fails with SOCKETD_ERR_HANDSHAKE_REJECTED). Entries added to
   * `outMetas` travel in the Connack.
   */
  onHandshake?(handshake: Handshake, outMetas: Metas, remoteAddress: string | undefined): boolean | void | Promise<boolean | void>;
  /** Milliseconds a new connection has to complete the handshake. Default 10 000. */
  handshakeTimeout?: number;
  /** WebSocket: refuse upgrades that do not offer the `Socket.D` subprotocol. Default true. */
  requireSubprotocol?: boolean;
  /** WebSocket: attach to this `http.Server` (or `https.Server`) instead of opening a port. */
  httpServer?: import('node:http').Server | import('node:https').Server;
  /**
   * `sd:tcp` / `sd:tcps`: serve TLS (node:tls options: `key` + `cert` or `pfx`; `ca`,
   * `requestCert: true` and `rejectUnauthorized: true` for client certificates). Frames are
   * the same inside TLS. Required by `sd:tcps`; refused by transports that cannot serve TLS
   * (for wss pass an `https.Server` as `httpServer`). Default: none (plain tcp).
   */
  tls?: TlsServerOptions;
  /**
   * Connections accepted at once; further ones are refused (and logged). Default 10 000.
   * Over `sd:udp` it bounds the sessions (remote addresses); a tenth of it (at least 16) holds
   * the half-open ones (whose client has not echoed its udp token yet), and a new Connect
   * evicts the oldest of those first. Connects beyond proven sessions are ignored and counted
   * (`transportStats().refusedConnects`).
   */
  maxConnections?: number;
  /**
   * Open connections from one remote IP; further ones are refused (and logged). Default 256.
   * Over `sd:udp`: proven sessions from one IP (any port).
   */
  maxConnectionsPerAddress?: number;
  /**
   * Bytes of partial frames buffered over all the server's connections; the connection that
   * would pass it closes with 1002 (SOCKETD_ERR_PENDING_FRAME_BYTES). Default 256 MiB.
   */
  maxPendingFrameBytes?: number;
  /**
   * `sd:udp`: also accept clients that do not carry a udp token (upstream Java peers), trusting
   * their source address: a forged datagram can then close or act in their session, and their
   * Connects are not held apart from proven ones. Trusted networks only. Default false: such a
   * Connect gets Close 1001 (counted in `transportStats().refusedTokenless`, logged).
   */
  udpAllowTokenless?: boolean;
  /** An error of the listening server after `listen()` (logged through `logger` too). */
  onError?(err: Error): void;
}

/** Client connection status, as pushed to status listeners. */
export type ClientStatus = 'connecting' | 'connected' | 'disconnected' | 'reconnecting' | 'closed';

/** Options of `SdClient` / `connect()`. */
export interface ClientOptions extends SessionOptions, SessionListener {
  /** Metas sent in the Connect frame (they become handshake params on the server). */
  metas?: Metas;
  /** Milliseconds for transport connect plus handshake. Default 10 000. */
  connectTimeout?: number;
  /** Milliseconds between Pings; 0 disables. Default 20 000. */
  heartbeatInterval?: number;
  /** Reconnect after the connection drops. Default true. */
  autoReconnect?: boolean;
  /** First reconnect delay in milliseconds, doubled per failed try. Default 200. */
  reconnectDelay?: number;
  /** Largest reconnect delay. Default 10 000. */
  maxReconnectDelay?: number;
  /**
   * TLS settings (`ca`, `cert`, `key`, `rejectUnauthorized`, `servername`, ...) for `wss://`
   * and `tcps://`; given with an `sd:tcp://` URL they make it dial TLS too (as upstream Java
   * does once an SSL context is set). Default: none (tcps then trusts Node's root CAs).
   */
  tls?: TlsClientOptions;
}

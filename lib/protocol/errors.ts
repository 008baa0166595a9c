import { CloseCodes } from './constants.js';

/**
 * Every error the engine raises, with a stable code and, for violations, the close code
 * sent to the peer before the connection is dropped. README lists them all.
 */
export const ErrorCodes = {
  /** Frame length outside 8, 14..17 MiB (checked before buffering). */
  FRAME_LENGTH: { code: 'SOCKETD_ERR_FRAME_LENGTH', close: CloseCodes.ILLEGAL },
  /** sid, event or metaString without its 00 0A terminator inside the frame. */
  NO_TERMINATOR: { code: 'SOCKETD_ERR_NO_TERMINATOR', close: CloseCodes.ILLEGAL },
  /** A received field over its byte limit. */
  FIELD_TOO_LONG: { code: 'SOCKETD_ERR_FIELD_TOO_LONG', close: CloseCodes.ILLEGAL },
  /** A flag outside the table of spec section 5. */
  UNKNOWN_FLAG: { code: 'SOCKETD_ERR_UNKNOWN_FLAG', close: CloseCodes.ILLEGAL },
  /** A frame not allowed in the session's state (data before Connect, Connect twice, ...). */
  UNEXPECTED_FRAME: { code: 'SOCKETD_ERR_UNEXPECTED_FRAME', close: CloseCodes.ILLEGAL },
  /** A WebSocket text message or a message that is not exactly one frame. */
  BAD_MESSAGE: { code: 'SOCKETD_ERR_BAD_MESSAGE', close: CloseCodes.ILLEGAL },
  /** A fragment that cannot be reassembled (no Data-Length, bad index, overflow). */
  BAD_FRAGMENT: { code: 'SOCKETD_ERR_BAD_FRAGMENT', close: CloseCodes.ILLEGAL },
  /**
   * A fragmented message whose declared size is over `maxMessageSize`, or would bring the
   * session's pending fragment bytes over their cap. Recoverable: the session skips the
   * message's fragments and answers a Request/Subscribe with an Alarm (a Message is dropped,
   * a Reply fails its stream); the connection stays open.
   */
  MESSAGE_TOO_LARGE: { code: 'SOCKETD_ERR_MESSAGE_TOO_LARGE', close: undefined },
  /** A received sid, event or metaString holding a 00 byte: no answer could carry it back. */
  NUL_IN_FIELD: { code: 'SOCKETD_ERR_NUL_IN_FIELD', close: CloseCodes.ILLEGAL },
  /** The peer sent a flood of Pings while not reading the Pongs (`MAX_UNANSWERED_PINGS`). */
  PING_FLOOD: { code: 'SOCKETD_ERR_PING_FLOOD', close: CloseCodes.ILLEGAL },
  /** The engine could not encode or send an answer of its own (Connack, automatic Alarm). */
  ANSWER_FAILED: { code: 'SOCKETD_ERR_ANSWER_FAILED', close: CloseCodes.ILLEGAL },
  /**
   * A write would have queued more than `maxWriteBufferSize` bytes for a peer that does not
   * read: the connection is dropped (after a Close 1002 when that still fits).
   */
  WRITE_BUFFER_FULL: { code: 'SOCKETD_ERR_WRITE_BUFFER_FULL', close: CloseCodes.ILLEGAL },
  /** A frame's bytes did not all arrive within `frameTimeout` of its first byte. */
  FRAME_TIMEOUT: { code: 'SOCKETD_ERR_FRAME_TIMEOUT', close: CloseCodes.ILLEGAL },
  /** The server's bytes of partial frames, over all its connections, would pass `maxPendingFrameBytes`. */
  PENDING_FRAME_BYTES: { code: 'SOCKETD_ERR_PENDING_FRAME_BYTES', close: CloseCodes.ILLEGAL },
  /**
   * The peer started a fragmented message while `maxInboundStreams` streams and partially
   * received messages were open. (A whole Request or Subscribe past the cap is refused alone
   * with an Alarm: those streams wait on our handlers.)
   */
  TOO_MANY_STREAMS: { code: 'SOCKETD_ERR_TOO_MANY_STREAMS', close: CloseCodes.ILLEGAL },
  /**
   * `sd:udp`: an outgoing frame longer than `maxDatagramSize` (spec 3.3: one frame per
   * datagram, no fragmentation). The call fails alone; nothing was sent.
   */
  DATAGRAM_TOO_LARGE: { code: 'SOCKETD_ERR_DATAGRAM_TOO_LARGE', close: undefined },
  /** An outgoing field over its limit; nothing was written. */
  SIZE_LIMIT: { code: 'SOCKETD_ERR_SIZE_LIMIT', close: undefined },
  /** An invalid option or argument. */
  INVALID_ARGUMENT: { code: 'SOCKETD_ERR_INVALID_ARGUMENT', close: undefined },
  /** A URL that is not `[sd:]tcp|ws|wss://host[:port][/path][?query]`. */
  BAD_URL: { code: 'SOCKETD_ERR_BAD_URL', close: undefined },
  /** The server refused the handshake (Close 1001 before Connack). */
  HANDSHAKE_REJECTED: { code: 'SOCKETD_ERR_HANDSHAKE_REJECTED', close: undefined },
  /** No Connect (server) or no Connack (client) in time. */
  HANDSHAKE_TIMEOUT: { code: 'SOCKETD_ERR_HANDSHAKE_TIMEOUT', close: undefined },
  /** Transport connect plus handshake took longer than `connectTimeout`. */
  CONNECT_TIMEOUT: { code: 'SOCKETD_ERR_CONNECT_TIMEOUT', close: undefined },
  /** A Request or Subscribe got no (final) answer in time. */
  TIMEOUT: { code: 'SOCKETD_ERR_TIMEOUT', close: undefined },
  /** The peer answered a stream with an Alarm. */
  ALARM: { code: 'SOCKETD_ERR_ALARM', close: undefined },
  /**
   * No session came up within the call's own timeout (or, with `autoReconnect` off, none is
   * up): the call was never sent. The message names the server, the last connect error and
   * when the next attempt is; `details` has `url`, `lastError` and `nextAttemptAt` (ms epoch).
   */
  UNREACHABLE: { code: 'SOCKETD_ERR_UNREACHABLE', close: undefined },
  /** The connection closed while a stream was pending, or a send on a closed session. */
  CONNECTION_CLOSED: { code: 'SOCKETD_ERR_CONNECTION_CLOSED', close: undefined },
  /** Nothing read for `idleTimeout`. */
  IDLE_TIMEOUT: { code: 'SOCKETD_ERR_IDLE_TIMEOUT', close: undefined },
  /** Too many outgoing streams pending on one session (`maxPendingStreams`). */
  TOO_MANY_PENDING: { code: 'SOCKETD_ERR_TOO_MANY_PENDING', close: undefined },
  /** A connection refused by `maxConnections` or `maxConnectionsPerAddress` (logged, never sent). */
  TOO_MANY_CONNECTIONS: { code: 'SOCKETD_ERR_TOO_MANY_CONNECTIONS', close: undefined },
  /** The transport failed (socket error, refused connection). */
  TRANSPORT: { code: 'SOCKETD_ERR_TRANSPORT', close: undefined },
  /**
   * TLS over tcp failed: the peer's certificate is not trusted or does not name the host, the
   * server wants a client certificate, or one side speaks TLS and the other does not. The
   * message names the cause and the fix; `details.reason` is one of `untrusted-certificate`,
   * `hostname-mismatch`, `certificate-expired`, `client-certificate-required`,
   * `client-certificate-refused`, `server-speaks-tls`, `server-not-tls`, `handshake-closed`,
   * `handshake-failed`; `details.cause` is Node's error when there is one.
   */
  TLS: { code: 'SOCKETD_ERR_TLS', close: undefined },
} as const;

export type ErrorKind = keyof typeof ErrorCodes;
export type ErrorCode = (typeof ErrorCodes)[ErrorKind]['code'];

/** Error raised by the engine. `closeCode` is set when the error closes the connection. */
export class SocketDError extends Error {
  override readonly name = 'SocketDError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly closeCode?: number,
    /** Extra details: the alarm's code and metas, the frame's sid, ... */
    readonly details?: Readonly<Record<string, unknown>>,
  ) {
    super(message);
  }
}

/** The one factory for engine errors. */
export function socketDError(
  kind: ErrorKind,
  message: string,
  details?: Readonly<Record<string, unknown>>,
): SocketDError {
  const { code, close } = ErrorCodes[kind];
  return new SocketDError(code, message, close, details);
}

/** True for a `SocketDError` of the given kind. */
export function isSocketDError(err: unknown, kind?: ErrorKind): err is SocketDError {
  return err instanceof SocketDError && (kind === undefined || err.code === ErrorCodes[kind].code);
}

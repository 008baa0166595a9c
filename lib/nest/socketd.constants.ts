/** Constants of the Socket.D NestJS transport (README, "NestJS transport"). */

/**
 * Transport id of {@link SocketDServer}. Pass it to a pattern decorator to bind a handler to
 * Socket.D only in a hybrid app: `@MessagePattern('user.get', SOCKETD_TRANSPORT)`.
 */
export const SOCKETD_TRANSPORT: unique symbol = Symbol('SOCKETD');

/**
 * Transport id of {@link SocketDClientStrategy}, the strategy that serves Messages and Requests
 * a server starts on a client's connection.
 */
export const SOCKETD_CLIENT_TRANSPORT: unique symbol = Symbol('SOCKETD_CLIENT');

/** Default server and client URL. */
export const SOCKETD_DEFAULT_URL = 'sd:tcp://127.0.0.1:8602';
/** Default bound of {@link SocketDServer.close}: milliseconds in-flight handlers get to finish. */
export const SOCKETD_DEFAULT_GRACE_PERIOD = 5_000;
/** Default number of stream items queued per Subscribe while the socket is saturated. */
export const SOCKETD_DEFAULT_MAX_QUEUED_REPLIES = 1_048_576;
/** Default number of stream items queued across all Subscribes of one session. */
export const SOCKETD_DEFAULT_MAX_QUEUED_REPLIES_PER_SESSION = 1_048_576;
/** Default number of stream items queued across all sessions of one server. */
export const SOCKETD_DEFAULT_MAX_QUEUED_REPLIES_PER_SERVER = 4_194_304;

/** The `Data-Type` meta (spec 4.2) telling how the data of a message is encoded. */
export const DATA_TYPE_META = 'Data-Type';
/** `Data-Type` of JSON data (the default for every value that is not bytes). */
export const DATA_TYPE_JSON = 'application/json';
/** `Data-Type` of raw bytes: a Buffer/Uint8Array travels as is and arrives as a Buffer. */
export const DATA_TYPE_BINARY = 'application/octet-stream';
/**
 * `Data-Type` of a string: it travels as its raw UTF-8 text (what upstream handlers read with
 * `dataAsString()`) and arrives as a string.
 */
export const DATA_TYPE_TEXT = 'text/plain';
/** `Data-Type` of MessagePack data (the codec of `nestjs-socketd/msgpack`). */
export const DATA_TYPE_MSGPACK = 'application/msgpack';

/**
 * Connack meta by which a {@link SocketDServer} announces that it answers a Subscribe with
 * Reply... ReplyEnd (value {@link NEST_STREAM_VERSION}). A {@link SocketDClient} in `callMode`
 * `auto` sends `send()` as a Subscribe to servers that announce it and as a Request to all
 * others (upstream Java/JS/Python servers answer a Request with one Reply and never end a
 * Subscribe).
 */
export const NEST_STREAM_META = 'X-Nest-Stream';
/** Value of {@link NEST_STREAM_META}: version 1 of the Nest streaming convention. */
export const NEST_STREAM_VERSION = '1';

/**
 * Connack meta of a broker that adapts a Nest client's auto Subscribe to its target, and the
 * per-call meta (`X-Nest-Auto=1`) a {@link SocketDClient} in `callMode` `auto` then puts on its
 * Subscribes: the broker sends one on as a Subscribe to a player that announced
 * {@link NEST_STREAM_META} in its Connect, and as a Request (whose one answer ends the stream)
 * to any other player, as the client would over a direct connection.
 */
export const NEST_AUTO_META = 'X-Nest-Auto';

/** Largest per-call timeout: what a Node timer takes (2^31 - 1 ms, about 24.8 days). */
export const SOCKETD_MAX_TIMEOUT = 2_147_483_647;

/**
 * Meta on an Alarm sent for a failed handler, carrying the exact Nest error value (what Nest's
 * TCP transport puts in `err`). The Alarm's data stays a human-readable message for upstream
 * peers. Values:
 * - `text`: the error value is the string in the data;
 * - `data`: the data is the JSON of the error value (used when it is too long for a meta);
 * - anything else: `encodeURIComponent(JSON.stringify(value))`.
 */
export const NEST_ERROR_META = 'X-Nest-Err';
export const NEST_ERROR_IN_TEXT = 'text';
export const NEST_ERROR_IN_DATA = 'data';

/** Nest's answer to a request without a handler (the same text as `@nestjs/microservices`). */
export const NO_MESSAGE_HANDLER = 'There is no matching message handler defined in the remote service.';

/**
 * Nest's generic error value, sent when the failure is not the handler's own (a provider that
 * cannot be built, a reply the serializer or the engine refuses): the details go to the log.
 */
export const INTERNAL_ERROR = Object.freeze({ status: 'error', message: 'Internal server error' } as const);

/** Nest context of the engine's logger (the default `logger` of the engine options). */
export const ENGINE_LOGGER_CONTEXT = 'SocketDEngine';

/** Metas the transport itself owns; they are not part of the Nest packet metadata. */
export const RESERVED_METAS: ReadonlySet<string> = new Set([
  'Socket.D',
  'code',
  'Data-Length',
  'Data-Fragment-Idx',
  'Data-Fragment-Total',
  DATA_TYPE_META,
  NEST_ERROR_META,
  NEST_AUTO_META,
  'X-Cancel',
]);

/** The `code` meta of an Alarm (spec 7.3): an integer; `3001` means pressure to Java/Python senders. */
export const ALARM_CODE_META = 'code';

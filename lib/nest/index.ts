/** NestJS transport for Socket.D v2: server strategy, client proxy, context, record builder. */
export { SocketDServer, type SocketDServerOptions } from './server-socketd.js';
export { SocketDServerCore, type SocketDHandlingOptions } from './socketd.server-core.js';
export { SocketDClientStrategy, type SocketDClientStrategyOptions } from './socketd.client-strategy.js';
export { SocketDClient, type SocketDClientOptions } from './client-socketd.js';
export type { SocketDInboundHandler } from './socketd.inbound-router.js';
export { SocketDContext, type SocketDContextArgs, type SocketDPeer } from './socketd.context.js';
export { SocketDRecord, SocketDRecordBuilder, TARGET_META, type SocketDCallMode, type SocketDRecordOptions } from './socketd.record-builder.js';
export { PLAYER_NAME_META, type SocketDPlayerOptions } from './socketd.player.js';
export { SocketDStatus, SocketDEventsMap, type SocketDEvents } from './socketd.events.js';
export { SocketDSerializer, type SocketDEntity, type SocketDSerializerLike } from './socketd.serializer.js';
export {
  SocketDDeserializer, SocketDDataTypeError, SocketDDeserializerMisuseError, type SocketDDeserializerLike,
} from './socketd.deserializer.js';
export { encodeNestError, decodeCallError, alarmCodeOf } from './socketd.error-codec.js';
export type { SocketDClientCallMode } from './socketd.client-call.js';
export {
  SOCKETD_TRANSPORT,
  SOCKETD_CLIENT_TRANSPORT,
  SOCKETD_DEFAULT_URL,
  SOCKETD_DEFAULT_GRACE_PERIOD,
  SOCKETD_DEFAULT_MAX_QUEUED_REPLIES,
  DATA_TYPE_META,
  DATA_TYPE_JSON,
  DATA_TYPE_BINARY,
  DATA_TYPE_TEXT,
  DATA_TYPE_MSGPACK,
  NEST_STREAM_META,
  NEST_STREAM_VERSION,
  NEST_ERROR_META,
  NO_MESSAGE_HANDLER,
} from './socketd.constants.js';
export {
  SERVER_OPTION_NAMES,
  CLIENT_OPTION_NAMES,
  ENGINE_SERVER_OPTION_NAMES,
  ENGINE_CLIENT_OPTION_NAMES,
  type SocketDAddressOptions,
} from './socketd.options.js';
// nestjs-socketd/msgpack (SocketDMsgpackSerializer/Deserializer, needs msgpackr) and
// nestjs-socketd/terminus (SocketDHealthIndicator, needs @nestjs/terminus) are entries of their own.

/**
 * The Socket.D engine without Nest (`nestjs-socketd/engine`): protocol codec, sessions and
 * transports. Importing this entry point never loads `@nestjs/*` or rxjs.
 */
export * from './protocol/index.js';
export * from './session/index.js';
export {
  parseUrl,
  createClientTransport,
  createServerTransport,
  TcpConnection,
  WsConnection,
  TcpClientTransport,
  TcpServerTransport,
  WsClientTransport,
  WsServerTransport,
  SOCKETD_SUBPROTOCOL,
} from './transports/index.js';
export type {
  Connection,
  ConnectionHandlers,
  ClientTransport,
  ServerTransport,
  ParsedUrl,
  TransportOptions,
} from './transports/index.js';

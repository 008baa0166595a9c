/**
 * The transports this package ships. Each exports a `Transport` registration; the package
 * entry (`engine.ts`) registers them. A new transport is one file here plus one line there.
 */
export { DEFAULT_END_TIMEOUT, type ConnectionOptions } from './base-connection.js';
export { TcpConnection } from './tcp-connection.js';
export { TcpClientTransport, TcpServerTransport, tcpTransport, type TcpServerOptions } from './tcp-transport.js';
export { WsConnection, SOCKETD_SUBPROTOCOL } from './ws-connection.js';
export {
  WsClientTransport,
  WsServerTransport,
  wsTransport,
  wssTransport,
  type WsClientOptions,
  type WsServerOptions,
  type WsTlsOptions,
} from './ws-transport.js';

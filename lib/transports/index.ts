import { socketDError } from '../protocol/errors.js';
import { TcpClientTransport, TcpServerTransport, type TcpServerOptions } from './tcp-transport.js';
import type { ClientTransport, ParsedUrl, ServerTransport } from './transport.js';
import { parseUrl } from './url.js';
import { WsClientTransport, WsServerTransport, type WsServerOptions } from './ws-transport.js';

export type * from './transport.js';
export { parseUrl } from './url.js';
export { DEFAULT_END_TIMEOUT, DEFAULT_HIGH_WATER_MARK, type ConnectionOptions } from './base-connection.js';
export { TcpConnection } from './tcp-connection.js';
export { TcpClientTransport, TcpServerTransport, type TcpServerOptions } from './tcp-transport.js';
export { WsConnection, SOCKETD_SUBPROTOCOL } from './ws-connection.js';
export {
  WsClientTransport,
  WsServerTransport,
  type WsClientOptions,
  type WsServerOptions,
  type WsTlsOptions,
} from './ws-transport.js';

/** Options of any server transport: the union of the TCP and WebSocket ones (each ignores the other's). */
export type ServerTransportOptions = TcpServerOptions & WsServerOptions;

/**
 * The client transport for a schema (`tcp`, `ws`, `wss`, their aliases, with or without
 * `sd:`). Transports are stateless, so one instance per schema is shared.
 *
 * @throws SocketDError `SOCKETD_ERR_BAD_URL` for any other schema.
 */
export function createClientTransport(schema: string): ClientTransport {
  switch (canonicalSchema(schema)) {
    case 'tcp':
      return TCP_CLIENT;
    case 'ws':
    case 'wss':
      return WS_CLIENT;
  }
}

/**
 * A server transport bound to `url.host:url.port` (port 0 = a free one).
 *
 * `sd:ws` opens its own HTTP server unless `options.httpServer` is given. `sd:wss` requires
 * `options.httpServer` (an `https.Server` carrying the TLS settings): there is no TLS option
 * of its own.
 *
 * @throws SocketDError `SOCKETD_ERR_INVALID_ARGUMENT` for `wss` without `httpServer`,
 *   `SOCKETD_ERR_BAD_URL` for an unknown schema.
 */
export function createServerTransport(url: ParsedUrl, options: ServerTransportOptions = {}): ServerTransport {
  switch (canonicalSchema(url.schema)) {
    case 'tcp':
      return new TcpServerTransport(url.host, url.port, options);
    case 'wss':
      if (options.httpServer === undefined) {
        throw socketDError('INVALID_ARGUMENT', 'A wss server needs the httpServer option (an https.Server with the TLS settings)');
      }
      return new WsServerTransport(url.host, url.port, options);
    case 'ws':
      return new WsServerTransport(url.host, url.port, options);
  }
}

const TCP_CLIENT = new TcpClientTransport();
const WS_CLIENT = new WsClientTransport();

/** `tcp`, `ws` or `wss` for a schema or alias, through the URL parser's alias table. */
function canonicalSchema(schema: string): 'tcp' | 'ws' | 'wss' {
  try {
    return parseUrl(`${schema}://h`).schema as 'tcp' | 'ws' | 'wss';
  } catch {
    throw socketDError('BAD_URL', `Unsupported Socket.D schema '${schema}' (supported: tcp, ws, wss)`);
  }
}

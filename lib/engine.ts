/**
 * The Socket.D engine without Nest (`nestjs-socketd/engine`): protocol codec, sessions and
 * transports. Importing this entry point never loads `@nestjs/*` or rxjs.
 *
 * This entry fills the transport registry with the transports the package ships; a user's
 * own transport is one more `registerTransport()` call (see README, "Architecture").
 */
import { registerTransport } from './session/transport-registry.js';
import { SHIPPED_TRANSPORTS } from './transports/shipped.js';

for (const transport of SHIPPED_TRANSPORTS) registerTransport(transport);

export * from './protocol/index.js';
export * from './session/index.js';
export * from './broker/index.js';
export {
  TcpConnection,
  WsConnection,
  TcpClientTransport,
  TcpServerTransport,
  WsClientTransport,
  WsServerTransport,
  tcpTransport,
  wsTransport,
  wssTransport,
  SOCKETD_SUBPROTOCOL,
} from './transports/index.js';
export { tcpsTransport } from './transports/tcp-transport.js';
export type { TlsFailureReason } from './transports/tls-errors.js';
// The transports' own option keys (tls, httpServer, maxDatagramSize, ...) in ServerOptions/ClientOptions.
export type { TlsClientOptions, TlsServerOptions } from './transports/transport-options.js';
export { SHIPPED_TRANSPORTS } from './transports/shipped.js';
export { createMemoryPair, MemoryConnection, type MemoryPairOptions } from './transports/memory-pair.js';
export { UdpConnection, type UdpStats } from './transports/udp-connection.js';
export { UdpClientTransport, UdpServerTransport, udpTransport, udpStats, type UdpServerOptions } from './transports/udp-transport.js';
import { loadOpenTelemetry } from './session/otel-load.js';
export { useOpenTelemetry } from './session/otel-telemetry.js';
export { loadOpenTelemetry } from './session/otel-load.js';
export type { OpenTelemetryApi } from './session/otel-api.js';
export { METRIC_NAMES } from './session/otel-metrics.js';
export { TRACE_METAS } from './session/otel-telemetry.js';

// Telemetry when `@opentelemetry/api` is installed (an optional peer): loaded once, in the
// background; sessions record only while a tracer or meter provider is registered.
void loadOpenTelemetry();

/**
 * `nestjs-socketd/browser`: the Socket.D client for web pages. The same protocol codec and
 * session as the Node engine (lib/protocol, lib/session); only the transport (the browser's
 * WebSocket, `sd:ws` / `sd:wss`) and the byte type at the API (`Uint8Array`) differ. Built by
 * esbuild into one ESM file (dist/browser/socketd.min.js) with a Buffer polyfill inside.
 */
import { registerTransport } from '../session/transport-registry.js';
import { browserWssTransport, browserWsTransport } from './browser-transport.js';

registerTransport(browserWsTransport);
registerTransport(browserWssTransport);

export {
  SocketDBrowserClient, connect, isSocketDError,
  type BrowserCallOptions, type BrowserClientOptions, type BrowserInbound, type BrowserMessage,
  type BrowserObserver, type BrowserPayload, type BrowserSubscription, type InboundHandler,
} from './browser-client.js';
export { SocketDError, ErrorCodes } from '../protocol/errors.js';
export type { ClientStatus, Metas } from '../session/types.js';
export { BrowserWsConnection } from './browser-connection.js';
export { BrowserWsClientTransport, SOCKETD_SUBPROTOCOL } from './browser-transport.js';
export { decodeFrame, encodeFrame, type BrowserFrame } from './codec.js';
export { parseMetas, serializeMetas } from '../protocol/metas.js';

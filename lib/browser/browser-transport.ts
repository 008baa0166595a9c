import { socketDError } from '../protocol/errors.js';
import type { ClientConnectOptions, ClientTransport, Connection, ParsedUrl, Transport } from '../session/connection.js';
import { BrowserWsConnection } from './browser-connection.js';
import { globalWebSocket } from './web-socket.js';

/** WebSocket subprotocol offered to the server (spec section 3.2). */
export const SOCKETD_SUBPROTOCOL = 'Socket.D';

/** Dials `sd:ws://` and `sd:wss://` with the browser's own `WebSocket`. */
export class BrowserWsClientTransport implements ClientTransport {
  /**
   * Opens a WebSocket on the URL's path and query as written, offering `Socket.D`. Rejects
   * with `SOCKETD_ERR_TRANSPORT` (the browser tells no reason: refused, wrong path, refused
   * upgrade or certificate all look alike; the close code is in the message) or
   * `SOCKETD_ERR_CONNECT_TIMEOUT`.
   */
  connect(url: ParsedUrl, options: ClientConnectOptions): Promise<Connection> {
    const WebSocketClass = globalWebSocket();
    if (WebSocketClass === undefined) {
      return Promise.reject(socketDError('TRANSPORT', 'this runtime has no global WebSocket'));
    }
    // Dial with the canonical schema: aliases such as ws-java:// mean nothing to the browser.
    const target = `${url.schema}://${url.linkUrl.slice(url.linkUrl.indexOf('://') + 3)}`;
    const address = `${url.host.includes(':') ? `[${url.host}]` : url.host}:${url.port}`;
    return new Promise((resolve, reject) => {
      let settled = false;
      let ws: ReturnType<typeof newSocket>;
      const newSocket = () => new WebSocketClass(target, [SOCKETD_SUBPROTOCOL]);
      try {
        ws = newSocket();
      } catch (err) {
        reject(socketDError('TRANSPORT', `WebSocket connect to ${target} failed: ${(err as Error).message}`, { cause: err }));
        return;
      }
      ws.binaryType = 'arraybuffer';
      const timer = setTimeout(() => {
        settled = true;
        ws.close();
        reject(socketDError('CONNECT_TIMEOUT', `WebSocket connect to ${target} timed out after ${options.connectTimeout} ms`));
      }, options.connectTimeout);
      ws.addEventListener('close', (event) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        reject(socketDError('TRANSPORT', `WebSocket connect to ${target} failed (close code ${event.code}): server down, wrong path, upgrade refused or untrusted certificate`));
      });
      ws.addEventListener('open', () => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        // Created synchronously in 'open': no message can arrive before its listener.
        resolve(new BrowserWsConnection(ws, address, options));
      });
    });
  }
}

const client = new BrowserWsClientTransport();

function noServer(): never {
  throw socketDError('INVALID_ARGUMENT', 'a browser cannot listen: the browser build has clients only');
}

/** `sd:ws` in the browser: client only. */
export const browserWsTransport: Transport = { schema: 'ws', aliases: ['ws-java', 'ws-python'], client, createServer: noServer };
/** `sd:wss` in the browser: client only (the browser checks the certificate). */
export const browserWssTransport: Transport = { schema: 'wss', aliases: ['wss-java', 'wss-python'], client, createServer: noServer };

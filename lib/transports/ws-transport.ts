import { createHash, randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type ClientRequest, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { request as httpsRequest, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { socketDError } from '../protocol/errors.js';
import { AddressLimit } from './address-limit.js';
import type { ConnectionOptions } from './base-connection.js';
import { ByteBudget } from './byte-budget.js';
import {
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_MAX_PENDING_FRAME_BYTES,
  type ClientTransport, type Connection, type ParsedUrl, type ServerTransport, type ServerTransportOptions,
  type Transport,
} from '../session/connection.js';
import { checkTlsOption, type TlsClientOptions } from './transport-options.js';
import { SOCKETD_SUBPROTOCOL, WsConnection } from './ws-connection.js';

/** The GUID of RFC 6455 1.3, appended to the key for `Sec-WebSocket-Accept`. */
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** A `Sec-WebSocket-Key`: 16 bytes in base64. */
const WS_KEY = /^[+/0-9A-Za-z]{22}==$/;

/** `Sec-WebSocket-Accept` for a key (RFC 6455 4.2.2). */
function acceptKey(key: string): string {
  return createHash('sha1').update(key + WS_GUID).digest('base64');
}

/** TLS settings a `wss://` client may pass through to `https.request` (all optional). */
export type WsTlsOptions = TlsClientOptions;

/** Options of `WsClientTransport.connect`. */
export interface WsClientOptions extends ConnectionOptions {
  /** Milliseconds for TCP connect plus the WebSocket upgrade. */
  connectTimeout: number;
  /** TLS settings for `wss://` (e.g. a private CA). */
  tls?: WsTlsOptions;
}

/** Options of `WsServerTransport`. */
export interface WsServerOptions extends ConnectionOptions,
  Pick<ServerTransportOptions, 'maxConnectionsPerAddress' | 'maxPendingFrameBytes' | 'budget' | 'handshakeTimeout' | 'logger' | 'onError'> {
  /**
   * Refuse upgrades that do not offer the `Socket.D` subprotocol (any case) with HTTP 403, as
   * upstream servers with `useSubprotocols=true` do (default true).
   */
  requireSubprotocol?: boolean;
  /**
   * Attach to this existing HTTP(S) server (its `upgrade` event) instead of opening a port;
   * `host`/`port` are then ignored and `listen()`/`close()` never start or stop it. This is
   * the only way to serve `wss://`: pass an `https.Server`.
   */
  httpServer?: HttpServer | HttpsServer;
  /**
   * Only upgrade requests on this path (exact match, query ignored). Others are left to the
   * server's other `upgrade` listeners, or refused with 404 if there are none. Default: any
   * path, as upstream standalone servers.
   */
  path?: string;
  /** Upgrades beyond this many open WebSocket connections are refused with 503 (default: unlimited). */
  maxConnections?: number;
}

/** Picks the Socket.D token the client offered (exact first, then any case), or undefined. */
function pickProtocol(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const offered = header.split(',').map((p) => p.trim());
  if (offered.includes(SOCKETD_SUBPROTOCOL)) return SOCKETD_SUBPROTOCOL;
  return offered.find((p) => p.toLowerCase() === 'socket.d');
}

function offersSocketD(req: IncomingMessage): boolean {
  const header = req.headers['sec-websocket-protocol'];
  return header !== undefined && header.split(',').some((p) => p.trim().toLowerCase() === 'socket.d');
}

function ignoreError(): void {}

/** Answers an upgrade request with an HTTP error and drops the socket. */
function refuseUpgrade(socket: Duplex, status: number, reason: string, message: string, extraHeaders = ''): void {
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n${extraHeaders}` +
    `Content-Length: ${Buffer.byteLength(message)}\r\n\r\n${message}`,
  );
  socket.once('finish', () => socket.destroy());
}

/** Names the likely mistake when the server's answer to the upgrade was not HTTP at all. */
function notHttpHint(err: Error): string {
  const code = (err as { code?: unknown }).code;
  const notHttp = (typeof code === 'string' && code.startsWith('HPE_')) || /Parse Error|Expected HTTP/i.test(err.message);
  return notHttp ? ' (the server did not answer in HTTP: is it a Socket.D tcp server? Dial it with sd:tcp://)' : '';
}

/** Dials `sd:ws://` and `sd:wss://` URLs (spec section 3.2). */
export class WsClientTransport implements ClientTransport {
  /**
   * Opens a WebSocket on the URL's path and query exactly as written, offering the `Socket.D`
   * subprotocol, without permessage-deflate. Rejects with `SOCKETD_ERR_TRANSPORT` (refused
   * socket, HTTP error, TLS failure) or `SOCKETD_ERR_CONNECT_TIMEOUT`.
   */
  connect(url: ParsedUrl, options: WsClientOptions): Promise<Connection> {
    // Dial with the canonical schema: aliases such as ws-java:// mean nothing to HTTP.
    const target = `${url.schema}://${url.linkUrl.slice(url.linkUrl.indexOf('://') + 3)}`;
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: Error): void => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        req.destroy();
        reject(err);
      };
      const failTransport = (message: string, cause?: Error): void => fail(socketDError('TRANSPORT',
        `WebSocket connect to ${target} failed: ${message}${cause === undefined ? '' : notHttpHint(cause)}`, cause === undefined ? undefined : { cause }));
      let parsed: URL;
      try {
        parsed = new URL(target);
      } catch (err) {
        reject(socketDError('TRANSPORT', `WebSocket connect to ${target} failed: ${(err as Error).message}`, { cause: err }));
        return;
      }
      checkTlsOption(options.tls);
      const key = randomBytes(16).toString('base64');
      // The upgrade request as ws (and upstream JS peers) write it, without extensions.
      const requestOptions = {
        ...options.tls,
        headers: {
          'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Key': key,
          'Connection': 'Upgrade',
          'Upgrade': 'websocket',
          'Sec-WebSocket-Protocol': SOCKETD_SUBPROTOCOL,
        },
        agent: false as const,
      };
      let req: ClientRequest;
      try {
        req = parsed.protocol === 'wss:'
          ? httpsRequest(new URL(`https:${target.slice(4)}`), requestOptions)
          : httpRequest(new URL(`http:${target.slice(3)}`), requestOptions);
      } catch (err) {
        // Options node:https refuses at once (a bad key or certificate, ...).
        reject(socketDError('TRANSPORT', `WebSocket connect to ${target} failed: ${(err as Error).message}`, { cause: err }));
        return;
      }
      // No own timeout on the request: this covers DNS, TCP, TLS and the upgrade, and always
      // fails with CONNECT_TIMEOUT.
      const timer = setTimeout(() => fail(socketDError('CONNECT_TIMEOUT',
        `WebSocket connect to ${target} timed out after ${options.connectTimeout} ms`)), options.connectTimeout);
      req.on('error', (err: Error) => failTransport(err.message, err));
      req.on('response', (res: IncomingMessage) => {
        res.resume();
        failTransport(`Unexpected server response: ${res.statusCode ?? '?'}`);
      });
      req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
        if (settled) {
          socket.destroy();
          return;
        }
        const problem = upgradeProblem(res, key);
        if (problem !== undefined) {
          socket.destroy();
          failTransport(problem);
          return;
        }
        clearTimeout(timer);
        settled = true;
        resolve(new WsConnection(socket, { ...options, client: true, head }));
      });
      req.end();
    });
  }
}

/** What is wrong with a server's 101 answer (RFC 6455 4.1, as ws checks it), or undefined. */
function upgradeProblem(res: IncomingMessage, key: string): string | undefined {
  if (res.headers.upgrade?.toLowerCase() !== 'websocket') return 'Invalid Upgrade header';
  if (res.headers['sec-websocket-accept'] !== acceptKey(key)) return 'Invalid Sec-WebSocket-Accept header';
  const protocol = res.headers['sec-websocket-protocol'];
  if (protocol === undefined) return 'Server sent no subprotocol';
  if (protocol !== SOCKETD_SUBPROTOCOL) return 'Server sent an invalid subprotocol';
  if (res.headers['sec-websocket-extensions'] !== undefined) return 'Server sent a Sec-WebSocket-Extensions header but no extension was requested';
  return undefined;
}

/**
 * Accepts `sd:ws` connections on its own HTTP server, or on an existing HTTP(S) server
 * (`httpServer` option). Plain HTTP requests to its own server get 426 Upgrade Required.
 */
export class WsServerTransport implements ServerTransport {
  private readonly httpServer: HttpServer | HttpsServer;
  private readonly ownServer: boolean;
  private onConnection: ((connection: Connection) => void) | undefined;
  private connections = 0;
  private readonly perAddress: AddressLimit;
  /** Bytes of partial messages over all connections (`maxPendingFrameBytes`). */
  readonly pendingBudget: ByteBudget;
  private readonly handshakeTimeout: number;
  /** Raw sockets between their accept (own server) or upgrade request (attached) and the end of the upgrade. */
  private readonly upgrading = new WeakMap<Duplex, { acceptedAt: number; timer: NodeJS.Timeout }>();

  /**
   * @param host interface to bind when opening its own port (ignored with `httpServer`).
   * @param port port to bind; 0 picks a free one (ignored with `httpServer`).
   */
  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly options: WsServerOptions = {},
  ) {
    this.perAddress = new AddressLimit('WebSocket', options.maxConnectionsPerAddress, options.logger);
    this.pendingBudget = new ByteBudget(options.maxPendingFrameBytes ?? DEFAULT_MAX_PENDING_FRAME_BYTES);
    this.handshakeTimeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
    this.ownServer = options.httpServer === undefined;
    this.httpServer = options.httpServer ?? createServer((_req, res) => {
      res.writeHead(426, { 'Content-Type': 'text/plain', 'Connection': 'close', 'Upgrade': 'websocket' });
      res.end('Socket.D over WebSocket: upgrade required\n');
    });
  }

  /**
   * Own server: every raw socket is counted per address and must finish its upgrade within
   * `handshakeTimeout` (Node's own header timeout would hold it for a minute or more).
   */
  private readonly onRawConnection = (socket: Socket): void => {
    if (!this.perAddress.admit(socket)) return;
    this.startUpgradeTimer(socket, performance.now());
  };

  private startUpgradeTimer(socket: Duplex, acceptedAt: number): void {
    const timer = setTimeout(() => {
      this.upgrading.delete(socket);
      socket.destroy();
    }, this.handshakeTimeout);
    timer.unref();
    this.upgrading.set(socket, { acceptedAt, timer });
    socket.once('close', () => this.stopUpgradeTimer(socket));
  }

  /** The upgrade ended (or the socket closed): returns when the socket was accepted. */
  private stopUpgradeTimer(socket: Duplex): number | undefined {
    const entry = this.upgrading.get(socket);
    if (entry === undefined) return undefined;
    clearTimeout(entry.timer);
    this.upgrading.delete(socket);
    return entry.acceptedAt;
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const { path, requireSubprotocol = true, maxConnections } = this.options;
    if (path !== undefined) {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      if ((q === -1 ? url : url.slice(0, q)) !== path) {
        // Another listener may serve this path; refuse only if there is none.
        if (this.httpServer.listenerCount('upgrade') === 1) refuseUpgrade(socket, 404, 'Not Found', 'No WebSocket endpoint on this path\n');
        return;
      }
    }
    // Node took its own error listener off the socket for the upgrade: a reset while we refuse
    // or answer must not crash the process (the connection records errors once it exists).
    socket.on('error', ignoreError);
    if (!this.ownServer && !this.upgrading.has(socket)) {
      // Attached: someone else accepted the raw socket; count and time it from its upgrade
      // request on (the best an attached server can do: the headers have arrived).
      const refuse = (): void => refuseUpgrade(socket, 503, 'Service Unavailable', 'Too many connections from this address\n');
      if (!this.perAddress.admit(socket as Socket, refuse)) return;
      this.startUpgradeTimer(socket, performance.now());
    }
    if (requireSubprotocol && !offersSocketD(req)) {
      refuseUpgrade(socket, 403, 'Forbidden', 'The Socket.D subprotocol is required\n');
      return;
    }
    if (maxConnections !== undefined && this.connections >= maxConnections) {
      this.options.logger?.warn(`Socket.D WebSocket server: refused an upgrade from ${(socket as Socket).remoteAddress ?? 'unknown'}: maxConnections ${maxConnections} reached (SOCKETD_ERR_TOO_MANY_CONNECTIONS)`);
      refuseUpgrade(socket, 503, 'Service Unavailable', 'Too many connections\n');
      return;
    }
    const key = req.headers['sec-websocket-key'];
    const version = req.headers['sec-websocket-version'];
    if (req.method !== 'GET' || req.headers.upgrade?.toLowerCase() !== 'websocket' || key === undefined || !WS_KEY.test(key)) {
      refuseUpgrade(socket, 400, 'Bad Request', 'Not a valid WebSocket upgrade request\n');
      return;
    }
    if (version !== '13' && version !== '8') {
      refuseUpgrade(socket, 400, 'Bad Request', 'Unsupported WebSocket version (13 expected)\n', 'Sec-WebSocket-Version: 13, 8\r\n');
      return;
    }
    if (!socket.readable || !socket.writable) {
      socket.destroy();
      return;
    }
    const acceptedAt = this.stopUpgradeTimer(socket) ?? performance.now();
    const onConnection = this.onConnection;
    if (onConnection === undefined) {
      socket.destroy(); // closed between the request and the end of the upgrade
      return;
    }
    // Extensions offered (permessage-deflate by upstream JS peers) are declined by not naming them.
    const protocol = pickProtocol(req.headers['sec-websocket-protocol']);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n${protocol === undefined ? '' : `Sec-WebSocket-Protocol: ${protocol}\r\n`}\r\n`);
    this.connections++;
    socket.once('close', () => this.connections--);
    onConnection(new WsConnection(socket as Socket, {
      ...this.options, pendingBudget: this.pendingBudget, memory: this.options.budget?.open((socket as Socket).remoteAddress), acceptedAt, head,
    }));
  };

  listen(onConnection: (connection: Connection) => void): Promise<void> {
    this.onConnection = onConnection;
    this.httpServer.on('upgrade', this.onUpgrade);
    if (!this.ownServer) return Promise.resolve();
    this.httpServer.on('connection', this.onRawConnection);
    return new Promise((resolve, reject) => {
      const server = this.httpServer;
      const onError = (err: Error): void => {
        reject(socketDError('TRANSPORT', `WebSocket listen on ${this.host}:${this.port} failed: ${err.message}`, { cause: err }));
      };
      server.once('error', onError);
      server.listen({ host: this.host, port: this.port }, () => {
        server.off('error', onError);
        // Later errors (EMFILE on accept, ...) go to onError; the listener also keeps one from
        // crashing the process.
        server.on('error', (err: Error) => this.options.onError?.(
          socketDError('TRANSPORT', `WebSocket server on ${this.host}:${this.port} failed: ${err.message}`, { cause: err })));
        resolve();
      });
    });
  }

  /** Stops accepting upgrades; open WebSocket connections stay up. */
  close(): Promise<void> {
    this.onConnection = undefined;
    this.httpServer.off('upgrade', this.onUpgrade);
    this.httpServer.off('connection', this.onRawConnection);
    if (this.ownServer && this.httpServer.listening) {
      this.httpServer.close();
      this.httpServer.closeIdleConnections();
    }
    return Promise.resolve();
  }

  address(): { host: string; port: number } | undefined {
    const a = this.httpServer.address();
    return a === null || typeof a === 'string' ? undefined : { host: a.address, port: a.port };
  }

  /** The HTTP(S) server upgrades arrive on (own or attached), as `server`. */
  unwrap<T = unknown>(): T {
    return this.httpServer as T;
  }

  /** The HTTP(S) server upgrades arrive on (own or attached). */
  get server(): HttpServer | HttpsServer {
    return this.httpServer;
  }
}

/** `sd:ws` (and the Java/Python aliases): plain WebSocket, its own HTTP server or an attached one. */
export const wsTransport: Transport = {
  schema: 'ws',
  aliases: ['ws-java', 'ws-python'],
  serverTlsHint: 'for wss pass an https.Server as httpServer',
  client: new WsClientTransport(),
  createServer: (url: ParsedUrl, options: ServerTransportOptions) => new WsServerTransport(url.host, url.port, options),
};

/**
 * `sd:wss`: WebSocket over TLS. The server needs the `httpServer` option (an `https.Server`
 * carrying the TLS settings): there is no TLS option of its own.
 */
export const wssTransport: Transport = {
  schema: 'wss',
  aliases: ['wss-java', 'wss-python'],
  serverTlsHint: wsTransport.serverTlsHint,
  client: wsTransport.client,
  createServer(url: ParsedUrl, options: ServerTransportOptions) {
    if (options.httpServer === undefined) {
      throw socketDError('INVALID_ARGUMENT', 'A wss server needs the httpServer option (an https.Server with the TLS settings)');
    }
    return new WsServerTransport(url.host, url.port, options);
  },
};

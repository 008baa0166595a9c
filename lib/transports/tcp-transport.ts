import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { socketDError } from '../protocol/errors.js';
import type { ConnectionOptions } from './base-connection.js';
import { ByteBudget } from './byte-budget.js';
import { AddressLimit } from './address-limit.js';
import { TcpConnection } from './tcp-connection.js';
import { TlsAcceptor } from './tls-acceptor.js';
import { clientTlsError } from './tls-errors.js';
import { checkTlsOption } from './transport-options.js';
import {
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_MAX_PENDING_FRAME_BYTES,
  type ClientConnectOptions, type ClientTransport, type Connection, type ParsedUrl, type ServerTransport,
  type ServerTransportOptions, type Transport,
} from '../session/connection.js';

/** Options of `TcpServerTransport`. */
export interface TcpServerOptions extends ConnectionOptions,
  Pick<ServerTransportOptions, 'maxConnectionsPerAddress' | 'maxPendingFrameBytes' | 'budget' | 'logger' | 'onError' | 'tls' | 'handshakeTimeout'> {
  /** Sockets beyond this many open connections are closed at once, with a log line (default: unlimited). */
  maxConnections?: number;
  /** `listen()` backlog (default: Node's, 511). */
  backlog?: number;
}

/**
 * Dials `sd:tcp://host:port` (spec section 3.1), in TLS when the client has `tls` options or
 * the transport always speaks it (`sd:tcps`). The frames are the same inside TLS.
 */
export class TcpClientTransport implements ClientTransport {
  /** @param alwaysTls dial TLS even without `tls` options (`sd:tcps`: Node's root CAs then). */
  constructor(private readonly alwaysTls = false) {}

  /**
   * Opens a TCP (or TLS) connection to `url.host:url.port`. Rejects with `SOCKETD_ERR_TLS`
   * for a TLS failure (untrusted certificate, hostname mismatch, a plain server, ...),
   * `SOCKETD_ERR_TRANSPORT` when the socket fails and `SOCKETD_ERR_CONNECT_TIMEOUT` after
   * `connectTimeout` ms.
   */
  connect(url: ParsedUrl, options: ConnectionOptions & Pick<ClientConnectOptions, 'connectTimeout' | 'tls'>): Promise<Connection> {
    const useTls = this.alwaysTls || options.tls !== undefined;
    const where = `${url.host}:${url.port}`;
    const kind = useTls ? 'TLS' : 'TCP';
    return new Promise((resolve, reject) => {
      checkTlsOption(options.tls);
      const socket: Socket = useTls
        ? tlsConnect({ ...options.tls, host: url.host, port: url.port })
        : netConnect({ host: url.host, port: url.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(socketDError('CONNECT_TIMEOUT', `${kind} connect to ${where} timed out after ${options.connectTimeout} ms`));
      }, options.connectTimeout);
      const onError = (err: Error): void => {
        clearTimeout(timer);
        reject((useTls ? clientTlsError(err, where, true) : undefined)
          ?? socketDError('TRANSPORT', `${kind} connect to ${where} failed: ${err.message}`, { cause: err }));
      };
      socket.once('error', onError);
      socket.once(useTls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new TcpConnection(socket, { ...options, client: true, overTls: useTls }));
      });
    });
  }
}

/** Accepts `sd:tcp` connections on a port (spec section 3.1). */
export class TcpServerTransport implements ServerTransport {
  private readonly server: Server;
  private listening = false;
  private onConnection: ((connection: Connection) => void) | undefined;
  private readonly perAddress: AddressLimit;
  /** Bytes of partial frames over all connections (`maxPendingFrameBytes`). */
  readonly pendingBudget: ByteBudget;

  /**
   * @param host interface to bind (e.g. `127.0.0.1`, `0.0.0.0`, `::`).
   * @param port port to bind; 0 picks a free one (see `address()`).
   */
  /** Set when the server speaks TLS (`tls` option). */
  private readonly tls: TlsAcceptor | undefined;

  /**
   * @throws SocketDError `SOCKETD_ERR_INVALID_ARGUMENT` for `tls` options without a
   *   certificate or that node:tls rejects.
   */
  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly options: TcpServerOptions = {},
  ) {
    checkTlsOption(options.tls);
    // pauseOnConnect: nothing is read before the session attaches its handlers.
    this.server = createServer({ pauseOnConnect: true, noDelay: true });
    this.tls = options.tls === undefined ? undefined
      : new TlsAcceptor(options.tls, options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT, options.logger, (socket: TLSSocket, acceptedAt) => {
        this.onConnection?.(new TcpConnection(socket, { ...this.options, pendingBudget: this.pendingBudget, memory: this.options.budget?.open(socket.remoteAddress), acceptedAt, overTls: true }));
      });
    this.perAddress = new AddressLimit('TCP', options.maxConnectionsPerAddress, options.logger);
    this.pendingBudget = new ByteBudget(options.maxPendingFrameBytes ?? DEFAULT_MAX_PENDING_FRAME_BYTES);
    const max = options.maxConnections;
    if (max !== undefined) {
      this.server.maxConnections = max;
      // Node closes such sockets itself, before 'connection'; 'drop' is where we hear of them.
      this.server.on('drop', (data?: { remoteAddress?: string }) => {
        options.logger?.warn(`Socket.D TCP server: refused a connection from ${data?.remoteAddress ?? 'unknown'}: maxConnections ${max} reached (SOCKETD_ERR_TOO_MANY_CONNECTIONS)`);
      });
    }
  }

  listen(onConnection: (connection: Connection) => void): Promise<void> {
    this.onConnection = onConnection;
    return new Promise((resolve, reject) => {
      const server = this.server;
      server.on('connection', (socket: Socket) => {
        const acceptedAt = performance.now();
        if (!this.perAddress.admit(socket)) return;
        if (this.tls !== undefined) this.tls.accept(socket, acceptedAt);
        else onConnection(new TcpConnection(socket, { ...this.options, pendingBudget: this.pendingBudget, memory: this.options.budget?.open(socket.remoteAddress), acceptedAt }));
      });
      const onError = (err: Error): void => {
        reject(socketDError('TRANSPORT', `TCP listen on ${this.host}:${this.port} failed: ${err.message}`, { cause: err }));
      };
      server.once('error', onError);
      server.listen({ host: this.host, port: this.port, backlog: this.options.backlog }, () => {
        server.off('error', onError);
        // Later errors (EMFILE on accept, ...) go to onError; the listener also keeps one from
        // crashing the process.
        server.on('error', (err: Error) => this.options.onError?.(
          socketDError('TRANSPORT', `TCP server on ${this.host}:${this.port} failed: ${err.message}`, { cause: err })));
        this.listening = true;
        resolve();
      });
    });
  }

  /** Stops accepting; open connections stay up (Node's close callback would wait for them). */
  close(): Promise<void> {
    if (this.listening) {
      this.listening = false;
      this.server.close();
    }
    return Promise.resolve();
  }

  address(): { host: string; port: number } | undefined {
    const a = this.server.address();
    return a === null || typeof a === 'string' ? undefined : { host: a.address, port: a.port };
  }

  /** The listening `net.Server` (TLS is layered on its sockets; see `TlsAcceptor`). */
  unwrap(): Server {
    return this.server;
  }
}

/**
 * `sd:tcp` (and the Java/Python aliases that name their implementation): plain, or TLS when
 * the server has a `tls` option and when the client is given `tls` options (as upstream Java,
 * which speaks TLS on `sd:tcp` once an SSL context is set).
 */
export const tcpTransport: Transport = {
  schema: 'tcp',
  aliases: ['tcp-java', 'tcp-netty', 'tcp-smartsocket', 'tcp-python'],
  client: new TcpClientTransport(),
  serverTls: true,
  createServer: (url: ParsedUrl, options: ServerTransportOptions) => new TcpServerTransport(url.host, url.port, options),
};

/**
 * `sd:tcps` (Java's name for tcp in TLS): always TLS. A client trusts Node's root CAs unless
 * given `tls.ca`; a server must be given `tls` (key and cert). Same frames as `sd:tcp`.
 */
export const tcpsTransport: Transport = {
  schema: 'tcps',
  client: new TcpClientTransport(true),
  serverTls: true,
  createServer: (url: ParsedUrl, options: ServerTransportOptions) => {
    if (checkTlsOption(options.tls) === undefined) {
      throw socketDError('INVALID_ARGUMENT', 'sd:tcps needs the tls option with the server\'s key and cert (or pfx)');
    }
    return new TcpServerTransport(url.host, url.port, options);
  },
};

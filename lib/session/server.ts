import { MAX_FRAGMENT_SIZE } from '../protocol/constants.js';
import type { Connection, ServerTransport } from './connection.js';
import { socketDError } from '../protocol/errors.js';
import { createServerTransport, transportFor } from './transport-registry.js';
import { parseUrl } from './url.js';
import { resolveServerOptions, type ResolvedSessionOptions } from './options.js';
import { SocketDSession } from './session.js';
import type { ServerOptions, Session } from './types.js';

/**
 * A Socket.D server on one URL (`sd:tcp://0.0.0.0:8602`, `sd:ws://host:port`; port 0 picks
 * a free port). Every accepted connection becomes a `Session` after its handshake.
 */
export class SdServer {
  private readonly transport: ServerTransport;
  private readonly all = new Set<SocketDSession>();
  private readonly resolved: ReturnType<typeof resolveServerOptions>;
  private listening = false;
  /** Session options for datagram connections: no fragmentation (spec 3.3). */
  private readonly datagramSession: ResolvedSessionOptions;

  constructor(url: string, private readonly options: ServerOptions = {}) {
    this.resolved = resolveServerOptions(options);
    this.datagramSession = { ...this.resolved.session, fragmentSize: MAX_FRAGMENT_SIZE };
    const parsed = parseUrl(url);
    if (options.tls !== undefined && transportFor(parsed.schema).serverTls !== true) {
      // Serving plain text to clients configured for TLS would fail far from the cause.
      throw socketDError('INVALID_ARGUMENT', `the '${parsed.schema}' transport cannot serve TLS from the tls option: use sd:tcp:// or sd:tcps://${parsed.schema === 'ws' || parsed.schema === 'wss' ? ' (for wss pass an https.Server as httpServer)' : ''}`);
    }
    const { session, maxConnections, maxConnectionsPerAddress, maxPendingFrameBytes, handshakeTimeout } = this.resolved;
    this.transport = createServerTransport(parsed, {
      maxFrameSize: session.maxFrameSize,
      highWaterMark: session.highWaterMark,
      maxWriteBufferSize: session.maxWriteBufferSize,
      frameTimeout: session.frameTimeout,
      maxDatagramSize: session.maxDatagramSize,
      maxConnections,
      maxConnectionsPerAddress,
      maxPendingFrameBytes,
      handshakeTimeout,
      requireSubprotocol: this.resolved.requireSubprotocol,
      udpAllowTokenless: options.udpAllowTokenless === true,
      httpServer: options.httpServer,
      tls: this.resolved.tls,
      logger: session.logger,
      onError: (err) => this.reportError(err),
    });
  }

  /** Starts accepting connections. */
  async listen(): Promise<this> {
    await this.transport.listen((connection) => this.accept(connection));
    this.listening = true;
    return this;
  }

  /** Open (handshaken, not yet closed) sessions. */
  get sessions(): ReadonlySet<Session> {
    const open = new Set<Session>();
    for (const session of this.all) if (session.state === 'open' || session.state === 'closing') open.add(session);
    return open;
  }

  /** The bound address once listening (the real port when the URL said 0). */
  address(): { host: string; port: number } | undefined {
    return this.transport.address();
  }

  /** The native server: `net.Server` (tcp), `WebSocketServer` (ws) or `dgram.Socket` (udp). */
  unwrap<T = unknown>(): T {
    return this.transport.unwrap() as T;
  }

  /**
   * The transport's counters, when it keeps any: `sd:udp` counts its sessions and every
   * datagram it dropped (garbage, strangers, oversize, refused Connects, ...). Undefined for tcp/ws.
   */
  transportStats(): Readonly<Record<string, number>> | undefined {
    return this.transport.stats?.();
  }

  /** Stops accepting connections; open sessions stay up. */
  async stopAccepting(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    await this.transport.close();
  }

  /** Stops accepting, sends Close 1001 to every session and resolves once all are closed. */
  async close(): Promise<void> {
    await this.stopAccepting();
    const sessions = [...this.all];
    await Promise.all(sessions.map((session) => new Promise<void>((resolve) => {
      session.onClose(() => resolve());
      session.close();
    })));
  }

  /** An error of the listening transport: logged, then handed to the user's `onError`. */
  private reportError(err: Error): void {
    this.resolved.session.logger?.error(`Socket.D server: ${err.message}`, err.stack);
    this.options.onError?.(err);
  }

  private accept(connection: Connection): void {
    const options = connection.maxDatagramSize === undefined ? this.resolved.session : this.datagramSession;
    const session = new SocketDSession(connection, 'server', options, this.options, {
      onHandshake: this.options.onHandshake,
      handshakeTimeout: this.resolved.handshakeTimeout,
      // The transport's own handshake (the WebSocket upgrade) already used part of it.
      startedAt: connection.acceptedAt,
    });
    this.all.add(session);
    session.onClose(() => this.all.delete(session));
  }
}

/** Creates a server on `url` and starts listening. */
export async function listen(url: string, options?: ServerOptions): Promise<SdServer> {
  return new SdServer(url, options).listen();
}

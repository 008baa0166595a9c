import type { Connection, ServerTransport } from './connection.js';
import { socketDError } from '../protocol/errors.js';
import { transportFor } from './transport-registry.js';
import { parseUrl } from './url.js';
import { resolveServerOptions, type ResolvedSessionOptions } from './options.js';
import { SocketDSession } from './session.js';
import { MemoryBudget } from './memory-budget.js';
import type { ServerOptions, Session } from './types.js';

/**
 * A Socket.D server on one URL (`sd:<schema>://host:port`; port 0 picks a free port), served
 * by the transport registered for the URL's schema. Every accepted connection becomes a `Session` after its handshake.
 */
export class SdServer {
  private readonly transport: ServerTransport;
  private readonly all = new Set<SocketDSession>();
  private readonly resolved: ReturnType<typeof resolveServerOptions>;
  /**
   * What the server holds for its peers (`memoryBudget` and its per-address and
   * per-connection shares); `memory.used` is what they hold now.
   */
  readonly memory: MemoryBudget;
  private listening = false;
  /** The transport's schema, for telemetry. */
  private readonly schema: string;

  constructor(url: string, private readonly options: ServerOptions = {}) {
    this.resolved = resolveServerOptions(options);
    const parsed = parseUrl(url, options.transports);
    this.schema = parsed.schema;
    const transport = transportFor(parsed.schema, options.transports);
    if ((options as { tls?: unknown }).tls !== undefined && transport.serverTls !== true) {
      // Serving plain text to clients configured for TLS would fail far from the cause.
      const hint = transport.serverTlsHint === undefined ? '' : ` (${transport.serverTlsHint})`;
      throw socketDError('INVALID_ARGUMENT', `the '${parsed.schema}' transport cannot serve TLS from the tls option: use a transport that serves TLS${hint}`);
    }
    const { session, maxConnections, maxConnectionsPerAddress, maxPendingFrameBytes, handshakeTimeout } = this.resolved;
    this.memory = new MemoryBudget(this.resolved.memoryBudget, this.resolved.memoryBudgetPerAddress, this.resolved.memoryBudgetPerConnection);
    this.transport = transport.createServer(parsed, {
      // The transport's own options (TransportServerOptions) pass through untouched.
      ...options,
      maxFrameSize: session.maxFrameSize,
      highWaterMark: session.highWaterMark,
      maxWriteBufferSize: session.maxWriteBufferSize,
      frameTimeout: session.frameTimeout,
      maxConnections,
      maxConnectionsPerAddress,
      maxPendingFrameBytes,
      budget: this.memory,
      handshakeTimeout,
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

  /** The native server of the transport (`net.Server`, `WebSocketServer`, `dgram.Socket`, ...). */
  unwrap<T = unknown>(): T {
    return this.transport.unwrap() as T;
  }

  /**
   * The transport's counters, when it keeps any: a datagram transport counts its sessions and
   * every datagram it dropped (garbage, strangers, oversize, refused Connects, ...). Undefined
   * for the byte-stream transports.
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

  /**
   * Stops accepting, sends Close 1001 to every session (a connection still in its handshake is
   * dropped instead, so that its client retries) and resolves once all are closed.
   */
  async close(): Promise<void> {
    await this.stopAccepting();
    const sessions = [...this.all];
    await Promise.all(sessions.map((session) => new Promise<void>((resolve) => {
      session.onClose(() => resolve());
      // Not yet answered with a Connack: dropped, not refused (see SocketDSession.drop).
      if (session.state === 'handshaking') session.drop();
      else session.close();
    })));
  }

  /** An error of the listening transport: logged, then handed to the user's `onError`. */
  private reportError(err: Error): void {
    this.resolved.session.logger?.error(`Socket.D server: ${err.message}`, err.stack);
    this.options.onError?.(err);
  }

  private accept(connection: Connection): void {
    const session = new SocketDSession(connection, 'server', this.resolved.session, this.options, {
      onHandshake: this.options.onHandshake,
      handshakeTimeout: this.resolved.handshakeTimeout,
      // The transport's own handshake (an upgrade, a TLS handshake) already used part of it.
      startedAt: connection.acceptedAt,
    }, this.schema);
    this.all.add(session);
    session.onClose(() => this.all.delete(session));
  }
}

/** Creates a server on `url` and starts listening. */
export async function listen(url: string, options?: ServerOptions): Promise<SdServer> {
  return new SdServer(url, options).listen();
}

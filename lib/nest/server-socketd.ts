import { Logger } from '@nestjs/common';
import type { CustomTransportStrategy } from '@nestjs/microservices';
import { SdServer } from '../engine.js';
import { milliseconds } from '../session/options.js';
import type { Metas, ReceivedMessage, ServerOptions, Session } from '../session/types.js';
import { NEST_STREAM_META, NEST_STREAM_VERSION, SOCKETD_DEFAULT_GRACE_PERIOD, SOCKETD_TRANSPORT } from './socketd.constants.js';
import { engineOptions } from './socketd.engine-options.js';
import { SocketDStatus } from './socketd.events.js';
import { resolveSocketDUrl, SERVER_NEST_OPTION_NAMES, validateServerOptions, type SocketDAddressOptions } from './socketd.options.js';
import { mergeMetas } from './socketd.serializer.js';
import { SocketDPlayerLinks, validatePlayerOptions, type SocketDPlayerOptions } from './socketd.player.js';
import { SocketDServerCore, type SocketDHandlingOptions } from './socketd.server-core.js';
import { withServerHooks } from './socketd.server-hooks.js';

// Options only the strategy reads; the rest go to the engine.
const NEST_ONLY_OPTIONS = SERVER_NEST_OPTION_NAMES;

/**
 * Options of {@link SocketDServer}: the URL, the engine's `ServerOptions` (timeouts, limits,
 * `onHandshake`, `onOpen`/`onClose`/... listeners, which run besides the strategy's own), and
 * how messages are handled.
 */
export interface SocketDServerOptions extends Omit<ServerOptions, 'onMessage'>, SocketDHandlingOptions, SocketDAddressOptions {
  /**
   * Where to listen: `sd:tcp://host:port` or `sd:ws://host:port[/path]` (port 0 = a random
   * port, see {@link SocketDServer.address}). Default `sd:tcp://127.0.0.1:8602`, unless
   * `player` is given without any of `url`/`host`/`port`/`transport`: then the server does not
   * listen at all, it only plays.
   */
  url?: string;
  /** Nest's TCP transport name for {@link ServerOptions.tls}: accepted as `tls` (give one, not both). */
  tlsOptions?: ServerOptions['tls'];
  /**
   * Broker player mode: `{ urls: 'sd:tcp://broker:8602', name: 'orders' }` connects OUT to
   * each broker under that name (Connect meta `@`) and serves the Requests, Subscribes and
   * Messages the brokers forward with the same handlers (and mapping, errors, cancellation)
   * as the server's own clients. Links reconnect by themselves; `close()` closes them too.
   * Default: no broker.
   */
  player?: SocketDPlayerOptions;
  /**
   * Runs on each client's Connect before it is accepted: return false (or throw, or reject)
   * to refuse it (Close 1001; the client's connect fails with
   * `SOCKETD_ERR_HANDSHAKE_REJECTED`). Entries added to `outMetas` travel back in the Connack;
   * `outMetas` already holds `X-Nest-Stream=1` (delete it to have `SocketDClient`s in `auto`
   * call mode send Requests instead of Subscribes). Default: accept everyone.
   */
  onHandshake?: ServerOptions['onHandshake'];
  /**
   * Milliseconds `close()` lets in-flight handlers finish after asking clients to stop
   * (Close 1000) and before closing every session (Close 1001). Default 5 000.
   */
  gracePeriod?: number;
}

/**
 * Socket.D v2 transport strategy for Nest microservices (TCP or WebSocket).
 *
 * ```ts
 * const app = await NestFactory.createMicroservice(AppModule, {
 *   strategy: new SocketDServer({ url: 'sd:tcp://0.0.0.0:8602' }),
 * });
 * await app.listen();
 * ```
 * Message → `@EventPattern`; Request and Subscribe → `@MessagePattern` (see README for the
 * full mapping); handler errors → an Alarm on the stream.
 */
export class SocketDServer extends SocketDServerCore implements CustomTransportStrategy {
  override transportId = SOCKETD_TRANSPORT;
  protected override readonly logger = new Logger(SocketDServer.name);
  /** The URL listened on; undefined for a server that only plays (see `player`). */
  protected readonly url: string | undefined;
  protected readonly gracePeriod: number;
  /** The listener; undefined for a server that only plays. */
  protected readonly engine: SdServer | undefined;
  /** The broker links of player mode; undefined without `player`. */
  protected readonly player: SocketDPlayerLinks | undefined;
  private closing: Promise<void> | undefined;

  constructor(protected readonly options: SocketDServerOptions = {}) {
    super(validateServerOptions(options));
    validatePlayerOptions(options.player);
    const onMessage = (session: Session, message: ReceivedMessage): void => this.handleMessage(session, message);
    this.url = options.player !== undefined && !hasAddress(options) ? undefined : resolveSocketDUrl(options);
    this.gracePeriod = milliseconds('gracePeriod', this.getOptionsProp(options, 'gracePeriod', SOCKETD_DEFAULT_GRACE_PERIOD), 0);
    this.engine = this.url === undefined ? undefined : new SdServer(
      this.url,
      engineOptions<ServerOptions>(withServerHooks(announceStreams(options), this.logger, this.events.emit), NEST_ONLY_OPTIONS, onMessage, this.events.emit),
    );
    this.player = options.player === undefined ? undefined : new SocketDPlayerLinks(announcePlayerStreams(options.player), onMessage, this.events.emit, this.logger);
  }

  /**
   * Starts listening and connects to the brokers (player mode); `callback(err)` when the
   * address is unavailable or no broker could be reached.
   */
  listen(callback: (err?: unknown, ...optionalParams: unknown[]) => void): void {
    this.start().then(
      () => {
        this.setStatus(SocketDStatus.CONNECTED);
        this.events.emit('listening');
        callback();
      },
      (err: unknown) => {
        this.setStatus(SocketDStatus.DISCONNECTED);
        this.events.emit('error', err as Error);
        callback(err);
      },
    );
  }

  /**
   * Graceful stop: stop accepting, Close 1000 to every client and broker (start nothing new;
   * what they started before it still runs, what they start after it gets an Alarm), wait up to
   * `gracePeriod` ms for the handlers in flight to finish, then Close 1001 to every session
   * (cancelling the streams still running). Idempotent.
   */
  close(): Promise<void> {
    return (this.closing ??= this.shutdown());
  }

  /**
   * The native server: a `net.Server` (tcp) or a ws `WebSocketServer` (ws). A server that only
   * plays has none: it returns the broker links' engine clients (`SdClient[]`).
   */
  unwrap<T>(): T {
    if (this.engine === undefined) return (this.player?.links ?? []) as T;
    return this.engine.unwrap<T>();
  }

  /** The open sessions: one per connected client (broker links are in {@link playerSessions}). */
  get sessions(): ReadonlySet<Session> {
    return this.engine?.sessions ?? new Set();
  }

  /** The open broker sessions of player mode (one per connected broker). */
  get playerSessions(): readonly Session[] {
    return this.player?.sessions ?? [];
  }

  /** The address listened on (the real port when the URL said port 0); undefined before `listen` or when only playing. */
  address(): { host: string; port: number } | undefined {
    return this.engine?.address();
  }

  /**
   * Sends a Message to every open session; resolves with how many got it. Encodes the value
   * once; waits for a saturated session to drain before going on, so a slow client slows the
   * broadcast instead of growing memory.
   */
  async broadcast(event: string, data?: unknown, metas?: Metas): Promise<number> {
    const entity = await this.encodePayload(data);
    const allMetas = mergeMetas(entity.metas, undefined, metas);
    let count = 0;
    for (const session of [...this.sessions]) {
      if (!session.isOpen) continue;
      try {
        if (!session.send(event, entity.data, { metas: allMetas })) await session.drain();
        count++;
      } catch (err) {
        this.logger.warn(`Socket.D: broadcast of '${event}' to ${session.remoteAddress ?? session.id} failed: ${String(err)}`);
      }
    }
    return count;
  }

  // Listening first (a port in use fails fast), then the broker links.
  private async start(): Promise<void> {
    await this.engine?.listen();
    try {
      await this.player?.connect();
    } catch (err) {
      await this.engine?.close();
      throw err;
    }
  }

  private async shutdown(): Promise<void> {
    const graceEnd = Date.now() + this.gracePeriod;
    try {
      await this.engine?.stopAccepting();
    } catch (err) {
      this.logger.warn(`Socket.D: stopAccepting failed: ${String(err)}`);
    }
    // Close 1000 to clients and brokers alike: start nothing new on this server. Once a peer has
    // read it (its Pong to the Ping behind it), whatever it started before has arrived, and it
    // starts nothing more: then the calls in flight are all the handlers there will be.
    const read = Promise.all([...[...this.sessions].map((session) => session.preclose()), this.player?.preclose()]);
    const allRead = await within(read, this.gracePeriod);
    const idle = allRead ? await this.waitForIdle(Math.max(0, graceEnd - Date.now())) : this.pendingHandlers === 0;
    if (!idle) {
      this.logger.warn(`Socket.D: ${this.pendingHandlers} handler(s) still running after ${this.gracePeriod} ms; closing anyway`);
    }
    await Promise.all([this.engine?.close(), this.player?.close()]);
    this.setStatus(SocketDStatus.DISCONNECTED);
  }
}

// True when `promise` settles within `ms`, false after.
function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    promise.then(() => { clearTimeout(timer); resolve(true); }, () => { clearTimeout(timer); resolve(true); });
  });
}

/**
 * The options with an `onHandshake` that puts `X-Nest-Stream=1` in every Connack (this server
 * answers a Subscribe with Reply... ReplyEnd), then runs the user's hook, which may change it.
 */
function announceStreams(options: SocketDServerOptions): SocketDServerOptions {
  const user = options.onHandshake;
  return {
    ...options,
    onHandshake: (handshake, outMetas, remoteAddress) => {
      outMetas[NEST_STREAM_META] = NEST_STREAM_VERSION;
      return user?.(handshake, outMetas, remoteAddress);
    },
  };
}

/**
 * The player options with `X-Nest-Stream=1` in the Connect metas: our broker then sends a Nest
 * client's auto Subscribes on to this player as Subscribes (every value of a stream arrives).
 */
function announcePlayerStreams(player: SocketDPlayerOptions): SocketDPlayerOptions {
  return { ...player, metas: { [NEST_STREAM_META]: NEST_STREAM_VERSION, ...player.metas } };
}

// True when the options say where to listen (`url` or any of `host`/`port`/`transport`).
function hasAddress(options: SocketDServerOptions): boolean {
  return options.url !== undefined || options.host !== undefined || options.port !== undefined || options.transport !== undefined;
}

import type { LoggerService } from '@nestjs/common';
import { clusterUrls, describeError, SdClient, socketDError } from '../engine.js';
import type { ClientOptions, ReceivedMessage, Session } from '../session/types.js';
import { engineOptions } from './socketd.engine-options.js';
import type { SocketDEmit } from './socketd.event-emitter.js';
import { ENGINE_CLIENT_OPTION_NAMES, nearest } from './socketd.options.js';

/** The handshake param (and Connect meta) that names a broker player (spec section 10). */
export const PLAYER_NAME_META = '@';

/**
 * Option `player` of {@link SocketDServer}: connect OUT to one or more Socket.D brokers under
 * a name and serve what they forward (the same handlers, mapping, errors and cancellation as
 * for the server's own clients). Besides `urls` and `name` it takes the engine's client
 * options for the broker links (`heartbeatInterval`, `reconnectDelay`, `maxReconnectDelay`,
 * `connectTimeout`, `metas`, limits, `onOpen`/`onClose` listeners, ...).
 */
export interface SocketDPlayerOptions extends Omit<ClientOptions, 'onMessage' | 'autoReconnect'> {
  /**
   * The broker(s): `sd:tcp://broker:8602` or `sd:ws://...`, a list, or a comma-separated
   * list. One link per URL, each reconnecting on its own.
   */
  urls: string | readonly string[];
  /**
   * The player name callers address (`@=name`, `name*`, `name!`): sent as the Connect meta
   * `@`. Several servers with the same name share the load.
   */
  name: string;
}

// The keys of SocketDPlayerOptions the player reads itself.
const PLAYER_OWN_OPTIONS = ['urls', 'name'] as const;
const PLAYER_OPTION_NAMES: readonly string[] = [
  ...PLAYER_OWN_OPTIONS,
  ...ENGINE_CLIENT_OPTION_NAMES.filter((key) => key !== 'onMessage' && key !== 'autoReconnect'),
];

/** Checks the `player` option of a {@link SocketDServer}; throws `SOCKETD_ERR_INVALID_ARGUMENT`. */
export function validatePlayerOptions(player: unknown): void {
  if (player === undefined) return;
  if (player === null || typeof player !== 'object') {
    throw socketDError('INVALID_ARGUMENT', `SocketDServer: 'player' must be an object { urls, name }, got ${String(player)}`);
  }
  for (const key of Object.keys(player)) {
    if (PLAYER_OPTION_NAMES.includes(key)) continue;
    const hint = key === 'autoReconnect' ? ' (broker links always reconnect)' : key === 'onMessage' ? ' (messages go to the app\'s handlers)' : '';
    const near = hint === '' ? nearest(key, PLAYER_OPTION_NAMES) : undefined;
    throw socketDError('INVALID_ARGUMENT', `SocketDServer: unknown player option '${key}'${hint}${near === undefined ? '' : ` — did you mean '${near}'?`}`);
  }
  const { urls, name } = player as Partial<SocketDPlayerOptions>;
  if (typeof name !== 'string' || name.length === 0 || /[*!,&=]/.test(name)) {
    throw socketDError('INVALID_ARGUMENT', `SocketDServer: player.name must be a non-empty name without '*', '!', ',', '&' or '=', got ${String(name)}`);
  }
  if (urls === undefined || (typeof urls !== 'string' && !Array.isArray(urls)) || !hasUrl(urls)) {
    throw socketDError('INVALID_ARGUMENT', 'SocketDServer: player.urls must name at least one broker URL');
  }
}

// The broker URLs parse as a cluster's (a comma inside a URL's query stays in that URL).
function hasUrl(urls: string | readonly string[]): boolean {
  try {
    return clusterUrls(urls).length > 0;
  } catch {
    return false;
  }
}

/**
 * The broker links of a {@link SocketDServer} in player mode: one engine client (`SdClient`,
 * `autoReconnect` on) per broker URL, named by the Connect meta `@`. What a broker forwards
 * goes to `onMessage` (the strategy's handler path).
 *
 * `connect()` resolves once every link is up. A link whose first connect fails keeps trying in
 * the background (its engine client's own backoff: `reconnectDelay` doubling up to
 * `maxReconnectDelay`) as long as another link is up; only when none came up does `connect()`
 * reject (as a listen on a taken port does). A dropped link reconnects the same way.
 */
export class SocketDPlayerLinks {
  readonly name: string;
  private readonly clients: SdClient[];
  private closed = false;

  constructor(
    options: SocketDPlayerOptions,
    onMessage: (session: Session, message: ReceivedMessage) => void,
    emit: SocketDEmit,
    private readonly logger: LoggerService,
  ) {
    this.name = options.name;
    const withName = { ...options, metas: { ...options.metas, [PLAYER_NAME_META]: options.name }, autoReconnect: true };
    const engine = engineOptions<ClientOptions>(withName, PLAYER_OWN_OPTIONS, onMessage, emit);
    this.clients = clusterUrls(options.urls).map((url) => {
      const client = new SdClient(url, engine);
      client.keepTrying();
      return client;
    });
  }

  /** The open broker sessions (one per connected link). */
  get sessions(): Session[] {
    const open: Session[] = [];
    for (const client of this.clients) {
      const session = client.session;
      if (session !== undefined) open.push(session);
    }
    return open;
  }

  /** The engine clients, one per broker URL. */
  get links(): readonly SdClient[] {
    return this.clients;
  }

  /** Connects every link; see the class comment for partial failures. */
  async connect(): Promise<void> {
    const results = await Promise.allSettled(this.clients.map((client) => client.connect()));
    const failed = results.flatMap((result, i) => (result.status === 'rejected' ? [{ client: this.clients[i]!, err: result.reason as unknown }] : []));
    if (failed.length === results.length) {
      await this.close();
      throw failed[0]!.err;
    }
    for (const { client, err } of failed) {
      this.logger.warn(`Socket.D: player '${this.name}' cannot reach a broker yet (${describeError(err)}); retrying in the background`);
      const stop = client.onStatus((status) => {
        if (status !== 'connected' && status !== 'closed') return;
        stop();
        if (status === 'connected' && !this.closed) this.logger.log(`Socket.D: player '${this.name}' reached its broker`);
      });
    }
  }

  /**
   * Close 1000 to every broker: start nothing new here (the server is stopping). Resolves once
   * each broker has read it (see `Session.preclose`).
   */
  async preclose(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.session?.preclose()));
  }

  /** Closes every link (Close 1001, no reconnect). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.clients.map((client) => client.close()));
  }
}

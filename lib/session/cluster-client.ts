import { isSocketDError, socketDError, type SocketDError } from '../protocol/errors.js';
import { describeError, safeCall } from './callbacks.js';
import { SdClient } from './client.js';
import { clusterUrls, hashIndex, isUrlList, RoundRobin } from './cluster-balance.js';
import { resolveClientOptions } from './options.js';
import { streamTimeout } from './outbound-streams.js';
import type {
  ClientOptions, ClientStatus, EngineLogger, Payload, ReceivedMessage, RequestOptions, SendOptions, Session,
  StreamHandle, StreamObserver,
} from './types.js';

/** Options of one call on an {@link SdClusterClient}. */
export interface ClusterSendOptions extends SendOptions {
  /**
   * Pick the session by this key instead of round-robin: `abs(hashCode(key)) % active` (Java's
   * `String.hashCode`), so the same key goes to the same server while the set of active
   * sessions stays the same.
   */
  hashKey?: string;
}

/** Options of one Request or Subscribe on an {@link SdClusterClient}. */
export interface ClusterRequestOptions extends RequestOptions, ClusterSendOptions {}

/** Options of {@link SdClusterClient}: those of `SdClient`, given to the client of every URL. */
export type ClusterClientOptions = ClientOptions;

/** What {@link SdClusterClient.onClusterStatus} listeners get. */
export interface ClusterStatus {
  /** The aggregate status: `connected` while at least one URL is connected. */
  readonly status: ClientStatus;
  /** URLs whose client is connected. */
  readonly up: number;
  /** URLs in the cluster. */
  readonly total: number;
}

/**
 * A Socket.D client for several URLs (spec section 10, upstream's `ClusterClient`): one
 * {@link SdClient} per URL (its own connection, handshake, heartbeat and reconnect), and every
 * call goes out on one *active* session (open, not closing): round-robin, or by hash of the
 * call's `hashKey`.
 *
 *   cluster.request(...) --> pick an active session --> sd:tcp://a:8602  (up)
 *                               round-robin / hash  \-> sd:tcp://b:8602  (up)
 *                                                    x  sd:tcp://c:8602  (reconnecting: skipped)
 *
 * Failure semantics:
 * - a session that drops, or gets Close 1000, leaves the rotation at once; a dropped one's
 *   pending Requests/Subscribes fail with SOCKETD_ERR_CONNECTION_CLOSED as on an `SdClient`
 *   (a closing one's finish there); nothing is retried on another session;
 * - with no active session a call waits for one at most its own timeout (a Request's
 *   `timeout`, else `requestTimeout`), then fails with SOCKETD_ERR_UNREACHABLE
 *   ("No session is available!" plus each URL's state and last error); at once when no URL
 *   will try again before that;
 * - every URL's `SdClient` retries on its own (`keepTrying`), a failed first connect included
 *   (`reconnectDelay` doubling up to `maxReconnectDelay`, while `autoReconnect`).
 */
export class SdClusterClient {
  /** The URLs, in order (one `SdClient` each). */
  readonly urls: readonly string[];
  /** The client of each URL, in the order of {@link urls}. */
  readonly clients: readonly SdClient[];
  private readonly resolved: ReturnType<typeof resolveClientOptions>;
  private readonly log: EngineLogger;
  private readonly roundRobin = new RoundRobin();
  private readonly everUpAt = new Set<SdClient>();
  private readonly statusListeners = new Set<(status: ClientStatus) => void>();
  private readonly clusterListeners = new Set<(status: ClusterStatus) => void>();
  private connecting: Promise<Session> | undefined;
  private statusValue: ClientStatus = 'disconnected';
  private upValue = 0;
  private closed = false;

  constructor(urls: string | readonly string[], options: ClusterClientOptions = {}) {
    this.urls = Object.freeze(clusterUrls(urls));
    this.resolved = resolveClientOptions(options);
    this.log = this.resolved.session.logger;
    this.clients = Object.freeze(this.urls.map((url) => new SdClient(url, options)));
    for (const client of this.clients) {
      client.keepTrying();
      client.onStatus((status) => {
        if (status === 'connected') this.everUpAt.add(client);
        this.refreshStatus();
      });
    }
  }

  /**
   * An active session (the first open one in URL order), if any. It does not advance the
   * round-robin: use {@link sessionFor} to pick the session of a call.
   */
  get session(): Session | undefined {
    for (const client of this.clients) if (client.session?.isOpen === true) return client.session;
    return undefined;
  }

  /** Every active session, in URL order. */
  get sessions(): Session[] {
    return this.active();
  }

  /** The aggregate status: `connected` while at least one URL is connected (see {@link ClientStatus}). */
  get status(): ClientStatus {
    return this.statusValue;
  }

  /** How many URLs are connected. */
  get up(): number {
    return this.upValue;
  }

  /** Calls `fn` on every change of the aggregate status; returns the unsubscribe function. */
  onStatus(fn: (status: ClientStatus) => void): () => void {
    this.statusListeners.add(fn);
    return () => this.statusListeners.delete(fn);
  }

  /** Calls `fn` when the aggregate status or the number of connected URLs changes. */
  onClusterStatus(fn: (status: ClusterStatus) => void): () => void {
    this.clusterListeners.add(fn);
    return () => this.clusterListeners.delete(fn);
  }

  /**
   * The session a call would use: by hash of `key`, else the next one round-robin. Throws
   * SOCKETD_ERR_UNREACHABLE ("No session is available!") when none is active.
   */
  sessionFor(key?: string): Session {
    if (this.closed) throw closedError();
    const active = this.active();
    if (active.length === 0) throw this.noSession();
    return active[key === undefined ? this.roundRobin.next(active.length) : hashIndex(key, active.length)]!;
  }

  /**
   * Connects every URL; resolves with the first session that opens (the others keep
   * connecting), or rejects when every URL failed. Idempotent while an attempt runs.
   */
  connect(): Promise<Session> {
    if (this.closed) return Promise.reject(closedError());
    const session = this.session;
    if (session !== undefined) return Promise.resolve(session);
    return (this.connecting ??= this.connectAll().finally(() => { this.connecting = undefined; }));
  }

  /**
   * The session a call would use (see {@link sessionFor}), waiting for one at most `ms` as
   * calls do: SOCKETD_ERR_UNREACHABLE after that, or at once when no URL will try before.
   */
  async ready(ms: number, key?: string): Promise<Session> {
    return this.sessionForCall(key, ms);
  }

  /** Message on one active session (waiting for one up to `requestTimeout`). */
  async send(event: string, data?: Payload, options?: ClusterSendOptions): Promise<boolean> {
    return (await this.sessionForCall(options?.hashKey, this.resolved.session.requestTimeout)).send(event, data, options);
  }

  /** Request on one active session; never retried on another one. Waiting for a session counts toward its timeout. */
  async request(event: string, data?: Payload, options?: ClusterRequestOptions): Promise<ReceivedMessage> {
    const bound = streamTimeout('request', options?.timeout, this.resolved.session);
    const started = Date.now();
    const session = await this.sessionForCall(options?.hashKey, bound);
    const waited = Date.now() - started;
    return session.request(event, data, waited === 0 ? options : { ...options, timeout: Math.max(1, bound - waited) });
  }

  /** Subscribe on one active session; never retried on another one (waiting for one up to `requestTimeout`). */
  async subscribe(event: string, data: Payload | undefined, observer: StreamObserver, options?: ClusterRequestOptions): Promise<StreamHandle> {
    return (await this.sessionForCall(options?.hashKey, this.resolved.session.requestTimeout)).subscribe(event, data, observer, options);
  }

  /** Close 1000 on every open session: the servers are told to start nothing new. */
  preclose(): void {
    for (const client of this.clients) client.preclose();
  }

  /** Closes every URL's client (Close 1001, no reconnect). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.clients.map((client) => client.close()));
    this.refreshStatus();
  }

  // An active session now, else the first one up within `ms` (SOCKETD_ERR_UNREACHABLE after).
  private sessionForCall(key: string | undefined, ms: number): Session | Promise<Session> {
    if (this.closed) throw closedError();
    if (this.active().length > 0) return this.sessionFor(key);
    const deadline = Date.now() + ms;
    // Connect what is idle: lazily the first time; after a failure only with autoReconnect.
    for (const client of this.clients) {
      if (client.state === 'idle' && (this.resolved.autoReconnect || client.lastConnectError === undefined)) client.connect().catch(() => undefined);
    }
    return new Promise<Session>((resolve, reject) => {
      const stops = this.clients.map((client) => client.onStateChange(() => check()));
      const timer = setTimeout(() => done(this.noSession()), Math.max(0, deadline - Date.now()));
      const done = (err: unknown): void => {
        for (const stop of stops) stop();
        clearTimeout(timer);
        if (err === undefined) resolve(this.sessionFor(key));
        else reject(err);
      };
      const check = (): void => {
        if (this.closed) return done(closedError());
        if (this.active().length > 0) return done(undefined);
        // Fail now when no URL can come up before the deadline.
        const hope = this.clients.some((client) => client.state === 'connecting' || client.state === 'handshaking' || client.state === 'open'
          || (client.state === 'backoff' && (client.nextAttemptAt ?? 0) < deadline));
        if (!hope) done(this.noSession());
      };
      check();
    });
  }

  private active(): Session[] {
    const open: Session[] = [];
    for (const client of this.clients) {
      const session = client.session;
      if (session?.isOpen === true) open.push(session);
    }
    return open;
  }

  private connectAll(): Promise<Session> {
    return new Promise<Session>((resolve, reject) => {
      const errors = new Map<SdClient, unknown>();
      for (const client of this.clients) {
        this.connectOne(client).then(resolve, (err: unknown) => {
          errors.set(client, err);
          if (errors.size === this.clients.length) reject(this.noSession(errors));
        });
      }
    });
  }

  // A URL that fails its first connect keeps trying on its own (SdClient.keepTrying).
  private connectOne(client: SdClient): Promise<Session> {
    return client.connect();
  }

  // Upstream's text, plus each URL's state and last error. Every URL refused:
  // SOCKETD_ERR_HANDSHAKE_REJECTED, as for one SdClient; else _UNREACHABLE.
  private noSession(errors?: Map<SdClient, unknown>): SocketDError {
    const states = this.clients.map((client, i) => {
      const err = errors?.get(client) ?? client.lastConnectError;
      const next = client.nextAttemptAt;
      return `${this.urls[i]} ${client.status}${err === undefined ? '' : ` (${describeError(err)})`}${next === undefined ? '' : `, next attempt in ${Math.max(0, next - Date.now())} ms`}`;
    });
    const lastErrors = this.clients.map((client) => errors?.get(client) ?? client.lastConnectError);
    const refused = lastErrors.every((err) => isSocketDError(err, 'HANDSHAKE_REJECTED'));
    return socketDError(refused ? 'HANDSHAKE_REJECTED' : 'UNREACHABLE', `No session is available! (${this.upValue} of ${this.clients.length} up: ${states.join(', ')})`, {
      urls: this.urls,
    });
  }

  private refreshStatus(): void {
    let up = 0;
    let trying = false;
    for (const client of this.clients) {
      if (client.status === 'connected') up++;
      else if (client.status === 'connecting' || client.status === 'reconnecting') trying = true;
    }
    const status: ClientStatus = this.closed ? 'closed'
      : up > 0 ? 'connected'
        : trying ? (this.everUpAt.size > 0 ? 'reconnecting' : 'connecting')
          : 'disconnected';
    if (status === this.statusValue && up === this.upValue) return;
    const statusChanged = status !== this.statusValue;
    this.statusValue = status;
    this.upValue = up;
    if (statusChanged) {
      for (const fn of this.statusListeners) safeCall(this.log, 'cluster status listener', () => fn(status));
    }
    const snapshot: ClusterStatus = Object.freeze({ status, up, total: this.clients.length });
    for (const fn of this.clusterListeners) safeCall(this.log, 'cluster status listener', () => fn(snapshot));
  }
}

/**
 * What `connect()` resolves with for `U`: an `SdClusterClient` for an array or a string that
 * lists several URLs, an `SdClient` for one URL; both when the type cannot tell (a `string`).
 */
export type ClientFor<U extends string | readonly string[]> = U extends readonly string[]
  ? SdClusterClient
  : string extends U
    ? SdClient | SdClusterClient
    : U extends `${string},${string}://${string}`
      ? SdClusterClient
      : U extends `${string},${string}`
        ? SdClient | SdClusterClient // a list, or one URL with a comma in its query: known at run time
        : SdClient;

/**
 * Creates a client and connects it. One URL (a string without a list in it) gives an
 * {@link SdClient}, exactly as before; a list, or a comma-separated string of several URLs
 * (`'sd:tcp://a:8602,sd:tcp://b:8602'`), gives an {@link SdClusterClient}, resolved once one
 * of its URLs is connected.
 */
export async function connect<const U extends string | readonly string[]>(urls: U, options?: ClientOptions): Promise<ClientFor<U>> {
  if (typeof urls === 'string' && !isUrlList(urls)) {
    const client = new SdClient(urls, options);
    await client.connect();
    return client as ClientFor<U>;
  }
  const cluster = new SdClusterClient(urls, options);
  try {
    await cluster.connect();
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return cluster as ClientFor<U>;
}

function closedError(): SocketDError {
  return socketDError('CONNECTION_CLOSED', 'client was closed');
}

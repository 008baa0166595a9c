import { CloseCodes, MAX_FRAGMENT_SIZE } from '../protocol/constants.js';
import { isSocketDError, socketDError, type SocketDError } from '../protocol/errors.js';
import type { ParsedUrl } from './connection.js';
import { describeError, safeCall } from './callbacks.js';
import { ConnectionLifecycle, type LifecycleState } from './connection-lifecycle.js';
import { createClientTransport } from './transport-registry.js';
import { parseUrl } from './url.js';
import { resolveClientOptions } from './options.js';
import { streamTimeout } from './outbound-streams.js';
import { SocketDSession } from './session.js';
import type {
  ClientOptions, ClientStatus, Payload, ReceivedMessage, RequestOptions, SendOptions, Session,
  StreamHandle, StreamObserver,
} from './types.js';

/**
 * A Socket.D client for one URL. `connect()` opens (and, after a drop, re-opens) one session;
 * with `autoReconnect` (default) a dropped connection is re-established in the background with
 * exponential backoff, and pending streams of the old connection fail at once. The states and
 * timers are those of {@link ConnectionLifecycle}.
 *
 * Status: connecting -> connected -> disconnected -> reconnecting -> connected ... -> closed.
 *
 * Close 1000 (from the server, or our `preclose()`): the session starts nothing new; its calls
 * in flight finish on it while new calls go to a fresh connection.
 *
 * A call made while no session is up waits for one at most its own timeout (a Request's
 * `timeout`, else `requestTimeout`), connecting included, then fails with
 * SOCKETD_ERR_UNREACHABLE; with `autoReconnect` off it fails at once once a connection was
 * lost or failed (call `connect()` to try again).
 */
export class SdClient {
  private readonly url: ParsedUrl;
  private readonly resolved: ReturnType<typeof resolveClientOptions>;
  private readonly lifecycle: ConnectionLifecycle;
  private readonly statusListeners = new Set<(status: ClientStatus) => void>();
  private current: SocketDSession | undefined;
  /** The session of the attempt in progress (before its Connack). */
  private handshaking: SocketDSession | undefined;
  /** Sessions that got or sent Close 1000: their calls in flight finish there. */
  private readonly draining = new Set<SocketDSession>();
  private attempt: Promise<void> | undefined;
  /** The outcome of the next attempt, for `connect()` callers. */
  private outcome: Deferred<Session> | undefined;
  private lastError: unknown;
  private retryFirstConnect = false;

  constructor(url: string, private readonly options: ClientOptions = {}) {
    this.url = parseUrl(url);
    this.resolved = resolveClientOptions(options);
    this.lifecycle = new ConnectionLifecycle(this.resolved, {
      startAttempt: () => { this.attempt = this.runAttempt(); },
      ping: () => this.current?.ping(),
      status: (status) => this.emitStatus(status),
    });
  }

  /** The open session, if any (not one that is closing). */
  get session(): Session | undefined {
    return this.openSession();
  }

  get status(): ClientStatus {
    return this.lifecycle.status;
  }

  /** The state of the connection (see {@link ConnectionLifecycle}). */
  get state(): LifecycleState {
    return this.lifecycle.state;
  }

  /** When the scheduled reconnect starts (ms since the epoch), while one is scheduled. */
  get nextAttemptAt(): number | undefined {
    return this.lifecycle.nextRetryAt;
  }

  /** Why the last connect attempt failed or the last session closed; undefined once connected. */
  get lastConnectError(): unknown {
    return this.lastError;
  }

  /** Calls `fn` after every change of {@link state}; returns the unsubscribe function. */
  onStateChange(fn: () => void): () => void {
    return this.lifecycle.onTransition(fn);
  }

  /** Calls `fn` on every status change; returns the unsubscribe function. */
  onStatus(fn: (status: ClientStatus) => void): () => void {
    this.statusListeners.add(fn);
    return () => this.statusListeners.delete(fn);
  }

  /**
   * Keeps retrying (with backoff, while `autoReconnect`) after a failed first connect too, not
   * only after a lost session: for clients that must reach their server eventually (a
   * cluster's members, a player's broker links).
   */
  keepTrying(): void {
    this.retryFirstConnect = true;
  }

  /**
   * Resolves with the open session, connecting first when there is none. Idempotent: callers
   * share one attempt, and while a reconnect is scheduled they wait for it. Rejects with that
   * attempt's error (SOCKETD_ERR_HANDSHAKE_REJECTED, _CONNECT_TIMEOUT, _TRANSPORT, ...), or
   * SOCKETD_ERR_CONNECTION_CLOSED once `close()` was called.
   */
  connect(): Promise<Session> {
    if (this.lifecycle.state === 'closed') return Promise.reject(closedError());
    const session = this.usableSession();
    if (session !== undefined) return Promise.resolve(session);
    const outcome = (this.outcome ??= deferred<Session>());
    this.lifecycle.dispatch('connect');
    return outcome.promise;
  }

  /** Message on the current session (waiting for one up to `requestTimeout`). */
  async send(event: string, data?: Payload, options?: SendOptions): Promise<boolean> {
    return (this.openSession() ?? await this.sessionWithin(this.resolved.session.requestTimeout)).send(event, data, options);
  }

  /**
   * Request on the current session; without one, the wait for it counts toward the
   * request's own timeout.
   */
  request(event: string, data?: Payload, options?: RequestOptions): Promise<ReceivedMessage> {
    const session = this.openSession();
    if (session !== undefined) return session.request(event, data, options);
    let bound: number;
    try {
      bound = streamTimeout('request', options?.timeout, this.resolved.session);
    } catch (err) {
      return Promise.reject(err);
    }
    const started = Date.now();
    return this.sessionWithin(bound).then((s) => s.request(event, data, { ...options, timeout: Math.max(1, bound - (Date.now() - started)) }));
  }

  /** Subscribe on the current session (waiting for one up to `requestTimeout`). */
  async subscribe(event: string, data: Payload | undefined, observer: StreamObserver, options?: RequestOptions): Promise<StreamHandle> {
    return (this.openSession() ?? await this.sessionWithin(this.resolved.session.requestTimeout)).subscribe(event, data, observer, options);
  }

  /** Close 1000 on the open session: the server is told to start nothing new on it. */
  preclose(): void {
    this.current?.preclose();
  }

  /** Sends Close 1001 (on every session, draining ones included) and stops reconnecting. */
  async close(): Promise<void> {
    if (this.lifecycle.state === 'closed') return;
    this.lifecycle.dispatch('close');
    this.outcome?.reject(closedError());
    this.outcome = undefined;
    for (const session of [this.current, this.handshaking, ...this.draining]) session?.close(CloseCodes.USER);
    this.current = undefined;
    this.draining.clear();
    await this.attempt;
  }

  private openSession(): SocketDSession | undefined {
    const session = this.current;
    return session !== undefined && session.state === 'open' ? session : undefined;
  }

  // The open session; a current one that is closing is handed off first (new calls go elsewhere).
  private usableSession(): SocketDSession | undefined {
    const session = this.current;
    if (session === undefined || session.state === 'open') return session;
    this.handOff(session);
    return undefined;
  }

  /**
   * The open session, waiting for one at most `ms` (connecting when none is planned), as
   * calls do. Rejects with SOCKETD_ERR_UNREACHABLE after `ms`, or at once when nothing can
   * come of waiting (`autoReconnect` off after a failure, or the next attempt starts after the
   * deadline); with SOCKETD_ERR_HANDSHAKE_REJECTED when refused; _CONNECTION_CLOSED once closed.
   */
  ready(ms: number): Promise<Session> {
    const session = this.openSession();
    return session !== undefined ? Promise.resolve(session) : this.sessionWithin(ms);
  }

  private sessionWithin(ms: number): Promise<SocketDSession> {
    const deadline = Date.now() + ms;
    return new Promise<SocketDSession>((resolve, reject) => {
      const lifecycle = this.lifecycle;
      if (lifecycle.state === 'idle') {
        if (!this.resolved.autoReconnect && this.lastError !== undefined) {
          reject(this.unreachable(ms));
          return;
        }
        void this.connect().catch(() => undefined);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const check = (): void => {
        if (lifecycle.state === 'closed') return done(closedError());
        const session = this.usableSession();
        if (session !== undefined) return done(undefined, session);
        if (lifecycle.state === 'idle') return done(isSocketDError(this.lastError, 'HANDSHAKE_REJECTED') ? this.lastError : this.unreachable(ms));
        if (lifecycle.state === 'backoff' && (lifecycle.nextRetryAt ?? 0) >= deadline) return done(this.unreachable(ms));
      };
      const stop = lifecycle.onTransition(check);
      const done = (err: unknown, session?: SocketDSession): void => {
        stop();
        clearTimeout(timer);
        if (session !== undefined) resolve(session);
        else reject(err);
      };
      timer = setTimeout(() => done(this.unreachable(ms)), Math.max(0, deadline - Date.now()));
      check();
    });
  }

  private unreachable(ms: number): SocketDError {
    const next = this.lifecycle.nextRetryAt;
    const state = this.lifecycle.state;
    const last = this.lastError === undefined ? 'none yet' : describeError(this.lastError);
    const plan = state === 'closed' ? 'the client is closed'
      : next !== undefined ? `next attempt in ${Math.max(0, next - Date.now())} ms`
        : state === 'connecting' || state === 'handshaking' ? 'an attempt is under way'
          : 'no further attempt (autoReconnect is off or the handshake was refused; call connect())';
    const waited = !this.resolved.autoReconnect && state === 'idle' ? 'not connected' : `no connection within ${ms} ms`;
    return socketDError('UNREACHABLE', `Socket.D server ${this.url.linkUrl} is unreachable: ${waited}; last connect error: ${last}; ${plan}`, {
      url: this.url.linkUrl, lastError: this.lastError, nextAttemptAt: next,
    });
  }

  private async runAttempt(): Promise<void> {
    const { connectTimeout } = this.resolved;
    const deadline = Date.now() + connectTimeout;
    let session: SocketDSession | undefined;
    try {
      const connection = await createClientTransport(this.url.schema).connect(this.url, {
        connectTimeout,
        maxFrameSize: this.resolved.session.maxFrameSize,
        highWaterMark: this.resolved.session.highWaterMark,
        maxWriteBufferSize: this.resolved.session.maxWriteBufferSize,
        frameTimeout: this.resolved.session.frameTimeout,
        maxDatagramSize: this.resolved.session.maxDatagramSize,
        tls: this.options.tls,
      });
      if (this.state !== 'connecting') {
        connection.destroy(); // closed meanwhile
        return;
      }
      // Over a datagram transport a frame is never fragmented (spec 3.3): too large fails the call.
      const sessionOptions = connection.maxDatagramSize === undefined ? this.resolved.session
        : { ...this.resolved.session, fragmentSize: MAX_FRAGMENT_SIZE };
      session = new SocketDSession(connection, 'client', sessionOptions, this.sessionListener());
      this.handshaking = session;
      const opened = session;
      session.onClose((code) => this.onSessionClosed(opened, code));
      this.lifecycle.dispatch('transportUp');
      await withTimeout(session.startClient(this.url.linkUrl, this.options.metas), deadline - Date.now(), () => {
        connection.destroy();
        return socketDError('CONNECT_TIMEOUT', `no Connack from ${this.url.linkUrl} within ${connectTimeout} ms`);
      });
      this.handshaking = undefined;
      if ((this.state as LifecycleState) !== 'handshaking') { // read again after the await
        session.close(CloseCodes.USER); // closed while connecting
        return;
      }
      // Connack and Close in one read: the session is already gone; never hand it out.
      if (session.state !== 'open') throw socketDError('CONNECTION_CLOSED', `${this.url.linkUrl} closed the connection right after the handshake (code ${session.closeCode})`);
    } catch (err) {
      this.handshaking = undefined;
      session?.close(CloseCodes.OPEN_FAIL);
      if (this.lifecycle.state === 'closed') return;
      this.lastError = err;
      const retry = this.resolved.autoReconnect && (this.lifecycle.wasOpen || this.retryFirstConnect) && !isSocketDError(err, 'HANDSHAKE_REJECTED');
      const outcome = this.outcome;
      this.outcome = undefined;
      this.lifecycle.dispatch('failed', retry);
      outcome?.reject(err);
      return;
    }
    this.current = session;
    this.lastError = undefined;
    const outcome = this.outcome;
    this.outcome = undefined;
    this.lifecycle.dispatch('connack');
    outcome?.resolve(session);
  }

  // The user's listeners, plus: a Close 1000 from the server hands the session off at once.
  private sessionListener(): ClientOptions {
    const user = this.options;
    return {
      ...user,
      onClosing: (session) => {
        if (session === this.current) this.handOff(this.current);
        user.onClosing?.(session);
      },
    };
  }

  // The current session got or sent Close 1000: it drains; new calls need a fresh connection.
  private handOff(session: SocketDSession): void {
    if (session !== this.current || this.lifecycle.state !== 'open') return;
    this.current = undefined;
    this.draining.add(session);
    this.lifecycle.dispatch('closeStarting');
  }

  private onSessionClosed(session: SocketDSession, code: number): void {
    if (this.draining.delete(session) || session !== this.current) return;
    this.current = undefined;
    this.lastError = socketDError('CONNECTION_CLOSED', `connection closed (code ${code})`, { closeCode: code });
    const retry = this.resolved.autoReconnect && code !== CloseCodes.OPEN_FAIL && code !== CloseCodes.USER;
    this.lifecycle.dispatch('dropped', retry);
  }

  private emitStatus(status: ClientStatus): void {
    for (const fn of this.statusListeners) safeCall(this.resolved.session.logger, 'client status listener', () => fn(status));
  }
}

/** Creates a client for `url` and connects it. */
export async function connect(url: string, options?: ClientOptions): Promise<SdClient> {
  const client = new SdClient(url, options);
  await client.connect();
  return client;
}

function closedError(): SocketDError {
  return socketDError('CONNECTION_CLOSED', 'client was closed');
}

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

// Its promise counts as handled: an attempt nobody waits for must not be an unhandled rejection.
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), Math.max(0, ms));
    promise.then(
      (value) => { clearTimeout(timer); resolve(value); },
      (err) => { clearTimeout(timer); reject(err); },
    );
  });
}

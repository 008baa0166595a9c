import { CloseCodes, MAX_FRAGMENT_SIZE } from '../protocol/constants.js';
import { isSocketDError, socketDError } from '../protocol/errors.js';
import type { ParsedUrl } from './connection.js';
import { safeCall } from './callbacks.js';
import { createClientTransport } from './transport-registry.js';
import { parseUrl } from './url.js';
import { resolveClientOptions } from './options.js';
import { SocketDSession } from './session.js';
import type {
  ClientOptions, ClientStatus, Payload, ReceivedMessage, RequestOptions, SendOptions, Session,
  StreamHandle, StreamObserver,
} from './types.js';

/**
 * A Socket.D client for one URL. `connect()` opens (and, after a drop, re-opens) one session;
 * with `autoReconnect` (default) a dropped connection is re-established in the background with
 * exponential backoff, and pending streams of the old connection fail at once.
 *
 * Status: connecting -> connected -> disconnected -> reconnecting -> connected ... -> closed.
 *
 * While a reconnect is scheduled, calls wait for that attempt (they share its outcome) rather
 * than start their own, so a down server sees no more attempts than the backoff allows.
 */
export class SdClient {
  private readonly url: ParsedUrl;
  private readonly resolved: ReturnType<typeof resolveClientOptions>;
  private current: SocketDSession | undefined;
  private connecting: Promise<Session> | undefined;
  private statusValue: ClientStatus = 'disconnected';
  private readonly statusListeners = new Set<(status: ClientStatus) => void>();
  private closedByUser = false;
  private everConnected = false;
  private reconnectDelay: number;
  private reconnectTimer: NodeJS.Timeout | undefined;
  // The outcome of the scheduled reconnect, shared by every call made while it waits.
  private scheduled: Deferred<Session> | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;

  constructor(url: string, private readonly options: ClientOptions = {}) {
    this.url = parseUrl(url);
    this.resolved = resolveClientOptions(options);
    this.reconnectDelay = this.resolved.reconnectDelay;
  }

  /** The open session, if any. */
  get session(): Session | undefined {
    return this.current;
  }

  get status(): ClientStatus {
    return this.statusValue;
  }

  /** Calls `fn` on every status change; returns the unsubscribe function. */
  onStatus(fn: (status: ClientStatus) => void): () => void {
    this.statusListeners.add(fn);
    return () => this.statusListeners.delete(fn);
  }

  /**
   * Resolves with the open session, connecting first when there is none. Idempotent: callers
   * share one attempt, and while a reconnect is scheduled they wait for it. Rejects with
   * SOCKETD_ERR_HANDSHAKE_REJECTED, _CONNECT_TIMEOUT, _TRANSPORT, or _CONNECTION_CLOSED once
   * `close()` was called.
   */
  connect(): Promise<Session> {
    if (this.closedByUser) return Promise.reject(socketDError('CONNECTION_CLOSED', 'client was closed'));
    const session = this.current;
    if (session !== undefined && (session.state === 'open' || session.state === 'closing')) return Promise.resolve(session);
    if (this.scheduled !== undefined) return this.scheduled.promise;
    return (this.connecting ??= this.attempt().finally(() => { this.connecting = undefined; }));
  }

  /** Message on the current session (connecting first if needed). */
  async send(event: string, data?: Payload, options?: SendOptions): Promise<boolean> {
    return (this.openSession() ?? await this.connect()).send(event, data, options);
  }

  /** Request on the current session (connecting first if needed). */
  request(event: string, data?: Payload, options?: RequestOptions): Promise<ReceivedMessage> {
    const session = this.openSession();
    if (session !== undefined) return session.request(event, data, options);
    return this.connect().then((s) => s.request(event, data, options));
  }

  /** Subscribe on the current session (connecting first if needed). */
  async subscribe(event: string, data: Payload | undefined, observer: StreamObserver, options?: RequestOptions): Promise<StreamHandle> {
    return (this.openSession() ?? await this.connect()).subscribe(event, data, observer, options);
  }

  /** Sends Close 1001 and stops reconnecting. */
  async close(): Promise<void> {
    if (this.closedByUser) return;
    this.closedByUser = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.scheduled?.reject(socketDError('CONNECTION_CLOSED', 'client was closed'));
    this.scheduled = undefined;
    this.stopHeartbeat();
    const session = this.current;
    this.current = undefined;
    session?.close(CloseCodes.USER);
    await this.connecting?.catch(() => undefined);
    this.setStatus('closed');
  }

  private openSession(): Session | undefined {
    const session = this.current;
    return session !== undefined && session.state === 'open' ? session : undefined;
  }

  private async attempt(): Promise<Session> {
    this.setStatus(this.everConnected ? 'reconnecting' : 'connecting');
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
      // Over a datagram transport a frame is never fragmented (spec 3.3): too large fails the call.
      const sessionOptions = connection.maxDatagramSize === undefined ? this.resolved.session
        : { ...this.resolved.session, fragmentSize: MAX_FRAGMENT_SIZE };
      session = new SocketDSession(connection, 'client', sessionOptions, this.options);
      await withTimeout(session.startClient(this.url.linkUrl, this.options.metas), deadline - Date.now(), () => {
        connection.destroy();
        return socketDError('CONNECT_TIMEOUT', `no Connack from ${this.url.linkUrl} within ${connectTimeout} ms`);
      });
    } catch (err) {
      session?.close(CloseCodes.OPEN_FAIL);
      this.setStatus('disconnected');
      // A refused handshake would be refused again; other failures retry once we had a session.
      if (this.everConnected && !isSocketDError(err, 'HANDSHAKE_REJECTED')) this.scheduleReconnect();
      throw err;
    }
    if (this.closedByUser) {
      session.close(CloseCodes.USER);
      throw socketDError('CONNECTION_CLOSED', 'client was closed while connecting');
    }
    this.current = session;
    this.everConnected = true;
    this.reconnectDelay = this.resolved.reconnectDelay;
    session.onClose((code) => this.onSessionClosed(session!, code));
    this.startHeartbeat();
    this.setStatus('connected');
    return session;
  }

  private onSessionClosed(session: SocketDSession, code: number): void {
    if (session !== this.current) return;
    this.current = undefined;
    this.stopHeartbeat();
    if (this.closedByUser) return;
    this.setStatus('disconnected');
    if (this.resolved.autoReconnect && code !== CloseCodes.OPEN_FAIL && code !== CloseCodes.USER) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closedByUser || !this.resolved.autoReconnect || this.reconnectTimer !== undefined) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, this.resolved.maxReconnectDelay);
    this.setStatus('reconnecting');
    const next = deferred<Session>();
    this.scheduled = next;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.scheduled = undefined;
      // A failed attempt schedules the next one itself (see attempt()).
      this.connect().then(next.resolve, next.reject);
    }, delay * (0.8 + Math.random() * 0.4));
  }

  private startHeartbeat(): void {
    this.stopHeartbeat(); // one timer per client, whatever the reconnects
    const interval = this.resolved.heartbeatInterval;
    if (interval <= 0) return;
    this.heartbeatTimer = setInterval(() => this.current?.ping(), interval);
    // Browsers' timers are numbers: no unref there (and no process to keep alive).
    this.heartbeatTimer.unref?.();
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  private setStatus(status: ClientStatus): void {
    if (status === this.statusValue) return;
    this.statusValue = status;
    for (const fn of this.statusListeners) safeCall(this.resolved.session.logger, 'client status listener', () => fn(status));
  }
}

/** Creates a client for `url` and connects it. */
export async function connect(url: string, options?: ClientOptions): Promise<SdClient> {
  const client = new SdClient(url, options);
  await client.connect();
  return client;
}

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

// Its promise counts as handled: a scheduled attempt nobody waits for must not be an unhandled rejection.
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

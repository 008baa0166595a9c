import { Logger } from '@nestjs/common';
import { ClientProxy, type ReadPacket, type WritePacket } from '@nestjs/microservices';
import { InvalidMessageException } from '@nestjs/microservices/errors/invalid-message.exception.js';
import { Observable, throwError } from 'rxjs';
import { DEFAULTS, describeError, SdClient, SdClusterClient, socketDError } from '../engine.js';
import { resolveClientOptions } from '../session/options.js';
import type { ClientOptions, ClientStatus, Session } from '../session/types.js';
import { ClientCall, resolveCallMode, type CallSettings, type SocketDClientCallMode } from './socketd.client-call.js';
import { sendEvent } from './socketd.client-event.js';
import { InboundRouter, type SocketDInboundHandler } from './socketd.inbound-router.js';
import { SocketDDeserializer, type SocketDDeserializerLike } from './socketd.deserializer.js';
import { EmitOutcome } from './socketd.emit-outcome.js';
import { engineOptions } from './socketd.engine-options.js';
import { SocketDEventEmitter } from './socketd.event-emitter.js';
import { SocketDStatus, type SocketDEvents } from './socketd.events.js';
import { CLIENT_NEST_OPTION_NAMES, resolveSocketDUrl, validateClientOptions, type SocketDAddressOptions } from './socketd.options.js';
import { checkTarget } from './socketd.record-builder.js';
import { SocketDSerializer, type SocketDSerializerLike } from './socketd.serializer.js';

// Options only the client reads; the rest go to the engine.
const NEST_ONLY_OPTIONS = CLIENT_NEST_OPTION_NAMES;

/**
 * Options of {@link SocketDClient}: the URL, the engine's `ClientOptions` (connect metas,
 * timeouts, heartbeat, reconnect; its `onOpen`/`onClose`/... listeners run besides the
 * client's own) and the payload codec.
 */
export interface SocketDClientOptions extends Omit<ClientOptions, 'onMessage'>, SocketDAddressOptions {
  /** `sd:tcp://host:port[/path][?k=v]` or `sd:ws://...`. Default `sd:tcp://127.0.0.1:8602`. */
  url?: string;
  /** Nest's TCP transport name for {@link ClientOptions.tls}: accepted as `tls` (give one, not both). */
  tlsOptions?: ClientOptions['tls'];
  /**
   * Several servers of one service: a list, or one comma-separated string
   * (`'sd:tcp://a:8602,sd:tcp://b:8602'`). The client then runs the engine's `SdClusterClient`
   * (one connection per URL, each reconnecting on its own): every `send()` and `emit()` goes to
   * one connected server, round-robin, skipping those that are down. Instead of `url`.
   */
  urls?: string | readonly string[];
  /** Encodes request and event data. Default {@link SocketDSerializer}. */
  serializer?: SocketDSerializerLike;
  /** Decodes replies. Default {@link SocketDDeserializer}. */
  deserializer?: SocketDDeserializerLike;
  /**
   * How `send()` calls go out (a record's `setMode()` wins):
   * - `auto` (default): a Subscribe (every value of a streaming handler arrives) toward a
   *   server whose Connack carries `X-Nest-Stream=1` (a {@link SocketDServer}); a Request
   *   toward any other (upstream Java/JS/Python servers answer one Reply and never end a
   *   Subscribe);
   * - `subscribe`: always a Subscribe; `request`: always a Request (one answer).
   */
  callMode?: SocketDClientCallMode;
  /**
   * Talk to a service through a Socket.D broker: every `send()` and `emit()` carries meta
   * `@=<target>` (`orders`: one player of that name, round-robin; `orders!`: one chosen by
   * meta `X-Hash`; `orders*`: every player of that name; `*`: every player). A record's
   * `setTarget()` wins. Default: none (talking to a server directly).
   */
  target?: string;
  /**
   * The broker target of `emit()` when it should differ from `target`, typically
   * `'orders*'` so every instance of `orders` gets each event. Default: `target`.
   */
  eventTarget?: string;
}

/**
 * Socket.D client for Nest (`ClientProxy`): `send()` is a Subscribe toward a Nest Socket.D
 * server (every value of a streaming handler arrives; unsubscribing cancels the server's work)
 * and a Request toward other servers (see `callMode`); `emit()` a Message. `requestTimeout`
 * bounds each call's wait for its first answer, `streamTimeout` its end. One shared
 * connection, opened lazily on the first call and reconnected by the engine.
 *
 * ```ts
 * ClientsModule.register([{ name: 'USERS', customClass: SocketDClient, options: { url: 'sd:ws://users:8602' } }])
 * ```
 */
export class SocketDClient extends ClientProxy<SocketDEvents> {
  protected readonly logger = new Logger(SocketDClient.name);
  protected readonly url: string;
  protected payloadSerializer!: SocketDSerializerLike;
  protected payloadDeserializer!: SocketDDeserializerLike;
  protected engine: SdClient | SdClusterClient | undefined;
  protected connectionPromise: Promise<Session> | undefined;
  /** How `send()` calls go out (option `callMode`). */
  protected readonly callMode: SocketDClientCallMode;
  /** Broker target of `send()` (option `target`) and of `emit()` (option `eventTarget`, else `target`). */
  protected readonly target: string | undefined;
  protected readonly eventTarget: string | undefined;
  private callSettings: CallSettings | undefined;
  /** When the current outage began (`Date.now()`), while the engine is not connected. */
  private outageSince: number | undefined;
  private readonly events = new SocketDEventEmitter(() => this.logger);
  private readonly inbound = new InboundRouter(() => this.logger);

  constructor(protected readonly options: SocketDClientOptions = {}) {
    super();
    validateClientOptions(options);
    resolveClientOptions(options); // a bad timeout fails here, not at the first call
    this.url = resolveSocketDUrl(options);
    this.callMode = resolveCallMode(options?.callMode);
    this.target = options?.target === undefined ? undefined : checkTarget(options.target, 'SocketDClient: target');
    this.eventTarget = options?.eventTarget === undefined ? this.target : checkTarget(options.eventTarget, 'SocketDClient: eventTarget');
    this.initializeSerializer(options);
    this.initializeDeserializer(options);
  }

  /** Opens the connection once (memoised); resolves with the open session. */
  connect(): Promise<Session> {
    if (this.connectionPromise) return this.connectionPromise;
    const engine = (this.engine ??= this.createEngine());
    const promise = engine.connect();
    this.connectionPromise = promise;
    promise.catch((err: unknown) => {
      if (this.connectionPromise === promise) this.connectionPromise = undefined;
      // The caller gets the error; `error` listeners hear it too, and nobody else (no ERROR
      // line: a server that is down is a status, logged once per outage, see engineStatus).
      if (this.events.heard('error')) this.events.emit('error', err as Error);
    });
    return promise;
  }

  /** Closes the connection (Close 1001, no reconnect) and reports `closed`; a later call connects anew. */
  async close(): Promise<void> {
    const engine = this.engine;
    this.engine = undefined;
    this.connectionPromise = undefined;
    if (engine === undefined) return;
    await engine.close();
    this.publishStatus(SocketDStatus.CLOSED);
  }

  override on<EventKey extends keyof SocketDEvents = keyof SocketDEvents, EventCallback extends SocketDEvents[EventKey] = SocketDEvents[EventKey]>(
    event: EventKey,
    callback: EventCallback,
  ): void {
    this.events.on(event, callback);
  }

  /** The engine client (`SdClient`; `SdClusterClient` with `urls`). Throws before the first `connect()`. */
  unwrap<T>(): T {
    if (!this.engine) throw new Error('Not initialized. Please call the "connect" method first.');
    return this.engine as T;
  }

  /** The open session, if connected: start Requests or Messages on it directly. */
  get session(): Session | undefined {
    return this.engine?.session;
  }

  /**
   * Routes the Messages, Requests and Subscribes the server starts on this connection to
   * `handler` (one at a time; undefined to stop). {@link SocketDClientStrategy} uses this.
   * Without a handler, server Requests are answered with Nest's "no matching message
   * handler" Alarm and server Messages are dropped (logged at debug level).
   */
  setInboundHandler(handler: SocketDInboundHandler | undefined): void {
    this.inbound.handler = handler;
  }

  /** Set by {@link setOnDispatchHook}. */
  protected override onDispatchHook?: (packet: ReadPacket) => void;

  /**
   * Calls `hook` with every outgoing packet (requests and events) before it is sent; the hook
   * may set `packet.metadata` (string entries), which travels as metas and reaches the
   * server's `SocketDContext.getMetadata()`. Nest 12's `ClientProxy` API, provided here on
   * Nest 11 too.
   */
  override setOnDispatchHook(hook: (packet: ReadPacket) => void): void {
    this.onDispatchHook = hook;
  }

  /** The packet of one `send()`/`emit()`, after the dispatch hook (Nest 11 has no such method). */
  protected override createPacket<TInput>(pattern: any, data: TInput): ReadPacket {
    const packet: ReadPacket = { pattern, data };
    this.onDispatchHook?.(packet);
    return packet;
  }

  protected override initializeSerializer(options: SocketDClientOptions): void {
    this.payloadSerializer = options?.serializer ?? new SocketDSerializer();
  }

  protected override initializeDeserializer(options: SocketDClientOptions): void {
    this.payloadDeserializer = options?.deserializer ?? new SocketDDeserializer();
  }

  /**
   * `ClientProxy.send()` with the same semantics (cold; `InvalidMessageException` for a
   * null/undefined pattern or data; connect first; dispatch hook at dispatch time; connect
   * errors as they are, reply errors through `serializeError`), without the per-call
   * `defer(async connect)` + `mergeMap` layers: once connected, subscribing publishes at once.
   */
  override send<TResult = any, TInput = any>(pattern: any, data: TInput): Observable<TResult> {
    if (pattern === null || pattern === undefined || data === null || data === undefined) {
      return throwError(() => new InvalidMessageException());
    }
    return new Observable<TResult>((observer) => {
      const callback = this.createObserver(observer);
      if (this.isConnected()) return this.publish(this.createPacket(pattern, data), callback);
      let teardown: (() => void) | undefined;
      let closed = false;
      const started = Date.now();
      this.waitForSession().then(
        (session) => {
          if (!closed) teardown = this.publish(this.createPacket(pattern, data), callback, session, Date.now() - started);
        },
        (err: unknown) => {
          if (!closed) observer.error(err);
        },
      );
      return () => {
        closed = true;
        teardown?.();
      };
    });
  }

  /**
   * `ClientProxy.emit()` with the same semantics (hot: sent without a subscriber; the
   * Observable emits `undefined` and completes once the socket took the Message, or errors;
   * late subscribers see only the completion or error, as with Nest's Subject), without the
   * per-call `defer` + `mergeMap` + `connectable` + Subject: once connected, the Message is
   * encoded and written synchronously and the outcome is published in a microtask shared by
   * every emit of the tick.
   */
  override emit<TResult = any, TInput = any>(pattern: any, data: TInput): Observable<TResult> {
    if (pattern === null || pattern === undefined || data === null || data === undefined) {
      return throwError(() => new InvalidMessageException());
    }
    const outcome = new EmitOutcome<TResult>();
    if (this.isConnected() && this.dispatchEvent === SocketDClient.prototype.dispatchEvent) {
      let sent: boolean | Promise<void>;
      try {
        sent = this.dispatchEventNow(this.createPacket(pattern, data));
      } catch (err) {
        outcome.settleLater(true, err);
        return outcome;
      }
      if (sent === true) outcome.settleLater(false);
      else sent.then(() => outcome.settle(), (err: unknown) => outcome.fail(err));
      return outcome;
    }
    this.waitForSession()
      .then(() => this.dispatchEvent(this.createPacket(pattern, data)))
      .then(() => outcome.settle(), (err: unknown) => outcome.fail(err));
    return outcome;
  }

  /** True when `connect()` would resolve with the open session at once (not a closing one: it starts nothing new). */
  private isConnected(): boolean {
    return this.connectionPromise !== undefined && this.engine?.session?.state === 'open';
  }

  /**
   * A session for a call made while none is open: the engine's, waiting at most
   * `requestTimeout` (connecting included), then SOCKETD_ERR_UNREACHABLE.
   */
  private waitForSession(): Promise<Session> {
    const engine = (this.engine ??= this.createEngine());
    const ready = engine.ready(this.settings().requestTimeout);
    this.connectionPromise ??= ready;
    ready.catch(() => {
      if (this.connectionPromise === ready) this.connectionPromise = undefined;
    });
    return ready;
  }

  /**
   * Starts one call. `session` is the one a waiting call got; `waited` ms of waiting count
   * toward its requestTimeout.
   */
  protected publish(packet: ReadPacket, callback: (packet: WritePacket) => void, session?: Session, waited = 0): () => void {
    const target = session?.isOpen === true ? session : this.callSession();
    if (target instanceof Error) {
      callback({ err: target });
      return noop;
    }
    const call = new ClientCall(target, this.eventOf(packet), packet, this.settings(), callback, waited);
    call.start();
    return call.cancel;
  }

  protected async dispatchEvent<T = any>(packet: ReadPacket): Promise<T> {
    const sent = this.dispatchEventNow(packet);
    if (sent !== true) await sent;
    return undefined as T;
  }

  // See sendEvent(): true once the socket took the Message, else a promise of that.
  private dispatchEventNow(packet: ReadPacket): true | Promise<void> {
    const session = this.callSession();
    if (session instanceof Error) throw session;
    return sendEvent(session, this.eventOf(packet), packet, this.payloadSerializer, this.eventTarget);
  }

  // The settings every call shares, rebuilt only if a subclass swapped the codec.
  private settings(): CallSettings {
    const current = this.callSettings;
    if (current !== undefined && current.serializer === this.payloadSerializer && current.deserializer === this.payloadDeserializer) return current;
    return (this.callSettings = {
      serializer: this.payloadSerializer,
      deserializer: this.payloadDeserializer,
      callMode: this.callMode,
      requestTimeout: this.options?.requestTimeout ?? DEFAULTS.requestTimeout,
      streamTimeout: this.options?.streamTimeout ?? DEFAULTS.streamTimeout,
      target: this.target,
    });
  }

  // The Socket.D event of a packet: a string pattern as it is, others in Nest's normalised form.
  private eventOf(packet: ReadPacket): string {
    return typeof packet.pattern === 'string' ? packet.pattern : this.normalizePattern(packet.pattern);
  }

  // The session of one call: the open one, or with `urls` the next active one (round-robin).
  private callSession(): Session | Error {
    const engine = this.engine;
    if (!(engine instanceof SdClusterClient)) return engine?.session ?? notConnected();
    try {
      return engine.sessionFor();
    } catch (err) {
      return err as Error;
    }
  }

  private createEngine(): SdClient | SdClusterClient {
    const options = engineOptions<ClientOptions>(this.options, NEST_ONLY_OPTIONS, this.inbound.route, this.events.emit);
    const urls = this.options?.urls;
    const engine = urls === undefined ? new SdClient(this.url, options) : new SdClusterClient(urls, options);
    engine.onStatus((status: ClientStatus) => this.engineStatus(engine, status));
    return engine;
  }

  private engineStatus(engine: SdClient | SdClusterClient, status: ClientStatus): void {
    if (this.engine !== engine) return;
    this.logOutage(engine, status);
    // A dropped connection: the next call goes through the engine's connect() again, which
    // waits for (or starts) the reconnect.
    if (status !== 'connected' && status !== 'connecting') this.connectionPromise = undefined;
    // `closed` is published by close() itself, after the engine is detached.
    if (status !== 'closed') this.publishStatus(status as SocketDStatus);
  }

  // One WARN when an outage begins (a lost connection or a failed connect), one line when it ends.
  // Each failed attempt of the outage is in the status events and in the calls' errors.
  private logOutage(engine: SdClient | SdClusterClient, status: ClientStatus): void {
    const where = this.options?.urls === undefined ? this.url : 'every server of the cluster';
    if (status === 'connected') {
      if (this.outageSince !== undefined) this.logger.log(`Socket.D: connected to ${where} again after ${Date.now() - this.outageSince} ms`);
      this.outageSince = undefined;
    } else if ((status === 'disconnected' || status === 'reconnecting') && this.outageSince === undefined) {
      this.outageSince = Date.now();
      const lastError = engine instanceof SdClient ? engine.lastConnectError : undefined;
      const plan = engine instanceof SdClient && engine.state === 'idle' ? 'not reconnecting' : 'reconnecting in the background';
      this.logger.warn(`Socket.D: ${where} is unreachable${lastError === undefined ? '' : ` (${describeError(lastError)})`}; ${plan}`);
      // `error` listeners hear the outage's cause once too (unheard, it is not logged again).
      if (lastError instanceof Error && this.events.heard('error')) this.events.emit('error', lastError);
    }
  }

  private publishStatus(status: SocketDStatus): void {
    this._status$.next(status);
    this.events.emit('status', status);
  }
}

function notConnected(): Error {
  return socketDError('CONNECTION_CLOSED', 'Socket.D client is not connected');
}

function noop(): void {}

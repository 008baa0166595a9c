import { EventEmitter } from 'node:events';
import { Logger } from '@nestjs/common';
import { ClientProxy, type ReadPacket, type WritePacket } from '@nestjs/microservices';
import { InvalidMessageException } from '@nestjs/microservices/errors/invalid-message.exception.js';
import { Observable, throwError } from 'rxjs';
import { SdClient, socketDError } from '../engine.js';
import type { ClientOptions, ClientStatus, Metas, ReceivedMessage, Session, StreamHandle, StreamObserver } from '../session/types.js';
import { decodeCallError, encodeNestError } from './socketd.error-codec.js';
import {
  carriesValue,
  isThenable,
  metasArg,
  SocketDDeserializer,
  SocketDSerializer,
  type SocketDDeserializerLike,
  type SocketDEntity,
  type SocketDSerializerLike,
} from './socketd.serializer.js';
import { NO_MESSAGE_HANDLER, SOCKETD_DEFAULT_URL } from './socketd.constants.js';
import { SocketDStatus, type SocketDEvents } from './socketd.events.js';
import { EmitOutcome } from './socketd.emit-outcome.js';
import { SocketDRecord, type SocketDRecordOptions } from './socketd.record-builder.js';

/**
 * Options of {@link SocketDClient}: the URL, the engine's `ClientOptions` (connect metas,
 * timeouts, heartbeat, reconnect; its `onOpen`/`onClose`/... listeners run besides the
 * client's own) and the payload codec.
 */
export interface SocketDClientOptions extends Omit<ClientOptions, 'onMessage'> {
  /** `sd:tcp://host:port[/path][?k=v]` or `sd:ws://...`. Default `sd:tcp://127.0.0.1:8602`. */
  url?: string;
  /** Encodes request and event data. Default {@link SocketDSerializer}. */
  serializer?: SocketDSerializerLike;
  /** Decodes replies. Default {@link SocketDDeserializer}. */
  deserializer?: SocketDDeserializerLike;
}

/** Receives the Messages, Requests and Subscribes the server starts (see {@link SocketDClientStrategy}). */
export type SocketDInboundHandler = (session: Session, message: ReceivedMessage) => void;

const NO_RECORD_OPTIONS: SocketDRecordOptions = Object.freeze({});

/**
 * Socket.D client for Nest (`ClientProxy`): `send()` is a Subscribe (every value of a streaming
 * handler arrives; unsubscribing cancels the server's work), `emit()` a Message. One shared
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
  protected engine: SdClient | undefined;
  protected connectionPromise: Promise<Session> | undefined;
  private readonly emitter = new EventEmitter();
  private inbound: SocketDInboundHandler | undefined;

  constructor(protected readonly options: SocketDClientOptions = {}) {
    super();
    this.url = this.getOptionsProp(options, 'url', SOCKETD_DEFAULT_URL);
    this.initializeSerializer(options);
    this.initializeDeserializer(options);
  }

  /** Opens the connection once (memoised); resolves with the open session. */
  connect(): Promise<Session> {
    if (this.connectionPromise) return this.connectionPromise;
    const engine = (this.engine ??= this.createEngine());
    const promise = engine.connect();
    this.connectionPromise = promise;
    promise.catch(() => {
      if (this.connectionPromise === promise) this.connectionPromise = undefined;
    });
    return promise;
  }

  /** Closes the connection (Close 1001, no reconnect); a later call connects anew. */
  async close(): Promise<void> {
    const engine = this.engine;
    this.engine = undefined;
    this.connectionPromise = undefined;
    if (engine) await engine.close();
  }

  override on<EventKey extends keyof SocketDEvents = keyof SocketDEvents, EventCallback extends SocketDEvents[EventKey] = SocketDEvents[EventKey]>(
    event: EventKey,
    callback: EventCallback,
  ): void {
    this.emitter.on(event, callback as (...args: unknown[]) => void);
  }

  /** The engine client (`SdClient`). Throws before the first `connect()`. */
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
    this.inbound = handler;
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
      this.connect().then(
        () => {
          if (!closed) teardown = this.publish(this.createPacket(pattern, data), callback);
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
    this.connect()
      .then(() => this.dispatchEvent(this.createPacket(pattern, data)))
      .then(() => outcome.settle(), (err: unknown) => outcome.fail(err));
    return outcome;
  }

  /** True when `connect()` would resolve with the open session at once. */
  private isConnected(): boolean {
    if (this.connectionPromise === undefined) return false;
    const state = this.engine?.session?.state;
    return state === 'open' || state === 'closing';
  }

  protected publish(packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    const session = this.engine?.session;
    if (session === undefined) {
      callback({ err: socketDError('CONNECTION_CLOSED', 'Socket.D client is not connected') });
      return noop;
    }
    const { data, options } = unwrapRecord(packet.data);
    const event = typeof packet.pattern === 'string' ? packet.pattern : this.normalizePattern(packet.pattern);
    let handle: StreamHandle | undefined;
    let done = false;
    const start = (entity: SocketDEntity): void => {
      if (done) return;
      const single = options.mode === 'request';
      const deliver = this.orderedDelivery(callback, () => {
        done = true;
        handle?.cancel();
      });
      const observer: StreamObserver = {
        next: (reply) => {
          if (single) {
            done = true;
            deliver(reply, true);
          } else {
            deliver(reply, false);
          }
        },
        complete: (end) => {
          if (single) return;
          done = true;
          deliver(end, true);
        },
        error: (err) => {
          done = true;
          deliver.fail(decodeCallError(err));
        },
      };
      try {
        const metas = mergeMetas(entity.metas, packet.metadata, options.metas);
        handle = session.stream(single ? 'request' : 'subscribe', event, entity.data, observer, { metas, timeout: options.timeout });
      } catch (err) {
        done = true;
        callback({ err });
      }
    };
    this.encode(data, start, (err) => {
      done = true;
      callback({ err });
    });
    return () => {
      if (done) return;
      done = true;
      // Tell the server: the engine sends an Alarm with the sid and X-Cancel=1, our server
      // unsubscribes the handler's Observable; upstream peers log it (spec 7.3).
      handle?.cancel();
    };
  }

  protected async dispatchEvent<T = any>(packet: ReadPacket): Promise<T> {
    const sent = this.dispatchEventNow(packet);
    if (sent !== true) await sent;
    return undefined as T;
  }

  /**
   * Encodes and sends one Message: true when the socket took it, else a promise that settles
   * once it did (an asynchronous serializer, or a saturated session to drain). Throws what the
   * synchronous part throws.
   */
  private dispatchEventNow(packet: ReadPacket): true | Promise<void> {
    const session = this.engine?.session;
    if (session === undefined) throw socketDError('CONNECTION_CLOSED', 'Socket.D client is not connected');
    const { data, options } = unwrapRecord(packet.data);
    const event = typeof packet.pattern === 'string' ? packet.pattern : this.normalizePattern(packet.pattern);
    const entity = this.payloadSerializer.serialize(data);
    if (isThenable<SocketDEntity>(entity)) {
      return Promise.resolve(entity).then((e) => {
        const sent = this.sendEntity(session, event, e, packet, options);
        return sent === true ? undefined : sent;
      });
    }
    return this.sendEntity(session, event, entity, packet, options);
  }

  private sendEntity(session: Session, event: string, entity: SocketDEntity, packet: ReadPacket, options: SocketDRecordOptions): true | Promise<void> {
    const metas = mergeMetas(entity.metas, packet.metadata, options.metas);
    // Backpressure for emitters that await their emits: settle once the socket took it.
    return session.send(event, entity.data, { metas }) ? true : session.drain();
  }

  private createEngine(): SdClient {
    const options = this.options;
    const { url: _url, serializer: _s, deserializer: _d, ...engineOptions } = options as SocketDClientOptions & {
      onMessage?: unknown;
    };
    delete (engineOptions as { onMessage?: unknown }).onMessage;
    const engine = new SdClient(this.url, {
      logger: new Logger('SocketDEngine'),
      ...engineOptions,
      onMessage: (session, message) => this.handleInbound(session, message),
      onOpen: (session) => {
        this.emitEvent('open', session);
        options.onOpen?.(session);
      },
      onClosing: (session) => {
        this.emitEvent('closing', session);
        options.onClosing?.(session);
      },
      onClose: (session, code, err) => {
        this.emitEvent('close', session, code, err);
        options.onClose?.(session, code, err);
      },
      onAlarm: (session, alarm) => {
        this.emitEvent('alarm', session, alarm);
        options.onAlarm?.(session, alarm);
      },
    });
    engine.onStatus((status: ClientStatus) => {
      if (this.engine !== engine) return;
      // A dropped connection: the next call goes through the engine's connect() again, which
      // waits for (or starts) the reconnect.
      if (status !== 'connected' && status !== 'connecting') this.connectionPromise = undefined;
      this._status$.next(status);
      this.emitEvent('status', status as SocketDStatus);
    });
    return engine;
  }

  private handleInbound(session: Session, message: ReceivedMessage): void {
    if (this.inbound) {
      this.inbound(session, message);
      return;
    }
    if (message.isRequest) {
      const { text, metas } = encodeNestError(NO_MESSAGE_HANDLER);
      session.alarm(message, text, metas);
    } else {
      this.logger.debug?.(`Socket.D: no handler for the server's message '${message.event}'`);
    }
  }

  private emitEvent<K extends keyof SocketDEvents>(event: K, ...args: Parameters<SocketDEvents[K]>): void {
    if (event === 'error' && this.emitter.listenerCount('error') === 0) {
      this.logger.error(String((args[0] as Error)?.message ?? args[0]));
      return;
    }
    this.emitter.emit(event, ...args);
  }

  private encode(data: unknown, then: (entity: SocketDEntity) => void, fail: (err: unknown) => void): void {
    let entity: SocketDEntity | PromiseLike<SocketDEntity>;
    try {
      entity = this.payloadSerializer.serialize(data);
    } catch (err) {
      fail(err);
      return;
    }
    if (isThenable<SocketDEntity>(entity)) Promise.resolve(entity).then(then, fail);
    else then(entity);
  }

  /**
   * Decodes replies and hands them to Nest's callback in arrival order, also when the
   * deserializer is asynchronous (values then wait for the ones before them).
   */
  private orderedDelivery(callback: (packet: WritePacket) => void, abort: () => void) {
    let tail: Promise<void> | undefined;
    let failed = false;
    const emit = (value: unknown, message: ReceivedMessage | undefined, last: boolean): void => {
      if (failed) return;
      if (!last) callback({ response: value });
      else if (message !== undefined && carriesValue(message)) callback({ response: value, isDisposed: true });
      else callback({ isDisposed: true });
    };
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      callback({ err });
    };
    const deliver = (message: ReceivedMessage | undefined, last: boolean): void => {
      let value: unknown;
      try {
        value = message === undefined ? undefined : this.payloadDeserializer.deserialize(message);
      } catch (err) {
        abort();
        fail(new Error(`Socket.D: undecodable reply to this call: ${err instanceof Error ? err.message : String(err)}`));
        return;
      }
      if (tail === undefined && !isThenable(value)) {
        emit(value, message, last);
        return;
      }
      const previous = tail ?? Promise.resolve();
      tail = previous.then(() => value).then(
        (v) => emit(v, message, last),
        (err: unknown) => {
          abort();
          fail(err);
        },
      );
    };
    return Object.assign(deliver, {
      fail: (err: unknown) => {
        if (tail === undefined) fail(err);
        else tail = tail.then(() => fail(err));
      },
    });
  }
}

function unwrapRecord(data: unknown): { data: unknown; options: SocketDRecordOptions } {
  return data instanceof SocketDRecord ? { data: data.data, options: data.options } : { data, options: NO_RECORD_OPTIONS };
}

// Codec metas, then Nest packet metadata (dispatch hook), then per-call metas: the most
// specific wins. Allocates only when there is something to merge.
function mergeMetas(codec: Readonly<Metas> | undefined, metadata: Record<string, string> | undefined, call: Readonly<Metas> | undefined): Metas | string | undefined {
  if (metadata === undefined && call === undefined) return metasArg(codec);
  return { ...codec, ...metadata, ...call };
}

function noop(): void {}

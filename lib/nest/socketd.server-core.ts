import { EventEmitter } from 'node:events';
import { Server, type MessageHandler } from '@nestjs/microservices';
import { connectable, finalize, isObservable, Subject, type Observable } from 'rxjs';
import type { Metas, ReceivedMessage, Session } from '../session/types.js';
import { decodeCallError, encodeNestError } from './socketd.error-codec.js';
import { ReplyStream } from './socketd.reply-stream.js';
import {
  carriesValue,
  isThenable,
  SocketDDeserializer,
  SocketDSerializer,
  type SocketDDeserializerLike,
  type SocketDEntity,
  type SocketDSerializerLike,
} from './socketd.serializer.js';
import type { SocketDRecordOptions } from './socketd.record-builder.js';
import { NO_MESSAGE_HANDLER, SOCKETD_DEFAULT_MAX_QUEUED_REPLIES } from './socketd.constants.js';
import { SocketDContext, type SocketDPeer } from './socketd.context.js';
import type { SocketDEvents, SocketDStatus } from './socketd.events.js';

/** Options of how received messages are handled (server and client strategy alike). */
export interface SocketDHandlingOptions {
  /** Encodes reply values. Default {@link SocketDSerializer} (JSON; bytes as they are). */
  serializer?: SocketDSerializerLike;
  /** Decodes request and event data. Default {@link SocketDDeserializer}. */
  deserializer?: SocketDDeserializerLike;
  /**
   * Stream values queued per Subscribe while the client does not keep up (the socket is
   * above its high-water mark); beyond it the stream fails with an Alarm. Default 1 048 576.
   */
  maxQueuedReplies?: number;
}

/**
 * The part of the Socket.D strategies that turns received Messages, Requests and Subscribes
 * into Nest handler calls; shared by {@link SocketDServer} (sessions accepted by a listener)
 * and {@link SocketDClientStrategy} (the session of a {@link SocketDClient}).
 */
export abstract class SocketDServerCore extends Server<SocketDEvents, SocketDStatus> implements SocketDPeer {
  protected payloadSerializer!: SocketDSerializerLike;
  protected payloadDeserializer!: SocketDDeserializerLike;
  protected readonly maxQueuedReplies: number;
  protected readonly emitter = new EventEmitter();
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  /** Nest's default start hook (`done()`): while it is in place, handlers run without its async wrapper. */
  private readonly defaultStartHook = this.onProcessingStartHook;

  protected constructor(options: SocketDHandlingOptions) {
    super();
    this.maxQueuedReplies = this.getOptionsProp(options, 'maxQueuedReplies', SOCKETD_DEFAULT_MAX_QUEUED_REPLIES);
    this.initializeSerializer(options);
    this.initializeDeserializer(options);
  }

  /** Handlers in flight: Requests/Subscribes not answered to the end, events still running. */
  get pendingHandlers(): number {
    return this.inFlight;
  }

  on<EventKey extends keyof SocketDEvents = keyof SocketDEvents, EventCallback extends SocketDEvents[EventKey] = SocketDEvents[EventKey]>(
    event: EventKey,
    callback: EventCallback,
  ): this {
    this.emitter.on(event, callback as (...args: unknown[]) => void);
    return this;
  }

  protected override initializeSerializer(options: SocketDHandlingOptions): void {
    this.payloadSerializer = options?.serializer ?? new SocketDSerializer();
  }

  protected override initializeDeserializer(options: SocketDHandlingOptions): void {
    this.payloadDeserializer = options?.deserializer ?? new SocketDDeserializer();
  }

  // String patterns are stored as they are: try the event as a key before the base class's
  // JSON.parse of every pattern (which throws, and costs, for each plain string).
  override getHandlerByPattern(pattern: string): MessageHandler | null {
    return this.messageHandlers.get(pattern) ?? super.getHandlerByPattern(pattern);
  }

  /**
   * Sends a Request to one session (a client) with this strategy's codec and resolves with its
   * answer (undefined for an empty one); rejects with the decoded error, as `SocketDClient`
   * does. Also reachable from a handler as `ctx.request(...)`.
   */
  async requestTo<T = unknown>(session: Session, pattern: string, data?: unknown, options: SocketDRecordOptions = {}): Promise<T> {
    const entity = await this.encodePayload(data);
    const metas = options.metas === undefined ? entity.metas : { ...entity.metas, ...options.metas };
    let reply: ReceivedMessage;
    try {
      reply = await session.request(pattern, entity.data, { metas, timeout: options.timeout });
    } catch (err) {
      throw decodeCallError(err);
    }
    return (carriesValue(reply) ? await this.payloadDeserializer.deserialize(reply) : undefined) as T;
  }

  /**
   * Sends a Message to one session with this strategy's codec; resolves once the socket took
   * it (waits for a saturated session to drain). Also reachable as `ctx.emit(...)`.
   */
  async emitTo(session: Session, pattern: string, data?: unknown, metas?: Metas): Promise<void> {
    const entity = await this.encodePayload(data);
    if (!session.send(pattern, entity.data, { metas: metas === undefined ? entity.metas : { ...entity.metas, ...metas } })) {
      await session.drain();
    }
  }

  protected async encodePayload(data: unknown): Promise<SocketDEntity> {
    const entity = this.payloadSerializer.serialize(data);
    return isThenable<SocketDEntity>(entity) ? await entity : entity;
  }

  /** Emits a user-facing event; an `error` nobody listens to is logged instead of thrown. */
  protected emitEvent<K extends keyof SocketDEvents>(event: K, ...args: Parameters<SocketDEvents[K]>): void {
    if (event === 'error' && this.emitter.listenerCount('error') === 0) {
      this.logger.error(String((args[0] as Error)?.message ?? args[0]));
      return;
    }
    this.emitter.emit(event, ...args);
  }

  /** Routes one received Message, Request or Subscribe. Never throws. */
  protected handleMessage(session: Session, message: ReceivedMessage): void {
    if (message.isRequest) this.handleStream(session, message);
    else this.handleMessageEvent(session, message);
  }

  private handleMessageEvent(session: Session, message: ReceivedMessage): void {
    const pattern = message.event;
    const context = new SocketDContext([session, message, pattern, this]);
    this.track();
    try {
      const data = this.payloadDeserializer.deserialize(message);
      if (isThenable(data)) {
        Promise.resolve(data).then(
          (value) => this.runEvent(pattern, value, context),
          (err: unknown) => this.dropEvent(pattern, err),
        );
      } else {
        this.runEvent(pattern, data, context);
      }
    } catch (err) {
      this.dropEvent(pattern, err);
    }
  }

  private runEvent(pattern: string, data: unknown, context: SocketDContext): void {
    if (this.onProcessingStartHook !== this.defaultStartHook || this.handleEvent !== Server.prototype.handleEvent) {
      this.handleEvent(pattern, { pattern, data }, context).then(this.untrackOk, (err: unknown) => this.eventFailed(pattern, err));
      return;
    }
    // Nest's handleEvent() under the default start hook, without its three async wrappers
    // (measured: most of the per-event cost that is ours). Same steps, same end hook.
    const handler = this.getHandlerByPattern(pattern);
    if (!handler) {
      this.logger.error(`There is no matching event handler defined in the remote service. Event pattern: ${pattern}`);
      this.untrack();
      return;
    }
    const runEndHook = this.createProcessingEndHookRunner(context);
    let result: unknown;
    try {
      result = handler(data, context);
    } catch (err) {
      runEndHook();
      this.eventFailed(pattern, err);
      return;
    }
    Promise.resolve(result).then(
      (resultOrStream: unknown) => {
        if (isObservable(resultOrStream)) {
          connectable(resultOrStream.pipe(finalize(runEndHook)), { connector: () => new Subject(), resetOnDisconnect: false }).connect();
        } else {
          runEndHook();
        }
        this.untrack();
      },
      (err: unknown) => {
        runEndHook();
        this.eventFailed(pattern, err);
      },
    );
  }

  private readonly untrackOk = (): void => this.untrack();

  private eventFailed(pattern: string, err: unknown): void {
    this.untrack();
    this.logger.error(`Socket.D: event handler for '${pattern}' failed: ${describe(err)}`);
  }

  private dropEvent(pattern: string, err: unknown): void {
    this.untrack();
    this.logger.warn(`Socket.D: dropped event '${pattern}' with undecodable data: ${describe(err)}`);
  }

  private handleStream(session: Session, message: ReceivedMessage): void {
    const pattern = message.event;
    const handler = this.getHandlerByPattern(pattern);
    if (handler === null) {
      this.alarm(session, message, NO_MESSAGE_HANDLER);
      return;
    }
    const context = new SocketDContext([session, message, pattern, this]);
    this.track();
    let stream: ReplyStream | undefined;
    let cancelled = false;
    message.onCancel(() => {
      cancelled = true;
      stream?.cancel();
    });
    const run = async (runEndHook: () => void): Promise<void> => {
      const settle = (): void => {
        runEndHook();
        this.untrack();
      };
      let data: unknown;
      try {
        data = this.payloadDeserializer.deserialize(message);
        if (isThenable(data)) data = await data;
      } catch (err) {
        this.alarm(session, message, { status: 'error', message: `Invalid request data: ${describe(err)}` });
        settle();
        return;
      }
      let result: unknown;
      try {
        result = await handler(data, context);
      } catch (err) {
        // Nest's proxies turn handler failures into an erroring Observable already; this is a
        // failure around them (a request-scoped provider that cannot be built, ...).
        this.logger.error(`Socket.D: handler for '${pattern}' failed: ${describe(err)}`, (err as Error)?.stack);
        this.alarm(session, message, INTERNAL_ERROR);
        settle();
        return;
      }
      if (cancelled) {
        settle();
        return;
      }
      stream = new ReplyStream(session, message, this.payloadSerializer, this.maxQueuedReplies, this.logger, settle);
      if (isObservable(result)) {
        (result as Observable<unknown>).subscribe(stream);
      } else {
        // A plain value (the usual case): no Observable needed.
        stream.next(result);
        stream.complete();
      }
    };
    if (this.onProcessingStartHook === this.defaultStartHook) {
      // What runWithProcessingHooks() does under the default start hook (`done()`), minus its
      // two async wrappers: `run` never rejects.
      void run(this.createProcessingEndHookRunner(context));
      return;
    }
    const started = this.runWithProcessingHooks(context, run);
    // The default start hook returns the promise of the work above, which never rejects; a
    // custom hook may return anything.
    if (isThenable(started)) Promise.resolve(started).catch((err: unknown) => this.logger.error(describe(err)));
  }

  /** Answers a Request/Subscribe with an Alarm carrying a Nest error value. */
  protected alarm(session: Session, message: ReceivedMessage, err: unknown): void {
    const { text, metas } = encodeNestError(err);
    try {
      session.alarm(message, text, metas);
    } catch (alarmErr) {
      this.logger.error(`Socket.D: cannot send an Alarm for '${message.event}': ${describe(alarmErr)}`);
    }
  }

  private track(): void {
    this.inFlight++;
  }

  private untrack(): void {
    if (--this.inFlight > 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Resolves once no handler is in flight, or after `timeout` ms; true when idle. */
  protected waitForIdle(timeout: number): Promise<boolean> {
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeout);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

const INTERNAL_ERROR = { status: 'error', message: 'Internal server error' } as const;

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

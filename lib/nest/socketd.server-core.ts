import { Server, type MessageHandler } from '@nestjs/microservices';
import { connectable, finalize, isObservable, Subject, type Observable } from 'rxjs';
import { describeError } from '../engine.js';
import type { Metas, ReceivedMessage, Session } from '../session/types.js';
import {
  INTERNAL_ERROR, NO_MESSAGE_HANDLER, SOCKETD_DEFAULT_MAX_QUEUED_REPLIES, SOCKETD_DEFAULT_MAX_QUEUED_REPLIES_PER_SERVER,
  SOCKETD_DEFAULT_MAX_QUEUED_REPLIES_PER_SESSION,
} from './socketd.constants.js';
import { SocketDContext, type SocketDPeer } from './socketd.context.js';
import {
  carriesValue, decodeFailure, decodeMessage, SocketDDataTypeError, SocketDDeserializer, SocketDDeserializerMisuseError,
  type SocketDDeserializerLike,
} from './socketd.deserializer.js';
import { decodeCallError, sendNestAlarm } from './socketd.error-codec.js';
import { SocketDEventEmitter } from './socketd.event-emitter.js';
import type { SocketDEvents, SocketDStatus } from './socketd.events.js';
import type { SocketDRecordOptions } from './socketd.record-builder.js';
import { ReplyBudget } from './socketd.reply-budget.js';
import { ReplyStream } from './socketd.reply-stream.js';
import {
  isThenable,
  mergeMetas,
  SocketDSerializer,
  type SocketDEntity,
  type SocketDSerializerLike,
} from './socketd.serializer.js';

// Distinct undecodable Data-Types logged per server; later ones are not reported.
const MAX_REPORTED_TYPES = 64;

/** One received Request or Subscribe on its way to its handler. */
interface InboundStream {
  readonly session: Session;
  readonly message: ReceivedMessage;
  readonly handler: MessageHandler;
  readonly context: SocketDContext;
  /** Answers the handler's result; set once the handler returned. */
  replies: ReplyStream | undefined;
  /** The requester cancelled (or the session closed) before the handler returned. */
  cancelled: boolean;
}

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
  /** Stream values queued across all Subscribes of one session. Default 1 048 576. */
  maxQueuedRepliesPerSession?: number;
  /** Stream values queued across all sessions of this server. Default 4 194 304. */
  maxQueuedRepliesPerServer?: number;
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
  /** Stream values queued for slow clients, per session and in all. */
  protected readonly replyBudget: ReplyBudget;
  /** The user-facing events (`on()`); the strategies emit through `events.emit`. */
  protected readonly events = new SocketDEventEmitter(() => this.logger);
  private inFlight = 0;
  /** Data-Types already reported as undecodable (each is logged once). */
  private readonly reportedTypes = new Set<string>();
  private misuseReported = false;
  private idleWaiters: (() => void)[] = [];
  /** Nest's default start hook (`done()`): while it is in place, handlers run without its async wrapper. */
  private readonly defaultStartHook = this.onProcessingStartHook;

  protected constructor(options: SocketDHandlingOptions) {
    super();
    this.maxQueuedReplies = this.getOptionsProp(options, 'maxQueuedReplies', SOCKETD_DEFAULT_MAX_QUEUED_REPLIES);
    this.replyBudget = new ReplyBudget(
      this.getOptionsProp(options, 'maxQueuedRepliesPerSession', SOCKETD_DEFAULT_MAX_QUEUED_REPLIES_PER_SESSION),
      this.getOptionsProp(options, 'maxQueuedRepliesPerServer', SOCKETD_DEFAULT_MAX_QUEUED_REPLIES_PER_SERVER),
    );
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
    this.events.on(event, callback);
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
   * does. A Request's first answer is its end: it waits for the smaller of the options'
   * `requestTimeout` and `streamTimeout` (each defaulting to `timeout`), else the session's
   * `requestTimeout`. Also reachable from a handler as `ctx.request(...)`.
   */
  async requestTo<T = unknown>(session: Session, pattern: string, data?: unknown, options: SocketDRecordOptions = {}): Promise<T> {
    const entity = await this.encodePayload(data);
    const first = options.requestTimeout ?? options.timeout;
    const end = options.streamTimeout ?? options.timeout;
    const timeout = first === undefined ? end : end === undefined ? first : Math.min(first, end);
    let reply: ReceivedMessage;
    try {
      reply = await session.request(pattern, entity.data, { metas: mergeMetas(entity.metas, undefined, options.metas), timeout });
    } catch (err) {
      throw decodeCallError(err);
    }
    if (!carriesValue(reply)) return undefined as T;
    try {
      return await decodeMessage(this.payloadDeserializer, reply) as T;
    } catch (err) {
      throw new Error(`Socket.D: cannot decode the reply to '${pattern}': ${decodeFailure(err, this.codecOwner)}`, { cause: err });
    }
  }

  /** Who owns the codec options, as messages name it: `the SocketDServer`, `the SocketDClientStrategy`. */
  protected get codecOwner(): string {
    return `the ${this.constructor.name}`;
  }

  /**
   * Sends a Message to one session with this strategy's codec; resolves once the socket took
   * it (waits for a saturated session to drain). Also reachable as `ctx.emit(...)`.
   */
  async emitTo(session: Session, pattern: string, data?: unknown, metas?: Metas): Promise<void> {
    const entity = await this.encodePayload(data);
    if (!session.send(pattern, entity.data, { metas: mergeMetas(entity.metas, undefined, metas) })) await session.drain();
  }

  protected async encodePayload(data: unknown): Promise<SocketDEntity> {
    const entity = this.payloadSerializer.serialize(data);
    return isThenable<SocketDEntity>(entity) ? await entity : entity;
  }

  /** Pushes a status to `status` subscribers and `status` listeners. */
  protected setStatus(status: SocketDStatus): void {
    this._status$.next(status);
    this.events.emit('status', status);
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
      const data = decodeMessage(this.payloadDeserializer, message);
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
    const runEndHook = this.endHookRunner(context);
    let result: unknown;
    try {
      result = handler(data, context);
    } catch (err) {
      runEndHook();
      this.eventFailed(pattern, err);
      return;
    }
    Promise.resolve(result).then(
      (resultOrStream: unknown) => this.eventHandled(resultOrStream, runEndHook),
      (err: unknown) => {
        runEndHook();
        this.eventFailed(pattern, err);
      },
    );
  }

  // As Nest's handleEvent(): an Observable result is run to its end (hot, shared); the end
  // hook runs when it finishes, at once for any other result.
  private eventHandled(resultOrStream: unknown, runEndHook: () => void): void {
    if (isObservable(resultOrStream)) {
      connectable(resultOrStream.pipe(finalize(runEndHook)), { connector: () => new Subject(), resetOnDisconnect: false }).connect();
    } else {
      runEndHook();
    }
    this.untrack();
  }

  private readonly untrackOk = (): void => this.untrack();

  private eventFailed(pattern: string, err: unknown): void {
    this.untrack();
    this.logger.error(`Socket.D: event handler for '${pattern}' failed: ${describeError(err)}`);
  }

  // A codec that does not fit is reported once (per Data-Type, or once for a misused
  // deserializer), not per event: a stream of events of one type would flood the log.
  private dropEvent(pattern: string, err: unknown): void {
    this.untrack();
    if (err instanceof SocketDDataTypeError || err instanceof SocketDDeserializerMisuseError) {
      this.reportCodecMisfit(err, `dropping events with such data (first: '${pattern}')`);
      return;
    }
    this.logger.warn(`Socket.D: dropped event '${pattern}' with undecodable data: ${describeError(err)}`);
  }

  /** Logs a codec misfit the first time it is seen: a Data-Type no deserializer reads, a misused deserializer. */
  private reportCodecMisfit(err: SocketDDataTypeError | SocketDDeserializerMisuseError, consequence: string): void {
    if (err instanceof SocketDDeserializerMisuseError) {
      if (this.misuseReported) return;
      this.misuseReported = true;
      this.logger.error(`Socket.D: ${err.message}; ${consequence}`);
      return;
    }
    // Capped: a peer cycling through made-up types cannot grow the set (or the log) without bound.
    if (this.reportedTypes.has(err.dataType) || this.reportedTypes.size >= MAX_REPORTED_TYPES) return;
    this.reportedTypes.add(err.dataType);
    this.logger.warn(`Socket.D: received ${decodeFailure(err, this.codecOwner)}; ${consequence}`);
  }

  private handleStream(session: Session, message: ReceivedMessage): void {
    const handler = this.getHandlerByPattern(message.event);
    if (handler === null) {
      this.alarm(session, message, NO_MESSAGE_HANDLER);
      return;
    }
    const context = new SocketDContext([session, message, message.event, this]);
    this.track();
    const inbound: InboundStream = { session, message, handler, context, replies: undefined, cancelled: false };
    message.onCancel(() => {
      inbound.cancelled = true;
      inbound.replies?.cancel();
    });
    if (this.onProcessingStartHook === this.defaultStartHook) {
      // What the start hook `done()` would run, without its async wrapper: runStream never rejects.
      void this.runStream(inbound, this.endHookRunner(context));
      return;
    }
    // Nest 12's runWithProcessingHooks() (Nest 11 has none): the end hook runs once, when the
    // answer ends. The default start hook returns the promise of `done()`, which never rejects
    // here; a custom hook may return anything.
    const started: unknown = this.onProcessingStartHook(this.transportId!, context, () => this.runStream(inbound, this.endHookRunner(context)));
    if (isThenable(started)) Promise.resolve(started).catch((err: unknown) => this.logger.error(describeError(err)));
  }

  // Nest 12's createProcessingEndHookRunner() (Nest 11 has none): the end hook, at most once.
  private endHookRunner(context: SocketDContext): () => void {
    let ran = false;
    return () => {
      if (ran) return;
      ran = true;
      this.onProcessingEndHook?.(this.transportId!, context);
    };
  }

  // Decodes the data, runs the handler and answers its result. Never rejects.
  private async runStream(inbound: InboundStream, runEndHook: () => void): Promise<void> {
    const { session, message } = inbound;
    const settle = (): void => {
      runEndHook();
      this.untrack();
    };
    let data: unknown;
    try {
      data = decodeMessage(this.payloadDeserializer, message);
      if (isThenable(data)) data = await data;
    } catch (err) {
      this.alarm(session, message, this.invalidData(err));
      settle();
      return;
    }
    let result: unknown;
    try {
      result = await inbound.handler(data, inbound.context);
    } catch (err) {
      // Nest's proxies turn handler failures into an erroring Observable already; this is a
      // failure around them (a request-scoped provider that cannot be built, ...).
      this.logger.error(`Socket.D: handler for '${message.event}' failed: ${describeError(err)}`, (err as Error)?.stack);
      this.alarm(session, message, INTERNAL_ERROR);
      settle();
      return;
    }
    if (inbound.cancelled) settle();
    else this.answer(inbound, result, settle);
  }

  // Sends a handler's result through a ReplyStream: an Observable as a stream (a Reply per
  // value, then an empty ReplyEnd), a plain value (the usual case) as one ReplyEnd.
  private answer(inbound: InboundStream, result: unknown, settle: () => void): void {
    const replies = new ReplyStream(inbound.session, inbound.message, this.payloadSerializer, this.maxQueuedReplies, this.logger, settle, this.replyBudget);
    inbound.replies = replies;
    if (isObservable(result)) {
      (result as Observable<unknown>).subscribe(replies);
    } else {
      replies.answerOne(result);
    }
  }

  // The error value a caller gets for data this side could not decode: what to set for a
  // Data-Type no deserializer reads; Nest's generic error for a misused deserializer (the
  // server's own fault, told in full in its log).
  private invalidData(err: unknown): unknown {
    if (err instanceof SocketDDeserializerMisuseError) {
      this.reportCodecMisfit(err, 'answering requests with an internal error');
      return INTERNAL_ERROR;
    }
    if (err instanceof SocketDDataTypeError) this.reportCodecMisfit(err, 'answering such requests with an Alarm');
    return { status: 'error', message: `Invalid request data: ${decodeFailure(err, this.codecOwner)}` };
  }

  /** Answers a Request/Subscribe with an Alarm carrying a Nest error value. */
  protected alarm(session: Session, message: ReceivedMessage, err: unknown): void {
    sendNestAlarm(session, message, err, this.logger);
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

import type { ReadPacket, WritePacket } from '@nestjs/microservices';
import { describeError, isSocketDError, socketDError } from '../engine.js';
import type { ReceivedMessage, Session, StreamHandle, StreamObserver } from '../session/types.js';
import { NEST_AUTO_META, NEST_STREAM_META } from './socketd.constants.js';
import { carriesValue, decodeFailure, decodeMessage, type SocketDDeserializerLike } from './socketd.deserializer.js';
import { decodeCallError } from './socketd.error-codec.js';
import { callMetas, unwrapRecord, type SocketDCallMode, type SocketDRecordOptions } from './socketd.record-builder.js';
import { isThenable, mergeMetas, type SocketDEntity, type SocketDSerializerLike } from './socketd.serializer.js';

/**
 * How a {@link SocketDClient} sends `send()` calls: `auto` (a Subscribe toward servers whose
 * Connack announces `X-Nest-Stream`, a Request toward all others), `subscribe` or `request`.
 */
export type SocketDClientCallMode = 'auto' | SocketDCallMode;

/** The settings of the client a call belongs to: codec, call mode, default timeouts. */
export interface CallSettings {
  readonly serializer: SocketDSerializerLike;
  readonly deserializer: SocketDDeserializerLike;
  readonly callMode: SocketDClientCallMode;
  /** Milliseconds to a call's first answer. */
  readonly requestTimeout: number;
  /** Milliseconds to a call's end. */
  readonly streamTimeout: number;
  /** Broker target (meta `@`) of every call unless the record sets one; undefined: none. */
  readonly target?: string | undefined;
}

/** Checks a client's `callMode` option; returns it (`auto` when undefined). */
export function resolveCallMode(mode: unknown): SocketDClientCallMode {
  if (mode === undefined) return 'auto';
  if (mode === 'auto' || mode === 'subscribe' || mode === 'request') return mode;
  throw socketDError('INVALID_ARGUMENT', `callMode must be 'auto', 'subscribe' or 'request', got ${String(mode)}`);
}

/**
 * The kind of exchange a call opens on `session`: the record's `mode`, else the client's
 * `callMode`, where `auto` means a Subscribe only toward a server whose Connack carried
 * `X-Nest-Stream` (a Nest Socket.D server, or our broker: upstream servers answer a Request
 * with one Reply and would leave a Subscribe open until its streamTimeout). Toward a broker
 * that announces `X-Nest-Auto`, the auto Subscribe is marked so (see `ClientCall.open`).
 */
export function callKind(session: Session, record: SocketDCallMode | undefined, client: SocketDClientCallMode): SocketDCallMode {
  const mode = record ?? client;
  if (mode !== 'auto') return mode;
  const announced = session.handshake.params[NEST_STREAM_META];
  return announced !== undefined && Number.parseInt(announced, 10) >= 1 ? 'subscribe' : 'request';
}

/** Which bound of a call fired. */
type TimeoutName = 'requestTimeout' | 'streamTimeout';

/**
 * One `send()` of a {@link SocketDClient}: encodes the data, opens a Subscribe or a Request
 * (see {@link callKind}) and hands the decoded replies to Nest's callback in arrival order.
 * `requestTimeout` bounds the wait for the first answer and `streamTimeout` the whole call,
 * both kept by the engine (a Request's first answer is its end: it takes the smaller bound).
 * The call is the stream's observer itself: nothing else is allocated per call.
 * `cancel` is the teardown Nest runs when the subscriber unsubscribes.
 */
export class ClientCall implements StreamObserver {
  private handle: StreamHandle | undefined;
  private done = false;
  private single = false;
  private replies: ReplyDelivery | undefined;
  /** The bound the engine's end timer enforces for this call. */
  private endBound: TimeoutName = 'streamTimeout';
  /** Milliseconds of the first-answer bound of a Subscribe (0: none). */
  private firstTimeout = 0;

  constructor(
    private readonly session: Session,
    private readonly event: string,
    private readonly packet: ReadPacket,
    private readonly settings: CallSettings,
    private readonly callback: (packet: WritePacket) => void,
    /** Milliseconds the call already waited for a session: they count toward its requestTimeout. */
    private readonly waited = 0,
  ) {}

  /** Encodes the data (at once when the serializer is synchronous) and opens the stream. */
  start(): void {
    const { data, options } = unwrapRecord(this.packet.data);
    let entity: SocketDEntity | PromiseLike<SocketDEntity>;
    try {
      entity = this.settings.serializer.serialize(data);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (isThenable<SocketDEntity>(entity)) Promise.resolve(entity).then((e) => this.open(e, options), (err: unknown) => this.fail(err));
    else this.open(entity, options);
  }

  /** Stops the call unless it is over, and tells the server. */
  readonly cancel = (): void => {
    if (this.done) return;
    // The engine sends an Alarm with the sid and X-Cancel=1: our server unsubscribes the
    // handler's Observable; upstream peers log it (spec 7.3).
    this.abort();
  };

  /** A Request's only answer, or a Subscribe's next value (a Reply, or a ReplyEnd's data). */
  next(reply: ReceivedMessage): void {
    if (this.single) this.done = true;
    this.replies!.deliver(reply, this.single);
  }

  /**
   * The end of a Subscribe (a Request is over with its `next`): undefined after a ReplyEnd whose
   * data went to `next`, else the empty ReplyEnd, a value only when it has a `Data-Type` meta
   * (an empty string an earlier nestjs-socketd put on the ReplyEnd).
   */
  complete(end: ReceivedMessage | undefined): void {
    if (this.single) return;
    this.done = true;
    this.replies!.deliver(end, true);
  }

  /** An Alarm, a timeout, or the connection closed. */
  error(err: Error): void {
    this.done = true;
    this.replies!.fail(this.callError(err));
  }

  private open(entity: SocketDEntity, options: Readonly<SocketDRecordOptions>): void {
    if (this.done) return;
    const kind = callKind(this.session, options.mode, this.settings.callMode);
    const single = this.single = kind === 'request';
    const requestTimeout = options.requestTimeout ?? options.timeout ?? this.settings.requestTimeout;
    const streamTimeout = options.streamTimeout ?? options.timeout ?? this.settings.streamTimeout;
    // A Request's first answer is its end: the engine's timer takes the smaller bound. A
    // Subscribe's engine timer is the whole stream; the first answer gets a bound of its own.
    if (single && requestTimeout <= streamTimeout) this.endBound = 'requestTimeout';
    if (!single && requestTimeout < streamTimeout) this.firstTimeout = Math.max(1, requestTimeout - this.waited);
    this.replies = new ReplyDelivery(this.settings.deserializer, this.callback, this, this.event);
    try {
      let metas = mergeMetas(entity.metas, this.packet.metadata, callMetas(options, this.settings.target));
      if (!single && options.mode === undefined && this.settings.callMode === 'auto' && this.session.handshake.params[NEST_AUTO_META] !== undefined) {
        // Through our broker: it sends this Subscribe on as a Request to a player that does not stream.
        metas = typeof metas === 'string' ? `${metas}${metas === '' ? '' : '&'}${NEST_AUTO_META}=1` : { ...metas, [NEST_AUTO_META]: '1' };
      }
      this.handle = this.session.stream(kind, this.event, entity.data, this, {
        metas, timeout: this.endBound === 'requestTimeout' ? Math.max(1, requestTimeout - this.waited) : streamTimeout, firstReplyTimeout: this.firstTimeout,
      });
    } catch (err) {
      this.fail(err);
    }
  }

  // The engine's timeout says which bound fired and its milliseconds; an Alarm becomes the Nest error value.
  private callError(err: Error): unknown {
    const details = isSocketDError(err, 'TIMEOUT') ? err.details as { bound?: string; ms?: number } | undefined : undefined;
    if (details?.ms !== undefined) {
      const name = details.bound === 'firstReply' ? 'requestTimeout' : this.endBound;
      // The bound as configured: the engine's timer had the wait for a session taken off.
      return timeoutError(name, name === 'requestTimeout' ? details.ms + this.waited : details.ms, this.event, this.handle?.sid);
    }
    return decodeCallError(err);
  }

  /** Cancels the stream (after a reply that cannot be decoded, or an unsubscribe). */
  abort(): void {
    this.done = true;
    this.handle?.cancel();
  }

  private fail(err: unknown): void {
    this.done = true;
    this.callback({ err });
  }
}

/**
 * `SOCKETD_ERR_TIMEOUT` naming the bound that fired: `requestTimeout 500 ms: no first answer
 * to 'user.get'` or `streamTimeout 7200000 ms: 'ticks' did not end`. `details` hold
 * `{ timeout: 'requestTimeout' | 'streamTimeout', ms, event, sid }`.
 */
function timeoutError(name: TimeoutName, ms: number, event: string, sid: string | undefined): Error {
  const what = name === 'requestTimeout' ? `no first answer to '${event}'` : `'${event}' did not end`;
  return socketDError('TIMEOUT', `${name} ${ms} ms: ${what}`, { timeout: name, ms, event, sid });
}

/**
 * Decodes a call's replies and hands them to Nest's callback in arrival order, also when the
 * deserializer is asynchronous (values then wait for the ones before them).
 */
class ReplyDelivery {
  private tail: Promise<void> | undefined;
  private failed = false;

  constructor(
    private readonly deserializer: SocketDDeserializerLike,
    private readonly callback: (packet: WritePacket) => void,
    /** The call, cancelled after a reply that cannot be decoded. */
    private readonly call: { abort(): void },
    private readonly event: string,
  ) {}

  /** Decodes one reply (undefined: an end without one) and delivers it; `last` ends the call. */
  deliver(message: ReceivedMessage | undefined, last: boolean): void {
    let value: unknown;
    try {
      value = message === undefined ? undefined : decodeMessage(this.deserializer, message);
    } catch (err) {
      this.undecodable(err);
      return;
    }
    if (this.tail === undefined && !isThenable(value)) {
      this.emit(value, message, last);
      return;
    }
    const previous = this.tail ?? Promise.resolve();
    this.tail = previous.then(() => value).then(
      (v) => this.emit(v, message, last),
      (err: unknown) => this.undecodable(err),
    );
  }

  // A reply this client cannot decode (a Data-Type its deserializer does not read, bad data, a
  // misused deserializer): the stream is cancelled and the call fails saying what to set.
  private undecodable(err: unknown): void {
    this.call.abort();
    this.failNow(new Error(`Socket.D: cannot decode the reply to '${this.event}': ${decodeFailure(err, 'the SocketDClient')}`, { cause: err }));
  }

  /** Fails the call once the replies before the failure are delivered. */
  fail(err: unknown): void {
    if (this.tail === undefined) this.failNow(err);
    else this.tail = this.tail.then(() => this.failNow(err));
  }

  private emit(value: unknown, message: ReceivedMessage | undefined, last: boolean): void {
    if (this.failed) return;
    if (!last) this.callback({ response: value });
    else if (message !== undefined && carriesValue(message)) this.callback({ response: value, isDisposed: true });
    else this.callback({ isDisposed: true });
  }

  private failNow(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.callback({ err });
  }
}

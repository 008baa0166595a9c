import type { ReadPacket, WritePacket } from '@nestjs/microservices';
import type { ReceivedMessage, Session, StreamHandle, StreamObserver } from '../session/types.js';
import { carriesValue, type SocketDDeserializerLike } from './socketd.deserializer.js';
import { decodeCallError, describeError } from './socketd.error-codec.js';
import { unwrapRecord, type SocketDRecordOptions } from './socketd.record-builder.js';
import { isThenable, mergeMetas, type SocketDEntity, type SocketDSerializerLike } from './socketd.serializer.js';

/** The codec of the client a call belongs to. */
export interface CallCodec {
  readonly serializer: SocketDSerializerLike;
  readonly deserializer: SocketDDeserializerLike;
}

/**
 * One `send()` of a {@link SocketDClient}: encodes the data, opens a Subscribe (or a Request
 * in `request` mode) and hands the decoded replies to Nest's callback in arrival order.
 * `cancel` is the teardown Nest runs when the subscriber unsubscribes.
 */
export class ClientCall {
  private handle: StreamHandle | undefined;
  private done = false;

  constructor(
    private readonly session: Session,
    private readonly event: string,
    private readonly packet: ReadPacket,
    private readonly codec: CallCodec,
    private readonly callback: (packet: WritePacket) => void,
  ) {}

  /** Encodes the data (at once when the serializer is synchronous) and opens the stream. */
  start(): void {
    const { data, options } = unwrapRecord(this.packet.data);
    let entity: SocketDEntity | PromiseLike<SocketDEntity>;
    try {
      entity = this.codec.serializer.serialize(data);
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

  private open(entity: SocketDEntity, options: Readonly<SocketDRecordOptions>): void {
    if (this.done) return;
    const single = options.mode === 'request';
    const replies = new ReplyDelivery(this.codec.deserializer, this.callback, () => this.abort());
    try {
      const metas = mergeMetas(entity.metas, this.packet.metadata, options.metas);
      const observer = this.observer(single, replies);
      this.handle = this.session.stream(single ? 'request' : 'subscribe', this.event, entity.data, observer, { metas, timeout: options.timeout });
    } catch (err) {
      this.fail(err);
    }
  }

  // A Request ends with its first answer; a Subscribe with its ReplyEnd.
  private observer(single: boolean, replies: ReplyDelivery): StreamObserver {
    return {
      next: (reply) => {
        if (single) this.done = true;
        replies.deliver(reply, single);
      },
      complete: (end) => {
        if (single) return;
        this.done = true;
        replies.deliver(end, true);
      },
      error: (err) => {
        this.done = true;
        replies.fail(decodeCallError(err));
      },
    };
  }

  private abort(): void {
    this.done = true;
    this.handle?.cancel();
  }

  private fail(err: unknown): void {
    this.done = true;
    this.callback({ err });
  }
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
    /** Cancels the stream after a reply that cannot be decoded. */
    private readonly abort: () => void,
  ) {}

  /** Decodes one reply (undefined: an end without one) and delivers it; `last` ends the call. */
  deliver(message: ReceivedMessage | undefined, last: boolean): void {
    let value: unknown;
    try {
      value = message === undefined ? undefined : this.deserializer.deserialize(message);
    } catch (err) {
      this.abort();
      this.failNow(new Error(`Socket.D: undecodable reply to this call: ${describeError(err)}`));
      return;
    }
    if (this.tail === undefined && !isThenable(value)) {
      this.emit(value, message, last);
      return;
    }
    const previous = this.tail ?? Promise.resolve();
    this.tail = previous.then(() => value).then(
      (v) => this.emit(v, message, last),
      (err: unknown) => {
        this.abort();
        this.failNow(err);
      },
    );
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

import { describeError } from '../engine.js';
import type { LoggerService } from '@nestjs/common';
import { Subscriber } from 'rxjs';
import type { ReceivedMessage, Session } from '../session/types.js';
import { INTERNAL_ERROR } from './socketd.constants.js';
import { ReplyBudget } from './socketd.reply-budget.js';
import { sendNestAlarm } from './socketd.error-codec.js';
import { isThenable, metasArg, type SocketDEntity, type SocketDSerializerLike } from './socketd.serializer.js';

// What the pump sends: every queued value, or every queued value then the end.
const enum Pump {
  All,
  End,
}

// Sent values left at the front of the queue before compact() drops them: rarely enough that
// the copy stays cheap, soon enough that a long-lived stream's queue does not keep growing.
const COMPACT_AFTER = 4096;

// What a Request to a handler that produces several values fails with.
function severalValues(event: string): { status: 'error'; message: string } {
  return {
    status: 'error',
    message: `The handler of '${event}' produces several values, but a Request has one answer: call it with a Subscribe ` +
      "(SocketDClient callMode 'auto' toward a Nest server or our broker, or 'subscribe')",
  };
}

// What a stream that outgrew `maxQueued` fails with.
const STREAM_OVERFLOW = Object.freeze({ status: 'error', message: 'Stream overflow: the client reads slower than the handler produces' } as const);

/**
 * Answers one received Request or Subscribe from a handler's Observable, under backpressure.
 *
 * - Subscribe: each value is a Reply, completion an empty ReplyEnd (as upstream streams end);
 *   a plain result (see {@link answerOne}) is one ReplyEnd carrying it.
 * - Request: a Request has exactly one answer (spec 7.2). The handler's one value is the
 *   ReplyEnd, sent when the handler completes (at once for a plain or Promise value); a second
 *   value fails the Request with an Alarm naming the fix (call it with a Subscribe) and stops
 *   the producer: a stream is never cut to its first value. Completion without a value is an
 *   empty ReplyEnd.
 * - An error (already shaped by Nest's exception filters) is an Alarm on the stream's sid,
 *   after the values received before it.
 *
 * Observables are push-based: rxjs cannot pause a producer. When a send returns false the
 * values are queued here (array + head index: O(1) per item at any length) and sent once the
 * session drains; past `maxQueued` queued values, or when the session's or the server's
 * `ReplyBudget` is spent, the stream fails rather than exhaust memory.
 * This subscriber never goes through `Server.send()`, whose `Array.shift()` queue is quadratic.
 */
export class ReplyStream extends Subscriber<unknown> {
  private queue: unknown[] = [];
  private head = 0;
  private blocked = false;
  private ended = false;
  private failure: { err: unknown } | undefined;
  private finished = false;
  /** Values of this stream counted in the budget (queued while blocked, not yet sent). */
  private charged = 0;
  private readonly single: boolean;
  /** A Request's one value, held until the handler completes (or produces a second one). */
  private holding = false;
  private held: unknown;

  constructor(
    private readonly session: Session,
    private readonly message: ReceivedMessage,
    private readonly serializer: SocketDSerializerLike,
    private readonly maxQueued: number,
    private readonly logger: LoggerService,
    /** Runs once when the stream is answered to the end, failed or cancelled. */
    private readonly onSettled: () => void,
    /** Shared by the streams of a server: values queued per session and in all. */
    private readonly budget: ReplyBudget = new ReplyBudget(Infinity, Infinity),
  ) {
    super();
    this.single = !message.isSubscribe;
  }

  /** The requester cancelled or the session closed: stop the producer, send nothing more. */
  cancel(): void {
    if (this.finished) return;
    this.dropQueue();
    this.settle();
  }

  /**
   * Answers with one value and ends: a handler's plain (non-Observable) result. It is the
   * ReplyEnd itself for a Request and a Subscribe alike (one frame, as a Request's answer;
   * every client takes a ReplyEnd's data as the last value).
   */
  answerOne(value: unknown): void {
    if (this.finished) return;
    this.ended = true;
    this.sendLast(value, true);
  }

  protected override _next(value: unknown): void {
    if (this.finished) return;
    if (this.single) {
      if (!this.holding) {
        this.holding = true;
        this.held = value;
        return;
      }
      this.holding = false;
      this.held = undefined;
      this.ended = true;
      this.sendAlarm(severalValues(this.message.event));
      return;
    }
    if (this.blocked) {
      this.queue.push(value);
      if (this.queue.length - this.head > this.maxQueued) this.overflow(`queued more than ${this.maxQueued} replies`);
      else if (this.budget.take(this.session)) this.charged++;
      else this.overflow(`cannot queue more replies (maxQueuedRepliesPerSession ${this.budget.perSession}, maxQueuedRepliesPerServer ${this.budget.perServer})`);
      return;
    }
    // Not blocked: the queue is empty (the pump empties it before unblocking), send at once.
    const sent = this.send(value);
    if (sent !== true) this.block(sent);
  }

  protected override _error(err: unknown): void {
    this.failure = { err };
    this.ended = true;
    if (!this.blocked && !this.finished) this.pump(Pump.End);
    this.unsubscribe();
  }

  protected override _complete(): void {
    this.ended = true;
    if (this.holding && !this.finished) {
      const value = this.held;
      this.holding = false;
      this.held = undefined;
      this.sendLast(value, true);
      this.unsubscribe();
      return;
    }
    if (!this.blocked && !this.finished) this.pump(Pump.End);
    this.unsubscribe();
  }

  private pump(mode: Pump): void {
    const queue = this.queue;
    while (!this.finished) {
      const count = queue.length - this.head;
      if (count === 0) break;
      const value = queue[this.head];
      queue[this.head++] = undefined;
      if (this.charged > 0) this.uncharge(1);
      const sent = this.send(value);
      if (sent === true) continue;
      this.compact();
      this.block(sent);
      return;
    }
    if (this.finished) return;
    this.queue.length = 0;
    this.head = 0;
    if (mode === Pump.End) this.sendLast(undefined, false);
  }

  // Sends one Reply: true when the session takes more, false when saturated, or a promise of
  // that for an asynchronous serializer.
  private send(value: unknown): boolean | Promise<boolean> {
    let entity: SocketDEntity | PromiseLike<SocketDEntity>;
    try {
      entity = this.serializer.serialize(value);
    } catch (err) {
      this.failInternal(err);
      return true;
    }
    if (isThenable<SocketDEntity>(entity)) {
      return Promise.resolve(entity).then(
        (e) => this.write(e, false),
        (err: unknown) => {
          this.failInternal(err);
          return true;
        },
      );
    }
    return this.write(entity, false);
  }

  private write(entity: SocketDEntity, end: boolean): boolean {
    if (this.finished) return true;
    try {
      return end
        ? this.session.replyEnd(this.message, entity.data, metasArg(entity.metas))
        : this.session.reply(this.message, entity.data, metasArg(entity.metas));
    } catch (err) {
      this.failInternal(err);
      return true;
    }
  }

  private block(sent: false | Promise<boolean>): void {
    this.blocked = true;
    const resume = (): void => {
      this.blocked = false;
      if (!this.finished) this.pump(this.ended ? Pump.End : Pump.All);
    };
    if (sent === false) {
      this.session.drain().then(resume, resume);
      return;
    }
    sent.then((ok) => (ok ? resume() : this.session.drain().then(resume, resume)));
  }

  // The final frame: a ReplyEnd (with the last value when `hasValue`) or, after an error, an Alarm.
  private sendLast(value: unknown, hasValue: boolean): void {
    if (this.failure !== undefined) {
      this.sendAlarm(this.failure.err);
      return;
    }
    let entity: SocketDEntity | PromiseLike<SocketDEntity> = {};
    if (hasValue) {
      try {
        entity = this.serializer.serialize(value);
      } catch (err) {
        this.failInternal(err);
        return;
      }
    }
    if (isThenable<SocketDEntity>(entity)) {
      this.blocked = true;
      Promise.resolve(entity).then(
        (e) => {
          this.write(e, true);
          this.settle();
        },
        (err: unknown) => this.failInternal(err),
      );
      return;
    }
    this.write(entity, true);
    this.settle();
  }

  private sendAlarm(err: unknown): void {
    if (this.finished) return;
    sendNestAlarm(this.session, this.message, err, this.logger);
    this.settle();
  }

  // A failure of the transport itself (serializer, size limit): Nest's generic error to the
  // requester, the details to the log.
  private failInternal(err: unknown): void {
    if (this.finished) return;
    this.logger.error(
      `Socket.D: cannot send the reply to '${this.message.event}': ${describeError(err)}`,
      err instanceof Error ? err.stack : undefined,
    );
    this.sendAlarm(INTERNAL_ERROR);
  }

  private overflow(why: string): void {
    this.budget.markStalled(this.session);
    this.logger.warn(`Socket.D: stream '${this.message.event}' (sid ${this.message.sid}) ${why} for a slow client; failing it`);
    this.dropQueue();
    this.sendAlarm(STREAM_OVERFLOW);
  }

  private dropQueue(): void {
    this.queue = [];
    this.head = 0;
    this.uncharge(this.charged);
  }

  private uncharge(count: number): void {
    this.charged -= count;
    this.budget.release(this.session, count);
  }

  // Drop the consumed prefix now and then so a long-lived queue does not keep growing.
  private compact(): void {
    if (this.head >= COMPACT_AFTER && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private settle(): void {
    if (this.finished) return;
    this.finished = true;
    this.uncharge(this.charged);
    this.unsubscribe();
    this.onSettled();
  }
}

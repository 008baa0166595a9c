import { Flags } from '../protocol/flags.js';
import { socketDError } from '../protocol/errors.js';
import type { InboundMessage } from './received-message.js';
import { logFailure } from './callbacks.js';
import { Deadlines, type Deadline } from './deadlines.js';
import { milliseconds, type ResolvedSessionOptions } from './options.js';
import type { EngineLogger, ReceivedMessage, StreamObserver } from './types.js';

/**
 * Milliseconds a new stream waits for its (final) answer: `timeout` as given, the session's
 * `requestTimeout` (Request) or `streamTimeout` (Subscribe) for 0 or none, `streamTimeout` for
 * a negative one (as upstream).
 */
export function streamTimeout(kind: 'request' | 'subscribe', timeout: number | undefined, options: ResolvedSessionOptions): number {
  if (timeout === undefined || timeout === 0) return kind === 'request' ? options.requestTimeout : options.streamTimeout;
  if (timeout < 0 && Number.isInteger(timeout)) return options.streamTimeout;
  // NaN, Infinity, 1.5 or a string would arm a timer that fires at once, never, or in a loop.
  return milliseconds('timeout', timeout, 1);
}

/** One Request or Subscribe this side started and still waits on (spec section 7.2). */
interface PendingStream {
  readonly sid: string;
  readonly kind: 'request' | 'subscribe';
  readonly event: string;
  readonly observer: StreamObserver;
  readonly timeout: number;
  end: Deadline<PendingStream> | undefined;
  /** Until the first answer of a Subscribe given a `firstReplyTimeout`. */
  first: Deadline<PendingStream> | undefined;
  readonly firstReplyTimeout: number;
}

/**
 * Streams this session started, keyed by sid. Each has a deadline that starts at send and is
 * never refreshed by replies (as upstream), and a Subscribe may have one for its first answer;
 * expiry fails the stream locally. Observer calls are isolated: one that throws is logged and
 * changes nothing for the other streams.
 */
export class OutboundStreams {
  // Created on first use, like the deadline lists: a session that starts nothing (most server
  // sessions) keeps no empty table.
  private pendingMap: Map<string, PendingStream> | undefined;
  private readonly ends = new Deadlines<PendingStream>((stream) => this.expire(stream, false));
  private readonly firsts = new Deadlines<PendingStream>((stream) => this.expire(stream, true));

  /** `onExpired(sid, event)` runs after a stream timed out (the session tells the responder). */
  constructor(
    private readonly log: EngineLogger,
    private readonly onExpired: (sid: string, event: string) => void,
  ) {}

  get size(): number {
    return this.pendingMap?.size ?? 0;
  }

  private get pending(): Map<string, PendingStream> {
    return this.pendingMap ??= new Map();
  }

  /**
   * Waits on a new stream: it fails after `timeout` ms, or after `firstReplyTimeout` ms
   * (when given and smaller) without a first Reply, ReplyEnd or Alarm.
   * @throws SocketDError `SOCKETD_ERR_INVALID_ARGUMENT` for a `firstReplyTimeout` that is not an integer >= 0.
   */
  add(sid: string, kind: 'request' | 'subscribe', event: string, observer: StreamObserver, timeout: number, firstReplyTimeout = 0): void {
    if (firstReplyTimeout !== 0) milliseconds('firstReplyTimeout', firstReplyTimeout, 0);
    const stream: PendingStream = { sid, kind, event, observer, timeout, end: undefined, first: undefined, firstReplyTimeout };
    stream.end = this.ends.add(stream, timeout);
    if (firstReplyTimeout > 0 && firstReplyTimeout < timeout) stream.first = this.firsts.add(stream, firstReplyTimeout);
    this.pending.set(sid, stream);
  }

  /** Routes a Reply/ReplyEnd; false when no stream waits on its sid (an orphan). */
  reply(message: InboundMessage): boolean {
    const stream = this.pending.get(message.sid);
    if (stream === undefined) return false;
    const ends = message.flag === Flags.ReplyEnd || stream.kind === 'request';
    if (ends) this.settle(stream);
    else if (stream.first !== undefined) this.answered(stream);
    if (stream.kind === 'request') {
      // A Request is completed by its first Reply or ReplyEnd (spec 7.2).
      this.next(stream, message);
      this.complete(stream, undefined);
    } else if (message.flag === Flags.ReplyEnd) {
      // A ReplyEnd carrying data (upstream style) ends the stream with a last value: `next`
      // sees it, `complete` nothing. An empty one (metas only, or none) goes to `complete`.
      if (message.data.length > 0) {
        this.next(stream, message);
        this.complete(stream, undefined);
      } else {
        this.complete(stream, message);
      }
    } else {
      this.next(stream, message);
    }
    return true;
  }

  /** Fails one stream (an Alarm on its sid); false when none waits on it. */
  fail(sid: string, err: Error): boolean {
    const stream = this.pending.get(sid);
    if (stream === undefined) return false;
    this.settle(stream);
    this.error(stream, err);
    return true;
  }

  /** Forgets one stream without telling its observer (a local cancel). */
  forget(sid: string): { event: string; observer: StreamObserver } | undefined {
    const stream = this.pending.get(sid);
    if (stream === undefined) return undefined;
    this.settle(stream);
    return stream;
  }

  /** Fails every stream: the connection is gone (we never wait for their timeouts). */
  failAll(err: Error): void {
    if (this.pendingMap === undefined || this.pendingMap.size === 0) return;
    const streams = [...this.pendingMap.values()];
    this.pendingMap = undefined;
    this.ends.clear();
    this.firsts.clear();
    for (const stream of streams) this.error(stream, err);
  }

  private settle(stream: PendingStream): void {
    this.pending.delete(stream.sid);
    if (stream.end !== undefined) this.ends.remove(stream.end);
    if (stream.first !== undefined) this.answered(stream);
  }

  private answered(stream: PendingStream): void {
    this.firsts.remove(stream.first!);
    stream.first = undefined;
  }

  private expire(stream: PendingStream, first: boolean): void {
    if (this.pending.get(stream.sid) !== stream) return;
    if (first) stream.first = undefined;
    else stream.end = undefined;
    this.settle(stream);
    const { kind, event, sid } = stream;
    try {
      this.onExpired(sid, event);
    } catch (err) {
      // Telling the peer failed (the cancel does not fit a datagram, ...): the stream still fails here.
      logFailure(this.log, `cancelling the timed-out '${event}' at the peer`, err);
    }
    const ms = first ? stream.firstReplyTimeout : stream.timeout;
    const what = first ? 'first answer' : kind === 'request' ? 'reply' : 'ReplyEnd';
    this.error(stream, socketDError('TIMEOUT', `${kind === 'request' ? 'Request' : 'Subscribe'} '${event}' got no ${what} within ${ms} ms`,
      { sid, event, bound: first ? 'firstReply' : 'end', ms }));
  }

  // Observers are called per Reply: a plain try/catch, with the failure's text built only when
  // one throws (no closure or string per message on the hot path).
  private next(stream: PendingStream, reply: ReceivedMessage): void {
    try {
      stream.observer.next(reply);
    } catch (err) {
      logFailure(this.log, `observer.next of '${stream.event}'`, err);
    }
  }

  private complete(stream: PendingStream, end: ReceivedMessage | undefined): void {
    try {
      stream.observer.complete(end);
    } catch (err) {
      logFailure(this.log, `observer.complete of '${stream.event}'`, err);
    }
  }

  private error(stream: PendingStream, err: Error): void {
    try {
      stream.observer.error(err);
    } catch (thrown) {
      logFailure(this.log, `observer.error of '${stream.event}'`, thrown);
    }
  }
}

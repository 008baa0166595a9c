import { MetaKeys } from '../protocol/constants.js';
import { isSocketDError, socketDError, type SocketDError } from '../protocol/errors.js';
import { Flags, flagName } from '../protocol/flags.js';
import type { Frame } from '../protocol/frame.js';
import { FragmentAggregator, isFragment } from '../protocol/fragments.js';
import { removeMeta } from '../protocol/metas.js';
import { describeError, logFailure, safeCall } from './callbacks.js';
import type { InboundStreams } from './inbound-streams.js';
import type { ResolvedSessionOptions } from './options.js';
import type { OutboundStreams } from './outbound-streams.js';
import { CANCEL_META, InboundMessage } from './received-message.js';
import type { EngineLogger, ReceivedMessage, Session, SessionListener } from './types.js';

/**
 * Bytes charged per partial fragmented message against `maxPendingFragmentBytes`, on top of
 * its declared length: roughly what its strings, buffer and map entry cost, so that a million
 * tiny partial messages cannot hold hundreds of MB while declaring a few.
 */
export const PARTIAL_MESSAGE_OVERHEAD = 1024;

/** What the router needs of its session beyond the public `Session`. */
export interface RouterHost {
  readonly session: Session;
  /** Tells a responder we gave up on the stream `sid` (our cancel Alarm). */
  cancel(sid: string, event: string): void;
  /** An answer the engine itself sends (an Alarm) could not be written: the session closes with 1002. */
  answerFailed(err: unknown): void;
}

/**
 * Routes the message frames of an open session (spec section 7): Message, Request and
 * Subscribe to the application's `onMessage`; Reply and ReplyEnd to the outgoing stream that
 * waits on their sid; Alarms to the stream they fail or cancel. Fragments are reassembled
 * first (spec section 8).
 *
 * Every call into the application is isolated (see `safeCall`): what it throws is logged and
 * never reaches the connection. A message the aggregator refuses for its size is answered
 * (Alarm for a Request/Subscribe, a failed stream for a Reply) and skipped; the session stays.
 */
export class MessageRouter {
  private readonly session: Session;
  private readonly aggregator: FragmentAggregator;
  /** True from the first Request refused at `maxInboundStreams` until one is accepted again. */
  private saturated = false;

  constructor(
    private readonly host: RouterHost,
    private readonly listener: SessionListener,
    options: ResolvedSessionOptions,
    private readonly inbound: InboundStreams,
    private readonly outbound: OutboundStreams,
    private readonly log: EngineLogger,
  ) {
    this.session = host.session;
    this.aggregator = new FragmentAggregator({
      maxMessageSize: options.maxMessageSize,
      maxPendingBytes: options.maxPendingFragmentBytes,
      entryOverhead: PARTIAL_MESSAGE_OVERHEAD,
    });
  }

  /** Messages the peer has started to send in fragments and not finished (they count as streams). */
  get partials(): number {
    return this.aggregator.partials;
  }

  /** Drops the partial messages (the session closed). */
  clear(): void {
    this.aggregator.clear();
  }

  onAlarm(frame: Frame): void {
    const message = new InboundMessage(frame);
    if (frame.flag === Flags.Alarm && frame.sid.length > 0) {
      const answering = this.inbound.get(frame.sid);
      if (answering !== undefined) {
        // Only a requester's cancel (X-Cancel) ends a stream we answer; another Alarm on it is
        // news for its handler (onAlarm hooks) and the session's onAlarm listener.
        if (message.meta(CANCEL_META) !== undefined) {
          this.inbound.cancel(frame.sid);
          return;
        }
        this.log.warn(`Socket.D session ${this.session.id}: the requester of '${answering.event}' (sid ${frame.sid}) sent an Alarm: ${message.dataAsString()}`);
        answering.alarmed(message, this.log);
        safeCall(this.log, 'onAlarm listener', () => this.listener.onAlarm?.(this.session, message));
        return;
      }
      const alarmCode = parseInt(message.meta(MetaKeys.CODE) ?? '', 10) || 0;
      const err = socketDError('ALARM', message.dataAsString(), { alarm: message, alarmCode });
      if (this.outbound.fail(frame.sid, err)) return;
    }
    safeCall(this.log, 'onAlarm listener', () => this.listener.onAlarm?.(this.session, message));
  }

  onRequest(frame: Frame): void {
    const whole = this.reassemble(frame);
    if (whole === undefined) return;
    const message = new InboundMessage(whole);
    if (whole.flag !== Flags.Message) {
      if (!this.inbound.tryAdd(message)) {
        this.overBudget(message);
        return;
      }
      this.saturated = false;
    }
    if (this.listener.onMessage) {
      let result: unknown;
      try {
        result = this.listener.onMessage(this.session, message);
      } catch (err) {
        this.handlerFailed(message, err);
        return;
      }
      // An async handler's rejection must not become an unhandled rejection (which ends the
      // process): log it and fail the requester's stream.
      if (result instanceof Promise) result.catch((err: unknown) => this.handlerFailed(message, err));
    } else if (message.isRequest) {
      this.answer(() => this.session.alarm(message, `no handler for '${message.event}'`));
    }
  }

  onReply(frame: Frame): void {
    const whole = this.reassemble(frame);
    if (whole === undefined) return;
    const message = new InboundMessage(whole);
    if (!this.outbound.reply(message)) {
      safeCall(this.log, 'onOrphanReply listener', () => this.listener.onOrphanReply?.(this.session, message));
    }
  }

  // A partial message holds memory as a stream does: its first fragment needs room under
  // maxInboundStreams, checked before anything is kept.
  private reassemble(frame: Frame): Frame | undefined {
    if (!isFragment(frame)) return frame;
    if (this.aggregator.startsMessage(frame)) this.inbound.checkRoom();
    try {
      return this.aggregator.add(frame);
    } catch (err) {
      if (!isSocketDError(err, 'MESSAGE_TOO_LARGE')) throw err;
      this.tooLarge(frame, err);
      return undefined;
    }
  }

  // The aggregator skips the rest of the message; answer it so that nobody waits for it.
  private tooLarge(first: Frame, err: SocketDError): void {
    const what = `${flagName(first.flag)} '${first.event}' (sid ${first.sid})`;
    const message = new InboundMessage({ ...first, metaString: removeMeta(first.metaString, MetaKeys.DATA_FRAGMENT_IDX) });
    switch (first.flag) {
      case Flags.Request:
      case Flags.Subscribe:
        this.log.warn(`Socket.D session ${this.session.id}: ${what} refused: ${err.message}`);
        this.answer(() => this.session.alarm(message, err.message));
        return;
      case Flags.Reply:
      case Flags.ReplyEnd:
        if (this.outbound.fail(first.sid, err)) {
          this.log.warn(`Socket.D session ${this.session.id}: ${what} refused, stream failed and cancelled: ${err.message}`);
          this.host.cancel(first.sid, first.event);
        } else {
          this.log.warn(`Socket.D session ${this.session.id}: orphan ${what} dropped: ${err.message}`);
        }
        return;
      default:
        this.log.warn(`Socket.D session ${this.session.id}: ${what} dropped: ${err.message}`);
    }
  }

  // maxInboundStreams Requests are still unanswered here: our handlers' doing, not the peer's.
  // This one is refused alone (an Alarm); one warning per episode.
  private overBudget(message: InboundMessage): void {
    const limit = this.inbound.limit;
    if (!this.saturated) {
      this.saturated = true;
      this.log.warn(`Socket.D session ${this.session.id}: ${this.inbound.size} Requests/Subscribes from the peer are still unanswered by local handlers (maxInboundStreams ${limit}); refusing new ones with an Alarm until some are answered`);
    }
    this.answer(() => this.session.alarm(message, `'${message.event}' refused: ${limit} requests are already unanswered here (maxInboundStreams)`));
  }

  private handlerFailed(message: ReceivedMessage, err: unknown): void {
    logFailure(this.log, `handler of '${message.event}' (session ${this.session.id})`, err);
    if (message.isRequest) this.answer(() => this.session.alarm(message, describeError(err)));
  }

  // An answer the engine sends on its own: if it cannot be encoded, the session closes (1002).
  private answer(send: () => boolean): void {
    try {
      send();
    } catch (err) {
      this.host.answerFailed(err);
    }
  }
}

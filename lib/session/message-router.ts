import { CloseCodes, MetaKeys } from '../protocol/constants.js';
import { isSocketDError, socketDError, type SocketDError } from '../protocol/errors.js';
import { Flags, flagName } from '../protocol/flags.js';
import type { AlarmFrame, Frame, ReplyFrame, RequestFrame } from '../protocol/frame.js';
import { isFragment, type FragmentAggregator } from '../protocol/fragments.js';
import { removeMeta } from '../protocol/metas.js';
import { describeError, logFailure, safeCall } from './callbacks.js';
import type { InboundStreams } from './inbound-streams.js';
import type { OutboundStreams } from './outbound-streams.js';
import { CANCEL_META, InboundMessage } from './received-message.js';
import type { Responder } from './responder.js';
import type { SessionTelemetry } from './telemetry.js';
import type { EngineLogger, ReceivedMessage, Session, SessionListener } from './types.js';

/**
 * Bytes charged per partial fragmented message against `maxPendingFragmentBytes` and the
 * memory budget, on top of the bytes received: roughly what its strings and map entry cost,
 * so that a million tiny partial messages cannot hold hundreds of MB while being charged a few.
 */
export const PARTIAL_MESSAGE_OVERHEAD = 1024;

/**
 * Refusals (streams or messages the limits refused) logged per session: a peer flooding
 * refused work must not flood the log too (each line costs memory until it is written).
 */
const LOGGED_REFUSALS = 10;

/** What the router works with, all below it: it never calls back into the session's internals. */
export interface RouterParts {
  /** Handed to the application's listener with each message. */
  readonly session: Session;
  /** The session's tracing and metrics, if any. */
  readonly telemetry: SessionTelemetry | undefined;
  /** Writes the answers the router sends on its own (Alarms, cancels). */
  readonly responder: Responder;
  /** Reassembles fragmented messages (spec section 8), within the session's limits. */
  readonly fragments: FragmentAggregator;
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
 * An answer of its own that cannot be written throws to the session's frame handling (which
 * closes with 1002), or, after an async handler failed, closes the session itself.
 */
export class MessageRouter {
  private readonly session: Session;
  private readonly telemetry: SessionTelemetry | undefined;
  private readonly responder: Responder;
  private readonly aggregator: FragmentAggregator;
  /** True from the first Request refused at `maxInboundStreams` until one is accepted again. */
  private saturated = false;
  private refusals = 0;

  constructor(
    parts: RouterParts,
    private readonly listener: SessionListener,
    private readonly inbound: InboundStreams,
    private readonly outbound: OutboundStreams,
    private readonly log: EngineLogger,
  ) {
    this.session = parts.session;
    this.telemetry = parts.telemetry;
    this.responder = parts.responder;
    this.aggregator = parts.fragments;
  }

  onAlarm(frame: AlarmFrame): void {
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

  onRequest(frame: RequestFrame): void {
    const whole = this.reassemble(frame);
    if (whole === undefined) return;
    const message = new InboundMessage(whole);
    if (whole.flag !== Flags.Message) {
      const refused = this.inbound.tryAdd(message);
      if (refused === 'count') {
        this.overBudget(message);
        return;
      }
      if (refused === 'memory') {
        // No room in the server's memory budget for one more stream: refused before the handler runs.
        const why = `${flagName(whole.flag)} '${whole.event}' refused: no room in ${this.inbound.refusal()}`;
        this.logRefusal(why);
        this.responder.alarm(message, why);
        return;
      }
      this.saturated = false;
    }
    if (this.listener.onMessage) {
      let result: unknown;
      const telemetry = this.telemetry;
      try {
        result = telemetry === undefined ? this.listener.onMessage(this.session, message)
          : telemetry.serve(message, () => this.listener.onMessage!(this.session, message));
      } catch (err) {
        this.handlerFailed(message, err);
        return;
      }
      // An async handler's rejection must not become an unhandled rejection (which ends the
      // process): log it and fail the requester's stream.
      if (result instanceof Promise) result.catch((err: unknown) => this.asyncHandlerFailed(message, err));
    } else if (message.isRequest) {
      this.responder.alarm(message, `no handler for '${message.event}'`);
    }
  }

  onReply(frame: ReplyFrame): void {
    const whole = this.reassemble(frame);
    if (whole === undefined) return;
    const message = new InboundMessage(whole);
    if (!this.outbound.reply(message)) {
      safeCall(this.log, 'onOrphanReply listener', () => this.listener.onOrphanReply?.(this.session, message));
    }
  }

  // A partial message holds memory as a stream does: its first fragment needs room under
  // maxInboundStreams, checked before anything is kept.
  private reassemble<T extends RequestFrame | ReplyFrame>(frame: T): T | undefined {
    if (!isFragment(frame)) return frame;
    if (this.aggregator.startsMessage(frame)) this.inbound.checkRoom();
    try {
      // The whole message keeps the flag of its fragments.
      return this.aggregator.add(frame) as T | undefined;
    } catch (err) {
      if (!isSocketDError(err, 'MESSAGE_TOO_LARGE')) throw err;
      this.tooLarge(frame, err);
      return undefined;
    }
  }

  // The aggregator skips the rest of the message; answer it so that nobody waits for it.
  // Refused at a later fragment, the first's flag and event are in the details.
  private tooLarge(frame: Frame, err: SocketDError): void {
    const details = err.details as { flag?: Frame['flag']; event?: string } | undefined;
    const first = { ...frame, flag: details?.flag ?? frame.flag, event: details?.event ?? frame.event };
    const what = `${flagName(first.flag)} '${first.event}' (sid ${first.sid})`;
    this.telemetry?.limitHit(err.code);
    const message = new InboundMessage({ ...first, metaString: removeMeta(first.metaString, MetaKeys.DATA_FRAGMENT_IDX) });
    switch (first.flag) {
      case Flags.Request:
      case Flags.Subscribe:
        this.logRefusal(`${what} refused: ${err.message}`);
        this.responder.alarm(message, err.message);
        return;
      case Flags.Reply:
      case Flags.ReplyEnd:
        if (this.outbound.fail(first.sid, err)) {
          this.logRefusal(`${what} refused, stream failed and cancelled: ${err.message}`);
          this.responder.cancel(first.sid, first.event);
        } else {
          this.logRefusal(`orphan ${what} dropped: ${err.message}`);
        }
        return;
      default:
        this.logRefusal(`${what} dropped: ${err.message}`);
    }
  }

  // maxInboundStreams Requests are still unanswered here: our handlers' doing, not the peer's.
  // This one is refused alone (an Alarm); one warning per episode.
  private overBudget(message: InboundMessage): void {
    const limit = this.inbound.limit;
    this.telemetry?.limitHit('SOCKETD_ERR_TOO_MANY_STREAMS');
    if (!this.saturated) {
      this.saturated = true;
      this.log.warn(`Socket.D session ${this.session.id}: ${this.inbound.size} Requests/Subscribes from the peer are still unanswered by local handlers (maxInboundStreams ${limit}); refusing new ones with an Alarm until some are answered`);
    }
    this.responder.alarm(message, `'${message.event}' refused: ${limit} requests are already unanswered here (maxInboundStreams)`);
  }

  // The first LOGGED_REFUSALS refusals of the session are logged, then one line saying so.
  private logRefusal(text: string): void {
    const n = ++this.refusals;
    if (n > LOGGED_REFUSALS) return;
    const more = n === LOGGED_REFUSALS ? ` (further refusals on this session are not logged)` : '';
    this.log.warn(`Socket.D session ${this.session.id}: ${text}${more}`);
  }

  private handlerFailed(message: ReceivedMessage, err: unknown): void {
    logFailure(this.log, `handler of '${message.event}' (session ${this.session.id})`, err);
    if (message.isRequest) this.responder.alarm(message, describeError(err));
  }

  // Outside the frame's handling: an Alarm that cannot be written closes the session here
  // (1002), since the requester must not wait for a lost answer.
  private asyncHandlerFailed(message: ReceivedMessage, err: unknown): void {
    try {
      this.handlerFailed(message, err);
    } catch (answerErr) {
      logFailure(this.log, `session ${this.session.id}: answering`, answerErr);
      this.session.close(CloseCodes.ILLEGAL);
    }
  }
}

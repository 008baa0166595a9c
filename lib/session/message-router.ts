import { MetaKeys } from '../protocol/constants.js';
import { socketDError } from '../protocol/errors.js';
import { Flags } from '../protocol/flags.js';
import type { Frame } from '../protocol/frame.js';
import { FragmentAggregator, isFragment } from '../protocol/fragments.js';
import type { InboundStreams } from './inbound-streams.js';
import type { OutboundStreams } from './outbound-streams.js';
import { InboundMessage } from './received-message.js';
import type { EngineLogger, ReceivedMessage, Session, SessionListener } from './types.js';

/**
 * Routes the message frames of an open session (spec section 7): Message, Request and
 * Subscribe to the application's `onMessage`; Reply and ReplyEnd to the outgoing stream that
 * waits on their sid; Alarms to the stream they fail or cancel. Fragments are reassembled
 * first (spec section 8).
 */
export class MessageRouter {
  constructor(
    private readonly session: Session,
    private readonly listener: SessionListener,
    private readonly aggregator: FragmentAggregator,
    private readonly inbound: InboundStreams,
    private readonly outbound: OutboundStreams,
    private readonly log: EngineLogger | undefined,
  ) {}

  onAlarm(frame: Frame): void {
    const message = new InboundMessage(frame);
    if (frame.flag === Flags.Alarm && frame.sid.length > 0) {
      // The requester gave up on a stream we are answering (our cancel, or any upstream alarm).
      const answering = this.inbound.take(frame.sid);
      if (answering !== undefined) {
        answering.cancel();
        return;
      }
      const alarmCode = parseInt(message.meta(MetaKeys.CODE) ?? '', 10) || 0;
      const err = socketDError('ALARM', message.dataAsString(), { alarm: message, alarmCode });
      if (this.outbound.fail(frame.sid, err)) return;
    }
    this.listener.onAlarm?.(this.session, message);
  }

  onRequest(frame: Frame): void {
    const whole = isFragment(frame) ? this.aggregator.add(frame) : frame;
    if (whole === undefined) return;
    const message = new InboundMessage(whole);
    if (whole.flag !== Flags.Message) this.inbound.add(message);
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
      this.session.alarm(message, `no handler for '${message.event}'`);
    }
  }

  onReply(frame: Frame): void {
    const whole = isFragment(frame) ? this.aggregator.add(frame) : frame;
    if (whole === undefined) return;
    const message = new InboundMessage(whole);
    if (!this.outbound.reply(message)) this.listener.onOrphanReply?.(this.session, message);
  }

  private handlerFailed(message: ReceivedMessage, err: unknown): void {
    this.log?.error(`Socket.D session ${this.session.id}: handler of '${message.event}' failed: ${(err as Error)?.message ?? err}`, (err as Error)?.stack);
    if (message.isRequest) this.session.alarm(message, (err as Error)?.message ?? String(err));
  }
}

import { Flags, flagName, type Flag } from '../protocol/flags.js';
import type { FrameWriter } from './frame-writer.js';
import { metaStringOf, payloadBytes, toPayload } from './frame-writer.js';
import type { InboundStreams } from './inbound-streams.js';
import { alarmMetaString, CANCEL_META, type InboundMessage } from './received-message.js';
import type { SessionTelemetry } from './telemetry.js';
import type { EngineLogger, Metas, Payload, ReceivedMessage } from './types.js';

const CANCEL_TEXT = Buffer.from('stream cancelled by the requester');

/**
 * The answers of a session: Reply, ReplyEnd and Alarm to a received Request or Subscribe (an
 * answer that ends the stream closes it in the inbound table first), and the cancel Alarm to a
 * stream we gave up on. Shared by the session's public API and the message router, so that a
 * received frame's refusal goes down to the writer, never back up into the session.
 */
export class Responder {
  constructor(
    private readonly writer: FrameWriter,
    private readonly inbound: InboundStreams,
    private readonly log: EngineLogger,
    private readonly tel: SessionTelemetry | undefined,
    /** The session's id, for the log. */
    private readonly sessionId: string,
    /** Whether the session is closed: nothing is written then. */
    private readonly isClosed: () => boolean,
  ) {}

  reply(to: ReceivedMessage, data?: Payload, metas?: Metas | string): boolean {
    return this.answer(to, Flags.Reply, toPayload(data), metaStringOf(metas));
  }

  replyEnd(to: ReceivedMessage, data?: Payload, metas?: Metas | string): boolean {
    return this.answer(to, Flags.ReplyEnd, toPayload(data), metaStringOf(metas));
  }

  alarm(to: ReceivedMessage, text: string, metas?: Metas | string): boolean {
    return this.answer(to, Flags.Alarm, Buffer.from(text), alarmMetaString(to, metaStringOf(metas)));
  }

  /** Tells the responder of stream `sid` that we gave up on it (our cancel Alarm). */
  cancel(sid: string, event: string): void {
    if (this.isClosed()) return;
    this.writer.write(Flags.Alarm, sid, event, `${CANCEL_META}=1`, CANCEL_TEXT);
  }

  private answer(to: ReceivedMessage, flag: Flag, data: Buffer | string, metaString: string): boolean {
    if (to.isDone || this.isClosed()) {
      this.log.debug?.(`Socket.D session ${this.sessionId}: ${flagName(flag)} to '${to.event}' (sid ${to.sid}) dropped: the stream has ended`);
      return false;
    }
    const dataBytes = payloadBytes(data);
    this.writer.checkSize(to.event, dataBytes, to.sid, metaString); // before the stream ends: its Alarm can follow
    const ends = flag !== Flags.Reply || to.flag === Flags.Request;
    if (ends && to.isRequest) this.inbound.finish(to as InboundMessage);
    if (this.tel !== undefined) this.tel.answered(to, flag, dataBytes, metaString, flag === Flags.Alarm ? data.toString() : undefined);
    return this.writer.writeChecked(flag, to.sid, to.event, metaString, data, dataBytes);
  }
}

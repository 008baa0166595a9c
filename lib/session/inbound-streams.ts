import { socketDError } from '../protocol/errors.js';
import type { InboundMessage } from './received-message.js';
import type { EngineLogger } from './types.js';

/**
 * Requests and Subscribes the peer started and this side has not answered to the end, keyed
 * by sid. The count is capped together with the messages the peer has started to send in
 * fragments (each holds memory as a stream does). A fragmented message started past the cap
 * is the peer's doing (a protocol violation); a Request or Subscribe past it is refused alone
 * (see {@link tryAdd}): streams stay open because *our* handlers have not answered them, which
 * is no fault of the peer's.
 */
export class InboundStreams {
  private readonly open = new Map<string, InboundMessage>();

  constructor(
    private readonly max: number,
    private readonly log: EngineLogger,
    /** Messages being reassembled from fragments (or skipped) right now. */
    private readonly partials: () => number,
  ) {}

  get size(): number {
    return this.open.size;
  }

  /**
   * Checks that the peer may start one more stream or fragmented message.
   * @throws SocketDError `SOCKETD_ERR_TOO_MANY_STREAMS` (closes with 1002) at the cap.
   */
  checkRoom(): void {
    const partials = this.partials();
    if (this.open.size + partials >= this.max) {
      throw socketDError('TOO_MANY_STREAMS', `peer opened more than ${this.max} unanswered streams (${this.open.size}) and partially sent messages (${partials}) (maxInboundStreams)`);
    }
  }

  /** Keeps a new Request/Subscribe; false (nothing kept) when the cap is reached. */
  tryAdd(message: InboundMessage): boolean {
    if (this.open.size + this.partials() >= this.max) return false;
    this.open.set(message.sid, message);
    return true;
  }

  /** The cap (`maxInboundStreams`). */
  get limit(): number {
    return this.max;
  }

  /** The open stream on `sid`, if any. */
  get(sid: string): InboundMessage | undefined {
    return this.open.get(sid);
  }

  /** Removes and returns the stream on `sid` (the requester cancelled it), if any. */
  take(sid: string): InboundMessage | undefined {
    const message = this.open.get(sid);
    if (message !== undefined) this.open.delete(sid);
    return message;
  }

  /** The stream was answered to the end. */
  finish(message: InboundMessage): void {
    if (this.open.get(message.sid) === message) this.open.delete(message.sid);
    message.finish();
  }

  /** Cancels one stream the requester gave up on; false when none is open on `sid`. */
  cancel(sid: string): boolean {
    const message = this.take(sid);
    if (message === undefined) return false;
    message.cancel(this.log);
    return true;
  }

  /** Cancels every open stream (the session closed); their cancel hooks run. */
  cancelAll(): void {
    if (this.open.size === 0) return;
    const answering = [...this.open.values()];
    this.open.clear();
    for (const message of answering) message.cancel(this.log);
  }
}

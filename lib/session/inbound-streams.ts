import { socketDError } from '../protocol/errors.js';
import type { InboundMessage } from './received-message.js';

/**
 * Requests and Subscribes the peer started and this side has not answered to the end, keyed
 * by sid. The count is capped: a peer that opens more is a protocol violation.
 */
export class InboundStreams {
  private readonly open = new Map<string, InboundMessage>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.open.size;
  }

  /** @throws SocketDError `SOCKETD_ERR_TOO_MANY_STREAMS` (closes with 1002) past the cap. */
  add(message: InboundMessage): void {
    if (this.open.size >= this.max) {
      throw socketDError('TOO_MANY_STREAMS', `peer opened more than ${this.max} unanswered streams`);
    }
    this.open.set(message.sid, message);
  }

  /** Removes and returns the stream on `sid` (the requester cancelled it), if any. */
  take(sid: string): InboundMessage | undefined {
    const message = this.open.get(sid);
    if (message !== undefined) this.open.delete(sid);
    return message;
  }

  /** The stream was answered to the end. */
  finish(message: InboundMessage): void {
    this.open.delete(message.sid);
    message.finish();
  }

  /** Cancels every open stream (the session closed); their cancel hooks run. */
  cancelAll(): void {
    if (this.open.size === 0) return;
    const answering = [...this.open.values()];
    this.open.clear();
    for (const message of answering) message.cancel();
  }
}

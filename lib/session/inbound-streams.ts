import { socketDError } from '../protocol/errors.js';
import type { InboundMessage } from './received-message.js';
import type { EngineLogger } from './types.js';
import type { ConnectionMemory } from './connection.js';

/**
 * Bytes charged per open inbound stream (a Request or Subscribe not yet answered to the end):
 * what its bookkeeping costs in the engine and in a Nest handler's subscription, measured at
 * about 1.5-1.9 KB. 100k open streams then cost what the budget allows, not 190 MB.
 */
export const STREAM_OVERHEAD = 2048;
/**
 * Room streams leave free in the connection's own share of the budget: a write burst up to the
 * default high-water mark, such as the Alarms refusing further streams (a share filled by
 * streams alone would drop the connection at its first Alarm instead).
 */
export const STREAM_ANSWER_ROOM = 1024 * 1024;

/**
 * Requests and Subscribes the peer started and this side has not answered to the end, keyed
 * by sid. The count is capped together with the messages the peer has started to send in
 * fragments (each holds memory as a stream does). A fragmented message started past the cap
 * is the peer's doing (a protocol violation); a Request or Subscribe past it is refused alone
 * (see {@link tryAdd}): streams stay open because *our* handlers have not answered them, which
 * is no fault of the peer's. Each open stream is also charged `STREAM_OVERHEAD` bytes in the
 * server's memory budget, so that many open streams cost what the budget allows.
 */
export class InboundStreams {
  // Created on first use: a client session rarely answers anything.
  private openMap: Map<string, InboundMessage> | undefined;

  constructor(
    private readonly max: number,
    private readonly log: EngineLogger,
    /** The session's fragment aggregator: its messages being reassembled (or skipped) count too. */
    private readonly fragments: { readonly partials: number },
    /** The connection's account in the server's memory budget (servers only). */
    private readonly memory?: ConnectionMemory,
  ) {}

  get size(): number {
    return this.openMap?.size ?? 0;
  }

  private get open(): Map<string, InboundMessage> {
    return this.openMap ??= new Map();
  }

  /**
   * Checks that the peer may start one more stream or fragmented message.
   * @throws SocketDError `SOCKETD_ERR_TOO_MANY_STREAMS` (closes with 1002) at the cap.
   */
  checkRoom(): void {
    const partials = this.fragments.partials;
    if (this.size + partials >= this.max) {
      throw socketDError('TOO_MANY_STREAMS', `peer opened more than ${this.max} unanswered streams (${this.size}) and partially sent messages (${partials}) (maxInboundStreams)`);
    }
  }

  /**
   * Keeps a new Request/Subscribe; what refused it otherwise (nothing kept, the caller answers
   * with an Alarm): `'count'` at `maxInboundStreams`, `'memory'` when the memory budget has no
   * room for one more stream.
   */
  tryAdd(message: InboundMessage): 'count' | 'memory' | undefined {
    if (this.size + this.fragments.partials >= this.max) return 'count';
    const memory = this.memory;
    if (memory !== undefined && (memory.shareLeft() < STREAM_OVERHEAD + STREAM_ANSWER_ROOM || !memory.take(STREAM_OVERHEAD))) return 'memory';
    const replaced = this.open.get(message.sid);
    this.open.set(message.sid, message);
    if (replaced !== undefined) memory?.give(STREAM_OVERHEAD);
    return undefined;
  }

  /** The cap (`maxInboundStreams`). */
  get limit(): number {
    return this.max;
  }

  /** The open stream on `sid`, if any. */
  get(sid: string): InboundMessage | undefined {
    return this.open.get(sid);
  }

  /** Names what refuses one more stream for lack of memory, for the Alarm. */
  refusal(): string {
    const memory = this.memory;
    if (memory === undefined) return '';
    return memory.describeRefusal(memory.shareLeft() < STREAM_OVERHEAD + STREAM_ANSWER_ROOM ? STREAM_OVERHEAD + STREAM_ANSWER_ROOM : STREAM_OVERHEAD);
  }

  /** Removes and returns the stream on `sid` (the requester cancelled it), if any. */
  take(sid: string): InboundMessage | undefined {
    const message = this.open.get(sid);
    if (message !== undefined) this.remove(sid);
    return message;
  }

  /** The stream was answered to the end. */
  finish(message: InboundMessage): void {
    if (this.open.get(message.sid) === message) this.remove(message.sid);
    message.finish();
  }

  private remove(sid: string): void {
    this.open.delete(sid);
    this.memory?.give(STREAM_OVERHEAD);
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
    if (this.size === 0) return;
    const answering = [...this.open.values()];
    this.memory?.give(STREAM_OVERHEAD * this.open.size);
    this.open.clear();
    for (const message of answering) message.cancel(this.log);
  }
}

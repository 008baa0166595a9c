import type { Session } from '../session/types.js';

/** Which bound refused a forward. */
export type QueueLimit = 'maxTargetBufferedBytes' | 'maxBufferedBytes' | 'memoryBudget';

/**
 * The bytes a broker queues toward its sessions, bounded per target and in total, so a player
 * that does not read costs only its own forwards (they fail with an Alarm `code=503`) and
 * never the sender, whose connection keeps flowing. The queue of a target is its transport's
 * write buffer (`bufferedAmount`); what is charged here is that buffer as last seen after a
 * write, an upper bound until re-read (buffers only shrink between the broker's writes).
 *
 * - A target whose queue is at most `highWaterMark` reads: it takes any one forward.
 * - A target over it ("congested") takes one while its queue stays within `perTarget` and the
 *   broker's total within half of `max`: players that do not read hold little more than that
 *   half, the other half stays for the fan-outs and the players that read.
 * - A fan-out's copies together must fit within `max`.
 */
export class ForwardQueues {
  private readonly charged = new Map<Session, number>();
  private total = 0;

  constructor(
    /** Bytes queued toward one target above which a forward to it is refused. */
    private readonly perTarget: number,
    /** Bytes queued toward all targets above which a fan-out is refused (half of it: a forward to a congested target). */
    private readonly max: number,
    /** At most this much queued, a target counts as reading. */
    private readonly highWaterMark: number,
  ) {}

  /** Undefined when one more forward of `bytes` toward `to` fits, else the bound it would pass. */
  refusal(to: Session, bytes: number): QueueLimit | undefined {
    // What is forwarded queues on the target's connection, charged to the server's memory budget.
    if (to.memory !== undefined && !to.memory.fits(bytes)) return 'memoryBudget';
    const queued = to.bufferedAmount;
    if (queued <= this.highWaterMark) return undefined;
    if (queued + bytes > this.perTarget) return 'maxTargetBufferedBytes';
    return this.fits(bytes, this.max / 2) ? undefined : 'maxBufferedBytes';
  }

  /**
   * Whether `copies` forwards of `bytes` each (a fan-out) fit within `max` together. When the
   * estimate says no, every charged queue is re-read first: only a real excess refuses.
   */
  fitsFanOut(bytes: number, copies: number): boolean {
    return this.fits(bytes * copies, this.max);
  }

  /** Bytes queued toward all targets (re-read). */
  queuedBytes(): number {
    this.refreshAll();
    return this.total;
  }

  /** After a write toward `to`: charges its queue as it is now. */
  charge(to: Session): void {
    const now = to.bufferedAmount;
    const before = this.charged.get(to) ?? 0;
    this.total += now - before;
    if (now > 0) this.charged.set(to, now);
    else this.charged.delete(to);
  }

  /** `session` closed: its queue is gone. */
  forget(session: Session): void {
    const before = this.charged.get(session);
    if (before === undefined) return;
    this.total -= before;
    this.charged.delete(session);
  }

  private fits(more: number, limit: number): boolean {
    if (this.total + more <= limit) return true;
    this.refreshAll();
    return this.total + more <= limit;
  }

  private refreshAll(): void {
    let total = 0;
    for (const [session, before] of this.charged) {
      const now = session.isOpen || session.state === 'closing' ? session.bufferedAmount : 0;
      if (now === 0) this.charged.delete(session);
      else if (now !== before) this.charged.set(session, now);
      total += now;
    }
    this.total = total;
  }
}

/** Bytes one forwarded frame queues: its data and fields, plus the frame's fixed overhead. */
export function forwardBytes(event: string, metaString: string, data: Buffer): number {
  return data.length + event.length + metaString.length + 64;
}

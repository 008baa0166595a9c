import type { Session } from '../session/types.js';

/**
 * The bytes a broker queues toward its sessions, bounded per target and in total, so a player
 * that does not read costs only its own forwards (they fail with an Alarm `code=503`) and
 * never the sender, whose connection keeps flowing. The queue of a target is its transport's
 * write buffer (`bufferedAmount`); what is charged here is that buffer as last seen after a
 * write, an upper bound until re-read (buffers only shrink between the broker's writes).
 */
export class ForwardQueues {
  private readonly charged = new Map<Session, number>();
  private total = 0;

  constructor(
    /** Bytes queued toward one target above which a forward to it is refused. */
    private readonly perTarget: number,
    /** Bytes queued toward all targets above which a forward is refused. */
    private readonly max: number,
    /** Below this a queue (or the total) counts as flowing: one big message may go through. */
    private readonly highWaterMark: number,
  ) {}

  /** Whether one more forward of `bytes` toward `to` fits its own queue. */
  fitsTarget(to: Session, bytes: number): boolean {
    const queued = to.bufferedAmount;
    return queued <= this.highWaterMark || queued + bytes <= this.perTarget;
  }

  /**
   * Whether `copies` forwards of `bytes` each fit under `max` (a fan-out counts every copy).
   * When the estimate says no, every charged queue is re-read first: only a real excess
   * refuses. A single forward through a broker with (nearly) nothing queued always fits.
   */
  fitsTotal(bytes: number, copies: number): boolean {
    const more = bytes * copies;
    if (this.total + more <= this.max || (copies === 1 && this.total <= this.highWaterMark)) return true;
    this.refreshAll();
    return this.total + more <= this.max || (copies === 1 && this.total <= this.highWaterMark);
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

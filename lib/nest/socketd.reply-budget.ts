import type { Session } from '../session/types.js';

/**
 * Stream values queued for clients that do not keep up, counted per session and for the
 * whole strategy: a stream's own cap (`maxQueuedReplies`) does not stop one client from
 * opening hundreds of streams, each queueing up to that cap. A stream that cannot take a slot
 * fails with an Alarm; the others go on.
 */
export class ReplyBudget {
  private readonly bySession = new WeakMap<Session, number>();
  /** Sessions a stream overflowed on: nothing more is queued for them until they drain. */
  private readonly stalled = new WeakSet<Session>();
  private total = 0;

  constructor(
    /** Values queued across all streams of one session. */
    readonly perSession: number,
    /** Values queued across all sessions. */
    readonly perServer: number,
  ) {}

  /** Values queued now, across all sessions. */
  get queued(): number {
    return this.total;
  }

  /** Takes one slot for a value queued on `session`; false when either budget is spent. */
  take(session: Session): boolean {
    if (this.stalled.has(session)) return false;
    const mine = this.bySession.get(session) ?? 0;
    if (mine >= this.perSession || this.total >= this.perServer) return false;
    this.bySession.set(session, mine + 1);
    this.total++;
    return true;
  }

  /**
   * A stream of `session` overflowed: its client does not read. Until the session drains,
   * every other stream of it fails at its first queued value, rather than each one filling
   * what the overflowing stream gave back (a synchronous producer cannot be paused, so that
   * would cost a full budget's worth of values per stream).
   */
  markStalled(session: Session): void {
    if (this.stalled.has(session)) return;
    this.stalled.add(session);
    const clear = (): void => { this.stalled.delete(session); };
    session.drain().then(clear, clear);
  }

  /** Gives back `count` slots of `session` (values sent or dropped). */
  release(session: Session, count: number): void {
    if (count <= 0) return;
    const mine = this.bySession.get(session) ?? 0;
    this.bySession.set(session, Math.max(0, mine - count));
    this.total = Math.max(0, this.total - count);
  }
}

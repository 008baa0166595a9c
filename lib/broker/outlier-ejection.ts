/** Why a player is out of the rotation (see {@link PlayerHealth}). */
export type EjectionReason = 'not-answering' | 'not-reading';

/** Outlier-ejection settings of a broker (`BrokerOptions.ejectAfter` / `ejectionTime`). */
export interface EjectionSettings {
  /** Milliseconds a player may hold forwards without answering any before it is ejected; 0 disables. */
  readonly ejectAfter: number;
  /** Base milliseconds of an ejection; the n-th in a row lasts n times as long (at most 10). */
  readonly ejectionTime: number;
  /** Bytes queued toward a player above which it counts as not reading. */
  readonly highWaterMark: number;
}

/** Ejections in a row past which an ejection grows no longer (as Envoy's max ejection time). */
const MAX_EJECTION_FACTOR = 10;

/**
 * The answering health of one player, for outlier ejection (as Envoy's): round-robin and hash
 * routing skip a player that
 * - holds forwarded Requests/Subscribes and has answered none of them (no Reply, ReplyEnd or
 *   Alarm) for `ejectAfter` ms: ejected for `ejectionTime` (longer when it happens again in a
 *   row); it is back at its next answer, or once the time is over, on probation: one forward
 *   (the probe) goes to it, and until that one is answered it gets no other;
 * - has more than `highWaterMark` bytes queued toward it (it does not read): skipped while so.
 * Everything is judged when a route is picked (no timers). Fan-out (`name*`, `*`) skips nobody.
 */
export class PlayerHealth {
  /** Forwards sent to it that have had no answer yet. */
  private waiting = 0;
  /** Since when it has held forwards without answering any. */
  private quietSince = 0;
  private ejectedUntil = 0;
  private ejections = 0;
  private probing = false;

  constructor(private readonly settings: EjectionSettings) {}

  /** A forward went to it. */
  sent(now: number): void {
    if (this.waiting++ === 0) this.quietSince = now;
  }

  /** It answered a forward (its first Reply, ReplyEnd or Alarm): healthy again. */
  answered(now: number): void {
    if (this.waiting > 0) this.waiting--;
    this.quietSince = now;
    this.ejections = 0;
    this.ejectedUntil = 0;
    this.probing = false;
  }

  /** A forward ended unanswered (the caller cancelled it, it timed out, the player left). */
  unanswered(now: number): void {
    if (this.waiting > 0) this.waiting--;
    if (this.probing) this.eject(now);
  }

  /** Forwards waiting for its first answer. */
  get pending(): number {
    return this.waiting;
  }

  /** Why it is out of the rotation at `now`, or undefined when it may be picked. */
  ejection(now: number, bufferedAmount: number): EjectionReason | undefined {
    const { ejectAfter } = this.settings;
    if (ejectAfter > 0) {
      if (this.ejectedUntil > now || this.probing) return 'not-answering';
      if (this.waiting > 0 && now - this.quietSince > ejectAfter) {
        this.eject(now);
        return 'not-answering';
      }
    }
    if (bufferedAmount > this.settings.highWaterMark) return 'not-reading';
    return undefined;
  }

  /** `ejection()` found it pickable and it was picked: after an ejection, that is the probe. */
  picked(): void {
    if (this.ejections > 0 && this.ejectedUntil !== 0) {
      this.ejectedUntil = 0;
      this.probing = true;
    }
  }

  /** Why it is out of the rotation at `now`, as {@link ejection} would say, without ejecting it. */
  reasonAt(now: number, bufferedAmount: number): EjectionReason | undefined {
    const { ejectAfter } = this.settings;
    if (ejectAfter > 0 && (this.ejectedUntil > now || this.probing || (this.waiting > 0 && now - this.quietSince > ejectAfter))) return 'not-answering';
    return bufferedAmount > this.settings.highWaterMark ? 'not-reading' : undefined;
  }

  private eject(now: number): void {
    this.probing = false;
    this.ejections = Math.min(this.ejections + 1, MAX_EJECTION_FACTOR);
    this.ejectedUntil = now + this.settings.ejectionTime * this.ejections;
  }
}

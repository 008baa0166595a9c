import type { Frame } from '../protocol/frame.js';
import type { Connection } from './connection.js';

/**
 * Frames received while a session does not want to handle them yet: during an async
 * handshake hook (the client should wait for its Connack anyway), or while a server's peer
 * does not read the answers already written (no point producing more). Reading is paused
 * meanwhile, so the socket stops at its next chunk: this holds at most one chunk's frames
 * (and the session caps how many may arrive before a Connack).
 *
 * Only bookkeeping: it never calls back. Whoever ends the last hold (`drained()` or
 * `outsideSettled()` returning true, or the handshake accepted) takes the frames with
 * `take()` and handles them itself.
 */
export class FrameHold {
  private held: Frame[] | undefined;
  private waitingForDrain = false;
  private outsideHolds = 0;

  constructor(private readonly connection: Connection) {}

  /** True while frames are held. */
  get holding(): boolean {
    return this.held !== undefined;
  }

  /** Frames held now. */
  get count(): number {
    return this.held?.length ?? 0;
  }

  /** Keeps one frame for later; only while `holding`. */
  push(frame: Frame): void {
    this.held!.push(frame);
  }

  /** Holds from now on and pauses reading, until the frames are taken. */
  hold(): void {
    this.held ??= [];
    this.connection.pause();
  }

  /** Holds until the connection drains (its peer reads again); a no-op when already waiting. */
  holdUntilDrain(): void {
    if (this.waitingForDrain) return;
    this.waitingForDrain = true;
    this.hold();
  }

  /** The connection drained: true when that ended the last hold (the held frames may go). */
  drained(): boolean {
    if (!this.waitingForDrain) return false;
    this.waitingForDrain = false;
    return this.outsideHolds === 0;
  }

  /**
   * Holds for a reason outside this connection (a broker whose target of these frames is not
   * reading) until `outsideSettled()`; such holds nest.
   */
  holdOutside(): void {
    this.outsideHolds++;
    this.hold();
  }

  /** One outside hold ended: true when that was the last hold (the held frames may go). */
  outsideSettled(): boolean {
    this.outsideHolds--;
    return this.outsideHolds === 0 && !this.waitingForDrain;
  }

  /** Stops holding and hands over what was held; undefined when nothing held. */
  take(): Frame[] | undefined {
    const held = this.held;
    this.held = undefined;
    return held;
  }

  /** Holding again while taken frames were handled: `rest` goes first, before anything held since. */
  keep(rest: Frame[]): void {
    this.held = this.held === undefined ? rest : rest.concat(this.held);
  }

  /** Reading goes on (every taken frame was handled and nothing holds). */
  resume(): void {
    this.connection.resume();
  }

  /** Drops what is held (the session closes or refuses its peer). */
  clear(): void {
    this.held = undefined;
  }
}

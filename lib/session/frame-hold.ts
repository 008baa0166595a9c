import type { Frame } from '../protocol/frame.js';
import type { Connection } from './connection.js';

/**
 * Frames received while a session does not want to handle them yet: during an async
 * handshake hook (the client should wait for its Connack anyway), or while a server's peer
 * does not read the answers already written (no point producing more). Reading is paused
 * meanwhile, so the socket stops at its next chunk: this holds at most one chunk's frames
 * (and the session caps how many may arrive before a Connack).
 */
export class FrameHold {
  private held: Frame[] | undefined;
  private waitingForDrain = false;
  private outsideHolds = 0;

  constructor(
    private readonly connection: Connection,
    /** Handles one released frame (it may start holding again). */
    private readonly deliver: (frame: Frame) => void,
    /** Whether the session is closed: nothing is released then. */
    private readonly isClosed: () => boolean,
  ) {}

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

  /** Holds from now on and pauses reading, until `release()`. */
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

  /** The connection drained: release what was held for it (unless an outside hold remains). */
  drained(): void {
    if (!this.waitingForDrain) return;
    this.waitingForDrain = false;
    if (this.outsideHolds === 0) this.release();
  }

  /**
   * Holds until `until` settles, for a reason outside this connection (a broker whose
   * target of these frames is not reading); holds nest, the last one to settle releases.
   */
  holdUntil(until: Promise<unknown>): void {
    this.outsideHolds++;
    this.hold();
    const done = (): void => {
      this.outsideHolds--;
      if (this.outsideHolds === 0 && !this.waitingForDrain) this.release();
    };
    until.then(done, done);
  }

  /** Delivers held frames in order and resumes reading, unless a delivery starts holding again. */
  release(): void {
    const held = this.held;
    if (held === undefined) return;
    this.held = undefined;
    for (let i = 0; i < held.length; i++) {
      if (this.held !== undefined) {
        // Holding again: what is left goes first, before anything that arrives later.
        this.held = held.slice(i).concat(this.held);
        return;
      }
      if (this.isClosed()) return;
      this.deliver(held[i]!);
    }
    if (this.held === undefined && !this.isClosed()) this.connection.resume();
  }

  /** Drops what is held (the session closes or refuses its peer). */
  clear(): void {
    this.held = undefined;
  }
}

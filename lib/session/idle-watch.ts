/**
 * Read-idle detection (spec section 6.4): fires `onIdle` once nothing was read for at least
 * `idleTimeout` ms. Frames only set a flag (cheaper than reading a clock per frame); a timer
 * checks four times per `idleTimeout`, and four silent checks in a row mean at least
 * `idleTimeout` of silence (at most 1.25x).
 */
export class IdleWatch {
  /** Set by the session for every received frame. */
  read = true;
  private silentChecks = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(idleTimeout: number, private readonly onIdle: () => void) {
    this.timer = setInterval(() => this.check(), Math.max(1, Math.floor(idleTimeout / 4)));
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private check(): void {
    if (this.read) {
      this.read = false;
      this.silentChecks = 0;
      return;
    }
    if (++this.silentChecks < 4) return;
    this.stop();
    this.onIdle();
  }
}

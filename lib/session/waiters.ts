/** Callers waiting for one thing to happen (a connection draining), all released together. */
export class Waiters {
  private waiting: (() => void)[] = [];

  /** Resolves at the next `release()`. */
  wait(): Promise<void> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    if (this.waiting.length === 0) return;
    const waiting = this.waiting;
    this.waiting = [];
    for (const resolve of waiting) resolve();
  }
}

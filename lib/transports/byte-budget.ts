/**
 * A count of bytes shared by the connections of one server: each takes what its partial
 * frame holds and gives it back when the frame completes or the connection closes, so the
 * server as a whole never buffers more than `limit` bytes of unfinished frames.
 */
export class ByteBudget {
  /** Bytes taken now. */
  used = 0;

  constructor(readonly limit: number) {}

  /** Takes `n` more bytes; false, taking nothing, when that would pass the limit. */
  take(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }

  /** Gives back `n` bytes taken before. */
  give(n: number): void {
    this.used -= n;
  }
}

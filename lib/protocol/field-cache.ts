/**
 * The last sid, event and metaString a connection's decoder produced, with their bytes. The
 * frames of one stream repeat them: comparing the bytes with the previous field's spares
 * scanning for the terminator, decoding (a call into C++) and a new string per field per
 * frame. Equal bytes followed by `00 0A` are exactly the previous field (its bytes held no
 * terminator), so the result is what a full decode gives, whatever the encoding.
 */
export class FieldCache {
  readonly sid = new CachedField();
  readonly event = new CachedField();
  readonly metaString = new CachedField();
}

/** Fields up to this many bytes are copied by a JS loop: cheaper than a call into C++. */
const SMALL_COPY = 64;
/**
 * Frames a field is not cached for after it changed twice in a row (the sids of Messages and
 * Requests, new on every frame): the copy and the failed comparison then cost nothing.
 */
const REST_FRAMES = 16;

/** Shared by every field until it first caches bytes: an idle connection holds no buffers. */
const NO_BYTES = new Uint8Array(0);

/** One field's last value and its bytes (see {@link FieldCache}). */
export class CachedField {
  /** The field's text, from the last frame decoded. */
  text: string | undefined = undefined;
  /** Grows to the largest field seen, which the field limits bound (64, 512, 4096 bytes). */
  private bytes: Uint8Array = NO_BYTES;
  private length = 0;
  /** False while `bytes` do not hold `text`'s bytes (resting, or nothing cached yet). */
  private valid = false;
  /** Misses in a row. */
  private misses = 0;
  /**
   * Frames left to rest (see `REST_FRAMES`). The first frame is skipped: on a connection it is
   * the Connect (or Connack), whose fields never repeat, and an idle connection then holds no
   * copies of them.
   */
  private resting = 1;

  /** Offset of the terminator when `buf[start..]` repeats the cached bytes followed by `00 0A`, else -1. */
  match(buf: Uint8Array, start: number, end: number): number {
    if (!this.valid) return -1;
    const n = this.length;
    const stop = start + n;
    if (stop + 2 > end || buf[stop] !== 0x00 || buf[stop + 1] !== 0x0a) return -1;
    const bytes = this.bytes;
    for (let i = 0; i < n; i++) {
      if (buf[start + i] !== bytes[i]) return -1;
    }
    this.misses = 0;
    return stop;
  }

  /** After a miss: keeps `text`, decoded from `buf[start, stop)`, and (unless resting) a copy of those bytes. */
  remember(buf: Uint8Array, start: number, stop: number, text: string): void {
    this.text = text;
    if (this.resting > 0) {
      this.resting--;
      return;
    }
    if (++this.misses >= 2) {
      this.misses = 0;
      this.resting = REST_FRAMES;
      this.valid = false;
      return;
    }
    const n = stop - start;
    if (this.bytes.length < n) this.bytes = new Uint8Array(Math.max(n, 2 * this.bytes.length, 32));
    const bytes = this.bytes;
    if (n <= SMALL_COPY) {
      for (let i = 0; i < n; i++) bytes[i] = buf[start + i]!;
    } else {
      bytes.set(buf.subarray(start, stop));
    }
    this.length = n;
    this.valid = true;
  }
}

import type { Flag } from './flags.js';

/**
 * One Socket.D frame (spec section 2.1).
 *
 * Frames are flat records rather than a union of message/no-message shapes: Ping and Pong
 * are encoded as the 8-byte empty frame and every other flag carries a message, so the flag
 * alone decides the layout. `metaString` is kept raw so that a decoded frame re-encodes to
 * the same bytes; use `parseMetas()` to read it.
 */
export interface Frame {
  readonly flag: Flag;
  /** Stream id; empty for Close and for Ping/Pong. */
  readonly sid: string;
  /** Routing key chosen by the application. */
  readonly event: string;
  /** Raw `k=v&k2=v2` metadata, never escaped. */
  readonly metaString: string;
  /** Opaque payload bytes (may be a view into a receive buffer). */
  readonly data: Buffer;
}

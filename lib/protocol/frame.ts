import type { Flags, Flag } from './flags.js';

/**
 * One Socket.D frame with flag `F` (spec section 2.1).
 *
 * Every flag has the same object shape (one hidden class on the decode path): Ping and Pong
 * are encoded as the 8-byte empty frame and every other flag carries a message, so the flag
 * alone decides the layout. `metaString` is kept raw so that a decoded frame re-encodes to
 * the same bytes; use `parseMetas()` to read it.
 */
export interface FrameOf<F extends Flag> {
  readonly flag: F;
  /** Stream id; empty for Close and for Ping/Pong. */
  readonly sid: string;
  /** Routing key chosen by the application. */
  readonly event: string;
  /** Raw `k=v&k2=v2` metadata, never escaped. */
  readonly metaString: string;
  /** Opaque payload bytes (may be a view into a receive buffer). */
  readonly data: Buffer;
}

/**
 * One Socket.D frame: a union keyed on `flag`, so that a `switch (frame.flag)` narrows the
 * frame and can be checked for exhaustiveness (see {@link unexpectedFlag}). `Unknown` is a
 * member so that tests can encode one; decoders never produce it (`SOCKETD_ERR_UNKNOWN_FLAG`).
 */
export type Frame = { [F in Flag]: FrameOf<F> }[Flag];

/** Handshake frames (spec 6.1). */
export type HandshakeFrame = FrameOf<typeof Flags.Connect | typeof Flags.Connack>;
/** Frames that start an exchange: Message, Request, Subscribe. */
export type RequestFrame = FrameOf<typeof Flags.Message | typeof Flags.Request | typeof Flags.Subscribe>;
/** Frames that answer a Request or Subscribe: Reply, ReplyEnd. */
export type ReplyFrame = FrameOf<typeof Flags.Reply | typeof Flags.ReplyEnd>;
/** Alarm and Pressure (the Alarm layout). */
export type AlarmFrame = FrameOf<typeof Flags.Alarm | typeof Flags.Pressure>;

/**
 * For the `default` of an exhaustive `switch (frame.flag)`: it only compiles when every flag
 * was handled above. At run time (a frame built outside the decoder) it names the flag.
 */
export function unexpectedFlag(frame: never): Error {
  return new Error(`unexpected frame flag ${(frame as { flag: unknown }).flag}`);
}

/**
 * Frame flags (spec section 5). Values are the int32 written after the frame length.
 */
export const Flags = {
  /** Any unrecognised value; a receiver closes with 1002. */
  Unknown: 0,
  /** Handshake request, client to server. */
  Connect: 10,
  /** Handshake accept, server to client. */
  Connack: 11,
  /** Heartbeat (8-byte frame). */
  Ping: 20,
  /** Heartbeat answer (8-byte frame). */
  Pong: 21,
  /** Pre-close (code 1000) or close (code > 1000). */
  Close: 30,
  /** Error report about a message or stream. */
  Alarm: 31,
  /** Reserved backpressure signal (Alarm layout). */
  Pressure: 32,
  /** Fire-and-forget. */
  Message: 40,
  /** Expects one Reply or ReplyEnd. */
  Request: 41,
  /** Expects Reply... then ReplyEnd. */
  Subscribe: 42,
  /** Answer; a Subscribe stream continues. */
  Reply: 48,
  /** Last answer. */
  ReplyEnd: 49,
} as const;

export type FlagName = keyof typeof Flags;
export type Flag = (typeof Flags)[FlagName];

const NAMES: Record<number, FlagName> = {};
for (const [name, value] of Object.entries(Flags)) NAMES[value] = name as FlagName;

/** True for a value of the flag table (Unknown excluded). */
export function isKnownFlag(value: number): value is Flag {
  return value !== Flags.Unknown && NAMES[value] !== undefined;
}

/** The flag's name, or `Unknown(<n>)` for a value outside the table. */
export function flagName(value: number): string {
  return NAMES[value] ?? `Unknown(${value})`;
}

/** Flags whose message may be fragmented (spec section 8). */
export function isFragmentable(flag: number): boolean {
  return flag === Flags.Message || flag === Flags.Request || flag === Flags.Subscribe ||
    flag === Flags.Reply || flag === Flags.ReplyEnd;
}

/** Limits, defaults and well-known meta keys of Socket.D v2 (spec sections 2.3, 4.2, 6.3, 11). */

/** Protocol version sent in the `Socket.D` meta of Connect and Connack. */
export const PROTOCOL_VERSION = '1.0';
/** Default port of every transport. */
export const DEFAULT_PORT = 8602;

/** Frame length of a frame without a message (Ping, Pong). */
export const EMPTY_FRAME_LENGTH = 8;
/** Smallest frame with a message: len + flag + three empty fields with terminators. */
export const MIN_MESSAGE_FRAME_LENGTH = 14;
/** Largest accepted frame: 17 MiB, including the length field. */
export const MAX_FRAME_LENGTH = 17_825_792;
/** Field limits, in bytes after UTF-8 encoding. */
export const MAX_SID_BYTES = 64;
export const MAX_EVENT_BYTES = 512;
export const MAX_META_BYTES = 4096;
/** Data of one frame: 16 MiB. */
export const MAX_DATA_BYTES = 16_777_216;
/** Allowed fragment sizes. */
export const MIN_FRAGMENT_SIZE = 1024;
export const MAX_FRAGMENT_SIZE = 16_777_216;

/** The field terminator is the two bytes 00 0A (a Java big-endian '\n' char). */
export const TERMINATOR_0 = 0x00;
export const TERMINATOR_1 = 0x0a;

/** Close codes (spec section 6.3). 1000-1002 travel on the wire; 2xxx are local. */
export const CloseCodes = {
  /** Peer asks to drain: start no new exchanges. */
  CLOSE_STARTING: 1000,
  /** Normal close; handshake rejection; server stop. */
  CLOSE: 1001,
  /** Protocol violation. */
  ILLEGAL: 1002,
  /** Send/heartbeat failure; open hook threw. */
  ERROR: 2001,
  /** Replaced by a reconnect. */
  RECONNECT: 2002,
  /** Transport dropped without a Close frame, or idle timeout. */
  DISCONNECTION: 2003,
  /** Open failed; no auto-reconnect. */
  OPEN_FAIL: 2008,
  /** Local close by the user; no auto-reconnect. */
  USER: 2009,
} as const;
export type CloseCode = (typeof CloseCodes)[keyof typeof CloseCodes];

const CLOSE_CODE_MEANINGS: Readonly<Record<number, string>> = {
  [CloseCodes.CLOSE_STARTING]: 'the peer is draining: it starts nothing new',
  [CloseCodes.CLOSE]: 'closed by the peer (a normal close, a stop or a refused handshake)',
  [CloseCodes.ILLEGAL]: 'protocol violation or limit exceeded',
  [CloseCodes.ERROR]: 'a send or heartbeat failed',
  [CloseCodes.RECONNECT]: 'replaced by a reconnect',
  [CloseCodes.DISCONNECTION]: 'the connection dropped without a Close frame, or went idle',
  [CloseCodes.OPEN_FAIL]: 'the session could not open',
  [CloseCodes.USER]: 'closed locally by close()',
};

/** `"2003: the connection dropped without a Close frame, or went idle"`: a close code and what it means (README, "Close codes"). */
export function describeCloseCode(code: number): string {
  const meaning = CLOSE_CODE_MEANINGS[code];
  return meaning === undefined ? String(code) : `${code}: ${meaning}`;
}

/** Alarm/Pressure code asking senders to slow down (spec section 9). */
export const ALARM_CODE_PRESSURE = 3001;

/** Well-known meta keys (spec section 4.2). */
export const MetaKeys = {
  VERSION: 'Socket.D',
  CODE: 'code',
  BROKER_TARGET: '@',
  DATA_LENGTH: 'Data-Length',
  DATA_FRAGMENT_IDX: 'Data-Fragment-Idx',
  DATA_FRAGMENT_TOTAL: 'Data-Fragment-Total',
  DATA_DISPOSITION_FILENAME: 'Data-Disposition-Filename',
  DATA_TYPE: 'Data-Type',
  X_UNLIMITED: 'X-Unlimited',
} as const;

export const EMPTY_BUFFER: Buffer = Buffer.alloc(0);

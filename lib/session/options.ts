import {
  MAX_FRAGMENT_SIZE,
  MAX_FRAME_LENGTH,
  MIN_FRAGMENT_SIZE,
} from '../protocol/constants.js';
import { socketDError } from '../protocol/errors.js';
import {
  DEFAULT_FRAME_TIMEOUT,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_HIGH_WATER_MARK,
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  DEFAULT_MAX_DATAGRAM_SIZE,
  MAX_DATAGRAM_SIZE,
  DEFAULT_MAX_PENDING_FRAME_BYTES,
  DEFAULT_MAX_WRITE_BUFFER_SIZE,
} from './connection.js';
import { resolveLogger } from './engine-logger.js';
import type { ClientOptions, EngineLogger, ServerOptions, SessionOptions } from './types.js';

/** Defaults of every engine option (README's options tables list these). */
export const DEFAULTS = {
  requestTimeout: 10_000,
  streamTimeout: 7_200_000,
  idleTimeout: 60_000,
  fragmentSize: MAX_FRAGMENT_SIZE,
  maxMessageSize: 64 * 1024 * 1024,
  maxPendingFragmentBytes: 128 * 1024 * 1024,
  maxFrameSize: MAX_FRAME_LENGTH,
  maxPendingStreams: 65_536,
  maxInboundStreams: 65_536,
  highWaterMark: DEFAULT_HIGH_WATER_MARK,
  maxWriteBufferSize: DEFAULT_MAX_WRITE_BUFFER_SIZE,
  frameTimeout: DEFAULT_FRAME_TIMEOUT,
  maxDatagramSize: DEFAULT_MAX_DATAGRAM_SIZE,
  handshakeTimeout: DEFAULT_HANDSHAKE_TIMEOUT,
  requireSubprotocol: true,
  maxConnections: 10_000,
  maxConnectionsPerAddress: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  maxPendingFrameBytes: DEFAULT_MAX_PENDING_FRAME_BYTES,
  connectTimeout: 10_000,
  heartbeatInterval: 20_000,
  autoReconnect: true,
  reconnectDelay: 200,
  maxReconnectDelay: 10_000,
} as const;

/** Session options with every default applied. */
export interface ResolvedSessionOptions {
  readonly requestTimeout: number;
  readonly streamTimeout: number;
  readonly idleTimeout: number;
  readonly fragmentSize: number;
  readonly maxMessageSize: number;
  readonly maxPendingFragmentBytes: number;
  readonly maxFrameSize: number;
  readonly maxPendingStreams: number;
  readonly maxInboundStreams: number;
  readonly highWaterMark: number;
  readonly maxWriteBufferSize: number;
  readonly frameTimeout: number;
  readonly maxDatagramSize: number;
  readonly logger: EngineLogger;
}

/** Applies defaults and checks ranges; throws SOCKETD_ERR_INVALID_ARGUMENT with the option's name. */
export function resolveSessionOptions(options: SessionOptions = {}): ResolvedSessionOptions {
  const fragmentSize = options.fragmentSize ?? DEFAULTS.fragmentSize;
  if (!Number.isInteger(fragmentSize) || fragmentSize < MIN_FRAGMENT_SIZE || fragmentSize > MAX_FRAGMENT_SIZE) {
    throw socketDError('INVALID_ARGUMENT', `fragmentSize must be an integer in ${MIN_FRAGMENT_SIZE}..${MAX_FRAGMENT_SIZE}, got ${fragmentSize}`);
  }
  const maxFrameSize = options.maxFrameSize ?? DEFAULTS.maxFrameSize;
  if (!Number.isInteger(maxFrameSize) || maxFrameSize < 1024 || maxFrameSize > MAX_FRAME_LENGTH) {
    throw socketDError('INVALID_ARGUMENT', `maxFrameSize must be an integer in 1024..${MAX_FRAME_LENGTH}, got ${maxFrameSize}`);
  }
  const resolved: ResolvedSessionOptions = {
    requestTimeout: milliseconds('requestTimeout', options.requestTimeout ?? DEFAULTS.requestTimeout, 1),
    streamTimeout: milliseconds('streamTimeout', options.streamTimeout ?? DEFAULTS.streamTimeout, 1),
    idleTimeout: milliseconds('idleTimeout', options.idleTimeout ?? DEFAULTS.idleTimeout, 0),
    fragmentSize,
    maxMessageSize: positive('maxMessageSize', options.maxMessageSize ?? DEFAULTS.maxMessageSize),
    maxPendingFragmentBytes: positive('maxPendingFragmentBytes', options.maxPendingFragmentBytes ?? DEFAULTS.maxPendingFragmentBytes),
    maxFrameSize,
    maxPendingStreams: positive('maxPendingStreams', options.maxPendingStreams ?? DEFAULTS.maxPendingStreams),
    maxInboundStreams: positive('maxInboundStreams', options.maxInboundStreams ?? DEFAULTS.maxInboundStreams),
    highWaterMark: positive('highWaterMark', options.highWaterMark ?? DEFAULTS.highWaterMark),
    maxWriteBufferSize: positive('maxWriteBufferSize', options.maxWriteBufferSize ?? DEFAULTS.maxWriteBufferSize),
    frameTimeout: milliseconds('frameTimeout', options.frameTimeout ?? DEFAULTS.frameTimeout, 1),
    maxDatagramSize: datagramSize(options.maxDatagramSize ?? DEFAULTS.maxDatagramSize),
    logger: resolveLogger(options.logger),
  };
  if (resolved.maxWriteBufferSize < resolved.highWaterMark) {
    throw socketDError('INVALID_ARGUMENT', `maxWriteBufferSize ${resolved.maxWriteBufferSize} must be at least highWaterMark ${resolved.highWaterMark}`);
  }
  if (fragmentSize + 4096 + 512 + 64 + 14 > maxFrameSize && options.maxFrameSize !== undefined) {
    throw socketDError('INVALID_ARGUMENT', `maxFrameSize ${maxFrameSize} is too small for fragmentSize ${fragmentSize}`);
  }
  return resolved;
}

export function resolveServerOptions(options: ServerOptions = {}) {
  return {
    session: resolveSessionOptions(options),
    handshakeTimeout: milliseconds('handshakeTimeout', options.handshakeTimeout ?? DEFAULTS.handshakeTimeout, 1),
    requireSubprotocol: options.requireSubprotocol ?? DEFAULTS.requireSubprotocol,
    maxConnections: positive('maxConnections', options.maxConnections ?? DEFAULTS.maxConnections),
    maxConnectionsPerAddress: positive('maxConnectionsPerAddress', options.maxConnectionsPerAddress ?? DEFAULTS.maxConnectionsPerAddress),
    maxPendingFrameBytes: positive('maxPendingFrameBytes', options.maxPendingFrameBytes ?? DEFAULTS.maxPendingFrameBytes),
    tls: tlsObject('tls', options.tls),
  };
}

export function resolveClientOptions(options: ClientOptions = {}) {
  return {
    session: resolveSessionOptions(options),
    connectTimeout: milliseconds('connectTimeout', options.connectTimeout ?? DEFAULTS.connectTimeout, 1),
    heartbeatInterval: milliseconds('heartbeatInterval', options.heartbeatInterval ?? DEFAULTS.heartbeatInterval, 0),
    autoReconnect: options.autoReconnect ?? DEFAULTS.autoReconnect,
    reconnectDelay: milliseconds('reconnectDelay', options.reconnectDelay ?? DEFAULTS.reconnectDelay, 1),
    maxReconnectDelay: milliseconds('maxReconnectDelay', options.maxReconnectDelay ?? DEFAULTS.maxReconnectDelay, 1),
    tls: tlsObject('tls', options.tls),
  };
}

/** `tls` is absent or an object of node:tls options (not `true`: there is no default certificate). */
function tlsObject<T>(name: string, value: T | undefined): T | undefined {
  if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    throw socketDError('INVALID_ARGUMENT', `${name} must be an object of node:tls options (key, cert, ca, ...), got ${value === null ? 'null' : typeof value}`);
  }
  return value;
}

/** Smallest `maxDatagramSize`: room for a Connect with a short URL. */
const MIN_DATAGRAM_SIZE = 64;

function datagramSize(value: number): number {
  if (!Number.isInteger(value) || value < MIN_DATAGRAM_SIZE || value > MAX_DATAGRAM_SIZE) {
    throw socketDError('INVALID_ARGUMENT', `maxDatagramSize must be an integer in ${MIN_DATAGRAM_SIZE}..${MAX_DATAGRAM_SIZE}, got ${value}`);
  }
  return value;
}

function positive(name: string, value: number): number {
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw socketDError('INVALID_ARGUMENT', `${name} must be a positive number, got ${value}`);
  }
  return value;
}

/**
 * The largest timeout or interval accepted (ms): about 285 years, far beyond any use, and an
 * exact integer (the deadline lists re-arm timers past setTimeout's own 2^31-1 ms limit).
 */
export const MAX_TIMEOUT = Number.MAX_SAFE_INTEGER;

/**
 * A duration option in milliseconds: an integer in `min..MAX_TIMEOUT` (NaN, Infinity, 1.5 or
 * a string would arm a timer that fires at once, never, or in a loop).
 */
export function milliseconds(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > MAX_TIMEOUT) {
    throw socketDError('INVALID_ARGUMENT', `${name} must be an integer number of milliseconds in ${min}..${MAX_TIMEOUT}, got ${describeValue(value)}`);
  }
  return value;
}

function describeValue(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

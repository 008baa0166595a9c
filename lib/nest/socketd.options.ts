import { clusterUrls, parseUrl, socketDError } from '../engine.js';
import type { ClientOptions, ServerOptions } from '../session/types.js';
import { SOCKETD_DEFAULT_URL } from './socketd.constants.js';

/**
 * Nest-TCP-style address options, accepted instead of `url` by {@link SocketDServer} and
 * {@link SocketDClient}: `{ host, port }` (and optionally `transport`) become
 * `sd:<transport>://<host>:<port>`. Give either these or `url`, not both.
 */
export interface SocketDAddressOptions {
  /** Host to listen on / connect to. Default `127.0.0.1` (IPv6 literals without brackets). */
  host?: string;
  /** Port. Default 8602; 0 lets a server pick a free port. */
  port?: number;
  /** Transport schema: `tcp`, `tcps`, `ws`, `wss` or `udp` (or any registered schema). Default `tcp`. */
  transport?: 'tcp' | 'tcps' | 'ws' | 'wss' | 'udp' | (string & {});
}

// The engine's option names, written once and held equal to the TS types below (a compile
// error names the key that drifted; test/nest/socketd.options.spec.ts also checks them
// against the engine's DEFAULTS at run time).
const SESSION_OPTION_NAMES = [
  'requestTimeout', 'streamTimeout', 'idleTimeout', 'fragmentSize', 'maxMessageSize', 'maxPendingFragmentBytes',
  'maxFrameSize', 'maxPendingStreams', 'maxInboundStreams', 'highWaterMark', 'maxWriteBufferSize', 'frameTimeout', 'maxDatagramSize', 'logger',
  'onOpen', 'onMessage', 'onOrphanReply', 'onAlarm', 'onClosing', 'onClose',
] as const;

/** Every option name of the engine's `ServerOptions` (`SdServer`). */
export const ENGINE_SERVER_OPTION_NAMES = [
  ...SESSION_OPTION_NAMES,
  'onHandshake', 'handshakeTimeout', 'requireSubprotocol', 'httpServer', 'maxConnections', 'maxConnectionsPerAddress',
  'maxPendingFrameBytes', 'onError', 'tls', 'udpAllowTokenless',
] as const;

/** Every option name of the engine's `ClientOptions` (`SdClient`). */
export const ENGINE_CLIENT_OPTION_NAMES = [
  ...SESSION_OPTION_NAMES,
  'metas', 'connectTimeout', 'heartbeatInterval', 'autoReconnect', 'reconnectDelay', 'maxReconnectDelay', 'tls',
] as const;

/** True when A and B are the same type (not merely assignable). */
export type SameType<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;
export type EngineServerOptionsListed = Assert<SameType<(typeof ENGINE_SERVER_OPTION_NAMES)[number], keyof ServerOptions>>;
export type EngineClientOptionsListed = Assert<SameType<(typeof ENGINE_CLIENT_OPTION_NAMES)[number], keyof ClientOptions>>;

const ADDRESS_OPTION_NAMES = ['url', 'host', 'port', 'transport'] as const;

/** Options {@link SocketDServer} reads itself (the rest go to the engine). */
export const SERVER_NEST_OPTION_NAMES = [
  ...ADDRESS_OPTION_NAMES, 'serializer', 'deserializer', 'maxQueuedReplies', 'maxQueuedRepliesPerSession',
  'maxQueuedRepliesPerServer', 'gracePeriod', 'player',
] as const;

/** Options {@link SocketDClient} reads itself (the rest go to the engine). */
export const CLIENT_NEST_OPTION_NAMES = [...ADDRESS_OPTION_NAMES, 'urls', 'serializer', 'deserializer', 'callMode', 'target', 'eventTarget'] as const;

// Engine options the Nest layer owns: handlers are the app's @MessagePattern/@EventPattern methods.
const NOT_IN_NEST: Readonly<Record<string, string>> = {
  onMessage: 'messages go to the app\'s @MessagePattern / @EventPattern handlers',
};

/**
 * Nest TCP transport option names accepted as they are, with the name of ours they stand for
 * (`tlsOptions: {...}` is `tls: {...}`). Give one or the other, not both.
 */
export const NEST_OPTION_ALIASES = { tlsOptions: 'tls' } as const;
const ALIAS_OF: Readonly<Record<string, string | undefined>> = NEST_OPTION_ALIASES;

// Nest TCP transport options with no same-meaning option here: refused, saying what to use.
const NEST_TCP_OPTIONS: Readonly<Record<string, { server: string; client: string }>> = {
  retryAttempts: {
    server: "Nest's TCP server retries listen() on EADDRINUSE; SocketDServer fails listen() at once (the app's bootstrap sees the error)",
    client: "SocketDClient reconnects by itself: 'autoReconnect' (default true), 'reconnectDelay', 'maxReconnectDelay'",
  },
  retryDelay: {
    server: "Nest's TCP server retries listen() on EADDRINUSE; SocketDServer fails listen() at once (the app's bootstrap sees the error)",
    client: "use 'reconnectDelay' (first backoff delay, doubling up to 'maxReconnectDelay')",
  },
  maxBufferSize: {
    server: "use 'maxFrameSize' (one frame) and 'maxMessageSize' (a message reassembled from fragments), in bytes",
    client: "use 'maxFrameSize' (one frame) and 'maxMessageSize' (a message reassembled from fragments), in bytes",
  },
  maxSendBufferSize: { server: "use 'maxWriteBufferSize' (bytes queued for a peer that does not read)", client: "use 'maxWriteBufferSize'" },
  incompleteMessageTimeout: { server: "use 'frameTimeout' (ms a started frame may take to arrive whole)", client: "use 'frameTimeout'" },
  socketClass: {
    server: "Socket.D frames itself; pick the transport with 'url' ('sd:tcp', 'sd:ws', ...) or 'transport'",
    client: "Socket.D frames itself; pick the transport with 'url' ('sd:tcp', 'sd:ws', ...) or 'transport'",
  },
};

/** Every key {@link SocketDServer} accepts. */
export const SERVER_OPTION_NAMES: readonly string[] = [
  ...SERVER_NEST_OPTION_NAMES,
  ...ENGINE_SERVER_OPTION_NAMES.filter((name) => !(name in NOT_IN_NEST)),
  ...Object.keys(NEST_OPTION_ALIASES),
];
/** Every key {@link SocketDClient} accepts. */
export const CLIENT_OPTION_NAMES: readonly string[] = [
  ...CLIENT_NEST_OPTION_NAMES,
  ...ENGINE_CLIENT_OPTION_NAMES.filter((name) => !(name in NOT_IN_NEST)),
  ...Object.keys(NEST_OPTION_ALIASES),
];

/**
 * Checks the keys of a {@link SocketDServer}'s options: each must be a valid one, else
 * `SOCKETD_ERR_INVALID_ARGUMENT` naming it and the nearest valid key. Returns `options`.
 */
export function validateServerOptions<T extends object>(options: T): T {
  return validateKeys('SocketDServer', options, SERVER_OPTION_NAMES, CLIENT_OPTION_NAMES, 'client', 'server');
}

/** As {@link validateServerOptions}, for a {@link SocketDClient}. */
export function validateClientOptions<T extends object>(options: T): T {
  return validateKeys('SocketDClient', options, CLIENT_OPTION_NAMES, SERVER_OPTION_NAMES, 'server', 'client');
}

function validateKeys<T extends object>(
  owner: string,
  options: T,
  valid: readonly string[],
  otherSide: readonly string[],
  otherName: string,
  side: 'server' | 'client',
): T {
  if (options === null || options === undefined) return options;
  if (typeof options !== 'object') {
    throw socketDError('INVALID_ARGUMENT', `${owner}: options must be an object, got ${typeof options}`);
  }
  for (const key of Object.keys(options)) {
    if (valid.includes(key)) continue;
    if (key in NOT_IN_NEST) {
      throw socketDError('INVALID_ARGUMENT', `${owner}: option '${key}' is not available here (${NOT_IN_NEST[key]})`);
    }
    if (otherSide.includes(key)) {
      throw socketDError('INVALID_ARGUMENT', `${owner}: '${key}' is a ${otherName} option, not one of ${owner}`);
    }
    const nestTcp = NEST_TCP_OPTIONS[key];
    if (nestTcp !== undefined) {
      throw socketDError('INVALID_ARGUMENT', `${owner}: '${key}' is an option of Nest's TCP transport, not of ${owner}: ${nestTcp[side]}`);
    }
    throw socketDError('INVALID_ARGUMENT', `${owner}: unknown option '${key}'${didYouMean(key, valid, side)}`);
  }
  for (const [alias, ours] of Object.entries(NEST_OPTION_ALIASES)) {
    if ((options as Record<string, unknown>)[alias] !== undefined && (options as Record<string, unknown>)[ours] !== undefined) {
      throw socketDError('INVALID_ARGUMENT', `${owner}: give either '${ours}' or '${alias}' (Nest's name for it), not both`);
    }
  }
  const address = options as SocketDAddressOptions & { url?: unknown };
  if (address.url !== undefined && (address.host !== undefined || address.port !== undefined || address.transport !== undefined)) {
    throw socketDError('INVALID_ARGUMENT', `${owner}: give either 'url' or 'host'/'port'/'transport', not both`);
  }
  // A malformed URL fails here, as the engine's constructors do, not at the first call.
  if (address.url !== undefined) parseUrl(address.url as string);
  const { urls } = options as { urls?: unknown };
  if (urls !== undefined) {
    if (address.url !== undefined || address.host !== undefined || address.port !== undefined || address.transport !== undefined) {
      throw socketDError('INVALID_ARGUMENT', `${owner}: give either 'urls' or 'url'/'host'/'port'/'transport', not both`);
    }
    clusterUrls(urls as string | readonly string[]); // throws naming what is wrong
  }
  return options;
}

// A hint from both vocabularies: ours, and Nest's TCP names (which say what they stand for).
function didYouMean(key: string, valid: readonly string[], side: 'server' | 'client'): string {
  const near = nearest(key, [...valid, ...Object.keys(NEST_TCP_OPTIONS)]);
  if (near === undefined) return ` (valid: ${valid.filter((name) => ALIAS_OF[name] === undefined).join(', ')})`;
  const ours = ALIAS_OF[near];
  if (ours !== undefined) return ` — did you mean '${near}' (Nest's name for '${ours}')?`;
  const nestTcp = NEST_TCP_OPTIONS[near];
  if (nestTcp !== undefined) return ` — did you mean Nest's '${near}'? Not an option here: ${nestTcp[side]}`;
  return ` — did you mean '${near}'?`;
}

/**
 * The URL of a strategy or client: `url`, else one built from `host`/`port`/`transport`,
 * else {@link SOCKETD_DEFAULT_URL}.
 */
export function resolveSocketDUrl(options: SocketDAddressOptions & { url?: string }): string {
  if (options.url !== undefined) return options.url;
  if (options.host === undefined && options.port === undefined && options.transport === undefined) return SOCKETD_DEFAULT_URL;
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 8602;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw socketDError('INVALID_ARGUMENT', `port must be an integer in 0..65535, got ${String(port)}`);
  }
  return `sd:${options.transport ?? 'tcp'}://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}

/**
 * The valid name closest to `key` (case-insensitive edit distance, at most a third of the
 * name's length, at least 2), or undefined when none is close.
 */
export function nearest(key: string, valid: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.ceil(key.length / 3)) + 1;
  for (const name of valid) {
    const d = name.toLowerCase() === lower ? 0 : editDistance(lower, name.toLowerCase());
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return best;
}

// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) rows.push([i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}

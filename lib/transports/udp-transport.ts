import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { MAX_FRAME_LENGTH } from '../protocol/constants.js';
import { socketDError } from '../protocol/errors.js';
import { Flags } from '../protocol/flags.js';
import type { Frame } from '../protocol/frame.js';
import {
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  type Connection, type ParsedUrl, type ServerTransport, type ServerTransportOptions, type Transport, type TransportOptions,
} from '../session/connection.js';
import { checkDatagramSize } from './transport-options.js';
import { addressKey, registerUdpStats, UdpClientTransport } from './udp-client.js';
import { CLOSE_FRAME, decodeDatagram, newUdpStats, UdpConnection, type UdpLink, type UdpStats } from './udp-connection.js';
import { endsWith, frameLengthOf, newToken, TOKEN_LENGTH, TOKEN_REQUEST } from './udp-token.js';

export { udpStats, UdpClientTransport } from './udp-client.js';

/** Default `maxConnections` of a udp server transport used on its own (`SdServer` passes 10 000). */
const DEFAULT_MAX_UDP_SESSIONS = 10_000;
/** Refused Connects and evictions are logged at most once per this many milliseconds (a flood costs one line). */
const REFUSAL_LOG_INTERVAL = 5000;

/** Options of `UdpServerTransport`. */
export type UdpServerOptions = TransportOptions &
  Pick<ServerTransportOptions, 'maxConnections' | 'maxConnectionsPerAddress' | 'logger' | 'onError' | 'udpAllowTokenless' | 'maxDatagramSize'>;

/**
 * Half-open sessions (a Connect answered, its token not echoed yet) held at once: a tenth of
 * the session table, at least 16. A client echoes within one round trip; Connects from
 * forged sources never do, and only ever churn this share (oldest evicted first).
 */
function halfOpenLimit(maxSessions: number): number {
  return Math.min(maxSessions, Math.max(16, Math.ceil(maxSessions / 10)));
}

/** One log throttle (per counter): a flood costs one line per 5 s. */
interface Throttle {
  last: number;
  count: number;
}

/**
 * Accepts `sd:udp` sessions on one `dgram` socket (spec 3.3). Sessions are keyed by the
 * remote `ip:port`; UDP source addresses are forgeable, so a session is bound to a udp token
 * (`udp-token.ts`) that only a client receiving at that address can know:
 *
 * - A Connect asking for a token opens a half-open session and its Connack carries a fresh
 *   token. The session counts toward `maxConnectionsPerAddress` once the client sends a
 *   datagram carrying the token (our client sends a Ping at once). Half-open sessions have
 *   their own small share of `maxConnections`; a new Connect evicts the oldest one (with a
 *   Close 1001) when it is full, so Connects that never continue cannot lock anyone out.
 * - Until then, bytes sent to it stay within 3x the bytes it sent (`AMPLIFICATION_FACTOR`);
 *   more waits for the proof (16 KiB at most, e.g. what `onOpen` sends) or is dropped.
 * - Datagrams from its address without its token (a forged Close, a forged Request) are dropped
 *   and counted (`droppedBadToken`); a token-carrying datagram from an address with no session
 *   (the server restarted, or evicted it) is answered with Close 1001 and that token, so the
 *   client reconnects at once.
 * - A Connect without the request (an upstream peer) is refused with Close 1001, unless
 *   `udpAllowTokenless`: then its session is as in spec 3.3, trusting the source address.
 *
 * A Connect with a new sid from the address of a tokenless session replaces it. A repeated one
 * (the same sid: the client resent it, or the network duplicated it) keeps the session: a
 * half-open one sends its Connack again (same bytes, same token, within the 3x allowance).
 * Datagrams longer than `maxDatagramSize` (plus the
 * token), not one well-formed frame, or from unknown addresses are dropped and counted
 * (`stats()`); they never touch another peer's session. Refused Connects are counted and
 * logged (one line per 5 s). `close()` stops accepting Connects; the socket itself closes
 * once the last session is gone (their Close frames leave through it).
 */
export class UdpServerTransport implements ServerTransport, UdpLink {
  readonly counters: UdpStats = newUdpStats();
  private readonly socket: Socket;
  private readonly peers = new Map<string, UdpConnection>();
  /** Validated (or tokenless) sessions per IP. */
  private readonly perIp = new Map<string, number>();
  /** Half-open sessions, oldest first. */
  private readonly halfOpen = new Set<UdpConnection>();
  private readonly waiting = new Set<UdpConnection>();
  private readonly maxDatagramSize: number;
  private readonly maxFrameSize: number;
  private readonly maxSessions: number;
  private readonly maxHalfOpen: number;
  private readonly maxPerIp: number;
  private readonly allowTokenless: boolean;
  private onConnection: ((connection: Connection) => void) | undefined;
  private accepting = false;
  private socketClosed = false;
  private readonly throttles = new Map<string, Throttle>();
  private readonly afterSend = (err: Error | null): void => {
    if (err) this.counters.sendErrors++; // one lost datagram: UDP may lose any
    this.notifyDrain();
  };

  /**
   * @param host interface to bind (`127.0.0.1`, `0.0.0.0`, `::`).
   * @param port port to bind; 0 picks a free one (see `address()`).
   */
  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly options: UdpServerOptions = {},
  ) {
    this.maxDatagramSize = checkDatagramSize(options.maxDatagramSize);
    this.maxFrameSize = options.maxFrameSize ?? MAX_FRAME_LENGTH;
    this.maxSessions = options.maxConnections ?? DEFAULT_MAX_UDP_SESSIONS;
    this.maxHalfOpen = halfOpenLimit(this.maxSessions);
    this.maxPerIp = options.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS;
    this.allowTokenless = options.udpAllowTokenless === true;
    this.socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
    registerUdpStats(this.socket, this.counters);
  }

  /** Open udp sessions (remote addresses with a connection, half-open ones included). */
  get size(): number {
    return this.peers.size;
  }

  listen(onConnection: (connection: Connection) => void): Promise<void> {
    this.onConnection = onConnection;
    return new Promise((resolve, reject) => {
      const socket = this.socket;
      const onError = (err: Error): void => {
        reject(socketDError('TRANSPORT', `UDP bind on ${this.host}:${this.port} failed: ${err.message}`, { cause: err }));
      };
      socket.once('error', onError);
      socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => this.onDatagram(msg, rinfo));
      socket.on('close', () => { this.socketClosed = true; });
      socket.bind({ address: this.host, port: this.port }, () => {
        socket.off('error', onError);
        socket.on('error', (err: Error) => this.options.onError?.(
          socketDError('TRANSPORT', `UDP server on ${this.host}:${this.port} failed: ${err.message}`, { cause: err })));
        this.accepting = true;
        resolve();
      });
    });
  }

  /** Stops accepting Connects; sessions stay up and the socket closes after the last one. */
  close(): Promise<void> {
    this.accepting = false;
    this.closeSocketIfIdle();
    return Promise.resolve();
  }

  address(): { host: string; port: number } | undefined {
    if (this.socketClosed) return undefined;
    try {
      const a = this.socket.address();
      return { host: a.address, port: a.port };
    } catch {
      return undefined; // not bound
    }
  }

  /** The `dgram.Socket` (see `udpStats()`). */
  unwrap(): Socket {
    return this.socket;
  }

  /**
   * The counters (see `UdpStats`), `sessions` (the open udp sessions) and `halfOpen` (those
   * whose client has not echoed its token yet).
   */
  stats(): Readonly<UdpStats & { sessions: number; halfOpen: number }> {
    return { ...this.counters, sessions: this.peers.size, halfOpen: this.halfOpen.size };
  }

  // ---- UdpLink ----------------------------------------------------------------------

  send(connection: UdpConnection, datagram: Buffer | Buffer[]): void {
    if (this.socketClosed) return;
    this.socket.send(datagram, connection.peer.port, connection.peer.address, this.afterSend);
  }

  queuedBytes(): number {
    return this.socketClosed ? 0 : this.socket.getSendQueueSize();
  }

  waitDrain(connection: UdpConnection): void {
    this.waiting.add(connection);
  }

  release(connection: UdpConnection): void {
    this.waiting.delete(connection);
    if (this.peers.get(connection.remoteAddress) !== connection) return;
    this.peers.delete(connection.remoteAddress);
    if (!this.halfOpen.delete(connection)) this.countIp(connection.peer.address, -1);
    this.closeSocketIfIdle();
  }

  // ---- receiving --------------------------------------------------------------------

  private onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    const stats = this.counters;
    stats.datagramsIn++;
    const len = frameLengthOf(msg);
    if (msg.length > this.maxDatagramSize + TOKEN_LENGTH || (len > this.maxDatagramSize && len <= msg.length)) {
      stats.droppedOversize++;
      return;
    }
    const key = addressKey(rinfo.address, rinfo.port);
    const known = this.peers.get(key);
    if (known?.token !== undefined && endsWith(msg, len, known.token)) {
      // The peer's own datagram: it receives at this address.
      const frame = this.decode(msg);
      if (frame === undefined) return;
      if (!known.validated && !this.validate(known)) return;
      // A Connect carrying the token (a new session from the same socket) gets a new token.
      if (frame.flag === Flags.Connect) this.onConnect(frame, msg.length, true, rinfo, key, known);
      else known.receive(frame);
      return;
    }
    const frame = this.decode(msg);
    if (frame === undefined) return;
    if (known === undefined) {
      if (frame.flag === Flags.Connect) this.onConnect(frame, msg.length, endsWith(msg, len, TOKEN_REQUEST), rinfo, key, undefined);
      else this.onStranger(frame, msg, len, rinfo);
      return;
    }
    if (frame.flag === Flags.Connect && known.connectSid === frame.sid) {
      // Resent (our Connack was lost) or duplicated: the same session, its Connack again if half-open.
      stats.duplicateConnects++;
      known.bytesIn += msg.length;
      known.resendConnack();
      return;
    }
    if (known.token === undefined) {
      // A tokenless session (udpAllowTokenless): the source address is all there is.
      if (frame.flag === Flags.Connect) this.onConnect(frame, msg.length, endsWith(msg, len, TOKEN_REQUEST), rinfo, key, known);
      else known.receive(frame);
    } else if (frame.flag === Flags.Connect && !known.validated && endsWith(msg, len, TOKEN_REQUEST)) {
      // A half-open session has proven nothing to protect: a new Connect takes the address.
      this.onConnect(frame, msg.length, true, rinfo, key, known);
    } else {
      stats.droppedBadToken++; // forged, or for a session this address no longer has
    }
  }

  /** A datagram to an address with no session (a Close 1001). */
  private sendDirect(datagram: Buffer | Buffer[], to: RemoteInfo): void {
    if (this.socketClosed) return;
    this.counters.datagramsOut++;
    this.socket.send(datagram, to.port, to.address, this.afterSend);
  }

  private decode(msg: Buffer): Frame | undefined {
    try {
      return decodeDatagram(msg, this.maxFrameSize);
    } catch {
      this.counters.droppedGarbage++;
      return undefined;
    }
  }

  /** A frame other than Connect from an address with no session. */
  private onStranger(frame: Frame, msg: Buffer, len: number, rinfo: RemoteInfo): void {
    this.counters.droppedStrangers++;
    if (frame.flag === Flags.Close || msg.length !== len + TOKEN_LENGTH || endsWith(msg, len, TOKEN_REQUEST)) return;
    // One of our clients whose session is gone here (restart, eviction): tell it, with its own
    // token so that it believes us (31 bytes for at least 16: no amplification).
    this.sendDirect([CLOSE_FRAME, msg.subarray(len)], rinfo);
  }

  private onConnect(frame: Frame, bytes: number, wantsToken: boolean, rinfo: RemoteInfo, key: string, known: UdpConnection | undefined): void {
    if (!wantsToken && !this.allowTokenless) {
      this.note('refusedTokenless', key, 'no udp token was asked for (an upstream peer?): set udpAllowTokenless to accept such clients, on a trusted network only');
      // Upstream clients learn it at once ("connection request was rejected"); no amplification.
      this.sendDirect(CLOSE_FRAME, rinfo);
      return;
    }
    if (!this.accepting) {
      this.note('refusedConnects', key, 'the server stopped accepting');
      return;
    }
    if (known !== undefined) {
      // Spec 3.3: a new Connect from the same address replaces the old session.
      this.counters.replacedSessions++;
      known.destroy(socketDError('CONNECTION_CLOSED', `UDP session ${key} replaced by a new Connect from the same address`));
    } else if (!this.makeRoom(key, wantsToken ? undefined : rinfo.address)) {
      return;
    }
    const token = wantsToken ? newToken() : undefined;
    const connection = new UdpConnection(this, key, { address: rinfo.address, port: rinfo.port }, {
      ...this.options, acceptedAt: performance.now(), trailer: token, unvalidated: wantsToken,
    });
    connection.connectSid = frame.sid;
    connection.token = token;
    connection.bytesIn = bytes;
    this.peers.set(key, connection);
    if (wantsToken) this.halfOpen.add(connection);
    else this.countIp(rinfo.address, 1);
    this.onConnection!(connection);
    connection.receive(frame);
  }

  /**
   * Room for one more session: full tables give up their oldest half-open session first.
   * `ip` for a session that counts toward `maxConnectionsPerAddress` at once (tokenless).
   */
  private makeRoom(key: string, ip: string | undefined): boolean {
    if (ip !== undefined && (this.perIp.get(ip) ?? 0) >= this.maxPerIp) {
      this.note('refusedConnects', key, `maxConnectionsPerAddress ${this.maxPerIp} reached`);
      return false;
    }
    const halfOpenFull = ip === undefined && this.halfOpen.size >= this.maxHalfOpen;
    if (!halfOpenFull && this.peers.size < this.maxSessions) return true;
    const oldest = this.halfOpen.values().next().value;
    if (oldest === undefined) {
      this.note('refusedConnects', key, `maxConnections ${this.maxSessions} reached`);
      return false;
    }
    this.note('evictedHalfOpen', oldest.remoteAddress, 'a half-open session (its client never echoed its token: a forged source?) was closed to make room for a new Connect');
    oldest.evict(socketDError('CONNECTION_CLOSED', `UDP session ${oldest.remoteAddress} never echoed its token; closed to make room for a new Connect`));
    return true;
  }

  /** The half-open session's client echoed its token: a full session, if its IP has room. */
  private validate(connection: UdpConnection): boolean {
    const ip = connection.peer.address;
    if ((this.perIp.get(ip) ?? 0) >= this.maxPerIp) {
      this.note('refusedConnects', connection.remoteAddress, `maxConnectionsPerAddress ${this.maxPerIp} reached`);
      connection.evict(socketDError('CONNECTION_CLOSED', `UDP session ${connection.remoteAddress} closed: maxConnectionsPerAddress ${this.maxPerIp} reached`));
      return false;
    }
    connection.validate();
    this.halfOpen.delete(connection);
    this.countIp(ip, 1);
    return true;
  }

  private countIp(ip: string, delta: number): void {
    const n = (this.perIp.get(ip) ?? 0) + delta;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
  }

  /** Counts a refused Connect or an evicted session; logs one line per kind per 5 s. */
  private note(counter: 'refusedConnects' | 'refusedTokenless' | 'evictedHalfOpen', key: string, why: string): void {
    this.counters[counter]++;
    let throttle = this.throttles.get(counter);
    if (throttle === undefined) this.throttles.set(counter, throttle = { last: -Infinity, count: 0 });
    throttle.count++;
    const now = performance.now();
    if (now - throttle.last < REFUSAL_LOG_INTERVAL) return;
    const what = counter === 'evictedHalfOpen' ? `closed ${throttle.count} session(s), the last of ${key}` : `ignored ${throttle.count} Connect(s), the last from ${key}`;
    const code = counter === 'refusedConnects' ? ' (SOCKETD_ERR_TOO_MANY_CONNECTIONS)' : '';
    this.options.logger?.warn(`Socket.D UDP server: ${what}: ${why}${code}`);
    throttle.last = now;
    throttle.count = 0;
  }

  private notifyDrain(): void {
    for (const connection of this.waiting) if (connection.checkDrain()) this.waiting.delete(connection);
  }

  private closeSocketIfIdle(): void {
    if (this.accepting || this.peers.size > 0 || this.socketClosed) return;
    this.socketClosed = true;
    // Let the last Close frames leave first (sends already handed to the socket complete).
    setImmediate(() => this.socket.close());
  }
}

/** `sd:udp` (and the Java aliases that name their implementation, spec 3.4). */
export const udpTransport: Transport = {
  schema: 'udp',
  aliases: ['udp-java', 'udp-netty'],
  client: new UdpClientTransport(),
  createServer: (url: ParsedUrl, options: ServerTransportOptions) => new UdpServerTransport(url.host, url.port, options),
};

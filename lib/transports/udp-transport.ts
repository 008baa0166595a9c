import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { MAX_FRAME_LENGTH } from '../protocol/constants.js';
import { socketDError } from '../protocol/errors.js';
import { Flags } from '../protocol/flags.js';
import type { Frame } from '../protocol/frame.js';
import {
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  DEFAULT_MAX_DATAGRAM_SIZE,
  type ClientConnectOptions, type ClientTransport, type Connection, type ParsedUrl, type ServerTransport,
  type ServerTransportOptions, type Transport, type TransportOptions,
} from '../session/connection.js';
import { decodeDatagram, newUdpStats, UdpConnection, type UdpLink, type UdpStats } from './udp-connection.js';

/** Default `maxConnections` of a udp server transport used on its own (`SdServer` passes 10 000). */
const DEFAULT_MAX_UDP_SESSIONS = 10_000;
/** Refused Connects are logged at most once per this many milliseconds (a flood costs one line). */
const REFUSAL_LOG_INTERVAL = 5000;

/** Options of `UdpServerTransport`. */
export type UdpServerOptions = TransportOptions &
  Pick<ServerTransportOptions, 'maxConnections' | 'maxConnectionsPerAddress' | 'logger' | 'onError'>;

const statsBySocket = new WeakMap<Socket, Readonly<UdpStats>>();

/**
 * The counters of the udp server or client transport behind a `dgram.Socket` (what
 * `SdServer.unwrap()` / Nest's `SocketDServer.unwrap()` return for `sd:udp`), or undefined.
 */
export function udpStats(socket: unknown): Readonly<UdpStats> | undefined {
  return typeof socket === 'object' && socket !== null ? statsBySocket.get(socket as Socket) : undefined;
}

function addressKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Accepts `sd:udp` sessions on one `dgram` socket (spec 3.3). Sessions are keyed by the
 * remote `ip:port`: the first well-formed Connect from an address creates its connection, a
 * Connect with a new sid from the same address replaces it (a repeated one, a duplicated
 * datagram, is ignored). Everything else from an unknown address, datagrams longer than
 * `maxDatagramSize` and datagrams that are not one well-formed frame are dropped and counted
 * (`stats()`); they never touch another peer's session.
 *
 * `maxConnections` bounds the sessions (default 10 000) and `maxConnectionsPerAddress` the
 * sessions of one IP (default 256): further Connects are ignored, counted and logged (at most
 * one line per 5 s). `close()` stops accepting Connects; the socket itself closes once the
 * last session is gone (their Close frames leave through it).
 */
export class UdpServerTransport implements ServerTransport, UdpLink {
  readonly counters: UdpStats = newUdpStats();
  private readonly socket: Socket;
  private readonly peers = new Map<string, UdpConnection>();
  private readonly perIp = new Map<string, number>();
  private readonly waiting = new Set<UdpConnection>();
  private readonly maxDatagramSize: number;
  private readonly maxFrameSize: number;
  private readonly maxSessions: number;
  private readonly maxPerIp: number;
  private onConnection: ((connection: Connection) => void) | undefined;
  private accepting = false;
  private socketClosed = false;
  private lastRefusalLog = -Infinity;
  private refusedSinceLog = 0;
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
    this.maxDatagramSize = options.maxDatagramSize ?? DEFAULT_MAX_DATAGRAM_SIZE;
    this.maxFrameSize = options.maxFrameSize ?? MAX_FRAME_LENGTH;
    this.maxSessions = options.maxConnections ?? DEFAULT_MAX_UDP_SESSIONS;
    this.maxPerIp = options.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS;
    this.socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
    statsBySocket.set(this.socket, this.counters);
  }

  /** Open udp sessions (remote addresses with a connection). */
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

  /** The counters (see `UdpStats`) and `sessions`, the open udp sessions. */
  stats(): Readonly<UdpStats & { sessions: number }> {
    return { ...this.counters, sessions: this.peers.size };
  }

  // ---- UdpLink ----------------------------------------------------------------------

  send(connection: UdpConnection, datagram: Buffer): void {
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
    const left = (this.perIp.get(connection.peer.address) ?? 1) - 1;
    if (left <= 0) this.perIp.delete(connection.peer.address);
    else this.perIp.set(connection.peer.address, left);
    this.closeSocketIfIdle();
  }

  // ---- receiving --------------------------------------------------------------------

  private onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    const stats = this.counters;
    stats.datagramsIn++;
    if (msg.length > this.maxDatagramSize) {
      stats.droppedOversize++;
      return;
    }
    let frame: Frame;
    try {
      frame = decodeDatagram(msg, this.maxFrameSize);
    } catch {
      stats.droppedGarbage++;
      return;
    }
    const key = addressKey(rinfo.address, rinfo.port);
    const known = this.peers.get(key);
    if (frame.flag !== Flags.Connect) {
      if (known === undefined) stats.droppedStrangers++;
      else known.receive(frame);
      return;
    }
    if (known !== undefined && known.connectSid === frame.sid) {
      stats.duplicateConnects++;
      return;
    }
    if (!this.accepting) {
      this.refuse(key, 'the server stopped accepting');
      return;
    }
    if (known !== undefined) {
      // Spec 3.3: a new Connect from the same address replaces the old session.
      stats.replacedSessions++;
      known.destroy(socketDError('CONNECTION_CLOSED', `UDP session ${key} replaced by a new Connect from the same address`));
    } else if (this.peers.size >= this.maxSessions) {
      this.refuse(key, `maxConnections ${this.maxSessions} reached`);
      return;
    } else if ((this.perIp.get(rinfo.address) ?? 0) >= this.maxPerIp) {
      this.refuse(key, `maxConnectionsPerAddress ${this.maxPerIp} reached`);
      return;
    }
    const connection = new UdpConnection(this, key, { address: rinfo.address, port: rinfo.port }, {
      ...this.options, acceptedAt: performance.now(),
    });
    connection.connectSid = frame.sid;
    this.peers.set(key, connection);
    this.perIp.set(rinfo.address, (this.perIp.get(rinfo.address) ?? 0) + 1);
    this.onConnection!(connection);
    connection.receive(frame);
  }

  private refuse(key: string, why: string): void {
    this.counters.refusedConnects++;
    this.refusedSinceLog++;
    const now = performance.now();
    if (now - this.lastRefusalLog < REFUSAL_LOG_INTERVAL) return;
    this.options.logger?.warn(`Socket.D UDP server: ignored ${this.refusedSinceLog} Connect(s), the last from ${key}: ${why} (SOCKETD_ERR_TOO_MANY_CONNECTIONS)`);
    this.lastRefusalLog = now;
    this.refusedSinceLog = 0;
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

/**
 * One client's `dgram` socket, connected to the server's address (the kernel drops
 * datagrams from anyone else). Its one connection closes the socket when it closes; a send
 * the OS refuses (ICMP port unreachable: no server) fails the connection at once.
 */
class UdpClientLink implements UdpLink {
  readonly counters: UdpStats = newUdpStats();
  connection: UdpConnection | undefined;
  private closed = false;
  private readonly afterSend = (err: Error | null): void => {
    if (err) {
      this.counters.sendErrors++;
      this.connection?.destroy(socketDError('TRANSPORT', `UDP send to ${this.connection.remoteAddress} failed: ${err.message}`, { cause: err }));
      return;
    }
    if (this.connection !== undefined && this.drainWanted && this.connection.checkDrain()) this.drainWanted = false;
  };
  private drainWanted = false;

  constructor(readonly socket: Socket, private readonly maxDatagramSize: number, private readonly maxFrameSize: number) {
    statsBySocket.set(socket, this.counters);
    socket.on('message', (msg: Buffer) => this.onDatagram(msg));
    socket.on('close', () => { this.closed = true; });
  }

  send(_connection: UdpConnection, datagram: Buffer): void {
    if (!this.closed) this.socket.send(datagram, this.afterSend);
  }

  queuedBytes(): number {
    return this.closed ? 0 : this.socket.getSendQueueSize();
  }

  waitDrain(): void {
    this.drainWanted = true;
  }

  release(): void {
    if (this.closed) return;
    this.closed = true;
    // After the sends already handed over (the Close frame) have left.
    setImmediate(() => this.socket.close());
  }

  private onDatagram(msg: Buffer): void {
    this.counters.datagramsIn++;
    if (msg.length > this.maxDatagramSize) {
      this.counters.droppedOversize++;
      return;
    }
    let frame: Frame;
    try {
      frame = decodeDatagram(msg, this.maxFrameSize);
    } catch {
      this.counters.droppedGarbage++;
      return;
    }
    this.connection?.receive(frame);
  }
}

/** Dials `sd:udp://host:port` (spec 3.3). */
export class UdpClientTransport implements ClientTransport {
  /**
   * Opens a `dgram` socket connected to `url.host:url.port`. UDP has no handshake of its own:
   * this only resolves the address; whether a server listens shows with the Connack (or an
   * ICMP error, which fails the connection). Rejects with `SOCKETD_ERR_TRANSPORT` when the
   * socket fails and `SOCKETD_ERR_CONNECT_TIMEOUT` after `connectTimeout` ms.
   */
  connect(url: ParsedUrl, options: ClientConnectOptions): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = createSocket({ type: isIPv6(url.host) ? 'udp6' : 'udp4' });
      const where = addressKey(url.host, url.port);
      const timer = setTimeout(() => {
        socket.close();
        reject(socketDError('CONNECT_TIMEOUT', `UDP connect to ${where} timed out after ${options.connectTimeout} ms`));
      }, options.connectTimeout);
      const onError = (err: Error): void => {
        clearTimeout(timer);
        try { socket.close(); } catch { /* already closed */ }
        reject(socketDError('TRANSPORT', `UDP connect to ${where} failed: ${err.message}`, { cause: err }));
      };
      socket.once('error', onError);
      socket.connect(url.port, url.host, () => {
        clearTimeout(timer);
        socket.off('error', onError);
        const link = new UdpClientLink(socket, options.maxDatagramSize ?? DEFAULT_MAX_DATAGRAM_SIZE, options.maxFrameSize ?? MAX_FRAME_LENGTH);
        const remote = socket.remoteAddress();
        const connection = new UdpConnection(link, addressKey(remote.address, remote.port), remote, options);
        link.connection = connection;
        // Later socket errors end the connection (the session reconnects if it should).
        socket.on('error', (err: Error) => connection.destroy(socketDError('TRANSPORT', `UDP ${where} failed: ${err.message}`, { cause: err })));
        resolve(connection);
      });
    });
  }
}

/** `sd:udp` (and the Java aliases that name their implementation, spec 3.4). */
export const udpTransport: Transport = {
  schema: 'udp',
  aliases: ['udp-java', 'udp-netty'],
  client: new UdpClientTransport(),
  createServer: (url: ParsedUrl, options: ServerTransportOptions) => new UdpServerTransport(url.host, url.port, options),
};

import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { MAX_FRAME_LENGTH } from '../protocol/constants.js';
import { socketDError } from '../protocol/errors.js';
import { Flags } from '../protocol/flags.js';
import type { Frame } from '../protocol/frame.js';
import {
  type ClientConnectOptions, type ClientTransport, type Connection, type ParsedUrl,
} from '../session/connection.js';
import { checkDatagramSize } from './transport-options.js';
import { decodeDatagram, newUdpStats, UdpConnection, type UdpLink, type UdpStats } from './udp-connection.js';
import { endsWith, frameLengthOf, TOKEN_LENGTH, TOKEN_REQUEST } from './udp-token.js';

/** A handshake datagram is resent after 250 ms without its answer, then after twice as long each time ... */
const FIRST_CONNECT_RESEND = 250;
/** ... up to every 2 s (until the answer, the close, or `connectTimeout`). */
const MAX_CONNECT_RESEND = 2000;

const statsBySocket = new WeakMap<Socket, Readonly<UdpStats>>();

/** Registers the counters of a udp socket for `udpStats()`. */
export function registerUdpStats(socket: Socket, stats: Readonly<UdpStats>): void {
  statsBySocket.set(socket, stats);
}

/**
 * The counters of the udp server or client transport behind a `dgram.Socket` (what
 * `SdServer.unwrap()` / Nest's `SocketDServer.unwrap()` return for `sd:udp`), or undefined.
 */
export function udpStats(socket: unknown): Readonly<UdpStats> | undefined {
  return typeof socket === 'object' && socket !== null ? statsBySocket.get(socket as Socket) : undefined;
}

/** `ip:port`, or `[ip6]:port`. */
export function addressKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * One client's `dgram` socket, connected to the server's address (the kernel drops
 * datagrams from anyone else, but anyone can forge that address). Its Connect asks for a udp
 * token (`udp-token.ts`); once the Connack brought one, datagrams without it are dropped and
 * counted. Its one connection closes the socket when it closes; a send the OS refuses (ICMP
 * port unreachable: no server) fails the connection at once.
 *
 * UDP may lose any datagram of the handshake: until a Connack comes, the link resends the
 * Connect datagram (the same bytes, so the same sid) with backoff, within `connectTimeout`; then,
 * with a token, the Ping that proves our address until a Pong comes (a session left half-open is
 * the first evicted under a flood of Connects). A server of ours answers a repeated Connect with
 * the same Connack; an upstream one replaces its session with a new one (spec 3.3) and answers
 * it too: Connacks after the first are ignored (and counted), as are frames other than Close
 * arriving before the Connack.
 */
class UdpClientLink implements UdpLink {
  readonly counters: UdpStats = newUdpStats();
  connection: UdpConnection | undefined;
  private closed = false;
  /** The Connack told whether the server keeps a token. */
  private agreed = false;
  private readonly afterSend = (err: Error | null): void => {
    if (err) {
      this.counters.sendErrors++;
      this.connection?.destroy(socketDError('TRANSPORT', `UDP send to ${this.connection.remoteAddress} failed: ${err.message}`, { cause: err }));
      return;
    }
    if (this.connection !== undefined && this.drainWanted && this.connection.checkDrain()) this.drainWanted = false;
  };
  private drainWanted = false;
  /** The next datagram sent is resent until answered: the Connect, then the token's first Ping. */
  private resendNext = true;
  /** The datagram being resent. */
  private resent: Buffer | Buffer[] | undefined;
  private resendTimer: NodeJS.Timeout | undefined;
  private resendDelay = FIRST_CONNECT_RESEND;
  private resendUntil = 0;

  constructor(
    readonly socket: Socket,
    private readonly maxDatagramSize: number,
    private readonly maxFrameSize: number,
    private readonly connectTimeout: number,
  ) {
    registerUdpStats(socket, this.counters);
    socket.on('message', (msg: Buffer) => this.onDatagram(msg));
    socket.on('close', () => {
      this.closed = true;
      this.stopResending();
    });
  }

  send(_connection: UdpConnection, datagram: Buffer | Buffer[]): void {
    if (this.closed) return;
    if (this.resendNext) {
      this.resendNext = false;
      this.resent = datagram;
      this.resendDelay = FIRST_CONNECT_RESEND;
      this.resendUntil = Date.now() + this.connectTimeout;
      this.scheduleResend();
    }
    this.socket.send(datagram, this.afterSend);
  }

  queuedBytes(): number {
    return this.closed ? 0 : this.socket.getSendQueueSize();
  }

  waitDrain(): void {
    this.drainWanted = true;
  }

  release(): void {
    this.stopResending();
    if (this.closed) return;
    this.closed = true;
    // After the sends already handed over (the Close frame) have left.
    setImmediate(() => this.socket.close());
  }

  private onDatagram(msg: Buffer): void {
    const counters = this.counters;
    counters.datagramsIn++;
    const len = frameLengthOf(msg);
    if (msg.length > this.maxDatagramSize + TOKEN_LENGTH || (len > this.maxDatagramSize && len <= msg.length)) {
      counters.droppedOversize++;
      return;
    }
    const connection = this.connection;
    if (connection === undefined) return;
    const token = connection.token;
    if (token !== undefined && !endsWith(msg, len, token)) {
      counters.droppedBadToken++;
      return;
    }
    let frame: Frame;
    try {
      frame = decodeDatagram(msg, this.maxFrameSize);
    } catch {
      counters.droppedGarbage++;
      return;
    }
    if (frame.flag === Flags.Connack) {
      if (this.agreed) {
        counters.duplicateConnacks++; // the answer to a resent Connect
        return;
      }
      // Only the answer to our own Connect (its sid is random) can set the token.
      if (frame.sid !== connection.connectSid) {
        counters.droppedBadToken++;
        return;
      }
      this.agreed = true;
      this.stopResending();
      const tokened = msg.length === len + TOKEN_LENGTH && !endsWith(msg, len, TOKEN_REQUEST);
      this.resendNext = tokened; // the Ping that agreeToken sends at once
      connection.agreeToken(tokened ? Buffer.from(msg.subarray(len)) : undefined);
      this.resendNext = false;
    } else if (!this.agreed && frame.flag !== Flags.Close) {
      // The Connack was lost (its resent copy comes) or overtaken: as if this one were lost too.
      counters.droppedBeforeConnack++;
      return;
    } else if (frame.flag === Flags.Pong && this.resent !== undefined) {
      this.stopResending(); // the server has our token Ping: the session is proven there
    }
    connection.receive(frame);
  }

  private scheduleResend(): void {
    const delay = this.resendDelay;
    if (Date.now() + delay >= this.resendUntil) return; // the connect timeout ends the attempt
    this.resendTimer = setTimeout(() => {
      this.resendTimer = undefined;
      if (this.closed || this.resent === undefined) return;
      this.counters.connectRetransmits++;
      this.counters.datagramsOut++;
      this.socket.send(this.resent, this.afterSend);
      this.resendDelay = Math.min(delay * 2, MAX_CONNECT_RESEND);
      this.scheduleResend();
    }, delay);
    this.resendTimer.unref();
  }

  private stopResending(): void {
    this.resent = undefined;
    if (this.resendTimer === undefined) return;
    clearTimeout(this.resendTimer);
    this.resendTimer = undefined;
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
      const maxDatagramSize = checkDatagramSize(options.maxDatagramSize);
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
        const link = new UdpClientLink(socket, maxDatagramSize, options.maxFrameSize ?? MAX_FRAME_LENGTH, options.connectTimeout);
        const remote = socket.remoteAddress();
        // The Connect asks for a token; the Connack tells whether the server keeps one.
        const connection = new UdpConnection(link, addressKey(remote.address, remote.port), remote, { ...options, maxDatagramSize, trailer: TOKEN_REQUEST });
        link.connection = connection;
        // Later socket errors end the connection (the session reconnects if it should).
        socket.on('error', (err: Error) => connection.destroy(socketDError('TRANSPORT', `UDP ${where} failed: ${err.message}`, { cause: err })));
        resolve(connection);
      });
    });
  }
}

import { CloseCodes } from '../protocol/constants.js';
import { socketDError } from '../protocol/errors.js';
import { Flags } from '../protocol/flags.js';
import type { Frame } from '../protocol/frame.js';
import { DEFAULT_MAX_DATAGRAM_SIZE } from './transport-options.js';
import { checkFrameLength, decodeFrameAt, encodeFrame } from '../protocol/frame-codec.js';
import {
  DEFAULT_HIGH_WATER_MARK,
  DEFAULT_MAX_WRITE_BUFFER_SIZE,
  type Connection,
  type ConnectionCapabilities,
  type ConnectionHandlers,
  type TransportOptions,
} from '../session/connection.js';

/** Frames a udp connection holds until its session attaches (more are dropped). */
const MAX_HELD_FRAMES = 16;
/**
 * Bytes sent to an address that has not proven it receives (it has not echoed its token) are
 * at most this many times the bytes received from it: as QUIC's anti-amplification limit
 * (RFC 9000 section 8), a forged source cannot turn us into a traffic multiplier.
 */
export const AMPLIFICATION_FACTOR = 3;
/**
 * Bytes held for a peer that has not proven its address yet, past its 3x allowance (e.g. what
 * the app sends in `onOpen`): they leave once it does, and are dropped if it never does.
 */
const MAX_HELD_UNVALIDATED_BYTES = 16 * 1024;
/** `Close code=1001`, sent by the transport itself when it drops a session the peer still holds. */
export const CLOSE_FRAME = encodeFrame({ flag: Flags.Close, sid: '', event: '', metaString: `code=${CloseCodes.CLOSE}`, data: Buffer.alloc(0) });
/** An 8-byte Ping: the client's first token-carrying datagram (the server answers Pong). */
const PING_FRAME = encodeFrame({ flag: Flags.Ping, sid: '', event: '', metaString: '', data: Buffer.alloc(0) });

/**
 * Counters of a udp endpoint (a server's socket, or a client's). Every datagram that is not
 * handed to a session is counted once, under the reason it was dropped.
 */
export interface UdpStats {
  /** Datagrams received (all of them). */
  datagramsIn: number;
  /** Datagrams handed to the socket. */
  datagramsOut: number;
  /** Received datagrams longer than `maxDatagramSize`. */
  droppedOversize: number;
  /** Received datagrams that are not one well-formed frame (spec 2.2). */
  droppedGarbage: number;
  /** Server: well-formed frames other than Connect from an address with no session. */
  droppedStrangers: number;
  /**
   * Datagrams from a session's address (or, client side, from the server) without the
   * session's udp token: forged ones (a Close, a Request), or a Connack for another Connect.
   */
  droppedBadToken: number;
  /**
   * Server: datagrams not sent to an address that has not proven it receives: over 3x what it
   * sent, and over the 16 KiB held until it does (held ones that never leave are not counted).
   */
  droppedUnvalidated: number;
  /** Server: sessions whose client never echoed its token, closed to make room for a new Connect. */
  evictedHalfOpen: number;
  /** Server: Connects without the udp token request, refused (Close 1001) because `udpAllowTokenless` is off. */
  refusedTokenless: number;
  /** Frames for a connection that was paused, or not yet attached and already holding 16. */
  droppedPaused: number;
  /**
   * Server: Connects ignored because `maxConnections` was reached by proven sessions, the
   * server stopped accepting, or (when it proved its address) `maxConnectionsPerAddress`.
   */
  refusedConnects: number;
  /** Server: sessions replaced by a new Connect from the same address (spec 3.3). */
  replacedSessions: number;
  /** Server: a Connect repeated with its session's sid (resent, duplicated): a half-open session answers its Connack again. */
  duplicateConnects: number;
  /** Client: handshake datagrams resent while unanswered: the Connect (until a Connack), the token Ping (until a Pong). */
  connectRetransmits: number;
  /** Client: Connacks after the first one (answers to a resent Connect), ignored. */
  duplicateConnacks: number;
  /** Client: frames other than Connack or Close before the Connack (it was lost or overtaken), dropped. */
  droppedBeforeConnack: number;
  /** Outgoing frames dropped because the socket's send queue was over `maxWriteBufferSize`. */
  droppedSendQueueFull: number;
  /** Sends the OS refused (server: counted and dropped; client: the connection fails). */
  sendErrors: number;
}

/** Fresh zeroed counters. */
export function newUdpStats(): UdpStats {
  return {
    datagramsIn: 0, datagramsOut: 0, droppedOversize: 0, droppedGarbage: 0, droppedStrangers: 0, droppedBadToken: 0,
    droppedUnvalidated: 0, evictedHalfOpen: 0, refusedTokenless: 0, droppedPaused: 0, refusedConnects: 0,
    replacedSessions: 0, duplicateConnects: 0, connectRetransmits: 0, duplicateConnacks: 0, droppedBeforeConnack: 0,
    droppedSendQueueFull: 0, sendErrors: 0,
  };
}

/**
 * The frame in one datagram (spec 3.3: one frame per datagram, its `len` prefix included).
 * Bytes after `len` are not part of it (upstream decodes only the first frame; ours carry the
 * udp token there, see `udp-token.ts`).
 *
 * @throws SocketDError (close code 1002) when the datagram is not a well-formed frame.
 */
export function decodeDatagram(datagram: Buffer, maxFrameSize: number): Frame {
  if (datagram.length < 8) throw socketDError('BAD_MESSAGE', `datagram of ${datagram.length} bytes holds no frame`);
  const len = datagram.readInt32BE(0);
  checkFrameLength(len, maxFrameSize);
  if (len > datagram.length) throw socketDError('BAD_MESSAGE', `datagram of ${datagram.length} bytes holds a frame of length ${len}`);
  return decodeFrameAt(datagram, 0, len);
}

/** Where a udp connection's datagrams go: the server's shared socket, or a client's own. */
export interface UdpLink {
  /** Counters of the socket. */
  readonly counters: UdpStats;
  /**
   * Hands one datagram (its parts sent as one, without joining them) for `connection`'s peer
   * to the socket. Once the OS took it (or refused it: the link counts or fails that), the
   * link calls `checkDrain()` of every connection that asked for it with `waitDrain()`.
   */
  send(connection: UdpConnection, datagram: Buffer | Buffer[]): void;
  /** `connection` wrote above its high-water mark: call its `checkDrain()` after each send completes. */
  waitDrain(connection: UdpConnection): void;
  /** Bytes in the socket's send queue (`getSendQueueSize()`), shared by its connections. */
  queuedBytes(): number;
  /** `connection` closed: the server forgets its address; a client closes its socket. */
  release(connection: UdpConnection, err: Error | undefined): void;
}

/** Options of one udp connection. */
export interface UdpConnectionOptions extends TransportOptions {
  /** The largest datagram sent or accepted (default 2048). */
  maxDatagramSize?: number;
  /** Server side: when its first Connect arrived (`performance.now()`). */
  acceptedAt?: number;
  /**
   * The trailer of every datagram sent (see `udp-token.ts`): the session's token (server), or
   * the token request until the Connack tells (client). None for a tokenless session.
   */
  trailer?: Buffer;
  /**
   * Server side: the peer has not proven it receives at its address yet; until `validate()`,
   * bytes sent are held to `AMPLIFICATION_FACTOR` times `bytesIn`.
   */
  unvalidated?: boolean;
}

/**
 * A Socket.D session's view of one remote `ip:port` over UDP (spec 3.3). There is no
 * connection underneath: the server's socket (or the client's) hands it the frames of its
 * peer's datagrams, and each written frame is one datagram.
 *
 * - `write()` is one `socket.send()` per frame; nothing is queued here. `bufferedAmount` is
 *   the socket's send queue (shared by the server's connections); above `highWaterMark`
 *   writes return false and `onDrain` follows once a send completes below it; a frame that
 *   would bring it over `maxWriteBufferSize` is dropped (UDP may lose it anyway) and counted.
 * - A frame longer than `maxDatagramSize` is refused: `write()` throws
 *   `SOCKETD_ERR_DATAGRAM_TOO_LARGE` and sends nothing (no fragmentation over UDP).
 * - `pause()` drops (and counts) the frames that arrive until `resume()`: UDP has no flow
 *   control, and holding them would be an unbounded queue.
 * - `end()`/`destroy()` send nothing themselves (the session's Close frame went before);
 *   `onClose` follows asynchronously, once. `evict()` sends a Close 1001 first.
 * - With a udp token (see `udp-token.ts`) every datagram sent carries it after the frame;
 *   until a server-side peer proved it receives, what is sent to it stays within
 *   `AMPLIFICATION_FACTOR` times what it sent; the rest waits for the proof (up to 16 KiB,
 *   beyond that it is dropped and counted).
 */
export class UdpConnection implements Connection {
  readonly acceptedAt: number | undefined;
  readonly maxDatagramSize: number;
  /** One frame per datagram, never fragmented (spec 3.3), at most `maxDatagramSize` bytes. */
  readonly capabilities: ConnectionCapabilities;
  /** The sid of the Connect (server: that opened it, a duplicate is ignored; client: that it sent). */
  connectSid: string | undefined;
  /** The session's udp token, once agreed (datagrams from the peer must carry it). */
  token: Buffer | undefined;
  /** Server side: bytes received from the peer (what bounds the bytes sent before `validate()`). */
  bytesIn = 0;
  private bytesOut = 0;
  private unvalidated: boolean;
  /** Datagrams over the 3x allowance, waiting for `validate()` (at most 16 KiB). */
  private heldOut: { frame: Buffer; data: Buffer | undefined }[] = [];
  private heldOutBytes = 0;
  /** Server side: the first datagram sent while unvalidated (the Connack), for a resent Connect. */
  private firstOut: { frame: Buffer; data: Buffer | undefined } | undefined;
  private trailer: Buffer | undefined;
  private readonly highWaterMark: number;
  private readonly maxWriteBufferSize: number;
  private handlers: ConnectionHandlers | undefined;
  private held: Frame[] | undefined = [];
  private paused = false;
  private closedValue = false;
  private closeReported = false;
  private drainWanted = false;
  private error: Error | undefined;

  constructor(
    private readonly link: UdpLink,
    /** `ip:port` (`[ip6]:port`) of the peer. */
    readonly remoteAddress: string,
    /** The peer's address and port, as the socket sends to them. */
    readonly peer: { readonly address: string; readonly port: number },
    options: UdpConnectionOptions = {},
  ) {
    this.acceptedAt = options.acceptedAt;
    this.trailer = options.trailer;
    this.unvalidated = options.unvalidated === true;
    this.maxDatagramSize = options.maxDatagramSize ?? DEFAULT_MAX_DATAGRAM_SIZE;
    this.capabilities = { datagram: true, maxFrameSize: this.maxDatagramSize };
    this.highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    this.maxWriteBufferSize = Math.max(options.maxWriteBufferSize ?? DEFAULT_MAX_WRITE_BUFFER_SIZE, this.highWaterMark);
  }

  /** Server side: false until the peer echoed its token (see `AMPLIFICATION_FACTOR`). */
  get validated(): boolean {
    return !this.unvalidated;
  }

  /** Server side: the peer sent its token back, so it receives at its address (held datagrams leave). */
  validate(): void {
    this.unvalidated = false;
    this.firstOut = undefined;
    const held = this.heldOut;
    this.heldOut = [];
    this.heldOutBytes = 0;
    for (const { frame, data } of held) this.sendDatagram(frame, data);
  }

  /**
   * Client side: the Connack told whether the server keeps a token (`token`) or is an upstream
   * peer without one (undefined). With a token, a Ping carrying it goes at once: that proves
   * our address to the server before any flood of Connects can evict the session.
   */
  agreeToken(token: Buffer | undefined): void {
    this.token = token;
    this.trailer = token;
    if (token !== undefined) this.sendDatagram(PING_FRAME);
  }

  /**
   * Server side: the client resent its Connect (it did not get our Connack): the first datagram
   * (the Connack, same token) goes again if the 3x allowance has room (else it is dropped and
   * counted). Nothing while the Connack is not written yet, or once the peer proved its address.
   */
  resendConnack(): void {
    const first = this.firstOut;
    if (!this.unvalidated || first === undefined || this.closedValue) return;
    const length = first.frame.length + (first.data?.length ?? 0) + (this.trailer?.length ?? 0);
    if (this.bytesOut + length > AMPLIFICATION_FACTOR * this.bytesIn) this.link.counters.droppedUnvalidated++;
    else this.sendDatagram(first.frame, first.data);
  }

  /** Sends a Close 1001 (the peer's session ends here without one from the session), then closes. */
  evict(err: Error): void {
    if (this.closedValue) return;
    this.sendDatagram(CLOSE_FRAME);
    this.destroy(err);
  }

  /**
   * Called by the link after a send completed: true (and `onDrain`) once the socket's queue
   * is back under the high-water mark, or when the connection closed; false to be asked again.
   */
  checkDrain(): boolean {
    if (this.closedValue) return true;
    if (this.link.queuedBytes() > this.highWaterMark) return false;
    this.drainWanted = false;
    this.handlers?.onDrain();
    return true;
  }

  get bufferedAmount(): number {
    return this.link.queuedBytes();
  }

  get closed(): boolean {
    return this.closedValue;
  }

  setHandlers(handlers: ConnectionHandlers): void {
    if (this.handlers !== undefined) throw socketDError('INVALID_ARGUMENT', 'Connection handlers are already set');
    this.handlers = handlers;
    const held = this.held ?? [];
    this.held = undefined;
    if (this.closedValue) {
      this.reportClose();
      return;
    }
    for (const frame of held) this.receive(frame);
  }

  /** One frame from the peer's datagram (called by the socket's owner). */
  receive(frame: Frame): void {
    if (this.closedValue) return;
    const handlers = this.handlers;
    if (handlers === undefined) {
      if (this.held!.length < MAX_HELD_FRAMES) this.held!.push(frame);
      else this.link.counters.droppedPaused++;
      return;
    }
    if (this.paused) {
      this.link.counters.droppedPaused++;
      return;
    }
    try {
      handlers.onFrame(frame);
    } catch (err) {
      // A handler threw: never into the socket's 'message' event (the other peers share it).
      this.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  }

  write(frame: Buffer): boolean {
    if (this.closedValue) return false;
    this.checkSize(frame.length);
    if (this.connectSid === undefined) this.connectSid = sidOf(frame); // client: its Connect
    return this.sendDatagram(frame);
  }

  /** Head and data leave as one datagram (a frame never spans two), not joined here. */
  writeParts(head: Buffer, data: Buffer): boolean {
    if (this.closedValue) return false;
    this.checkSize(head.length + data.length);
    if (this.connectSid === undefined) this.connectSid = sidOf(head);
    return this.sendDatagram(head, data);
  }

  /** Drops the peer's frames until `resume()` (see the class comment). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  /** The session's Close frame (if any) was handed to the socket already: closed now. */
  end(): void {
    this.shut(undefined);
  }

  destroy(err?: Error): void {
    this.shut(err);
  }

  private shut(err: Error | undefined): void {
    if (this.closedValue) return;
    this.closedValue = true;
    this.error = err;
    this.heldOut = [];
    this.link.release(this, err);
    // Asynchronous, as a socket's 'close' would be: the session is not re-entered from its own close().
    setImmediate(() => this.reportClose());
  }

  private reportClose(): void {
    if (this.closeReported || this.handlers === undefined) return;
    this.closeReported = true;
    this.handlers.onClose(this.error);
  }

  private checkSize(length: number): void {
    if (length <= this.maxDatagramSize) return;
    throw socketDError('DATAGRAM_TOO_LARGE',
      `UDP ${this.remoteAddress}: a frame of ${length} bytes does not fit in one datagram of maxDatagramSize ${this.maxDatagramSize}; nothing was sent (UDP does not fragment)`,
      { length, maxDatagramSize: this.maxDatagramSize });
  }

  private sendDatagram(frame: Buffer, data?: Buffer): boolean {
    const trailer = this.trailer;
    const length = frame.length + (data?.length ?? 0) + (trailer?.length ?? 0);
    if (this.unvalidated) {
      if (this.heldOut.length > 0 || this.bytesOut + length > AMPLIFICATION_FACTOR * this.bytesIn) {
        // Maybe a forged source: it gets no more than a few times what "it" sent; the rest
        // waits (in order) for the proof that it receives, within a small bound.
        if (this.heldOutBytes + length <= MAX_HELD_UNVALIDATED_BYTES) {
          this.heldOut.push({ frame, data });
          this.heldOutBytes += length;
        } else {
          this.link.counters.droppedUnvalidated++;
        }
        return true;
      }
      this.bytesOut += length;
      this.firstOut ??= { frame, data };
    }
    const after = this.link.queuedBytes() + length;
    if (after > this.maxWriteBufferSize) {
      // The socket's queue is full: this datagram is lost, as the network could lose it.
      this.link.counters.droppedSendQueueFull++;
      this.wantDrain();
      return false;
    }
    this.link.counters.datagramsOut++;
    if (data === undefined) this.link.send(this, trailer === undefined ? frame : [frame, trailer]);
    else this.link.send(this, trailer === undefined ? [frame, data] : [frame, data, trailer]);
    if (after <= this.highWaterMark && !this.drainWanted) return true;
    this.wantDrain();
    return false;
  }

  private wantDrain(): void {
    if (this.drainWanted) return;
    this.drainWanted = true;
    this.link.waitDrain(this);
  }
}

/** The sid of an encoded message frame (or of its head): the bytes from offset 8 to the first `00 0A`. */
function sidOf(frame: Buffer): string | undefined {
  if (frame.length < 14) return undefined;
  for (let i = 8; i + 1 < frame.length; i++) {
    if (frame[i] === 0 && frame[i + 1] === 0x0a) return frame.toString('utf8', 8, i);
  }
  return undefined;
}

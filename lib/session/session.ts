import { CloseCodes, describeCloseCode, MAX_FRAGMENT_SIZE } from '../protocol/constants.js';
import { SocketDError, socketDError } from '../protocol/errors.js';
import { Flags, flagName, type Flag } from '../protocol/flags.js';
import { unexpectedFlag, type Frame } from '../protocol/frame.js';
import { checkReceivedFields } from '../protocol/frame-codec.js';
import { newSessionId } from '../protocol/sid.js';
import type { Connection, ConnectionHandlers, ConnectionMemory } from './connection.js';
import { describeError, logFailure, safeCall } from './callbacks.js';
import { describeHandshake } from './handshake.js';
import { FrameHold } from './frame-hold.js';
import { wireSessionParts, type SessionParts } from './session-parts.js';
import { ServerHandshake, type ServerHandshakeConfig } from './server-handshake.js';
import type { ResolvedSessionOptions } from './options.js';
import { FrameWriter, MAX_UNANSWERED_PINGS } from './frame-writer.js';
import { ClientHandshake } from './client-handshake.js';
import { CloseFence } from './close-fence.js';
import { IdleWatch } from './idle-watch.js';
import { Waiters } from './waiters.js';
import { closeCodeOf } from './received-message.js';
import { getTelemetry, type SessionTelemetry } from './telemetry.js';
import type {
  EngineLogger, Handshake, Metas, Payload, ReceivedMessage, RequestOptions, SendOptions, Session, SessionListener, SessionState, StreamHandle, StreamObserver,
} from './types.js';

const NO_HANDSHAKE: Handshake = Object.freeze({ url: '', path: '/', params: Object.freeze({}), version: undefined });
export { CANCEL_META } from './received-message.js';

/** Frames a client may send before its Connack while the server's async handshake hook runs. */
const MAX_HELD_FRAMES = 1024;

/**
 * One Socket.D session over one transport connection (spec sections 6 and 7), either side.
 *
 *   client                                    server
 *     | -- Connect(sid, url, metas, url) ------> |  onHandshake(handshake, outMetas)
 *     | <------------- Connack(sid, url, metas) -|  accepted: onOpen on both sides
 *     | <------------------------- Close(1001) --|  refused: client's connect fails
 *
 *   close: Close(1000) = "draining, start nothing new"; Close(>1000) = closed, transport ends.
 *
 * A received frame goes one way: `handleFrame` (hold, handshake or flag) -> the router
 * (reassembly, inbound and outbound stream tables, the responder for refusals) -> the
 * application's listener or the waiting observer. Nothing below calls back into the session.
 */
export class SocketDSession implements Session {
  readonly id = newSessionId();
  readonly attrs = new Map<string, unknown>();
  private stateValue: SessionState = 'handshaking';
  private handshakeValue: Handshake = NO_HANDSHAKE;
  private closeCodeValue: number | undefined;
  private readonly parts: SessionParts;
  private readonly writer: FrameWriter;
  private readonly log: EngineLogger;
  private readonly closeHooks: ((code: number, err?: Error) => void)[] = [];
  private readonly drainWaiters = new Waiters();
  private readonly hold: FrameHold;
  /** Until the session opens (then dropped with its host: an idle session keeps neither). */
  private serverHandshake: ServerHandshake | undefined;
  private readonly clientHandshake = new ClientHandshake();
  private idle: IdleWatch | undefined;
  /** Set by preclose(): passed by the peer's Pong to the Ping sent after our Close 1000. */
  private fence: CloseFence | undefined;
  /** Tracing and metrics; undefined (the only hot-path check) when nothing records. */
  private readonly tel: SessionTelemetry | undefined;

  constructor(
    private readonly connection: Connection,
    private readonly role: 'server' | 'client',
    private readonly options: ResolvedSessionOptions,
    private readonly listener: SessionListener,
    serverHandshake?: ServerHandshakeConfig,
    /** The transport's schema (as in the URL), for telemetry. */
    transport = 'unknown',
  ) {
    this.log = options.logger;
    // A datagram connection never fragments (spec 3.3): a frame too large for it fails its call.
    const fragmentSize = connection.capabilities?.datagram === true ? MAX_FRAGMENT_SIZE : options.fragmentSize;
    this.writer = new FrameWriter(connection, fragmentSize, () => this.onWritesBlocked(), options.maxMessageSize);
    this.tel = getTelemetry()?.session(this, transport, role, fragmentSize);
    if (this.tel !== undefined) this.writer.io = this.tel.io;
    this.parts = wireSessionParts(this, connection, options, listener, this.writer, this.tel, () => this.stateValue === 'closed');
    this.hold = new FrameHold(connection);
    if (serverHandshake) this.serverHandshake = new ServerHandshake(serverHandshake, this.handshakeHost(), this.writer);
    const handlers: ConnectionHandlers = {
      onFrame: (frame) => this.handleFrame(frame),
      onProtocolError: (err) => this.violate(err),
      onDrain: () => this.handleDrain(),
      onClose: (err) => this.finalize(this.closeCodeValue ?? CloseCodes.DISCONNECTION, err),
    };
    connection.setHandlers(handlers);
  }

  get state(): SessionState { return this.stateValue; }
  get isOpen(): boolean { return this.stateValue === 'open'; }
  get handshake(): Handshake { return this.handshakeValue; }
  get remoteAddress(): string | undefined { return this.connection.remoteAddress; }
  get bufferedAmount(): number { return this.connection.bufferedAmount; }
  get memory(): ConnectionMemory | undefined { return this.connection.memory; }
  get closeCode(): number | undefined { return this.closeCodeValue; }
  /** Outgoing streams still waiting for answers. */
  get pendingStreams(): number { return this.parts.outbound.size; }
  /** Incoming Request/Subscribe streams not yet answered to the end. */
  get inboundStreams(): number { return this.parts.inbound.size; }

  // ---- client handshake -------------------------------------------------------------

  /** Sends Connect (client side); resolves on Connack, rejects on refusal or close. */
  startClient(linkUrl: string, metas: Metas | undefined): Promise<void> {
    return this.clientHandshake.start(this.writer, linkUrl, metas);
  }

  // ---- sending ------------------------------------------------------------------------

  send(event: string, data?: Payload, options?: SendOptions): boolean {
    this.assertCanStart();
    return this.parts.requester.send(event, data, options);
  }

  request(event: string, data?: Payload, options?: RequestOptions): Promise<ReceivedMessage> {
    return new Promise((resolve, reject) => {
      this.stream('request', event, data, { next: resolve, complete() {}, error: reject }, options);
    });
  }

  subscribe(event: string, data: Payload | undefined, observer: StreamObserver, options?: RequestOptions): StreamHandle {
    return this.stream('subscribe', event, data, observer, options);
  }

  stream(kind: 'request' | 'subscribe', event: string, data: Payload | undefined, observer: StreamObserver, options?: RequestOptions): StreamHandle {
    this.assertCanStart();
    return this.parts.requester.stream(kind, event, data, observer, options);
  }

  reply(to: ReceivedMessage, data?: Payload, metas?: Metas | string): boolean {
    return this.parts.responder.reply(to, data, metas);
  }

  replyEnd(to: ReceivedMessage, data?: Payload, metas?: Metas | string): boolean {
    return this.parts.responder.replyEnd(to, data, metas);
  }

  alarm(to: ReceivedMessage, text: string, metas?: Metas | string): boolean {
    return this.parts.responder.alarm(to, text, metas);
  }

  drain(): Promise<void> {
    if (this.stateValue === 'closed' || this.connection.bufferedAmount <= this.options.highWaterMark) {
      return Promise.resolve();
    }
    return this.drainWaiters.wait();
  }

  /** Sends a Ping (the client's heartbeat). */
  ping(): void {
    // Spec 6.2: heartbeats stop once the session is closing.
    if (this.stateValue === 'open') this.writer.ping();
  }

  /** See `Session.pauseUntil` (a broker passes a slow target's backpressure on to its source). */
  pauseUntil(until: Promise<unknown>): void {
    if (this.stateValue !== 'open' && this.stateValue !== 'closing') return;
    this.hold.holdOutside();
    const settled = (): void => {
      if (this.hold.outsideSettled()) this.releaseHeld();
    };
    until.then(settled, settled);
  }

  /**
   * Sends Close 1000 (start nothing new) and a Ping: the peer reads the Close before it answers
   * the Ping, so whatever it sent before its Pong was started before it knew. Resolves on that
   * Pong (or when the session closes); from then on a new Request or Subscribe from the peer is
   * refused with an Alarm (a Message dropped), and this side starts nothing new at once.
   */
  preclose(): Promise<void> {
    if (this.stateValue !== 'open' && this.stateValue !== 'closing') return Promise.resolve();
    if (this.fence === undefined) {
      this.stateValue = 'closing';
      this.writer.close(CloseCodes.CLOSE_STARTING);
      this.fence = new CloseFence(() => this.writer.ping());
    }
    return this.fence.wait();
  }

  close(code: number = CloseCodes.CLOSE): void {
    if (this.stateValue === 'closed') return;
    // Only 1000..1002 travel; a local code (2009 user close, ...) is announced as 1001.
    this.shut(code >= 1000 && code <= 1002 ? code : CloseCodes.CLOSE, code);
  }

  /**
   * Ends the connection without a Close frame: a stopping server's answer to a client whose
   * Connect it has not answered yet. A Close before the Connack would read as a refused
   * handshake, and the client would stop reconnecting; a dropped connection is retried.
   */
  drop(): void {
    if (this.stateValue === 'closed') return;
    this.connection.end();
    this.finalize(CloseCodes.DISCONNECTION);
  }

  onClose(fn: (code: number, err?: Error) => void): void {
    if (this.stateValue === 'closed') safeCall(this.log, 'onClose hook', () => fn(this.closeCodeValue!));
    else this.closeHooks.push(fn);
  }

  // ---- connection events --------------------------------------------------------------

  private handleFrame(frame: Frame): void {
    if (this.idle !== undefined) this.idle.read = true;
    if (this.tel !== undefined) {
      this.tel.io.framesIn++;
      this.tel.io.bytesIn += frame.data.length;
    }
    if (this.hold.holding) {
      if (this.stateValue === 'handshaking' && this.hold.count >= MAX_HELD_FRAMES) {
        this.violate(socketDError('UNEXPECTED_FRAME', `more than ${MAX_HELD_FRAMES} frames before the Connack`));
      } else {
        this.hold.push(frame);
      }
      return;
    }
    try {
      // Spec 2.2 reads a lone 00 as content, but no answer could carry such a sid back.
      checkReceivedFields(frame);
      if (this.stateValue === 'handshaking') this.checkHandshakeFlag(frame.flag);
      else if (this.stateValue === 'closed') return;
      // Every flag is handled (the switch is exhaustive).
      switch (frame.flag) {
        case Flags.Connect:
        case Flags.Connack:
          if (this.stateValue !== 'handshaking') throw socketDError('UNEXPECTED_FRAME', `${flagName(frame.flag)} after the handshake`);
          this.handshakeValue = describeHandshake(frame);
          if (this.serverHandshake !== undefined) this.serverHandshake.run(frame, this.handshakeValue);
          else this.opened();
          break;
        case Flags.Ping:
          if (!this.writer.pong()) throw socketDError('PING_FLOOD', `more than ${MAX_UNANSWERED_PINGS} Pings while not reading the answers`);
          break;
        case Flags.Pong:
          this.fence?.pass();
          break;
        case Flags.Close:
          if (this.stateValue === 'handshaking') this.refused();
          else this.onCloseFrame(closeCodeOf(frame));
          break;
        case Flags.Alarm:
        case Flags.Pressure:
          this.parts.router.onAlarm(frame);
          break;
        case Flags.Message:
        case Flags.Request:
        case Flags.Subscribe:
          if (this.fence?.passed === true) this.fence.refuse(frame, this.writer, this.log, this.remoteAddress ?? this.id);
          else this.parts.router.onRequest(frame);
          break;
        case Flags.Reply:
        case Flags.ReplyEnd:
          this.parts.router.onReply(frame);
          break;
        case Flags.Unknown:
          throw socketDError('UNEXPECTED_FRAME', `${flagName(frame.flag)} after the handshake`);
        default:
          throw unexpectedFlag(frame);
      }
    } catch (err) {
      // User callbacks are isolated; what lands here is a violation or the engine failing to answer.
      if (err instanceof SocketDError && err.closeCode !== undefined) this.violate(err);
      else this.answerFailed(err, `handling ${flagName(frame.flag)} '${frame.event}'`);
    }
  }

  /** Handles the frames held until now, in order; reading resumes unless one of them holds again. */
  private releaseHeld(): void {
    const held = this.hold.take();
    if (held === undefined) return;
    for (let i = 0; i < held.length; i++) {
      if (this.hold.holding) {
        this.hold.keep(held.slice(i));
        return;
      }
      if (this.stateValue === 'closed') return;
      this.handleFrame(held[i]!);
    }
    if (!this.hold.holding && this.stateValue !== 'closed') this.hold.resume();
  }

  private handleDrain(): void {
    if (this.hold.drained()) this.releaseHeld();
    this.drainWaiters.release();
  }

  // ---- internals ---------------------------------------------------------------------

  /** Before the handshake ends, a server takes only a Connect, a client a Connack or a Close (refused). */
  private checkHandshakeFlag(flag: Flag): void {
    if (this.serverHandshake !== undefined) {
      if (flag !== Flags.Connect) throw socketDError('UNEXPECTED_FRAME', `${flagName(flag)} before Connect`);
    } else if (flag !== Flags.Connack && flag !== Flags.Close) {
      throw socketDError('UNEXPECTED_FRAME', `${flagName(flag)} before Connack`);
    }
  }

  /** The Connack went out (server) or arrived (client). */
  private opened(): void {
    this.open();
    this.clientHandshake.accepted();
    safeCall(this.log, 'onOpen listener', () => this.listener.onOpen?.(this));
    this.releaseHeld();
  }

  /** The server answered the client's Connect with a Close. */
  private refused(): void {
    this.tel?.refused();
    this.connection.end();
    this.finalize(CloseCodes.OPEN_FAIL, socketDError('HANDSHAKE_REJECTED', 'connection request was rejected by the server (Close before Connack)'));
  }

  /** What the server handshake may do to this session. */
  private handshakeHost() {
    const session = this;
    return {
      get remoteAddress() { return session.remoteAddress; },
      get isClosed() { return session.stateValue === 'closed'; },
      holdFrames: () => this.hold.hold(),
      opened: () => this.opened(),
      refuse: (err: unknown) => this.refuse(err),
      fail: (err: unknown, what: string) => this.answerFailed(err, what),
      timeOut: (err: SocketDError) => {
        this.log.warn(`Socket.D session ${this.remoteAddress ?? ''}: ${err.message}, closing`);
        this.connection.destroy();
        this.finalize(CloseCodes.DISCONNECTION, err);
      },
    };
  }

  private refuse(err: unknown): void {
    if (this.stateValue === 'closed') return;
    if (err !== undefined) this.log.warn(`Socket.D handshake hook threw, refusing ${this.remoteAddress ?? ''}: ${describeError(err)}`);
    this.tel?.refused();
    this.hold.clear();
    this.close(CloseCodes.CLOSE);
  }

  private open(): void {
    this.stateValue = 'open';
    this.tel?.opened();
    this.serverHandshake?.stop();
    this.serverHandshake = undefined;
    const idleTimeout = this.options.idleTimeout;
    if (idleTimeout > 0) this.idle = new IdleWatch(idleTimeout, () => this.closeIdle());
  }

  private closeIdle(): void {
    this.log.warn(`Socket.D session ${this.remoteAddress ?? this.id}: nothing read for ${this.options.idleTimeout} ms, closing`);
    this.shut(CloseCodes.CLOSE, CloseCodes.DISCONNECTION, socketDError('IDLE_TIMEOUT', `nothing read for ${this.options.idleTimeout} ms`));
  }

  private onCloseFrame(code: number): void {
    if (code === CloseCodes.CLOSE_STARTING) {
      this.stateValue = 'closing';
      safeCall(this.log, 'onClosing listener', () => this.listener.onClosing?.(this));
      return;
    }
    this.closeCodeValue = code;
    this.connection.end();
    this.finalize(code);
  }

  // The peer is not reading our answers: stop reading its requests until it catches up.
  // Only servers do this: if both ends paused, two full buffers could wait on each other.
  private onWritesBlocked(): void {
    if (this.role === 'server') this.hold.holdUntilDrain();
  }

  private violate(err: SocketDError): void {
    if (this.stateValue === 'closed') return;
    this.log.warn(`Socket.D session ${this.remoteAddress ?? this.id}: protocol violation (${err.code}): ${err.message}; closing with ${err.closeCode ?? CloseCodes.ILLEGAL}`);
    this.hold.clear();
    this.shut(err.closeCode ?? CloseCodes.ILLEGAL, err.closeCode ?? CloseCodes.ILLEGAL, err);
  }

  /** Sends Close `wireCode` (if the connection still takes it), ends the transport, closes with `code`. */
  private shut(wireCode: number, code: number, err?: Error): void {
    this.writer.close(wireCode);
    this.connection.end();
    this.finalize(code, err);
  }

  // The engine could not send an answer of its own (an encode error) or failed handling a
  // frame: nothing may throw into the void, and the peer must not wait for a lost answer.
  private answerFailed(err: unknown, what = 'answering'): void {
    logFailure(this.log, `session ${this.remoteAddress ?? this.id}: ${what}`, err);
    this.violate(socketDError('ANSWER_FAILED', `cannot answer the peer: ${describeError(err)}`));
  }

  private finalize(code: number, err?: Error): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    this.closeCodeValue = code;
    this.hold.clear();
    this.serverHandshake?.stop();
    this.idle?.stop();
    this.parts.fragments.clear();
    this.fence?.pass();
    // Errors only where a caller waits: a server closing 10k idle sessions creates none.
    if (this.clientHandshake.waiting) this.clientHandshake.failed(err ?? socketDError('CONNECTION_CLOSED', `connection closed during the handshake (code ${code})`));
    if (this.parts.outbound.size > 0) this.parts.outbound.failAll(socketDError('CONNECTION_CLOSED', `connection closed (${describeCloseCode(code)})`, { closeCode: code }));
    this.parts.inbound.cancelAll();
    this.tel?.closed(code, err);
    this.handleDrain();
    for (const hook of this.closeHooks.splice(0)) safeCall(this.log, 'onClose hook', () => hook(code, err));
    safeCall(this.log, 'onClose listener', () => this.listener.onClose?.(this, code, err));
  }

  // A closing session (Close 1000 sent or received) starts nothing new (spec 6.2).
  private assertCanStart(): void {
    if (this.stateValue !== 'open') {
      const why = this.stateValue === 'closing' ? ' (Close 1000: start nothing new; the client uses a fresh connection)' : '';
      throw socketDError('CONNECTION_CLOSED', `session is ${this.stateValue}${why}; cannot start a new exchange`);
    }
  }
}

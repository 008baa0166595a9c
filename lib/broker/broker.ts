import { MetaKeys } from '../protocol/constants.js';
import { Flags } from '../protocol/flags.js';
import { DEFAULT_HIGH_WATER_MARK, SdServer } from '../session/index.js';
import { milliseconds } from '../session/options.js';
import { getTelemetry } from '../session/telemetry.js';
import type { Handshake, Metas, ReceivedMessage, Session } from '../session/types.js';
import { BROKER_DEFAULTS, NEST_AUTO_META, NEST_STREAM_META, type BrokerOptions } from './broker-options.js';
import { ForwardStream, forwardedMetas, relayed, type ForwardKind } from './forward-stream.js';
import { parseRoute, PlayerRegistry, type Route } from './player-registry.js';

/**
 * A Socket.D broker (spec section 10): a server that relays between its clients ("players"),
 * routing every Message/Request/Subscribe by its `@` meta.
 *
 *   requester ──Request(sid A, @=orders)──▶ ┌────────┐ ──Request(sid B, @=orders)──▶ orders#1
 *             ◀──Reply(sid A)────────────── │ broker │ ◀──Reply|ReplyEnd(sid B)───── (round-robin
 *                                           └────────┘                                over orders#n)
 *
 * A player names itself with the handshake param `@` (`sd:tcp://broker:8602/?@=orders`).
 * `@=name` goes to one player of `name` (round-robin), `name!` to one chosen by hash of meta
 * `X-Hash` (or of the requester's host), `name*` to every player of `name` but the sender, `*`
 * to every named player but the sender. Each forward is a new frame with a new sid, the same
 * flag and event, the sender's metaString (fragment leftovers aside) and data.
 */
export class SdBroker {
  private readonly server: SdServer;
  private readonly registry = new PlayerRegistry();
  private readonly names = new WeakMap<Session, string>();
  private readonly inFlight = new Map<Session, number>();
  private readonly maxForwards: number;
  private readonly maxTargetBytes: number;
  private readonly highWaterMark: number;
  /** Forwards wait this long for their (final) answer; negative: the server's streamTimeout. */
  private readonly forwardTimeout: number;

  constructor(url: string, private readonly options: BrokerOptions = {}) {
    this.maxForwards = options.maxForwardsPerSession ?? BROKER_DEFAULTS.maxForwardsPerSession;
    this.maxTargetBytes = options.maxTargetBufferedBytes ?? BROKER_DEFAULTS.maxTargetBufferedBytes;
    this.highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    this.forwardTimeout = options.forwardTimeout === undefined ? -1 : milliseconds('forwardTimeout', options.forwardTimeout, 1);
    this.server = new SdServer(url, {
      ...options,
      onHandshake: (handshake, outMetas, remoteAddress) => this.admit(handshake, outMetas, remoteAddress),
      onOpen: (session) => this.opened(session),
      onClosing: (session) => this.left(session, true),
      onClose: (session, code, err) => this.left(session, false, code, err),
      onMessage: (session, message) => this.route(session, message),
    });
  }

  /** Starts accepting players. */
  async listen(): Promise<this> {
    await this.server.listen();
    getTelemetry()?.watchBroker(() => this.registry.view);
    return this;
  }

  /** Stops accepting, closes every session (Close 1001), resolves once all are closed. */
  close(): Promise<void> {
    return this.server.close();
  }

  /** The bound address once listening. */
  address(): { host: string; port: number } | undefined {
    return this.server.address();
  }

  /** Read-only view: player name -> its open sessions, in registration order. */
  get players(): ReadonlyMap<string, readonly Session[]> {
    return this.registry.view;
  }

  /** Every open session (named or not). */
  get sessions(): ReadonlySet<Session> {
    return this.server.sessions;
  }

  /** The underlying engine server. */
  unwrap(): SdServer {
    return this.server;
  }

  // The broker's announcements (a Nest client then streams through it), the user's hook
  // (which may change them), then the name's authorisation: a refusal is Close 1001.
  private async admit(handshake: Handshake, outMetas: Metas, remoteAddress: string | undefined): Promise<boolean> {
    outMetas[NEST_STREAM_META] = '1';
    outMetas[NEST_AUTO_META] = '1';
    if ((await this.options.onHandshake?.(handshake, outMetas, remoteAddress)) === false) return false;
    const name = handshake.params[MetaKeys.BROKER_TARGET];
    if (name === undefined || name === '' || this.options.authorize?.register === undefined) return true;
    return (await this.options.authorize.register(name, handshake, remoteAddress)) !== false;
  }

  private opened(session: Session): void {
    const name = session.handshake.params[MetaKeys.BROKER_TARGET];
    if (name !== undefined && name !== '') {
      this.names.set(session, name);
      this.registry.add(name, session);
    }
    this.options.onOpen?.(session);
  }

  // Out of the rotation at once: on Close 1000 (draining) and on close.
  private left(session: Session, closing: boolean, code?: number, err?: Error): void {
    const name = this.names.get(session);
    if (name !== undefined) this.registry.remove(name, session);
    if (closing) {
      this.options.onClosing?.(session);
    } else {
      this.inFlight.delete(session);
      this.options.onClose?.(session, code!, err);
    }
  }

  private route(from: Session, message: ReceivedMessage): void {
    const at = message.meta(MetaKeys.BROKER_TARGET);
    // An empty `@=` counts as missing (as the JS broker).
    if (at === undefined || at === '') {
      from.alarm(message, "Broker message require '@' meta");
      return;
    }
    const route = parseRoute(at);
    const targets = this.registry.pick(route, from, message);
    if (targets === undefined) {
      from.alarm(message, route.kind === 'every' ? `Broker don't have '@${route.name}' player` : `Broker don't have '@${at}' session`);
      return;
    }
    if (this.options.authorize?.call !== undefined && !this.options.authorize.call(route.name, message, from)) {
      from.alarm(message, `Broker refused '@${at}' for this session`);
      return;
    }
    if (!this.roomFor(from, message, at, route, targets)) return;
    const metaString = forwardedMetas(message.metaString);
    getTelemetry()?.forwarded(route.name, targets.length);
    if (message.flag === Flags.Message) {
      for (const to of targets) relayed(to.send(message.event, message.data, { metas: metaString }), to, from);
      return;
    }
    this.inFlight.set(from, (this.inFlight.get(from) ?? 0) + 1);
    const done = (): void => {
      const n = (this.inFlight.get(from) ?? 1) - 1;
      if (n > 0) this.inFlight.set(from, n);
      else this.inFlight.delete(from);
    };
    const kindOf = message.isSubscribe && message.meta(NEST_AUTO_META) !== undefined ? autoKind : message.isSubscribe ? SUBSCRIBE : REQUEST;
    new ForwardStream(from, message, at, metaString, targets, kindOf, this.forwardTimeout, this.highWaterMark, done);
  }

  // Bounds: streams in flight per sender, bytes queued per target; a fan-out with nobody left.
  private roomFor(from: Session, message: ReceivedMessage, at: string, route: Route, targets: readonly Session[]): boolean {
    if (targets.length === 0) {
      // Upstream sends nothing; a Request/Subscribe would then wait for its timeout.
      if (message.isRequest) from.alarm(message, `Broker don't have '@${route.kind === 'all' ? '*' : route.name}' player other than the sender`);
      return false;
    }
    if (message.isRequest && (this.inFlight.get(from) ?? 0) >= this.maxForwards) {
      from.alarm(message, `Broker has ${this.maxForwards} forwards of this session unanswered (maxForwardsPerSession)`);
      return false;
    }
    for (const to of targets) {
      if (to.bufferedAmount > this.maxTargetBytes) {
        from.alarm(message, `Broker refused '@${at}': ${to.bufferedAmount} bytes already queued to a player that does not read (maxTargetBufferedBytes)`);
        return false;
      }
      // What is forwarded queues on the target's connection, charged to the server's memory budget.
      const bytes = message.data.length + FORWARD_OVERHEAD;
      if (to.memory !== undefined && !to.memory.fits(bytes)) {
        from.alarm(message, `Broker refused '@${at}': no room for ${bytes} bytes towards that player in ${to.memory.describeRefusal(bytes)}`);
        return false;
      }
    }
    return true;
  }
}

const REQUEST = (): ForwardKind => 'request';
const SUBSCRIBE = (): ForwardKind => 'subscribe';

/** A Nest client's auto Subscribe: a Subscribe to a player that streams, else a Request. */
function autoKind(to: Session): ForwardKind {
  const announced = to.handshake.params[NEST_STREAM_META];
  return announced !== undefined && Number.parseInt(announced, 10) >= 1 ? 'subscribe' : 'request';
}

/** Bytes charged per forwarded frame on top of its data (head, sid, event, metas). */
const FORWARD_OVERHEAD = 1024;

/** Creates a broker on `url` and starts listening. */
export function listenBroker(url: string, options?: BrokerOptions): Promise<SdBroker> {
  return new SdBroker(url, options).listen();
}

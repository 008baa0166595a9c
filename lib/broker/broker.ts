import { MetaKeys } from '../protocol/constants.js';
import { Flags } from '../protocol/flags.js';
import { DEFAULT_HIGH_WATER_MARK, SdServer } from '../session/index.js';
import { resolveLogger } from '../session/engine-logger.js';
import { milliseconds } from '../session/options.js';
import { getTelemetry } from '../session/telemetry.js';
import type { Handshake, Metas, ReceivedMessage, Session } from '../session/types.js';
import { BROKER_DEFAULTS, BrokerAlarmCodes, NEST_AUTO_META, NEST_STREAM_META, type BrokerOptions } from './broker-options.js';
import { ForwardQueues, forwardBytes, type QueueLimit } from './forward-queues.js';
import { ForwardStream, forwardedMetas, type ForwardContext, type ForwardKind } from './forward-stream.js';
import type { EjectionReason } from './outlier-ejection.js';
import { parseRoute, PlayerRegistry, type Route } from './player-registry.js';

/** One player as `SdBroker.playerStatus()` reports it. */
export interface PlayerStatus {
  /** The name it registered (`?@=name`). */
  readonly name: string;
  readonly session: Session;
  readonly remoteAddress: string | undefined;
  /** Forwards sent to it that have had no answer yet. */
  readonly pending: number;
  /** Bytes queued toward it (not yet taken by its socket). */
  readonly bufferedBytes: number;
  /** True while round-robin and hash routing skip it (outlier ejection). */
  readonly ejected: boolean;
  /** Why it is ejected: it holds forwards without answering, or it does not read. */
  readonly reason: EjectionReason | undefined;
}

const REFUSED = `${MetaKeys.CODE}=${BrokerAlarmCodes.FORWARD_REFUSED}`;

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
 *
 * Isolation: no peer is ever paused for another (but a fan-out's sender, one event-loop turn);
 * bytes queued toward a peer that does not read are bounded ({@link ForwardQueues}), past them
 * its own forwards or answers fail with an Alarm code=503; a player that stops answering leaves
 * round-robin and hash routing for a while (outlier ejection, `PlayerHealth`).
 */
export class SdBroker {
  private readonly server: SdServer;
  private readonly registry: PlayerRegistry;
  private readonly queues: ForwardQueues;
  private readonly names = new WeakMap<Session, string>();
  private readonly inFlight = new Map<Session, number>();
  private readonly maxForwards: number;
  /** What every forward needs of the broker: its timeout, the players' health and queues. */
  private readonly forwards: ForwardContext;

  constructor(url: string, private readonly options: BrokerOptions = {}) {
    this.maxForwards = options.maxForwardsPerSession ?? BROKER_DEFAULTS.maxForwardsPerSession;
    const highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    this.queues = new ForwardQueues(
      options.maxTargetBufferedBytes ?? BROKER_DEFAULTS.maxTargetBufferedBytes,
      options.maxBufferedBytes ?? BROKER_DEFAULTS.maxBufferedBytes,
      highWaterMark,
    );
    this.registry = new PlayerRegistry({
      ejectAfter: options.ejectAfter === undefined ? BROKER_DEFAULTS.ejectAfter : milliseconds('ejectAfter', options.ejectAfter, 0),
      ejectionTime: options.ejectionTime === undefined ? BROKER_DEFAULTS.ejectionTime : milliseconds('ejectionTime', options.ejectionTime, 1),
      highWaterMark,
    });
    const queues = this.queues;
    const registry = this.registry;
    this.forwards = {
      timeout: options.forwardTimeout === undefined ? -1 : milliseconds('forwardTimeout', options.forwardTimeout, 1),
      healthOf: (to) => registry.healthOf(to),
      charge: (to) => queues.charge(to),
      refusal: (to, bytes) => queues.refusal(to, bytes),
    };
    this.server = new SdServer(url, {
      ...options,
      onHandshake: (handshake, outMetas, remoteAddress) => this.admit(handshake, outMetas, remoteAddress),
      onOpen: (session) => this.opened(session),
      onClosing: (session) => this.left(session, true),
      onClose: (session, code, err) => this.left(session, false, code, err),
      onMessage: (session, message) => this.route(session, message),
    });
  }

  /**
   * Starts accepting players. Listening beyond loopback without `authorize.register` and
   * `authorize.call` logs one warning: anyone who can connect could then take a name's
   * traffic or call (and fan out to) every player.
   */
  async listen(): Promise<this> {
    await this.server.listen();
    getTelemetry()?.watchBroker(() => this.registry.view);
    const host = this.server.address()?.host;
    const missing = (['register', 'call'] as const).filter((hook) => this.options.authorize?.[hook] === undefined);
    if (host !== undefined && !isLoopback(host) && missing.length > 0) {
      resolveLogger(this.options.logger).warn(`Socket.D broker listening on ${host} (beyond loopback) without ${missing.map((hook) => `authorize.${hook}`).join(' and ')}: anyone who connects may register any name and call every player (README, "Limits and security")`);
    }
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

  /**
   * Every named session with its forwarding state: forwards awaiting an answer, bytes queued
   * toward it, and whether outlier ejection has taken it out of the rotation (and why).
   */
  playerStatus(): PlayerStatus[] {
    const now = Date.now();
    const out: PlayerStatus[] = [];
    for (const [name, sessions] of this.registry.view) {
      for (const session of sessions) {
        const health = this.registry.healthOf(session);
        const bufferedBytes = session.bufferedAmount;
        const reason = health.reasonAt(now, bufferedBytes);
        out.push({ name, session, remoteAddress: session.remoteAddress, pending: health.pending, bufferedBytes, ejected: reason !== undefined, reason });
      }
    }
    return out;
  }

  /** Bytes queued toward all sessions (bounded by `maxBufferedBytes`). */
  queuedBytes(): number {
    return this.queues.queuedBytes();
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
      this.queues.forget(session);
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
    if (!this.roomFor(from, message, route, targets)) return;
    const metaString = forwardedMetas(message.metaString);
    const reachable = this.withQueueRoom(from, message, at, targets, forwardBytes(message.event, metaString, message.data));
    if (reachable === undefined) return;
    getTelemetry()?.forwarded(route.name, reachable.length);
    // A fan-out costs the broker one write per copy: the sender's next frames wait for the
    // next turn of the event loop, so every other connection is served between two of them.
    if (reachable.length > 1 && from.pauseUntil !== undefined) from.pauseUntil(nextTurn());
    if (message.flag === Flags.Message) {
      for (const to of reachable) {
        to.send(message.event, message.data, { metas: metaString });
        this.queues.charge(to);
      }
      return;
    }
    this.inFlight.set(from, (this.inFlight.get(from) ?? 0) + 1);
    const kindOf = message.isSubscribe && message.meta(NEST_AUTO_META) !== undefined ? autoKind : message.isSubscribe ? SUBSCRIBE : REQUEST;
    new ForwardStream(from, message, at, metaString, reachable, kindOf, this.forwards, () => {
      const n = (this.inFlight.get(from) ?? 1) - 1;
      if (n > 0) this.inFlight.set(from, n);
      else this.inFlight.delete(from);
    });
  }

  // Bounds: streams in flight per sender; a fan-out with nobody left.
  private roomFor(from: Session, message: ReceivedMessage, route: Route, targets: readonly Session[]): boolean {
    if (targets.length === 0) {
      // Upstream sends nothing; a Request/Subscribe would then wait for its timeout.
      if (message.isRequest) from.alarm(message, `Broker don't have '@${route.kind === 'all' ? '*' : route.name}' player other than the sender`);
      return false;
    }
    if (message.isRequest && (this.inFlight.get(from) ?? 0) >= this.maxForwards) {
      from.alarm(message, `Broker has ${this.maxForwards} forwards of this session unanswered (maxForwardsPerSession)`);
      return false;
    }
    return true;
  }

  // Bytes (ForwardQueues): the targets with room for `bytes` more, when a fan-out's copies fit
  // together. A player that does not read loses its own forwards, never the sender's flow.
  // Undefined (the sender got an Alarm code=503) when no target is left or the copies do not
  // fit; a Message fanned out to fewer than all gets that Alarm too, naming how many it missed.
  private withQueueRoom(from: Session, message: ReceivedMessage, at: string, targets: readonly Session[], bytes: number): readonly Session[] | undefined {
    let limit: QueueLimit | undefined;
    const fits = (to: Session): boolean => {
      const refused = this.queues.refusal(to, bytes);
      limit ??= refused;
      return refused === undefined;
    };
    const reachable = targets.length === 1 ? (fits(targets[0]!) ? targets : []) : targets.filter(fits);
    if (reachable.length === 0) {
      const what = targets.length === 1 ? `its player does not read (${targets[0]!.bufferedAmount} bytes queued to it)` : `none of its ${targets.length} players reads`;
      from.alarm(message, `Broker refused '@${at}': ${what} (${limit})`, REFUSED);
      return undefined;
    }
    if (reachable.length > 1 && !this.queues.fitsFanOut(bytes, reachable.length)) {
      from.alarm(message, `Broker refused '@${at}': ${reachable.length} × ${bytes} bytes do not fit in what it may queue (maxBufferedBytes)`, REFUSED);
      return undefined;
    }
    if (reachable.length < targets.length && message.flag === Flags.Message) {
      from.alarm(message, `Broker skipped ${targets.length - reachable.length} of the ${targets.length} players of '@${at}': they do not read (${limit})`, REFUSED);
    }
    return reachable;
  }
}

const REQUEST = (): ForwardKind => 'request';
const SUBSCRIBE = (): ForwardKind => 'subscribe';

/** A Nest client's auto Subscribe: a Subscribe to a player that streams, else a Request. */
function autoKind(to: Session): ForwardKind {
  const announced = to.handshake.params[NEST_STREAM_META];
  return announced !== undefined && Number.parseInt(announced, 10) >= 1 ? 'subscribe' : 'request';
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^(::ffff:)?127\./.test(host);
}

/** Creates a broker on `url` and starts listening. */
export function listenBroker(url: string, options?: BrokerOptions): Promise<SdBroker> {
  return new SdBroker(url, options).listen();
}

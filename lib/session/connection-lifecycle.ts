import type { ClientStatus } from './types.js';

/**
 * The states of a client's connection (spec section 6.2), plus `idle` (no connection and none
 * planned) and `backoff` (a reconnect is scheduled).
 *
 *   idle --connect--> connecting --transportUp--> handshaking --connack--> open
 *     ^                   |                           |                    |  \--closeStarting--> connecting (the old
 *     |                   +------- failed ------------+                    |      session drains on its own)
 *     +-- (no retry) -----+-> backoff --retryDue--> connecting             +--dropped--> backoff | idle
 *   any state --close--> closed (terminal)
 *
 * `failed` and `dropped` go to `backoff` when the event says the client retries, else `idle`.
 */
export type LifecycleState = 'idle' | 'connecting' | 'handshaking' | 'open' | 'backoff' | 'closed';

/** What happens to a client's connection. */
export type LifecycleEvent =
  | 'connect' // a caller wants a session
  | 'transportUp' // the transport connected; the Connect frame is out
  | 'connack' // the server accepted the handshake
  | 'failed' // the transport or the handshake failed (or closed before the client saw it open)
  | 'closeStarting' // the open session got or sent Close 1000: start nothing new on it
  | 'dropped' // the open session closed
  | 'retryDue' // the backoff timer fired
  | 'close'; // the user closed the client

/** A cell of the table: the next state, or [next when the client retries, next when not]. */
type Target = LifecycleState | readonly [LifecycleState, LifecycleState];

/**
 * Every state × event that changes something; any other pair is ignored (dispatch returns
 * false): a late transport callback after `close`, a second `connect` while connecting, ...
 */
export const TRANSITIONS: Readonly<Record<LifecycleState, Partial<Record<LifecycleEvent, Target>>>> = {
  idle: { connect: 'connecting', close: 'closed' },
  connecting: { transportUp: 'handshaking', failed: ['backoff', 'idle'], close: 'closed' },
  handshaking: { connack: 'open', failed: ['backoff', 'idle'], close: 'closed' },
  open: { closeStarting: 'connecting', dropped: ['backoff', 'idle'], close: 'closed' },
  backoff: { retryDue: 'connecting', close: 'closed' },
  closed: {},
};

/** Reconnect and heartbeat settings (the client's resolved options). */
export interface LifecycleConfig {
  readonly reconnectDelay: number;
  readonly maxReconnectDelay: number;
  readonly heartbeatInterval: number;
}

/** What the lifecycle makes its client do. */
export interface LifecycleEffects {
  /** Start one connect attempt (entering `connecting`). */
  startAttempt(): void;
  /** Send a heartbeat Ping on the open session. */
  ping(): void;
  /** The client's status changed. */
  status(status: ClientStatus): void;
}

type Timer = ReturnType<typeof setTimeout>;

/**
 * One client connection's state machine ({@link TRANSITIONS}), its reconnect backoff
 * (`reconnectDelay` doubling up to `maxReconnectDelay`, ±20 % jitter, reset once open) and
 * its one heartbeat timer (running only while `open`). Free of Node imports: the browser
 * bundle runs it too.
 */
export class ConnectionLifecycle {
  private stateValue: LifecycleState = 'idle';
  private statusValue: ClientStatus = 'disconnected';
  private everOpen = false;
  private delay: number;
  private retryTimer: Timer | undefined;
  private retryAt: number | undefined;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(private readonly config: LifecycleConfig, private readonly effects: LifecycleEffects) {
    this.delay = config.reconnectDelay;
  }

  get state(): LifecycleState {
    return this.stateValue;
  }

  get status(): ClientStatus {
    return this.statusValue;
  }

  /** True once a session was open (later attempts are reconnects). */
  get wasOpen(): boolean {
    return this.everOpen;
  }

  /** When the scheduled reconnect starts (`Date.now()` ms), while in `backoff`. */
  get nextRetryAt(): number | undefined {
    return this.retryAt;
  }

  /** True while the heartbeat timer runs (tests count it). */
  get heartbeatRunning(): boolean {
    return this.heartbeat !== undefined;
  }

  /**
   * Applies `event`; `retry` picks the target of `failed` and `dropped`. Returns false (and
   * changes nothing) when the table has no cell for the pair.
   */
  dispatch(event: LifecycleEvent, retry = false): boolean {
    const from = this.stateValue;
    const target = TRANSITIONS[from][event];
    if (target === undefined) return false;
    const to = typeof target === 'string' ? target : target[retry ? 0 : 1];
    this.stateValue = to;
    this.leave(from, to);
    this.enter(to, from);
    for (const wake of [...this.waiters]) wake();
    return true;
  }

  /** Calls `fn` after every transition until the returned function is called. */
  onTransition(fn: () => void): () => void {
    this.waiters.add(fn);
    return () => this.waiters.delete(fn);
  }

  private leave(from: LifecycleState, to: LifecycleState): void {
    if (from === 'open') this.stopHeartbeat();
    if (from === 'backoff') {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.retryAt = undefined;
    }
    // A lost session is reported before the reconnect that follows it.
    if (from === 'open' && to !== 'closed') this.setStatus('disconnected');
  }

  private enter(to: LifecycleState, from: LifecycleState): void {
    switch (to) {
      case 'connecting':
        this.setStatus(this.everOpen ? 'reconnecting' : 'connecting');
        this.effects.startAttempt();
        return;
      case 'open':
        this.everOpen = true;
        this.delay = this.config.reconnectDelay;
        this.startHeartbeat();
        this.setStatus('connected');
        return;
      case 'backoff':
        this.scheduleRetry();
        this.setStatus('reconnecting');
        return;
      case 'idle':
        this.setStatus('disconnected');
        return;
      case 'closed':
        this.setStatus('closed');
        return;
      default:
        void from;
    }
  }

  private scheduleRetry(): void {
    const delay = Math.round(this.delay * (0.8 + Math.random() * 0.4));
    this.delay = Math.min(this.delay * 2, this.config.maxReconnectDelay);
    this.retryAt = Date.now() + delay;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.dispatch('retryDue');
    }, delay);
    // Node: a pending reconnect does not keep the process alive (browsers' timers are numbers).
    (this.retryTimer as { unref?: () => void }).unref?.();
  }

  private startHeartbeat(): void {
    this.stopHeartbeat(); // one timer, whatever came before
    const interval = this.config.heartbeatInterval;
    if (interval <= 0) return;
    this.heartbeat = setInterval(() => this.effects.ping(), interval);
    (this.heartbeat as { unref?: () => void }).unref?.();
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  private setStatus(status: ClientStatus): void {
    if (status === this.statusValue) return;
    this.statusValue = status;
    this.effects.status(status);
  }
}

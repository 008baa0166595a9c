import type { ReceivedMessage, Session } from '../session/types.js';
import { hashIndex } from '../session/cluster-balance.js';
import { hostOf } from './broker-options.js';
import { PlayerHealth, type EjectionSettings } from './outlier-ejection.js';

/** How a `@` value addresses players (spec section 10). */
export type Route =
  | { readonly kind: 'one'; readonly name: string }      // name: round-robin
  | { readonly kind: 'hash'; readonly name: string }     // name!: hash of X-Hash or the host
  | { readonly kind: 'every'; readonly name: string }    // name*: every session but the sender
  | { readonly kind: 'all'; readonly name: '*' };        // *: every named session but the sender

/** Parses a non-empty `@` value. */
export function parseRoute(at: string): Route {
  if (at === '*') return { kind: 'all', name: '*' };
  if (at.endsWith('!')) return { kind: 'hash', name: at.slice(0, -1) };
  if (at.endsWith('*')) return { kind: 'every', name: at.slice(0, -1) };
  return { kind: 'one', name: at };
}

/**
 * The named sessions ("players") of a broker, by name, in registration order. A session
 * leaves at once when it closes or announces closing (Close 1000), so it is out of the
 * rotation before its forwards are failed. Round-robin and hash routing skip ejected players
 * ({@link PlayerHealth}) while another of the name is not; when all are, they pick as if none
 * were (as Envoy's panic threshold: a name never becomes unreachable by ejection).
 */
export class PlayerRegistry {
  private readonly byName = new Map<string, Session[]>();
  private readonly counters = new Map<string, number>();
  private readonly health = new WeakMap<Session, PlayerHealth>();

  constructor(private readonly ejection: EjectionSettings) {}

  /** A read-only view: name -> open sessions. */
  get view(): ReadonlyMap<string, readonly Session[]> {
    return this.byName;
  }

  /** The health record of a session (created for any session a forward goes to). */
  healthOf(session: Session): PlayerHealth {
    let health = this.health.get(session);
    if (health === undefined) {
      health = new PlayerHealth(this.ejection);
      this.health.set(session, health);
    }
    return health;
  }

  add(name: string, session: Session): void {
    const list = this.byName.get(name);
    if (list === undefined) this.byName.set(name, [session]);
    else list.push(session);
  }

  remove(name: string, session: Session): void {
    const list = this.byName.get(name);
    if (list === undefined) return;
    const i = list.indexOf(session);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) {
      this.byName.delete(name);
      this.counters.delete(name);
    }
  }

  /**
   * The targets of `route` for a message from `from`: undefined when no player has the name
   * (the caller answers "don't have"), possibly empty for `name*` / `*` when the sender is the
   * only one.
   */
  pick(route: Route, from: Session, message: ReceivedMessage): Session[] | undefined {
    if (route.kind === 'all') {
      const all: Session[] = [];
      for (const list of this.byName.values()) for (const s of list) if (s !== from && s.isOpen) all.push(s);
      return all;
    }
    const list = this.byName.get(route.name)?.filter((s) => s.isOpen);
    if (list === undefined || list.length === 0) return undefined;
    switch (route.kind) {
      case 'one': {
        const n = this.counters.get(route.name) ?? 0;
        this.counters.set(route.name, (n + 1) % 1_000_000);
        return [this.firstPickable(list, n % list.length)];
      }
      case 'hash': {
        // An ejected player's keys move to the next one in line; the others' keys stay put.
        const key = message.meta('X-Hash') ?? hostOf(from.remoteAddress);
        return [this.firstPickable(list, hashIndex(key, list.length))];
      }
      case 'every':
        return list.filter((s) => s !== from);
    }
  }

  // From `start` on, the first player not ejected; `list[start]` when every one is.
  private firstPickable(list: readonly Session[], start: number): Session {
    const now = Date.now();
    for (let i = 0; i < list.length; i++) {
      const session = list[(start + i) % list.length]!;
      const health = this.healthOf(session);
      if (health.ejection(now, session.bufferedAmount) === undefined) {
        health.picked();
        return session;
      }
    }
    return list[start]!;
  }
}

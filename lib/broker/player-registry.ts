import type { ReceivedMessage, Session } from '../session/types.js';
import { hashIndex } from '../session/cluster-balance.js';
import { hostOf } from './broker-options.js';

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
 * rotation before its forwards are failed.
 */
export class PlayerRegistry {
  private readonly byName = new Map<string, Session[]>();
  private readonly counters = new Map<string, number>();

  /** A read-only view: name -> open sessions. */
  get view(): ReadonlyMap<string, readonly Session[]> {
    return this.byName;
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
        return [list[n % list.length]!];
      }
      case 'hash': {
        const key = message.meta('X-Hash') ?? hostOf(from.remoteAddress);
        return [list[hashIndex(key, list.length)]!];
      }
      case 'every':
        return list.filter((s) => s !== from);
    }
  }
}

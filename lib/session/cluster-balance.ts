import { socketDError } from '../protocol/errors.js';

// A comma that starts the next URL: one followed by `[sd:]<schema>://`. A comma inside a
// URL's query (`?tags=a,b`) is kept, so a single URL never turns into a list by accident.
const LIST_SEPARATOR = /\s*,\s*(?=(?:sd:)?[A-Za-z][A-Za-z0-9+.-]*:\/\/)/;

/** Upstream's round-robin counter wraps after this value (Java `ClusterClientSession`). */
export const ROUND_ROBIN_WRAP = 999_999;

/** True when `url` is a comma-separated list of several URLs (spec section 10). */
export function isUrlList(url: string): boolean {
  return LIST_SEPARATOR.test(url);
}

/**
 * The URLs of a cluster: a list and/or comma-separated strings (spec section 10), trimmed,
 * without empty entries, in the order given. A comma splits only where the next URL starts.
 *
 * @throws SocketDError `SOCKETD_ERR_INVALID_ARGUMENT` when no URL is left.
 */
export function clusterUrls(urls: string | readonly string[]): string[] {
  const list: unknown[] = typeof urls === 'string' ? [urls] : Array.isArray(urls) ? [...urls] : [urls];
  const out: string[] = [];
  for (const entry of list) {
    if (typeof entry !== 'string') throw socketDError('INVALID_ARGUMENT', `cluster URLs must be strings, got ${typeof entry}`);
    for (const url of entry.split(LIST_SEPARATOR)) {
      const trimmed = url.trim().replace(/,+$/, '');
      if (trimmed.length > 0) out.push(trimmed);
    }
  }
  if (out.length === 0) throw socketDError('INVALID_ARGUMENT', 'a cluster client needs at least one URL');
  return out;
}

/**
 * Java's `String.hashCode` (`h = 31 * h + c` over UTF-16 code units, 32-bit wrap), so the same
 * key picks the same index as an upstream cluster client with the same active sessions.
 */
export function stringHash(key: string): number {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (Math.imul(31, h) + key.charCodeAt(i)) | 0;
  return h;
}

/** The index `key` maps to among `count` active sessions: `abs(hashCode) % count`. */
export function hashIndex(key: string, count: number): number {
  return Math.abs(stringHash(key)) % count;
}

/** Upstream's round-robin: one counter per client, wrapping after {@link ROUND_ROBIN_WRAP}. */
export class RoundRobin {
  private counter = 0;

  /** The next index among `count` active sessions. */
  next(count: number): number {
    this.counter = this.counter >= ROUND_ROBIN_WRAP ? 0 : this.counter + 1;
    return this.counter % count;
  }
}

/**
 * The `metaString` of a message (spec section 4.1): `k1=v1&k2=v2`, query-string shaped but
 * with no escaping of any kind. Upstream writes and reads raw strings.
 */
import { socketDError } from './errors.js';

/** Metadata of a message. Structurally identical to `Metas` of the session layer. */
export type Metas = Record<string, string>;

/**
 * Parses a metaString the way Java and JavaScript peers do (spec 4.1): split on every `&`;
 * in each piece the FIRST `=` splits key and value (the value may hold more `=`); pieces
 * without `=` or starting with `=` are ignored; the last duplicate wins.
 *
 * Returns a null-prototype object, so keys like `__proto__` or `constructor` are plain keys.
 *
 * @example parseMetas('a=1&b=&=c&d&e=x=y&a=2') // { a: '2', b: '', e: 'x=y' }
 */
export function parseMetas(metaString: string): Metas {
  const metas: Metas = Object.create(null) as Metas;
  const n = metaString.length;
  if (n === 0) return metas;
  let start = 0;
  // Position of the next '=' at or after `start`; reused while it lies beyond the current
  // piece, so a long run of pieces without '=' is scanned once, not once per piece.
  let eq = metaString.indexOf('=');
  while (start < n) {
    let amp = metaString.indexOf('&', start);
    if (amp === -1) amp = n;
    if (eq !== -1 && eq < start) eq = metaString.indexOf('=', start);
    if (eq === -1) break;
    if (eq > start && eq < amp) metas[metaString.slice(start, eq)] = metaString.slice(eq + 1, amp);
    start = amp + 1;
  }
  return metas;
}

function checkKey(key: string): void {
  if (key.length === 0 || key.includes('&') || key.includes('=')) {
    throw socketDError('INVALID_ARGUMENT', `meta key ${JSON.stringify(key)} must be non-empty and contain neither '&' nor '='`, { key });
  }
}

function checkValue(key: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.includes('&')) {
    throw socketDError('INVALID_ARGUMENT', `meta ${JSON.stringify(key)} must be a string without '&'`, { key });
  }
}

/**
 * Serializes metas as `key=value` joined by `&`, in the object's own-key order (insertion
 * order, except that integer-like keys come first, as for any JS object). Empty metas give `''`.
 *
 * Values may contain `=` (kept verbatim), though Python peers truncate them there (spec 4.1).
 *
 * @throws `SOCKETD_ERR_INVALID_ARGUMENT` for an empty key, a key containing `&` or `=`, or a
 *   value that is not a string or contains `&`: no escaping exists to carry them.
 */
export function serializeMetas(metas: Readonly<Metas>): string {
  let out = '';
  for (const key of Object.keys(metas)) {
    const value = metas[key];
    checkKey(key);
    checkValue(key, value);
    out = out.length === 0 ? `${key}=${value}` : `${out}&${key}=${value}`;
  }
  return out;
}

/**
 * Appends `extra` to a raw metaString without re-serialising it, so the original bytes are
 * kept (spec 4.1: re-emit a received metaString unchanged). A key already present is
 * overridden for readers, since the last duplicate wins.
 *
 * @example appendMetas('a=1', { code: '3001' }) // 'a=1&code=3001'
 * @throws `SOCKETD_ERR_INVALID_ARGUMENT` as {@link serializeMetas}.
 */
export function appendMetas(metaString: string, extra: Readonly<Metas>): string {
  const tail = serializeMetas(extra);
  if (tail.length === 0) return metaString;
  if (metaString.length === 0) return tail;
  return `${metaString}&${tail}`;
}

/**
 * Removes every piece whose key is `key` from a raw metaString, keeping the other pieces
 * verbatim and in order. Returns the input itself when the key is absent.
 *
 * @example removeMeta('Data-Fragment-Idx=1&a=1', 'Data-Fragment-Idx') // 'a=1'
 */
export function removeMeta(metaString: string, key: string): string {
  const prefix = `${key}=`;
  if (!metaString.startsWith(prefix) && !metaString.includes(`&${prefix}`)) return metaString;
  const kept = metaString.split('&').filter((piece) => !piece.startsWith(prefix));
  return kept.join('&');
}

import { MetaKeys } from '../protocol/constants.js';
import { parseMetas } from '../protocol/metas.js';
import type { Frame } from '../protocol/frame.js';
import type { Handshake, Metas } from './types.js';

/** The handshake a Connect (server side) or Connack (client side) frame describes. */
export function describeHandshake(frame: Frame): Handshake {
  return buildHandshake(frame.data.length > 0 ? frame.data.toString('utf8') : frame.event, frame.metaString);
}

/**
 * Builds the handshake view of a Connect (server side) or Connack (client side) frame
 * (spec section 6.1): path and query come from the URL in `data` (or `event` when empty),
 * the query is percent-decoded like Java (`%41` -> `A`, `+` kept), then every meta of the
 * frame is merged in, overriding query params of the same name.
 */
export function buildHandshake(url: string, metaString: string): Handshake {
  const { path, query } = splitUrl(url);
  const params: Metas = Object.create(null);
  if (query.length > 0) {
    for (const piece of query.split('&')) {
      const eq = piece.indexOf('=');
      if (eq <= 0) continue;
      params[percentDecode(piece.slice(0, eq))] = percentDecode(piece.slice(eq + 1));
    }
  }
  const metas = parseMetas(metaString);
  for (const key in metas) params[key] = metas[key]!;
  return { url, path, params, version: metas[MetaKeys.VERSION] };
}

/** Path (`/` when empty) and raw query of `schema://host[:port][/path][?query]`. */
export function splitUrl(url: string): { path: string; query: string } {
  const schemeEnd = url.indexOf('://');
  const authorityStart = schemeEnd < 0 ? 0 : schemeEnd + 3;
  const q = url.indexOf('?', authorityStart);
  const beforeQuery = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  const slash = beforeQuery.indexOf('/', authorityStart);
  const path = slash < 0 ? '/' : beforeQuery.slice(slash) || '/';
  return { path, query };
}

function percentDecode(text: string): string {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    // Java's decoder would throw too; a malformed escape is kept as written rather than
    // failing the whole handshake.
    return text;
  }
}

import { DEFAULT_PORT } from '../protocol/constants.js';
import { socketDError } from '../protocol/errors.js';
import type { ParsedUrl, Transport } from './connection.js';
import { findTransport, registeredSchemas } from './transport-registry.js';

// IPv6 literal, as node:net's isIPv6 (Node's own regex, zone id included): kept here so the
// session layer runs in a browser too (the `nestjs-socketd/browser` bundle has no node:net).
const V4_SEG = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])';
const V4 = `(?:${V4_SEG}\\.){3}${V4_SEG}`;
const V6_SEG = '(?:[0-9a-fA-F]{1,4})';
const IPV6_RE = new RegExp('^(?:' +
  `(?:${V6_SEG}:){7}(?:${V6_SEG}|:)|` +
  `(?:${V6_SEG}:){6}(?:${V4}|:${V6_SEG}|:)|` +
  `(?:${V6_SEG}:){5}(?::${V4}|(?::${V6_SEG}){1,2}|:)|` +
  `(?:${V6_SEG}:){4}(?:(?::${V6_SEG}){0,1}:${V4}|(?::${V6_SEG}){1,3}|:)|` +
  `(?:${V6_SEG}:){3}(?:(?::${V6_SEG}){0,2}:${V4}|(?::${V6_SEG}){1,4}|:)|` +
  `(?:${V6_SEG}:){2}(?:(?::${V6_SEG}){0,3}:${V4}|(?::${V6_SEG}){1,5}|:)|` +
  `(?:${V6_SEG}:){1}(?:(?::${V6_SEG}){0,4}:${V4}|(?::${V6_SEG}){1,6}|:)|` +
  `(?::(?:(?::${V6_SEG}){0,5}:${V4}|(?::${V6_SEG}){1,7}|:))` +
  ')(?:%[0-9a-zA-Z-.:]{1,})?$');

function isIPv6(host: string): boolean {
  return IPV6_RE.test(host);
}

// schema "://" authority [path] ["?" query]; the authority ends at the first '/', '?' or '#'.
const URL_RE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?$/;
// host (a bracketed IPv6 literal or a name/IPv4 without ':') then an optional ":port".
const AUTHORITY_RE = /^(\[[^\]]*\]|[^:[\]@]+)(?::(\d*))?$/;

/**
 * Parses a Socket.D URL: `[sd:]<schema>://host[:port][/path][?query]` (spec section 3.4).
 *
 * - `schema` is the canonical schema of the transport that serves it (one of `transports`,
 *   else a registered one)
 *   (case-insensitive; aliases such as `tcp-java` or `ws-python` give `tcp`, `ws`).
 * - `linkUrl` is the input without its leading `sd:`, verbatim (case and alias kept).
 * - `host` has no brackets for IPv6 (`[::1]` gives `::1`), ready for `net.connect`.
 * - `port` defaults to 8602; 0 is allowed (a server binding a random port).
 * - `path` is `/` when empty; `query` is the raw text after `?` (no decoding).
 *
 * @throws SocketDError `SOCKETD_ERR_BAD_URL` for anything else (unknown schema, no host,
 *   bad port, user info, a `#fragment`, whitespace): no transport is registered for the schema,
 *   or the URL is malformed.
 */
export function parseUrl(url: string, transports?: readonly Transport[]): ParsedUrl {
  if (typeof url !== 'string' || url.length === 0) throw badUrl(url, 'empty URL');
  if (/\s/.test(url)) throw badUrl(url, 'whitespace is not allowed');
  const linkUrl = url.length > 3 && url.slice(0, 3).toLowerCase() === 'sd:' ? url.slice(3) : url;

  const m = URL_RE.exec(linkUrl);
  if (m === null) {
    if (linkUrl.includes('#')) throw badUrl(url, 'a #fragment is not allowed');
    throw badUrl(url, 'expected [sd:]<schema>://host[:port][/path][?query]');
  }
  const [, rawSchema, authority, rawPath, rawQuery] = m;
  const schema = findTransport(rawSchema!, transports)?.schema;
  if (schema === undefined) {
    throw badUrl(url, `unsupported schema '${rawSchema}' (supported: ${registeredSchemas(transports).join(', ')})`);
  }
  if (authority === '') throw badUrl(url, 'missing host');
  if (authority!.includes('@')) throw badUrl(url, 'user info is not allowed');

  const a = AUTHORITY_RE.exec(authority!);
  if (a === null) throw badUrl(url, `bad host '${authority}' (IPv6 hosts need brackets: [::1])`);
  let host = a[1]!;
  if (host.startsWith('[')) {
    host = host.slice(1, -1);
    if (!isIPv6(host)) throw badUrl(url, `bad IPv6 address '${host}'`);
  }
  const rawPort = a[2];
  let port = DEFAULT_PORT;
  if (rawPort !== undefined) {
    if (rawPort === '') throw badUrl(url, 'empty port after ":"');
    port = Number(rawPort);
    if (port > 65535) throw badUrl(url, `port ${rawPort} out of range 0..65535`);
  }

  return {
    schema,
    linkUrl,
    host,
    port,
    path: rawPath === '' ? '/' : rawPath!,
    query: rawQuery ?? '',
  };
}

function badUrl(url: unknown, why: string) {
  return socketDError('BAD_URL', `Bad Socket.D URL ${JSON.stringify(url)}: ${why}`);
}

/**
 * The options the shipped transports take beyond the contract's `TransportOptions`, added to
 * the session's `TransportClientOptions` / `TransportServerOptions` by declaration merging:
 * `ClientOptions` and `ServerOptions` (and Nest's options) keep these keys where users put
 * them, typed here, while lib/session passes them through without knowing them.
 */
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { ConnectionOptions as TlsConnectionOptions, TlsOptions } from 'node:tls';
import { socketDError } from '../protocol/errors.js';

/**
 * TLS settings of a client (`wss`, `tcps`, or `tcp` with TLS): all optional. `ca` to trust a
 * private CA, `cert`/`key` (or `pfx`) for a client certificate, `servername` for the name the
 * server's certificate must carry when it is not the URL's host.
 */
export type TlsClientOptions = Pick<TlsConnectionOptions, 'ca' | 'cert' | 'key' | 'pfx' | 'passphrase' | 'rejectUnauthorized' | 'servername' | 'checkServerIdentity' | 'minVersion' | 'maxVersion' | 'ciphers'>;

/**
 * TLS settings of a tcp server (node:tls `TlsOptions`): `key` + `cert` (or `pfx`, or a
 * `secureContext`/`SNICallback`) are required; `ca` + `requestCert` + `rejectUnauthorized`
 * ask for and check client certificates (mutual TLS).
 */
export type TlsServerOptions = Pick<TlsOptions, 'key' | 'cert' | 'ca' | 'pfx' | 'passphrase' | 'crl' | 'requestCert' | 'rejectUnauthorized' | 'ciphers' | 'minVersion' | 'maxVersion' | 'ecdhCurve' | 'secureContext' | 'SNICallback' | 'sessionTimeout'>;

/** Default `maxDatagramSize` of `sd:udp`: upstream's receive buffer (`maxUdpSize`, spec 3.3 and 11). */
export const DEFAULT_MAX_DATAGRAM_SIZE = 2048;
/** Largest `maxDatagramSize`: the largest UDP payload over IPv4. */
export const MAX_DATAGRAM_SIZE = 65_507;
/** Smallest `maxDatagramSize`: room for a Connect with a short URL. */
const MIN_DATAGRAM_SIZE = 64;

declare module '../session/connection.js' {
  interface TransportClientOptions {
    /**
     * TLS settings (`ca`, `cert`, `key`, `rejectUnauthorized`, `servername`, ...) for `wss://`
     * and `tcps://`; given with an `sd:tcp://` URL they make it dial TLS too (as upstream Java
     * does once an SSL context is set). Default: none (tcps then trusts Node's root CAs).
     */
    tls?: TlsClientOptions;
    /**
     * `sd:udp` only: the largest datagram sent or accepted, in bytes, 64..65 507. Default 2048
     * (upstream's `maxUdpSize`). Over udp a frame is never fragmented: a send, request or reply
     * whose frame would be longer fails alone with SOCKETD_ERR_DATAGRAM_TOO_LARGE (nothing sent),
     * and longer datagrams received are dropped (counted in the server's `transportStats()`).
     */
    maxDatagramSize?: number;
  }
  interface TransportServerOptions {
    /** WebSocket: refuse upgrades that do not offer the `Socket.D` subprotocol. Default true. */
    requireSubprotocol?: boolean;
    /** WebSocket: attach to this `http.Server` (or `https.Server`) instead of opening a port. */
    httpServer?: HttpServer | HttpsServer;
    /**
     * `sd:tcp` / `sd:tcps`: serve TLS (node:tls options: `key` + `cert` or `pfx`; `ca`,
     * `requestCert: true` and `rejectUnauthorized: true` for client certificates). Frames are
     * the same inside TLS. Required by `sd:tcps`; refused by transports that cannot serve TLS
     * (for wss pass an `https.Server` as `httpServer`). Default: none (plain tcp).
     */
    tls?: TlsServerOptions;
    /** `sd:udp` only: see `TransportClientOptions.maxDatagramSize`. Default 2048. */
    maxDatagramSize?: number;
    /**
     * `sd:udp`: also accept clients that do not carry a udp token (upstream Java peers), trusting
     * their source address: a forged datagram can then close or act in their session, and their
     * Connects are not held apart from proven ones. Trusted networks only. Default false: such a
     * Connect gets Close 1001 (counted in `transportStats().refusedTokenless`, logged).
     */
    udpAllowTokenless?: boolean;
  }
}

/** `tls` is absent or an object of node:tls options (not `true`: there is no default certificate). */
export function checkTlsOption<T>(value: T | undefined): T | undefined {
  if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    throw socketDError('INVALID_ARGUMENT', `tls must be an object of node:tls options (key, cert, ca, ...), got ${value === null ? 'null' : typeof value}`);
  }
  return value;
}

/** `maxDatagramSize` (default 2048), checked: an integer in 64..65 507. */
export function checkDatagramSize(value: number | undefined): number {
  const size = value ?? DEFAULT_MAX_DATAGRAM_SIZE;
  if (!Number.isInteger(size) || size < MIN_DATAGRAM_SIZE || size > MAX_DATAGRAM_SIZE) {
    throw socketDError('INVALID_ARGUMENT', `maxDatagramSize must be an integer in ${MIN_DATAGRAM_SIZE}..${MAX_DATAGRAM_SIZE}, got ${size}`);
  }
  return size;
}

import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { socketDError } from '../protocol/errors.js';
import type { TlsServerOptions, TransportLogger } from '../session/connection.js';
import { serverTlsReason, TLS_FATAL_ALERT, TLS_HANDSHAKE_RECORD } from './tls-errors.js';

/** Refused renegotiations are logged at most once per this many milliseconds. */
const RENEGOTIATION_LOG_INTERVAL = 5000;
/** Milliseconds a refused plain client gets to read the TLS alert before its socket is destroyed. */
const REFUSED_LINGER = 2000;

/** One accepted socket between its first byte and the end of its TLS handshake. */
interface Pending {
  readonly address: string;
  readonly acceptedAt: number;
  readonly timer: NodeJS.Timeout;
  /** Set once the handshake succeeded or a failure was logged: the close is then not logged. */
  settled: boolean;
}

/**
 * The TLS side of a tcp server. Every accepted socket (already admitted by the connection
 * limits) is given here; its first byte says what the client speaks:
 *
 *     16 (TLS handshake record) -> handed to a node:tls server -> onSecure(TLSSocket)
 *     anything else             -> a plain client: a fatal TLS alert back, a log line, closed
 *
 * so a plain Socket.D client (its Connect frame starts 00) fails at once with a hint instead
 * of waiting for an answer that never comes. Every failed handshake is logged with the
 * client's address (`SOCKETD_ERR_TLS`); the session's handshake timeout starts at accept.
 * A client that asks for a renegotiation once connected is logged and dropped.
 */
export class TlsAcceptor {
  private readonly server: TlsServer;
  /** By `ip:port` of the client (the TLSSocket hides the socket it wraps). */
  private readonly pending = new Map<string, Pending>();
  private renegotiationsRefused = 0;
  private lastRenegotiationLog = -Infinity;

  /**
   * @throws SocketDError `SOCKETD_ERR_INVALID_ARGUMENT` when the options hold no certificate
   *   or node:tls cannot use them (bad PEM, wrong passphrase).
   */
  constructor(
    tls: TlsServerOptions,
    private readonly handshakeTimeout: number,
    private readonly logger: TransportLogger | undefined,
    private readonly onSecure: (socket: TLSSocket, acceptedAt: number) => void,
  ) {
    const hasIdentity = (tls.key !== undefined && tls.cert !== undefined) || tls.pfx !== undefined
      || tls.secureContext !== undefined || tls.SNICallback !== undefined;
    if (!hasIdentity) {
      throw socketDError('INVALID_ARGUMENT', 'tls: a TLS server needs key and cert (or pfx, secureContext, SNICallback)');
    }
    try {
      // The handshake timeout below covers the handshake; node's own (120 s) is only a backstop.
      this.server = createTlsServer({ ...tls, handshakeTimeout: handshakeTimeout + 1000 });
    } catch (err) {
      throw socketDError('INVALID_ARGUMENT', `tls: ${(err as Error).message}`, { cause: err });
    }
    this.server.on('secureConnection', (socket: TLSSocket) => {
      const entry = this.pending.get(keyOf(socket.remoteAddress, socket.remotePort));
      if (entry === undefined || entry.settled) {
        // Its raw socket closed or timed out meanwhile.
        socket.destroy();
        return;
      }
      entry.settled = true;
      clearTimeout(entry.timer);
      this.refuseRenegotiation(socket, entry.address);
      this.onSecure(socket, entry.acceptedAt);
    });
    this.server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      // A hang-up has no address left: the raw socket's close logs it.
      const entry = this.pending.get(keyOf(socket.remoteAddress, socket.remotePort));
      if (entry === undefined || entry.settled) return;
      entry.settled = true;
      this.warn(entry.address, serverTlsReason(err));
    });
  }

  /** Takes over an accepted (paused) socket. */
  accept(raw: Socket, acceptedAt: number): void {
    const key = keyOf(raw.remoteAddress, raw.remotePort);
    const address = formatAddress(raw.remoteAddress, raw.remotePort);
    const entry: Pending = {
      address,
      acceptedAt,
      settled: false,
      timer: setTimeout(() => {
        if (entry.settled) return;
        entry.settled = true;
        this.warn(address, `no TLS handshake within handshakeTimeout ${this.handshakeTimeout} ms`);
        raw.destroy();
      }, this.handshakeTimeout),
    };
    entry.timer.unref();
    this.pending.set(key, entry);
    // Errors surface through the TLS server or the close below; without a listener one would throw.
    raw.on('error', () => undefined);
    raw.once('close', () => {
      clearTimeout(entry.timer);
      if (this.pending.get(key) === entry) this.pending.delete(key);
      if (entry.settled) return;
      entry.settled = true;
      this.warn(address, 'the client closed the connection during the TLS handshake (does it trust this server\'s certificate?) or its certificate was refused');
    });
    raw.once('data', (chunk: Buffer) => {
      raw.pause();
      if (chunk[0] === TLS_HANDSHAKE_RECORD) {
        // node:tls reads what is buffered on the socket it wraps, so nothing is lost.
        raw.unshift(chunk);
        this.server.emit('connection', raw);
      } else {
        this.refusePlain(raw, chunk, entry);
      }
    });
    raw.resume();
  }

  /** The node:tls server (for `unwrap()` users who want its events). */
  unwrap(): TlsServer {
    return this.server;
  }

  /**
   * Client-initiated renegotiation (TLS 1.2; 1.3 has none) makes the server redo the costly
   * side of a handshake on demand, and Node only objects after 3 of them per 10 minutes
   * (`ERR_TLS_SESSION_ATTACK`) without closing anything. Refused at the first attempt: the
   * socket errors with `ERR_TLS_RENEGOTIATION_DISABLED`, which closes it (the session then
   * closes as for any transport error) and is logged (one line per 5 s, with the count). Our
   * clients never renegotiate.
   */
  private refuseRenegotiation(socket: TLSSocket, address: string): void {
    socket.disableRenegotiation();
    socket.on('error', (err: Error) => {
      const code = (err as { code?: unknown }).code;
      if (code !== 'ERR_TLS_RENEGOTIATION_DISABLED' && code !== 'ERR_TLS_SESSION_ATTACK') return;
      socket.destroy();
      // One line per 5 s: reconnecting to ask again must not flood the log.
      this.renegotiationsRefused++;
      const now = performance.now();
      if (now - this.lastRenegotiationLog < RENEGOTIATION_LOG_INTERVAL) return;
      const others = this.renegotiationsRefused - 1;
      this.warn(address, `the client asked for a TLS renegotiation; refused and the connection closed${others > 0 ? ` (and ${others} other connection(s) since the last such line)` : ''}`);
      this.lastRenegotiationLog = now;
      this.renegotiationsRefused = 0;
    });
  }

  private refusePlain(raw: Socket, chunk: Buffer, entry: Pending): void {
    entry.settled = true;
    clearTimeout(entry.timer);
    const head = chunk.subarray(0, 4);
    const what = /^[A-Z]{3}/.test(head.toString('latin1')) ? `an HTTP request ("${head.toString('latin1')}...")`
      : head[0] === 0x00 || head[0] === 0x01 ? `a plain Socket.D frame (${head.toString('hex')}...)` : `bytes ${head.toString('hex')}...`;
    this.warn(entry.address, `sent ${what} where a TLS ClientHello should be; refused with a TLS alert (the client should dial sd:tcps:// or pass the tls option)`);
    // The alert then FIN; keep reading (and dropping) so the client's close is seen.
    raw.end(TLS_FATAL_ALERT);
    raw.on('data', () => undefined);
    raw.resume();
    setTimeout(() => raw.destroy(), REFUSED_LINGER).unref();
  }

  private warn(address: string, why: string): void {
    this.logger?.warn(`Socket.D TLS server: ${address}: ${why} (SOCKETD_ERR_TLS)`);
  }
}

function keyOf(address: string | undefined, port: number | undefined): string {
  return `${address ?? '?'}|${port ?? '?'}`;
}

function formatAddress(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return 'a client';
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

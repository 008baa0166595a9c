import { socketDError, type SocketDError } from '../protocol/errors.js';

/**
 * TLS failures as `SOCKETD_ERR_TLS` errors that name the cause and the fix, for both sides of
 * TLS over tcp. Node reports them as OpenSSL codes (`ERR_SSL_*`), X.509 verify codes
 * (`SELF_SIGNED_CERT_IN_CHAIN`, ...) or plain socket errors; the reasons below are stable.
 */

/** Why a TLS connection failed (`details.reason` of a `SOCKETD_ERR_TLS` error). */
export type TlsFailureReason =
  | 'untrusted-certificate'
  | 'hostname-mismatch'
  | 'certificate-expired'
  | 'client-certificate-required'
  | 'client-certificate-refused'
  | 'server-speaks-tls'
  | 'server-not-tls'
  | 'handshake-closed'
  | 'handshake-failed';

/** First byte of a TLS handshake record (a ClientHello); a Socket.D frame starts with 00 or 01. */
export const TLS_HANDSHAKE_RECORD = 0x16;
/** First byte of a TLS alert record. */
export const TLS_ALERT_RECORD = 0x15;
/**
 * What a TLS server answers a plain client: a fatal `protocol_version` alert (RFC 8446 6.2).
 * A Socket.D client reads its first byte as part of a frame length no frame can have, so ours
 * recognises it (see `TcpConnection`) and others fail on the length.
 */
export const TLS_FATAL_ALERT = Buffer.from([TLS_ALERT_RECORD, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]);

/** The hint a plain client gets from a TLS server. */
export const SPEAKS_TLS_HINT = 'the server speaks TLS: dial it with sd:tcps:// or pass the tls option';

const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG', 'INVALID_CA', 'CERT_REJECTED',
]);
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
const NOT_TLS = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_RECORD_LAYER_FAILURE', 'ERR_SSL_HTTP_REQUEST']);
const CERT_REQUIRED = new Set(['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED']);
const CERT_REFUSED = new Set([
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED', 'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
]);

function codeOf(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : '';
}

/** Node's message without OpenSSL's source location (`...:../deps/openssl/...:350:`). */
function shortMessage(err: Error): string {
  const m = /:SSL routines:[^:]*:([^:]+):/.exec(err.message);
  return (m === null ? err.message : m[1]!).trim();
}

function tlsError(reason: TlsFailureReason, message: string, cause?: Error): SocketDError {
  return socketDError('TLS', message, cause === undefined ? { reason } : { reason, cause });
}

/**
 * A client's TLS failure dialling `where` (`host:port`), or undefined when `err` is not about
 * TLS (then the caller reports it as a transport error).
 *
 * @param handshaking true before `secureConnect`: a reset then means the server hung up on the handshake.
 */
export function clientTlsError(err: Error, where: string, handshaking: boolean): SocketDError | undefined {
  const code = codeOf(err);
  const detail = `${code === '' ? '' : `${code}: `}${shortMessage(err)}`;
  const head = `TLS to ${where} failed`;
  if (UNTRUSTED.has(code)) {
    return tlsError('untrusted-certificate', `${head}: the server's certificate is not trusted (${detail}); pass the CA that signed it as tls.ca`, err);
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return tlsError('hostname-mismatch', `${head}: the server's certificate does not name the host dialled (${detail}); dial a name it lists, or set tls.servername`, err);
  }
  if (EXPIRED.has(code)) {
    return tlsError('certificate-expired', `${head}: the server's certificate is not valid now (${detail})`, err);
  }
  if (CERT_REQUIRED.has(code) || (code === 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' && !handshaking)) {
    return tlsError('client-certificate-required', `${head}: the server requires a client certificate (${detail}); pass tls.cert and tls.key`, err);
  }
  if (CERT_REFUSED.has(code)) {
    return tlsError('client-certificate-refused', `${head}: the server refused our client certificate (${detail}); it must be signed by a CA the server trusts`, err);
  }
  if (NOT_TLS.has(code)) {
    return tlsError('server-not-tls', `${head}: the server did not answer in TLS (${detail}); is it a plain tcp server? Dial it with sd:tcp:// and no tls option`, err);
  }
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) {
    return tlsError('handshake-failed', `${head}: ${detail}`, err);
  }
  if (handshaking && (code === 'ECONNRESET' || code === 'EPIPE')) {
    return tlsError('handshake-closed', `${head}: the server closed the connection during the TLS handshake (${detail}); is it a plain tcp server, or did it refuse us (see its log)?`, err);
  }
  return undefined;
}

/** The client's error when a TLS server answers its plain bytes with a TLS alert. */
export function speaksTlsError(where: string): SocketDError {
  return tlsError('server-speaks-tls', `tcp connection to ${where} failed: ${SPEAKS_TLS_HINT} (it answered with a TLS alert)`);
}

/** The client's error when the server hangs up right after the TLS handshake, before any frame. */
export function closedAfterHandshakeError(where: string): SocketDError {
  return tlsError('client-certificate-refused',
    `TLS to ${where} failed: the server closed the connection right after the TLS handshake, before any frame; it probably refused our client certificate (tls.cert/tls.key; see the server's log)`);
}

/** A server's log text for a failed TLS handshake (`tlsClientError`). */
export function serverTlsReason(err: Error): string {
  const code = codeOf(err);
  const detail = `${code === '' ? '' : `${code}: `}${shortMessage(err)}`;
  if (code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') return `the client sent no certificate, and requestCert + rejectUnauthorized ask for one (${detail})`;
  if (NOT_TLS.has(code)) return `the client does not speak TLS (${detail}); it should dial sd:tcps:// or pass the tls option`;
  if (CERT_REFUSED.has(code)) return `the client refused this server's certificate (${detail})`;
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return `the TLS handshake did not finish in time (${detail})`;
  return detail;
}

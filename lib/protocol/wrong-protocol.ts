/** Hints for a peer that speaks another protocol than the endpoint it dialled. */

// The four bytes of a length prefix that another protocol would start with.
const HTTP_RESPONSE = 0x48545450; // "HTTP"
const HTTP_METHODS = new Set(['GET ', 'POST', 'PUT ', 'HEAD', 'OPTI', 'DELE', 'PATC', 'CONN', 'TRAC']);

/**
 * Names the likely mistake when a length prefix is really the start of another protocol: an
 * HTTP answer (a tcp client dialled a WebSocket server), an HTTP request (a WebSocket or HTTP
 * client dialled a tcp server) or a TLS record (a TLS client dialled a plain one).
 */
export function wrongProtocolHint(prefix: number): string {
  if (prefix === HTTP_RESPONSE) return ': the peer answered in HTTP; is it a WebSocket server? Dial it with sd:ws:// (or sd:wss://)';
  const text = String.fromCharCode((prefix >>> 24) & 0xff, (prefix >>> 16) & 0xff, (prefix >>> 8) & 0xff, prefix & 0xff);
  if (HTTP_METHODS.has(text)) return `: the peer sent an HTTP request ("${text.trim()} ..."); this is a Socket.D tcp endpoint: dial it with sd:tcp://, or serve WebSocket clients on sd:ws://`;
  if ((prefix >>> 24) === 0x16 && ((prefix >>> 16) & 0xff) === 0x03) return ': the peer sent a TLS handshake; this endpoint is plain tcp';
  return '';
}

import { randomBytes } from 'node:crypto';

/**
 * The per-session udp token: 8 bytes after the frame in every datagram of a session that
 * negotiated one.
 *
 *     client -> server  [Connect frame][TOKEN_REQUEST]   "I carry tokens"
 *     server -> client  [Connack frame][token]           the server's random token
 *     both ways, after  [frame][token]                   anything else from the address is dropped
 *
 * Why a trailer after the frame (spec 3.3 keeps one frame per datagram, its `len` included):
 * - every upstream udp reader (Java udp-netty and udp-java) decodes the frame within `len` and
 *   ignores the rest of the datagram, so a Connect carrying the request is an ordinary Connect
 *   to them; their Connack has no trailer, and our client then sends none (tokenless session);
 * - it costs 8 bytes per datagram and no work on the frame: it is sent as a second buffer of
 *   the same `send()` (no copy, no re-encoding), and the session never sees it;
 * - a meta on every frame would add ~25 bytes, make 8-byte Ping/Pong frames carry a body,
 *   reach the application as a meta, and need each frame rewritten.
 * The token is what an off-path sender cannot forge: a forged source address is easy, guessing
 * 64 random bits is not. It also proves the client receives at its address (it could only
 * learn the token from our Connack), which lifts the anti-amplification limit.
 */
export const TOKEN_LENGTH = 8;

/** The trailer of a Connect that asks for a token (a real token never equals it). */
export const TOKEN_REQUEST = Buffer.from('SdToken?', 'latin1');

/** A fresh random token. */
export function newToken(): Buffer {
  for (;;) {
    const token = randomBytes(TOKEN_LENGTH);
    if (!token.equals(TOKEN_REQUEST)) return token;
  }
}

/** True when `datagram` is exactly a frame of `frameLength` bytes followed by `trailer`. */
export function endsWith(datagram: Buffer, frameLength: number, trailer: Buffer): boolean {
  return datagram.length === frameLength + TOKEN_LENGTH
    && datagram.compare(trailer, 0, TOKEN_LENGTH, frameLength, datagram.length) === 0;
}

/** The `len` prefix of a datagram's frame, or -1 when it is too short to hold one. */
export function frameLengthOf(datagram: Buffer): number {
  return datagram.length < 8 ? -1 : datagram.readInt32BE(0);
}

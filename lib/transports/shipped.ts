import type { Transport } from '../session/connection.js';
import { tcpsTransport, tcpTransport } from './tcp-transport.js';
import { udpTransport } from './udp-transport.js';
import { wssTransport, wsTransport } from './ws-transport.js';

/**
 * The transports this package ships, as objects: the entry points register them for URLs, and
 * the Nest layer hands them to its servers and clients explicitly (the `transports` option),
 * so it works without any entry point's side effect.
 */
export const SHIPPED_TRANSPORTS: readonly Transport[] = Object.freeze([tcpTransport, wsTransport, wssTransport, udpTransport, tcpsTransport]);

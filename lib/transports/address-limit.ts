import type { Socket } from 'node:net';
import { DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, type TransportLogger } from '../session/connection.js';

/**
 * `maxConnectionsPerAddress`: counts a server's open sockets per remote IP, so that one host
 * cannot take every connection slot (or every byte of memory) of a server by itself.
 */
export class AddressLimit {
  private readonly counts = new Map<string, number>();

  /**
   * @param kind `TCP` or `WebSocket`, for the log line.
   * @param limit open sockets allowed per remote IP (default 256).
   * @param logger where refusals are logged (one line each).
   */
  constructor(
    private readonly kind: string,
    readonly limit: number = DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
    private readonly logger: TransportLogger | undefined,
  ) {}

  /** Open sockets counted for `ip`. */
  count(ip: string): number {
    return this.counts.get(ip) ?? 0;
  }

  /**
   * Counts `socket` until it closes and returns true; beyond the limit logs a line, destroys
   * the socket unless `refuse` is given (it is called instead) and returns false.
   */
  admit(socket: Socket, refuse?: () => void): boolean {
    const ip = socket.remoteAddress ?? '';
    const n = this.counts.get(ip) ?? 0;
    if (n >= this.limit) {
      this.logger?.warn(`Socket.D ${this.kind} server: refused a connection from ${ip}: maxConnectionsPerAddress ${this.limit} reached (SOCKETD_ERR_TOO_MANY_CONNECTIONS)`);
      if (refuse !== undefined) refuse();
      else socket.destroy();
      return false;
    }
    this.counts.set(ip, n + 1);
    socket.once('close', () => {
      const left = (this.counts.get(ip) ?? 1) - 1;
      if (left <= 0) this.counts.delete(ip);
      else this.counts.set(ip, left);
    });
    return true;
  }
}

/**
 * Health check of a Socket.D server for `@nestjs/terminus` (`nestjs-socketd/terminus`), an
 * optional peer dependency: only this entry loads it.
 *
 * ```ts
 * @Module({ imports: [TerminusModule], controllers: [HealthController], providers: [SocketDHealthIndicator] })
 * // in the controller:
 * @Get('health') @HealthCheck()
 * check() {
 *   return this.health.check([() => this.socketd.pingCheck('users', { url: 'sd:tcp://users:8602', timeout: 1000 })]);
 * }
 * ```
 */
import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { SdClient } from '../session/index.js';
import { SHIPPED_TRANSPORTS } from '../transports/shipped.js';
import type { SocketDClient } from './client-socketd.js';
import { resolveSocketDUrl, type SocketDAddressOptions } from './socketd.options.js';

/** Where {@link SocketDHealthIndicator.pingCheck} connects, and how long it may take. */
export interface SocketDPingCheckOptions extends SocketDAddressOptions {
  /** `sd:tcp://host:port[/path][?k=v]` or `sd:ws://...`; or give `host`/`port`/`transport`. */
  url?: string;
  /** Metas sent in the Connect frame (credentials the server's `onHandshake` checks). */
  metas?: Record<string, string>;
  /** Milliseconds for connect plus handshake before the check is `down`. Default 1 000. */
  timeout?: number;
}

/** Default `timeout` of {@link SocketDHealthIndicator.pingCheck}. */
export const SOCKETD_HEALTH_DEFAULT_TIMEOUT = 1_000;

/**
 * Terminus health indicator: `up` when a Socket.D handshake with the server succeeds.
 * Provide it in a module that imports `TerminusModule` (which provides `HealthIndicatorService`).
 */
@Injectable()
export class SocketDHealthIndicator {
  constructor(private readonly health: HealthIndicatorService) {}

  /**
   * Opens a fresh connection (no reconnect, no heartbeat), completes the handshake and closes
   * it: `up`, or `down` with the failure's `message` (refused, timed out, handshake rejected).
   * With a {@link SocketDClient}: `up` when its shared connection is (or gets) open.
   */
  async pingCheck<const Key extends string>(key: Key, target: SocketDPingCheckOptions | SocketDClient): Promise<HealthIndicatorResult<Key>> {
    const indicator = this.health.check(key);
    try {
      if (isClient(target)) {
        const session = await target.connect();
        if (!session.isOpen) return indicator.down({ message: `session ${session.state}` });
      } else {
        await ping(target);
      }
      return indicator.up();
    } catch (err) {
      return indicator.down({ message: err instanceof Error ? err.message : String(err) });
    }
  }
}

function isClient(target: SocketDPingCheckOptions | SocketDClient): target is SocketDClient {
  return typeof (target as SocketDClient).connect === 'function';
}

async function ping(options: SocketDPingCheckOptions): Promise<void> {
  const timeout = options.timeout ?? SOCKETD_HEALTH_DEFAULT_TIMEOUT;
  const client = new SdClient(resolveSocketDUrl(options), {
    metas: options.metas,
    connectTimeout: timeout,
    autoReconnect: false,
    heartbeatInterval: 0,
    logger: false,
    transports: SHIPPED_TRANSPORTS,
  });
  try {
    await client.connect();
  } finally {
    await client.close();
  }
}

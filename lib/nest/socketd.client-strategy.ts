import { Logger } from '@nestjs/common';
import type { CustomTransportStrategy } from '@nestjs/microservices';
import type { Subscription } from 'rxjs';
import type { SocketDClient } from './client-socketd.js';
import { SOCKETD_CLIENT_TRANSPORT, SOCKETD_DEFAULT_GRACE_PERIOD } from './socketd.constants.js';
import { SocketDStatus } from './socketd.events.js';
import { SocketDServerCore, type SocketDHandlingOptions } from './socketd.server-core.js';

/** Options of {@link SocketDClientStrategy}. */
export interface SocketDClientStrategyOptions extends SocketDHandlingOptions {
  /** Milliseconds `close()` lets in-flight handlers finish. Default 5 000. */
  gracePeriod?: number;
}

/**
 * Serves, with the client app's own `@MessagePattern` / `@EventPattern` handlers, the
 * Requests, Subscribes and Messages a Socket.D server starts on a {@link SocketDClient}'s
 * connection (Socket.D sessions are bidirectional). Handlers get a `SocketDContext` as usual,
 * and answer exactly as they would on a {@link SocketDServer}.
 *
 * ```ts
 * const app = await NestFactory.create(AppModule);             // or any Nest app
 * app.connectMicroservice({ strategy: new SocketDClientStrategy(app.get('USERS')) });
 * await app.startAllMicroservices();                            // connects the client
 * ```
 * `listen()` connects the client (so the server can reach it) and fails when that fails.
 * `close()` detaches from the client and waits for in-flight handlers; the client itself is
 * closed by its owner (ClientsModule closes it on shutdown).
 */
export class SocketDClientStrategy extends SocketDServerCore implements CustomTransportStrategy {
  override transportId = SOCKETD_CLIENT_TRANSPORT;
  protected override readonly logger = new Logger(SocketDClientStrategy.name);
  protected readonly gracePeriod: number;
  private statusSubscription: Subscription | undefined;

  constructor(
    protected readonly client: SocketDClient,
    options: SocketDClientStrategyOptions = {},
  ) {
    super(options);
    this.gracePeriod = this.getOptionsProp(options, 'gracePeriod', SOCKETD_DEFAULT_GRACE_PERIOD);
  }

  listen(callback: (err?: unknown, ...optionalParams: unknown[]) => void): void {
    this.client.setInboundHandler((session, message) => this.handleMessage(session, message));
    this.statusSubscription ??= this.client.status.subscribe((status) => this.setStatus(status as SocketDStatus));
    this.client.connect().then(
      () => callback(),
      (err: unknown) => callback(err),
    );
  }

  async close(): Promise<void> {
    this.client.setInboundHandler(undefined);
    this.statusSubscription?.unsubscribe();
    this.statusSubscription = undefined;
    if (!(await this.waitForIdle(this.gracePeriod))) {
      this.logger.warn(`Socket.D: ${this.pendingHandlers} handler(s) still running after ${this.gracePeriod} ms`);
    }
    this._status$.next(SocketDStatus.DISCONNECTED);
  }

  /** The {@link SocketDClient} whose connection this strategy serves. */
  unwrap<T>(): T {
    return this.client as T;
  }
}

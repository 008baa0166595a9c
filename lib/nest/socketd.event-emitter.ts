import { EventEmitter } from 'node:events';
import type { LoggerService } from '@nestjs/common';
import type { SocketDEvents } from './socketd.events.js';

/** Emits one of the {@link SocketDEvents} with its arguments. */
export type SocketDEmit = <K extends keyof SocketDEvents>(event: K, ...args: Parameters<SocketDEvents[K]>) => void;

/**
 * The user-facing events of a strategy or of the client (`server.on()`, `client.on()`).
 * Listeners added before `listen()` / `connect()` are kept. An `error` nobody listens to is
 * logged instead of thrown (Node's `EventEmitter` would throw it).
 */
export class SocketDEventEmitter {
  private readonly emitter = new EventEmitter();

  /** `logger` is read when an unheard `error` is logged (subclasses set theirs after `super()`). */
  constructor(private readonly logger: () => LoggerService) {}

  on<K extends keyof SocketDEvents>(event: K, callback: SocketDEvents[K]): void {
    this.emitter.on(event, callback as (...args: unknown[]) => void);
  }

  /** True when someone listens to `event`. */
  heard(event: keyof SocketDEvents): boolean {
    return this.emitter.listenerCount(event) > 0;
  }

  readonly emit: SocketDEmit = (event, ...args) => {
    if (event === 'error' && this.emitter.listenerCount('error') === 0) {
      this.logger().error(String((args[0] as Error)?.message ?? args[0]));
      return;
    }
    this.emitter.emit(event, ...args);
  };
}

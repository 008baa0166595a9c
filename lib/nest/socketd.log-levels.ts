import { Logger } from '@nestjs/common';
import type { EngineLogger } from '../session/types.js';

/**
 * True when Nest's logging was asked for debug lines: levels set explicitly (an app's
 * `logger: [...]` option, `useLogger`, `Logger.overrideLogger`) or `NEST_LOG_LEVEL`, and
 * `debug` among them. Nest's default levels include debug even in a process with no Nest app
 * at all (a standalone `SocketDClient`): those do not count.
 */
export function nestDebugEnabled(): boolean {
  if (!Logger.isLevelEnabled('debug')) return false;
  const explicit = (Logger as unknown as { logLevels?: readonly string[] }).logLevels;
  return explicit !== undefined || (process.env.NEST_LOG_LEVEL ?? '') !== '';
}

/** The engine's logger in a Nest process: Nest's `Logger(context)`, debug lines only when {@link nestDebugEnabled}. */
export function nestEngineLogger(context: string): EngineLogger {
  const logger = new Logger(context);
  return {
    log: (message) => logger.log(message),
    warn: (message) => logger.warn(message),
    error: (message, stack) => (stack === undefined ? logger.error(message) : logger.error(message, stack)),
    debug: (message) => {
      if (nestDebugEnabled()) logger.debug(message);
    },
  };
}

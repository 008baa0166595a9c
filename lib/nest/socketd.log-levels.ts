import { Logger } from '@nestjs/common';
import type { EngineLogger } from '../session/types.js';

/**
 * True when Nest's logging was asked for debug lines: levels set explicitly (an app's
 * `logger: [...]` option, `useLogger`, `Logger.overrideLogger`) with `debug` among them, or
 * `NEST_LOG_LEVEL` naming them. Nest's default levels include debug even in a process with no
 * Nest app at all (a standalone `SocketDClient`): those do not count. `NEST_LOG_LEVEL` is read
 * here too because Nest 11 does not know it (Nest 12 does, in the same formats).
 */
export function nestDebugEnabled(): boolean {
  const explicit = (Logger as unknown as { logLevels?: readonly string[] }).logLevels;
  if (explicit !== undefined) return Logger.isLevelEnabled('debug');
  return envAsksForDebug(process.env.NEST_LOG_LEVEL);
}

const LEVELS = ['verbose', 'debug', 'log', 'warn', 'error', 'fatal'];
const DEBUG = LEVELS.indexOf('debug');

// NEST_LOG_LEVEL as Nest 12 reads it: a level (that level and above), a list, or a threshold (`>=log`, `>verbose`).
function envAsksForDebug(raw: string | undefined): boolean {
  const value = raw?.replaceAll(' ', '').toLowerCase() ?? '';
  if (value === '') return false;
  const threshold = /^>(=?)(.*)$/.exec(value);
  if (threshold !== null) {
    const at = LEVELS.indexOf(threshold[2]!);
    return at >= 0 && (threshold[1] === '=' ? at <= DEBUG : at < DEBUG);
  }
  const list = value.split(',');
  if (list.length === 1) {
    const at = LEVELS.indexOf(list[0]!);
    return at >= 0 && at <= DEBUG;
  }
  return list.includes('debug');
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

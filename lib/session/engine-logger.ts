import type { EngineLogger } from './types.js';

/**
 * The engine's default logger: warnings and errors go to `process.stderr`, one line each
 * (the stack, when given, on the lines after); `log` (information) and `debug` are off.
 * Pass `logger: false` to silence the engine, or any {@link EngineLogger} (Nest's `Logger` fits).
 */
export const STDERR_LOGGER: EngineLogger = Object.freeze({
  log(): void {},
  warn(message: string): void {
    writeLine('WARN', message);
  },
  error(message: string, stack?: string): void {
    writeLine('ERROR', stack === undefined ? message : `${message}\n${stack}`);
  },
});

/** A logger that drops everything (`logger: false`). */
export const SILENT_LOGGER: EngineLogger = Object.freeze({
  log(): void {},
  warn(): void {},
  error(): void {},
  debug(): void {},
});

/** The logger a session uses: the given one, silence for `false`, else {@link STDERR_LOGGER}. */
export function resolveLogger(logger: EngineLogger | false | undefined): EngineLogger {
  if (logger === false) return SILENT_LOGGER;
  return logger ?? STDERR_LOGGER;
}

function writeLine(level: string, message: string): void {
  const line = `${new Date().toISOString()} [Socket.D] ${level} ${message}`;
  // In a browser (the `nestjs-socketd/browser` bundle) there is no stderr: the browser client
  // passes the page's own logger, or none (see SocketDBrowserClient).
  if (typeof process !== 'undefined' && process.stderr !== undefined) process.stderr.write(`${line}\n`);
}

import type { EngineLogger } from './types.js';

/** The message of anything thrown. */
export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs a user callback (a listener, an observer, a hook) so that nothing it does can break the
 * engine: a throw, or the rejection of a promise it returns, is logged as an error naming
 * `what`, and the caller carries on (the rest of a close still runs, the other streams still
 * settle, no rejection goes unhandled). Returns what `fn` returned, or undefined if it threw.
 */
export function safeCall<T>(log: EngineLogger, what: string, fn: () => T): T | undefined {
  try {
    const result = fn();
    if (isThenable(result)) Promise.resolve(result).catch((err: unknown) => logFailure(log, what, err));
    return result;
  } catch (err) {
    logFailure(log, what, err);
    return undefined;
  }
}

/** Logs a failed callback; even a logger that throws cannot escape. */
export function logFailure(log: EngineLogger, what: string, err: unknown): void {
  try {
    log.error(`Socket.D: ${what} failed: ${describeError(err)}`, err instanceof Error ? err.stack : undefined);
  } catch {
    // The logger itself failed: there is nowhere left to report to.
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as PromiseLike<unknown>).then === 'function';
}

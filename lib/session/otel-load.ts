import type { OpenTelemetryApi } from './otel-api.js';
import { useOpenTelemetry } from './otel-telemetry.js';
import { getTelemetry } from './telemetry.js';

let loading: Promise<boolean> | undefined;

/**
 * Loads `@opentelemetry/api` if it is installed (an optional peer) and plugs it in, unless
 * `useOpenTelemetry()` was called first, or the environment has `SOCKETD_TELEMETRY=off`.
 * Resolves true when telemetry is plugged in. The Node entry points start it when imported;
 * await it to be sure before the first connection.
 */
export function loadOpenTelemetry(): Promise<boolean> {
  loading ??= (async () => {
    const name = '@opentelemetry/api'; // not a literal: bundlers must not pull it in
    if (process.env['SOCKETD_TELEMETRY'] === 'off') return getTelemetry() !== undefined;
    try {
      const api = (await import(name)) as OpenTelemetryApi & { default?: OpenTelemetryApi };
      const usable = typeof api.trace?.getTracerProvider === 'function' ? api : api.default;
      if (getTelemetry() === undefined && usable !== undefined) useOpenTelemetry(usable);
    } catch {
      // Not installed: no telemetry, nothing more loaded.
    }
    return getTelemetry() !== undefined;
  })();
  return loading;
}

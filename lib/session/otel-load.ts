import type { OpenTelemetryApi } from './otel-api.js';
import { useOpenTelemetry } from './otel-telemetry.js';
import { getTelemetry } from './telemetry.js';

let loading: Promise<boolean> | undefined;

/**
 * Loads `@opentelemetry/api` if it is installed (an optional peer) and plugs it in, unless
 * `useOpenTelemetry()` was called first. Resolves true when telemetry is plugged in. The Node
 * entry points start it when imported; await it to be sure before the first connection.
 */
export function loadOpenTelemetry(): Promise<boolean> {
  loading ??= (async () => {
    const name = '@opentelemetry/api'; // not a literal: bundlers must not pull it in
    try {
      const api = (await import(name)) as OpenTelemetryApi & { default?: OpenTelemetryApi };
      const usable = typeof api.trace?.getTracerProvider === 'function' ? api : api.default;
      if (getTelemetry() === undefined && usable !== undefined && process.env['SOCKETD_TELEMETRY'] !== 'off') useOpenTelemetry(usable);
    } catch {
      // Not installed: no telemetry, nothing more loaded.
    }
    return getTelemetry() !== undefined;
  })();
  return loading;
}

/**
 * `nestjs-socketd/browser/otel`: tracing and metrics for the browser client, as an add-on
 * bundle so that pages that do not trace load none of it. Pass the page's OpenTelemetry API
 * (`import * as api from '@opentelemetry/api'`, with a web tracer provider registered):
 * `useOpenTelemetry(api)` before connecting; calls then carry `traceparent` and record spans.
 */
export { useOpenTelemetry } from '../session/otel-telemetry.js';
export type { OpenTelemetryApi } from '../session/otel-api.js';

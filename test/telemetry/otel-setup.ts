import { metrics, trace, type Span } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type MetricReader } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { loadOpenTelemetry } from '../../lib/engine.js';

/** The real OpenTelemetry SDK, registered globally: W3C propagators, AsyncLocalStorage context, spans kept in memory. */
export async function registerTracing(): Promise<{ exporter: InMemorySpanExporter; provider: NodeTracerProvider }> {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  provider.register();
  if (!(await loadOpenTelemetry())) throw new Error('@opentelemetry/api was not loaded');
  return { exporter, provider };
}

/** A meter provider whose reader the test collects from on demand. */
export async function registerMetrics(): Promise<{ reader: MetricReader; provider: MeterProvider }> {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  metrics.setGlobalMeterProvider(provider);
  if (!(await loadOpenTelemetry())) throw new Error('@opentelemetry/api was not loaded');
  return { reader, provider };
}

/** Runs `fn` inside a root span of the test's own. */
export function inRootSpan<T>(name: string, fn: (span: Span) => Promise<T>): Promise<T> {
  return trace.getTracer('test').startActiveSpan(name, async (span) => {
    try {
      return await fn(span);
    } finally {
      span.end();
    }
  });
}

export const SERVER = 1;
export const CLIENT = 2;
export const PRODUCER = 3;
export const CONSUMER = 4;

export function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

export function idOf(span: ReadableSpan): string {
  return span.spanContext().spanId;
}

/** The one finished span named `name` of `kind` whose parent is `parent` (throws otherwise). */
export function childOf(spans: ReadableSpan[], parent: ReadableSpan, name: string, kind: number): ReadableSpan {
  const found = spans.filter((s) => s.name === name && s.kind === kind && parentOf(s) === idOf(parent));
  if (found.length !== 1) {
    const all = spans.map((s) => `${s.name}/${s.kind} ${idOf(s)} <- ${parentOf(s)}`).join('\n');
    throw new Error(`expected one '${name}' span of kind ${kind} under ${idOf(parent)} (${parent.name}), found ${found.length}:\n${all}`);
  }
  return found[0]!;
}

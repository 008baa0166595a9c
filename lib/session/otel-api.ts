/**
 * The parts of `@opentelemetry/api` (1.x) the engine uses, as structural types: the package is
 * an optional peer, so no exported type may name it (a consumer without it must still compile).
 */

export type OtelAttributes = Record<string, string | number | boolean | undefined>;

export interface OtelContext {
  getValue(key: symbol): unknown;
}

export interface OtelSpan {
  setAttribute(key: string, value: string | number | boolean): OtelSpan;
  setAttributes(attributes: OtelAttributes): OtelSpan;
  addEvent(name: string, attributes?: OtelAttributes): OtelSpan;
  setStatus(status: { code: number; message?: string }): OtelSpan;
  recordException(exception: Error | string): void;
  end(): void;
  isRecording(): boolean;
}

export interface OtelTracer {
  startSpan(name: string, options?: { kind?: number; attributes?: OtelAttributes }, context?: OtelContext): OtelSpan;
}

export interface OtelTracerProvider {
  getTracer(name: string, version?: string): OtelTracer;
  /** ProxyTracerProvider's: undefined while no SDK is registered. */
  getDelegateTracer?(name: string, version?: string): OtelTracer | undefined;
}

export interface OtelObservableResult {
  observe(value: number, attributes?: OtelAttributes): void;
}

export interface OtelObservable {
  addCallback(callback: (result: OtelObservableResult) => void): void;
}

export interface OtelMeter {
  createCounter(name: string, options?: { description?: string; unit?: string }): { add(value: number, attributes?: OtelAttributes): void };
  createHistogram(name: string, options?: { description?: string; unit?: string }): { record(value: number, attributes?: OtelAttributes): void };
  createObservableCounter(name: string, options?: { description?: string; unit?: string }): OtelObservable;
  createObservableUpDownCounter(name: string, options?: { description?: string; unit?: string }): OtelObservable;
  createObservableGauge(name: string, options?: { description?: string; unit?: string }): OtelObservable;
}

export interface OtelMeterProvider {
  getMeter(name: string, version?: string): OtelMeter;
}

export interface OtelTextMapGetter<Carrier> {
  keys(carrier: Carrier): string[];
  get(carrier: Carrier, key: string): string | undefined;
}

/** What `useOpenTelemetry()` takes: `import * as api from '@opentelemetry/api'` fits. */
export interface OpenTelemetryApi {
  trace: {
    getTracerProvider(): OtelTracerProvider;
    setSpan(context: OtelContext, span: OtelSpan): OtelContext;
  };
  metrics?: {
    getMeterProvider(): OtelMeterProvider;
  };
  context: {
    active(): OtelContext;
    with<T>(context: OtelContext, fn: () => T): T;
  };
  propagation: {
    inject(context: OtelContext, carrier: Record<string, string>): void;
    extract<Carrier>(context: OtelContext, carrier: Carrier, getter?: OtelTextMapGetter<Carrier>): OtelContext;
  };
  ROOT_CONTEXT: OtelContext;
}

/** SpanKind and SpanStatusCode values (stable in the API). */
export const SpanKinds = { SERVER: 1, CLIENT: 2, PRODUCER: 3, CONSUMER: 4 } as const;
export const SpanStatus = { ERROR: 2 } as const;

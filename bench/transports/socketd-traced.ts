/**
 * `socketd-tcp` with tracing on: the OpenTelemetry SDK registered in the server and client
 * processes (NodeTracerProvider, a batch processor, an exporter that drops every span), so
 * every call records a client and a server span and carries `traceparent`. Opt-in row:
 * `npm run bench -- --only echo-256,stream-100k --transport socketd-tcp,socketd-tcp-traced`.
 */
import type { BenchTransportModule } from '../types.js';
import { requireExports } from './lib-loader.js';
import { transport as nest } from './socketd-nest.js';

let registered: Promise<void> | undefined;

/* eslint-disable @typescript-eslint/no-explicit-any */
function enableTracing(): Promise<void> {
  registered ??= (async () => {
    const sdkNode = '@opentelemetry/sdk-trace-node';
    const sdkBase = '@opentelemetry/sdk-trace-base';
    const { NodeTracerProvider } = (await import(sdkNode)) as any;
    const { BatchSpanProcessor } = (await import(sdkBase)) as any;
    const dropAll = { export: (_spans: unknown, done: (result: { code: number }) => void) => done({ code: 0 }), shutdown: async () => {} };
    new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(dropAll)] }).register();
    const lib = await requireExports(['loadOpenTelemetry'] as const);
    if (typeof lib === 'string' || !(await lib['loadOpenTelemetry']())) throw new Error('tracing could not be turned on');
  })();
  return registered;
}

export const transport: BenchTransportModule = {
  available: (kind) => nest.available(kind),
  bufferNote: (kind) => nest.bufferNote?.(kind) ?? '',
  async startServer(kind) {
    await enableTracing();
    return nest.startServer(kind);
  },
  async createClient(port, kind) {
    await enableTracing();
    return nest.createClient(port, kind);
  },
};

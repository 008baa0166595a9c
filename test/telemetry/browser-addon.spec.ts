/**
 * The browser's tracing add-on (dist/browser/socketd-otel.min.js, `nestjs-socketd/browser/otel`)
 * plugs into sessions of another bundle (the engine here, the browser client on a page) through
 * the global slot. Loaded in Node as the page would load it: plain ESM, no Buffer, no Node
 * built-ins. Needs `npm run build`.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as api from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { readFileSync } from 'node:fs';
import { loadOpenTelemetry, SdClient, SdServer, useOpenTelemetry, type OpenTelemetryApi } from '../../lib/engine.js';

const ADDON = new URL('../../dist/browser/socketd-otel.min.js', import.meta.url);

describe('the browser tracing add-on', () => {
  let server: SdServer;
  let client: SdClient;
  const exporter = new InMemorySpanExporter();

  beforeAll(async () => {
    new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).register();
    server = new SdServer('sd:tcp://127.0.0.1:0', { logger: false, onMessage: (s, m) => { if (m.isRequest) s.replyEnd(m, 'ok'); } });
    await server.listen();
  });

  afterAll(async () => {
    await client?.close();
    await server?.close();
  });

  it('is self-contained and, given the page API, makes new sessions record spans', async () => {
    const source = readFileSync(ADDON, 'utf8');
    expect(source).not.toMatch(/\bBuffer\b|\brequire\(|from"node:/);
    // The engine's own loader unplugged: sessions record nothing until the add-on plugs in.
    await loadOpenTelemetry();
    useOpenTelemetry(false);
    const url = `sd:tcp://127.0.0.1:${server.address()!.port}`;
    const untraced = new SdClient(url, { logger: false });
    await (await untraced.connect()).request('hello', 'x');
    await untraced.close();
    expect(exporter.getFinishedSpans()).toHaveLength(0);
    const addon = (await import(ADDON.href)) as { useOpenTelemetry(a: OpenTelemetryApi): void };
    addon.useOpenTelemetry(api); // the real API's module object fits the structural type
    client = new SdClient(url, { logger: false });
    await (await client.connect()).request('hello', 'x');
    const spans = exporter.getFinishedSpans().filter((s) => s.name === 'hello');
    expect(spans.map((s) => s.kind).sort()).toEqual([1, 2]);
    expect(spans[0]!.spanContext().traceId).toBe(spans[1]!.spanContext().traceId);
  });
});

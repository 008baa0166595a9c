import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import type { DataPoint, MetricData, MetricReader } from '@opentelemetry/sdk-metrics';
import { listenBroker, METRIC_NAMES, SdClient, SdServer, type ReceivedMessage, type SdBroker, type Session } from '../../lib/engine.js';
import { errorOf, waitFor } from '../nest/nest-test.helpers.js';
import { registerMetrics } from './otel-setup.js';

const { reader } = await registerMetrics();

async function collect(): Promise<Map<string, MetricData>> {
  const { resourceMetrics } = await reader.collect();
  const out = new Map<string, MetricData>();
  for (const scope of resourceMetrics.scopeMetrics) for (const metric of scope.metrics) out.set(metric.descriptor.name, metric);
  return out;
}

/** Sum of the points of `name` whose attributes include `where`. */
async function total(name: string, where: Record<string, unknown> = {}): Promise<number> {
  const metric = (await collect()).get(name);
  if (metric === undefined) return 0;
  let sum = 0;
  for (const point of metric.dataPoints as DataPoint<unknown>[]) {
    if (!Object.entries(where).every(([k, v]) => point.attributes[k] === v)) continue;
    const value = point.value as number | { count: number };
    sum += typeof value === 'number' ? value : value.count;
  }
  return sum;
}

describe('metrics through the OpenTelemetry metrics API (in-memory reader)', () => {
  let server: SdServer;
  let broker: SdBroker;
  let url: string;
  const toClose: { close(): Promise<void> }[] = [];
  let serverSessions: Session[] = [];

  beforeAll(async () => {
    server = new SdServer('sd:tcp://127.0.0.1:0', {
      logger: false,
      onHandshake: (handshake) => handshake.params['deny'] === undefined,
      onOpen: (session) => serverSessions.push(session),
      onMessage(session, m: ReceivedMessage) {
        if (m.event === 'fail') session.alarm(m, 'nope', { code: '4004' });
        else if (m.event === 'items') { session.reply(m, 'a'); session.reply(m, 'b'); session.replyEnd(m); }
        else if (m.event !== 'never' && m.isRequest) session.replyEnd(m, 'ok');
      },
    });
    await server.listen();
    url = `sd:tcp://127.0.0.1:${server.address()!.port}`;
    broker = await listenBroker('sd:tcp://127.0.0.1:0', { logger: false });
  });

  afterAll(async () => {
    for (const c of toClose) await c.close();
    await broker?.close();
    await server?.close();
  });

  it('every instrument moves under a scripted workload', async () => {
    const client = new SdClient(url, { logger: false, reconnectDelay: 20 });
    toClose.push(client);
    const session = await client.connect();
    expect(await total(METRIC_NAMES.sessions, { 'socketd.role': 'server', 'socketd.transport': 'tcp' })).toBe(1);
    expect(await total(METRIC_NAMES.connections, { 'socketd.role': 'client' })).toBe(1);

    // calls: ok, an alarm with a code, a timeout, a cancel; a stream of 2 items
    await session.request('hello', 'x');
    expect(await errorOf(session.request('fail', 'x'))).toMatchObject({ code: 'SOCKETD_ERR_ALARM' });
    expect(await errorOf(session.request('never', 'x', { timeout: 50 }))).toMatchObject({ code: 'SOCKETD_ERR_TIMEOUT' });
    session.subscribe('never', undefined, { next() {}, complete() {}, error() {} }).cancel();
    await new Promise<void>((resolve, reject) => session.subscribe('items', undefined, { next() {}, complete: () => resolve(), error: reject }));
    session.send('note', 'n');
    expect(await total(METRIC_NAMES.calls, { 'socketd.role': 'client', 'socketd.event': 'hello', 'socketd.outcome': 'ok' })).toBe(1);
    expect(await total(METRIC_NAMES.calls, { 'socketd.role': 'client', 'socketd.outcome': 'alarm', 'socketd.alarm.code': 4004 })).toBe(1);
    expect(await total(METRIC_NAMES.calls, { 'socketd.role': 'server', 'socketd.event': 'fail', 'socketd.outcome': 'alarm' })).toBe(1);
    expect(await total(METRIC_NAMES.calls, { 'socketd.role': 'client', 'socketd.outcome': 'timeout' })).toBe(1);
    expect(await total(METRIC_NAMES.calls, { 'socketd.role': 'client', 'socketd.outcome': 'cancelled' })).toBe(1);
    expect(await total(METRIC_NAMES.calls, { 'socketd.kind': 'message', 'socketd.event': 'note' })).toBe(1);
    expect(await total(METRIC_NAMES.duration, { 'socketd.role': 'client', 'socketd.event': 'hello' })).toBe(1);
    expect(await total(METRIC_NAMES.firstAnswer, { 'socketd.role': 'client', 'socketd.event': 'items' })).toBe(1);
    expect(await total(METRIC_NAMES.items, { 'socketd.role': 'client', 'socketd.event': 'items' })).toBe(2);
    expect(await total(METRIC_NAMES.frames, { 'socketd.role': 'client', 'socketd.direction': 'out' })).toBeGreaterThanOrEqual(7);
    expect(await total(METRIC_NAMES.frames, { 'socketd.role': 'client', 'socketd.direction': 'in' })).toBeGreaterThanOrEqual(5);
    expect(await total(METRIC_NAMES.bytes, { 'socketd.role': 'server', 'socketd.direction': 'in' })).toBeGreaterThanOrEqual(5);
    expect(await total(METRIC_NAMES.bytes, { 'socketd.role': 'server', 'socketd.direction': 'out' })).toBeGreaterThanOrEqual(4);
    expect((await collect()).has(METRIC_NAMES.queued)).toBe(true);

    // a refused handshake
    const denied = new SdClient(`${url}/?deny=1`, { logger: false, autoReconnect: false });
    toClose.push(denied);
    expect(await errorOf(denied.connect())).toMatchObject({ code: 'SOCKETD_ERR_HANDSHAKE_REJECTED' });
    expect(await total(METRIC_NAMES.handshakesRefused, { 'socketd.role': 'server' })).toBe(1);
    expect(await total(METRIC_NAMES.handshakesRefused, { 'socketd.role': 'client' })).toBe(1);

    // a reconnect: the server drops the client's session
    const before = serverSessions.length;
    serverSessions.at(-1)!.close();
    await waitFor(() => serverSessions.length > before && client.status === 'connected', 20_000, 'the reconnect');
    expect(await total(METRIC_NAMES.reconnects, { 'socketd.transport': 'tcp' })).toBeGreaterThanOrEqual(1);

    // a limit hit, with default options: a length prefix over maxFrameSize closes with 1002
    const raw = net.connect(server.address()!.port, '127.0.0.1');
    await new Promise((resolve) => raw.once('connect', resolve));
    raw.resume(); // read the Close, so that the end is seen
    raw.write(Buffer.from([0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]));
    await new Promise((resolve) => raw.once('close', resolve));
    const limits = (await collect()).get(METRIC_NAMES.limits);
    const hit = (limits?.dataPoints ?? []).find((p) => p.attributes['error.type'] === 'SOCKETD_ERR_FRAME_LENGTH');
    expect(hit?.attributes['socketd.close_code']).toBe(1002);
    expect(hit?.value).toBe(1);
  });

  it("a broker's players by name and its forwards", async () => {
    const port = broker.address()!.port;
    const player = new SdClient(`sd:tcp://127.0.0.1:${port}/?@=echo`, {
      logger: false,
      onMessage: (s, m) => { if (m.isRequest) s.replyEnd(m, m.data); },
    });
    const caller = new SdClient(`sd:tcp://127.0.0.1:${port}`, { logger: false });
    toClose.push(player, caller);
    await player.connect();
    await waitFor(() => broker.players.get('echo')?.length === 1, 20_000, 'the player');
    expect(await total(METRIC_NAMES.players, { 'socketd.player': 'echo' })).toBe(1);
    const reply = await (await caller.connect()).request('e', 'hi', { metas: { '@': 'echo' } });
    expect(reply.dataAsString()).toBe('hi');
    expect(await total(METRIC_NAMES.forwards, { 'socketd.player': 'echo' })).toBe(1);
  });
});

import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventPattern, MessagePattern } from '@nestjs/microservices';
import { firstValueFrom, lastValueFrom } from 'rxjs';
import { SdClusterClient } from '../../lib/engine.js';
import { isSocketDError } from '../../lib/protocol/errors.js';
import { SocketDClient, SocketDServer, SocketDStatus } from '../../lib/nest/index.js';
import { KINDS, waitFor } from './nest-test.helpers.js';

/** A Nest app whose `who` answers its name and whose `note` events are counted. */
function whoModule(name: string, seen: { notes: number }) {
  @Controller()
  class WhoController {
    @MessagePattern('who')
    who(): string {
      return name;
    }

    @EventPattern('note')
    note(_data: unknown): void {
      seen.notes++;
    }
  }
  @Module({ controllers: [WhoController] })
  class WhoModule {}
  return WhoModule;
}

interface NamedApp {
  app: INestMicroservice;
  url: string;
  seen: { notes: number };
}

const apps: INestMicroservice[] = [];
const clients: SocketDClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(apps.splice(0).map((a) => a.close().catch(() => undefined)));
});

async function startApp(kind: string, name: string): Promise<NamedApp> {
  const seen = { notes: 0 };
  const server = new SocketDServer({ url: `sd:${kind}://127.0.0.1:0` });
  const app = await NestFactory.createMicroservice(whoModule(name, seen), { strategy: server, logger: false });
  await app.listen();
  apps.push(app);
  return { app, seen, url: `sd:${kind}://127.0.0.1:${server.address()!.port}` };
}

function client(options: ConstructorParameters<typeof SocketDClient>[0]): SocketDClient {
  const c = new SocketDClient({ reconnectDelay: 50, maxReconnectDelay: 300, logger: false, ...options });
  clients.push(c);
  return c;
}

async function whoCounts(c: SocketDClient, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const name = await firstValueFrom(c.send<string>('who', i));
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

describe('SocketDClient urls: option checks', () => {
  it('refuses urls with url/host/port, an empty list and a non-string entry', () => {
    expect(() => new SocketDClient({ urls: ['sd:tcp://a:1'], url: 'sd:tcp://b:2' })).toThrow(/either 'urls' or 'url'/);
    expect(() => new SocketDClient({ urls: 'sd:tcp://a:1', port: 2 })).toThrow(/either 'urls' or 'url'/);
    expect(() => new SocketDClient({ urls: [] })).toThrow(/at least one URL/);
    expect(() => new SocketDClient({ urls: [3 as unknown as string] })).toThrow(/must be strings/);
    expect(() => new SocketDServer({ urls: 'sd:tcp://a:1' } as never)).toThrow(/'urls' is a client option/);
  });
});

describe.each(KINDS)('SocketDClient with urls over %s', (kind) => {
  it('send() and emit() go to one server each, round-robin', async () => {
    const a = await startApp(kind, 'a');
    const b = await startApp(kind, 'b');
    const c = client({ urls: [a.url, b.url] });
    await c.connect();
    expect(c.unwrap<SdClusterClient>()).toBeInstanceOf(SdClusterClient);
    await waitFor(() => c.unwrap<SdClusterClient>().up === 2, 20_000, 'both servers up');
    expect(await whoCounts(c, 20)).toEqual({ a: 10, b: 10 });
    for (let i = 0; i < 20; i++) await lastValueFrom(c.emit('note', i), { defaultValue: undefined });
    await waitFor(() => a.seen.notes + b.seen.notes === 20, 20_000, 'all events');
    expect([a.seen.notes, b.seen.notes]).toEqual([10, 10]);
  });

  it('fails over: with one app closed, every call succeeds on the other; with both down, the clear error within requestTimeout', async () => {
    const a = await startApp(kind, 'a');
    const b = await startApp(kind, 'b');
    const c = client({ urls: `${a.url},${b.url}`, requestTimeout: 1_000 });
    const statuses: SocketDStatus[] = [];
    c.on('status', (s) => statuses.push(s));
    await c.connect();
    const cluster = c.unwrap<SdClusterClient>();
    await waitFor(() => cluster.up === 2, 20_000, 'both servers up');

    await a.app.close();
    await waitFor(() => cluster.up === 1, 20_000, 'a down');
    expect(await whoCounts(c, 10)).toEqual({ b: 10 });
    for (let i = 0; i < 6; i++) await lastValueFrom(c.emit('note', i), { defaultValue: undefined });
    await waitFor(() => b.seen.notes === 6, 20_000, 'events on b');
    expect(a.seen.notes).toBe(0);
    expect(statuses).toContain(SocketDStatus.CONNECTED);
    expect(statuses).not.toContain(SocketDStatus.RECONNECTING); // one up: the aggregate stays connected

    await b.app.close();
    await waitFor(() => cluster.up === 0, 20_000, 'both down');
    const started = Date.now();
    const err = await firstValueFrom(c.send('who', 1)).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(1_000 + 1_000); // requestTimeout, plus slack for a slow machine
    expect(`${(err as { code?: string }).code}: ${(err as Error).message}`).toMatch(/^SOCKETD_ERR_UNREACHABLE: No session is available!/);
    await expect(lastValueFrom(c.emit('note', 1))).rejects.toThrow(/No session is available!/);
  });
});

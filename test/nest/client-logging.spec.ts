import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger, type LoggerService } from '@nestjs/common';
import { firstValueFrom } from 'rxjs';
import { SdServer, isSocketDError } from '../../lib/engine.js';
import { SocketDClient } from '../../lib/nest/index.js';
import { waitFor } from './nest-test.helpers.js';

/** Every line Nest's Logger prints in this file, by level. */
class MemoryNestLogger implements LoggerService {
  readonly lines: { level: string; message: string }[] = [];
  log(message: unknown): void { this.lines.push({ level: 'log', message: String(message) }); }
  error(message: unknown): void { this.lines.push({ level: 'error', message: String(message) }); }
  warn(message: unknown): void { this.lines.push({ level: 'warn', message: String(message) }); }
  debug(message: unknown): void { this.lines.push({ level: 'debug', message: String(message) }); }
  verbose(message: unknown): void { this.lines.push({ level: 'verbose', message: String(message) }); }
  at(level: string): string[] { return this.lines.filter((l) => l.level === level).map((l) => l.message); }
}

const nestLog = new MemoryNestLogger();
beforeAll(() => { Logger.overrideLogger(nestLog); });
afterAll(() => { Logger.overrideLogger(true as never); });

async function freePort(): Promise<number> {
  const probe = await new SdServer('sd:tcp://127.0.0.1:0', { logger: false }).listen();
  const port = probe.address()!.port;
  await probe.close();
  return port;
}

describe('SocketDClient logs like Nest: no ERROR for a server that is down, one WARN per outage', () => {
  it('refused connects and failing calls log no ERROR; one WARN per outage and one line when it is over', async () => {
    const port = await freePort();
    const client = new SocketDClient({ url: `sd:tcp://127.0.0.1:${port}`, requestTimeout: 300, reconnectDelay: 50, maxReconnectDelay: 100 });
    try {
      const err = await client.connect().catch((e: unknown) => e);
      expect(isSocketDError(err, 'TRANSPORT')).toBe(true); // the caller gets the error
      for (let i = 0; i < 5; i++) {
        const callErr = await firstValueFrom(client.send('who', i)).catch((e: unknown) => e);
        expect(isSocketDError(callErr, 'UNREACHABLE')).toBe(true);
      }
      expect(nestLog.at('error')).toEqual([]);
      expect(nestLog.at('warn').filter((m) => /unreachable/.test(m))).toHaveLength(1);

      // The server comes up: one line says the outage is over.
      const server = await new SdServer(`sd:tcp://127.0.0.1:${port}`, { logger: false, onMessage: (s, m) => { if (m.isRequest) s.replyEnd(m, '"up"'); } }).listen();
      let answer: unknown;
      for (let i = 0; i < 100 && answer === undefined; i++) answer = await firstValueFrom(client.send('who', 1)).catch(() => undefined);
      expect(answer).toBe('up');
      await waitFor(() => nestLog.at('log').some((m) => /again after \d+ ms/.test(m)), 20_000, 'the end of the outage');

      // A second outage: a second WARN, still no ERROR.
      await server.close();
      await waitFor(() => nestLog.at('warn').filter((m) => /unreachable/.test(m)).length === 2, 20_000, 'the second outage');
      for (let i = 0; i < 3; i++) await firstValueFrom(client.send('who', i)).catch(() => undefined);
      expect(nestLog.at('warn').filter((m) => /unreachable/.test(m))).toHaveLength(2);
      expect(nestLog.at('error')).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it('no DEBUG lines from a standalone client unless Nest\'s levels ask for them (NEST_LOG_LEVEL here)', async () => {
    const server = await new SdServer('sd:tcp://127.0.0.1:0', { logger: false, onOpen: (s) => { s.send('/note', 'hi'); } }).listen();
    const url = `sd:tcp://127.0.0.1:${server.address()!.port}`;
    const quiet = new SocketDClient({ url });
    const before = nestLog.lines.length;
    try {
      await quiet.connect();
      await new Promise((r) => setTimeout(r, 300));
      expect(nestLog.lines.slice(before).filter((l) => l.level === 'debug')).toEqual([]);
      process.env.NEST_LOG_LEVEL = 'debug';
      const chatty = new SocketDClient({ url });
      try {
        await chatty.connect();
        await waitFor(() => nestLog.at('debug').some((m) => /no handler for the server's message '\/note'/.test(m)), 20_000, 'the debug line');
      } finally {
        await chatty.close();
      }
    } finally {
      delete process.env.NEST_LOG_LEVEL;
      await quiet.close();
      await server.close();
    }
  });

  it('close() reports closed (status event and status$) after connected', async () => {
    const server = await new SdServer('sd:tcp://127.0.0.1:0', { logger: false }).listen();
    const client = new SocketDClient({ url: `sd:tcp://127.0.0.1:${server.address()!.port}` });
    const events: string[] = [];
    const streamed: string[] = [];
    client.on('status', (s) => events.push(s));
    const sub = client.status.subscribe((s) => streamed.push(s));
    try {
      await client.connect();
      await client.close();
      expect(events).toEqual(['connecting', 'connected', 'closed']);
      expect(streamed.at(-1)).toBe('closed');
    } finally {
      sub.unsubscribe();
      await server.close();
    }
  });
});

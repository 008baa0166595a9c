import { afterEach, describe, expect, it } from '@jest/globals';
import { SdClient, SdServer, type EngineLogger } from '../../lib/engine.js';

/** A logger that keeps what it is told. */
function recordingLogger(): EngineLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, log: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m), debug: () => undefined };
}

describe('dialling the wrong transport gets an error naming the fix', () => {
  const servers: SdServer[] = [];
  const clients: SdClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('a tcp client dialling a ws server is told to use sd:ws://', async () => {
    const server = await new SdServer('sd:ws://127.0.0.1:0', { logger: false }).listen();
    servers.push(server);
    const client = new SdClient(`sd:tcp://127.0.0.1:${server.address()!.port}`, { autoReconnect: false, logger: false });
    clients.push(client);
    const err = await client.connect().then(() => undefined, (e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toMatch(/answered in HTTP.*sd:ws:\/\//);
  });

  it('a ws client dialling a tcp server is told to use sd:tcp://, and the server logs the hint', async () => {
    const logger = recordingLogger();
    const server = await new SdServer('sd:tcp://127.0.0.1:0', { logger }).listen();
    servers.push(server);
    const client = new SdClient(`sd:ws://127.0.0.1:${server.address()!.port}`, { autoReconnect: false, logger: false });
    clients.push(client);
    const err = await client.connect().then(() => undefined, (e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toMatch(/sd:tcp:\/\//);
    await new Promise<void>((resolve) => {
      const check = (): void => { if (logger.lines.some((l) => l.includes('HTTP request'))) resolve(); else setTimeout(check, 10); };
      check();
    });
    expect(logger.lines.find((l) => l.includes('HTTP request'))).toMatch(/dial it with sd:tcp:\/\//);
  });
});

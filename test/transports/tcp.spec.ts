// What only the TCP transport does; the Connection contract both transports share is in connection.spec.ts.
import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { cleanups, dialTcp as dial, messageFrame, rawSocket, Recorder, runCleanups, startTcpServer as startServer } from './helpers.js';

afterEach(runCleanups);

describe('TcpServerTransport / TcpClientTransport', () => {
  it('binds a random port and reports it', async () => {
    const { server, port } = await startServer();
    expect(port).toBeGreaterThan(0);
    expect(server.address()).toEqual({ host: '127.0.0.1', port });
  });

  it('decodes a frame split over many writes of a raw socket', async () => {
    const { port, accepted } = await startServer();
    const raw = await rawSocket(port);
    const atServer = new Recorder(await accepted.next());
    const bytes = Buffer.concat([messageFrame(7, Buffer.from('split me please')), messageFrame(8)]);
    for (let i = 0; i < bytes.length; i += 3) {
      await new Promise<void>((resolve, reject) => raw.write(bytes.subarray(i, i + 3), (e) => (e ? reject(e) : resolve())));
    }
    await atServer.until(() => atServer.frames.length === 2);
    expect(atServer.frames[0]!.data.toString()).toBe('split me please');
    expect(atServer.frames[1]!.sid).toBe('8');
  });

  it('holds frames received before setHandlers', async () => {
    const { port, accepted } = await startServer();
    const client = await dial(port);
    new Recorder(client);
    for (let i = 0; i < 10; i++) client.write(messageFrame(i));
    const server = await accepted.next();
    // Let the frames reach the server before it attaches its handlers.
    await new Promise((r) => setTimeout(r, 50));
    const atServer = new Recorder(server);
    await atServer.until(() => atServer.frames.length === 10);
    expect(atServer.frames.map((f) => f.sid)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });

  it('calls onDrain with a high-water mark below the socket\'s own', async () => {
    const { port, accepted } = await startServer();
    const client = await dial(port, { highWaterMark: 100 });
    new Recorder(await accepted.next());
    const atClient = new Recorder(client);
    expect(client.write(messageFrame(0, Buffer.alloc(50)))).toBe(true);
    expect(client.write(messageFrame(1, Buffer.alloc(50)))).toBe(false);
    await atClient.until(() => atClient.drains === 1);
    expect(client.write(messageFrame(2))).toBe(true);
  });

  it('end() destroys the socket after endTimeout when the peer never closes', async () => {
    const raw: Server = createServer({ allowHalfOpen: true }, (s) => {
      cleanups.push(() => s.destroy());
      s.resume(); // reads our FIN but never ends its side
    });
    cleanups.push(() => raw.close());
    raw.listen(0, '127.0.0.1');
    await once(raw, 'listening');
    const client = await dial((raw.address() as { port: number }).port, { endTimeout: 200 });
    const atClient = new Recorder(client);
    const started = Date.now();
    client.end();
    await atClient.until(() => atClient.closes.length === 1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });

  it('destroy(err) reports that error', async () => {
    const { port, accepted } = await startServer();
    const client = await dial(port);
    const atServer = new Recorder(await accepted.next());
    const atClient = new Recorder(client);
    const boom = new Error('boom');
    client.destroy(boom);
    await atClient.until(() => atClient.closes.length === 1);
    expect(atClient.closes[0]).toBe(boom);
    await atServer.until(() => atServer.closes.length === 1);
  });

  it('close() stops accepting but keeps open connections', async () => {
    const { server, port, accepted } = await startServer();
    const client = await dial(port);
    const atServer = new Recorder(await accepted.next());
    new Recorder(client);
    await server.close();
    client.write(messageFrame(5));
    await atServer.until(() => atServer.frames.length === 1);
    await expect(dial(port)).rejects.toMatchObject({ code: 'SOCKETD_ERR_TRANSPORT' });
  });
});

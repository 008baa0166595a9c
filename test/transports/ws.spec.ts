// What only the WebSocket transport does; the Connection contract both transports share is in connection.spec.ts.
import { afterEach, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { createServer, get as httpGet, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { isSocketDError } from '../../lib/protocol/errors.js';
import {
  cleanups,
  dialWs as dial,
  listenHttpsWithTestCert,
  messageFrame,
  Queue,
  rawWs,
  Recorder,
  runCleanups,
  startWsServer as startServer,
  upgradeStatus,
} from './helpers.js';

afterEach(runCleanups);

describe('WsServerTransport / WsClientTransport', () => {
  it('sends one binary message per frame and dials path+query as written, offering Socket.D', async () => {
    const http = createServer();
    cleanups.push(() => http.close());
    const seen = new Queue<{ url: string; protocol: string; messages: Buffer[] }>();
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ server: http });
    wss.on('connection', (ws, req) => {
      const messages: Buffer[] = [];
      ws.on('message', (data, isBinary) => {
        expect(isBinary).toBe(true);
        messages.push(data as Buffer);
        if (messages.length === 3) seen.push({ url: req.url!, protocol: ws.protocol, messages });
      });
    });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const port = (http.address() as { port: number }).port;
    const client = await dial(`sd:ws-java://127.0.0.1:${port}/a/b?u=a&t=%20`);
    new Recorder(client);
    const frames = [messageFrame(1), messageFrame(2), messageFrame(3)];
    for (const f of frames) client.write(f);
    const got = await seen.next();
    expect(got.url).toBe('/a/b?u=a&t=%20');
    expect(got.protocol).toBe('Socket.D');
    got.messages.forEach((m, i) => expect(m.equals(frames[i]!)).toBe(true));
    client.destroy();
    wss.close();
  });

  it('closes with SOCKETD_ERR_FRAME_LENGTH on a message over maxFrameSize', async () => {
    const { port, accepted } = await startServer({ maxFrameSize: 1024 });
    const client = await dial(`ws://127.0.0.1:${port}`);
    const atServer = new Recorder(await accepted.next());
    const atClient = new Recorder(client);
    client.write(messageFrame(1, Buffer.alloc(2000)));
    await atServer.until(() => atServer.closes.length === 1);
    expect(isSocketDError(atServer.closes[0], 'FRAME_LENGTH')).toBe(true);
    await atClient.until(() => atClient.closes.length === 1);
  });

  it('refuses an upgrade without the Socket.D subprotocol with 403, accepts socket.d in any case', async () => {
    const { port, accepted } = await startServer();
    expect(await upgradeStatus(port, '/', [])).toBe(403);
    expect(await upgradeStatus(port, '/', ['chat'])).toBe(403);
    const lower = await rawWs(port, ['socket.d']);
    expect(lower.protocol).toBe('socket.d');
    await accepted.next();
    const both = await rawWs(port, ['other', 'Socket.D']);
    expect(both.protocol).toBe('Socket.D');
    await accepted.next();
  });

  it('accepts a client without subprotocol when requireSubprotocol is false', async () => {
    const { port, accepted } = await startServer({ requireSubprotocol: false });
    const raw = await rawWs(port, []);
    expect(raw.protocol).toBe('');
    const atServer = new Recorder(await accepted.next());
    raw.send(messageFrame(3));
    await atServer.until(() => atServer.frames.length === 1);
  });

  it('attaches to an existing http.Server that keeps serving HTTP, filtering by path', async () => {
    const http: HttpServer = createServer((_req, res) => res.end('hello http'));
    cleanups.push(() => http.close());
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const { server, port, accepted } = await startServer({ httpServer: http, path: '/socketd' });
    expect(server.address()).toEqual({ host: '127.0.0.1', port });

    const body = await new Promise<string>((resolve, reject) => {
      httpGet(`http://127.0.0.1:${port}/`, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
    expect(body).toBe('hello http');

    expect(await upgradeStatus(port, '/other', ['Socket.D'])).toBe(404);
    const client = await dial(`ws://127.0.0.1:${port}/socketd?x=1`);
    const atServer = new Recorder(await accepted.next());
    new Recorder(client);
    client.write(messageFrame(1));
    await atServer.until(() => atServer.frames.length === 1);

    // close() detaches without stopping the HTTP server.
    await server.close();
    expect(http.listening).toBe(true);
    expect(http.listenerCount('upgrade')).toBe(0);
  });

  it('answers plain HTTP on its own port with 426', async () => {
    const { port } = await startServer();
    const status = await new Promise<number>((resolve, reject) => {
      httpGet(`http://127.0.0.1:${port}/`, (res) => {
        res.resume();
        resolve(res.statusCode!);
      }).on('error', reject);
    });
    expect(status).toBe(426);
  });

  // A refused connect: connection.spec.ts.
  it('rejects a refused upgrade with SOCKETD_ERR_TRANSPORT', async () => {
    const http = createServer((_req, res) => res.end());
    cleanups.push(() => http.close());
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const port = (http.address() as { port: number }).port;
    await expect(dial(`ws://127.0.0.1:${port}`)).rejects.toMatchObject({ code: 'SOCKETD_ERR_TRANSPORT' });
  });

  it('rejects with SOCKETD_ERR_CONNECT_TIMEOUT when the upgrade is never answered', async () => {
    const silent = createNetServer((s) => cleanups.push(() => s.destroy()));
    cleanups.push(() => silent.close());
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const port = (silent.address() as { port: number }).port;
    const started = Date.now();
    await expect(dial(`ws://127.0.0.1:${port}`, { connectTimeout: 200 })).rejects.toMatchObject({ code: 'SOCKETD_ERR_CONNECT_TIMEOUT' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });

  it('serves wss:// on an https.Server; the client trusts a private CA through tls', async () => {
    const { https, cert } = await listenHttpsWithTestCert();
    const { port, accepted } = await startServer({ httpServer: https });
    await expect(dial(`sd:wss://127.0.0.1:${port}/x`)).rejects.toMatchObject({ code: 'SOCKETD_ERR_TRANSPORT' });
    const client = await dial(`sd:wss://127.0.0.1:${port}/x`, { tls: { ca: cert } });
    const atServer = new Recorder(await accepted.next());
    const atClient = new Recorder(client);
    atServer.connection!.write(messageFrame(5));
    client.write(messageFrame(6));
    await atServer.until(() => atServer.frames.length === 1);
    await atClient.until(() => atClient.frames.length === 1);
    expect([atServer.frames[0]!.sid, atClient.frames[0]!.sid]).toEqual(['6', '5']);
  });
});

import { afterEach, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, get as httpGet, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { isSocketDError } from '../../lib/protocol/errors.js';
import { parseUrl } from '../../lib/transports/url.js';
import { WsClientTransport, WsServerTransport, type WsServerOptions } from '../../lib/transports/ws-transport.js';
import type { Connection } from '../../lib/transports/transport.js';
import { messageFrame, Queue, Recorder } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function startServer(options: WsServerOptions = {}): Promise<{ server: WsServerTransport; port: number; accepted: Queue<Connection> }> {
  const server = new WsServerTransport('127.0.0.1', 0, options);
  const accepted = new Queue<Connection>();
  await server.listen((c) => {
    cleanups.push(() => c.destroy());
    accepted.push(c);
  });
  cleanups.push(() => server.close());
  const port = options.httpServer ? (options.httpServer.address() as { port: number }).port : server.address()!.port;
  return { server, port, accepted };
}

async function dial(url: string, options = {}): Promise<Connection> {
  const c = await new WsClientTransport().connect(parseUrl(url), { connectTimeout: 5000, ...options });
  cleanups.push(() => c.destroy());
  return c;
}

/** A plain ws client; resolves once open. */
async function rawWs(port: number, protocols: string[] = ['Socket.D']): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, protocols);
  cleanups.push(() => ws.terminate());
  await once(ws, 'open');
  return ws;
}

/** The HTTP status of a refused upgrade. */
async function upgradeStatus(port: number, path: string, protocols: string[]): Promise<number> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, protocols);
  ws.on('error', () => {}); // terminate() while connecting emits one
  const [, res] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number; destroy(): void }];
  res.destroy();
  ws.terminate();
  return res.statusCode;
}

describe('WsServerTransport / WsClientTransport', () => {
  it('delivers many small frames written in one tick, whole and in order, both ways', async () => {
    const { port, accepted } = await startServer();
    const client = await dial(`sd:ws://127.0.0.1:${port}/path?u=a`);
    const server = await accepted.next();
    const atServer = new Recorder(server);
    const atClient = new Recorder(client);
    expect(client.remoteAddress).toBe(`127.0.0.1:${port}`);
    const n = 5000;
    let ok = 0;
    for (let i = 0; i < n; i++) if (client.write(messageFrame(i))) ok++;
    expect(ok).toBe(n);
    for (let i = 0; i < n; i++) server.write(messageFrame(i));
    await atServer.until(() => atServer.frames.length === n);
    await atClient.until(() => atClient.frames.length === n);
    const expected = Array.from({ length: n }, (_, i) => `${i}|/e|k=v|payload-${i}`);
    for (const rec of [atServer, atClient]) {
      expect(rec.frames.map((f) => `${f.sid}|${f.event}|${f.metaString}|${f.data.toString()}`)).toEqual(expected);
    }
  });

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

  it('carries a 16 MiB frame', async () => {
    const { port, accepted } = await startServer();
    const client = await dial(`ws://127.0.0.1:${port}`);
    const atServer = new Recorder(await accepted.next());
    new Recorder(client);
    const data = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data[i] = i & 0xff;
    client.write(messageFrame(1, data));
    client.write(messageFrame(2));
    await atServer.until(() => atServer.frames.length === 2);
    expect(atServer.frames[0]!.data.equals(data)).toBe(true);
    expect(atServer.frames[1]!.sid).toBe('2');
  });

  it.each([
    ['a text message', (ws: WebSocket) => ws.send('hello'), 'BAD_MESSAGE'],
    ['two frames in one message', (ws: WebSocket) => ws.send(Buffer.concat([messageFrame(1), messageFrame(2)])), 'BAD_MESSAGE'],
    ['a truncated frame', (ws: WebSocket) => ws.send(messageFrame(1).subarray(0, 12)), 'BAD_MESSAGE'],
    ['length ff ff ff ff', (ws: WebSocket) => ws.send(Buffer.from('ffffffff00000028', 'hex')), 'FRAME_LENGTH'],
    ['length 7f ff ff ff', (ws: WebSocket) => ws.send(Buffer.from('7fffffff00000028', 'hex')), 'FRAME_LENGTH'],
    ['3 bytes', (ws: WebSocket) => ws.send(Buffer.from('000000', 'hex')), 'BAD_MESSAGE'],
  ] as const)('reports %s as a protocol error (1002) and keeps serving', async (_name, send, kind) => {
    const { port, accepted } = await startServer();
    const raw = await rawWs(port);
    const first = await accepted.next();
    const atFirst = new Recorder(first);
    send(raw);
    raw.send(messageFrame(9)); // never delivered: decoding stopped
    await atFirst.until(() => atFirst.protocolErrors.length === 1);
    const err = atFirst.protocolErrors[0]!;
    expect(isSocketDError(err, kind)).toBe(true);
    expect(err.closeCode).toBe(1002);
    // The session sends Close 1002 then ends.
    const rawGot = new Queue<Buffer>();
    raw.on('message', (d) => rawGot.push(d as Buffer));
    expect(first.write(messageFrame(0))).toBe(true);
    first.end();
    expect((await rawGot.next()).equals(messageFrame(0))).toBe(true);
    await once(raw, 'close');
    await atFirst.until(() => atFirst.closes.length === 1);
    expect(atFirst.frames).toHaveLength(0);
    expect(atFirst.protocolErrors).toHaveLength(1);

    const client = await dial(`ws://127.0.0.1:${port}`);
    const atSecond = new Recorder(await accepted.next());
    new Recorder(client);
    client.write(messageFrame(42));
    await atSecond.until(() => atSecond.frames.length === 1);
    expect(atSecond.frames[0]!.sid).toBe('42');
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

  it('returns false above the high-water mark and calls onDrain once the paused peer resumes', async () => {
    const { port, accepted } = await startServer();
    const client = await dial(`ws://127.0.0.1:${port}`);
    const server = await accepted.next();
    const atServer = new Recorder(server);
    server.pause();
    const atClient = new Recorder(client);
    const frame = messageFrame(0, Buffer.alloc(64 * 1024));
    let written = 0;
    while (client.write(frame)) {
      written++;
      if (written % 16 === 0) await new Promise((r) => setImmediate(r));
      expect(written).toBeLessThan(10_000);
    }
    written++;
    expect(client.bufferedAmount).toBeGreaterThan(1024 * 1024);
    expect(client.write(frame)).toBe(false);
    written++;
    server.resume();
    await atClient.until(() => atClient.drains === 1);
    await atServer.until(() => atServer.frames.length === written);
    expect(atClient.drains).toBe(1);
  });

  it('leaves the frames of one tick in one write (corked)', async () => {
    const { port, accepted } = await startServer();
    const client = await dial(`ws://127.0.0.1:${port}`);
    new Recorder(await accepted.next());
    new Recorder(client);
    const socket = (client as unknown as { socket: Socket & { _writev(c: unknown[], cb: unknown): void } }).socket;
    let calls = 0;
    const orig = socket._writev.bind(socket);
    socket._writev = (chunks, cb) => {
      calls++;
      orig(chunks, cb);
    };
    for (let i = 0; i < 100; i++) client.write(messageFrame(i));
    await new Promise((r) => setImmediate(r));
    expect(calls).toBe(1);
  });

  it('end() runs the close handshake and reports onClose once on both sides', async () => {
    const { port, accepted } = await startServer();
    const client = await dial(`ws://127.0.0.1:${port}`);
    const atServer = new Recorder(await accepted.next());
    const atClient = new Recorder(client);
    client.write(messageFrame(1));
    client.end();
    expect(client.closed).toBe(true);
    expect(client.write(messageFrame(2))).toBe(false);
    await atServer.until(() => atServer.closes.length === 1);
    await atClient.until(() => atClient.closes.length === 1);
    expect(atServer.frames.map((f) => f.sid)).toEqual(['1']);
    expect(atServer.closes).toEqual([undefined]);
    expect(atClient.closes).toEqual([undefined]);
  });

  it('rejects a refused upgrade and a refused connect with SOCKETD_ERR_TRANSPORT', async () => {
    const http = createServer((_req, res) => res.end());
    cleanups.push(() => http.close());
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const port = (http.address() as { port: number }).port;
    await expect(dial(`ws://127.0.0.1:${port}`)).rejects.toMatchObject({ code: 'SOCKETD_ERR_TRANSPORT' });
    http.close();
    await once(http, 'close');
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
    // Self-signed test-only certificate for 127.0.0.1/localhost (valid 100 years).
    const cert = readFileSync(new URL('./fixtures/tls-cert.pem', import.meta.url));
    const key = readFileSync(new URL('./fixtures/tls-key.pem', import.meta.url));
    const https = createHttpsServer({ cert, key });
    cleanups.push(() => https.close());
    https.listen(0, '127.0.0.1');
    await once(https, 'listening');
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

  it('refuses upgrades beyond maxConnections with 503', async () => {
    const { port, accepted } = await startServer({ maxConnections: 1 });
    await dial(`ws://127.0.0.1:${port}`);
    await accepted.next();
    expect(await upgradeStatus(port, '/', ['Socket.D'])).toBe(503);
  });
});

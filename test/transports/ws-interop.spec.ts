// Our WebSocket framing against a mainstream implementation: the `ws` library's client against
// our server, and `ws`'s server against our client.
import { afterEach, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { WebSocket, WebSocketServer } from 'ws';
import { cleanups, dialWs, messageFrame, Queue, rawWs, Recorder, runCleanups, startWsServer } from './helpers.js';

afterEach(runCleanups);

describe('the ws client against our server', () => {
  it('messages both ways (small, 16-bit, 64-bit lengths), a fragmented message, ping/pong, and its close code echoed', async () => {
    const { port, accepted } = await startWsServer();
    const ws: WebSocket = await rawWs(port);
    const server = await accepted.next();
    const rec = new Recorder(server);
    const received = new Queue<Buffer>();
    ws.on('message', (d) => received.push(d as Buffer));

    const frames = [messageFrame(1), messageFrame(2, Buffer.alloc(1000, 1)), messageFrame(3, Buffer.alloc(1_000_000, 2))];
    for (const f of frames) ws.send(f);
    // One frame as three fragments.
    const frag = messageFrame(4, Buffer.alloc(5000, 3));
    ws.send(frag.subarray(0, 100), { fin: false });
    ws.send(frag.subarray(100, 3000), { fin: false });
    ws.send(frag.subarray(3000), { fin: true });
    await rec.until(() => rec.frames.length === 4);
    expect(rec.frames.map((f) => f.sid)).toEqual(['1', '2', '3', '4']);
    expect(rec.frames[2]!.data.equals(Buffer.alloc(1_000_000, 2))).toBe(true);
    expect(rec.frames[3]!.data.equals(Buffer.alloc(5000, 3))).toBe(true);

    for (const f of frames) server.write(f);
    for (const f of frames) expect((await received.next()).equals(f)).toBe(true);

    ws.ping(Buffer.from('are you there'));
    const [pong] = (await once(ws, 'pong')) as [Buffer];
    expect(pong.toString()).toBe('are you there');

    ws.close(4321, 'done');
    const [code] = (await once(ws, 'close')) as [number];
    expect(code).toBe(4321);
    await rec.until(() => rec.closes.length === 1);
    expect(rec.closes[0]).toBeUndefined();
  });

  it('our server ends: ws sees Close 1000 after every message', async () => {
    const { port, accepted } = await startWsServer();
    const ws: WebSocket = await rawWs(port);
    const server = await accepted.next();
    const rec = new Recorder(server);
    const received: Buffer[] = [];
    ws.on('message', (d) => received.push(d as Buffer));
    for (let i = 0; i < 500; i++) server.write(messageFrame(i));
    server.end();
    const [code] = (await once(ws, 'close')) as [number];
    expect(code).toBe(1000);
    expect(received).toHaveLength(500);
    await rec.until(() => rec.closes.length === 1);
  });
});

describe('our client against the ws server', () => {
  async function wsServer(): Promise<{ port: number; peers: Queue<WebSocket> }> {
    const peers = new Queue<WebSocket>();
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true, handleProtocols: (p) => (p.has('Socket.D') ? 'Socket.D' : false) });
    wss.on('connection', (ws) => peers.push(ws));
    await once(wss, 'listening');
    cleanups.push(() => {
      for (const c of wss.clients) c.terminate();
      wss.close();
    });
    return { port: (wss.address() as { port: number }).port, peers };
  }

  it('messages both ways (masked frames ws accepts, up to 1 MB), ws fragments and pings, ws\'s close code echoed', async () => {
    const { port, peers } = await wsServer();
    const client = await dialWs(`sd:ws://127.0.0.1:${port}/x`);
    const rec = new Recorder(client);
    const ws = await peers.next();
    expect(ws.protocol).toBe('Socket.D');
    expect(ws.extensions).toBe(''); // permessage-deflate offered by the server side only: not used
    const received = new Queue<Buffer>();
    ws.on('message', (d, isBinary) => {
      expect(isBinary).toBe(true);
      received.push(d as Buffer);
    });

    const frames = [messageFrame(1), messageFrame(2, Buffer.alloc(20_000, 1)), messageFrame(3, Buffer.alloc(1_000_000, 2))];
    for (const f of frames) client.write(f);
    client.writeParts(frames[2]!.subarray(0, 40), frames[2]!.subarray(40));
    for (const f of [...frames, frames[2]!]) expect((await received.next()).equals(f)).toBe(true);

    const frag = messageFrame(4, Buffer.alloc(3000, 3));
    ws.send(frag.subarray(0, 10), { fin: false });
    ws.ping(Buffer.from('ping between'));
    ws.send(frag.subarray(10), { fin: true });
    ws.send(messageFrame(5, Buffer.alloc(100_000, 4)));
    const [pong] = (await once(ws, 'pong')) as [Buffer];
    expect(pong.toString()).toBe('ping between');
    await rec.until(() => rec.frames.length === 2);
    expect(rec.frames[0]!.data.equals(Buffer.alloc(3000, 3))).toBe(true);
    expect(rec.frames[1]!.data.equals(Buffer.alloc(100_000, 4))).toBe(true);

    ws.close(4001, 'bye');
    const [code] = (await once(ws, 'close')) as [number];
    expect(code).toBe(4001);
    await rec.until(() => rec.closes.length === 1);
    expect(rec.closes[0]).toBeUndefined();
  });

  it('our client ends: ws sees every message, then Close 1000', async () => {
    const { port, peers } = await wsServer();
    const client = await dialWs(`sd:ws://127.0.0.1:${port}`);
    const rec = new Recorder(client);
    const ws = await peers.next();
    const received: Buffer[] = [];
    ws.on('message', (d) => received.push(d as Buffer));
    for (let i = 0; i < 500; i++) client.write(messageFrame(i));
    client.end();
    const [code] = (await once(ws, 'close')) as [number];
    expect(code).toBe(1000);
    expect(received).toHaveLength(500);
    await rec.until(() => rec.closes.length === 1);
    expect(rec.closes[0]).toBeUndefined();
  });
});

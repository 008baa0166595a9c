/**
 * Frames written as head + data (`encodeFrameHead` + `Connection.writeParts`): the bytes equal
 * `encodeFrame`'s, and the peer receives one whole frame (over WebSocket: one message),
 * interleaved correctly with ordinary frames.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { encodeFrame, encodeFrameHead } from '../../lib/protocol/frame-codec.js';
import { Flags } from '../../lib/protocol/flags.js';
import type { Frame } from '../../lib/protocol/frame.js';
import { TcpClientTransport, TcpServerTransport } from '../../lib/transports/tcp-transport.js';
import { WsClientTransport, WsServerTransport } from '../../lib/transports/ws-transport.js';
import { parseUrl } from '../../lib/engine.js';
import type { Connection } from '../../lib/session/connection.js';
import { messageFrame, Queue, Recorder } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe('encodeFrameHead', () => {
  it('is encodeFrame without the data, its length field counting the data', () => {
    for (const size of [0, 1, 100, 70_000]) {
      const frame: Frame = { flag: Flags.Reply, sid: 'sid-1', event: 'e/v', metaString: 'a=1&b=2', data: randomBytes(size) };
      const whole = encodeFrame(frame);
      const head = encodeFrameHead(frame);
      expect(head.length).toBe(whole.length - size);
      expect(head.readInt32BE(0)).toBe(whole.length);
      expect(Buffer.concat([head, frame.data]).equals(whole)).toBe(true);
    }
  });
});

async function pair(kind: 'tcp' | 'ws'): Promise<{ client: Connection; server: Connection }> {
  const accepted = new Queue<Connection>();
  const server = kind === 'tcp' ? new TcpServerTransport('127.0.0.1', 0, {}) : new WsServerTransport('127.0.0.1', 0, {});
  await server.listen((c) => {
    cleanups.push(() => c.destroy());
    accepted.push(c);
  });
  cleanups.push(() => server.close());
  const url = `sd:${kind}://127.0.0.1:${server.address()!.port}`;
  const transport = kind === 'tcp' ? new TcpClientTransport() : new WsClientTransport();
  const client = await transport.connect(parseUrl(url), { connectTimeout: 5000 });
  cleanups.push(() => client.destroy());
  return { client, server: await accepted.next() };
}

describe.each(['tcp', 'ws'] as const)('Connection.writeParts over %s', (kind) => {
  it('delivers head + data as one frame, in order with whole frames, both ways', async () => {
    const { client, server } = await pair(kind);
    const atServer = new Recorder(server);
    const atClient = new Recorder(client);
    const big = randomBytes(1024 * 1024 + 3);
    const frame: Frame = { flag: Flags.Message, sid: 'big', event: '/e', metaString: 'k=v', data: big };
    for (const [from, to] of [[client, atServer], [server, atClient]] as const) {
      from.write(messageFrame(1));
      from.writeParts(encodeFrameHead(frame), big);
      from.write(messageFrame(2));
      const small = big.subarray(0, 70_000);
      from.writeParts(encodeFrameHead({ ...frame, sid: 'big2', data: small }), small);
      await to.until(() => to.frames.length === 4);
      expect(to.frames.map((f) => f.sid)).toEqual(['1', 'big', '2', 'big2']);
      expect(to.frames[1]!.data.equals(big)).toBe(true);
      expect(to.frames[3]!.data.equals(big.subarray(0, 70_000))).toBe(true);
    }
  });

  it('returns false above the high-water mark and reports the drain', async () => {
    const { client, server } = await pair(kind);
    const atServer = new Recorder(server);
    const atClient = new Recorder(client);
    const big = randomBytes(2 * 1024 * 1024);
    const frame: Frame = { flag: Flags.Message, sid: 'x', event: '/e', metaString: '', data: big };
    expect(client.writeParts(encodeFrameHead(frame), big)).toBe(false);
    await atClient.until(() => atClient.drains === 1);
    await atServer.until(() => atServer.frames.length === 1);
    expect(atServer.frames[0]!.data.equals(big)).toBe(true);
  });
});

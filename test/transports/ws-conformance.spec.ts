// RFC 6455 conformance of our WebSocket framing (lib/transports/ws-reader.ts, ws-stage.ts,
// ws-connection.ts), over real sockets: our server driven by a raw TCP client writing
// hand-made frames, our client against a raw TCP server speaking hand-made frames.
import { afterEach, describe, expect, it } from '@jest/globals';
import { isSocketDError } from '../../lib/protocol/errors.js';
import type { Connection } from '../../lib/session/connection.js';
import { cleanups, dialWs, messageFrame, Recorder, runCleanups, startWsServer } from './helpers.js';
import { closeBody, OP, rawClient, rawServer, wsFrame, type WireFrame, type WireReader } from './ws-wire.js';

afterEach(runCleanups);

const M = { mask: 'random' } as const;

/** Our server and a raw client that upgraded to it. */
async function serverAndRaw(options = {}): Promise<{ server: Connection; rec: Recorder; raw: WireReader }> {
  const { port, accepted } = await startWsServer(options);
  const raw = await rawClient(port);
  const server = await accepted.next();
  const rec = new Recorder(server);
  return { server, rec, raw };
}

/** The next frame that is not a message (a control frame). */
async function nextControl(raw: WireReader): Promise<WireFrame> {
  for (;;) {
    const f = await raw.next();
    if (f.opcode >= 8) return f;
  }
}

/** Our server answered a violation: its Close code, the socket closed, onClose with the error kind. */
async function expectWsClose(raw: WireReader, rec: Recorder, code: number, kind: 'BAD_MESSAGE' | 'FRAME_LENGTH'): Promise<void> {
  const close = await nextControl(raw);
  expect(close.opcode).toBe(OP.CLOSE);
  expect(close.payload.readUInt16BE(0)).toBe(code);
  expect(close.key).toBeUndefined();
  raw.socket.end(wsFrame(OP.CLOSE, closeBody(code), M));
  await raw.closed;
  await rec.until(() => rec.closes.length === 1);
  expect(isSocketDError(rec.closes[0], kind)).toBe(true);
  expect(rec.frames).toHaveLength(0);
}

describe('our server, a raw client', () => {
  it('reassembles a fragmented message, with ping and pong frames between the fragments; answers the ping with its payload', async () => {
    const { rec, raw } = await serverAndRaw();
    const frame = messageFrame(1, Buffer.alloc(300, 7));
    raw.socket.write(Buffer.concat([
      wsFrame(OP.BINARY, frame.subarray(0, 10), { ...M, fin: false }),
      wsFrame(OP.PING, Buffer.from('between'), M),
      wsFrame(OP.CONT, frame.subarray(10, 200), { ...M, fin: false }),
      wsFrame(OP.PONG, Buffer.from('unsolicited'), M),
      wsFrame(OP.CONT, Buffer.alloc(0), { ...M, fin: false }),
      wsFrame(OP.CONT, frame.subarray(200), M),
      wsFrame(OP.BINARY, messageFrame(2), M),
    ]));
    await rec.until(() => rec.frames.length === 2);
    expect(rec.frames.map((f) => f.sid)).toEqual(['1', '2']);
    expect(rec.frames[0]!.data.equals(Buffer.alloc(300, 7))).toBe(true);
    const pong = await nextControl(raw);
    expect(pong).toMatchObject({ opcode: OP.PONG, fin: true, key: undefined, payload: Buffer.from('between') });
    const full = Buffer.alloc(125, 'x');
    raw.socket.write(wsFrame(OP.PING, full, M));
    expect((await nextControl(raw)).payload.equals(full)).toBe(true);
  });

  it('sends unmasked, final binary frames in the shortest length form', async () => {
    const { server, raw } = await serverAndRaw();
    const frames = [messageFrame(1), messageFrame(2, Buffer.alloc(1000)), messageFrame(3, Buffer.alloc(70_000))];
    for (const f of frames) server.write(f);
    for (const f of frames) {
      const got = await raw.next();
      expect(got).toMatchObject({ fin: true, rsv: 0, opcode: OP.BINARY, key: undefined });
      expect(got.headerBytes).toBe(f.length < 126 ? 2 : f.length < 65536 ? 4 : 10);
      expect(got.payload.equals(f)).toBe(true);
    }
  });

  it('accepts 16-bit and 64-bit lengths (also longer forms than needed); refuses a 64-bit length with its top bit set', async () => {
    const { rec, raw } = await serverAndRaw();
    raw.socket.write(Buffer.concat([
      wsFrame(OP.BINARY, messageFrame(1, Buffer.alloc(200)), M),
      wsFrame(OP.BINARY, messageFrame(2), { ...M, lengthForm: 16 }),
      wsFrame(OP.BINARY, messageFrame(3), { ...M, lengthForm: 64 }),
      wsFrame(OP.BINARY, messageFrame(4, Buffer.alloc(70_000, 1)), M),
    ]));
    await rec.until(() => rec.frames.length === 4);
    expect(rec.frames.map((f) => f.sid)).toEqual(['1', '2', '3', '4']);
    expect(rec.frames[3]!.data.equals(Buffer.alloc(70_000, 1))).toBe(true);
    raw.socket.write(wsFrame(OP.BINARY, Buffer.alloc(0), { ...M, lengthForm: 64, length64High: 0x80000000 }));
    const close = await nextControl(raw);
    expect(close.payload.readUInt16BE(0)).toBe(1002);
    await rec.until(() => rec.closes.length === 1);
    expect(isSocketDError(rec.closes[0], 'BAD_MESSAGE')).toBe(true);
  });

  it('refuses an unmasked client frame (Close 1002)', async () => {
    const { rec, raw } = await serverAndRaw();
    raw.socket.write(wsFrame(OP.BINARY, messageFrame(1)));
    await expectWsClose(raw, rec, 1002, 'BAD_MESSAGE');
  });

  it.each([3, 4, 5, 6, 7, 11, 12, 13, 14, 15])('refuses opcode %d (Close 1002)', async (opcode) => {
    const { rec, raw } = await serverAndRaw();
    raw.socket.write(wsFrame(opcode, Buffer.from('x'), M));
    await expectWsClose(raw, rec, 1002, 'BAD_MESSAGE');
  });

  it.each([0x40, 0x20, 0x10])('refuses RSV bits %s (Close 1002)', async (rsv) => {
    const { rec, raw } = await serverAndRaw();
    raw.socket.write(wsFrame(OP.BINARY, messageFrame(1), { ...M, rsv }));
    await expectWsClose(raw, rec, 1002, 'BAD_MESSAGE');
  });

  it.each([
    ['a fragmented ping', wsFrame(OP.PING, Buffer.from('p'), { ...M, fin: false })],
    ['a ping over 125 bytes', wsFrame(OP.PING, Buffer.alloc(126), M)],
    ['a continuation without a message', wsFrame(OP.CONT, Buffer.from('x'), M)],
    ['a new message inside a fragmented one', Buffer.concat([wsFrame(OP.BINARY, Buffer.from('ab'), { ...M, fin: false }), wsFrame(OP.BINARY, Buffer.from('c'), M)])],
    ['a close with a 1-byte payload', wsFrame(OP.CLOSE, Buffer.from([3]), M)],
    ...[0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000].map((code) => [`close code ${code}`, wsFrame(OP.CLOSE, closeBody(code), M)] as const),
  ])('refuses %s (Close 1002)', async (_name, bytes) => {
    const { rec, raw } = await serverAndRaw();
    raw.socket.write(bytes);
    await expectWsClose(raw, rec, 1002, 'BAD_MESSAGE');
  });

  it('refuses a close reason that is not UTF-8 (Close 1007)', async () => {
    const { rec, raw } = await serverAndRaw();
    raw.socket.write(wsFrame(OP.CLOSE, closeBody(1000, Buffer.from([0xc3, 0x28])), M));
    await expectWsClose(raw, rec, 1007, 'BAD_MESSAGE');
  });

  it.each([
    ['valid UTF-8', Buffer.from('{"hello":"world"}')],
    ['invalid UTF-8', Buffer.from([0xff, 0xfe, 0xc3, 0x28])],
  ])('a text message (%s) is a protocol error (SOCKETD_ERR_BAD_MESSAGE), then Close 1003', async (_name, payload) => {
    const { server, rec, raw } = await serverAndRaw();
    raw.socket.write(wsFrame(OP.TEXT, payload, M));
    await rec.until(() => rec.protocolErrors.length === 1);
    expect(rec.protocolErrors[0]!.code).toBe('SOCKETD_ERR_BAD_MESSAGE');
    server.end(); // what the session does after sending its Close 1002
    const close = await nextControl(raw);
    expect(close.payload.readUInt16BE(0)).toBe(1003);
    expect(rec.frames).toHaveLength(0);
  });

  it('refuses a message over maxFrameSize from its header alone (Close 1009, SOCKETD_ERR_FRAME_LENGTH)', async () => {
    const { rec, raw } = await serverAndRaw({ maxFrameSize: 1024 });
    // Only the header of a 2000-byte frame: nothing of it is buffered, the answer is at once.
    raw.socket.write(wsFrame(OP.BINARY, Buffer.alloc(2000), M).subarray(0, 8));
    await expectWsClose(raw, rec, 1009, 'FRAME_LENGTH');
  });

  it('refuses fragments adding up to more than maxFrameSize (Close 1009)', async () => {
    const { rec, raw } = await serverAndRaw({ maxFrameSize: 1024 });
    raw.socket.write(wsFrame(OP.BINARY, Buffer.alloc(600), { ...M, fin: false }));
    raw.socket.write(wsFrame(OP.CONT, Buffer.alloc(600), M).subarray(0, 8));
    await expectWsClose(raw, rec, 1009, 'FRAME_LENGTH');
  });

  it('close handshake, peer first: its Close is echoed (code and all), the socket ends, onClose without error', async () => {
    const { rec, raw } = await serverAndRaw();
    raw.socket.write(wsFrame(OP.CLOSE, closeBody(4000, 'bye'), M));
    const close = await nextControl(raw);
    expect(close.opcode).toBe(OP.CLOSE);
    expect(close.payload.readUInt16BE(0)).toBe(4000);
    await rec.until(() => rec.closes.length === 1);
    expect(rec.closes[0]).toBeUndefined();
    await raw.closed;
  });

  it('close handshake, peer first with an empty Close: answered with an empty Close', async () => {
    const { rec, raw } = await serverAndRaw();
    raw.socket.write(wsFrame(OP.CLOSE, Buffer.alloc(0), M));
    const close = await nextControl(raw);
    expect(close.payload.length).toBe(0);
    await rec.until(() => rec.closes.length === 1);
  });

  it('close handshake, ours first: Close 1000 after what was written; messages after it are dropped; closed on the peer\'s Close', async () => {
    const { server, rec, raw } = await serverAndRaw();
    server.write(messageFrame(1));
    server.end();
    expect((await raw.next()).payload.equals(messageFrame(1))).toBe(true);
    const close = await raw.next();
    expect(close.opcode).toBe(OP.CLOSE);
    expect(close.payload.readUInt16BE(0)).toBe(1000);
    raw.socket.write(wsFrame(OP.BINARY, messageFrame(2), M));
    raw.socket.write(wsFrame(OP.CLOSE, closeBody(1000), M));
    await raw.closed;
    await rec.until(() => rec.closes.length === 1);
    expect(rec.closes[0]).toBeUndefined();
    expect(rec.frames).toHaveLength(0);
  });

  it('close handshake, ours first, a peer that never answers: the socket is dropped after endTimeout', async () => {
    const { server, rec, raw } = await serverAndRaw({ endTimeout: 300 });
    server.end();
    expect((await raw.next()).opcode).toBe(OP.CLOSE);
    await raw.closed;
    await rec.until(() => rec.closes.length === 1);
  });

  it('a ping flood from a peer that does not read: pongs stop at the high-water mark, the connection serves on', async () => {
    const highWaterMark = 16 * 1024;
    const { server, rec, raw } = await serverAndRaw({ highWaterMark });
    raw.socket.pause();
    const ping = wsFrame(OP.PING, Buffer.alloc(125, 1), M);
    const pings = 50_000;
    for (let i = 0; i < pings; i += 1000) {
      if (!raw.socket.write(Buffer.concat(Array.from({ length: 1000 }, () => ping)))) await new Promise((r) => raw.socket.once('drain', r));
    }
    raw.socket.write(wsFrame(OP.BINARY, messageFrame(1), M));
    await rec.until(() => rec.frames.length === 1);
    // Every ping was read (the message after them arrived); what waits for the peer stays bounded.
    expect(server.bufferedAmount).toBeLessThanOrEqual(highWaterMark + 127);
    expect(rec.closes).toHaveLength(0);
  });

  it('a message split at every byte offset, and sent one byte per write, arrives whole', async () => {
    const { rec, raw } = await serverAndRaw();
    const frame = messageFrame(7, Buffer.alloc(150, 3));
    // Two fragments with a ping between: every header and payload boundary is crossed.
    const bytes = Buffer.concat([
      wsFrame(OP.BINARY, frame.subarray(0, 40), { ...M, fin: false }),
      wsFrame(OP.PING, Buffer.from('pp'), M),
      wsFrame(OP.CONT, frame.subarray(40), M),
    ]);
    for (let cut = 1; cut < bytes.length; cut++) {
      raw.socket.write(bytes.subarray(0, cut));
      await new Promise((r) => setImmediate(r));
      raw.socket.write(bytes.subarray(cut));
    }
    await rec.until(() => rec.frames.length === bytes.length - 1);
    for (const f of rec.frames) expect(f.data.equals(Buffer.alloc(150, 3))).toBe(true);
    for (let i = 0; i < bytes.length; i++) {
      raw.socket.write(bytes.subarray(i, i + 1));
      await new Promise((r) => setImmediate(r));
    }
    await rec.until(() => rec.frames.length === bytes.length);
    // One pong per ping, each with its payload.
    for (let i = 0; i < bytes.length; i++) expect(await nextControl(raw)).toMatchObject({ opcode: OP.PONG, payload: Buffer.from('pp') });
    expect(rec.closes).toHaveLength(0);
  });
});

describe('our client, a raw server', () => {
  it('sends its upgrade request as upstream peers do, without extensions', async () => {
    const { port, peers } = await rawServer();
    await dialWs(`sd:ws://127.0.0.1:${port}/p?q=1`);
    const { request } = await peers.next();
    expect(request.startsWith('GET /p?q=1 HTTP/1.1\r\n')).toBe(true);
    expect(request).toMatch(/\r\nSec-WebSocket-Version: 13\r\n/);
    expect(request).toMatch(/\r\nSec-WebSocket-Protocol: Socket\.D\r\n/);
    expect(request).toMatch(/\r\nUpgrade: websocket\r\n/i);
    expect(request).not.toMatch(/Sec-WebSocket-Extensions/i);
  });

  it('masks every frame with a fresh key, whatever its size (one slab or many)', async () => {
    const { port, peers } = await rawServer();
    const client = await dialWs(`sd:ws://127.0.0.1:${port}`);
    new Recorder(client);
    const { reader } = await peers.next();
    const frames = [
      ...Array.from({ length: 200 }, (_, i) => messageFrame(i)),
      messageFrame(200, Buffer.alloc(100, 5)),
      messageFrame(201, Buffer.alloc(20_000, 6)),
      messageFrame(202, Buffer.alloc(300_000, 7)),
    ];
    for (const f of frames) client.write(f);
    // Head and data of one message, small and over a slab.
    for (const f of [messageFrame(203, Buffer.alloc(500, 1)), messageFrame(204, Buffer.alloc(200_000, 2))]) {
      client.writeParts(f.subarray(0, 30), f.subarray(30));
      frames.push(f);
    }
    const keys = new Set<string>();
    for (const f of frames) {
      const got = await reader.next();
      expect(got).toMatchObject({ fin: true, rsv: 0, opcode: OP.BINARY });
      expect(got.key).toBeDefined();
      keys.add(got.key!.toString('hex'));
      expect(got.payload.equals(f)).toBe(true);
      expect(got.headerBytes).toBe((f.length < 126 ? 2 : f.length < 65536 ? 4 : 10) + 4);
    }
    expect(keys.size).toBe(frames.length);
  });

  it('refuses a masked frame from the server (Close 1002, masked)', async () => {
    const { port, peers } = await rawServer();
    const client = await dialWs(`sd:ws://127.0.0.1:${port}`);
    const rec = new Recorder(client);
    const { reader } = await peers.next();
    reader.socket.write(wsFrame(OP.BINARY, messageFrame(1), M));
    const close = await reader.next();
    expect(close.opcode).toBe(OP.CLOSE);
    expect(close.key).toBeDefined();
    expect(close.payload.readUInt16BE(0)).toBe(1002);
    reader.socket.end();
    await rec.until(() => rec.closes.length === 1);
    expect(isSocketDError(rec.closes[0], 'BAD_MESSAGE')).toBe(true);
    expect(rec.frames).toHaveLength(0);
  });

  it('reads fragments with control frames between them, 16- and 64-bit lengths; answers pings with masked pongs', async () => {
    const { port, peers } = await rawServer();
    const client = await dialWs(`sd:ws://127.0.0.1:${port}`);
    const rec = new Recorder(client);
    const { reader } = await peers.next();
    const big = messageFrame(1, Buffer.alloc(70_000, 9));
    reader.socket.write(Buffer.concat([
      wsFrame(OP.BINARY, big.subarray(0, 1000), { fin: false }),
      wsFrame(OP.PING, Buffer.from('hello')),
      wsFrame(OP.CONT, big.subarray(1000)),
      wsFrame(OP.BINARY, messageFrame(2), { lengthForm: 64 }),
      wsFrame(OP.BINARY, messageFrame(3), { lengthForm: 16 }),
    ]));
    await rec.until(() => rec.frames.length === 3);
    expect(rec.frames[0]!.data.equals(Buffer.alloc(70_000, 9))).toBe(true);
    const pong = await reader.next();
    expect(pong).toMatchObject({ opcode: OP.PONG, payload: Buffer.from('hello') });
    expect(pong.key).toBeDefined();
  });

  it('refuses a message over maxFrameSize (Close 1009, SOCKETD_ERR_FRAME_LENGTH)', async () => {
    const { port, peers } = await rawServer();
    const client = await dialWs(`sd:ws://127.0.0.1:${port}`, { maxFrameSize: 1024 });
    const rec = new Recorder(client);
    const { reader } = await peers.next();
    reader.socket.write(wsFrame(OP.BINARY, Buffer.alloc(5000)).subarray(0, 4));
    const close = await reader.next();
    expect(close.payload.readUInt16BE(0)).toBe(1009);
    reader.socket.end();
    await rec.until(() => rec.closes.length === 1);
    expect(isSocketDError(rec.closes[0], 'FRAME_LENGTH')).toBe(true);
  });

  it('echoes the server\'s Close and reports a clean close', async () => {
    const { port, peers } = await rawServer();
    const client = await dialWs(`sd:ws://127.0.0.1:${port}`);
    const rec = new Recorder(client);
    const { reader } = await peers.next();
    reader.socket.write(wsFrame(OP.CLOSE, closeBody(1001, 'going away')));
    const close = await reader.next();
    expect(close.opcode).toBe(OP.CLOSE);
    expect(close.payload.readUInt16BE(0)).toBe(1001);
    expect(close.key).toBeDefined();
    reader.socket.end();
    await rec.until(() => rec.closes.length === 1);
    expect(rec.closes[0]).toBeUndefined();
    expect(client.closed).toBe(true);
  });

  it.each([
    ['a wrong Sec-WebSocket-Accept', { badAccept: true }, /Invalid Sec-WebSocket-Accept/],
    ['no subprotocol', { protocol: null }, /no subprotocol/],
    ['another subprotocol', { protocol: 'chat' }, /invalid subprotocol/],
    ['an extension', { extra: 'Sec-WebSocket-Extensions: permessage-deflate\r\n' }, /Extensions/],
  ] as const)('refuses a 101 answer with %s (SOCKETD_ERR_TRANSPORT)', async (_name, answer, message) => {
    const { port } = await rawServer(answer);
    const err = await dialWs(`sd:ws://127.0.0.1:${port}`).then(() => undefined, (e: unknown) => e as Error);
    expect(isSocketDError(err, 'TRANSPORT')).toBe(true);
    expect(err!.message).toMatch(message);
  });

  it('a message split at every byte offset arrives whole', async () => {
    const { port, peers } = await rawServer();
    const client = await dialWs(`sd:ws://127.0.0.1:${port}`);
    const rec = new Recorder(client);
    const { reader } = await peers.next();
    const frame = messageFrame(5, Buffer.alloc(140, 4));
    const bytes = Buffer.concat([
      wsFrame(OP.BINARY, frame.subarray(0, 30), { fin: false }),
      wsFrame(OP.PING, Buffer.from('p')),
      wsFrame(OP.CONT, frame.subarray(30), { lengthForm: 16 }),
    ]);
    for (let cut = 1; cut < bytes.length; cut++) {
      reader.socket.write(bytes.subarray(0, cut));
      await new Promise((r) => setImmediate(r));
      reader.socket.write(bytes.subarray(cut));
    }
    await rec.until(() => rec.frames.length === bytes.length - 1);
    for (const f of rec.frames) expect(f.data.equals(Buffer.alloc(140, 4))).toBe(true);
    expect(rec.closes).toHaveLength(0);
    cleanups.push(() => client.destroy());
  });
});

import { afterEach, describe, expect, it } from '@jest/globals';
import type { Socket } from 'node:net';
import type { Connection } from '../../lib/session/connection.js';
import { CORK_FIRST_FLUSH_BYTES, CORK_FLUSH_BYTES } from '../../lib/transports/base-connection.js';
import { dialTcp, dialWs, messageFrame, Recorder, runCleanups, startTcpServer, startWsServer } from './helpers.js';

afterEach(runCleanups);

/** Frames written in one synchronous loop (~0.7 MB: far over one flush, under the high-water mark). */
const LOOP = 20_000;

interface Case {
  /** Opens a connection pair: `writer` is the server's end, `reader` the client's. */
  pair(): Promise<{ writer: Connection; reader: Connection }>;
}

const CASES: [string, Case][] = [
  ['tcp', {
    async pair() {
      const { port, accepted } = await startTcpServer();
      const reader = await dialTcp(port);
      return { writer: await accepted.next(), reader };
    },
  }],
  ['ws', {
    async pair() {
      const { port, accepted } = await startWsServer();
      const reader = await dialWs(`sd:ws://127.0.0.1:${port}/`);
      return { writer: await accepted.next(), reader };
    },
  }],
];

/** The connection's socket (private: test-only access). */
function socketOf(c: Connection): Socket {
  return (c as unknown as { socket: Socket }).socket;
}

/** Records `at()` each time the socket hands bytes from its buffer to the OS (a writev or a single write). */
function spyHandoffs(socket: Socket, at: () => number): number[] {
  const handedAt: number[] = [];
  type Writes = { _writev(chunks: unknown[], cb: unknown): void; _write(chunk: unknown, enc: unknown, cb: unknown): void };
  const spied = socket as unknown as Writes;
  const writev = spied._writev.bind(spied);
  const write = spied._write.bind(spied);
  spied._writev = (chunks, cb) => {
    handedAt.push(at());
    writev(chunks, cb);
  };
  spied._write = (chunk, enc, cb) => {
    handedAt.push(at());
    write(chunk, enc, cb);
  };
  return handedAt;
}

describe.each(CASES)('%s: a synchronous loop of writes', (_name, t) => {
  it('reaches the socket while the loop still runs: uncorked after 4 KiB, then every 64 KiB', async () => {
    const { writer, reader } = await t.pair();
    new Recorder(writer);
    const atReader = new Recorder(reader);
    const socket = socketOf(writer);
    const frames = Array.from({ length: LOOP }, (_, i) => messageFrame(i));

    // Loop index at each hand-off of bytes to the OS.
    let i = 0;
    const handedAt = spyHandoffs(socket, () => i);

    // After which writes the socket was left uncorked: those flushed what was corked.
    const flushedAfter: number[] = [];
    for (; i < LOOP; i++) {
      expect(writer.write(frames[i]!)).toBe(true);
      if (socket.writableCorked === 0) flushedAfter.push(i);
    }
    const handedDuringLoop = handedAt.filter((at) => at < LOOP).length;

    // Bytes of frames from..to, both included.
    const bytes = (from: number, to: number) => frames.slice(from, to + 1).reduce((n, f) => n + f.length, 0);
    const largest = Math.max(...frames.map((f) => f.length));
    expect(handedDuringLoop).toBeGreaterThan(0);
    expect(handedAt[0]).toBe(flushedAfter[0]);
    // The first flush came with the frame that crossed 4 KiB.
    expect(bytes(0, flushedAfter[0]! - 1)).toBeLessThan(CORK_FIRST_FLUSH_BYTES);
    expect(bytes(0, flushedAfter[0]!)).toBeGreaterThanOrEqual(CORK_FIRST_FLUSH_BYTES);
    // Then never more than 64 KiB (plus the frame that crossed it) corked at once.
    for (let k = 1; k < flushedAfter.length; k++) {
      expect(bytes(flushedAfter[k - 1]! + 1, flushedAfter[k]!)).toBeLessThan(CORK_FLUSH_BYTES + largest);
    }
    expect(flushedAfter.length).toBeGreaterThanOrEqual(Math.floor((bytes(0, LOOP - 1) - CORK_FIRST_FLUSH_BYTES) / CORK_FLUSH_BYTES));

    // Everything arrives, in order.
    await atReader.until(() => atReader.frames.length === LOOP);
    expect(atReader.frames.every((f, k) => f.sid === String(k))).toBe(true);
  });

  it('leaves the writes of a small tick in one writev', async () => {
    const { writer, reader } = await t.pair();
    new Recorder(writer);
    const atReader = new Recorder(reader);
    const socket = socketOf(writer);
    const handedAt = spyHandoffs(socket, () => 0);
    let n = 0;
    let bytes = 0;
    while (bytes + messageFrame(n).length < CORK_FIRST_FLUSH_BYTES) {
      writer.write(messageFrame(n));
      bytes += messageFrame(n).length;
      n++;
    }
    expect(handedAt).toHaveLength(0);
    await atReader.until(() => atReader.frames.length === n);
    expect(handedAt).toHaveLength(1);
    expect(socket.writableCorked).toBe(0);
  });
});

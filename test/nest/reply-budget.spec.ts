import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { connect as netConnect, type Socket } from 'node:net';
import { encodeFrame, Flags, FrameDecoder, SdClient, type Frame } from '../../lib/engine.js';
import { SocketDServer } from '../../lib/nest/index.js';
import { TestAppModule } from './nest-test.app.js';
import { waitFor, within } from './nest-test.helpers.js';

const STREAMS = 10;
const ITEMS = 200_000;

/** A raw tcp peer: handshakes, then sends whatever frames the test writes and records what comes back. */
async function rawPeer(port: number): Promise<{ socket: Socket; frames: Frame[] }> {
  const socket = netConnect({ host: '127.0.0.1', port });
  const frames: Frame[] = [];
  const decoder = new FrameDecoder((frame) => frames.push(frame));
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const url = `tcp://127.0.0.1:${port}`;
  socket.write(encodeFrame({ flag: Flags.Connect, sid: 'c0', event: url, metaString: 'Socket.D=1.0', data: Buffer.from(url) }));
  await waitFor(() => frames.some((f) => f.flag === Flags.Connack), 20_000, 'Connack');
  return { socket, frames };
}

/**
 * One client opening many streams and never reading: each stream alone is under its own cap
 * (`maxQueuedReplies`), so only the per-session or per-server budget stops the server from
 * queueing STREAMS x ITEMS values.
 */
describe.each([
  ['maxQueuedRepliesPerSession', { maxQueuedRepliesPerSession: 2_000 }],
  ['maxQueuedRepliesPerServer', { maxQueuedRepliesPerServer: 2_000 }],
])('Nest server under %s', (_name, budget) => {
  let app: INestMicroservice | undefined;
  let good: SdClient | undefined;
  let peer: Socket | undefined;
  afterEach(async () => {
    peer?.destroy();
    await good?.close();
    await app?.close();
  });

  it('fails the streams of a client that does not read, and serves another client meanwhile', async () => {
    const server = new SocketDServer({ url: 'sd:tcp://127.0.0.1:0', highWaterMark: 16 * 1024, ...budget });
    app = await NestFactory.createMicroservice(TestAppModule, { strategy: server, logger: false });
    await app.listen();
    const port = server.address()!.port;

    const raw = await rawPeer(port);
    peer = raw.socket;
    peer.pause();
    for (let i = 0; i < STREAMS; i++) {
      peer.write(encodeFrame({ flag: Flags.Subscribe, sid: `s${i}`, event: 'range', metaString: '', data: Buffer.from(String(ITEMS)) }));
    }
    // Every stream settles (failed by the budget) while the peer still reads nothing.
    await waitFor(() => server.pendingHandlers === 0 && raw.frames.length === 1, 60_000, 'streams to settle');

    good = new SdClient(`sd:tcp://127.0.0.1:${port}`);
    const values: string[] = [];
    await within(new Promise((resolve, reject) => {
      void good!.subscribe('range', '100', { next: (m) => values.push(m.dataAsString()), complete: resolve, error: reject });
    }), 20_000, 'the good client stream');
    expect(values.length).toBeGreaterThanOrEqual(99);

    peer.resume();
    await waitFor(() => raw.frames.filter((f) => f.flag === Flags.Alarm).length === STREAMS, 60_000, 'an Alarm per stream');
    const alarms = raw.frames.filter((f) => f.flag === Flags.Alarm);
    expect(new Set(alarms.map((f) => f.sid))).toEqual(new Set(Array.from({ length: STREAMS }, (_, i) => `s${i}`)));
    for (const alarm of alarms) expect(alarm.data.toString()).toContain('Stream overflow');
    expect(raw.frames.some((f) => f.flag === Flags.ReplyEnd)).toBe(false);
  }, 120_000);
});

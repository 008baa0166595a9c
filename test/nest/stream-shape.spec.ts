import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { lastValueFrom, toArray } from 'rxjs';
import { Flags, listen, SdClient, type Frame, type ReceivedMessage, type SdServer } from '../../lib/engine.js';
import { SocketDClient, SocketDServer } from '../../lib/nest/index.js';
import { frameBytes, RawPeer } from '../engine/raw-peer.js';
import { TestAppModule } from './nest-test.app.js';
import { within } from './nest-test.helpers.js';

/** The frames a raw peer received on `sid`, up to and including its ReplyEnd or Alarm. */
async function answerTo(peer: RawPeer, flag: Frame['flag'], sid: string, event: string, data: string): Promise<[number, string, string][]> {
  const end = peer.next((f) => f.sid === sid && (f.flag === Flags.ReplyEnd || f.flag === Flags.Alarm));
  peer.write(frameBytes(flag, sid, event, '', data));
  await within(end, 20_000, `the end of '${event}'`);
  return peer.frames.filter((f) => f.sid === sid).map((f) => [f.flag, f.data.toString(), f.metaString]);
}

describe('a Nest stream on the wire: its values, then its end', () => {
  let app: INestMicroservice;
  let peer: RawPeer;

  beforeAll(async () => {
    const server = new SocketDServer({ url: 'sd:tcp://127.0.0.1:0' });
    app = await NestFactory.createMicroservice(TestAppModule, { strategy: server, logger: false });
    await app.listen();
    peer = await RawPeer.open(server.address()!.port);
  });

  afterAll(async () => {
    peer?.destroy();
    await app?.close();
  });

  it('answers a Subscribe to an Observable handler with one Reply per value, then an empty ReplyEnd', async () => {
    const json = 'Data-Type=application/json';
    expect(await answerTo(peer, Flags.Subscribe, 'sub-range-5', 'range', '5')).toEqual([
      [Flags.Reply, '0', json], [Flags.Reply, '1', json], [Flags.Reply, '2', json], [Flags.Reply, '3', json], [Flags.Reply, '4', json],
      [Flags.ReplyEnd, '', ''],
    ]);
  });

  it('answers a Subscribe to a plain-value handler with one ReplyEnd carrying it', async () => {
    expect(await answerTo(peer, Flags.Subscribe, 'sub-sum', 'sum', '[1,2]')).toEqual([[Flags.ReplyEnd, '3', 'Data-Type=application/json']]);
  });

  it('answers a Request to an Observable of one value with it as the ReplyEnd', async () => {
    expect(await answerTo(peer, Flags.Request, 'req-range-1', 'range', '1')).toEqual([[Flags.ReplyEnd, '0', 'Data-Type=application/json']]);
  });

  it('fails a Request to an Observable of several values with an Alarm naming the fix, never its first value', async () => {
    const frames = await answerTo(peer, Flags.Request, 'req-range-5', 'range', '5');
    expect(frames).toHaveLength(1);
    expect(frames[0]![0]).toBe(Flags.Alarm);
    expect(frames[0]![1]).toContain("produces several values, but a Request has one answer: call it with a Subscribe");
  });

  it('an empty Observable ends a Subscribe with an empty ReplyEnd alone', async () => {
    expect(await answerTo(peer, Flags.Subscribe, 'sub-range-0', 'range', '0')).toEqual([[Flags.ReplyEnd, '', '']]);
  });
});

/**
 * A server streaming as upstream peers (and earlier nestjs-socketd servers) may: the last value on
 * the ReplyEnd, an empty ReplyEnd with metas only, and an empty string marked text/plain on it.
 */
describe('a ReplyEnd with data is the last value in every Node client', () => {
  let server: SdServer;
  let url: string;

  beforeAll(async () => {
    server = await listen('sd:tcp://127.0.0.1:0', {
      logger: false,
      onMessage(session, message) {
        if (!message.isRequest) return;
        if (message.event === 'upstream') {
          session.reply(message, '1');
          session.reply(message, '2');
          session.replyEnd(message, '3');
        } else if (message.event === 'end-metas') {
          session.reply(message, '1');
          session.replyEnd(message, undefined, { note: 'bye' });
        } else if (message.event === 'old-empty-string') {
          session.reply(message, 'a', { 'Data-Type': 'text/plain' });
          session.replyEnd(message, '', { 'Data-Type': 'text/plain' });
        }
      },
    });
    url = `sd:tcp://127.0.0.1:${server.address()!.port}`;
  });

  afterAll(async () => {
    await server?.close();
  });

  it('the engine client: next sees every value (the ReplyEnd\'s too), complete carries nothing', async () => {
    const client = new SdClient(url, { logger: false });
    try {
      const session = await client.connect();
      const run = (event: string) => new Promise<{ values: [number, string][]; end: ReceivedMessage | undefined }>((resolve, reject) => {
        const values: [number, string][] = [];
        session.subscribe(event, undefined, {
          next: (m) => values.push([m.flag, m.dataAsString()]),
          complete: (end) => resolve({ values, end }),
          error: reject,
        });
      });
      const upstream = await within(run('upstream'), 20_000, 'upstream');
      expect(upstream.values).toEqual([[Flags.Reply, '1'], [Flags.Reply, '2'], [Flags.ReplyEnd, '3']]);
      expect(upstream.end).toBeUndefined();
      // An empty ReplyEnd with metas is no value: complete gets it, for its metas.
      const metasOnly = await within(run('end-metas'), 20_000, 'end-metas');
      expect(metasOnly.values).toEqual([[Flags.Reply, '1']]);
      expect([metasOnly.end?.flag, metasOnly.end?.data.length, metasOnly.end?.meta('note')]).toEqual([Flags.ReplyEnd, 0, 'bye']);
    } finally {
      await client.close();
    }
  });

  it('the Nest client: the ReplyEnd\'s data is the last value; an empty ReplyEnd is one only with a Data-Type', async () => {
    const client = new SocketDClient({ url, callMode: 'subscribe', logger: false });
    try {
      await client.connect();
      const all = (event: string) => within(lastValueFrom(client.send(event, {}).pipe(toArray())), 20_000, event);
      expect(await all('upstream')).toEqual([1, 2, 3]);
      expect(await all('end-metas')).toEqual([1]);
      expect(await all('old-empty-string')).toEqual(['a', '']);
    } finally {
      await client.close();
    }
  });
});

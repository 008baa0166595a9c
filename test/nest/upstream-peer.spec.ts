import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { isSocketDError } from '../../lib/protocol/errors.js';
import { Flags, SdClient } from '../../lib/engine.js';
import type { ReceivedMessage } from '../../lib/session/types.js';
import { decodeCallError, NO_MESSAGE_HANDLER, SocketDServer } from '../../lib/nest/index.js';
import { state, TestAppModule } from './nest-test.app.js';
import { KINDS, within } from './nest-test.helpers.js';

/**
 * A Nest Socket.D server as an upstream (Java/JS/Python) peer sees it: plain events, data
 * without any meta, and Alarms whose text is readable.
 */
describe.each(KINDS)('Nest server seen by a raw Socket.D peer over %s', (kind) => {
  let app: INestMicroservice;
  let peer: SdClient;

  beforeAll(async () => {
    const server = new SocketDServer({ url: `sd:${kind}://127.0.0.1:0` });
    app = await NestFactory.createMicroservice(TestAppModule, { strategy: server, logger: false });
    await app.listen();
    peer = new SdClient(`sd:${kind}://127.0.0.1:${server.address()!.port}`);
    await peer.connect();
  });

  afterAll(async () => {
    await peer.close();
    await app.close();
  });

  beforeEach(() => state.reset());

  it('answers a Request with unmarked JSON data, marking its answer as JSON', async () => {
    const reply = await peer.request('sum', '[1,2,39]');
    expect(reply.dataAsString()).toBe('42');
    expect(reply.meta('Data-Type')).toBe('application/json');
  });

  it('hands plain text to handlers as a string', async () => {
    const reply = await peer.request('intercepted', 'hello upstream');
    expect(JSON.parse(reply.dataAsString())).toEqual({ wrapped: 'HELLO UPSTREAM' });
  });

  it('streams a Subscribe as one Reply per value, then an empty ReplyEnd', async () => {
    const values: [number, number][] = [];
    const end = await new Promise<ReceivedMessage | undefined>((resolve, reject) => {
      void peer.subscribe('range', '5', {
        next: (reply) => values.push([reply.flag, Number(reply.dataAsString())]),
        complete: resolve,
        error: reject,
      });
    });
    expect(values).toEqual([0, 1, 2, 3, 4].map((v) => [Flags.Reply, v]));
    expect([end?.flag, end?.data.length, end?.metaString]).toEqual([Flags.ReplyEnd, 0, '']);
  });

  it('delivers a Message to the event handler', async () => {
    await peer.send('notify', '{"from":"java"}');
    expect(await within(state.eventSignal.promise, 20_000, 'the event')).toEqual({ from: 'java' });
  });

  it('alarms with readable text: handler error, unknown pattern, bad data', async () => {
    const failure = async (event: string, data: string, metas?: Record<string, string>) => {
      try {
        await peer.request(event, data, { metas });
      } catch (err) {
        return err;
      }
      throw new Error('expected an Alarm');
    };
    const thrown = await failure('rpc-object', '{}');
    expect(isSocketDError(thrown, 'ALARM')).toBe(true);
    expect((thrown as Error).message).toBe('nope');
    expect(decodeCallError(thrown)).toEqual({ code: 42, message: 'nope' });

    const unknown = await failure('/user/unknown', '{}');
    expect((unknown as Error).message).toBe(NO_MESSAGE_HANDLER);

    const bad = await failure('sum', '{broken', { 'Data-Type': 'application/json' });
    expect((bad as Error).message).toMatch(/^Invalid request data: /);
    // The server survived the bad input.
    expect((await peer.request('sum', '[1]')).dataAsString()).toBe('1');
  });
});

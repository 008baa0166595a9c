/**
 * How the broker's forwards end, over tcp and ws: they wait `forwardTimeout` (default the
 * broker's `streamTimeout`, not its `requestTimeout`); a timed-out forward is an Alarm with
 * code 504; a player's Alarm is relayed with each meta once, whatever order the player echoed
 * the request's metas in (Java reorders them); the broker's Connack announces X-Nest-Stream
 * and X-Nest-Auto, and a Subscribe marked X-Nest-Auto goes on as a Request to a player that
 * did not announce X-Nest-Stream.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { encodeFrame, Flags } from '../../lib/protocol/index.js';
import type { ReceivedMessage, Session } from '../../lib/session/types.js';
import { SdClient } from '../../lib/session/client.js';
import { QUIET, RawPeer, requester, SCHEMAS, startBroker, until } from './broker-helpers.js';
import { call, settled } from './fault-support.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A player answering `/late` after the data's milliseconds and `/one` with a single Reply. */
async function latePlayer(url: string, extra = ''): Promise<{ kinds: string[] }> {
  const kinds: string[] = [];
  const client = new SdClient(`${url}?@=svc${extra}`, {
    ...QUIET,
    autoReconnect: false,
    onMessage(session: Session, m: ReceivedMessage) {
      kinds.push(`${m.isSubscribe ? 'subscribe' : 'request'} ${m.metaString}`);
      if (m.event === '/late') setTimeout(() => session.replyEnd(m, 'late answer'), Number(m.dataAsString()));
      else if (m.event === '/one') session.reply(m, 'the one answer');
    },
  });
  await client.connect();
  cleanups.push(() => client.close());
  return { kinds };
}

describe.each(SCHEMAS)('broker forwards over %s', (schema) => {
  it('wait streamTimeout by default, not requestTimeout', async () => {
    const { broker, url } = await startBroker(schema, { requestTimeout: 300 });
    cleanups.push(() => broker.close());
    await latePlayer(url);
    await until(() => broker.players.get('svc')?.length === 1, 5000, 'the player');
    const cli = await requester(url, 'cli', { requestTimeout: 5000 });
    cleanups.push(() => cli.close());
    const started = Date.now();
    expect((await cli.request('/late', '900', { metas: '@=svc' })).dataAsString()).toBe('late answer');
    expect(Date.now() - started).toBeGreaterThanOrEqual(850);
  });

  it('fail at forwardTimeout with an Alarm code 504', async () => {
    const { broker, url } = await startBroker(schema, { forwardTimeout: 300 });
    cleanups.push(() => broker.close());
    await latePlayer(url);
    await until(() => broker.players.get('svc')?.length === 1, 5000, 'the player');
    const cli = await requester(url, 'cli', { requestTimeout: 5000 });
    cleanups.push(() => cli.close());
    for (const kind of ['request', 'subscribe'] as const) {
      const outcome = await settled(call(cli.session!, kind, '/late', '3000', '@=svc'), 5000);
      expect(outcome.kind).toBe('error');
      expect(outcome.err!.code).toBe('SOCKETD_ERR_ALARM');
      expect(outcome.err!.details?.['alarmCode']).toBe(504);
      expect(outcome.err!.message).toMatch(/^Broker forward to '@svc' timed out: /);
    }
  });

  it('relay a player\'s Alarm with each meta once, whatever the order of its echo', async () => {
    const { broker, url, port } = await startBroker(schema);
    cleanups.push(() => broker.close());
    const java = await RawPeer.open(schema, port, '?@=svc');
    cleanups.push(() => java.end());
    await until(() => broker.players.get('svc')?.length === 1, 5000, 'the player');
    const cli = await requester(url, 'cli');
    cleanups.push(() => cli.close());
    const pending = cli.request('/fail', 'x', { metas: '@=svc&k=v' }).then(() => undefined, (e: Error & { details?: { alarm?: ReceivedMessage } }) => e.details?.alarm);
    await until(() => java.frames.some((f) => f.flag === Flags.Request), 5000, 'the forward');
    const fwd = java.frames.find((f) => f.flag === Flags.Request)!;
    // As a Java player answers: the request's metas echoed in another order, its code among them.
    java.write(encodeFrame({ flag: Flags.Alarm, sid: fwd.sid, event: fwd.event, metaString: 'k=v&code=4001&@=svc', data: Buffer.from('failed on purpose') }));
    const alarm = (await pending)!;
    expect(alarm.dataAsString()).toBe('failed on purpose');
    expect(alarm.metaString).toBe('@=svc&k=v&code=4001');
  });

  it('announce X-Nest-Stream and X-Nest-Auto; an auto Subscribe goes on as a Request to a player that does not stream', async () => {
    const { broker, url } = await startBroker(schema);
    cleanups.push(() => broker.close());
    const plain = await latePlayer(url);
    await until(() => broker.players.get('svc')?.length === 1, 5000, 'the player');
    const cli = await requester(url, 'cli');
    cleanups.push(() => cli.close());
    expect(cli.session!.handshake.params['X-Nest-Stream']).toBe('1');
    expect(cli.session!.handshake.params['X-Nest-Auto']).toBe('1');
    // Marked: a Request to this player, whose one Reply ends the caller's stream.
    const auto = await settled(call(cli.session!, 'subscribe', '/one', '', '@=svc&X-Nest-Auto=1'), 5000);
    expect([auto.kind, auto.values, auto.ends]).toEqual(['complete', 1, 1]);
    // Unmarked (an engine or upstream caller's own Subscribe): forwarded as it came.
    const asIs = call(cli.session!, 'subscribe', '/late', '10', '@=svc');
    expect(await settled(asIs, 5000)).toMatchObject({ kind: 'complete', values: 1 });
    expect(plain.kinds).toEqual(['request @=svc', 'subscribe @=svc']);
  });

  it('send an auto Subscribe on as a Subscribe to a player that announced X-Nest-Stream', async () => {
    const { broker, url } = await startBroker(schema);
    cleanups.push(() => broker.close());
    const streaming = await latePlayer(url, '&X-Nest-Stream=1');
    await until(() => broker.players.get('svc')?.length === 1, 5000, 'the player');
    const cli = await requester(url, 'cli');
    cleanups.push(() => cli.close());
    expect(await settled(call(cli.session!, 'subscribe', '/late', '10', '@=svc&X-Nest-Auto=1'), 5000)).toMatchObject({ kind: 'complete', values: 1 });
    expect(streaming.kinds).toEqual(['subscribe @=svc']);
  });
});

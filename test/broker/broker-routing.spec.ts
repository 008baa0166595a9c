/**
 * The broker over real sockets, tcp and ws (spec section 10): routing by `@`, the upstream
 * Alarm texts, streams in order, big payloads re-fragmented, a player's Alarm code, cancel,
 * authorisation.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import type { SdBroker } from '../../lib/broker/index.js';
import type { SdClient } from '../../lib/session/client.js';
import type { ReceivedMessage } from '../../lib/session/types.js';
import { player, requester, SCHEMAS, startBroker, until } from './broker-helpers.js';

interface AlarmError extends Error { details?: { alarm?: ReceivedMessage } }

async function alarmOf(p: Promise<unknown>): Promise<ReceivedMessage> {
  const err = await p.then(() => { throw new Error('expected an Alarm'); }, (e: AlarmError) => e);
  expect(err.details?.alarm).toBeDefined();
  return err.details!.alarm!;
}

describe.each(SCHEMAS)('broker over %s', (schema) => {
  let broker: SdBroker;
  let url: string;
  let svc1: Awaited<ReturnType<typeof player>>;
  let svc2: Awaited<ReturnType<typeof player>>;
  let other: Awaited<ReturnType<typeof player>>;
  let cli: SdClient;

  beforeAll(async () => {
    ({ broker, url } = await startBroker(schema));
    svc1 = await player(url, 'svc', 1);
    svc2 = await player(url, 'svc', 2);
    other = await player(url, 'other', 1);
    cli = await requester(url, 'cli');
    await until(() => broker.players.get('svc')?.length === 2 && broker.players.has('cli'), 5000, 'players');
  });

  afterAll(async () => {
    for (const c of [cli, svc1.client, svc2.client, other.client]) await c?.close();
    await broker?.close();
  });

  it('round-robins @=name over two players, forwarding metas and data verbatim (@ included)', async () => {
    const whos: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await cli.request('/echo', `rr-${i}`, { metas: `@=svc&k=v ${i}` });
      expect(r.dataAsString()).toBe(`rr-${i}`);
      whos.push(r.meta('who')!);
    }
    expect(whos[0]).not.toBe(whos[1]);
    expect(whos[2]).toBe(whos[0]);
    expect(whos[3]).toBe(whos[1]);
    const seen = [...svc1.got, ...svc2.got].filter((m) => m.event === '/echo').map((m) => m.metaString);
    expect(seen.sort()).toEqual(['@=svc&k=v 0', '@=svc&k=v 1', '@=svc&k=v 2', '@=svc&k=v 3']);
  });

  it('@=name! sticks to one player per X-Hash (Java String.hashCode % count)', async () => {
    const pick = async (key: string) => (await cli.request('/echo', 'h', { metas: `@=svc!&X-Hash=${key}` })).meta('who');
    const k0 = await Promise.all([pick('k-0'), pick('k-0'), pick('k-0')]);
    const k1 = await Promise.all([pick('k-1'), pick('k-1'), pick('k-1')]);
    expect(new Set(k0)).toEqual(new Set(['svc#1']));
    expect(new Set(k1)).toEqual(new Set(['svc#2']));
    const byHost = await Promise.all([1, 2, 3].map(() => cli.request('/echo', 'h', { metas: '@=svc!' })));
    expect(new Set(byHost.map((r) => r.meta('who'))).size).toBe(1);
  });

  it('@=name* reaches every player of name but the sender, @=* every named player but the sender', async () => {
    const count = (p: { got: ReceivedMessage[] }, data: string) => p.got.filter((m) => m.dataAsString() === data).length;
    await cli.send('/note', 'mc', { metas: '@=svc*' });
    await cli.send('/note', 'bc', { metas: '@=*' });
    await svc1.client.send('/note', 'peer', { metas: '@=svc*' });
    await until(() => count(svc1, 'mc') + count(svc2, 'mc') === 2 && count(other, 'bc') === 1 && count(svc2, 'peer') === 1, 5000, 'copies');
    await new Promise((r) => setTimeout(r, 100));
    expect([count(svc1, 'mc'), count(svc2, 'mc'), count(other, 'mc')]).toEqual([1, 1, 0]);
    expect([count(svc1, 'bc'), count(svc2, 'bc'), count(other, 'bc')]).toEqual([1, 1, 1]);
    expect([count(svc1, 'peer'), count(svc2, 'peer')]).toEqual([0, 1]);
    expect(svc2.got.find((m) => m.dataAsString() === 'bc')!.metaString).toBe('@=*');
  });

  it('answers a missing, empty or unknown @ with the upstream Alarm texts and the request metas', async () => {
    const missing = await alarmOf(cli.request('/echo', 'x', { metas: 'k=v' }));
    expect([missing.metaString, missing.dataAsString()]).toEqual(['k=v', "Broker message require '@' meta"]);
    const empty = await alarmOf(cli.request('/echo', 'x', { metas: '@=&k=v' }));
    expect(empty.dataAsString()).toBe("Broker message require '@' meta");
    const nobody = await alarmOf(cli.request('/echo', 'x', { metas: '@=nobody' }));
    expect([nobody.metaString, nobody.dataAsString()]).toEqual(['@=nobody', "Broker don't have '@nobody' session"]);
    const nobodyAll = await alarmOf(cli.request('/echo', 'x', { metas: '@=nobody*' }));
    expect([nobodyAll.metaString, nobodyAll.dataAsString()]).toEqual(['@=nobody*', "Broker don't have '@nobody' player"]);
    const nobodyHash = await alarmOf(cli.request('/echo', 'x', { metas: '@=nobody!' }));
    expect(nobodyHash.dataAsString()).toBe("Broker don't have '@nobody!' session");
  });

  it('relays a Subscribe of 10 000 Replies in order, then its ReplyEnd', async () => {
    const items: string[] = [];
    const end = await new Promise<ReceivedMessage | undefined>((resolve, reject) => {
      void cli.subscribe('/count', '10000', { next: (r) => items.push(r.dataAsString()), complete: resolve, error: reject }, { metas: '@=svc' });
    });
    expect(items.length).toBe(10_000);
    expect(items.every((v, i) => v === String(i))).toBe(true);
    expect(end?.meta('who')).toMatch(/^svc#/);
  });

  it("keeps a player's Alarm code (upstream loses it)", async () => {
    const alarm = await alarmOf(cli.request('/fail', 'please fail', { metas: '@=svc&k=v' }));
    expect([alarm.metaString, alarm.dataAsString()]).toEqual(['@=svc&k=v&code=4001', 'failed on purpose']);
  });

  it("passes the requester's cancel on to the player (onCancel)", async () => {
    const before = svc1.cancels.length + svc2.cancels.length;
    const handle = await cli.subscribe('/never', 'cancel-me', { next() {}, complete() {}, error() {} }, { metas: '@=svc' });
    await until(() => [...svc1.got, ...svc2.got].some((m) => m.dataAsString() === 'cancel-me'), 5000, 'forward');
    handle.cancel();
    await until(() => svc1.cancels.length + svc2.cancels.length === before + 1, 5000, 'onCancel');
    expect([...svc1.cancels, ...svc2.cancels]).toContain('cancel-me');
  });

  it.each([0, 1024])('carries 20 MiB both ways with equal sha256 (broker fragmentSize %s, 0 = default)', async (fragmentSize) => {
    const sized = fragmentSize === 0 ? {} : { fragmentSize };
    const b = await startBroker(schema, sized);
    const p = await player(b.url, 'big', 1, sized);
    const c = await requester(b.url, 'cli', { ...sized, requestTimeout: 30_000 });
    try {
      const data = randomBytes(20 * 1024 * 1024);
      const sha = (x: Buffer) => createHash('sha256').update(x).digest('hex');
      const r = await c.request('/echo', data, { metas: '@=big&a=1' });
      expect(sha(r.data)).toBe(sha(data));
      expect(p.got[0]!.metaString).toBe('@=big&a=1&Data-Length=20971520&Data-Fragment-Total=' + (fragmentSize === 0 ? 2 : 20480));
      expect(r.meta('who')).toBe('big#1');
    } finally {
      await c.close();
      await p.client.close();
      await b.broker.close();
    }
  });
});

describe('broker authorisation', () => {
  it('refuses a name at the handshake and a call with a clear Alarm', async () => {
    const { broker, url } = await startBroker('tcp', {
      authorize: {
        register: (name) => name !== 'evil',
        call: (target, _m, from) => !(target === 'svc' && from.handshake.params['@'] === 'guest'),
      },
    });
    try {
      await expect(player(url, 'evil', 1)).rejects.toMatchObject({ code: 'SOCKETD_ERR_HANDSHAKE_REJECTED' });
      const p = await player(url, 'svc', 1);
      const guest = await requester(url, 'guest');
      const alarm = await alarmOf(guest.request('/echo', 'x', { metas: '@=svc' }));
      expect(alarm.dataAsString()).toBe("Broker refused '@svc' for this session");
      const cli = await requester(url, 'cli');
      expect((await cli.request('/echo', 'ok', { metas: '@=svc' })).dataAsString()).toBe('ok');
      expect([...broker.players.keys()].sort()).toEqual(['cli', 'guest', 'svc']);
      for (const c of [p.client, guest, cli]) await c.close();
    } finally {
      await broker.close();
    }
  });
});

/**
 * Outlier ejection (in-process broker, tcp): a player that holds forwards without answering
 * any is taken out of round-robin after `ejectAfter` (default 2 s) and shows `ejected` in
 * `playerStatus()`; its next answer puts it back; after `ejectionTime` one probe goes to it;
 * a player that does not read is skipped while its queue is over `highWaterMark`. Also the
 * warning of a broker listening beyond loopback without `authorize`.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { SdBroker } from '../../lib/broker/index.js';
import { SdClient } from '../../lib/session/client.js';
import type { EngineLogger, ReceivedMessage, Session } from '../../lib/session/types.js';
import { player, QUIET, RawPeer, requester, startBroker, until } from './broker-helpers.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A player `svc#slow` that keeps every Request until `release()` (then answers them), or answers at once once `answering`. */
async function holdingPlayer(url: string): Promise<{ held: ReceivedMessage[]; got: () => number; release(): void; answering: boolean; session: () => Session }> {
  const held: ReceivedMessage[] = [];
  let got = 0;
  let session!: Session;
  const state = {
    held,
    got: () => got,
    answering: false,
    session: () => session,
    release: () => { for (const m of held.splice(0)) session.replyEnd(m, m.data, 'who=svc#slow'); },
  };
  const client = new SdClient(`${url}?@=svc&id=slow`, {
    ...QUIET,
    autoReconnect: false,
    onMessage(s, m) {
      session = s;
      got++;
      if (state.answering) s.replyEnd(m, m.data, 'who=svc#slow');
      else held.push(m);
    },
  });
  session = await client.connect();
  cleanups.push(() => client.close());
  return state;
}

async function whos(cli: SdClient, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await cli.request('/echo', `x${i}`, { metas: '@=svc' })).meta('who') ?? '?');
  return out;
}

/** The broker's status of the player whose handshake param `id` is `id`. */
function statusOf(broker: SdBroker, id: string) {
  return broker.playerStatus().find((p) => p.session.handshake.params['id'] === id)!;
}

describe('outlier ejection', () => {
  it('takes a player that holds Requests without answering out of round-robin after ejectAfter, and puts it back at its next answer', async () => {
    const { broker, url } = await startBroker('tcp');
    cleanups.push(() => broker.close());
    const fast = await player(url, 'svc', 'fast');
    cleanups.push(() => fast.client.close());
    const slow = await holdingPlayer(url);
    const cli = await requester(url, 'cli');
    cleanups.push(() => cli.close());
    await until(() => broker.players.get('svc')?.length === 2, 5000, 'both players');
    // Round-robin: of four calls, two wait on the holding player.
    const waiting = [0, 1, 2, 3].map((i) => cli.request('/echo', `w${i}`, { metas: '@=svc' }).then((m) => m.dataAsString(), (e: Error) => e.message));
    await until(() => slow.held.length === 2, 5000, 'two held Requests');
    expect(statusOf(broker, 'slow')).toMatchObject({ name: 'svc', pending: 2, ejected: false });
    await until(() => statusOf(broker, 'slow').ejected, 5000, 'the ejection (ejectAfter 2 s)');
    expect(statusOf(broker, 'slow').reason).toBe('not-answering');
    // Out of the rotation: every call goes to the other player, at once.
    expect(new Set(await whos(cli, 6))).toEqual(new Set(['svc#fast']));
    expect(slow.got()).toBe(2);
    // Its answer puts it back.
    slow.release();
    slow.answering = true;
    expect(await Promise.all(waiting)).toEqual(['w0', 'w1', 'w2', 'w3']);
    expect(statusOf(broker, 'slow')).toMatchObject({ pending: 0, ejected: false });
    expect(new Set(await whos(cli, 4))).toEqual(new Set(['svc#fast', 'svc#slow']));
  }, 30_000);

  it('after ejectionTime sends one probe at a time (not half the calls); an answered probe puts it back', async () => {
    const { broker, url } = await startBroker('tcp', { ejectAfter: 200, ejectionTime: 400 });
    cleanups.push(() => broker.close());
    const fast = await player(url, 'svc', 'fast');
    cleanups.push(() => fast.client.close());
    const slow = await holdingPlayer(url);
    const cli = await requester(url, 'cli', { requestTimeout: 300 });
    cleanups.push(() => cli.close());
    await until(() => broker.players.get('svc')?.length === 2, 5000, 'both players');
    const calls: Promise<unknown>[] = [];
    const callEvery = setInterval(() => calls.push(cli.request('/echo', 'p', { metas: '@=svc' }).catch(() => undefined)), 20);
    cleanups.push(() => clearInterval(callEvery));
    // First call to it at ~0; ejected at ~200 ms; its call times out at 300 ms (cancelled);
    // the ejection ends at ~600 ms: one probe; that one times out too: ejected for 800 ms.
    await new Promise((r) => setTimeout(r, 1500));
    clearInterval(callEvery);
    // Far fewer than half of ~75 calls: the first, up to ejectAfter's worth, then one probe.
    expect(slow.got()).toBeGreaterThanOrEqual(2);
    expect(slow.got()).toBeLessThan(15);
    const before = slow.got();
    expect(statusOf(broker, 'slow').ejected).toBe(true);
    // It recovers: the next probe is answered and it is back in the rotation.
    slow.answering = true;
    slow.release();
    const deadline = Date.now() + 5000;
    while (slow.got() === before && Date.now() < deadline) await cli.request('/echo', 'q', { metas: '@=svc' });
    await until(() => !statusOf(broker, 'slow').ejected, 5000, 'back in the rotation');
    expect(new Set(await whos(cli, 4))).toEqual(new Set(['svc#fast', 'svc#slow']));
    await Promise.all(calls);
  }, 30_000);

  it('skips a player that does not read while its queue is over highWaterMark', async () => {
    const { broker, url, port } = await startBroker('tcp');
    cleanups.push(() => broker.close());
    const fast = await player(url, 'svc', 'fast');
    cleanups.push(() => fast.client.close());
    const stalled = await RawPeer.open('tcp', port, '?@=svc');
    cleanups.push(() => stalled.end());
    stalled.pause();
    const cli = await requester(url, 'cli');
    cleanups.push(() => cli.close());
    await until(() => broker.players.get('svc')?.length === 2, 5000, 'both players');
    // Enough to fill the kernel's buffers and pass the broker's highWaterMark (1 MiB) toward it.
    const target = broker.players.get('svc')!.find((s) => s.handshake.params['id'] === undefined)!;
    for (let i = 0; i < 64 && target.bufferedAmount <= 1024 * 1024; i++) target.send('/fill', Buffer.alloc(1024 * 1024));
    expect(broker.playerStatus().find((p) => p.session === target)).toMatchObject({ ejected: true, reason: 'not-reading' });
    expect(new Set(await whos(cli, 6))).toEqual(new Set(['svc#fast']));
  }, 30_000);
});

describe('a broker beyond loopback', () => {
  function capture(): { logger: EngineLogger; warnings: string[] } {
    const warnings: string[] = [];
    return { warnings, logger: { log: () => undefined, warn: (m) => warnings.push(m), error: () => undefined } };
  }

  it('logs one warning at start without authorize.register and authorize.call', async () => {
    const { logger, warnings } = capture();
    const broker = await new SdBroker('sd:tcp://0.0.0.0:0', { logger, authorize: { register: () => true } }).listen();
    cleanups.push(() => broker.close());
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/broker listening on 0\.0\.0\.0 \(beyond loopback\) without authorize\.call: anyone who connects may register any name and call every player/);
  });

  it('logs nothing with both hooks, or on loopback', async () => {
    const both = capture();
    const guarded = await new SdBroker('sd:tcp://0.0.0.0:0', { logger: both.logger, authorize: { register: () => true, call: () => true } }).listen();
    cleanups.push(() => guarded.close());
    const local = capture();
    const loopback = await new SdBroker('sd:tcp://127.0.0.1:0', { logger: local.logger }).listen();
    cleanups.push(() => loopback.close());
    expect(both.warnings).toEqual([]);
    expect(local.warnings).toEqual([]);
  });
});

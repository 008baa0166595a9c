import { afterEach, describe, expect, it } from '@jest/globals';
import { Flags } from '../../lib/protocol/index.js';
import { MemoryBudget, STREAM_OVERHEAD, type SdServer } from '../../lib/engine.js';
import { STREAM_ANSWER_ROOM } from '../../lib/session/inbound-streams.js';
import { Clients, startServer } from '../support/engine.js';
import { MemoryLogger, RawPeer, frameBytes } from './raw-peer.js';

const MiB = 1024 * 1024;

async function until(test: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('MemoryBudget', () => {
  it('checks every charge against the connection, its address and the server, and gives all back on close', () => {
    const budget = new MemoryBudget(100, 60, 50);
    const a1 = budget.open('10.0.0.1');
    const a2 = budget.open('10.0.0.1');
    const b = budget.open('10.0.0.2');
    expect(a1.take(50)).toBe(true);
    expect(a1.take(1)).toBe(false); // its connection's share
    expect(a1.describeRefusal(1)).toMatch(/memoryBudgetPerConnection 50/);
    expect(a2.take(11)).toBe(false); // its address's share (50 + 11 > 60)
    expect(a2.describeRefusal(11)).toMatch(/memoryBudgetPerAddress 60/);
    expect(a2.take(10)).toBe(true);
    expect(b.take(40)).toBe(true);
    expect(b.fits(1)).toBe(false); // the server's budget (100)
    expect(b.describeRefusal(1)).toMatch(/memoryBudget 100 \(the server holds 100\)/);
    expect([budget.used, budget.usedBy('10.0.0.1'), budget.usedBy('10.0.0.2')]).toEqual([100, 60, 40]);
    a1.give(20);
    expect([a1.used, budget.used]).toEqual([30, 80]);
    a1.close();
    a1.give(5); // after close: nothing (closing gave everything back)
    expect([a1.take(1), budget.used, budget.usedBy('10.0.0.1')]).toEqual([false, 50, 10]);
    a2.close();
    b.close();
    expect([budget.used, budget.usedBy('10.0.0.1'), budget.usedBy('10.0.0.2')]).toEqual([0, 0, 0]);
  });

  it('keeps the last 16th of the budget (at most 4 MiB) for connections holding under 1 MiB', () => {
    const budget = new MemoryBudget(64 * MiB, 64 * MiB, 64 * MiB);
    expect(budget.reserve).toBe(4 * MiB);
    const heavy = budget.open('10.0.0.1');
    const light = budget.open('10.0.0.2');
    expect(heavy.take(60 * MiB)).toBe(true);
    expect(heavy.take(1)).toBe(false);
    expect(heavy.describeRefusal(1)).toMatch(/kept for connections holding under 1048576/);
    expect(light.take(MiB)).toBe(true);
    expect(light.take(1)).toBe(false); // past 1 MiB it is heavy too
    expect(light.shareLeft()).toBe(63 * MiB);
    expect(budget.used).toBe(61 * MiB);
  });

  it('clamps the shares to the budget and refuses non-positive sizes', () => {
    const budget = new MemoryBudget(10, 20, 30);
    expect([budget.perAddress, budget.perConnection]).toEqual([10, 10]);
    expect(() => new MemoryBudget(0)).toThrow(/memoryBudget must be a positive number/);
  });
});

describe('the memory budget of a server (defaults)', () => {
  const clients = new Clients();
  let server: SdServer | undefined;
  afterEach(async () => {
    await clients.closeAll();
    await server?.close();
    server = undefined;
  });

  it('charges each open stream; past the connection\'s 96 MiB share a Subscribe gets an Alarm; all is given back when the peer goes', async () => {
    const logger = new MemoryLogger();
    const started = await startServer('tcp', {
      logger,
      onMessage: (s, m) => {
        if (m.event === 'echo') s.replyEnd(m, m.data);
      },
    });
    server = started.server;
    expect([server.memory.limit, server.memory.perAddress, server.memory.perConnection]).toEqual([256 * MiB, 128 * MiB, 96 * MiB]);
    const peer = await RawPeer.open(started.port);
    const fit = Math.floor((96 * MiB - STREAM_ANSWER_ROOM) / STREAM_OVERHEAD);
    const frames: Buffer[] = [];
    for (let i = 0; i < fit + 10; i++) frames.push(frameBytes(Flags.Subscribe, `s${i}`, 'never'));
    peer.write(...frames);
    const alarm = await peer.next((f) => f.flag === Flags.Alarm);
    // The first refused is stream `fit` (or one before, when a few bytes of a partial frame are held at that moment).
    expect([`s${fit - 1}`, `s${fit}`]).toContain(alarm.sid);
    expect(alarm.data.toString()).toMatch(/Subscribe 'never' refused: no room in memoryBudgetPerConnection 100663296/);
    await until(() => peer.frames.filter((f) => f.flag === Flags.Alarm).length >= 10);
    expect(server.memory.used).toBeGreaterThanOrEqual((fit - 1) * STREAM_OVERHEAD);
    expect(server.memory.used).toBeLessThanOrEqual(96 * MiB);
    // Another client is served meanwhile.
    const client = await clients.open(started.url);
    expect((await client.request('echo', 'hi')).dataAsString()).toBe('hi');
    peer.destroy();
    await until(() => server!.sessions.size === 1);
    await client.close();
    await until(() => server!.memory.used === 0);
  }, 60_000);

  it('charges a fragmented message by the bytes that arrived, not its declared length, and frees them when it completes', async () => {
    const started = await startServer('tcp', {
      onMessage: (s, m) => {
        s.replyEnd(m, `got ${m.data.length}`);
      },
    });
    server = started.server;
    const peer = await RawPeer.open(started.port);
    const base = server.memory.used;
    // Declares 60 MiB, sends 1 KiB: only what arrived is held.
    peer.write(frameBytes(Flags.Request, 'f1', 'up', `Data-Length=${60 * MiB}&Data-Fragment-Idx=1`, Buffer.alloc(1024, 1)));
    const partial = frameBytes(Flags.Request, 'f2', 'up', 'Data-Length=2048&Data-Fragment-Idx=1', Buffer.alloc(1024, 2));
    peer.write(partial);
    await until(() => server!.memory.used - base > 2048);
    expect(server.memory.used - base).toBeLessThan(8 * 1024);
    peer.write(frameBytes(Flags.Request, 'f2', 'up', 'Data-Fragment-Idx=2', Buffer.alloc(1024, 3)));
    const end = await peer.next((f) => f.flag === Flags.ReplyEnd);
    expect([end.sid, end.data.toString()]).toEqual(['f2', 'got 2048']);
    peer.destroy();
    await until(() => server!.memory.used === 0);
  }, 30_000);
});

/**
 * The broker when players fail, over tcp and ws: a player killed with SIGKILL (a child process
 * over dist/: `npm run build` first) and peers that stop reading their socket.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { encodeFrame, Flags } from '../../lib/protocol/index.js';
import type { SdBroker } from '../../lib/broker/index.js';
import { player, RawPeer, requester, SCHEMAS, startBroker, until } from './broker-helpers.js';

const PLAYER = fileURLToPath(new URL('./player-process.mjs', import.meta.url));
const children: ChildProcess[] = [];
const cleanups: (() => Promise<unknown> | void)[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function spawnPlayer(url: string, name: string, id: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [PLAYER, JSON.stringify({ url, name, id })], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => { if (chunk.toString().includes('READY')) resolve(child); });
    child.once('exit', (code) => reject(new Error(`player exited with ${code}`)));
  });
}

async function broker(schema: 'tcp' | 'ws', options = {}): Promise<{ broker: SdBroker; url: string; port: number }> {
  const b = await startBroker(schema, options);
  cleanups.push(() => b.broker.close());
  return b;
}

describe.each(SCHEMAS)('broker failures over %s', (schema) => {
  it('fails the forwards pending on a SIGKILLed player within a second and routes later calls to the survivor', async () => {
    const { broker: b, url } = await broker(schema);
    const p1 = await spawnPlayer(url, 'svc', 1);
    await spawnPlayer(url, 'svc', 2);
    const cli = await requester(url, 'cli', { requestTimeout: 20_000 });
    cleanups.push(() => cli.close());
    await until(() => b.players.get('svc')?.length === 2, 5000, 'players');
    const pending = [0, 1].map((i) => cli.request('/never', `p${i}`, { metas: '@=svc' }).then(() => 'answered', (e: Error) => e.message));
    const whoOf = async () => (await cli.request('/echo', 'x', { metas: '@=svc' })).meta('who');
    const whos = [await whoOf(), await whoOf()];
    expect(new Set(whos)).toEqual(new Set(['svc#1', 'svc#2']));
    const killedAt = Date.now();
    p1.kill('SIGKILL');
    const first = await Promise.race(pending.map((p, i) => p.then((r) => ({ i, r }))));
    expect(Date.now() - killedAt).toBeLessThan(1000);
    expect(first.r).toMatch(/Broker lost the '@svc' session/);
    expect(b.players.get('svc')!.length).toBe(1);
    const after = await Promise.all([1, 2, 3, 4].map(() => whoOf()));
    expect(new Set(after)).toEqual(new Set(['svc#2']));
  });

  it('bounds what it queues to a player that stops reading: its forwards get Alarm 503, the sender keeps flowing', async () => {
    const highWaterMark = 256 * 1024;
    const maxTargetBufferedBytes = 2 * 1024 * 1024;
    const { broker: b, url, port } = await broker(schema, { highWaterMark, maxTargetBufferedBytes });
    const slow = await RawPeer.open(schema, port, '?@=slow');
    cleanups.push(() => slow.end());
    slow.pause();
    const refused: string[] = [];
    const cli = await requester(url, 'cli', { onAlarm: (_s, m) => { if (m.meta('code') === '503') refused.push(m.dataAsString()); } });
    cleanups.push(() => cli.close());
    const healthy = await player(url, 'ok', 1);
    cleanups.push(() => healthy.client.close());
    const chunk = Buffer.alloc(64 * 1024, 7);
    const count = 400; // 25 MiB
    let max = 0;
    const target = () => b.players.get('slow')![0]!;
    const sampler = setInterval(() => { max = Math.max(max, target().bufferedAmount); }, 5);
    try {
      for (let i = 0; i < count; i++) await cli.send('/m', chunk, { metas: '@=slow' });
      // The sender was never paused: its call to another player is answered at once.
      expect((await cli.request('/echo', 'still here', { metas: '@=ok' })).dataAsString()).toBe('still here');
      await until(() => refused.length > 0, 5000, 'an Alarm 503');
      max = Math.max(max, target().bufferedAmount);
      expect(max).toBeLessThan(maxTargetBufferedBytes + 2 * chunk.length);
      expect(refused[0]).toMatch(/Broker refused '@slow': its player does not read \(\d+ bytes queued to it\) \(maxTargetBufferedBytes\)/);
      expect(b.playerStatus().find((p) => p.name === 'slow')).toMatchObject({ ejected: true, reason: 'not-reading' });
      slow.resume();
      // Every Message either reached the player or was refused with an Alarm: none lost silently.
      await until(() => slow.frames.filter((f) => f.flag === Flags.Message).length + refused.length === count, 20_000, 'every Message delivered or refused');
    } finally {
      clearInterval(sampler);
    }
    expect(refused.length).toBeGreaterThan(count / 2);
    expect(max).toBeLessThan(maxTargetBufferedBytes + 2 * chunk.length);
  });

  it('a fan-out skips the player that does not read: a Message fan-out gets Alarm 503 naming it, a Subscribe fan-out the others\' parts', async () => {
    const highWaterMark = 256 * 1024;
    const maxTargetBufferedBytes = 2 * 1024 * 1024;
    const { broker: b, url, port } = await broker(schema, { highWaterMark, maxTargetBufferedBytes });
    const reader = await player(url, 'fan', 1);
    cleanups.push(() => reader.client.close());
    const slow = await RawPeer.open(schema, port, '?@=fan');
    cleanups.push(() => slow.end());
    slow.pause();
    const refused: string[] = [];
    const cli = await requester(url, 'cli', { onAlarm: (_s, m) => { if (m.meta('code') === '503') refused.push(m.dataAsString()); } });
    cleanups.push(() => cli.close());
    await until(() => b.players.get('fan')?.length === 2, 5000, 'both players');
    const stalled = b.players.get('fan')!.find((s) => s.handshake.params['id'] === undefined)!;
    for (let i = 0; i < 64 && stalled.bufferedAmount <= maxTargetBufferedBytes; i++) stalled.send('/fill', Buffer.alloc(512 * 1024));
    await cli.send('/note', 'hello', { metas: '@=fan*' });
    await until(() => refused.length === 1 && reader.got.some((m) => m.event === '/note'), 5000, 'the copy and the Alarm');
    expect(refused[0]).toMatch(/Broker skipped 1 of the 2 players of '@fan\*': they do not read \(maxTargetBufferedBytes\)/);
    const values: string[] = [];
    await new Promise<void>((resolve, reject) => {
      cli.session!.subscribe('/count', '3', { next: (m) => values.push(m.dataAsString()), complete: () => resolve(), error: reject }, { metas: '@=fan*' });
    });
    expect(values.filter((v) => v !== '')).toEqual(['0', '1', '2']);
  });

  it('a requester that stops reading a stream loses only that stream (Alarm 503); the player serves its other callers meanwhile', async () => {
    const highWaterMark = 256 * 1024;
    const maxTargetBufferedBytes = 2 * 1024 * 1024;
    const { broker: b, port, url } = await broker(schema, { highWaterMark, maxTargetBufferedBytes });
    // A player that streams 64 KiB values as fast as the broker takes them, and echoes.
    const chunk = Buffer.alloc(64 * 1024, 9);
    let cancelled = false;
    const p = await player(url, 'svc', 1, {
      onMessage(session, m) {
        if (m.event === '/echo') { session.replyEnd(m, m.data); return; }
        m.onCancel(() => (cancelled = true));
        let i = 0;
        const pump = (): void => {
          while (i < 2000 && !m.isDone && session.isOpen) {
            if (!session.reply(m, chunk)) { void session.drain().then(pump); return; }
            i++;
          }
          if (i >= 2000 && !m.isDone && session.isOpen) session.replyEnd(m);
        };
        pump();
      },
    });
    cleanups.push(() => p.client.close());
    const slow = await RawPeer.open(schema, port, '?@=slowcli');
    cleanups.push(() => slow.end());
    slow.write(encodeFrame({ flag: Flags.Subscribe, sid: 's1', event: '/big', metaString: '@=svc', data: Buffer.alloc(0) }));
    await until(() => slow.frames.some((f) => f.flag === Flags.Reply), 5000, 'first Reply');
    slow.pause();
    const good = await requester(url, 'good');
    cleanups.push(() => good.close());
    const me = () => [...b.sessions].find((s) => s.handshake.params['@'] === 'slowcli')!;
    // 2 000 × 64 KiB: more than the kernel and the broker together hold for a peer that does not read.
    await until(() => cancelled, 20_000, 'the stream cancelled at the player');
    expect(me().bufferedAmount).toBeLessThan(maxTargetBufferedBytes + 2 * chunk.length);
    // The player was never paused for it: its other callers are answered at once.
    expect((await good.request('/echo', 'hi', { metas: '@=svc' })).dataAsString()).toBe('hi');
    slow.resume();
    await until(() => slow.frames.some((f) => f.flag === Flags.Alarm && f.sid === 's1'), 20_000, 'the Alarm');
    const alarm = slow.frames.find((f) => f.flag === Flags.Alarm && f.sid === 's1')!;
    expect(alarm.metaString).toContain('code=503');
    expect(alarm.data.toString()).toMatch(/Broker dropped the answer of '@svc': its caller does not read \(\d+ bytes queued to it\) \(maxTargetBufferedBytes\)/);
    // Every value before the Alarm arrived whole, in order; nothing after it.
    const s1 = slow.frames.filter((f) => f.sid === 's1');
    expect(s1.at(-1)).toBe(alarm);
    expect(s1.slice(0, -1).every((f) => f.flag === Flags.Reply && f.data.length === chunk.length)).toBe(true);
  });
});

/**
 * Broker isolation at DEFAULT options, the broker in a child process of its own (its RSS read
 * from /proc; test/broker/fault-process.mjs over dist/: `npm run build` first), a good client
 * calling a healthy player alongside each attack: a player that does not read costs only its
 * own forwards (Alarm 503), never its caller's other calls; a rogue player that never answers
 * is ejected from the rotation; `name*` multicast and `@=*` broadcast are bounded by bytes.
 * The good client's latencies during each attack are printed at the end.
 */
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { encodeFrame, Flags } from '../../lib/protocol/index.js';
import type { SdClient } from '../../lib/session/client.js';
import type { ReceivedMessage, Session } from '../../lib/session/types.js';
import { player, requester } from './broker-helpers.js';
import { killAll, spawnFaultProcess, type Child } from './fault-support.js';
import { p, pacedCalls, rawPlayers, watchRss, type CallLog, type RawPlayer } from './isolation-support.js';

const MiB = 1024 * 1024;
/**
 * What the broker may queue toward players (`maxBufferedBytes`, default 64 MiB), and as much
 * again for its sockets and sessions and the copies already handed to the kernel that the
 * garbage collector has not freed yet (measured: +70..100 MiB).
 */
const RSS_BOUND = 2 * 64 * MiB;
const report: string[] = [];
const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  await killAll();
});
afterAll(() => {
  process.stderr.write(`broker isolation, the good client during each attack: ${report.join('; ')}\n`);
});

async function brokerChild(): Promise<{ child: Child; url: string; port: number }> {
  const child = await spawnFaultProcess({ role: 'broker', schema: 'tcp', defaults: true });
  return { child, url: `sd:tcp://127.0.0.1:${child.port}/`, port: child.port };
}

async function client(url: string, name: string, onAlarm?: (m: ReceivedMessage) => void): Promise<SdClient> {
  const c = await requester(url, name, onAlarm === undefined ? {} : { onAlarm: (_s: Session, m: ReceivedMessage) => onAlarm(m) });
  cleanups.push(() => c.close());
  return c;
}

async function healthy(url: string, name = 'ok'): Promise<void> {
  const h = await player(url, name, 1);
  cleanups.push(() => h.client.close());
}

function paced(c: SdClient, target: string): CallLog {
  const log = pacedCalls(c, target);
  cleanups.push(() => log.stop(0));
  return log;
}

/** A well-behaved sender: waits for its own connection to drain (the broker reads it at its pace). */
async function sendRespectingBackpressure(c: SdClient, data: Buffer, metas: string): Promise<void> {
  if (!(await c.send('/big', data, { metas }))) await c.session!.drain();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function describeCalls(what: string, calls: CallLog['calls']): string {
  const ok = calls.filter((c) => c.ok).length;
  const failed = calls.filter((c) => !c.ok).map((c) => c.error ?? `unanswered after ${c.ms} ms`);
  return `${what}: ${ok}/${calls.length} answered, p50 ${p(calls, 50)} ms, p99 ${p(calls, 99)} ms${failed.length > 0 ? ` (failed: ${[...new Set(failed)].join(', ')})` : ''}`;
}

describe('broker isolation at default options (broker in a child process)', () => {
  it('a player that does not read and a caller sending it 6 MiB: the same caller\'s calls to a healthy player are all answered', async () => {
    const { url, port } = await brokerChild();
    await healthy(url);
    const [stalled] = await rawPlayers(port, 'stalled', 1, false);
    cleanups.push(() => stalled!.close());
    const refused: string[] = [];
    const caller = await client(url, 'cli', (m) => { if (m.meta('code') === '503') refused.push(m.dataAsString()); });
    let closed: number | undefined;
    caller.session!.onClose((code) => (closed = code));
    const log = paced(caller, 'ok');
    const six = Buffer.alloc(6 * MiB, 1);
    // 6 MiB, then more every 200 ms: past maxTargetBufferedBytes (16 MiB) the forwards fail with Alarm 503.
    for (let i = 0; i < 6; i++) {
      await sendRespectingBackpressure(caller, six, '@=stalled');
      await sleep(200);
    }
    await sleep(1000);
    await log.stop();
    report.push(describeCalls('6 MiB to a player that does not read', log.calls));
    expect(log.calls.length).toBeGreaterThan(100);
    expect(log.calls.filter((c) => !c.ok)).toEqual([]);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]).toMatch(/Broker refused '@stalled': its player does not read \(\d+ bytes queued to it\) \(maxTargetBufferedBytes\)/);
    expect(closed).toBeUndefined();
    expect(caller.session!.isOpen).toBe(true);
  }, 60_000);

  it('players that do not read hold at most half of maxBufferedBytes: calls and fan-outs to players that read still pass', async () => {
    const { url, port, child } = await brokerChild();
    await healthy(url);
    const stalled: RawPlayer[] = [];
    for (let i = 0; i < 4; i++) stalled.push(...await rawPlayers(port, `st${i}`, 1, false));
    const readers = await rawPlayers(port, 'rd', 10, true);
    cleanups.push(() => [...stalled, ...readers].forEach((r) => r.close()));
    const refused: string[] = [];
    const caller = await client(url, 'cli', (m) => { if (m.meta('code') === '503') refused.push(m.dataAsString()); });
    const rss = watchRss(child.process.pid!);
    const log = paced(caller, 'ok');
    const six = Buffer.alloc(6 * MiB, 1);
    // 10 × 6 MiB to each of 4 players that do not read: 240 MiB; the kernel takes up to ~36 MB
    // per loopback socket, the broker holds at most 16 MiB for each and 32 MiB for all.
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 4; i++) await sendRespectingBackpressure(caller, six, `@=st${i}`);
      await sleep(100);
    }
    await waitFor(() => refused.length > 0, 'an Alarm 503');
    // A fan-out to players that read: 10 × 64 KiB, one copy each, no Alarm.
    await caller.send('/fan', Buffer.alloc(64 * 1024, 5), { metas: '@=rd*' });
    await waitFor(() => readers.every((r) => r.messages === 1), 'the fan-out copies');
    await sleep(500);
    const { growth } = rss.stop();
    await log.stop();
    report.push(describeCalls('4 non-reading players sent 60 MiB each', log.calls) + `, broker RSS +${(growth / MiB).toFixed(0)} MiB`);
    expect(refused.filter((text) => text.includes("'@rd*'"))).toEqual([]);
    expect(refused[0]).toMatch(/Broker refused '@st\d': its player does not read \(\d+ bytes queued to it\) \((maxTargetBufferedBytes|maxBufferedBytes)\)/);
    expect(log.calls.length).toBeGreaterThan(50);
    expect(log.calls.filter((c) => !c.ok)).toEqual([]);
    expect(growth).toBeLessThan(RSS_BOUND);
  }, 60_000);

  it('a caller that never reads its answers loses only its own streams: the player\'s other callers are all answered', async () => {
    const { url, port, child } = await brokerChild();
    const chunk = Buffer.alloc(64 * 1024, 6);
    let cancelled = 0;
    const svc = await player(url, 'ok', 1, {
      onMessage(session: Session, m: ReceivedMessage) {
        if (m.event === '/echo') { session.replyEnd(m, m.data); return; }
        m.onCancel(() => cancelled++);
        let i = 0;
        const pump = (): void => {
          while (i < 4000 && !m.isDone && session.isOpen) {
            if (!session.reply(m, chunk)) { void session.drain().then(pump); return; }
            i++;
          }
        };
        pump();
      },
    });
    cleanups.push(() => svc.client.close());
    // The attacker subscribes to 4 streams of 250 MiB each, then never reads.
    const [attacker] = await rawPlayers(port, 'att', 1, false);
    cleanups.push(() => attacker!.close());
    for (let i = 0; i < 4; i++) attacker!.write(encodeFrame({ flag: Flags.Subscribe, sid: `s${i}`, event: '/big', metaString: '@=ok', data: Buffer.alloc(0) }));
    const good = await client(url, '');
    const rss = watchRss(child.process.pid!);
    const log = paced(good, 'ok');
    await waitFor(() => cancelled === 4, 'the 4 streams dropped (Alarm 503) and cancelled at the player', 30_000);
    await sleep(1000);
    const { growth } = rss.stop();
    await log.stop();
    report.push(describeCalls('a caller not reading 4 streams of 64 KiB values', log.calls) + `, broker RSS +${(growth / MiB).toFixed(0)} MiB`);
    expect(log.calls.length).toBeGreaterThan(50);
    expect(log.calls.filter((c) => !c.ok)).toEqual([]);
    expect(growth).toBeLessThan(RSS_BOUND);
  }, 60_000);

  it('a rogue player that registers the name and never answers is ejected: the good client\'s success rate is back above 99 % within 5 s', async () => {
    const { url } = await brokerChild();
    await healthy(url, 'svc');
    const rogue = await requester(url, 'svc', { onMessage: () => undefined });
    cleanups.push(() => rogue.close());
    const good = await client(url, '');
    const log = paced(good, 'svc');
    const t0 = Date.now();
    await sleep(7000);
    // The calls the rogue holds fail at the client's requestTimeout (10 s): not waited for.
    await log.stop(0);
    const window = log.calls.filter((c) => c.start - t0 >= 5000);
    const first = log.calls.filter((c) => c.start - t0 < 1000);
    report.push(describeCalls('rogue `svc` player, calls started 5-7 s after it joined', window));
    expect(first.filter((c) => c.ms >= 0 && c.ok).length).toBeLessThan(first.length); // the rogue did take calls
    expect(window.length).toBeGreaterThan(100);
    await sleep(500); // the window's calls are answered within milliseconds
    expect(window.filter((c) => c.ok).length / window.length).toBeGreaterThan(0.99);
  }, 60_000);

  // 50 sinks: the kernel takes ~13 MB per loopback socket that does not read before the
  // broker's own queues grow (650 MB of kernel buffers here; hundreds would press the machine).
  it('`name*` multicast to 50 players that do not read stays bounded: Alarm 503 once the copies do not fit', async () => {
    const { url, port, child } = await brokerChild();
    await healthy(url);
    const sinks: RawPlayer[] = await rawPlayers(port, 'sink', 50, false);
    cleanups.push(() => sinks.forEach((s) => s.close()));
    const refused: string[] = [];
    const attacker = await client(url, 'att', (m) => { if (m.meta('code') === '503') refused.push(m.dataAsString()); });
    const good = await client(url, '');
    const rss = watchRss(child.process.pid!);
    const log = paced(good, 'ok');
    const chunk = Buffer.alloc(32 * 1024, 2);
    // 2 000 × 32 KiB in: 3.2 GB of copies if nothing bounded them.
    for (let sent = 1; sent <= 2000; sent++) {
      await attacker.send('/m', chunk, { metas: '@=sink*' });
      if (sent % 20 === 0) await sleep(10);
    }
    await waitFor(() => refused.length > 1000, 'the Alarms 503');
    const { growth } = rss.stop();
    await log.stop();
    report.push(describeCalls('`sink*` multicast to 50 non-reading players', log.calls) + `, ${2000 - refused.length} of 2000 × 32 KiB fanned out, broker RSS +${(growth / MiB).toFixed(0)} MiB`);
    expect(refused[0]).toMatch(/Broker (refused '@sink\*': (none of its 50 players reads|50 × \d+ bytes do not fit in what it may queue) \(maxBufferedBytes\)|skipped \d+ of the 50 players of '@sink\*': they do not read \(maxBufferedBytes\))/);
    expect(growth).toBeLessThan(RSS_BOUND);
    expect(log.calls.filter((c) => !c.ok)).toEqual([]);
  }, 90_000);

  it('`@=*` broadcast to 400 players: one copy each when it fits, an Alarm 503 and no copy when it does not, RSS bounded', async () => {
    const { url, port, child } = await brokerChild();
    await healthy(url);
    const readers = await rawPlayers(port, 'p', 400, true);
    cleanups.push(() => readers.forEach((r) => r.close()));
    const refused: string[] = [];
    const attacker = await client(url, 'att', (m) => { if (m.meta('code') === '503') refused.push(m.dataAsString()); });
    const good = await client(url, '');
    const rss = watchRss(child.process.pid!);
    const log = paced(good, 'ok');
    // 256 KiB × 401 targets = 100 MiB: over maxBufferedBytes, refused whole.
    await attacker.send('/all', Buffer.alloc(256 * 1024, 3), { metas: '@=*' });
    await waitFor(() => refused.length === 1, 'the Alarm 503');
    expect(refused[0]).toMatch(/Broker refused '@\*': 401 × \d+ bytes do not fit in what it may queue \(maxBufferedBytes\)/);
    // 32 KiB × 401 = 12.5 MiB fits: one copy per player, 20 times over.
    for (let i = 1; i <= 20; i++) {
      await attacker.send('/all', Buffer.alloc(32 * 1024, 4), { metas: '@=*' });
      await waitFor(() => readers.every((r) => r.messages >= i), `every copy of broadcast ${i}`, 30_000);
    }
    const { growth } = rss.stop();
    await log.stop();
    report.push(describeCalls('`@=*` broadcasts to 400 players', log.calls) + `, broker RSS +${(growth / MiB).toFixed(0)} MiB`);
    await sleep(200);
    expect(readers.every((r) => r.messages === 20)).toBe(true); // the refused broadcast reached nobody
    expect(refused.length).toBe(1);
    expect(growth).toBeLessThan(RSS_BOUND);
    expect(log.calls.filter((c) => !c.ok)).toEqual([]);
  }, 90_000);
});

async function waitFor(test: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

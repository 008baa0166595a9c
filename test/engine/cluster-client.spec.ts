import { afterEach, describe, expect, it } from '@jest/globals';
import {
  SdClient, SdClusterClient, clusterUrls, connect, isSocketDError, stringHash, type ClusterStatus,
} from '../../lib/engine.js';
import { hashIndex, isUrlList, RoundRobin } from '../../lib/session/cluster-balance.js';
import type { ReceivedMessage, Session } from '../../lib/session/index.js';
import { SCHEMAS, startServer, until, type Schema } from '../support/engine.js';
import { ServerChild } from '../support/server-child.js';

// Fast reconnects so a restarted server is back in the rotation quickly, even on a slow machine.
const FAST = { reconnectDelay: 50, maxReconnectDelay: 300, logger: false as const };

const clusters = new Set<SdClusterClient | SdClient>();
afterEach(async () => {
  await Promise.all([...clusters].map((c) => c.close()));
  clusters.clear();
  await ServerChild.killAll();
});

function track<T extends SdClusterClient | SdClient>(client: T): T {
  clusters.add(client);
  return client;
}

/** Which server answered each of `n` `who` Requests. */
async function whoCounts(cluster: SdClusterClient, n: number, hashKey?: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const name = (await cluster.request('who', '', { hashKey })).dataAsString();
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

/** An engine server answering `who` with its name and counting `note` Messages. */
async function namedServer(schema: Schema, name: string, port = 0) {
  const seen = { notes: 0, sessions: 0, closed: 0 };
  const started = await startServer(schema, {
    logger: false,
    onOpen: () => { seen.sessions++; },
    onClose: () => { seen.closed++; },
    onMessage(s: Session, m: ReceivedMessage) {
      if (m.event === 'who') s.replyEnd(m, name);
      else if (m.event === 'note') seen.notes++;
    },
  }, port);
  return { ...started, seen, url: `sd:${schema}://127.0.0.1:${started.port}/cluster` };
}

describe('cluster URLs and balancing', () => {
  it('splits lists and comma-separated strings where the next URL starts, keeping commas inside a query', () => {
    expect(clusterUrls('sd:tcp://a:1, sd:ws://b:2 ,tcp://c:3')).toEqual(['sd:tcp://a:1', 'sd:ws://b:2', 'tcp://c:3']);
    expect(clusterUrls(['sd:tcp://a:1,sd:tcp://b:2', ' sd:tcp://c:3 '])).toEqual(['sd:tcp://a:1', 'sd:tcp://b:2', 'sd:tcp://c:3']);
    expect(clusterUrls('sd:tcp://a:1/?tags=x,y,sd:tcp://b:2')).toEqual(['sd:tcp://a:1/?tags=x,y', 'sd:tcp://b:2']);
    expect(isUrlList('sd:tcp://a:1/?tags=x,y')).toBe(false);
    expect(isUrlList('sd:tcp://a:1,sd:tcp://b:2')).toBe(true);
    expect(() => clusterUrls([])).toThrow(/at least one URL/);
    expect(() => clusterUrls(' , ')).toThrow(/at least one URL/);
  });

  it("hashes as Java's String.hashCode and picks abs(h) % active", () => {
    expect(stringHash('')).toBe(0);
    expect(stringHash('hello')).toBe(99162322);
    expect(stringHash('Aa')).toBe(stringHash('BB'));
    expect(stringHash('polygenelubricants')).toBe(-2147483648); // Integer.MIN_VALUE in Java
    expect(hashIndex('polygenelubricants', 3)).toBe(2147483648 % 3);
    expect(stringHash('The quick brown fox jumps over the lazy dog')).toBe(-609428141);
  });

  it('round-robin cycles over the active count and wraps after 999 999 as upstream', () => {
    const rr = new RoundRobin();
    expect([rr.next(2), rr.next(2), rr.next(2), rr.next(3)]).toEqual([1, 0, 1, 1]);
    for (let i = 4; i < 999_999; i++) rr.next(2);
    expect(rr.next(5)).toBe(0);
  });
});

describe.each(SCHEMAS)('cluster client over %s', (schema) => {
  it('connect(url) still gives an SdClient; a list or a comma-separated string gives an SdClusterClient', async () => {
    const a = await namedServer(schema, 'a');
    const b = await namedServer(schema, 'b');
    const one = track(await connect(a.url, { logger: false }));
    expect(one).toBeInstanceOf(SdClient);
    const list = track(await connect([a.url, b.url], FAST));
    const text = track(await connect(`${a.url},${b.url}`, FAST));
    expect(list).toBeInstanceOf(SdClusterClient);
    if (!(text instanceof SdClusterClient)) throw new Error('a comma-separated list gives an SdClusterClient');
    expect(text.urls).toEqual([a.url, b.url]);
    await until(() => list.up === 2 && text.up === 2, 20_000, 'both URLs up');
    await Promise.all([a.server.close(), b.server.close()]);
  });

  it('round-robin: two servers each get half of the Requests and of the Messages', async () => {
    const a = await namedServer(schema, 'a');
    const b = await namedServer(schema, 'b');
    const cluster = track(new SdClusterClient([a.url, b.url], FAST));
    const seen: ClusterStatus[] = [];
    cluster.onClusterStatus((s) => seen.push(s));
    await cluster.connect();
    await until(() => cluster.up === 2, 20_000, 'both URLs up');
    expect(cluster.status).toBe('connected');
    expect(seen.at(-1)).toEqual({ status: 'connected', up: 2, total: 2 });
    expect(await whoCounts(cluster, 40)).toEqual({ a: 20, b: 20 });
    for (let i = 0; i < 40; i++) await cluster.send('note', String(i));
    await until(() => a.seen.notes + b.seen.notes === 40, 20_000, 'all notes');
    expect([a.seen.notes, b.seen.notes]).toEqual([20, 20]);
    await Promise.all([a.server.close(), b.server.close()]);
  });

  it('hash: the same hashKey always reaches the same server; keys spread over both', async () => {
    const a = await namedServer(schema, 'a');
    const b = await namedServer(schema, 'b');
    const cluster = track(new SdClusterClient([a.url, b.url], FAST));
    await cluster.connect();
    await until(() => cluster.up === 2, 20_000, 'both URLs up');
    const owners = new Set<string>();
    for (let k = 0; k < 12; k++) {
      const key = `user-${k}`;
      const counts = await whoCounts(cluster, 5, key);
      expect(Object.values(counts)).toEqual([5]);
      const owner = Object.keys(counts)[0]!;
      expect(owner).toBe(hashIndex(key, 2) === 0 ? 'a' : 'b');
      expect(cluster.sessionFor(key)).toBe(cluster.sessions[hashIndex(key, 2)]);
      owners.add(owner);
    }
    expect(owners).toEqual(new Set(['a', 'b']));
    await Promise.all([a.server.close(), b.server.close()]);
  });

  it('a SIGKILLed server: its pending calls fail within a second, later calls go to the survivor, and it rejoins once restarted on the same port', async () => {
    const a = await ServerChild.start(schema, 'a');
    const b = await ServerChild.start(schema, 'b');
    const cluster = track(new SdClusterClient([a.url(schema), b.url(schema)], FAST));
    const statuses: ClusterStatus[] = [];
    cluster.onClusterStatus((s) => statuses.push(s));
    await cluster.connect();
    await until(() => cluster.up === 2, 20_000, 'both URLs up');
    const sessionA = cluster.sessions[0]!;

    // Four calls that are never answered: round-robin puts two on each server.
    const pending = [0, 1, 2, 3].map(() => {
      const started = cluster.request('never', '', { timeout: 60_000 });
      return started.then(() => ({ ok: true, at: Date.now() }), (err: unknown) => ({ ok: false, err, at: Date.now() }));
    });
    await until(() => (sessionA as unknown as { pendingStreams: number }).pendingStreams === 2, 5_000, 'two calls pending on a');
    const killedAt = Date.now();
    await a.kill();
    const settled = await settleWithin(pending, 2, 3_000);
    const failed = settled.filter((s) => s !== undefined && !s.ok) as { ok: false; err: unknown; at: number }[];
    expect(failed).toHaveLength(2);
    for (const f of failed) {
      expect(isSocketDError(f.err, 'CONNECTION_CLOSED')).toBe(true);
      expect(f.at - killedAt).toBeLessThan(1_000);
    }
    expect(settled.filter((s) => s === undefined)).toHaveLength(2); // b's calls still wait
    await until(() => cluster.up === 1, 5_000, 'one URL up');
    expect(statuses.at(-1)).toMatchObject({ status: 'connected', up: 1, total: 2 });

    // Later calls: every one on the survivor, none lost, none on a dead session.
    expect(await whoCounts(cluster, 10)).toEqual({ b: 10 });

    // a comes back on its port: the engine reconnects and a gets calls again.
    const again = await ServerChild.start(schema, 'a', a.port);
    expect(again.port).toBe(a.port);
    await until(() => cluster.up === 2, 20_000, 'a reconnected');
    expect(await whoCounts(cluster, 10)).toEqual({ a: 5, b: 5 });
  });

  it('no active session and no attempt before the call\'s deadline: calls fail at once with the clear error naming the URLs; close() reaches every connection', async () => {
    const a = await namedServer(schema, 'a');
    const b = await namedServer(schema, 'b');
    const cluster = track(new SdClusterClient(`${a.url},${b.url}`, { ...FAST, reconnectDelay: 5_000, maxReconnectDelay: 5_000, requestTimeout: 1_000 }));
    await cluster.connect();
    await until(() => cluster.up === 2 && a.seen.sessions === 1 && b.seen.sessions === 1, 20_000, 'both URLs up');
    await Promise.all([a.server.close(), b.server.close()]);
    await until(() => cluster.up === 0, 5_000, 'both down');
    expect(cluster.status).toBe('reconnecting');
    const started = Date.now();
    const err = await cluster.request('who', '').catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(500);
    expect(isSocketDError(err, 'UNREACHABLE')).toBe(true);
    expect((err as Error).message).toMatch(/^No session is available! \(0 of 2 up: /);
    expect((err as Error).message).toMatch(/next attempt in \d+ ms/);
    expect((err as Error).message).toContain(a.url);
    expect((err as Error).message).toContain(b.url);
    await expect(cluster.send('note')).rejects.toThrow(/No session is available!/);
    expect(() => cluster.sessionFor('k')).toThrow(/No session is available!/);
    await cluster.close();
    expect(cluster.status).toBe('closed');
    expect(cluster.clients.map((c) => c.status)).toEqual(['closed', 'closed']);
  });

  it('close() sends Close to every server and later calls fail', async () => {
    const a = await namedServer(schema, 'a');
    const b = await namedServer(schema, 'b');
    const cluster = track(new SdClusterClient([a.url, b.url], FAST));
    await cluster.connect();
    await until(() => a.seen.sessions === 1 && b.seen.sessions === 1, 20_000, 'both sessions');
    await cluster.close();
    await until(() => a.seen.closed === 1 && b.seen.closed === 1, 5_000, 'both servers see the close');
    expect(cluster.clients.every((c) => c.status === 'closed')).toBe(true);
    await expect(cluster.request('who')).rejects.toThrow(/client was closed/);
    await expect(cluster.connect()).rejects.toThrow(/client was closed/);
    await Promise.all([a.server.close(), b.server.close()]);
  });

  it('a URL down at the start is retried in the background and joins the rotation; none reachable fails connect()', async () => {
    const a = await namedServer(schema, 'a');
    const reserved = await namedServer(schema, 'x');
    const port = reserved.port;
    await reserved.server.close();
    const lateUrl = `sd:${schema}://127.0.0.1:${port}/cluster`;
    const cluster = track(await connect([a.url, lateUrl], FAST));
    expect(cluster.up).toBe(1);
    expect(await whoCounts(cluster, 4)).toEqual({ a: 4 });
    const b = await namedServer(schema, 'b', port);
    await until(() => cluster.up === 2, 20_000, 'the late URL up');
    expect(await whoCounts(cluster, 4)).toEqual({ a: 2, b: 2 });

    await Promise.all([a.server.close(), b.server.close()]);
    const err = await connect([a.url, b.url], { ...FAST, connectTimeout: 2_000 }).catch((e: unknown) => e);
    expect(isSocketDError(err, 'UNREACHABLE')).toBe(true);
    expect((err as Error).message).toMatch(/^No session is available! \(0 of 2 up: /);
    expect((err as Error).message).toMatch(/ECONNREFUSED|refused/i);
  });
});

// Each promise's outcome, or undefined if still pending, once `count` settled (then 200 ms
// more, so a wrongly failing extra call shows) or after `ms`.
async function settleWithin<T>(promises: Promise<T>[], count: number, ms: number): Promise<(T | undefined)[]> {
  const out: (T | undefined)[] = promises.map(() => undefined);
  let settled = 0;
  promises.forEach((p, i) => { void p.then((v) => { out[i] = v; settled++; }); });
  await until(() => settled >= count, ms, `${count} calls settled`).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 200));
  return out;
}

/**
 * The fault matrix, over tcp and ws, direct, cluster and through the broker: the server (or
 * player) SIGKILLed before the first item, after some items, and while a 20 MiB fragmented
 * answer is half sent; the broker itself SIGKILLed. Every process that dies is a child
 * (test/broker/fault-process.mjs over dist/: `npm run build` first). In every cell each call
 * ends exactly once: none of these producers completed, so with an error carrying a documented
 * code (SOCKETD_ERR_CONNECTION_CLOSED, or through the broker its Alarm code 502 naming the
 * player), never `complete` with data missing, never a hang. Cells of one describe run
 * concurrently.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import '../../lib/engine.js';
import { SdClient } from '../../lib/session/client.js';
import { SdClusterClient } from '../../lib/session/cluster-client.js';
import type { Session } from '../../lib/session/types.js';
import { QUIET, requester, SCHEMAS, startBroker, until, type Schema } from './broker-helpers.js';
import { call, killAll, settled, spawnFaultProcess, throttlingProxy, type Child, type Outcome } from './fault-support.js';

const FAULTS = ['before the first item', 'after some items', 'while a 20 MiB fragmented answer is half sent'] as const;
type Fault = (typeof FAULTS)[number];
const TOPOLOGIES = ['direct', 'cluster', 'broker'] as const;
type Topology = (typeof TOPOLOGIES)[number];
const MANY = '100000'; // items at 2 ms each: the stream outlives every cell
/** Milliseconds from a kill to each call's end, by cell (reported once at the end). */
const latencies: string[] = [];

afterAll(async () => {
  await killAll();
  process.stderr.write(`fault matrix, ms from SIGKILL to each call's error: ${latencies.join('; ')}\n`);
});

interface Rig {
  /** The session a call goes out on. */
  session: Session;
  /** Metas of every call (`@=svc` through the broker). */
  metas: string;
  /** The processes one of which gets the call. */
  victims: Child[];
  /** Bytes the throttling proxies passed back so far (`slow` rigs). */
  relayed(): number;
  /** Checks after the fault (the cluster: a later call is answered by the survivor). */
  after(): Promise<void>;
  close(): Promise<unknown>;
}

// `slow`: the answers of the victims pass a throttling proxy (the 20 MiB cell: "half sent" is then a moment).
async function rig(schema: Schema, topology: Topology, slow: boolean): Promise<Rig> {
  const proxies: { readonly relayed: number; close(): void }[] = [];
  const relayed = (): number => proxies.reduce((sum, p) => sum + p.relayed, 0);
  const via = async (port: number): Promise<number> => {
    if (!slow) return port;
    const proxy = await throttlingProxy(port, topology === 'broker' ? 'forth' : 'back');
    proxies.push(proxy);
    return proxy.port;
  };
  const closeProxies = (): void => { for (const p of proxies) p.close(); };
  if (topology === 'direct') {
    const server = await spawnFaultProcess({ role: 'server', schema });
    const client = new SdClient(`sd:${schema}://127.0.0.1:${await via(server.port)}/`, { ...QUIET, autoReconnect: false });
    const session = await client.connect();
    return { session, metas: '', victims: [server], relayed, after: async () => undefined, close: async () => { await client.close(); closeProxies(); } };
  }
  if (topology === 'cluster') {
    const servers = await Promise.all([0, 1].map(() => spawnFaultProcess({ role: 'server', schema })));
    const ports = await Promise.all(servers.map((s) => via(s.port)));
    const cluster = new SdClusterClient(ports.map((port) => `sd:${schema}://127.0.0.1:${port}/`), { ...QUIET, reconnectDelay: 50 });
    await cluster.connect();
    await until(() => cluster.up === 2, 10_000, 'both servers up');
    const after = async (): Promise<void> => {
      // Later calls go to the survivor at once.
      for (let i = 0; i < 4; i++) expect((await cluster.request('echo', `after-${i}`)).dataAsString()).toBe(`after-${i}`);
    };
    return { session: cluster.sessionFor(), metas: '', victims: servers, relayed, after, close: async () => { await cluster.close(); closeProxies(); } };
  }
  const { broker, port } = await startBroker(schema);
  const player = await spawnFaultProcess({ role: 'player', url: `sd:${schema}://127.0.0.1:${await via(port)}/`, name: 'svc' });
  await until(() => broker.players.get('svc')?.length === 1, 10_000, 'the player');
  const client = await requester(`sd:${schema}://127.0.0.1:${port}/`, 'cli');
  return {
    session: client.session!,
    metas: '@=svc',
    victims: [player],
    relayed,
    after: async () => expect(broker.players.get('svc')).toBeUndefined(),
    close: async () => { await client.close(); await broker.close(); closeProxies(); },
  };
}

/** The victim that printed `line` (the one that got the call). */
async function victimOf(victims: Child[], line: string, count = 1): Promise<Child> {
  await until(() => victims.some((v) => v.lines.filter((l) => l.startsWith(line)).length >= count), 15_000, `'${line}' x${count}`);
  return victims.find((v) => v.lines.filter((l) => l.startsWith(line)).length >= count)!;
}

/** None of the producers completed: each call must fail, once, with a documented code. */
function expectFailedOnce(outcome: Outcome, viaBroker: boolean): void {
  expect(outcome.ends).toBe(1);
  expect(outcome.valuesAfterEnd).toBe(0);
  expect(outcome.kind).toBe('error');
  const err = outcome.err!;
  if (viaBroker) {
    expect(err.code).toBe('SOCKETD_ERR_ALARM');
    expect(err.details?.['alarmCode']).toBe(502);
    expect(err.message).toMatch(/^Broker lost the '@svc' session (before it answered|in the middle of its answer) \(/);
  } else {
    expect(err.code).toBe('SOCKETD_ERR_CONNECTION_CLOSED');
  }
}

async function runCell(schema: Schema, topology: Topology, fault: Fault): Promise<void> {
  const r = await rig(schema, topology, fault === 'while a 20 MiB fragmented answer is half sent');
  const viaBroker = topology === 'broker';
  try {
    let killedAt = 0;
    const calls = [];
    if (fault === 'before the first item') {
      calls.push(call(r.session, 'request', 'hold', 'r', r.metas), call(r.session, 'subscribe', 'hold', 's', r.metas));
      const victim = await victimOf(r.victims, 'GOT hold', 2);
      killedAt = Date.now();
      await victim.kill();
    } else if (fault === 'after some items') {
      const stream = call(r.session, 'subscribe', 'items', MANY, r.metas);
      calls.push(stream);
      await until(() => stream.outcome.values >= 5 || stream.outcome.ends > 0, 15_000, 'five items');
      const victim = await victimOf(r.victims, 'GOT items');
      killedAt = Date.now();
      await victim.kill();
    } else {
      const start = r.relayed();
      calls.push(call(r.session, 'subscribe', 'big', '', r.metas));
      // 6 MiB of the 20 MiB got through the proxy: with what the kernel buffers hold (4-6 MiB
      // more get through after the kill), about half of the answer has left the sender.
      await until(() => r.relayed() - start >= 6 * 1024 * 1024, 15_000, 'half of the answer');
      killedAt = Date.now();
      const victim = await victimOf(r.victims, 'GOT big');
      await victim.kill();
    }
    for (const c of calls) {
      const outcome = await settled(c, 15_000, `${schema}/${topology}/${fault}`);
      expectFailedOnce(outcome, viaBroker);
      latencies.push(`${schema} ${topology} ${fault}: ${outcome.endedAt - killedAt}`);
      if (fault === 'after some items') expect(outcome.values).toBeGreaterThanOrEqual(5);
      // The first small Reply of `big` arrived, the half-sent 20 MiB one never did.
      if (fault !== 'before the first item' && fault !== 'after some items') expect(outcome.bytes).toBe(5);
    }
    // The 20 MiB answer really was cut: less than all of it ever got through.
    if (fault === 'while a 20 MiB fragmented answer is half sent') expect(r.relayed()).toBeLessThan(20 * 1024 * 1024);
    await r.after();
  } finally {
    await r.close();
  }
}

describe.each(SCHEMAS)('fault matrix over %s', (schema) => {
  for (const topology of TOPOLOGIES) {
    it.concurrent.each(FAULTS)(`${topology}: the ${topology === 'broker' ? 'player' : 'server'} SIGKILLed %s — every call fails once with a documented code`, async (fault) => {
      await runCell(schema, topology, fault);
    });
  }

  it.concurrent('through the broker: the player SIGSTOPped mid-stream — the stream fails with code 502 once the broker finds it idle', async () => {
    const { broker, url } = await startBroker(schema, { idleTimeout: 1000 });
    const player = await spawnFaultProcess({ role: 'player', url, name: 'svc' });
    const client = await requester(url, 'cli', { heartbeatInterval: 200 });
    try {
      await until(() => broker.players.get('svc')?.length === 1, 10_000, 'the player');
      const stream = call(client.session!, 'subscribe', 'items', MANY, '@=svc');
      await until(() => stream.outcome.values >= 5, 15_000, 'five items');
      const stoppedAt = Date.now();
      player.process.kill('SIGSTOP');
      const outcome = await settled(stream, 15_000, `${schema}/player stopped`);
      expectFailedOnce(outcome, true);
      latencies.push(`${schema} broker, player stopped (idleTimeout 1000): ${outcome.endedAt - stoppedAt}`);
    } finally {
      await player.kill();
      await client.close();
      await broker.close();
    }
  });

  it.concurrent('through the broker: the broker SIGKILLed mid-stream — every call fails once with SOCKETD_ERR_CONNECTION_CLOSED', async () => {
    const broker = await spawnFaultProcess({ role: 'broker', schema });
    const url = `sd:${schema}://127.0.0.1:${broker.port}/`;
    const player = await spawnFaultProcess({ role: 'player', url, name: 'svc' });
    const client = await requester(url, 'cli');
    try {
      // The player is registered once an echo gets through.
      for (let i = 0; ; i++) {
        const ok = await client.request('echo', 'x', { metas: '@=svc' }).then(() => true, () => false);
        if (ok) break;
        if (i > 100) throw new Error('the player never registered');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const stream = call(client.session!, 'subscribe', 'items', MANY, '@=svc');
      const held = call(client.session!, 'request', 'hold', 'h', '@=svc');
      await until(() => stream.outcome.values >= 5, 15_000, 'five items');
      await player.line('GOT hold');
      const killedAt = Date.now();
      await broker.kill();
      for (const c of [stream, held]) {
        const outcome = await settled(c, 15_000, `${schema}/broker killed`);
        expectFailedOnce(outcome, false);
        latencies.push(`${schema} broker killed: ${outcome.endedAt - killedAt}`);
      }
      expect(player.process.exitCode).toBeNull(); // the player outlives its broker
    } finally {
      await client.close();
    }
  });
});
